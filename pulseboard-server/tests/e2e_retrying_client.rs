//! A client that resends, with the same message ids, every request that got no answer or a 503,
//! across a `kill -9` of the server and its restart: every event is stored exactly once, none
//! is lost, all are processed. `examples/loadgen --message-ids` is that client; the server is the
//! real binary, in the embedded default and in production mode.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::{
    Process, accepted_total, loadgen_binary, spawn, spawn_server, spawn_server_on, worker_binary,
};
use serde_json::Value;

/// Starts `loadgen --message-ids` against `base`: batches of 20 from 8 clients for 6 s.
fn start_retrying_client(base: &str, log: &Path) -> tokio::process::Child {
    let log = std::fs::File::create(log).expect("log file");
    tokio::process::Command::new(loadgen_binary())
        .args(["--base-url", base, "--message-ids", "--mode", "batch"])
        .args([
            "--batch-size",
            "20",
            "--concurrency",
            "8",
            "--duration",
            "6",
        ])
        .args(["--users", "2", "--wait-timeout", "120"])
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("loadgen starts")
}

/// Waits until the server has accepted at least `events`.
async fn wait_accepted(base: &str, events: u64) {
    let started = Instant::now();
    while accepted_total(base).await < events {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never accepted {events} events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the scenario: load, `kill -9` mid-load, restart on the same port, let the client finish.
/// With `worker`, a `pulseboard-worker` runs beside the server (production mode). Returns the
/// client's SUMMARY.
async fn load_across_a_kill(env: &[(&str, String)], dir: &Path, worker: bool) -> Value {
    let (mut server, base) = spawn_server(env, dir).await;
    let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
    let _worker: Option<Process> =
        worker.then(|| spawn(&worker_binary(), env, dir.join("worker.log")));
    let client = start_retrying_client(&base, &dir.join("loadgen.log"));
    wait_accepted(&base, 500).await;
    // SIGKILL mid-load, waiting until it is gone: some commits will never be answered.
    server.child.kill().await.expect("kill -9");
    let (_server, _) = spawn_server_on(port, env, dir).await;
    let output = client.wait_with_output().await.expect("loadgen ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(dir.join("loadgen.log")).unwrap_or_default();
    assert!(output.status.success(), "loadgen failed:\n{stdout}\n{log}");
    let summary = stdout
        .lines()
        .find_map(|line| line.strip_prefix("SUMMARY "))
        .expect("a SUMMARY line");
    serde_json::from_str(summary).expect("SUMMARY is JSON")
}

/// Every acknowledged event stored once and processed, nothing else stored.
async fn assert_exactly_once(summary: &Value, database_url: &str) {
    eprintln!("retrying client: {summary}");
    assert_eq!(summary["unacknowledged_requests"], 0, "{summary}");
    let errors = summary["errors"].as_object().unwrap();
    assert!(
        errors.keys().all(|key| key == "connection" || key == "503"),
        "only retried failures: {summary}"
    );
    assert!(
        errors.contains_key("connection"),
        "the kill interrupted requests: {summary}"
    );
    let acknowledged = summary["acknowledged_events"].as_i64().unwrap();
    let store = pulseboard_store::connect(database_url, 2, false)
        .await
        .unwrap();
    let counts = store.counts_by_status().await.unwrap();
    let stored: i64 = counts.iter().map(|count| count.count).sum();
    // Message ids are unique per owner in the store, and every acknowledged id is stored (a
    // 202 follows the commit): equal counts mean each acknowledged event is stored exactly once.
    assert_eq!(stored, acknowledged, "stored vs acknowledged: {counts:?}");
    let processed = counts
        .iter()
        .find(|count| count.status == pulseboard_core::EventStatus::Processed)
        .map_or(0, |count| count.count);
    assert_eq!(processed, acknowledged, "all processed: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_retrying_client_stores_every_event_once_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = vec![("PULSEBOARD_DATA_DIR", data.display().to_string())];
    let summary = load_across_a_kill(&env, dir.path(), false).await;
    let url = format!("sqlite://{}", data.join("pulseboard.db").display());
    assert_exactly_once(&summary, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_a_retrying_client_stores_every_event_once_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = pulseboard_test_support::fresh_postgres_url().await;
    let env = vec![
        ("DATABASE_URL", database_url.clone()),
        ("REDIS_URL", common::redis_url()),
        (
            "PULSEBOARD_REDIS_QUEUE",
            format!("retrying_{}", ulid::Ulid::generate()),
        ),
        (
            "PULSEBOARD_JWT_SECRET",
            "a-retrying-client-secret-long-enough-0123456789".to_owned(),
        ),
        // A server killed between its commit and its push leaves events only the sweep
        // enqueues: a short lease keeps the test short.
        ("PULSEBOARD_LEASE_SECS", "5".to_owned()),
        ("PULSEBOARD_JOB_TIME_LIMIT_SECS", "4".to_owned()),
        ("PULSEBOARD_SWEEP_INTERVAL_SECS", "1".to_owned()),
    ];
    let summary = load_across_a_kill(&env, dir.path(), true).await;
    assert_exactly_once(&summary, &database_url).await;
}
