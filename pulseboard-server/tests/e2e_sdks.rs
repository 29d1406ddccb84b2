//! The real analytics SDKs, installed at pinned versions by `scripts/sdk/install.sh` (which
//! `scripts/test.sh` runs), send to a running server with nothing changed but their host; the
//! events are read back through the API. One server (the embedded default) for all of them.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::process::{Client, spawn_server};
use serde_json::{Value, json};

const SDK_DIR_VAR: &str = "PULSEBOARD_TEST_SDK_DIR";

/// Where `scripts/sdk/install.sh` put the SDKs; fails loudly when the suite was not started by
/// `scripts/test.sh`.
fn sdk_dir() -> PathBuf {
    let dir = std::env::var(SDK_DIR_VAR).unwrap_or_else(|_| {
        panic!(
            "{SDK_DIR_VAR} is not set: run the suite with scripts/test.sh, which installs the SDKs"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("venv/bin/python").exists() && dir.join("node_modules").exists(),
        "the SDKs are not installed in {}: run scripts/sdk/install.sh {0}",
        dir.display()
    );
    dir
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/sdk")
        .join(name)
}

/// Runs one sender against `base` with `key`; its JSON report. Panics unless the SDK reported
/// delivery.
async fn send(program: &str, sender: &[&str], base: &str, key: &str, run: &str) -> Value {
    let output = tokio::process::Command::new(program)
        .arg(script(sender[0]))
        .args(&sender[1..])
        .args(["--host", base, "--write-key", key, "--run-id", run])
        .env(SDK_DIR_VAR, sdk_dir())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|error| panic!("{program} {sender:?} does not start: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sender = sender.join(" ");
    assert!(
        output.status.success(),
        "{sender} reported a failure ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|_| panic!("{sender} printed no JSON: {stdout}"))
}

/// The final event with `message_id`, waiting up to 20 s for it to be stored and processed.
async fn final_event(client: &Client, message_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, page) = client
            .get(&format!("/api/v1/events?message_id={message_id}"))
            .await;
        assert_eq!(status, 200, "{page}");
        if let Some(event) = page["items"].as_array().and_then(|items| items.first()) {
            return client
                .wait_final(event["id"].as_i64().unwrap(), Duration::from_secs(20))
                .await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no event with message id {message_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh write key of `client`'s user.
async fn write_key(client: &Client, name: &str) -> String {
    let (status, _, created) = client
        .post("/api/v1/write-keys", &json!({"name": name}))
        .await;
    assert_eq!(status, 201, "{created}");
    created["write_key"].as_str().unwrap().to_owned()
}

/// Every message a sender reported is stored once, processed, with its name, type, payload
/// and the app's user id.
async fn check_sent(client: &Client, report: &Value, key_name: &str) {
    let sent = report["sent"].as_array().expect("sent");
    assert!(!sent.is_empty(), "{report}");
    for message in sent {
        let id = message["message_id"].as_str().expect("message id");
        let event = final_event(client, id).await;
        assert_eq!(event["status"], "processed", "{event}");
        if let Some(name) = message["event_name"].as_str() {
            assert_eq!(event["event_name"], name, "{event}");
        }
        assert_eq!(event["source"], key_name);
        match message["type"].as_str() {
            Some("track") => {
                if event["event_name"] == "sdk_event" {
                    assert!(event["payload"]["n"].is_i64(), "{event}");
                    assert!(event["user_id"].as_str().unwrap().starts_with("user-"));
                }
                assert!(event["payload"]["run"].is_string(), "{event}");
            }
            // PostHog's python SDK identifies with a `$set` event: the traits are in `$set`.
            Some("identify") => assert!(
                event["payload"]["plan"] == "pro" || event["context"]["$set"]["plan"] == "pro",
                "{event}"
            ),
            _ => {}
        }
        assert!(event["occurred_at"].is_string(), "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_sdks_deliver_through_their_own_protocols() {
    let python = sdk_dir().join("venv/bin/python");
    let python = python.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [("PULSEBOARD_DATA_DIR", dir.path().display().to_string())];
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "sdks@example.com").await;
    let senders = [
        (python, &["send_segment.py"][..], "segment-python"),
        (
            python,
            &["send_segment.py", "--sdk", "rudder"],
            "rudder-python",
        ),
        (python, &["send_posthog.py"], "posthog-python"),
        ("node", &["send_rudder.mjs"], "rudder-node"),
        ("node", &["send_segment_node.mjs"], "segment-node"),
    ];
    for (program, sender, name) in senders {
        let key = write_key(&client, name).await;
        let report = send(program, sender, &base, &key, name).await;
        check_sent(&client, &report, name).await;
        // The SDK's own retry of the same messages stores nothing twice.
        let again = send(program, sender, &base, &key, name).await;
        let ids = |report: &Value| report["sent"].as_array().unwrap().len();
        assert_eq!(ids(&again), ids(&report));
    }
    let (_, page) = client.get("/api/v1/events?limit=500").await;
    let stored = page["items"].as_array().unwrap().len();
    assert_eq!(
        stored,
        5 + 5 + 4 + 5 + 5,
        "every message once, resends included"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posthog_js_in_a_browser_page_delivers_its_events() {
    sdk_dir();
    let dir = tempfile::tempdir().unwrap();
    let env = [("PULSEBOARD_DATA_DIR", dir.path().display().to_string())];
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "browser-sdk@example.com").await;
    let key = write_key(&client, "web").await;
    let report = send(
        "python3",
        &["send_posthog_browser.py"],
        &base,
        &key,
        "browser",
    )
    .await;
    let sent = report["sent"].as_array().expect("sent");
    assert_eq!(sent.len(), 2, "{report}");
    for message in sent {
        let event = final_event(&client, message["message_id"].as_str().unwrap()).await;
        assert_eq!(
            (&event["event_name"], &event["event_type"], &event["status"]),
            (
                &json!("browser_event"),
                &json!("capture"),
                &json!("processed")
            )
        );
        assert_eq!(event["payload"]["run"], "browser");
        assert!(
            event["session_id"].is_string(),
            "posthog-js's $session_id: {event}"
        );
        assert!(
            event["user_id"].is_string(),
            "distinct_id from properties: {event}"
        );
    }
}
