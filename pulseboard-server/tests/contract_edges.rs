//! The edges of the API contract: nesting past the hard cap, payloads kept byte for byte, and
//! query and path errors in the JSON error contract.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use pulseboard_core::MAX_PAYLOAD_NESTING;
use serde_json::{Value, json};

on_both_setups!(
    payloads_nested_past_the_cap_get_422_and_every_answer_stays_readable_by_python,
    the_original_payload_is_kept_byte_for_byte,
    query_and_path_errors_follow_the_json_error_contract,
);

fn nested_arrays(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

fn event_text(payload_json: &str) -> String {
    format!(r#"{{"event_name": "deep", "event_type": "test", "payload": {payload_json}}}"#)
}

/// Whether Python's `json` module reads `bytes`, as a client of the API would.
fn python_reads(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    let mut python = std::process::Command::new("python3")
        .args(["-c", "import json, sys; json.load(sys.stdin)"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = python.wait_with_output().unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

async fn payloads_nested_past_the_cap_get_422_and_every_answer_stays_readable_by_python(
    app: &TestApp,
) {
    let token = app.token("deep@example.com").await;
    // Python's own limit is about 1,000 levels: the seed guide's 5,000 broke the listing.
    for levels in [MAX_PAYLOAD_NESTING + 1, 5_000] {
        let body = event_text(&nested_arrays(levels));
        let (status, answer) = app
            .raw(Method::POST, "/api/v1/events", &token, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["detail"][0]["type"], "json_too_deep", "{answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "payload"]));
        let batch = format!(
            r#"{{"events": [{}, {}]}}"#,
            event_text("{}"),
            event_text(&nested_arrays(levels))
        );
        let (status, answer) = app
            .raw(Method::POST, "/api/v1/events/batch", &token, Some(&batch))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", "events", 1, "payload"])
        );
    }
    // At the cap: accepted, then judged by the rule of 10 levels.
    let (status, answer) = app
        .raw(
            Method::POST,
            "/api/v1/events",
            &token,
            Some(&event_text(&nested_arrays(MAX_PAYLOAD_NESTING))),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = serde_json::from_slice::<Value>(&answer).unwrap()["event_id"]
        .as_i64()
        .unwrap();
    let judged = app.wait_final(&token, id).await;
    assert_eq!(judged["status"], "validation_error");
    let (status, listing) = app.raw(Method::GET, "/api/v1/events", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    python_reads(&listing).expect("Python reads the listing");
    let listing: Value = serde_json::from_slice(&listing).unwrap();
    assert_eq!(
        listing["items"].as_array().unwrap().len(),
        1,
        "nothing refused was stored"
    );
    let (_, one) = app
        .raw(Method::GET, &format!("/api/v1/events/{id}"), &token, None)
        .await;
    python_reads(&one).expect("Python reads the event");
}

async fn the_original_payload_is_kept_byte_for_byte(app: &TestApp) {
    let token = app.token("exact@example.com").await;
    let payload = r#"{"a":-0,"c":123456789012345678901234567890,"dup":1,"dup":2,"f":1.50}"#;
    let (status, answer) = app
        .raw(
            Method::POST,
            "/api/v1/events",
            &token,
            Some(&event_text(payload)),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = serde_json::from_slice::<Value>(&answer).unwrap()["event_id"]
        .as_i64()
        .unwrap();
    assert_eq!(app.wait_final(&token, id).await["status"], "processed");
    let (_, event) = app
        .raw(Method::GET, &format!("/api/v1/events/{id}"), &token, None)
        .await;
    let event = String::from_utf8(event).unwrap();
    assert!(
        event.contains(&format!(r#""payload":{payload}"#)),
        "payload as sent: {event}"
    );
    assert!(
        event.contains(&format!(r#""original":{payload}"#)),
        "original as sent: {event}"
    );
}

async fn query_and_path_errors_follow_the_json_error_contract(app: &TestApp) {
    let token = app.token("query@example.com").await;
    let (status, body) = app
        .call(
            Method::GET,
            "/api/v1/events?limit=1&limit=2",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query"]));
    assert_eq!(body["detail"][0]["type"], "query_invalid");
    assert!(
        body["detail"][0]["msg"].as_str().unwrap().contains("limit"),
        "{body}"
    );
    let (status, body) = app
        .call(Method::GET, "/api/v1/events/%FF", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"][0], "path");
    let (status, body) = app
        .call(Method::GET, "/no/such/route", Some(&token), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))
    );
    let (status, body) = app
        .call(Method::PUT, "/api/v1/events", Some(&token), None)
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method Not Allowed"})
        )
    );
}
