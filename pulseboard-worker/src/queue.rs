//! The queue as the server and the sweep see it: push a job under a task id, read the backlog.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::ProcessEvents;
use pulseboard_telemetry::prometheus::write_gauge;

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis is unreachable or refused the command.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The in-process worker has stopped.
    #[error("the in-process worker is not running")]
    Closed,
}

/// A worker that reported itself recently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHeartbeat {
    /// The worker's unique name.
    pub name: String,
    /// When it last reported.
    pub last_seen: DateTime<Utc>,
    /// Jobs it runs at once, when known.
    pub concurrency: Option<u32>,
}

/// The queue's current state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs waiting for a worker.
    pub pending_jobs: u64,
    /// Jobs fetched by workers (running or prefetched).
    pub in_flight_jobs: u64,
    /// Workers registered with the queue.
    pub workers: Vec<WorkerHeartbeat>,
}

impl QueueStats {
    /// Appends the queue gauges in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let (pending, in_flight) = (self.pending_jobs as i64, self.in_flight_jobs as i64);
        write_gauge(
            out,
            "pulseboard_queue_pending_jobs",
            "Jobs waiting for a worker.",
            pending,
        );
        write_gauge(
            out,
            "pulseboard_queue_in_flight_jobs",
            "Jobs fetched by workers.",
            in_flight,
        );
    }
}

/// A fresh task id: a ULID, sortable by creation time.
pub fn new_task_id() -> Ulid {
    Ulid::generate()
}

/// Where jobs go. Implemented by the Redis queue (production) and the in-process queue.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// `"redis"` or `"embedded"`.
    fn backend_name(&self) -> &'static str;

    /// Enqueues `job` under `task_id`.
    async fn push(&self, task_id: Ulid, job: ProcessEvents) -> Result<(), QueueError>;

    /// Backlog and workers.
    async fn stats(&self) -> Result<QueueStats, QueueError>;

    /// The task id of the oldest job still waiting for a worker, if any. Task ids are ULIDs
    /// made before their events were stored (or touched by the sweep), so the id's time is at
    /// or before every `updated_at` of the job's events: the recovery sweep uses it to tell
    /// events whose job is still waiting from events whose job was lost.
    async fn oldest_waiting(&self) -> Result<Option<Ulid>, QueueError>;

    /// The generation of the queue's contents: a ULID made when the queue was first seen
    /// without one, so a queue that lost its contents (Redis restarted without persistence,
    /// `FLUSHALL`, a failover to an empty replica) has a new generation, and its time is when
    /// the loss was first noticed. The recovery sweep watches it (see
    /// [`run_recovery_sweep`](crate::run_recovery_sweep)).
    async fn generation(&self) -> Result<Ulid, QueueError>;
}
