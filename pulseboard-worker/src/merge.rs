//! Merges the store calls of jobs running at the same time: their loads become one
//! `load_unfinished` statement and their outcomes one `apply_outcomes` statement.
//!
//! At a low steady rate each job carries a few events, and a statement's fixed cost (round
//! trip, execution set-up, the commit's WAL flush) is most of what a job costs the database.
//! No call waits for company: with nothing running, a call's statement starts at once; calls
//! that arrive while one runs share the next. Each job still judges its own events and keeps
//! its own retry budget; only the statements are shared.
//!
//! Only small jobs merge. A job of [`MERGE_BELOW_EVENTS`] events or more already spreads its
//! statements' cost, and it runs its own statements, several at once, as before: one merged
//! statement at a time would leave one of the database's cores idle under batch load.

use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use futures::FutureExt;
use pulseboard_store::{EventId, EventOutcome, EventStore, StoreError, UnfinishedEvent};
use tokio::sync::oneshot;

use crate::WorkerMetrics;

/// Jobs with fewer events than this merge their statements; larger ones run their own.
const MERGE_BELOW_EVENTS: usize = 50;

/// Events one merged statement carries at most.
const MAX_MERGED_EVENTS: usize = 1_000;

/// A failed merged statement, shared by every job that was in it.
pub(crate) type SharedStoreError = Arc<StoreError>;

/// The worker's loads and outcome writes, merged across concurrently running jobs.
pub(crate) struct MergedStoreCalls {
    loads: Merger<LoadUnfinished>,
    applies: Merger<ApplyOutcomes>,
    /// For large jobs' own statements.
    store: Arc<dyn EventStore>,
    metrics: Arc<WorkerMetrics>,
}

impl MergedStoreCalls {
    pub(crate) fn new(store: Arc<dyn EventStore>, metrics: Arc<WorkerMetrics>) -> Self {
        Self {
            loads: Merger::new(LoadUnfinished(store.clone()), metrics.clone()),
            applies: Merger::new(ApplyOutcomes(store.clone()), metrics.clone()),
            store,
            metrics,
        }
    }

    /// [`EventStore::load_unfinished`] for one job's ids.
    pub(crate) async fn load_unfinished(
        &self,
        ids: &[EventId],
    ) -> Result<Vec<UnfinishedEvent>, SharedStoreError> {
        if ids.len() >= MERGE_BELOW_EVENTS {
            self.count_own_statement();
            return Ok(self.store.load_unfinished(ids).await?);
        }
        self.loads.call(ids.to_vec()).await
    }

    /// [`EventStore::apply_outcomes`] for one job's outcomes (each event at most once).
    pub(crate) async fn apply_outcomes(
        &self,
        outcomes: Vec<EventOutcome>,
    ) -> Result<Vec<EventId>, SharedStoreError> {
        if outcomes.len() >= MERGE_BELOW_EVENTS {
            self.count_own_statement();
            return Ok(self.store.apply_outcomes(&outcomes).await?);
        }
        self.applies.call(outcomes).await
    }

    fn count_own_statement(&self) {
        self.metrics.store_calls.inc_by(1);
        self.metrics.store_statements.inc_by(1);
    }
}

/// A store call that can serve several jobs' requests with one statement.
#[async_trait]
trait MergeableCall: Send + Sync + 'static {
    type Request: Send + 'static;
    type Response: Send + 'static;

    /// Events in a request, for [`MAX_MERGED_EVENTS`].
    fn size(request: &Self::Request) -> usize;

    /// Runs all requests as one statement; one response per request, in order.
    async fn run(&self, requests: Vec<Self::Request>) -> Result<Vec<Self::Response>, StoreError>;
}

type Reply<C> = oneshot::Sender<Result<<C as MergeableCall>::Response, SharedStoreError>>;

struct Waiting<C: MergeableCall> {
    requests: VecDeque<(C::Request, Reply<C>)>,
    /// Whether a flush task is running; it takes every request that arrives before it ends.
    flushing: bool,
}

struct Merger<C: MergeableCall> {
    call: Arc<C>,
    waiting: Arc<Mutex<Waiting<C>>>,
    metrics: Arc<WorkerMetrics>,
}

impl<C: MergeableCall> Merger<C> {
    fn new(call: C, metrics: Arc<WorkerMetrics>) -> Self {
        Self {
            call: Arc::new(call),
            waiting: Arc::new(Mutex::new(Waiting {
                requests: VecDeque::new(),
                flushing: false,
            })),
            metrics,
        }
    }

