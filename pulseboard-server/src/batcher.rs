//! Micro-batching: concurrent submissions share one multi-row insert and one queue push.
//!
//! A submission is flushed at once when a flush slot is free, so a lone request waits for
//! nothing. Under load all slots are busy; submissions then gather (up to `max_events`) while
//! they wait for the next slot, so each waits at most for one in-flight flush and the database
//! sees a few large transactions instead of many small ones. Every caller still gets its own ids
//! (after the commit) and the shared job's task id.
//!
//! Small batches get one slot, large ones share four. A statement's fixed cost (parse, plan,
//! commit) dominates a batch of a few events, so small batches gain more from growing while
//! they wait than from running side by side; large batches gain from overlapping one flush's
//! commit with another's work. BENCHMARKS.md has the slot counts measured.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use pulseboard_core::NewEvent;
use pulseboard_store::{EventStore, EventToInsert, InsertedEvent, UserId};
use pulseboard_worker::{JobQueue, ProcessEvents, new_task_id};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use ulid::Ulid;

use crate::error::ApiError;
use crate::ingest::Accepted;

/// Bounds of the micro-batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Most events in one flush.
    pub max_events: usize,
    /// Flushes (transactions) in progress at once.
    pub concurrent_flushes: usize,
    /// Flushes of small batches (under `large_batch_events`) in progress at once.
    pub concurrent_small_flushes: usize,
    /// Events from which a batch counts as large.
    pub large_batch_events: usize,
}

impl BatchSettings {
    /// One flush at a time, for a single-writer database (SQLite): parallel flushes would only
    /// queue behind each other, while one at a time lets submissions gather into larger ones.
    pub fn single_writer() -> Self {
        Self {
            concurrent_flushes: 1,
            concurrent_small_flushes: 1,
            ..Self::default()
        }
    }
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_events: 2_000,
            concurrent_flushes: 4,
            concurrent_small_flushes: 1,
            large_batch_events: 100,
        }
    }
}

struct Submission {
    owner: UserId,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Accepted, ApiError>>,
}

/// Handle for submitting events through the micro-batcher; cheap to clone.
#[derive(Clone)]
pub struct MicroBatcher {
    sender: mpsc::UnboundedSender<Submission>,
}

impl MicroBatcher {
    /// Starts the gathering task on the current runtime.
    pub fn start(
        store: Arc<dyn EventStore>,
        queue: Arc<dyn JobQueue>,
        settings: BatchSettings,
    ) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let flusher = Arc::new(Flusher { store, queue });
        tokio::spawn(gather(receiver, flusher, settings));
        Self { sender }
    }

    /// Stores `events` for `owner` (in some micro-batch) and returns their ids once committed.
    pub async fn submit(&self, owner: UserId, events: Vec<NewEvent>) -> Result<Accepted, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Submission {
                owner,
                events,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ApiError {
    tracing::error!("the micro-batcher has stopped");
    ApiError::Internal
}

async fn gather(
    mut receiver: mpsc::UnboundedReceiver<Submission>,
    flusher: Arc<Flusher>,
    settings: BatchSettings,
) {
    let slots = FlushSlots::new(&settings);
    while let Some(first) = receiver.recv().await {
        let mut count = first.events.len();
        let mut batch = vec![first];
        let slot = loop {
            if count >= settings.max_events {
                break slots.acquire(count).await;
            }
            tokio::select! {
                biased;
                slot = slots.acquire(count) => break slot,
                next = receiver.recv() => match next {
                    Some(submission) => {
                        count += submission.events.len();
                        batch.push(submission);
                    }
                    None => break slots.acquire(count).await,
                },
            }
        };
        let Ok(slot) = slot else { return };
        tokio::spawn(flusher.clone().flush(batch, slot));
    }
}

/// The right to run one flush: a slot, plus a small-batch slot for a small batch.
struct FlushSlot {
    _slot: OwnedSemaphorePermit,
    _small: Option<OwnedSemaphorePermit>,
}

struct FlushSlots {
    all: Arc<Semaphore>,
    small: Arc<Semaphore>,
    large_batch_events: usize,
}

impl FlushSlots {
    fn new(settings: &BatchSettings) -> Self {
        Self {
            all: Arc::new(Semaphore::new(settings.concurrent_flushes.max(1))),
            small: Arc::new(Semaphore::new(settings.concurrent_small_flushes.max(1))),
            large_batch_events: settings.large_batch_events,
        }
    }

    /// Waits for a slot for a batch of `events`. Cancel-safe: dropping the future releases
    /// whatever it had taken.
    async fn acquire(&self, events: usize) -> Result<FlushSlot, AcquireError> {
        let small = if events < self.large_batch_events {
            Some(self.small.clone().acquire_owned().await?)
        } else {
            None
        };
        let slot = self.all.clone().acquire_owned().await?;
        Ok(FlushSlot {
            _slot: slot,
            _small: small,
        })
    }
}

struct Flusher {
    store: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
}

impl Flusher {
    async fn flush(self: Arc<Self>, batch: Vec<Submission>, _slot: FlushSlot) {
        self.flush_isolating(batch).await;
    }

    /// Flushes `batch`; when the store refuses it for a reason other than an outage, splits it in
    /// halves and flushes each, so one bad submission costs its batch a few extra inserts
    /// (about 2·log₂ n) and the healthy submissions are still stored in shared inserts.
    fn flush_isolating(
        &self,
        batch: Vec<Submission>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            match self.insert_and_push(&batch).await {
                Ok((task_id, inserted)) => answer_each(batch, &task_id, inserted),
                Err(error) if batch.len() > 1 && !matches!(error, ApiError::Unavailable(_)) => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    self.flush_isolating(first).await;
                    self.flush_isolating(second).await;
                }
                Err(error) => {
                    for submission in batch {
                        let _ = submission.reply.send(Err(error.clone()));
                    }
                }
            }
        })
    }

    /// One insert for every event of `batch`, then one job for all the events it stored.
    async fn insert_and_push(
        &self,
        batch: &[Submission],
    ) -> Result<(String, Vec<InsertedEvent>), ApiError> {
        let task_id = new_task_id();
        let rows: Vec<EventToInsert<'_>> = batch
            .iter()
            .flat_map(|submission| {
                submission.events.iter().map(|event| EventToInsert {
                    owner: submission.owner,
                    event,
                })
            })
            .collect();
        let inserted = self
            .store
            .insert_events(&task_id.to_string(), &rows)
            .await?;
        // Repeats are on their way already, and events rejected on arrival are final.
        let job = ProcessEvents {
            event_ids: inserted
                .iter()
                .zip(&rows)
                .filter(|(event, row)| !event.is_duplicate() && row.event.rejection().is_none())
                .map(|(event, _)| event.id.0)
                .collect(),
        };
        if !job.event_ids.is_empty()
            && let Err(error) = self.queue.push(task_id, job.clone()).await
        {
            tracing::warn!(task.id = %task_id, error = %error, "queue push failed after commit; retrying in the background");
            tokio::spawn(retry_push(self.queue.clone(), task_id, job));
        }
        Ok((task_id.to_string(), inserted))
    }
}

