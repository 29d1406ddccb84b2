//! The job: one request's (or micro-batch's) event ids, processed with one read, one pass through
//! core and one write, retried with backoff when the store is out.
//!
//! An attempt does not store `processing` before it starts: that would cost every event an extra
//! row version. The attempt's single write moves each event from where it was (see
//! [`EventStatus::attempt_sources`](pulseboard_core::EventStatus::attempt_sources)) to where the
//! attempt ended, and counts the attempt.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use pulseboard_core::{
    AttemptBudget, EventStatus, Lease, Outcome, ProcessInput, Processor, RetryDecision,
    RetryPolicy, failure_message,
};
use pulseboard_store::{EventId, EventOutcome, EventStore, UnfinishedEvent};
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use crate::merge::{MergedStoreCalls, SharedStoreError};
use crate::metrics::WorkerMetrics;

/// How long a failed attempt may spend recording that it will be retried.
const RECORD_RETRY_TIMEOUT: Duration = Duration::from_secs(1);

/// The queued job: the ids of the events one API request (or micro-batch) stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEvents {
    /// Event ids, in request order.
    pub event_ids: Vec<i64>,
}

impl ProcessEvents {
    /// The job's event ids as the store takes them.
    pub fn ids(&self) -> Vec<EventId> {
        self.event_ids.iter().copied().map(EventId).collect()
    }
}

/// What a finished job did, as stored in the queue's result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Unfinished events this run loaded (final ones are skipped).
    pub loaded: usize,
    /// Events this run made `processed` (not those another delivery finished first).
    pub processed: usize,
    /// Events this run made `validation_error`.
    pub rejected: usize,
}

/// Why a job gave up.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The retry budget is spent, or the store refused the job for a reason retrying cannot
    /// fix; the events were marked failed where the store allowed it.
    #[error("gave up after {attempts} attempts: {cause}")]
    GaveUp {
        /// Attempts recorded for the events, this one included.
        attempts: u32,
        /// The last failure.
        cause: String,
    },
}

/// Everything a job needs, shared by all jobs of a worker.
pub struct JobContext {
    /// The source of truth.
    pub store: Arc<dyn EventStore>,
    /// Core's rules.
    pub processor: Processor,
    /// Backoff and attempt limit for outages.
    pub retry: RetryPolicy,
    /// The recovery sweep's lease, and the time limit of an attempt (one running longer
    /// counts as failed).
    pub lease: Lease,
    /// Counters and histograms.
    pub metrics: Arc<WorkerMetrics>,
    /// The loads and outcome writes of jobs running at the same time, merged.
    pub(crate) merged: MergedStoreCalls,
    /// Jobs whose handler runs now, in this process (see [`JobContext::jobs_running`]).
    pub(crate) running: AtomicUsize,
}

impl JobContext {
    /// Jobs whose handler is running now in this process, however long they take (each
    /// attempt is bounded by the time limit). A queue worker whose heartbeat is silent while
    /// this is above 0 is busy, not stalled.
    pub fn jobs_running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }
}

/// Runs a job to its end: attempts until success, or until the retry policy gives up, and then
/// marks the events `failed`. Never panics; duplicate runs of the same job change nothing.
///
/// The budget is the events' stored `attempts`, not this delivery's count: a job delivered again
/// (after a crash, or by the recovery sweep) goes on from the attempts already recorded. A
/// permanent store error (one a retry would hit again) ends the job at once.
pub async fn run_job(context: &JobContext, job: &ProcessEvents) -> Result<JobSummary, JobError> {
    let ids = job.ids();
    let mut budget = AttemptBudget::default();
    loop {
        let attempt = run_attempt(context, &ids, &mut budget);
        let error = match tokio::time::timeout(context.lease.attempt_time_limit, attempt).await {
            Ok(Ok(summary)) => return Ok(summary),
            Ok(Err(error)) => AttemptError::Store(error),
            Err(_) => AttemptError::TimedOut(context.lease.attempt_time_limit),
        };
        let failed_attempts = budget.record_failure();
        let message = failure_message(&error.to_string());
        record_retry(context, &ids, &message).await;
        match (error.is_retryable(), context.retry.decide(failed_attempts)) {
            (true, RetryDecision::RetryAfter(delay)) => {
                context.metrics.retried.inc_by(ids.len() as u64);
                warn!(attempt = failed_attempts, retry.delay_ms = delay.as_millis() as u64, event.ids = ?job.event_ids, "{message}; retrying");
                tokio::time::sleep(delay).await;
            }
            (retryable, _) => {
                let why = if retryable {
                    "giving up"
                } else {
                    "not retryable; giving up"
                };
                error!(attempts = failed_attempts, event.ids = ?job.event_ids, "{message}; {why}");
                give_up(context, &ids, &message).await;
                return Err(JobError::GaveUp {
                    attempts: failed_attempts,
                    cause: error.to_string(),
                });
            }
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("{0}")]
    Store(SharedStoreError),
    #[error("attempt exceeded its time limit of {0:?}")]
    TimedOut(Duration),
}

impl AttemptError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::TimedOut(_) => true,
        }
    }
}

/// Records a failed attempt: `retrying` with the message, one more attempt. Best effort and
/// brief: when the store itself is out, waiting a full pool timeout here would only delay the
/// next attempt.
async fn record_retry(context: &JobContext, ids: &[EventId], message: &str) {
    let record = context.store.record_retry(ids, message);
    match tokio::time::timeout(RECORD_RETRY_TIMEOUT, record).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => debug!(error = %error, "could not record the retry (store still out)"),
        Err(_) => debug!("could not record the retry in time (store still out)"),
    }
}

