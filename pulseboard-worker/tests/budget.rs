//! The retry budget lives in the store, store faults are judged by what they mean, and the
//! recovery sweep takes each unfinished event once. Faults are real PostgreSQL errors, raised by
//! a trigger on the outcome write.

mod common;

use std::sync::Arc;

use std::time::Duration;

use common::{postgres, processed_outcome, redis_queue, submit};
use pulseboard_core::EventStatus;
use pulseboard_store::{EventId, EventStore, ReplaySelection};
use pulseboard_worker::{
    EmbeddedQueue, EmbeddedWorker, JobError, JobQueue, ProcessEvents, WorkerMetrics, WorkerOptions,
    embedded_queue, run_job, sweep_once,
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
    assert_eq!(
        metrics.retried.get(),
        1,
        "this delivery failed twice: retried once, then gave up"
    );
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
async fn a_replayed_failure_gets_the_whole_budget_again() {
    let (url, store) = postgres().await;
    let id = stored_event(&store).await;
    // It failed for good earlier: four attempts, then given up on.
    for _ in 0..4 {
        store
            .record_retry(&[id], "Processing error: down")
            .await
            .unwrap();
    }
    store
        .mark_failed(&[id], "Processing error: gave up")
        .await
        .unwrap();
    let replay = ReplaySelection {
        ids: Some(vec![id]),
        ..Default::default()
    };
    assert_eq!(store.replay_events(None, &replay, 10).await.unwrap(), [id]);
    // The database fails again (40001 serialization_failure: transient).
    refuse_outcomes_with(&url, "40001").await;
    let metrics = Arc::new(WorkerMetrics::default());
    let context = fast_retries().job_context(store.clone(), metrics.clone());

    let result = run_job(&context, &job(id)).await;

    assert!(
        matches!(result, Err(JobError::GaveUp { attempts: 4, .. })),
        "{result:?}"
    );
    assert_eq!(
        metrics.retried.get(),
        3,
        "retried three times before giving up"
    );
    let event = store.get_event(id, None).await.unwrap().unwrap();
    assert_eq!((event.status, event.attempts), (EventStatus::Failed, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_store_error_fails_the_events_at_once_with_its_reason() {
    let (url, store) = postgres().await;
    // 22023 invalid_parameter_value: the same write fails the same way every time.
    refuse_outcomes_with(&url, "22023").await;
    let id = stored_event(&store).await;
    let metrics = Arc::new(WorkerMetrics::default());
    let context = fast_retries().job_context(store.clone(), metrics.clone());

    let result = run_job(&context, &job(id)).await;

    assert!(
        matches!(result, Err(JobError::GaveUp { attempts: 1, .. })),
        "{result:?}"
    );
    assert_eq!(
        metrics.retried.get(),
        0,
        "a permanent error is never retried"
    );
    assert_eq!(metrics.failed.get(), 1);
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

/// A fresh SQLite store, or a fresh PostgreSQL database, migrated.
async fn store_for(backend: &str, dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    match backend {
        "sqlite" => {
            let url = format!("sqlite://{}/pb.db", dir.path().display());
            pulseboard_store::connect(&url, 4, true).await.unwrap()
        }
        _ => postgres().await.1,
    }
}

/// An in-process queue nobody drains: what is pushed to it stays countable.
fn undrained_queue(store: &Arc<dyn EventStore>) -> (EmbeddedQueue, EmbeddedWorker) {
    embedded_queue(fast_retries().job_context(store.clone(), Arc::default()), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_sweep_enqueues_each_of_60_000_unfinished_events_once() {
    for backend in ["sqlite", "postgres"] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_for(backend, &dir).await;
        let (before_the_restart, _gone) = undrained_queue(&store);
        let ids = submit(store.as_ref(), &before_the_restart, 60_000, 1_000, "{}").await;
        // The process restarts: its in-process queue starts empty.
        let (queue, _never_run) = undrained_queue(&store);
        let metrics = WorkerMetrics::default();

        let found = sweep_once(store.as_ref(), &queue, Duration::ZERO, &metrics)
            .await
            .unwrap();

        assert_eq!(found, ids.len(), "{backend}: every unfinished event found");
        assert_eq!(
            metrics.recovered.get(),
            60_000,
            "{backend}: each re-enqueued once"
        );
        let pushed = queue.stats().await.unwrap().pending_jobs;
        assert_eq!(pushed, 120, "{backend}: in jobs of 500 events");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_whose_job_still_waits_are_never_re_enqueued_however_old() {
    for backend in ["sqlite", "postgres"] {
        let dir = tempfile::tempdir().unwrap();
        let store = store_for(backend, &dir).await;
        let (embedded, _never_run) = undrained_queue(&store);
        let redis = redis_queue().await; // no worker takes from it
        let queues: [&dyn JobQueue; 2] = [&embedded, &redis];
        for queue in queues {
            let name = queue.backend_name();
            let (nowhere, _gone) = undrained_queue(&store);
            // Its job was lost: stored, but pushed to a queue that is gone.
            let lost = submit(store.as_ref(), &nowhere, 1, 1, "{}").await;
            // Task ids carry milliseconds: the waiting jobs below are made in a later one.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let waiting = submit(store.as_ref(), queue, 1_000, 250, "{}").await;
            let metrics = WorkerMetrics::default();

            // A lease of zero: every unfinished event is older than the lease.
            let found = sweep_once(store.as_ref(), queue, Duration::ZERO, &metrics)
                .await
                .unwrap();

            assert_eq!(
                found,
                1,
                "{backend}/{name}: only the lost event, not the {} waiting",
                waiting.len()
            );
            let swept_again = sweep_once(store.as_ref(), queue, Duration::ZERO, &metrics)
                .await
                .unwrap();
            assert_eq!(
                swept_again, 0,
                "{backend}/{name}: the recovery job waits too"
            );
            let lost = store.get_event(lost[0], None).await.unwrap().unwrap();
            assert_eq!(lost.status, EventStatus::Enqueued);
            // Finish this queue's events, so the next queue's sweep starts from nothing.
            for id in waiting {
                store
                    .apply_outcomes(&[processed_outcome(id)])
                    .await
                    .unwrap();
            }
            store
                .apply_outcomes(&[processed_outcome(lost.id)])
                .await
                .unwrap();
        }
    }
}
