//! The seed guide's "database error during processing", with the real binaries. This binary stops
//! the shared test PostgreSQL server, so it holds one test.

mod common;

use std::time::{Duration, Instant};

use common::process::{Client, production_env, spawn, spawn_server, worker_binary};
use pulseboard_test_support::PostgresOutage;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_during_processing_is_retried_and_refuses_new_events_with_503() {
    let dir = tempfile::tempdir().unwrap();
    let env = production_env("e2e_outage").await;
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let worker = spawn(&worker_binary(), &env, dir.path().join("worker.log"));
    let client = Client::register_and_login(&base, "outage@example.com").await;
    let event = json!({"event_name": "page_view", "event_type": "engagement", "payload": {"page": "/p", "duration": 1}});

    // Pause the worker so the job is still queued when the database goes away.
    worker.signal("-STOP");
    let (status, _, accepted) = client.post("/api/v1/events", &event).await;
    assert_eq!(status, 202);
    let outage = PostgresOutage::begin();
    let down_since = Instant::now();
    worker.signal("-CONT");

    let (status, headers, body) = client.post("/api/v1/events", &event).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "5");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("temporarily unavailable")
    );

    // The worker's first attempt fails (≈ 6 s: pool timeout + recording); the next one comes
    // 2 s later. Bring the database back inside that window.
    while !worker.log_text().contains("retrying") {
        assert!(
            down_since.elapsed() < Duration::from_secs(30),
            "the worker never retried:\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outage.end();

    let processed = client
        .wait_final(
            accepted["event_id"].as_i64().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(processed["processed"], true, "{processed}");
    let (status, _, _) = client.post("/api/v1/events", &event).await;
    assert_eq!(status, 202, "accepting again once the database is back");
}
