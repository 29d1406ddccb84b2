//! The micro-batcher on real stores: shared inserts and jobs, per-caller ids, isolation of a bad
//! submission.

use std::sync::Arc;
use std::time::Duration;

use pulseboard_core::{NewEvent, RawEventFields};
use pulseboard_server::{BatchSettings, MicroBatcher};
use pulseboard_store::{EventStore, UserId};
use pulseboard_worker::{JobQueue, WorkerOptions, embedded_queue};

fn event(name: &str, payload_json: &str) -> NewEvent {
    NewEvent::parse(RawEventFields {
        event_name: Some(name),
        event_type: Some("t"),
        payload_json: Some(payload_json),
        ..Default::default()
    })
    .expect("valid fields")
}

async fn owner(store: &dyn EventStore) -> UserId {
    pulseboard_test_support::new_owner(store).await
}

/// A queue nobody drains: pushes succeed and are counted by the queue's stats.
fn idle_queue(
    store: Arc<dyn EventStore>,
) -> (Arc<dyn JobQueue>, pulseboard_worker::EmbeddedWorker) {
    let metrics = Arc::new(pulseboard_worker::WorkerMetrics::default());
    let (queue, worker) = embedded_queue(WorkerOptions::default().job_context(store, metrics), 1);
    (Arc::new(queue), worker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_share_inserts_and_jobs_but_get_their_own_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        pulseboard_store::connect(&format!("sqlite://{}/b.db", dir.path().display()), 4, true)
            .await
            .unwrap();
    let (queue, _worker) = idle_queue(store.clone());
    let batcher = MicroBatcher::start(
        store.clone(),
        queue.clone(),
        BatchSettings {
            max_events: 1_000,
            ..BatchSettings::single_writer()
        },
    );
    let user = owner(store.as_ref()).await;

    let submissions = (0..200).map(|i| {
        let batcher = batcher.clone();
        tokio::spawn(async move {
            (
                i,
                batcher
                    .submit(
                        user,
                        vec![
                            event(&format!("e{i}"), "{}"),
                            event(&format!("e{i}b"), "{}"),
                        ],
                    )
                    .await,
            )
        })
    });
    let results = futures::future::join_all(submissions).await;
    let mut task_ids = std::collections::HashSet::new();
    for result in results {
        let (i, accepted) = result.unwrap();
        let accepted = accepted.expect("accepted");
        assert_eq!(accepted.event_ids.len(), 2);
        let first = store
            .get_event(accepted.event_ids[0], None)
            .await
            .unwrap()
            .unwrap();
        let second = store
            .get_event(accepted.event_ids[1], None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.event_name, second.event_name),
            (format!("e{i}"), format!("e{i}b")),
            "each caller gets its own ids, in order"
        );
        assert_eq!(first.task_id, accepted.task_id);
        task_ids.insert(accepted.task_id);
    }
    let jobs = queue.stats().await.unwrap().pending_jobs;
    eprintln!(
        "200 concurrent submissions became {} inserts and {jobs} jobs",
        task_ids.len()
    );
    assert!(
        task_ids.len() < 200,
        "concurrent submissions were gathered ({} batches)",
        task_ids.len()
    );
    assert_eq!(
        jobs,
        task_ids.len() as u64,
        "one queue push per micro-batch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_submission_is_flushed_without_waiting_for_company() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        pulseboard_store::connect(&format!("sqlite://{}/b.db", dir.path().display()), 4, true)
            .await
            .unwrap();
    let (queue, _worker) = idle_queue(store.clone());
    let batcher = MicroBatcher::start(store.clone(), queue, BatchSettings::default());
    let user = owner(store.as_ref()).await;
    let accepted = tokio::time::timeout(
        Duration::from_secs(5),
        batcher.submit(user, vec![event("alone", "{}")]),
    )
    .await;
    assert_eq!(
        accepted
            .expect("flushed on its own")
            .unwrap()
            .event_ids
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_the_database_refuses_fails_alone() {
    let url = pulseboard_test_support::fresh_postgres_url().await;
    let store = pulseboard_store::connect(&url, 4, true).await.unwrap();
    let (queue, _worker) = idle_queue(store.clone());
    // One flush slot held busy by the first submission lets the others gather behind it.
    let batcher = MicroBatcher::start(
        store.clone(),
        queue,
        BatchSettings {
            max_events: 1_000,
            ..BatchSettings::single_writer()
        },
    );
    let user = owner(store.as_ref()).await;
    let submissions = (0..30).map(|i| {
        let batcher = batcher.clone();
        // PostgreSQL's json type refuses this text; the server never sends such text, but a
        // refusal must only ever fail its own request.
        let payload = if i == 15 { "{not json" } else { "{}" };
        tokio::spawn(async move { (i, batcher.submit(user, vec![event("e", payload)]).await) })
    });
    for result in futures::future::join_all(submissions).await {
        let (i, accepted) = result.unwrap();
        assert_eq!(accepted.is_err(), i == 15, "submission {i}: {accepted:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_accepted_after_the_commit_even_when_the_queue_push_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        pulseboard_store::connect(&format!("sqlite://{}/b.db", dir.path().display()), 4, true)
            .await
            .unwrap();
    let (queue, worker) = idle_queue(store.clone());
    drop(worker); // the queue is gone: every push now fails
    assert!(
        queue
            .push(
                pulseboard_worker::new_task_id(),
                pulseboard_worker::ProcessEvents { event_ids: vec![] }
            )
            .await
            .is_err()
    );
    let batcher = MicroBatcher::start(store.clone(), queue, BatchSettings::default());
    let user = owner(store.as_ref()).await;
    let accepted = batcher
        .submit(user, vec![event("durable", "{}")])
        .await
        .expect("accepted: the event is committed");
    let stored = store
        .get_event(accepted.event_ids[0], None)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored.status,
        pulseboard_core::EventStatus::Enqueued,
        "left for the recovery sweep"
    );
    assert_eq!(
        store
            .requeue_stale(chrono::Utc::now(), None, 10)
            .await
            .unwrap()
            .ids,
        accepted.event_ids,
        "the sweep finds it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_callers_with_the_same_message_id_get_the_same_event() {
    let url = pulseboard_test_support::fresh_postgres_url().await;
    let store = pulseboard_store::connect(&url, 8, true).await.unwrap();
    let (queue, _worker) = idle_queue(store.clone());
    let batcher = MicroBatcher::start(store.clone(), queue.clone(), BatchSettings::default());
    let user = owner(store.as_ref()).await;
    let with_id = || {
        NewEvent::parse(RawEventFields {
            event_name: Some("e"),
            event_type: Some("t"),
            message_id: Some("same-id"),
            ..Default::default()
        })
        .unwrap()
    };
    let callers: Vec<_> = (0..20)
        .map(|_| {
            let batcher = batcher.clone();
            let event = with_id();
            tokio::spawn(async move { batcher.submit(user, vec![event]).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for caller in callers {
        answers.push(caller.await.unwrap());
    }
    let first = &answers[0].event_ids;
    assert!(
        answers.iter().all(|a| &a.event_ids == first),
        "one event for all"
    );
    let stored: usize = answers.iter().map(|a| a.stored()).sum();
    assert_eq!(stored, 1, "stored once, 19 duplicates");
    assert_eq!(store.count_unfinished().await.unwrap(), 1);
}
