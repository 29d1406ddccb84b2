//! `examples/loadgen`, the benchmark's client, against the embedded server binary: what it
//! reports accepted must be what the server accepted, and its drain must see every event final.

mod common;

use common::process::{loadgen_binary, spawn_server};
use serde_json::Value;

/// Runs the load generator for 2 s and returns its `SUMMARY` JSON.
async fn run_loadgen(base: &str, mode: &str) -> Value {
    let output = tokio::process::Command::new(loadgen_binary())
        .args(["--base-url", base, "--mode", mode, "--concurrency", "4"])
        .args(["--duration", "2", "--batch-size", "10", "--users", "2"])
        .output()
        .await
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout
        .lines()
        .find_map(|line| line.strip_prefix("SUMMARY "))
        .expect("a SUMMARY line");
    serde_json::from_str(summary).expect("SUMMARY is JSON")
}

/// `pulseboard_events_accepted_total` from the server's `/metrics`.
async fn accepted_total(base: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("pulseboard_events_accepted_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the accepted counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_reports_what_the_server_accepted_and_drains_it() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("PULSEBOARD_DATA_DIR", dir.path().display().to_string())];
    let (_server, base) = spawn_server(&env, dir.path()).await;

    let single = run_loadgen(&base, "single").await;
    let batch = run_loadgen(&base, "batch").await;

    for summary in [&single, &batch] {
        assert_eq!(summary["errors"], serde_json::json!({}), "{summary}");
        assert!(
            summary["accepted_events"].as_u64().unwrap() > 0,
            "{summary}"
        );
        assert!(
            summary["e2e_events_per_s"].as_f64().unwrap() > 0.0,
            "the drain saw every event final: {summary}"
        );
    }
    let batch_events = batch["accepted_events"].as_u64().unwrap();
    let batch_requests = batch["requests"].as_u64().unwrap();
    assert_eq!(batch_events, batch_requests * 10, "10 events per batch");
    assert_eq!(
        single["accepted_events"].as_u64().unwrap() + batch_events,
        accepted_total(&base).await,
        "loadgen counts exactly the events the server accepted"
    );
}
