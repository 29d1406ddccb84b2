//! The queue as the server and the sweep see it: push a job under a task id, read the backlog.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::ProcessEvents;

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
}
