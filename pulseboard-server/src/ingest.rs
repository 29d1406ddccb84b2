//! Accepting events: admission control, then the micro-batched durable insert and queue push.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pulseboard_core::NewEvent;
use pulseboard_store::{EventId, EventStore, UserId};
use pulseboard_worker::JobQueue;
use tokio_util::sync::CancellationToken;

use crate::batcher::{BatchSettings, MicroBatcher};
use crate::error::ApiError;
use crate::metrics::ServerMetrics;

/// Shortest pause between two re-counts of the backlog from the store.
const BACKLOG_REFRESH: Duration = Duration::from_millis(250);
/// The pause after a re-count is at least this many times as long as the count took. The count
/// visits every unfinished row, so it costs more as the backlog grows; the ratio keeps it under
/// 5% of one database connection (a fixed pause cost far more; BENCHMARKS.md).
const RECOUNT_PAUSE_PER_COUNT_TIME: u32 = 20;
/// Longest pause between re-counts while the backlog is full and requests are refused: then a
/// fresh count is what ends the 503s. (A count's time may be mostly a wait for a pooled
/// connection, e.g. just after a database outage: 2.3 s of waiting once meant 46 s of 503s.)
const REFUSING_RECOUNT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// What the API tells the client after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Ids in request order; a duplicate's is the stored event's.
    pub event_ids: Vec<EventId>,
    /// Positions (in request order) whose message id was stored already: nothing was stored
    /// for them.
    pub duplicate_positions: Vec<usize>,
    /// The job carrying them. When every event was a duplicate: the task of the first one.
    pub task_id: String,
}

impl Accepted {
    /// Events this request stored.
    pub fn stored(&self) -> usize {
        self.event_ids.len() - self.duplicate_positions.len()
    }
}

/// Stores events and wakes the worker.
pub struct Ingest {
    store: Arc<dyn EventStore>,
    batcher: MicroBatcher,
    /// Unfinished events: the last count from the store plus what was reserved since.
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
        let settings = match store.backend_name() {
            "sqlite" => BatchSettings::single_writer(),
            _ => BatchSettings::default(),
        };
        let batcher = MicroBatcher::start(store.clone(), queue, settings);
        Self {
            store,
            batcher,
            backlog: AtomicU64::new(0),
            max_backlog,
            metrics,
        }
    }

    /// Stores `events` for `owner` and enqueues them; answers only after the commit. A failed
    /// push is logged and tolerated: the events are durable and the recovery sweep enqueues them.
    pub async fn submit(&self, owner: UserId, events: Vec<NewEvent>) -> Result<Accepted, ApiError> {
        let count = events.len() as u64;
        self.reserve(count)?;
        let result = self.batcher.submit(owner, events).await;
        match &result {
            Ok(accepted) => {
                let stored = accepted.stored() as u64;
                self.metrics.accepted.inc_by(stored);
                self.release(count - stored);
            }
            Err(_) => self.release(count),
        }
        result
    }

    /// Takes room for `count` events in the backlog, or refuses with 503.
    fn reserve(&self, count: u64) -> Result<(), ApiError> {
        let before = self.backlog.fetch_add(count, Ordering::Relaxed);
        if before + count > self.max_backlog {
            self.release(count);
            self.metrics.admission_refused.inc_by(count);
            return Err(ApiError::Unavailable(
                "Too many events are waiting to be processed; retry later",
            ));
        }
        Ok(())
    }

    /// Gives back room for `count` events. Saturating: the periodic re-count may have replaced
    /// the value since the reservation, and a wrap below zero would refuse every request.
    fn release(&self, count: u64) {
        let _ = self
            .backlog
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |backlog| {
                Some(backlog.saturating_sub(count))
            });
    }

    /// Re-counts the backlog from the store until `shutdown`: every 250 ms while the count is
    /// cheap, less often as it grows (see [`recount_pause`]). Between counts the estimate only
    /// grows with reservations, so a slow re-count errs towards refusing, never towards
    /// overshooting the bound.
    pub async fn track_backlog(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let pause = match self.store.count_unfinished().await {
                Ok(count) => {
                    let count = count.max(0) as u64;
                    self.backlog.store(count, Ordering::Relaxed);
                    let pause = recount_pause(started.elapsed());
                    if count >= self.max_backlog {
                        pause.min(REFUSING_RECOUNT_PAUSE_MAX)
                    } else {
                        pause
                    }
                }
                // A failed count says nothing of its cost (it may have waited out the pool's
                // timeout during an outage): count again soon, so 503s end with the outage.
                Err(error) => {
                    tracing::debug!(error = %error, "backlog count failed");
                    BACKLOG_REFRESH
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Unfinished events as last known.
    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }
}

/// The pause before the next re-count, given how long the last one took.
fn recount_pause(count_took: Duration) -> Duration {
    BACKLOG_REFRESH.max(count_took.saturating_mul(RECOUNT_PAUSE_PER_COUNT_TIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_counts_repeat_every_250_ms_and_costly_ones_back_off() {
        assert_eq!(recount_pause(Duration::ZERO), BACKLOG_REFRESH);
        assert_eq!(recount_pause(Duration::from_millis(12)), BACKLOG_REFRESH);
        assert_eq!(
            recount_pause(Duration::from_millis(80)),
            Duration::from_millis(1_600)
        );
        assert_eq!(recount_pause(Duration::MAX), Duration::MAX);
    }
}
