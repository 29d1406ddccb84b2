//! HTTP API tests with `oneshot`: every route and error status, on SQLite (embedded) and on
//! PostgreSQL + Redis (production).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::TestApp;
use serde_json::{Value, json};

on_both_setups!(
    registering_returns_the_user_and_refuses_duplicates_in_any_case,
    registration_checks_email_syntax_and_password_length,
    login_gives_a_bearer_token_and_one_answer_for_every_wrong_credential,
    missing_malformed_expired_and_forged_tokens_get_401_with_bearer_challenge,
    a_submitted_event_is_processed_with_normalized_properties,
    missing_or_empty_event_fields_get_422_naming_the_field,
    text_no_store_can_hold_gets_422_naming_the_field_and_is_never_stored,
    a_retried_message_id_answers_as_the_first_time_and_stores_nothing,
    batch_repeats_of_a_message_id_are_stored_once_and_marked,
    wrong_content_type_gets_415_and_malformed_json_gets_422,
    an_oversize_payload_is_accepted_then_rejected_by_the_worker,
    a_batch_of_three_is_one_task_with_ids_in_request_order,
    batch_limits_and_item_errors_are_reported_per_field,
    another_users_event_is_not_found,
    listing_filters_and_paginates_the_callers_events,
    health_ready_openapi_and_metrics_answer,
    replay_sends_the_callers_failures_through_processing_again,
    export_streams_every_event_as_ndjson_or_csv_with_the_listings_filters,
);

async fn registering_returns_the_user_and_refuses_duplicates_in_any_case(app: &TestApp) {
    let user = app.register("Test@Example.com").await;
    assert_eq!(user["email"], "Test@Example.com");
    assert_eq!(user["full_name"], "Test User");
    assert!(user["id"].is_i64() && user["created_at"].is_string());
    let again = json!({"email": "test@example.COM", "password": "TestPass123!", "full_name": "X"});
    let (status, body) = app
        .call(Method::POST, "/api/auth/register", None, Some(again))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"detail": "Email already registered"})
        )
    );
}

async fn registration_checks_email_syntax_and_password_length(app: &TestApp) {
    let bad = json!({"email": "not-an-email", "password": "short", "full_name": "X"});
    let (status, body) = app
        .call(Method::POST, "/api/auth/register", None, Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| &issue["loc"])
        .collect();
    assert_eq!(
        locs,
        vec![&json!(["body", "email"]), &json!(["body", "password"])]
    );
    assert_eq!(
        body["detail"][1]["msg"],
        "String should have at least 8 characters"
    );
}

async fn login_gives_a_bearer_token_and_one_answer_for_every_wrong_credential(app: &TestApp) {
    app.register("login@example.com").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "login@example.com", "password": "TestPass123!"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    let wrong_password = json!({"email": "login@example.com", "password": "WrongPass123!"});
    let unknown_user = json!({"email": "nobody@example.com", "password": "TestPass123!"});
    for attempt in [wrong_password, unknown_user] {
        let request = Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(attempt.to_string()))
            .unwrap();
        let (status, headers, body) = app.send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, json!({"detail": "Incorrect email or password"}));
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    }
}

async fn missing_malformed_expired_and_forged_tokens_get_401_with_bearer_challenge(app: &TestApp) {
    let token = app.token("tok@example.com").await;
    let tokens = app.server.as_ref().unwrap().state().tokens().clone();
    let (_, me) = app
        .call(Method::GET, "/api/v1/events?limit=1", Some(&token), None)
        .await;
    assert!(me["items"].is_array());
    let expired = tokens.issue_expired(
        pulseboard_store::UserId(1),
        std::time::Duration::from_secs(120),
    );
    let forged = pulseboard_server::Tokens::new(
        b"another-secret-that-is-long-enough-0123456789",
        std::time::Duration::from_secs(60),
    )
    .issue(pulseboard_store::UserId(1))
    .unwrap();
    let no_such_user = tokens.issue(pulseboard_store::UserId(i64::MAX)).unwrap();
    let cases = [
        (None, "Not authenticated"),
        (Some("Bearer".to_owned()), "Not authenticated"),
        (Some(format!("Basic {token}")), "Not authenticated"),
        (
            Some("Bearer not.a.jwt".to_owned()),
            "Could not validate credentials",
        ),
        (
            Some(format!("Bearer {expired}")),
            "Could not validate credentials",
        ),
        (
            Some(format!("Bearer {forged}")),
            "Could not validate credentials",
        ),
        (
            Some(format!("Bearer {no_such_user}")),
            "Could not validate credentials",
        ),
    ];
    for (authorization, detail) in cases {
        let mut request = Request::get("/api/v1/events/1");
        if let Some(value) = &authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let (status, headers, body) = app.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(body, json!({ "detail": detail }), "{authorization:?}");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/events",
            Some(&no_such_user),
            Some(seed_event()),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a write for no user is 401, not 500"
    );
}

