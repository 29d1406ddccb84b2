//! Jobs running at the same time share their store statements: one load and one outcome write
//! for all of them, and each job still ends as it would have alone. On both stores.
//!
//! The tests run on a current-thread runtime, where the task that runs a merged statement starts
//! only once every job has asked: the merge is then certain, not a matter of timing.

mod common;

use std::sync::Arc;

use common::{counts, event, postgres};
use pulseboard_core::{EventStatus, NewEvent};
use pulseboard_store::{EventStore, EventToInsert};
use pulseboard_test_support::{activity_totals, fresh_sqlite_url, new_owner};
use pulseboard_worker::{
    JobContext, JobSummary, ProcessEvents, WorkerMetrics, WorkerOptions, run_job,
};

const VALID: &str = r#"{"page": "/home"}"#;
/// Nested 11 levels deep: core rejects it, and the job goes on with the other events.
const TOO_DEEP: &str = r#"{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}"#;

/// Stores `jobs` jobs of `per_job` events for a new owner (the last event of each job too deep
/// to be valid) and returns the jobs, unpushed.
async fn stored_jobs(store: &dyn EventStore, jobs: usize, per_job: usize) -> Vec<ProcessEvents> {
    let owner = new_owner(store).await;
    let mut stored = Vec::with_capacity(jobs);
    for job in 0..jobs {
        let events: Vec<NewEvent> = (0..per_job)
            .map(|position| {
                event(if position + 1 == per_job {
                    TOO_DEEP
                } else {
                    VALID
                })
            })
            .collect();
        let rows: Vec<EventToInsert<'_>> = events
            .iter()
            .map(|event| EventToInsert { owner, event })
            .collect();
        let inserted = store
            .insert_events(&format!("job-{job}"), &rows)
            .await
            .expect("insert");
        stored.push(ProcessEvents {
            event_ids: inserted.into_iter().map(|event| event.id.0).collect(),
        });
    }
    stored
}

fn context(store: &Arc<dyn EventStore>) -> (Arc<JobContext>, Arc<WorkerMetrics>) {
    let metrics = Arc::new(WorkerMetrics::default());
    let context = WorkerOptions::default().job_context(store.clone(), metrics.clone());
    (context, metrics)
}

async fn run_together(context: &JobContext, jobs: &[ProcessEvents]) -> Vec<JobSummary> {
    futures::future::join_all(jobs.iter().map(|job| run_job(context, job)))
        .await
        .into_iter()
        .map(|result| result.expect("job succeeds"))
        .collect()
}

async fn eight_jobs_share_one_load_and_one_write(store: Arc<dyn EventStore>) {
    let jobs = stored_jobs(store.as_ref(), 8, 3).await;
    let (context, metrics) = context(&store);

    let summaries = run_together(&context, &jobs).await;

    let alone = JobSummary {
        loaded: 3,
        processed: 2,
        rejected: 1,
    };
    assert!(
        summaries.iter().all(|summary| *summary == alone),
        "each job sees its own events only: {summaries:?}"
    );
    assert_eq!(
        (metrics.store_calls.get(), metrics.store_statements.get()),
        (16, 2),
        "8 loads and 8 writes, merged into one statement each"
    );
    let counts = counts(store.as_ref()).await;
    assert_eq!(counts.get(&EventStatus::Processed), Some(&16));
    assert_eq!(counts.get(&EventStatus::ValidationError), Some(&8));
    for id in jobs.iter().flat_map(|job| job.ids()) {
        let stored = store.get_event(id, None).await.unwrap().unwrap();
        assert_eq!(stored.attempts, 1, "event {id:?} counted one attempt");
    }
}

async fn large_jobs_run_their_own_statements(store: Arc<dyn EventStore>) {
    let jobs = stored_jobs(store.as_ref(), 3, 100).await;
    let (context, metrics) = context(&store);

    let summaries = run_together(&context, &jobs).await;

    assert!(summaries.iter().all(|summary| summary.processed == 99));
    assert_eq!(
        (metrics.store_calls.get(), metrics.store_statements.get()),
        (6, 6),
        "jobs of 100 events run side by side, each with its own load and write"
    );
}

async fn a_job_delivered_twice_at_once_finishes_its_events_once(store: Arc<dyn EventStore>) {
    let job = stored_jobs(store.as_ref(), 1, 4).await.remove(0);
    let (context, metrics) = context(&store);

    run_together(&context, &[job.clone(), job.clone()]).await;

    assert_eq!(
        metrics.store_statements.get(),
        2,
        "the two deliveries merged"
    );
    assert_eq!(
        (metrics.processed.get(), metrics.rejected.get()),
        (3, 1),
        "each event counted by the delivery that finished it, once"
    );
    let counts = counts(store.as_ref()).await;
    assert_eq!(
        (
            counts.get(&EventStatus::Processed),
            counts.get(&EventStatus::ValidationError)
        ),
        (Some(&3), Some(&1)),
        "every event finished once"
    );
    assert_eq!(
        activity_totals(store.as_ref()).await.1,
        3,
        "the dashboard's activity counts each processed event once"
    );
    for id in job.ids() {
        let stored = store.get_event(id, None).await.unwrap().unwrap();
        assert_eq!(stored.attempts, 1, "event {id:?}: one attempt counted");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_jobs_running_together_share_one_load_and_one_write() {
    eight_jobs_share_one_load_and_one_write(postgres().await.1).await;
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_large_jobs_run_their_own_statements() {
    large_jobs_run_their_own_statements(postgres().await.1).await;
}

#[tokio::test(flavor = "current_thread")]
async fn postgres_a_job_delivered_twice_at_once_finishes_its_events_once() {
    a_job_delivered_twice_at_once_finishes_its_events_once(postgres().await.1).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_jobs_running_together_share_one_load_and_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = pulseboard_store::connect(&fresh_sqlite_url(dir.path()), 4, true)
        .await
        .unwrap();
    eight_jobs_share_one_load_and_one_write(store).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sqlite_a_job_delivered_twice_at_once_finishes_its_events_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = pulseboard_store::connect(&fresh_sqlite_url(dir.path()), 4, true)
        .await
        .unwrap();
    a_job_delivered_twice_at_once_finishes_its_events_once(store).await;
}
