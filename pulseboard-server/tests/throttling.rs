//! Throttled logins and per-sender rates, on both backends: what a guesser and a runaway
//! client get, and that nobody else notices them.

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::TestApp;
use pulseboard_core::{AttemptLimit, Rate};
use pulseboard_server::ServerSettings;
use serde_json::{Value, json};

on_both_setups!(
    failed_logins_past_the_limit_get_429_before_any_password_is_checked,
    failed_logins_from_one_address_are_limited_across_accounts => super::by_forwarded_address,
    a_sender_over_its_rate_gets_429_and_the_others_do_not => super::slow_senders,
);

/// The client address comes from `X-Forwarded-For`, 3 failures per address.
fn by_forwarded_address(settings: &mut ServerSettings) {
    settings.throttle.client_ip_header = Some("x-forwarded-for".parse().unwrap());
    settings.throttle.login_per_address = Some(AttemptLimit {
        max_attempts: 3,
        ..AttemptLimit::PER_ADDRESS
    });
}

/// Each sender: 1 event every 10 s, 5 at once (slow enough that no token comes back while
/// the test runs).
fn slow_senders(settings: &mut ServerSettings) {
    settings.throttle.sender_rate = Some(Rate {
        per_second: 0.1,
        burst: 5,
    });
}

async fn login(
    app: &TestApp,
    email: &str,
    password: &str,
    from: &str,
) -> (StatusCode, HeaderMap, Value) {
    let request = Request::post("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", format!("198.51.100.1, {from}"))
        .body(Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    app.send(request).await
}

async fn failed_logins_past_the_limit_get_429_before_any_password_is_checked(app: &TestApp) {
    app.register("victim@example.com").await;
    app.register("bystander@example.com").await;
    // The same for an account that exists and one that does not: nothing tells them apart.
    for email in ["victim@example.com", "nobody@example.com"] {
        for attempt in 1..=10 {
            let (status, _, body) = login(app, email, "WrongPass123!", "192.0.2.1").await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}: {body}"
            );
        }
        let hashes_before = app.metric("pulseboard_password_hashes_total").await;
        for password in ["WrongPass123!", "TestPass123!"] {
            let (status, headers, body) = login(app, email, password, "192.0.2.1").await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}: {body}");
            let wait: u64 = headers[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with("Too many failed logins"),
                "{body}"
            );
        }
        assert_eq!(
            app.metric("pulseboard_password_hashes_total").await,
            hashes_before,
            "a throttled login computes no hash"
        );
    }
    assert_eq!(app.metric("pulseboard_logins_throttled_total").await, 4);
    let (status, overview) = app
        .call(
            Method::GET,
            "/dashboard/api/overview",
            Some("operator-token-for-tests"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(overview["protection"]["logins_throttled"], 4, "{overview}");
    // Another account from the same address is not affected.
    let (status, _, body) = login(app, "bystander@example.com", "TestPass123!", "192.0.2.1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn failed_logins_from_one_address_are_limited_across_accounts(app: &TestApp) {
    app.register("one@example.com").await;
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let (status, _, _) = login(app, email, "WrongPass123!", "203.0.113.7").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The fourth failure from that address, on yet another account, waits; even a right one.
    let (status, _, _) = login(app, "one@example.com", "TestPass123!", "203.0.113.7").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The last entry of X-Forwarded-For is the one the proxy added: another client is fine.
    let (status, _, body) = login(app, "one@example.com", "TestPass123!", "203.0.113.8").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A successful login does not count: that client can keep logging in.
    for _ in 0..5 {
        let (status, _, _) = login(app, "one@example.com", "TestPass123!", "203.0.113.8").await;
        assert_eq!(status, StatusCode::OK);
    }
}

async fn a_sender_over_its_rate_gets_429_and_the_others_do_not(app: &TestApp) {
    let flooder = app.token("flooder@example.com").await;
    let calm = app.token("calm@example.com").await;
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/write-keys",
            Some(&flooder),
            Some(json!({"name": "web"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["write_key"].as_str().unwrap().to_owned();
    let event = |name: &str| json!({"event_name": name, "event_type": "track", "payload": {}});

    // The key's burst of 5, then 429 on the native route and in the SDK's form on /v1/batch.
    let batch = json!({"events": (0..5).map(|i| event(&format!("e{i}"))).collect::<Vec<_>>()});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&key),
            Some(batch),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let refused_at = std::time::Instant::now();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(event("over")),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The refusal is held back for the second Retry-After names: a client that ignores it
    // gets one answer a second per connection.
    assert!(refused_at.elapsed() >= std::time::Duration::from_secs(1));
    // Refused before its body is read: this one is not even JSON.
    let segment = Request::post("/v1/batch")
        .header(header::AUTHORIZATION, basic(&key))
        .body(Body::from(r#"{"batch": [{"type": "track", "never read"#))
        .unwrap();
    let (status, headers, body) = app.send(segment).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "Retry-After {wait}");

    // The key's owner logged in is another sender, and so is every other user.
    for token in [&flooder, &calm] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/events",
                Some(token),
                Some(event("calm")),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    assert_eq!(
        app.metric("pulseboard_requests_rate_limited_total").await,
        2
    );
    // Nothing refused was stored: the flooder's key stored its 5, the flooder 1.
    let (_, listed) = app
        .call(
            Method::GET,
            "/api/v1/events?limit=100",
            Some(&flooder),
            None,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 6, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_over_one_database_share_the_login_limit() {
    let first = TestApp::production_with(|_| {}, false).await;
    let dir = tempfile::tempdir().unwrap();
    let second_server = pulseboard_server::start(&first.settings).await.unwrap();
    let second = TestApp::from_server(second_server, first.settings.clone(), dir);
    first.register("shared@example.com").await;
    for attempt in 0..10 {
        let app = if attempt % 2 == 0 { &first } else { &second };
        let (status, _, _) = login(app, "shared@example.com", "WrongPass123!", "192.0.2.9").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for app in [&first, &second] {
        let (status, _, _) = login(app, "shared@example.com", "TestPass123!", "192.0.2.9").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    second.stop().await;
    first.stop().await;
}

fn basic(key: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

#[test]
fn the_sender_rate_is_on_by_default_in_production_only() {
    use clap::Parser as _;
    let production = pulseboard_server::Cli::parse_from([
        "pulseboard-server",
        "--database-url",
        "postgres://localhost/pulseboard",
    ])
    .settings();
    let rate = production
        .throttle
        .sender_rate
        .expect("a rate in production");
    assert_eq!((rate.per_second, rate.burst), (5_000.0, 50_000));
    let embedded = pulseboard_server::Cli::parse_from(["pulseboard-server"]).settings();
    assert_eq!(embedded.throttle.sender_rate, None);
    let off = pulseboard_server::Cli::parse_from([
        "pulseboard-server",
        "--database-url",
        "postgres://localhost/pulseboard",
        "--sender-events-per-sec",
        "0",
    ])
    .settings();
    assert_eq!(off.throttle.sender_rate, None);
    assert_eq!(
        embedded.throttle.login_per_account,
        Some(AttemptLimit::PER_ACCOUNT)
    );
}
