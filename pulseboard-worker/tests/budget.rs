//! The retry budget lives in the store, store faults are judged by what they mean, and the
//! recovery sweep takes each unfinished event once. Faults are real PostgreSQL errors, raised by
//! a trigger on the outcome write.

mod common;

use std::sync::Arc;

use common::{postgres, submit};
use pulseboard_core::EventStatus;
use pulseboard_store::{EventId, EventStore};
use pulseboard_worker::{
    JobError, JobQueue as _, ProcessEvents, WorkerMetrics, WorkerOptions, embedded_queue, run_job,
    sweep_once,
};

/// Makes every outcome write fail with `sqlstate` (a real error from the server).
async fn refuse_outcomes_with(url: &str, sqlstate: &str) {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .expect("admin connection");
    let ddl = format!(
        "CREATE FUNCTION refuse_outcome() RETURNS trigger AS $$ BEGIN \
           RAISE EXCEPTION 'refused by the test' USING ERRCODE = '{sqlstate}'; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse_outcome BEFORE UPDATE ON events FOR EACH ROW \
           WHEN (NEW.status IN ('processed', 'validation_error')) EXECUTE FUNCTION refuse_outcome();"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut admin)
        .await
        .expect("trigger");
}

fn fast_retries() -> WorkerOptions {
    WorkerOptions {
        retry_base_ms: 10,
        max_retries: 3,
        ..WorkerOptions::default()
    }
}

/// Stores one event for a new owner without pushing a job; returns its id.
async fn stored_event(store: &Arc<dyn EventStore>) -> EventId {
    let metrics = Arc::new(WorkerMetrics::default());
    // An in-process queue nobody drains: the insert only.
    let (sink, _never_run) = embedded_queue(fast_retries().job_context(store.clone(), metrics), 1);
    submit(store.as_ref(), &sink, 1, 1, "{}").await[0]
}

fn job(id: EventId) -> ProcessEvents {
    ProcessEvents {
        event_ids: vec![id.0],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_job_spends_only_what_is_left_of_the_stored_budget() {
    let (url, store) = postgres().await;
    // 40001 serialization_failure: transient, worth retrying.
    refuse_outcomes_with(&url, "40001").await;
    let id = stored_event(&store).await;
    // An earlier delivery failed twice, then its worker died.
    for _ in 0..2 {
        store
            .record_retry(&[id], "Processing error: earlier delivery")
            .await
            .unwrap();
    }
    let metrics = Arc::new(WorkerMetrics::default());
    let context = fast_retries().job_context(store.clone(), metrics.clone());

    let result = run_job(&context, &job(id)).await;

    let Err(JobError::GaveUp { attempts, .. }) = result else {
        panic!("the job should give up: {result:?}");
    };
    assert_eq!(attempts, 4, "one attempt plus the policy's three retries");
    let event = store.get_event(id, None).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Failed);
    assert_eq!(
        event.attempts, 4,
        "two attempts before the redelivery, two after it"
    );
    assert_eq!(metrics.retried.get(), 2, "this delivery failed twice");
    assert!(
        event
            .processing_error
            .as_deref()
            .is_some_and(|error| error.starts_with("Processing error: database unavailable")),
        "{:?}",
        event.processing_error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_store_error_fails_the_events_at_once_with_its_reason() {
    let (url, store) = postgres().await;
    // 22023 invalid_parameter_value: the same write fails the same way every time.
    refuse_outcomes_with(&url, "22023").await;
    let id = stored_event(&store).await;
    let context = fast_retries().job_context(store.clone(), Arc::default());

    let result = run_job(&context, &job(id)).await;

    assert!(
        matches!(result, Err(JobError::GaveUp { attempts: 1, .. })),
        "{result:?}"
    );
    let event = store.get_event(id, None).await.unwrap().unwrap();
    assert_eq!(
        (event.status, event.attempts),
        (EventStatus::Failed, 1),
        "not left enqueued for the sweep to deliver again and again"
    );
    assert!(
        event
            .processing_error
            .as_deref()
            .is_some_and(|error| error.contains("refused by the test")),
        "{:?}",
        event.processing_error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_sweep_enqueues_each_of_60_000_unfinished_events_once() {
    for backend in ["sqlite", "postgres"] {
        let dir = tempfile::tempdir().unwrap();
        let store = match backend {
            "sqlite" => {
                let url = format!("sqlite://{}/pb.db", dir.path().display());
                pulseboard_store::connect(&url, 4, true).await.unwrap()
            }
            _ => postgres().await.1,
        };
        let metrics = Arc::new(WorkerMetrics::default());
        let context = fast_retries().job_context(store.clone(), metrics.clone());
        // Nobody drains this queue: what the sweep pushes stays countable.
        let (queue, _never_run) = embedded_queue(context, 1);
        let ids = submit(store.as_ref(), &queue, 60_000, 1_000, "{}").await;
        let pushed_by_submit = queue.stats().await.unwrap().pending_jobs;

        let found = sweep_once(store.as_ref(), &queue, std::time::Duration::ZERO, &metrics)
            .await
            .unwrap();

        assert_eq!(found, ids.len(), "{backend}: every unfinished event found");
        assert_eq!(
            metrics.recovered.get(),
            60_000,
            "{backend}: each re-enqueued once"
        );
        let pushed = queue.stats().await.unwrap().pending_jobs - pushed_by_submit;
        assert_eq!(pushed, 120, "{backend}: in jobs of 500 events");
    }
}
