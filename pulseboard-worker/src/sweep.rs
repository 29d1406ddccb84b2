//! The recovery sweep: the store, not the queue, decides what still needs processing.
//!
//! Events left `enqueued`, `processing` or `retrying` longer than a lease (their job was lost by
//! the queue, a worker was killed, the push after the commit failed) are enqueued again. The
//! store's conditional updates make a duplicate delivery harmless.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use pulseboard_store::EventStore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use ulid::Ulid;

use crate::{JobQueue, ProcessEvents, WorkerMetrics};

/// Events per recovery job.
const RECOVERY_JOB_EVENTS: usize = 500;
/// Events taken per sweep round.
const SWEEP_BATCH: u32 = 20_000;

/// When and how far the sweep looks.
#[derive(Debug, Clone, Copy)]
pub struct SweepSettings {
    /// An unfinished event untouched this long is considered lost.
    pub lease: Duration,
    /// Time between sweeps.
    pub interval: Duration,
}

/// Runs one sweep: re-enqueues, in jobs of up to 500, every event left unfinished and untouched
/// for `lease`, whose job is not waiting in the queue. Returns how many were found.
///
/// The lease measures work, not waiting: the cutoff is at most the time of the oldest job still
/// waiting, so events whose job is queued behind a backlog are left alone however long they
/// wait (task ids are made before their events are stored). The cutoff is fixed when the sweep
/// starts, and each round continues from the last one's cursor, so an event is taken at most
/// once per sweep, however many rounds it runs.
pub async fn sweep_once(
    store: &dyn EventStore,
    queue: &dyn JobQueue,
    lease: Duration,
    metrics: &WorkerMetrics,
) -> anyhow::Result<usize> {
    let cutoff = sweep_cutoff(queue, lease).await?;
    let mut after = None;
    let mut total = 0;
    loop {
        // Made before the events are touched, as the batcher makes them before the insert.
        let round_started = SystemTime::now();
        let round = store.requeue_stale(cutoff, after, SWEEP_BATCH).await?;
        for chunk in round.ids.chunks(RECOVERY_JOB_EVENTS) {
            let job = ProcessEvents {
                event_ids: chunk.iter().map(|id| id.0).collect(),
            };
            queue.push(Ulid::from_datetime(round_started), job).await?;
            metrics.recovered.inc_by(chunk.len() as u64);
        }
        total += round.ids.len();
        if round.ids.len() < SWEEP_BATCH as usize {
            return Ok(total);
        }
        after = round.cursor;
    }
}

/// `now - lease`, or the creation time of the oldest job still waiting if that is earlier.
async fn sweep_cutoff(queue: &dyn JobQueue, lease: Duration) -> anyhow::Result<DateTime<Utc>> {
    let now = Utc::now();
    let lease_cutoff = chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_sub_signed(lease))
        .unwrap_or(DateTime::UNIX_EPOCH);
    let oldest_waiting = queue
        .oldest_waiting()
        .await?
        .map(|task_id| DateTime::<Utc>::from(task_id.datetime()));
    Ok(oldest_waiting.map_or(lease_cutoff, |waiting| waiting.min(lease_cutoff)))
}

/// Sweeps once at start with `startup_lease` (zero in embedded mode, where nothing else can be
/// working on the events), then every `settings.interval` with `settings.lease`.
pub async fn run_recovery_sweep(
    store: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
    settings: SweepSettings,
    startup_lease: Duration,
    metrics: Arc<WorkerMetrics>,
    shutdown: CancellationToken,
) {
    let mut lease = startup_lease;
    while !shutdown.is_cancelled() {
        match sweep_once(store.as_ref(), queue.as_ref(), lease, &metrics).await {
            Ok(0) => {}
            Ok(found) => info!(
                events = found,
                "recovery sweep re-enqueued unfinished events"
            ),
            Err(error) => warn!(error = %error, "recovery sweep failed; will try again"),
        }
        lease = settings.lease;
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(settings.interval) => {}
        }
    }
}
