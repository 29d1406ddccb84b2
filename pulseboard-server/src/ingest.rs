//! Accepting events: admission control, the durable insert, then one queue push per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pulseboard_core::NewEvent;
use pulseboard_store::{EventId, EventStore, EventToInsert, UserId};
use pulseboard_worker::{JobQueue, ProcessEvents, new_task_id};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::metrics::ServerMetrics;

/// How often the backlog is re-counted from the store.
const BACKLOG_REFRESH: Duration = Duration::from_millis(250);

/// What the API tells the client after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Ids in request order.
    pub event_ids: Vec<EventId>,
    /// The job carrying them.
    pub task_id: String,
}

/// Stores events and wakes the worker.
pub struct Ingest {
    store: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
    /// Unfinished events, as last counted plus what was accepted since.
    backlog: AtomicU64,
    max_backlog: u64,
    metrics: Arc<ServerMetrics>,
}

impl Ingest {
    /// An ingest path refusing new events once `max_backlog` events are unfinished.
    pub fn new(
        store: Arc<dyn EventStore>,
        queue: Arc<dyn JobQueue>,
        max_backlog: u64,
        metrics: Arc<ServerMetrics>,
    ) -> Self {
        Self {
            store,
            queue,
            backlog: AtomicU64::new(0),
            max_backlog,
            metrics,
        }
    }

    /// Stores `events` for `owner` in one transaction, then pushes one job. The answer comes only
    /// after the commit. A failed push is logged and tolerated: the events are durable and the
    /// recovery sweep will enqueue them.
    pub async fn submit(&self, owner: UserId, events: &[NewEvent]) -> Result<Accepted, ApiError> {
        if self.backlog.load(Ordering::Relaxed) >= self.max_backlog {
            self.metrics.admission_refused.inc_by(events.len() as u64);
            return Err(ApiError::Unavailable(
                "Too many events are waiting to be processed; retry later",
            ));
        }
        let task_id = new_task_id();
        let rows: Vec<EventToInsert<'_>> = events
            .iter()
            .map(|event| EventToInsert { owner, event })
            .collect();
        let event_ids = self
            .store
            .insert_events(&task_id.to_string(), &rows)
            .await?;
        self.backlog
            .fetch_add(event_ids.len() as u64, Ordering::Relaxed);
        self.metrics.accepted.inc_by(event_ids.len() as u64);
        let job = ProcessEvents {
            event_ids: event_ids.iter().map(|id| id.0).collect(),
        };
        if let Err(error) = self.queue.push(task_id, job).await {
            tracing::warn!(task.id = %task_id, error = %error, "queue push failed after commit; the recovery sweep will enqueue these events");
        }
        Ok(Accepted {
            event_ids,
            task_id: task_id.to_string(),
        })
    }

    /// Re-counts the backlog from the store every 250 ms until `shutdown`.
    pub async fn track_backlog(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.store.count_unfinished().await {
                Ok(count) => self.backlog.store(count.max(0) as u64, Ordering::Relaxed),
                Err(error) => tracing::debug!(error = %error, "backlog count failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(BACKLOG_REFRESH) => {}
            }
        }
    }

    /// Unfinished events as last known.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }
}
