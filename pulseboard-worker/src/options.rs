//! Worker settings shared by the `pulseboard-worker` binary and the embedded server.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use pulseboard_core::{Lease, Processor, RetryPolicy};
use pulseboard_store::EventStore;

use crate::merge::MergedStoreCalls;
use crate::{JobContext, SweepSettings, WorkerMetrics};

/// Defaults, written once for the flags and for [`WorkerOptions::default`].
const DEFAULT_CONCURRENCY: usize = 4;
pub(crate) const DEFAULT_PREFETCH: usize = 8;
const DEFAULT_JOB_TIME_LIMIT_SECS: u64 = 300;
const DEFAULT_LEASE_SECS: u64 = 360;
const DEFAULT_SWEEP_INTERVAL_SECS: u64 = 30;

/// How jobs run, retry and get recovered. Every field has an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerOptions {
    /// Jobs processed at once by this worker.
    #[arg(long, env = "PULSEBOARD_WORKER_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Jobs a Redis worker fetches ahead (prefetch).
    #[arg(long, env = "PULSEBOARD_WORKER_PREFETCH", default_value_t = DEFAULT_PREFETCH)]
    pub prefetch: usize,
    /// Wait after the first failed attempt, in milliseconds; doubles on each retry.
    #[arg(long, env = "PULSEBOARD_RETRY_BASE_MS", default_value_t = default_retry_base_ms())]
    pub retry_base_ms: u64,
    /// Retries after the first attempt before events are marked failed.
    #[arg(long, env = "PULSEBOARD_MAX_RETRIES", default_value_t = RetryPolicy::default().max_retries)]
    pub max_retries: u32,
    /// An attempt running longer than this many seconds counts as failed.
    #[arg(long, env = "PULSEBOARD_JOB_TIME_LIMIT_SECS", default_value_t = DEFAULT_JOB_TIME_LIMIT_SECS)]
    pub job_time_limit_secs: u64,
    /// Unfinished events untouched this many seconds are re-enqueued by the recovery sweep.
    /// Keep it above the job time limit plus the retry backoff.
    #[arg(long, env = "PULSEBOARD_LEASE_SECS", default_value_t = DEFAULT_LEASE_SECS)]
    pub lease_secs: u64,
    /// Seconds between recovery sweeps.
    #[arg(long, env = "PULSEBOARD_SWEEP_INTERVAL_SECS", default_value_t = DEFAULT_SWEEP_INTERVAL_SECS)]
    pub sweep_interval_secs: u64,
    /// Days final events are kept; older ones are deleted. Unset: everything is kept.
    #[arg(long, env = "PULSEBOARD_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            prefetch: DEFAULT_PREFETCH,
            retry_base_ms: default_retry_base_ms(),
            max_retries: RetryPolicy::default().max_retries,
            job_time_limit_secs: DEFAULT_JOB_TIME_LIMIT_SECS,
            lease_secs: DEFAULT_LEASE_SECS,
            sweep_interval_secs: DEFAULT_SWEEP_INTERVAL_SECS,
            retention_days: None,
        }
    }
}

impl WorkerOptions {
    /// The job context these options describe, over `store`.
    pub fn job_context(
        &self,
        store: Arc<dyn EventStore>,
        metrics: Arc<WorkerMetrics>,
    ) -> Arc<JobContext> {
        Arc::new(JobContext {
            merged: MergedStoreCalls::new(store.clone(), metrics.clone()),
            store,
            processor: Processor::default(),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(self.retry_base_ms),
                max_retries: self.max_retries,
            },
            lease: Lease {
                duration: Duration::from_secs(self.lease_secs),
                attempt_time_limit: Duration::from_secs(self.job_time_limit_secs),
            },
            metrics,
            running: AtomicUsize::new(0),
        })
    }

    /// How long final events are kept, when a retention is set.
    pub fn retention(&self) -> Option<Duration> {
        self.retention_days
            .map(|days| Duration::from_secs(u64::from(days) * 24 * 60 * 60))
    }

    /// The recovery sweep's lease and interval.
    pub fn sweep(&self) -> SweepSettings {
        SweepSettings {
            lease: Duration::from_secs(self.lease_secs),
            interval: Duration::from_secs(self.sweep_interval_secs),
        }
    }
}

/// The retry rule's first wait, in milliseconds: core's default, not a second copy of it.
fn default_retry_base_ms() -> u64 {
    u64::try_from(RetryPolicy::default().base_delay.as_millis()).unwrap_or(u64::MAX)
}
