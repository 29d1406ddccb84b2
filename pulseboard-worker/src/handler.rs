//! The apalis task handler shared by both queue backends.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use apalis::prelude::{AbortError, BoxDynError, Data, TaskId};
use tracing::debug;

use crate::{JobContext, JobSummary, ProcessEvents, run_job};

/// Runs one task. Retries happen inside [`run_job`]; a job that gives up ends as `AbortError`,
/// because a plain error would make apalis-redis re-run it up to 25 times on its own schedule.
/// Its span names the task, so every line a job logs can be traced to the request that made it.
#[tracing::instrument(name = "job", skip_all, fields(task_id = %task_id, events = job.event_ids.len()))]
pub(crate) async fn handle_task(
    job: ProcessEvents,
    task_id: TaskId,
    context: Data<Arc<JobContext>>,
) -> Result<JobSummary, BoxDynError> {
    let started = Instant::now();
    context.metrics.jobs_started.inc_by(1);
    let running = Running::start(&context);
    renew_lease_if_it_waited_long(&context, &job, &task_id).await;
    let result = run_job(&context, &job).await;
    drop(running);
    context
        .metrics
        .job_duration
        .observe(started.elapsed().as_secs_f64());
    debug!(task.id = %task_id, job.events = job.event_ids.len(), elapsed_ms = started.elapsed().as_millis() as u64, "task finished");
    result.map_err(|error| AbortError::new(error).into())
}

/// A job counted as running (in [`JobContext::jobs_running`] and the in-flight gauge) until it
/// is dropped: when its handler ends, and also when a replaced worker drops the handler's
/// future midway, which would skip a decrement written after the `await`.
struct Running<'a>(&'a JobContext);

impl<'a> Running<'a> {
    fn start(context: &'a JobContext) -> Self {
        context.running.fetch_add(1, Ordering::Relaxed);
        context.metrics.jobs_in_flight.add(1);
        Self(context)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.jobs_in_flight.add(-1);
    }
}

/// Touches the job's events when it waited so long in the queue that its attempt could outlast
/// the lease (see [`Lease::renew_at_start`](pulseboard_core::Lease::renew_at_start)). The task
/// id is a ULID made before the events were stored or last touched, so its age bounds the wait.
/// Best effort: should the touch fail, the sweep may enqueue a running job's events once more,
/// which the conditional writes make harmless.
async fn renew_lease_if_it_waited_long(
    context: &JobContext,
    job: &ProcessEvents,
    task_id: &TaskId,
) {
    let waited = task_id
        .as_ulid()
        .and_then(|id| SystemTime::now().duration_since(id.datetime()).ok());
    if !waited.is_some_and(|waited| context.lease.renew_at_start(waited)) {
        return;
    }
    if let Err(error) = context.store.touch_unfinished(&job.ids()).await {
        debug!(error = %error, "could not renew the lease of a job that waited long");
    }
}