/// Pauses before each retry of a push that failed after its commit: about half a minute in
/// all, which covers a queue restart; after that the recovery sweep enqueues the events.
const PUSH_RETRY_PAUSES_MS: [u64; 6] = [500, 1_000, 2_000, 4_000, 8_000, 16_000];

/// Pushes `job` again with backoff until the queue takes it, or leaves it to the sweep.
async fn retry_push(queue: Arc<dyn JobQueue>, task_id: Ulid, job: ProcessEvents) {
    for pause in PUSH_RETRY_PAUSES_MS {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        match queue.push(task_id, job.clone()).await {
            Ok(()) => {
                tracing::info!(task.id = %task_id, "queue push succeeded on retry");
                return;
            }
            Err(error) => {
                tracing::debug!(task.id = %task_id, error = %error, "queue push retry failed")
            }
        }
    }
    tracing::warn!(task.id = %task_id, "queue push gave up; the recovery sweep will enqueue these events");
}

/// Hands each submission its slice of the results, in submission order.
fn answer_each(batch: Vec<Submission>, task_id: &str, inserted: Vec<InsertedEvent>) {
    let mut results = inserted.into_iter();
    for submission in batch {
        let own: Vec<InsertedEvent> = results.by_ref().take(submission.events.len()).collect();
        let _ = submission.reply.send(Ok(accepted(own, task_id)));
    }
}

/// A submission's answer. Its task is the flush's, unless it stored nothing: a retried request
/// then gets the task of its first event, as the first submission was answered.
fn accepted(events: Vec<InsertedEvent>, flush_task_id: &str) -> Accepted {
    let duplicate_positions: Vec<usize> = (0..events.len())
        .filter(|&position| events[position].is_duplicate())
        .collect();
    let task_id = match events.first() {
        Some(InsertedEvent {
            existing_task_id: Some(task),
            ..
        }) if duplicate_positions.len() == events.len() => task.clone(),
        _ => flush_task_id.to_owned(),
    };
    Accepted {
        event_ids: events.into_iter().map(|event| event.id).collect(),
        duplicate_positions,
        task_id,
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn small_batches_share_fewer_slots_than_large_ones() {
        let slots = FlushSlots::new(&BatchSettings::default());
        let small = slots.acquire(99).now_or_never().unwrap().unwrap();
        assert!(
            slots.acquire(1).now_or_never().is_none(),
            "a second small flush waits"
        );
        let _large_a = slots.acquire(100).now_or_never().unwrap().unwrap();
        let _large_b = slots.acquire(2_000).now_or_never().unwrap().unwrap();
        let _large_c = slots.acquire(100).now_or_never().unwrap().unwrap();
        assert!(
            slots.acquire(100).now_or_never().is_none(),
            "a fifth flush of any size waits"
        );
        drop(small);
        assert!(
            slots.acquire(1).now_or_never().is_some(),
            "a finished small flush frees its slots"
        );
    }
}
