//! `PULSEBOARD_RETENTION_DAYS` on the real worker binary: events older than the retention in a
//! final state are deleted; unfinished and recent ones stay.

mod common;

use std::time::{Duration, Instant};

use common::{postgres, processed_outcome, spawn_worker, submit};
use pulseboard_store::EventOutcome;
use pulseboard_worker::{embedded_queue, purge_once};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_deletes_final_events_older_than_the_retention() {
    let (url, store) = postgres().await;
    // Stored, but never pushed anywhere a worker reads: only the retention touches them.
    let context =
        pulseboard_worker::WorkerOptions::default().job_context(store.clone(), Default::default());
    let (nowhere, _never_run) = embedded_queue(context, 1);
    let ids = submit(store.as_ref(), &nowhere, 4, 4, "{}").await;
    let outcomes: Vec<EventOutcome> = ids[..3].iter().map(|&id| processed_outcome(id)).collect();
    store.apply_outcomes(&outcomes).await.unwrap();
    // Age the first two processed events and the unfinished one by three days.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let aged: Vec<i64> = vec![ids[0].0, ids[1].0, ids[3].0];
    sqlx::query("UPDATE events SET created_at = created_at - interval '3 days' WHERE id = ANY($1)")
        .bind(&aged)
        .execute(&pool)
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let queue = format!("retention_{}", ulid::Ulid::generate());
    let _worker = spawn_worker(
        &url,
        &queue,
        &dir.path().join("worker.log"),
        &[("PULSEBOARD_RETENTION_DAYS", "2")],
    );
    let started = Instant::now();
    while store.get_event(ids[1], None).await.unwrap().is_some() {
        let log = std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nothing purged:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        store.get_event(ids[0], None).await.unwrap().is_none(),
        "old and processed"
    );
    assert!(
        store.get_event(ids[2], None).await.unwrap().is_some(),
        "processed but recent"
    );
    let unfinished = store.get_event(ids[3], None).await.unwrap();
    assert!(unfinished.is_some(), "old but unfinished: kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_purging_at_once_leave_it_to_the_lease_holder() {
    let (url, store) = postgres().await;
    let context =
        pulseboard_worker::WorkerOptions::default().job_context(store.clone(), Default::default());
    let (nowhere, _never_run) = embedded_queue(context, 1);
    // 1,500 old processed events: two rounds of the purge.
    let ids = submit(store.as_ref(), &nowhere, 1_500, 500, "{}").await;
    let outcomes: Vec<EventOutcome> = ids.iter().map(|&id| processed_outcome(id)).collect();
    store.apply_outcomes(&outcomes).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE events SET created_at = created_at - interval '3 days'")
        .execute(&pool)
        .await
        .unwrap();
    let keep = Duration::from_secs(2 * 24 * 3600);

    let (first, second) = tokio::join!(
        purge_once(store.as_ref(), keep, "process-a"),
        purge_once(store.as_ref(), keep, "process-b"),
    );

    let (first, second) = (first.unwrap(), second.unwrap());
    let mut purged = [first, second];
    purged.sort();
    assert_eq!(
        purged,
        [None, Some(1_500)],
        "one purged everything, the other nothing"
    );
    for id in [ids[0], ids[1_499]] {
        assert!(store.get_event(id, None).await.unwrap().is_none());
    }
    // The holder keeps the lease from one purge to the next; the other stays out.
    let (holder, other) = if first.is_some() {
        ("process-a", "process-b")
    } else {
        ("process-b", "process-a")
    };
    assert_eq!(purge_once(store.as_ref(), keep, other).await.unwrap(), None);
    assert_eq!(
        purge_once(store.as_ref(), keep, holder).await.unwrap(),
        Some(0)
    );
}
