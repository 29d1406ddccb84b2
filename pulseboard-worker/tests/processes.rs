//! The `pulseboard-worker` binary as operators run it: killed with SIGKILL mid-run, stopped
//! with SIGTERM mid-run, and two of them sharing one queue.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{counts, postgres, redis_queue, spawn_worker, submit, wait_all_final};
use pulseboard_core::EventStatus;
use sqlx::PgPool;

const EVENTS: usize = 10_000;
const EVENTS_PER_JOB: usize = 10;

/// Sum of "X processed" over the `[Batch] Completed` lines of a worker log.
/// Events a worker's log says it stored as processed: the rows each batch changed (a job
/// delivered twice is judged twice, and the store changes its rows once), plus single events.
fn processed_in_log(log: &Path) -> i64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let batches: i64 = text
        .lines()
        .filter_map(|line| line.split("[Batch] Persisted ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<i64>().ok())
        .sum();
    let singles = text
        .lines()
        .filter(|line| line.contains("Processing completed successfully"))
        .count();
    batches + singles as i64
}

async fn processed_at_by_id(pool: &PgPool) -> HashMap<i64, chrono::DateTime<chrono::Utc>> {
    let rows: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT id, processed_at FROM events WHERE status = 'processed'")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().collect()
}

/// A fresh database and Redis queue, and a directory for the workers' logs.
struct Fixture {
    url: String,
    store: std::sync::Arc<dyn pulseboard_store::EventStore>,
    queue: pulseboard_worker::RedisQueue,
    /// The queue's name, for the worker processes.
    name: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let (url, store) = postgres().await;
        let queue = redis_queue().await;
        let name = queue.name().to_owned();
        let dir = tempfile::tempdir().unwrap();
        Self {
            url,
            store,
            queue,
            name,
            dir,
        }
    }
}

/// Submits `EVENTS` events with `payload`, `EVENTS_PER_JOB` to a job.
async fn submit_all(
    store: &dyn pulseboard_store::EventStore,
    queue: &pulseboard_worker::RedisQueue,
    payload: &str,
) {
    submit(store, queue, EVENTS, EVENTS_PER_JOB, payload).await;
}

/// All `EVENTS` are processed, each by exactly one counted attempt.
async fn assert_all_processed_by_one_attempt(url: &str, store: &dyn pulseboard_store::EventStore) {
    assert_eq!(
        counts(store).await.get(&EventStatus::Processed),
        Some(&(EVENTS as i64))
    );
    let pool = PgPool::connect(url).await.unwrap();
    let not_once: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE attempts <> 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        not_once, 0,
        "every event was finished by exactly one counted attempt"
    );
}

/// Waits until at least `target` events are processed (panics after 120 s).
async fn wait_processed(store: &dyn pulseboard_store::EventStore, target: i64) {
    let started = Instant::now();
    while counts(store)
        .await
        .get(&EventStatus::Processed)
        .copied()
        .unwrap_or(0)
        < target
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the worker made no progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_exits_cleanly_and_its_jobs_run_once_elsewhere() {
    let Fixture {
        url,
        store,
        queue,
        name,
        dir,
    } = Fixture::new().await;
    let settings = [
        ("PULSEBOARD_LEASE_SECS", "5"),
        ("PULSEBOARD_SWEEP_INTERVAL_SECS", "1"),
    ];
    submit_all(store.as_ref(), &queue, r#"{"page": "/t"}"#).await;

    let mut first = spawn_worker(&url, &name, &dir.path().join("first.log"), &settings);
    wait_processed(store.as_ref(), (EVENTS / 5) as i64).await;
    let exit = pulseboard_test_support::terminate(&mut first).await;
    assert!(exit.success(), "exit status {exit}");

    let mut second = spawn_worker(&url, &name, &dir.path().join("second.log"), &settings);
    wait_all_final(store.as_ref(), EVENTS as i64, Duration::from_secs(300)).await;
    second.start_kill().unwrap();
    assert_all_processed_by_one_attempt(&url, store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_nothing_and_processes_nothing_twice() {
    let Fixture {
        url,
        store,
        queue,
        name,
        dir,
    } = Fixture::new().await;
    let settings = [
        ("PULSEBOARD_LEASE_SECS", "5"),
        ("PULSEBOARD_SWEEP_INTERVAL_SECS", "1"),
        ("PULSEBOARD_RETRY_BASE_MS", "100"),
    ];
    submit_all(store.as_ref(), &queue, r#"{"page": "/x", "duration": 3}"#).await;

    let first_log = dir.path().join("first.log");
    let mut first = spawn_worker(&url, &name, &first_log, &settings);
    wait_processed(store.as_ref(), (EVENTS / 5) as i64).await;
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let pool = PgPool::connect(&url).await.unwrap();
    let before_kill = processed_at_by_id(&pool).await;
    assert!(
        before_kill.len() < EVENTS,
        "killed mid-run ({} of {EVENTS} done)",
        before_kill.len()
    );

    let second_log = dir.path().join("second.log");
    let restarted = Instant::now();
    let mut second = spawn_worker(&url, &name, &second_log, &settings);
    let recovery = wait_all_final(store.as_ref(), EVENTS as i64, Duration::from_secs(300)).await;
    eprintln!(
        "killed after {} events; all {EVENTS} final {recovery:?} after the restart ({:?} since the kill)",
        before_kill.len(),
        restarted.elapsed()
    );
    second.start_kill().unwrap();

    assert_eq!(
        counts(store.as_ref()).await.get(&EventStatus::Processed),
        Some(&(EVENTS as i64))
    );
    let after = processed_at_by_id(&pool).await;
    for (id, processed_at) in &before_kill {
        assert_eq!(
            after.get(id),
            Some(processed_at),
            "event {id} was processed a second time"
        );
    }
    let logged = processed_in_log(&first_log) + processed_in_log(&second_log);
    assert!(
        logged <= EVENTS as i64,
        "workers report {logged} events processed: some twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_one_queue_and_finish_each_event_once() {
    let Fixture {
        url,
        store,
        queue,
        name,
        dir,
    } = Fixture::new().await;
    let settings = [("PULSEBOARD_LEASE_SECS", "3600")];
    let logs = [dir.path().join("a.log"), dir.path().join("b.log")];
    let mut workers: Vec<_> = logs
        .iter()
        .map(|log| spawn_worker(&url, &name, log, &settings))
        .collect();
    let started = Instant::now();
    submit_all(store.as_ref(), &queue, r#"{"page": "/y"}"#).await;
    let elapsed = wait_all_final(store.as_ref(), EVENTS as i64, Duration::from_secs(300)).await;
    eprintln!(
        "two workers: {EVENTS} events in {:?} (final {elapsed:?} after the last submit)",
        started.elapsed()
    );
    for worker in &mut workers {
        worker.start_kill().unwrap();
    }

    assert_all_processed_by_one_attempt(&url, store.as_ref()).await;
    // A worker logs a batch just after committing it, which the store may show first.
    let waiting_since = Instant::now();
    let per_worker: Vec<i64> = loop {
        let per_worker: Vec<i64> = logs.iter().map(|log| processed_in_log(log)).collect();
        if per_worker.iter().sum::<i64>() >= EVENTS as i64
            || waiting_since.elapsed() > Duration::from_secs(10)
        {
            break per_worker;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("events processed per worker: {per_worker:?}");
    assert_eq!(per_worker.iter().sum::<i64>(), EVENTS as i64);
    assert!(
        per_worker.iter().all(|n| *n > 0),
        "both workers took a share: {per_worker:?}"
    );
}