async fn text_no_store_can_hold_gets_422_naming_the_field_and_is_never_stored(app: &TestApp) {
    let token = app.token("nul@example.com").await;
    for field in ["event_name", "event_type", "source", "session_id"] {
        let mut event = seed_event();
        event[field] = json!("poison\u{0}ed");
        let (status, body) = app
            .call(Method::POST, "/api/v1/events", Some(&token), Some(event))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", field]));
        assert_eq!(body["detail"][0]["type"], "string_pattern_mismatch");
    }
    // A lone surrogate escape is valid JSON syntax but not Unicode: strict clients reject it.
    let body = r#"{"event_name": "e", "event_type": "t", "payload": {"a": "\ud800"}}"#;
    let request = Request::post("/api/v1/events/batch")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"events": [{body}]}}"#)))
        .unwrap();
    let (status, _, answer) = app.send(request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        answer["detail"][0]["loc"],
        json!(["body", "events", 0, "payload"])
    );
    let (_, listed) = app
        .call(Method::GET, "/api/v1/events", Some(&token), None)
        .await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");
}

async fn a_retried_message_id_answers_as_the_first_time_and_stores_nothing(app: &TestApp) {
    let token = app.token("retry@example.com").await;
    let mut event = seed_event();
    event["message_id"] = json!("msg-0001");
    let post = |body: Value| app.call(Method::POST, "/api/v1/events", Some(&token), Some(body));
    let (status, first) = post(event.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, again) = post(event.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (&again["event_id"], &again["task_id"], &again["duplicate"]),
        (&first["event_id"], &first["task_id"], &json!(true))
    );
    event["event_name"] = json!("another_body");
    let (_, changed) = post(event).await;
    assert_eq!(
        (&changed["event_id"], &changed["duplicate"]),
        (&first["event_id"], &json!(true))
    );
    let id = first["event_id"].as_i64().unwrap();
    let stored = app.wait_final(&token, id).await;
    assert_eq!(
        (&stored["message_id"], &stored["event_name"]),
        (&json!("msg-0001"), &json!("page_view")),
        "the first stored wins"
    );
    let (_, listed) = app
        .call(
            Method::GET,
            "/api/v1/events?message_id=msg-0001",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (_, all) = app
        .call(Method::GET, "/api/v1/events", Some(&token), None)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1, "stored once");
    let mut empty = seed_event();
    empty["message_id"] = json!("");
    let (status, body) = post(empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "message_id"]));
}

async fn batch_repeats_of_a_message_id_are_stored_once_and_marked(app: &TestApp) {
    let token = app.token("batch-retry@example.com").await;
    let with_id = |name: &str, id: Option<&str>| {
        let mut event = json!({"event_name": name, "event_type": "t"});
        if let Some(id) = id {
            event["message_id"] = json!(id);
        }
        event
    };
    let batch = json!({"events": [with_id("a", Some("b-1")), with_id("b", None), with_id("c", Some("b-1"))]});
    let post = |body: Value| {
        app.call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(body),
        )
    };
    let (status, first) = post(batch.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let ids = first["event_ids"].as_array().unwrap().clone();
    assert_eq!(
        ids[0], ids[2],
        "a repeat inside the batch gets the first one's id"
    );
    assert_eq!(first["duplicate_positions"], json!([2]));
    let retry = json!({"events": [with_id("a", Some("b-1")), with_id("c", Some("b-1"))]});
    let (_, again) = post(retry).await;
    assert_eq!(again["event_ids"], json!([ids[0], ids[0]]));
    assert_eq!(again["duplicate_positions"], json!([0, 1]));
    assert_eq!(
        again["task_id"], first["task_id"],
        "all repeats: the first answer's task"
    );
}

