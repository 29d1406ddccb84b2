//! A full backlog across a database outage: once the database is back and the worker drains
//! the backlog, the API accepts again within seconds. (A backlog count that failed during the
//! outage used to pause the recount for 20 times its duration: 100 s after a 5 s pool timeout.)
//! This binary stops the shared test PostgreSQL server, so it holds one test.

mod common;

use std::time::{Duration, Instant};

use common::process::{Client, production_env, spawn, spawn_server, worker_binary};
use pulseboard_test_support::PostgresOutage;
use serde_json::json;

/// Long past the pool's 5 s acquire timeout, so a backlog count fails during the outage.
const OUTAGE: Duration = Duration::from_secs(8);
/// How soon after the database returns the API must accept again.
const BOUND: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_accepts_again_within_seconds_of_the_databases_return() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = production_env("e2e_backlog").await;
    env.push(("PULSEBOARD_MAX_BACKLOG_EVENTS", "10".to_owned()));
    let (server, base) = spawn_server(&env, dir.path()).await;
    let worker = spawn(&worker_binary(), &env, dir.path().join("worker.log"));
    let client = Client::register_and_login(&base, "backlog-outage@example.com").await;
    let batch = |count: usize| {
        let events: Vec<_> = (0..count)
            .map(|_| json!({"event_name": "e", "event_type": "t", "payload": {}}))
            .collect();
        json!({ "events": events })
    };

    // Fill the backlog while the worker is paused.
    worker.signal("-STOP");
    let (status, _, _) = client.post("/api/v1/events/batch", &batch(10)).await;
    assert_eq!(status, 202);
    let (status, _, body) = client.post("/api/v1/events", &batch(1)["events"][0]).await;
    assert_eq!(status, 503, "the backlog is full: {body}");

    let outage = PostgresOutage::begin();
    tokio::time::sleep(OUTAGE).await;
    outage.end();
    let back = Instant::now();
    worker.signal("-CONT");

    loop {
        let (status, _, _) = client.post("/api/v1/events", &batch(1)["events"][0]).await;
        if status == 202 {
            break;
        }
        assert!(
            back.elapsed() < BOUND,
            "still {status} {BOUND:?} after the database came back\nworker log:\n{}\nserver log:\n{}",
            worker.log_text(),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "accepting again {:.1} s after the database came back",
        back.elapsed().as_secs_f64()
    );
}
