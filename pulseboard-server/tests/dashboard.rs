//! The operator view: metrics that move, a dashboard API behind the operator token, and the page
//! itself rendered by a real (headless) Chromium.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::TestApp;
use common::process::{Client, spawn_server};
use serde_json::json;

/// Parses Prometheus text into `name{labels}` → value.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(name, value)| Some((name.to_owned(), value.parse().ok()?)))
        .collect()
}

async fn metrics(app: &TestApp) -> HashMap<String, f64> {
    let (status, body) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    parse_metrics(body.as_str().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counters_move_as_events_are_processed() {
    let app = TestApp::embedded().await;
    let token = app.token("metrics@example.com").await;
    let before = metrics(&app).await;
    let good =
        json!({"event_name": "page_view", "event_type": "engagement", "payload": {"page": "/"}});
    let bad = json!({"event_name": "page_view", "event_type": "engagement", "payload": [1, 2]});
    for body in [good, bad] {
        let (status, accepted) = app
            .call(Method::POST, "/api/v1/events", Some(&token), Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        app.wait_final(&token, accepted["event_id"].as_i64().unwrap())
            .await;
    }
    let after = metrics(&app).await;
    let moved = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    assert_eq!(moved("pulseboard_events_accepted_total"), 2.0);
    assert_eq!(moved("pulseboard_events_processed_total"), 1.0);
    assert_eq!(moved("pulseboard_events_rejected_total"), 1.0);
    assert_eq!(moved("pulseboard_job_duration_seconds_count"), 2.0);
    assert_eq!(moved("pulseboard_accept_to_processed_seconds_count"), 2.0);
    assert_eq!(
        moved("pulseboard_http_requests_total{route=\"/api/v1/events\",status=\"202\"}"),
        2.0
    );
    assert_eq!(after.get("pulseboard_jobs_in_flight"), Some(&0.0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_api_needs_the_operator_token_and_shows_everyones_events() {
    let app = TestApp::embedded().await;
    let token = app.token("ops@example.com").await;
    let (status, key) = app
        .call(
            Method::POST,
            "/api/v1/write-keys",
            Some(&token),
            Some(json!({"name": "ios-app"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let bad = json!({"event_name": "broken", "event_type": "t", "payload": "not an object"});
    let (_, accepted) = app
        .call(Method::POST, "/api/v1/events", Some(&token), Some(bad))
        .await;
    app.wait_final(&token, accepted["event_id"].as_i64().unwrap())
        .await;

    let (status, _) = app
        .call(Method::GET, "/dashboard/api/overview", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::GET,
            "/dashboard/api/overview",
            Some("wrong-token"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(Method::GET, "/dashboard/api/overview", Some(&token), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a user token is not an operator token"
    );

    let operator = "operator-token-for-tests";
    let (status, overview) = app
        .call(Method::GET, "/dashboard/api/overview", Some(operator), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(overview["by_status"]["validation_error"], 1);
    assert_eq!(
        overview["recent_failures"][0]["processing_error"],
        "Payload must be dict, got str"
    );
    assert_eq!(overview["workers"][0]["name"], "embedded");
    let listed = &overview["write_keys"][0];
    assert_eq!(
        (&listed["id"], &listed["name"]),
        (&key["id"], &json!("ios-app"))
    );
    assert_eq!(
        (&listed["event_count"], &listed["last_used_at"]),
        (&json!(0), &json!(null))
    );
    assert!(listed.get("write_key").is_none(), "never the key itself");
    let task_path = format!(
        "/dashboard/api/tasks/{}",
        accepted["task_id"].as_str().unwrap()
    );
    let (_, task) = app
        .call(Method::GET, &task_path, Some(operator), None)
        .await;
    assert_eq!(task["events"][0]["attempts"], 1);
    let (status, page) = app
        .call(
            Method::GET,
            &format!("/dashboard?token={operator}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.as_str()
            .unwrap_or_default()
            .contains("<title>PulseBoard")
    );
    // The operator's replay takes any user's failures; a user's token does not open it.
    let replay = json!({"status": "validation_error"});
    let (status, _) = app
        .call(
            Method::POST,
            "/dashboard/api/replay",
            Some(&token),
            Some(replay.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, replayed) = app
        .call(
            Method::POST,
            "/dashboard/api/replay",
            Some(operator),
            Some(replay),
        )
        .await;
    assert_eq!((status, replayed), (StatusCode::OK, json!({"replayed": 1})));
    app.wait_final(&token, accepted["event_id"].as_i64().unwrap())
        .await;
    app.stop().await;
}

/// Production mode keeps requiring an explicit operator token (the embedded default makes one,
/// see below).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_dashboard_is_closed_when_no_operator_token_is_configured() {
    let app = TestApp::production_with(|settings| settings.operator_token = None, false).await;
    let (status, body) = app.call(Method::GET, "/dashboard?token=", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("PULSEBOARD_OPERATOR_TOKEN")
    );
    app.stop().await;
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium with the flags this sandbox needs and a fresh profile.
fn chromium(profile: &std::path::Path, action: &[String], url: &str) -> std::process::Output {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (scripts/test.sh does)"
    );
    let mut command = std::process::Command::new(CHROMIUM);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,1400",
        "--virtual-time-budget=6000",
    ]);
    command
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(action)
        .arg(url);
    command.output().expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_counts_failures_and_task_details_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let operator = "browser-operator-token-0123456789";
    let env = [
        (
            "PULSEBOARD_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("PULSEBOARD_OPERATOR_TOKEN", operator.to_owned()),
    ];
    let (_server, base) = spawn_server(&env, dir.path()).await;
    let client = Client::register_and_login(&base, "browser@example.com").await;
    let batch = json!({"events": [
        {"event_name": "page_view", "event_type": "engagement", "payload": {"page": "/home"}},
        {"event_name": "button_click", "event_type": "interaction", "payload": {"button_id": "b"}},
        {"event_name": "too_deep", "event_type": "t", "payload": {"a": [[[[[[[[[[[1]]]]]]]]]]]}},
    ]});
    let (_, _, accepted) = client.post("/api/v1/events/batch", &batch).await;
    for id in accepted["event_ids"].as_array().unwrap() {
        client
            .wait_final(id.as_i64().unwrap(), Duration::from_secs(20))
            .await;
    }
    let task_id = accepted["task_id"].as_str().unwrap();
    let url = format!("{base}/dashboard?token={operator}&task={task_id}&replay=validation_error");

    let profile = dir.path().join("profile");
    let dom = chromium(&profile, &["--dump-dom".to_owned()], &url);
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for expected in [
        "store: sqlite · queue: embedded",
        r#"<div class="label">processed</div><div class="value">2</div>"#,
        r#"<div class="label">validation errors</div><div class="value">1</div>"#,
        "Payload exceeds max nesting depth (10)",
        &format!("3 event(s) in task {task_id}"),
        "button_click",
        "embedded",
        "no write keys",
        r#"<div class="label">logins throttled</div><div class="value">0</div>"#,
        "Replay every validation_error event of every user (1)? It goes back to enqueued",
    ] {
        assert!(
            text.contains(expected),
            "the rendered dashboard lacks {expected:?}:\n{text}"
        );
    }

    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target).unwrap();
    let screenshot = target.join("dashboard.png");
    let shot = chromium(
        &profile,
        &[format!("--screenshot={}", screenshot.display())],
        &url,
    );
    assert!(
        shot.status.success() && screenshot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    eprintln!("dashboard screenshot: {}", screenshot.display());
}

/// A newcomer's first start of the embedded default: no operator token configured, so the
/// server makes one in the data directory and prints the dashboard's address with it; that
/// address opens the dashboard in a browser, and a restart keeps the same token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_prints_a_dashboard_address_that_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("PULSEBOARD_DATA_DIR", data.display().to_string())];
    let url = {
        let (server, _base) = spawn_server(&env, dir.path()).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = server.log_text();
            if let Some(line) = log.lines().find(|line| line.starts_with("Dashboard: ")) {
                break line.trim_start_matches("Dashboard: ").to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no dashboard address:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let token_file = data.join("operator-token");
    let token = std::fs::read_to_string(&token_file).expect("the token is kept in the data dir");
    assert!(url.ends_with(&format!("/dashboard?token={token}")), "{url}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "readable by its owner only");

    // Restarted (on another port), the server keeps the token and prints it again.
    let (server, base) = spawn_server(&env, dir.path()).await;
    let dom = chromium(
        &dir.path().join("profile"),
        &["--dump-dom".to_owned()],
        &format!("{base}/dashboard?token={token}"),
    );
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        text.contains("store: sqlite · queue: embedded"),
        "the dashboard did not open:\n{text}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains(&format!("?token={token}")) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