use pulseboard_test_support::seed::event as seed_event;

async fn a_submitted_event_is_processed_with_normalized_properties(app: &TestApp) {
    let token = app.token("seed@example.com").await;
    let (status, accepted) = app
        .call(
            Method::POST,
            "/api/v1/events",
            Some(&token),
            Some(seed_event()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(accepted["status"], "enqueued");
    assert_eq!(accepted["message"], "Event enqueued for processing");
    assert!(
        accepted["task_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let event = app
        .wait_final(&token, accepted["event_id"].as_i64().unwrap())
        .await;
    assert_eq!(event["processed"], true);
    assert_eq!(event["status"], "processed");
    assert_eq!(event["attempts"], 1);
    assert_eq!(event["task_id"], accepted["task_id"]);
    assert!(event["processing_error"].is_null());
    let properties = &event["properties"];
    assert_eq!(properties["original"], seed_event()["payload"]);
    assert_eq!(properties["page"], "/dashboard");
    assert_eq!(properties["duration"], json!(45.0));
    assert_eq!(properties["scroll_depth"], json!(75.0));
    assert_eq!(properties["normalized_at"], event["processed_at"]);
}

async fn missing_or_empty_event_fields_get_422_naming_the_field(app: &TestApp) {
    let token = app.token("fields@example.com").await;
    let cases = [
        (
            json!({"event_type": "engagement", "payload": {}}),
            json!(["body", "event_name"]),
            "missing",
        ),
        (
            json!({"event_name": "", "event_type": "engagement"}),
            json!(["body", "event_name"]),
            "string_too_short",
        ),
        (
            json!({"event_name": "x"}),
            json!(["body", "event_type"]),
            "missing",
        ),
        (
            json!({"event_name": "x", "event_type": 5}),
            json!(["body", "event_type"]),
            "string_type",
        ),
        (
            json!({"event_name": "x", "event_type": "y", "session_id": "s".repeat(256)}),
            json!(["body", "session_id"]),
            "string_too_long",
        ),
    ];
    for (body, loc, kind) in cases {
        let (status, answer) = app
            .call(
                Method::POST,
                "/api/v1/events",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{body}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}");
    }
}

async fn wrong_content_type_gets_415_and_malformed_json_gets_422(app: &TestApp) {
    let token = app.token("ct@example.com").await;
    let send = |content_type: &'static str, body: &'static str| {
        Request::post("/api/v1/events")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, body) = app
        .send(send("text/plain", r#"{"event_name":"a","event_type":"b"}"#))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["detail"], "Content-Type must be application/json");
    let (status, _, body) = app
        .send(send("application/json", r#"{"event_name": "a", "#))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    // The seed guide's `curl -d` without a content type sends form-urlencoded JSON: accepted.
    let (status, _, _) = app
        .send(send(
            "application/x-www-form-urlencoded",
            r#"{"event_name":"a","event_type":"b"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

async fn an_oversize_payload_is_accepted_then_rejected_by_the_worker(app: &TestApp) {
    let token = app.token("big@example.com").await;
    let huge = json!({"event_name": "page_view", "event_type": "engagement", "payload": {"data": "x".repeat(1_100 * 1024)}});
    let (status, accepted) = app
        .call(Method::POST, "/api/v1/events", Some(&token), Some(huge))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let event = app
        .wait_final(&token, accepted["event_id"].as_i64().unwrap())
        .await;
    assert_eq!(event["processed"], false);
    assert!(event["processed_at"].is_null());
    assert_eq!(event["processing_error"], "Payload exceeds 1MB size limit");
    assert_eq!(
        (event["status"].as_str(), event["attempts"].as_i64()),
        (Some("validation_error"), Some(1)),
        "never retried"
    );
    let deep =
        json!({"event_name": "deep", "event_type": "t", "payload": {"a": [[[[[[[[[[[1]]]]]]]]]]]}});
    let (_, accepted) = app
        .call(Method::POST, "/api/v1/events", Some(&token), Some(deep))
        .await;
    let event = app
        .wait_final(&token, accepted["event_id"].as_i64().unwrap())
        .await;
    assert_eq!(
        event["processing_error"],
        "Payload exceeds max nesting depth (10)"
    );
}

async fn a_batch_of_three_is_one_task_with_ids_in_request_order(app: &TestApp) {
    let token = app.token("batch@example.com").await;
    let batch = pulseboard_test_support::seed::batch();
    let (status, accepted) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(batch),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(accepted["event_count"], 3);
    assert_eq!(accepted["status"], "enqueued");
    let ids: Vec<i64> = accepted["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    let names = ["page_view", "button_click", "form_submit"];
    for (id, name) in ids.iter().zip(names) {
        let event = app.wait_final(&token, *id).await;
        assert_eq!(
            (event["event_name"].as_str(), event["processed"].as_bool()),
            (Some(name), Some(true))
        );
        assert_eq!(
            event["task_id"], accepted["task_id"],
            "one job for the whole batch"
        );
    }
}

async fn batch_limits_and_item_errors_are_reported_per_field(app: &TestApp) {
    let token = app.token("limits@example.com").await;
    let one = json!({"event_name": "e", "event_type": "t"});
    let too_many = json!({"events": vec![one.clone(); 1_001]});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(too_many),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "too_long");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!(
        (status, body["detail"][0]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_short"))
    );
    let bad_item = json!({"events": [one, {"event_type": "t"}]});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(bad_item),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "events", 1, "event_name"])
    );
    let (_, listed) = app
        .call(Method::GET, "/api/v1/events", Some(&token), None)
        .await;
    assert_eq!(
        listed["items"],
        json!([]),
        "nothing of a refused batch was stored"
    );
}

async fn another_users_event_is_not_found(app: &TestApp) {
    let alice = app.token("alice@example.com").await;
    let bob = app.token("bob@example.com").await;
    let (_, accepted) = app
        .call(
            Method::POST,
            "/api/v1/events",
            Some(&alice),
            Some(seed_event()),
        )
        .await;
    let path = format!("/api/v1/events/{}", accepted["event_id"]);
    let (status, body) = app.call(Method::GET, &path, Some(&bob), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Event not found"}))
    );
    let (status, _) = app
        .call(Method::GET, "/api/v1/events/999999", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(Method::GET, "/api/v1/events/abc", Some(&alice), None)
        .await;
    assert_eq!(
        (status, &body["detail"][0]["loc"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!(["path", "id"]))
    );
}

async fn listing_filters_and_paginates_the_callers_events(app: &TestApp) {
    let token = app.token("list@example.com").await;
    let events: Vec<Value> = (0..5)
        .map(
            |i| json!({"event_name": if i % 2 == 0 { "view" } else { "click" }, "event_type": "t"}),
        )
        .collect();
    let (_, accepted) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(json!({"events": events})),
        )
        .await;
    let ids: Vec<i64> = accepted["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_i64().unwrap())
        .collect();
    let (status, page) = app
        .call(
            Method::GET,
            "/api/v1/events?event_name=view&limit=2",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let first: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(first, vec![ids[4], ids[2]]);
    let next = format!(
        "/api/v1/events?event_name=view&limit=2&before_id={}",
        page["next_before_id"]
    );
    let (_, page) = app.call(Method::GET, &next, Some(&token), None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_before_id"].is_null());
    let (status, body) = app
        .call(
            Method::GET,
            "/api/v1/events?status=done&limit=0&created_from=yesterday",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| &issue["loc"][1])
        .collect();
    assert_eq!(locs, vec!["status", "created_from", "limit"]);
}

async fn health_ready_openapi_and_metrics_answer(app: &TestApp) {
    let (status, body) = app.call(Method::GET, "/health", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = app.call(Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    let (status, body) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/v1/events",
        "/api/v1/events/batch",
        "/api/v1/events/{id}",
        "/health",
        "/ready",
    ] {
        assert!(body["paths"][path].is_object(), "openapi lacks {path}");
    }
    let (status, _) = app.call(Method::GET, "/no/such/route", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.call(Method::DELETE, "/api/v1/events", None, None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method Not Allowed"})
        )
    );
    let (status, body) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = body.as_str().unwrap_or_default();
    assert!(
        text.contains("pulseboard_http_requests_total{route=\"/health\",status=\"200\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        pulseboard_server::ServerSettings::embedded(dir.path(), "127.0.0.1:0".parse().unwrap());
    settings.max_body_bytes = 64 * 1024;
    let server = pulseboard_server::start(&settings).await.unwrap();
    let app = TestApp::from_server(server, settings, dir);
    let token = app.token("413@example.com").await;
    let big =
        json!({"event_name": "e", "event_type": "t", "payload": {"data": "x".repeat(100 * 1024)}});
    let (status, body) = app
        .call(Method::POST, "/api/v1/events", Some(&token), Some(big))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"detail": "Request body exceeds the configured size limit"})
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_a_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        pulseboard_server::ServerSettings::embedded(dir.path(), "127.0.0.1:0".parse().unwrap());
    settings.database_url = Some("postgres://postgres@127.0.0.1:1/none".to_owned());
    let error = pulseboard_server::start(&settings)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("PULSEBOARD_JWT_SECRET is required"),
        "{error}"
    );
    settings.jwt_secret = Some(pulseboard_server::Secret::new("short"));
    let error = pulseboard_server::start(&settings)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("at least 32 bytes"), "{error}");
}

#[tokio::test]
async fn the_embedded_jwt_secret_is_private_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        pulseboard_server::ServerSettings::embedded(dir.path(), "127.0.0.1:0".parse().unwrap());
    let first = pulseboard_server::start(&settings).await.unwrap();
    let token = first
        .state()
        .tokens()
        .issue(pulseboard_store::UserId(7))
        .unwrap();
    first.stop().await;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("jwt-secret"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let second = pulseboard_server::start(&settings).await.unwrap();
    assert_eq!(
        second.state().tokens().verify(&token),
        Some(pulseboard_store::UserId(7))
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_control_holds_the_backlog_at_its_bound_until_a_worker_drains_it() {
    let mut app =
        TestApp::production_with(|settings| settings.max_backlog_events = 100, false).await;
    let token = app.token("admission@example.com").await;
    let batch = json!({"events": vec![json!({"event_name": "e", "event_type": "t"}); 10]});
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..30 {
        let request = Request::post("/api/v1/events/batch")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(batch.to_string()))
            .unwrap();
        let (status, headers, body) = app.send(request).await;
        match status {
            StatusCode::ACCEPTED => accepted += 10,
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some((headers[header::RETRY_AFTER].clone(), body));
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (retry_after, body) = refused.expect("the API refused once the backlog was full");
    assert_eq!(retry_after, "5");
    assert!(body["detail"].as_str().unwrap().contains("Too many events"));
    assert_eq!(accepted, 100, "accepted exactly up to the bound");

    app.start_worker().await;
    let (_, listed) = app
        .call(Method::GET, "/api/v1/events?limit=1", Some(&token), None)
        .await;
    app.wait_final(&token, listed["items"][0]["id"].as_i64().unwrap())
        .await;
    let mut drained = false;
    for _ in 0..200 {
        let (_, waiting) = app
            .call(
                Method::GET,
                "/api/v1/events?status=enqueued&limit=1",
                Some(&token),
                None,
            )
            .await;
        if waiting["items"].as_array().is_some_and(Vec::is_empty) {
            drained = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(drained, "the worker drained the backlog");
    // Admission reads the backlog the server last counted: wait until that count is 0.
    let mut counted = false;
    for _ in 0..200 {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let (_, _, metrics) = app.send(request).await;
        if metrics.as_str().is_some_and(|text| {
            text.lines()
                .any(|line| line == "pulseboard_backlog_events 0")
        }) {
            counted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(counted, "the server counted the drained backlog");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(&token),
            Some(batch),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "accepting again after the drain"
    );
    app.stop().await;
}

async fn replay_sends_the_callers_failures_through_processing_again(app: &TestApp) {
    let token = app.token("replay@example.com").await;
    let other = app.token("replay-other@example.com").await;
    let send = |token: String, payload: Value| async move {
        let body = json!({"event_name": "e", "event_type": "t", "payload": payload});
        let (status, accepted) = app
            .call(Method::POST, "/api/v1/events", Some(&token), Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let id = accepted["event_id"].as_i64().unwrap();
        app.wait_final(&token, id).await;
        id
    };
    let rejected = send(token.clone(), json!("not an object")).await;
    let processed = send(token.clone(), json!({"a": 1})).await;
    let others = send(other.clone(), json!([1])).await;
    let token_ref = token.as_str();
    let replay = |body: Value| async move {
        app.call(
            Method::POST,
            "/api/v1/events/replay",
            Some(token_ref),
            Some(body),
        )
        .await
    };

    let (status, body) = replay(json!({"ids": [rejected, processed, others]})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"replayed": 1})));
    // Committed `enqueued` before the answer; the same rules judge it again (here: the same
    // way), in a run of attempts that starts over.
    let again = app.wait_final(&token, rejected).await;
    assert_eq!(
        (&again["status"], &again["attempts"]),
        (&json!("validation_error"), &json!(1)),
        "{again}"
    );
    let (_, by_status) =
        replay(json!({"status": "validation_error", "created_from": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(by_status, json!({"replayed": 1}));
    app.wait_final(&token, rejected).await;
    let (_, none) = replay(json!({"status": "failed"})).await;
    assert_eq!(none, json!({"replayed": 0}));
    let untouched = app.wait_final(&other, others).await;
    assert_eq!(
        untouched["attempts"], 1,
        "another user's event is never replayed"
    );

    for (bad, field) in [
        (json!({}), json!(["body"])),
        (json!({"status": "processed"}), json!(["body", "status"])),
        (json!({"ids": []}), json!(["body", "ids"])),
        (json!({"ids": ["x"]}), json!(["body", "ids"])),
        (
            json!({"status": "failed", "created_from": "yesterday"}),
            json!(["body", "created_from"]),
        ),
    ] {
        let (status, body) = replay(bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["detail"][0]["loc"], field, "{body}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/events/replay",
            None,
            Some(json!({"status": "failed"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn export_streams_every_event_as_ndjson_or_csv_with_the_listings_filters(app: &TestApp) {
    let token = app.token("export@example.com").await;
    let other = app.token("export-other@example.com").await;
    // 2,300 events: more than two of the export's pages of 1,000.
    let mut ids = Vec::new();
    for round in 0..3 {
        let size = if round < 2 { 1_000 } else { 300 };
        let events: Vec<Value> = (0..size)
            .map(|n| json!({"event_name": if n % 2 == 0 { "even" } else { "odd" }, "event_type": "t",
                            "source": "web,app", "payload": {"n": n, "text": "a \"quoted\", line\nbreak"}}))
            .collect();
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/events/batch",
                Some(&token),
                Some(json!({"events": events})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.extend(
            body["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_i64().unwrap()),
        );
    }
    app.call(
        Method::POST,
        "/api/v1/events",
        Some(&other),
        Some(json!({"event_name": "x", "event_type": "t"})),
    )
    .await;

    let token = token.as_str();
    let get = |path: &'static str| async move {
        let request = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let response = app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    };
    let (status, content_type, text) = get("/api/v1/events/export").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/x-ndjson")
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let exported: Vec<i64> = lines
        .iter()
        .map(|event| event["id"].as_i64().unwrap())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(
        exported, newest_first,
        "every event of the caller's once, newest first"
    );
    assert_eq!(lines[0]["payload"]["text"], "a \"quoted\", line\nbreak");

    let (_, _, odd) = get("/api/v1/events/export?event_name=odd").await;
    assert_eq!(odd.lines().count(), 1_150);

    let (status, content_type, csv) = get("/api/v1/events/export?format=csv&event_name=even").await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/csv; charset=utf-8")
    );
    assert!(
        csv.starts_with("id,task_id,event_name,event_type,source,session_id,status,"),
        "{csv:.200}"
    );
    let first_row = csv.split("\r\n").nth(1).unwrap();
    assert!(first_row.contains(",even,t,\"web,app\","), "{first_row}");
    assert!(
        first_row.contains("\"{\"\"n\"\":"),
        "payload as quoted JSON: {first_row}"
    );
    assert_eq!(
        csv.matches("\r\n").count(),
        1 + 1_150,
        "a header and one row per event"
    );

    let (status, _, _) = get("/api/v1/events/export?format=xml").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .call(Method::GET, "/api/v1/events/export", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
