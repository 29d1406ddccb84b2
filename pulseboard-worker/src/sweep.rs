//! The recovery sweep: the store, not the queue, decides what still needs processing.
//!
//! Events left `enqueued`, `processing` or `retrying` longer than a lease (a worker was killed,
//! the push after the commit failed) are enqueued again. A queue that lost its contents (see
//! [`JobQueue::generation`]) is noticed within [`QUEUE_LOSS_CHECK`], and every event it may
//! have held is enqueued again at once, without waiting a lease. The store's conditional
//! updates make a duplicate delivery harmless.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use pulseboard_store::{EventStore, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use ulid::Ulid;

use crate::{JobQueue, ProcessEvents, QueueError, WorkerMetrics};

/// Events per recovery job.
const RECOVERY_JOB_EVENTS: usize = 500;
/// Events taken per sweep round.
const SWEEP_BATCH: u32 = 20_000;
/// How often the sweep asks the queue for its generation: the bound on how long a queue's
/// loss goes unnoticed.
pub const QUEUE_LOSS_CHECK: Duration = Duration::from_secs(1);

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
) -> Result<usize, SweepError> {
    let cutoff = before_oldest_waiting(queue, lease_cutoff(lease)).await?;
    sweep_before(store, queue, cutoff, metrics).await
}

/// Re-enqueues, in jobs of up to 500, every unfinished event last changed before `cutoff`.
/// After a queue's loss the cutoff is the loss: no job still waiting is older than that, but
/// a push retried since may carry an older task id, so the oldest waiting job does not move it.
pub async fn sweep_before(
    store: &dyn EventStore,
    queue: &dyn JobQueue,
    cutoff: DateTime<Utc>,
    metrics: &WorkerMetrics,
) -> Result<usize, SweepError> {
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

/// Why a sweep stopped; the next one tries again.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue did not take a job.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// `now - lease`.
fn lease_cutoff(lease: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| Utc::now().checked_sub_signed(lease))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// `cutoff`, or the creation time of the oldest job still waiting if that is earlier.
async fn before_oldest_waiting(
    queue: &dyn JobQueue,
    cutoff: DateTime<Utc>,
) -> Result<DateTime<Utc>, SweepError> {
    let oldest_waiting = queue
        .oldest_waiting()
        .await?
        .map(|task_id| DateTime::<Utc>::from(task_id.datetime()));
    Ok(oldest_waiting.map_or(cutoff, |waiting| waiting.min(cutoff)))
}

/// Tells when the queue's contents were lost, from the generations it reports.
#[derive(Debug)]
pub struct GenerationWatch {
    known: Option<Ulid>,
    watching_since: DateTime<Utc>,
}

impl GenerationWatch {
    /// A watch started at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            known: None,
            watching_since: now,
        }
    }

    /// Takes the queue's current generation. `Some(time)` when the queue lost its contents:
    /// the generation changed, or the first one seen was made after the watch started (the
    /// queue was empty when this process came). Events last changed before that time may have
    /// had their jobs in the lost contents.
    pub fn observe(&mut self, current: Ulid) -> Option<DateTime<Utc>> {
        let made_at = DateTime::<Utc>::from(current.datetime());
        let lost = match self.known {
            Some(known) => known != current,
            None => made_at >= self.watching_since,
        };
        self.known = Some(current);
        lost.then_some(made_at)
    }
}

/// Sweeps once at start with `startup_lease` (zero in embedded mode, where nothing else can be
/// working on the events), then every `settings.interval` with `settings.lease`. Between sweeps
/// it asks the queue for its generation every [`QUEUE_LOSS_CHECK`]: when the queue lost its
/// contents, every unfinished event last changed before the loss is enqueued again at once.
pub async fn run_recovery_sweep(
    store: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
    settings: SweepSettings,
    startup_lease: Duration,
    metrics: Arc<WorkerMetrics>,
    shutdown: CancellationToken,
) {
    let mut watch = GenerationWatch::new(Utc::now());
    let mut lease = startup_lease;
    let mut next_sweep = Instant::now();
    while !shutdown.is_cancelled() {
        if Instant::now() >= next_sweep {
            let swept = sweep_once(store.as_ref(), queue.as_ref(), lease, &metrics).await;
            report(swept, "recovery sweep re-enqueued unfinished events");
            lease = settings.lease;
            next_sweep = Instant::now() + settings.interval;
        }
        match queue.generation().await {
            Ok(generation) => {
                if let Some(lost_at) = watch.observe(generation) {
                    warn!(since = %lost_at, "the queue lost its jobs; re-enqueuing unfinished events");
                    let swept =
                        sweep_before(store.as_ref(), queue.as_ref(), lost_at, &metrics).await;
                    report(swept, "re-enqueued the events of a lost queue");
                }
            }
            Err(error) => debug!(error = %error, "queue generation not readable; will ask again"),
        }
        let pause = QUEUE_LOSS_CHECK.min(next_sweep.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

fn report(swept: Result<usize, SweepError>, message: &str) {
    match swept {
        Ok(0) => {}
        Ok(found) => info!(events = found, "{message}"),
        Err(error) => warn!(error = %error, "recovery sweep failed; will try again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation_at(at: DateTime<Utc>) -> Ulid {
        Ulid::from_datetime(at.into())
    }

    #[test]
    fn a_new_generation_is_a_loss_and_the_same_one_is_not() {
        let start: DateTime<Utc> = "2026-11-30T10:00:00Z".parse().unwrap();
        let mut watch = GenerationWatch::new(start);
        let before = generation_at(start - chrono::Duration::hours(1));
        assert_eq!(watch.observe(before), None, "a queue older than the watch");
        assert_eq!(watch.observe(before), None);
        let later = start + chrono::Duration::seconds(30);
        let after_restart = generation_at(later);
        assert_eq!(watch.observe(after_restart), Some(later));
        assert_eq!(watch.observe(after_restart), None);
    }

    #[test]
    fn a_queue_first_seen_empty_after_the_start_counts_as_lost() {
        let start: DateTime<Utc> = "2026-11-30T10:00:00Z".parse().unwrap();
        let made = start + chrono::Duration::milliseconds(5);
        assert_eq!(
            GenerationWatch::new(start).observe(generation_at(made)),
            Some(made)
        );
    }
}
