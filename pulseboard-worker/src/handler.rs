//! The apalis task handler shared by both queue backends.

use std::sync::Arc;
use std::time::Instant;

use apalis::prelude::{AbortError, BoxDynError, Data, TaskId};
use tracing::debug;

use crate::{JobContext, JobSummary, ProcessEvents, run_job};

/// Runs one task. Retries happen inside [`run_job`]; a job that gives up ends as `AbortError`,
/// because a plain error would make apalis-redis re-run it up to 25 times on its own schedule.
pub(crate) async fn handle_task(
    job: ProcessEvents,
    task_id: TaskId,
    context: Data<Arc<JobContext>>,
) -> Result<JobSummary, BoxDynError> {
    let started = Instant::now();
    context.metrics.jobs_started.inc_by(1);
    context.metrics.jobs_in_flight.add(1);
    let result = run_job(&context, &job).await;
    context.metrics.jobs_in_flight.add(-1);
    context
        .metrics
        .job_duration
        .observe(started.elapsed().as_secs_f64());
    debug!(task.id = %task_id, job.events = job.event_ids.len(), elapsed_ms = started.elapsed().as_millis() as u64, "task finished");
    result.map_err(|error| AbortError::new(error).into())
}
