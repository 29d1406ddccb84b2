//! The job: one request's (or micro-batch's) event ids, processed with one read, one pass through
//! core and one write, retried with backoff when the store is out.
//!
//! An attempt does not store `processing` before it starts: that would cost every event an extra
//! row version. The attempt's single write moves each event from where it was (see
//! [`EventStatus::attempt_sources`](pulseboard_core::EventStatus::attempt_sources)) to where the
//! attempt ended, and counts the attempt.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pulseboard_core::{
    Outcome, ProcessInput, Processor, RetryDecision, RetryPolicy, failure_message,
};
use pulseboard_store::{EventId, EventOutcome, EventStore, StoreError, UnfinishedEvent};
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use crate::metrics::WorkerMetrics;

/// How long a failed attempt may spend recording that it will be retried.
const RECORD_RETRY_TIMEOUT: Duration = Duration::from_secs(1);

/// The queued job: the ids of the events one API request (or micro-batch) stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEvents {
    /// Event ids, in request order.
    pub event_ids: Vec<i64>,
}

/// What a finished job did, as stored in the queue's result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Unfinished events this run loaded (final ones are skipped).
    pub loaded: usize,
    /// Events that became `processed`.
    pub processed: usize,
    /// Events that became `validation_error`.
    pub rejected: usize,
}

/// Why a job gave up.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Every attempt hit an outage; the events were marked failed where the store allowed it.
    #[error("gave up after {attempts} attempts: {cause}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last outage.
        cause: String,
    },
    /// The store refused the job's data for a reason retrying cannot fix.
    #[error("store refused the job: {0}")]
    Refused(StoreError),
}

/// Everything a job needs, shared by all jobs of a worker.
pub struct JobContext {
    /// The source of truth.
    pub store: Arc<dyn EventStore>,
    /// Core's rules.
    pub processor: Processor,
    /// Backoff and attempt limit for outages.
    pub retry: RetryPolicy,
    /// An attempt running longer than this counts as failed.
    pub attempt_time_limit: Duration,
    /// Counters and histograms.
    pub metrics: Arc<WorkerMetrics>,
}

/// Runs a job to its end: attempts until success, a non-retryable error, or the retry policy
/// gives up. Never panics; duplicate runs of the same job change nothing.
pub async fn run_job(context: &JobContext, job: &ProcessEvents) -> Result<JobSummary, JobError> {
    let ids: Vec<EventId> = job.event_ids.iter().copied().map(EventId).collect();
    let mut failed_attempts = 0;
    loop {
        let attempt = tokio::time::timeout(context.attempt_time_limit, run_attempt(context, &ids));
        let cause = match attempt.await {
            Ok(Ok(summary)) => return Ok(summary),
            Ok(Err(error)) if !error.is_retryable() => {
                error!(error = %error, event.ids = ?job.event_ids, "job refused by the store; not retrying");
                return Err(JobError::Refused(error));
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!(
                "attempt exceeded its time limit of {:?}",
                context.attempt_time_limit
            ),
        };
        failed_attempts += 1;
        let message = failure_message(&cause);
        // Every failed attempt leaves the events `retrying` (when the store can record it), so
        // the give-up below is the model's `retrying → failed`.
        context.metrics.retried.inc_by(ids.len() as u64);
        // Best effort and brief: when the store itself is out, waiting a full pool timeout here
        // would only delay the next attempt.
        let record = context.store.record_retry(&ids, &message);
        match tokio::time::timeout(RECORD_RETRY_TIMEOUT, record).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                debug!(error = %error, "could not record the retry (store still out)")
            }
            Err(_) => debug!("could not record the retry in time (store still out)"),
        }
        match context.retry.decide(failed_attempts) {
            RetryDecision::RetryAfter(delay) => {
                warn!(attempt = failed_attempts, retry.delay_ms = delay.as_millis() as u64, event.ids = ?job.event_ids, "{message}; retrying");
                tokio::time::sleep(delay).await;
            }
            RetryDecision::GiveUp => {
                error!(attempts = failed_attempts, event.ids = ?job.event_ids, "{message}; giving up");
                match context.store.mark_failed(&ids, &message).await {
                    Ok(marked) => context.metrics.failed.inc_by(marked),
                    // The events stay unfinished; the recovery sweep enqueues them again later.
                    Err(error) => {
                        warn!(error = %error, "could not mark events failed; the recovery sweep will retry them")
                    }
                }
                return Err(JobError::GaveUp {
                    attempts: failed_attempts,
                    cause,
                });
            }
        }
    }
}

/// One attempt: load, judge with core, write every outcome in one statement.
async fn run_attempt(context: &JobContext, ids: &[EventId]) -> Result<JobSummary, StoreError> {
    if ids.is_empty() {
        return Ok(JobSummary::default());
    }
    let batch = ids.len() > 1;
    if batch {
        info!("[Batch] Processing {} events", ids.len());
    }
    let loaded = context.store.load_unfinished(ids).await?;
    let now = Utc::now();
    let outcomes: Vec<EventOutcome> = loaded
        .iter()
        .map(|event| judge(context, event, now, batch))
        .collect();
    let applied = context.store.apply_outcomes(&outcomes).await?;
    let summary = summarize(&loaded, &outcomes);
    record_metrics(context, &loaded, summary, now);
    if batch {
        info!("[Batch] Persisted {applied} processed events");
        info!(
            "[Batch] Completed: {} processed, {} failed out of {} total",
            summary.processed,
            summary.rejected,
            ids.len()
        );
    } else if let Some(outcome) = outcomes.first() {
        log_single_completion(outcome, applied);
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
                properties_json: Some(properties.to_string()),
                error: None,
                decided_at: now,
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
            }
        }
    }
}

fn log_single_completion(outcome: &EventOutcome, applied: u64) {
    let id = outcome.id.0;
    if applied == 0 {
        info!(event.id = id, "[Event {id}] Already final; nothing changed");
    } else if outcome.status == pulseboard_core::EventStatus::Processed {
        let at = pulseboard_core::format_timestamp(outcome.decided_at);
        info!(event.id = id, "[Event {id}] Marked processed at {at}");
        info!(
            event.id = id,
            "[Event {id}] Processing completed successfully"
        );
    }
}

fn summarize(loaded: &[UnfinishedEvent], outcomes: &[EventOutcome]) -> JobSummary {
    let processed = outcomes
        .iter()
        .filter(|o| o.status == pulseboard_core::EventStatus::Processed)
        .count();
    JobSummary {
        loaded: loaded.len(),
        processed,
        rejected: outcomes.len() - processed,
    }
}

fn record_metrics(
    context: &JobContext,
    loaded: &[UnfinishedEvent],
    summary: JobSummary,
    now: chrono::DateTime<Utc>,
) {
    context.metrics.processed.inc_by(summary.processed as u64);
    context.metrics.rejected.inc_by(summary.rejected as u64);
    for event in loaded {
        let waited = (now - event.created_at).to_std().unwrap_or_default();
        context
            .metrics
            .accept_to_processed
            .observe(waited.as_secs_f64());
    }
}