    async fn call(&self, request: C::Request) -> Result<C::Response, SharedStoreError> {
        let (reply, answer) = oneshot::channel();
        let start_flushing = {
            let mut waiting = lock(&self.waiting);
            waiting.requests.push_back((request, reply));
            !std::mem::replace(&mut waiting.flushing, true)
        };
        if start_flushing {
            // A task of its own: a job cancelled by its time limit must not take the other
            // jobs' statement down with it.
            tokio::spawn(flush_until_empty(
                self.call.clone(),
                self.waiting.clone(),
                self.metrics.clone(),
            ));
        }
        // The flush task answers every request it takes, even when its statement panics; only a
        // runtime shutting down drops it.
        answer.await.unwrap_or_else(|_| {
            Err(Arc::new(StoreError::InvalidData(
                "the worker shut down during a store call".into(),
            )))
        })
    }
}

/// Runs merged statements until no request waits, then lets the next caller start a new task.
async fn flush_until_empty<C: MergeableCall>(
    call: Arc<C>,
    waiting: Arc<Mutex<Waiting<C>>>,
    metrics: Arc<WorkerMetrics>,
) {
    loop {
        let batch = {
            let mut waiting = lock(&waiting);
            if waiting.requests.is_empty() {
                waiting.flushing = false;
                return;
            }
            take_batch::<C>(&mut waiting.requests)
        };
        let (requests, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        metrics.store_statements.inc_by(1);
        metrics.store_calls.inc_by(requests.len() as u64);
        // A panic in a statement is a bug; it fails this batch's jobs instead of hanging them.
        let result = AssertUnwindSafe(call.run(requests))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::InvalidData(
                    "a merged store call panicked".into(),
                ))
            });
        match result {
            Ok(responses) => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(Ok(response));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// The oldest waiting requests, at least one, up to [`MAX_MERGED_EVENTS`] events in all.
fn take_batch<C: MergeableCall>(
    requests: &mut VecDeque<(C::Request, Reply<C>)>,
) -> Vec<(C::Request, Reply<C>)> {
    let mut batch = Vec::new();
    let mut events = 0;
    while let Some((request, _)) = requests.front() {
        let size = C::size(request);
        if !batch.is_empty() && events + size > MAX_MERGED_EVENTS {
            break;
        }
        events += size;
        batch.extend(requests.pop_front());
    }
    batch
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct LoadUnfinished(Arc<dyn EventStore>);

#[async_trait]
impl MergeableCall for LoadUnfinished {
    type Request = Vec<EventId>;
    type Response = Vec<UnfinishedEvent>;

    fn size(request: &Self::Request) -> usize {
        request.len()
    }

    async fn run(
        &self,
        requests: Vec<Vec<EventId>>,
    ) -> Result<Vec<Vec<UnfinishedEvent>>, StoreError> {
        if let [only] = requests.as_slice() {
            return Ok(vec![self.0.load_unfinished(only).await?]);
        }
        let mut all: Vec<EventId> = requests.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        let loaded = self.0.load_unfinished(&all).await?;
        Ok(requests
            .iter()
            .map(|ids| events_among(&loaded, ids))
            .collect())
    }
}

/// The loaded events whose ids are in `ids`, in id order, each once. `loaded` is in id order.
fn events_among(loaded: &[UnfinishedEvent], ids: &[EventId]) -> Vec<UnfinishedEvent> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.iter()
        .filter_map(|id| loaded.binary_search_by_key(id, |event| event.id).ok())
        .map(|index| loaded[index].clone())
        .collect()
}

struct ApplyOutcomes(Arc<dyn EventStore>);

#[async_trait]
impl MergeableCall for ApplyOutcomes {
    type Request = Vec<EventOutcome>;
    type Response = Vec<EventId>;

    fn size(request: &Self::Request) -> usize {
        request.len()
    }

    async fn run(&self, requests: Vec<Vec<EventOutcome>>) -> Result<Vec<Vec<EventId>>, StoreError> {
        if let [only] = requests.as_slice() {
            return Ok(vec![self.0.apply_outcomes(only).await?]);
        }
        let job_count = requests.len();
        let (outcomes, jobs) = merge_outcomes(requests);
        let applied: HashSet<EventId> = self
            .0
            .apply_outcomes(&outcomes)
            .await?
            .into_iter()
            .collect();
        let mut responses = vec![Vec::new(); job_count];
        for (outcome, job) in outcomes.iter().zip(jobs) {
            if applied.contains(&outcome.id) {
                responses[job].push(outcome.id);
            }
        }
        Ok(responses)
    }
}

/// All jobs' outcomes, each event once (two deliveries of one event can run side by side: the
/// first job's outcome goes in, as if it had committed first), with the job each came from.
fn merge_outcomes(requests: Vec<Vec<EventOutcome>>) -> (Vec<EventOutcome>, Vec<usize>) {
    let mut seen = HashSet::new();
    let mut outcomes = Vec::new();
    let mut jobs = Vec::new();
    for (job, request) in requests.into_iter().enumerate() {
        for outcome in request {
            if seen.insert(outcome.id) {
                outcomes.push(outcome);
                jobs.push(job);
            }
        }
    }
    (outcomes, jobs)
}
