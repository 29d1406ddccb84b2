//! Write keys and the SDK protocol routes over HTTP, as the SDKs use them: keys in Basic auth or
//! in the body, gzip bodies with any content type, retries with the same message ids, CORS
//! preflights, and the answers the SDKs rely on. On SQLite (embedded) and PostgreSQL + Redis.

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use common::TestApp;
use serde_json::{Value, json};

on_both_setups!(
    write_keys_are_created_once_listed_without_the_key_and_revoked,
    a_write_key_writes_through_the_native_routes_but_reads_nothing,
    a_segment_batch_stores_every_message_with_all_it_carried,
    a_resent_segment_batch_stores_nothing_twice,
    a_bad_message_is_stored_as_validation_error_next_to_the_good_ones,
    segment_single_routes_take_their_type_from_the_path_and_the_key_from_the_body,
    wrong_missing_and_revoked_keys_get_401_and_unreadable_bodies_400_as_json,
    an_unknown_key_costs_the_store_one_lookup_per_cache_interval,
    gzip_bodies_with_any_content_type_are_inflated,
    a_gzip_bomb_gets_413_without_storing_anything,
    an_unknown_content_encoding_gets_415_in_the_sdk_error_shape,
    posthog_routes_answer_status_1_with_and_without_the_trailing_slash,
    posthog_js_gzip_and_beacon_bodies_are_read,
    browsers_get_cors_preflights_answered_for_any_origin,
    snowplow_events_are_stored_with_the_key_from_the_path,
    openapi_documents_every_sdk_and_write_key_route_with_its_error_body,
);

/// Creates a write key named `name`; returns the key.
async fn write_key(app: &TestApp, token: &str, name: &str) -> String {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/write-keys",
            Some(token),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["write_key"].as_str().expect("key").to_owned()
}

/// A POST of raw bytes with the given headers.
async fn post_raw(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().method(Method::POST).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::from(body)).expect("request"))
        .await
}