/// Marks the job's `retrying` events `failed`. Events whose last retry could not be recorded
/// stay unfinished: the recovery sweep delivers them again, and their stored attempts carry on.
async fn give_up(context: &JobContext, ids: &[EventId], message: &str) {
    match context.store.mark_failed(ids, message).await {
        Ok(marked) => context.metrics.failed.inc_by(marked),
        Err(error) => {
            warn!(error = %error, "could not mark events failed; the recovery sweep will deliver them again")
        }
    }
}

/// One attempt: load, judge with core, write every outcome in one statement.
async fn run_attempt(
    context: &JobContext,
    ids: &[EventId],
    budget: &mut AttemptBudget,
) -> Result<JobSummary, SharedStoreError> {
    if ids.is_empty() {
        return Ok(JobSummary::default());
    }
    let batch = ids.len() > 1;
    if batch {
        info!("[Batch] Processing {} events", ids.len());
    }
    let loaded = context.merged.load_unfinished(ids).await?;
    budget.saw_stored(loaded.iter().map(|event| event.attempts).max().unwrap_or(0));
    let now = Utc::now();
    let outcomes: Vec<EventOutcome> = loaded
        .iter()
        .map(|event| judge(context, event, now, batch))
        .collect();
    let decided: Vec<(EventId, EventStatus)> = outcomes.iter().map(|o| (o.id, o.status)).collect();
    // Only what this job changed counts: a second delivery running beside the first finds the
    // events final and changes nothing.
    let applied: HashSet<EventId> = context
        .merged
        .apply_outcomes(outcomes)
        .await?
        .into_iter()
        .collect();
    let summary = summarize(&loaded, &decided, &applied);
    record_metrics(context, &loaded, &applied, summary, now);
    let applied = applied.len();
    if batch && applied == 0 {
        info!(
            "[Batch] All {} events already final; nothing changed",
            ids.len()
        );
    } else if batch {
        info!("[Batch] Persisted {applied} processed events");
        info!(
            "[Batch] Completed: {} processed, {} failed out of {} total",
            summary.processed,
            summary.rejected,
            ids.len()
        );
    } else if let [(id, status)] = decided.as_slice() {
        log_single_completion(*id, *status, now, applied);
    }
    Ok(summary)
}

fn judge(
    context: &JobContext,
    event: &UnfinishedEvent,
    now: chrono::DateTime<Utc>,
    batch: bool,
) -> EventOutcome {
    let id = event.id.0;
    if !batch {
        info!(event.id = id, "[Event {id}] Starting processing");
        debug!(event.id = id, "[Event {id}] User: {}", event.owner_email);
    }
    let input = ProcessInput {
        event_name: &event.event_name,
        event_type: &event.event_type,
        payload_json: &event.payload_json,
    };
    let outcome = context.processor.process(input, now);
    let status = outcome.status();
    match outcome {
        Outcome::Processed { properties } => {
            if batch {
                debug!(event.id = id, "[Event {id}] Processed in batch");
            } else {
                info!(event.id = id, "[Event {id}] Payload validation passed");
            }
            EventOutcome {
                id: event.id,
                status,
                properties_json: Some(pulseboard_core::properties_json(
                    &properties,
                    &event.payload_json,
                )),
                error: None,
                decided_at: now,
                attempts_before: event.attempts,
            }
        }
        Outcome::Rejected { error } => {
            warn!(event.id = id, "[Event {id}] Validation failed: {error}");
            EventOutcome {
                id: event.id,
                status,
                properties_json: None,
                error: Some(error.to_string()),
                decided_at: now,
                attempts_before: event.attempts,
            }
        }
    }
}

fn log_single_completion(
    id: EventId,
    status: EventStatus,
    decided_at: chrono::DateTime<Utc>,
    applied: usize,
) {
    let id = id.0;
    if applied == 0 {
        info!(event.id = id, "[Event {id}] Already final; nothing changed");
    } else if status == EventStatus::Processed {
        let at = pulseboard_core::format_timestamp(decided_at);
        info!(event.id = id, "[Event {id}] Marked processed at {at}");
        info!(
            event.id = id,
            "[Event {id}] Processing completed successfully"
        );
    }
}

fn summarize(
    loaded: &[UnfinishedEvent],
    decided: &[(EventId, EventStatus)],
    applied: &HashSet<EventId>,
) -> JobSummary {
    let (mut processed, mut rejected) = (0, 0);
    for (_, status) in decided.iter().filter(|(id, _)| applied.contains(id)) {
        if *status == EventStatus::Processed {
            processed += 1;
        } else {
            rejected += 1;
        }
    }
    JobSummary {
        loaded: loaded.len(),
        processed,
        rejected,
    }
}

fn record_metrics(
    context: &JobContext,
    loaded: &[UnfinishedEvent],
    applied: &HashSet<EventId>,
    summary: JobSummary,
    now: chrono::DateTime<Utc>,
) {
    context.metrics.processed.inc_by(summary.processed as u64);
    context.metrics.rejected.inc_by(summary.rejected as u64);
    for event in loaded.iter().filter(|event| applied.contains(&event.id)) {
        let waited = (now - event.created_at).to_std().unwrap_or_default();
        context
            .metrics
            .accept_to_processed
            .observe(waited.as_secs_f64());
    }
}
