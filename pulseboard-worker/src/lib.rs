//! PulseBoard's worker: a thin apalis adapter that runs each job through `pulseboard-core` and
//! writes the outcomes to the store.
//!
//! Two queue backends share one job function: Redis (production, [`RedisQueue`] and the
//! `pulseboard-worker` binary) and an in-process queue ([`embedded_queue`]) that the embedded
//! server runs beside its HTTP handlers. The store stays the source of truth; the
//! [`recovery sweep`](run_recovery_sweep) re-enqueues whatever a queue lost.

mod embedded;
mod handler;
mod job;
mod merge;
pub mod metrics;
mod metrics_server;
mod queue;
mod redis_queue;
mod sweep;
mod upkeep;

pub use embedded::{EmbeddedQueue, EmbeddedWorker, EmbeddedWorkerError, embedded_queue};
pub use job::{JobContext, JobError, JobSummary, ProcessEvents, run_job};
pub use metrics::WorkerMetrics;
pub use metrics_server::{MetricsServerError, serve_metrics};
pub use queue::{JobQueue, QueueError, QueueStats, WorkerHeartbeat, new_task_id};
pub use redis_queue::{
    DEFAULT_QUEUE_NAME, RedisQueue, RedisSettings, WorkerRunSettings, run_redis_worker,
};
pub use sweep::{
    GenerationWatch, QUEUE_LOSS_CHECK, SweepError, SweepSettings, run_recovery_sweep, sweep_before,
    sweep_once,
};
pub use upkeep::{PURGE_LEASE, PurgeError, purge_once, run_upkeep};
mod options;

pub use options::WorkerOptions;