fn basic(key: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    format!("Basic {encoded}")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The caller's events, newest first (up to 500).
async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/v1/events?limit=500{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").clone()
}

/// The one event with `message_id`, once it is final.
async fn final_event(app: &TestApp, token: &str, message_id: &str) -> Value {
    let found = events(app, token, &format!("&message_id={message_id}")).await;
    assert_eq!(found.len(), 1, "one event with message id {message_id}");
    app.wait_final(token, found[0]["id"].as_i64().expect("id"))
        .await
}

fn segment_batch(run: &str) -> Value {
    json!({
        "batch": [
            {"type": "track", "event": "Signed Up", "messageId": format!("{run}-1"),
             "userId": "user-1", "anonymousId": "anon-1", "timestamp": "2026-11-30T10:00:00.000Z",
             "properties": {"plan": "pro"}, "context": {"library": {"name": "analytics-python"}}},
            {"type": "identify", "messageId": format!("{run}-2"), "userId": "user-1",
             "traits": {"email": "a@example.com"}},
            {"type": "page", "name": "Home", "messageId": format!("{run}-3"),
             "properties": {"url": "https://example.com/"}}
        ],
        "sentAt": "2026-11-30T10:00:01.000Z"
    })
}

async fn write_keys_are_created_once_listed_without_the_key_and_revoked(app: &TestApp) {
    let token = app.token("keys@example.com").await;
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/write-keys",
            Some(&token),
            Some(json!({"name": " web "})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "web");
    assert!(created["write_key"].as_str().unwrap().starts_with("pbwk_"));
    assert!(created["id"].is_i64() && created["created_at"].is_string());

    let (status, listed) = app
        .call(Method::GET, "/api/v1/write-keys", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let item = &listed["items"][0];
    assert_eq!(
        (item["name"].clone(), item["event_count"].clone()),
        (json!("web"), json!(0))
    );
    assert!(
        item.get("write_key").is_none(),
        "the key is shown only once: {item}"
    );
    assert!(item["revoked_at"].is_null() && item["last_used_at"].is_null());

    for (bad, kind) in [
        (json!({}), "missing"),
        (json!({"name": "  "}), "string_too_short"),
        (json!({"name": 5}), "string_type"),
    ] {
        let (status, body) = app
            .call(Method::POST, "/api/v1/write-keys", Some(&token), Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["detail"][0]["type"], kind);
    }

    let other = app.token("keys-other@example.com").await;
    let path = format!("/api/v1/write-keys/{}", created["id"]);
    let (status, _) = app.call(Method::DELETE, &path, Some(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only the owner revokes");
    let (status, _) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = app
        .call(Method::GET, "/api/v1/write-keys", Some(&token), None)
        .await;
    assert!(listed["items"][0]["revoked_at"].is_string());
    let (status, _) = app
        .call(
            Method::DELETE,
            "/api/v1/write-keys/999999",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(Method::GET, "/api/v1/write-keys", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_write_key_writes_through_the_native_routes_but_reads_nothing(app: &TestApp) {
    let token = app.token("native-key@example.com").await;
    let key = write_key(app, &token, "backend").await;
    let event = json!({"event_name": "e", "event_type": "t", "payload": {"a": 1}});
    let (status, body) = app
        .call(Method::POST, "/api/v1/events", Some(&key), Some(event))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let stored = app
        .wait_final(&token, body["event_id"].as_i64().unwrap())
        .await;
    assert_eq!(stored["source"], "backend", "the key's name is the source");
    assert_eq!(stored["status"], "processed");
    let named = json!({"events": [{"event_name": "e", "event_type": "t", "source": "ios"}]});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&key),
            Some(named),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let stored = app
        .wait_final(&token, body["event_ids"][0].as_i64().unwrap())
        .await;
    assert_eq!(stored["source"], "ios", "a source the event names wins");

    for path in ["/api/v1/events", "/api/v1/write-keys", "/api/v1/events/1"] {
        let (status, _) = app.call(Method::GET, path, Some(&key), None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} is not for write keys"
        );
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/write-keys",
            Some(&key),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a key cannot make keys");
}

async fn a_segment_batch_stores_every_message_with_all_it_carried(app: &TestApp) {
    let token = app.token("segment@example.com").await;
    let key = write_key(app, &token, "web").await;
    let body = serde_json::to_vec(&segment_batch("seg")).unwrap();
    let (status, _, answer) = post_raw(
        app,
        "/v1/batch",
        &[
            ("authorization", &basic(&key)),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"success": true})));

    let track = final_event(app, &token, "seg-1").await;
    assert_eq!(track["status"], "processed", "{track}");
    assert_eq!(
        (&track["event_name"], &track["event_type"], &track["source"]),
        (&json!("Signed Up"), &json!("track"), &json!("web"))
    );
    assert_eq!(track["payload"], json!({"plan": "pro"}));
    assert_eq!(
        (&track["user_id"], &track["anonymous_id"]),
        (&json!("user-1"), &json!("anon-1"))
    );
    assert_eq!(track["occurred_at"], "2026-11-30T10:00:00.000000Z");
    assert!(track["received_at"].is_string());
    assert_eq!(
        track["context"]["context"]["library"]["name"],
        "analytics-python"
    );

    let identify = final_event(app, &token, "seg-2").await;
    assert_eq!(
        (&identify["event_name"], &identify["event_type"]),
        (&json!("identify"), &json!("identify"))
    );
    assert_eq!(identify["payload"], json!({"email": "a@example.com"}));
    let page = final_event(app, &token, "seg-3").await;
    assert_eq!(
        (&page["event_name"], &page["event_type"]),
        (&json!("Home"), &json!("page"))
    );

    // Use counts reach the listing within the flush interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, listed) = app
            .call(Method::GET, "/api/v1/write-keys", Some(&token), None)
            .await;
        if listed["items"][0]["event_count"] == 3 {
            assert!(listed["items"][0]["last_used_at"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "use never counted: {listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_resent_segment_batch_stores_nothing_twice(app: &TestApp) {
    let token = app.token("resend@example.com").await;
    let key = write_key(app, &token, "web").await;
    let body = serde_json::to_vec(&segment_batch("again")).unwrap();
    for _ in 0..3 {
        let (status, _, _) = post_raw(
            app,
            "/v1/batch",
            &[("authorization", &basic(&key))],
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(events(app, &token, "").await.len(), 3);
}

async fn a_bad_message_is_stored_as_validation_error_next_to_the_good_ones(app: &TestApp) {
    let token = app.token("bad-message@example.com").await;
    let key = write_key(app, &token, "web").await;
    let batch = json!({"batch": [
        {"type": "track", "event": "ok", "messageId": "good-1"},
        {"type": "track", "messageId": "bad-1", "properties": {"a": 1}},
        {"type": "track", "event": "deep", "messageId": "deep-1",
         "properties": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}}},
        42
    ]});
    let (status, _, answer) = post_raw(
        app,
        "/v1/batch",
        &[("authorization", &basic(&key))],
        serde_json::to_vec(&batch).unwrap(),
    )
    .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"success": true})));
    assert_eq!(
        final_event(app, &token, "good-1").await["status"],
        "processed"
    );
    let bad = final_event(app, &token, "bad-1").await;
    assert_eq!(bad["status"], "validation_error");
    assert!(
        bad["processing_error"]
            .as_str()
            .unwrap()
            .contains("event name"),
        "{bad}"
    );
    let deep = final_event(app, &token, "deep-1").await;
    assert_eq!(
        deep["status"], "validation_error",
        "judged by the worker's rules"
    );
    let all = events(app, &token, "&status=validation_error").await;
    assert_eq!(
        all.len(),
        3,
        "the non-object message is stored too: {all:?}"
    );
}

async fn segment_single_routes_take_their_type_from_the_path_and_the_key_from_the_body(
    app: &TestApp,
) {
    let token = app.token("single@example.com").await;
    let key = write_key(app, &token, "server").await;
    let routes = [
        (
            "/v1/track",
            json!({"event": "Bought", "messageId": "s-track"}),
            "Bought",
        ),
        ("/v1/page", json!({"messageId": "s-page"}), "page"),
        (
            "/v1/screen",
            json!({"name": "Settings", "messageId": "s-screen"}),
            "Settings",
        ),
        (
            "/v1/identify",
            json!({"traits": {"a": 1}, "messageId": "s-identify"}),
            "identify",
        ),
        (
            "/v1/group",
            json!({"groupId": "g", "messageId": "s-group"}),
            "group",
        ),
        (
            "/v1/alias",
            json!({"previousId": "p", "messageId": "s-alias"}),
            "alias",
        ),
    ];
    for (path, mut message, name) in routes {
        message["writeKey"] = json!(key);
        let (status, _, answer) =
            post_raw(app, path, &[], serde_json::to_vec(&message).unwrap()).await;
        assert_eq!(
            (status, answer),
            (StatusCode::OK, json!({"success": true})),
            "{path}"
        );
        let id = message["messageId"].as_str().unwrap().to_owned();
        let event = final_event(app, &token, &id).await;
        assert_eq!(event["event_name"], name, "{path}");
        assert_eq!(event["event_type"], path.trim_start_matches("/v1/"));
        let context = event["context"].to_string();
        assert!(
            !context.contains(&key),
            "the key is never stored: {context}"
        );
    }
}

async fn wrong_missing_and_revoked_keys_get_401_and_unreadable_bodies_400_as_json(app: &TestApp) {
    let token = app.token("refused@example.com").await;
    let key = write_key(app, &token, "web").await;
    let batch = serde_json::to_vec(&segment_batch("refused")).unwrap();
    let wrong = format!("pbwk_{}", "0".repeat(64));
    for auth in [basic(&wrong), basic("not-a-key"), String::new()] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() {
            vec![]
        } else {
            vec![("authorization", &auth)]
        };
        let (status, _, body) = post_raw(app, "/v1/batch", &headers, batch.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "invalid_write_key");
        assert!(body["message"].is_string() && body["detail"].is_string());
    }
    // A key outside the body (Segment's header, Snowplow's path) is refused before the body is
    // read: an unreadable body gets the key's 401, not the body's 400.
    let (status, _, body) = post_raw(
        app,
        "/v1/batch",
        &[("authorization", &basic(&wrong))],
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let snowplow = format!("/s/{wrong}/com.snowplowanalytics.snowplow/tp2");
    let (status, _, body) = post_raw(app, &snowplow, &[], b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = post_raw(
        app,
        "/v1/batch",
        &[("authorization", &basic(&key))],
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_body");
    let (status, _, _) = post_raw(
        app,
        "/v1/batch",
        &[("authorization", &basic(&key))],
        br#"{"batch": 5}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, listed) = app
        .call(Method::GET, "/api/v1/write-keys", Some(&token), None)
        .await;
    let path = format!("/api/v1/write-keys/{}", listed["items"][0]["id"]);
    let (status, _) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = post_raw(
        app,
        "/v1/batch",
        &[("authorization", &basic(&key))],
        batch.clone(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "revoked at once on this process"
    );
    let posthog = serde_json::to_vec(&json!({"api_key": key, "event": "x"})).unwrap();
    let (status, _, _) = post_raw(app, "/capture/", &[], posthog).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(events(app, &token, "").await.is_empty());
}

async fn an_unknown_key_costs_the_store_one_lookup_per_cache_interval(app: &TestApp) {
    const LOOKUPS: &str = "pulseboard_write_key_lookups_total";
    /// The server's cache interval for keys, found or unknown.
    const KEY_CACHE_TTL: Duration = Duration::from_millis(500);
    let unknown = format!("pbwk_{}", "1".repeat(64));
    let batch = serde_json::to_vec(&segment_batch("unknown")).unwrap();
    let before = app.metric(LOOKUPS).await;
    let started = Instant::now();
    for _ in 0..40 {
        let headers = [("authorization", basic(&unknown))];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, _, body) = post_raw(app, "/v1/batch", &headers, batch.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let intervals = started.elapsed().as_millis() / KEY_CACHE_TTL.as_millis() + 1;
    let lookups = u128::from(app.metric(LOOKUPS).await - before);
    assert!(
        (1..=intervals).contains(&lookups),
        "{lookups} store lookups for 40 requests in {intervals} cache intervals"
    );
}

async fn gzip_bodies_with_any_content_type_are_inflated(app: &TestApp) {
    let token = app.token("gzip@example.com").await;
    let key = write_key(app, &token, "web").await;
    let body = gzip(&serde_json::to_vec(&segment_batch("gz")).unwrap());
    // RudderStack's node SDK labels its gzip body as a form.
    let (status, _, _) = post_raw(
        app,
        "/v1/batch",
        &[
            ("authorization", &basic(&key)),
            ("content-encoding", "gzip"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events(app, &token, "").await.len(), 3);
}

async fn a_gzip_bomb_gets_413_without_storing_anything(app: &TestApp) {
    let token = app.token("bomb@example.com").await;
    let key = write_key(app, &token, "web").await;
    // 64 MiB of spaces inside a valid JSON prefix: about 64 KiB on the wire, past the 20 MiB cap.
    let mut inflated = br#"{"batch": [{"type": "track", "event": "x"}], "pad": ""#.to_vec();
    inflated.resize(64 * 1024 * 1024, b' ');
    let bomb = gzip(&inflated);
    drop(inflated);
    assert!(
        bomb.len() < 200 * 1024,
        "a small body: {} bytes",
        bomb.len()
    );
    let (status, _, body) = post_raw(
        app,
        "/v1/batch",
        &[
            ("authorization", &basic(&key)),
            ("content-encoding", "gzip"),
        ],
        bomb.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "body_too_large");
    // The same bomb without Content-Encoding, as posthog-js labels gzip.
    let (status, _, _) = post_raw(app, "/e/", &[("content-type", "text/plain")], bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(events(app, &token, "").await.is_empty());
}

async fn posthog_routes_answer_status_1_with_and_without_the_trailing_slash(app: &TestApp) {
    let token = app.token("posthog@example.com").await;
    let key = write_key(app, &token, "web").await;
    let paths = [
        "/batch",
        "/batch/",
        "/capture",
        "/capture/",
        "/e",
        "/e/",
        "/i/v0/e",
        "/i/v0/e/",
    ];
    for (n, path) in paths.iter().enumerate() {
        let body = json!({"api_key": key, "batch": [{
            "event": "clicked", "uuid": format!("ph-{n}"), "distinct_id": "user-9",
            "timestamp": "2026-11-30T10:00:00Z",
            "properties": {"$session_id": "sess-1", "button": "buy", "token": key}
        }]});
        let (status, _, answer) =
            post_raw(app, path, &[], serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(
            (status, answer),
            (StatusCode::OK, json!({"status": 1})),
            "{path}"
        );
    }
    let event = final_event(app, &token, "ph-0").await;
    assert_eq!(
        (&event["event_name"], &event["event_type"]),
        (&json!("clicked"), &json!("capture"))
    );
    assert_eq!(
        (&event["user_id"], &event["session_id"]),
        (&json!("user-9"), &json!("sess-1"))
    );
    assert_eq!(event["payload"]["button"], "buy");
    assert!(
        !event.to_string().contains(&key),
        "the key is never stored: {event}"
    );
    assert_eq!(events(app, &token, "").await.len(), paths.len());
}

async fn posthog_js_gzip_and_beacon_bodies_are_read(app: &TestApp) {
    let token = app.token("posthog-js@example.com").await;
    let key = write_key(app, &token, "web").await;
    let events_json = |id: &str| {
        serde_json::to_vec(&json!([{"event": "$pageview", "uuid": id,
            "properties": {"token": key, "distinct_id": "d-1"}}]))
        .unwrap()
    };
    // posthog-js: gzip with `?compression=gzip-js`, labelled text/plain, no Content-Encoding.
    let (status, _, _) = post_raw(
        app,
        "/e/?compression=gzip-js&ver=1.0",
        &[("content-type", "text/plain")],
        gzip(&events_json("js-gzip")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // posthog-js 1.449 in a browser: gzip labelled text/plain, no header, no query.
    let (status, _, _) = post_raw(
        app,
        "/e/",
        &[("content-type", "text/plain")],
        gzip(&events_json("js-magic")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // navigator.sendBeacon: plain text.
    let (status, _, _) = post_raw(
        app,
        "/e/?beacon=1",
        &[("content-type", "text/plain;charset=UTF-8")],
        events_json("js-beacon"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Older posthog-js: a form field holding base64 JSON.
    let encoded = base64::engine::general_purpose::STANDARD.encode(events_json("js-form"));
    let form = format!(
        "data={}",
        encoded
            .replace('+', "%2B")
            .replace('=', "%3D")
            .replace('/', "%2F")
    );
    let (status, _, body) = post_raw(
        app,
        "/e/?compression=base64",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for id in ["js-gzip", "js-magic", "js-beacon", "js-form"] {
        let event = final_event(app, &token, id).await;
        assert_eq!(event["user_id"], "d-1", "{event}");
    }
}

async fn browsers_get_cors_preflights_answered_for_any_origin(app: &TestApp) {
    for path in ["/e/", "/v1/batch", "/api/v1/events", "/api/v1/events/batch"] {
        let request = Request::builder()
            .method(Method::OPTIONS)
            .uri(path)
            .header(header::ORIGIN, "https://shop.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "content-type, authorization",
            )
            .body(Body::empty())
            .unwrap();
        let (status, headers, _) = app.send(request).await;
        assert!(status.is_success(), "{path}: {status}");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
        let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap();
        assert!(allowed.contains("authorization"), "{path}: {allowed}");
    }
}

async fn snowplow_events_are_stored_with_the_key_from_the_path(app: &TestApp) {
    let token = app.token("snowplow@example.com").await;
    let key = write_key(app, &token, "web").await;
    let body = json!({
        "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
        "data": [
            {"e": "se", "eid": "sp-1", "se_ca": "shop", "se_ac": "add-to-basket", "se_va": "2.5",
             "aid": "shop-app", "uid": "user-3", "duid": "d-3", "dtm": "1764496800000", "p": "web", "tv": "py-1.1.0"},
            {"e": "pv", "eid": "sp-2", "url": "https://example.com/", "page": "Home", "dtm": "1764496800000"}
        ]
    });
    let path = format!("/s/{key}/com.snowplowanalytics.snowplow/tp2");
    let (status, _, _) = post_raw(
        app,
        &path,
        &[("content-type", "application/json; charset=utf-8")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let structured = final_event(app, &token, "sp-1").await;
    assert_eq!(
        (
            &structured["event_name"],
            &structured["event_type"],
            &structured["source"]
        ),
        (
            &json!("add-to-basket"),
            &json!("struct"),
            &json!("shop-app")
        )
    );
    assert_eq!(structured["payload"]["value"], 2.5);
    assert_eq!(structured["occurred_at"], "2025-11-30T10:00:00.000000Z");
    let page = final_event(app, &token, "sp-2").await;
    assert_eq!(
        (&page["event_type"], &page["source"]),
        (&json!("page_view"), &json!("web"))
    );
    let wrong = format!(
        "/s/pbwk_{}/com.snowplowanalytics.snowplow/tp2",
        "1".repeat(64)
    );
    let (status, _, _) = post_raw(app, &wrong, &[], serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Two server processes over one PostgreSQL: a key revoked through one is refused by the other
/// within a second, though the other had it cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_server_is_refused_by_another_within_a_second() {
    let first = TestApp::production().await;
    let second_server = pulseboard_server::start(&first.settings)
        .await
        .expect("second server");
    let second = second_server.router();
    let token = first.token("two-servers@example.com").await;
    let key = write_key(&first, &token, "web").await;
    let send = |router: axum::Router, id: &'static str| {
        let body = serde_json::to_vec(&json!({"api_key": key, "event": "x", "uuid": id})).unwrap();
        async move {
            use tower::ServiceExt as _;
            let request = Request::builder()
                .method(Method::POST)
                .uri("/capture/")
                .body(Body::from(body))
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(
        send(second.clone(), "before").await,
        StatusCode::OK,
        "cached on the second"
    );
    let (_, listed) = first
        .call(Method::GET, "/api/v1/write-keys", Some(&token), None)
        .await;
    let path = format!("/api/v1/write-keys/{}", listed["items"][0]["id"]);
    let (status, _) = first.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked = Instant::now();
    loop {
        let status = send(second.clone(), "after").await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "still accepted after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second_server.stop().await;
    first.stop().await;
}

async fn openapi_documents_every_sdk_and_write_key_route_with_its_error_body(app: &TestApp) {
    let (status, document) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &document["paths"];
    let mut sdk_paths: Vec<String> = [
        "batch", "track", "page", "screen", "identify", "group", "alias",
    ]
    .iter()
    .map(|route| format!("/v1/{route}"))
    .collect();
    for path in ["/batch", "/capture", "/e", "/i/v0/e"] {
        sdk_paths.extend([path.to_owned(), format!("{path}/")]);
    }
    sdk_paths.push("/s/{write_key}/com.snowplowanalytics.snowplow/tp2".to_owned());
    for path in &sdk_paths {
        let post = &paths[path]["post"];
        for code in ["200", "400", "401", "413", "503"] {
            assert!(
                post["responses"][code].is_object(),
                "{path} lacks {code}: {post}"
            );
        }
        let error = &post["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(error, "#/components/schemas/SdkError", "{path}");
    }
    assert!(paths["/api/v1/write-keys"]["post"]["responses"]["201"].is_object());
    assert!(paths["/api/v1/write-keys"]["get"]["responses"]["200"].is_object());
    assert!(paths["/api/v1/write-keys/{id}"]["delete"]["responses"]["204"].is_object());
    let ingest_security = &paths["/api/v1/events"]["post"]["security"];
    assert_eq!(ingest_security, &json!([{"bearer": []}, {"writeKey": []}]));
    let schemas = &document["components"]["schemas"];
    for field in [
        "user_id",
        "anonymous_id",
        "occurred_at",
        "received_at",
        "context",
    ] {
        assert!(
            schemas["Event"]["properties"][field].is_object(),
            "Event lacks {field}"
        );
    }
}

/// Backpressure as on the native routes: over the backlog bound, 503 with `Retry-After` in the
/// SDK error shape, and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_gets_503_with_retry_after_on_the_sdk_routes() {
    let app = TestApp::production_with(|settings| settings.max_backlog_events = 0, false).await;
    let token = app.token("backlog@example.com").await;
    let key = write_key(&app, &token, "web").await;
    let body = serde_json::to_vec(&segment_batch("full")).unwrap();
    let (status, headers, answer) =
        post_raw(&app, "/v1/batch", &[("authorization", &basic(&key))], body).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(headers[header::RETRY_AFTER], "5");
    assert_eq!(answer["code"], "unavailable");
    let posthog = serde_json::to_vec(&json!({"api_key": key, "event": "x"})).unwrap();
    let (status, _, _) = post_raw(&app, "/e/", &[], posthog).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(events(&app, &token, "").await.is_empty());
    app.stop().await;
}

async fn an_unknown_content_encoding_gets_415_in_the_sdk_error_shape(app: &TestApp) {
    let token = app.token("brotli@example.com").await;
    let key = write_key(app, &token, "web").await;
    let (status, _, body) = post_raw(
        app,
        "/v1/batch",
        &[("authorization", &basic(&key)), ("content-encoding", "br")],
        br#"{"batch": [{"type": "track", "event": "x"}]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "unsupported_encoding", "{body}");
    assert_eq!(events(app, &token, "").await.len(), 0, "nothing stored");
}
