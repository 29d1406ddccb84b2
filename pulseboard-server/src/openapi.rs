//! `GET /openapi.json`: an OpenAPI 3.0 document built from the route table below, with the
//! request bodies, success bodies and every error body of each route.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;

use crate::AppState;
use serde_json::{Map, Value, json};

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    request: Option<&'static str>,
    success: (&'static str, &'static str),
    errors: &'static [&'static str],
}

/// How an operation authenticates.
#[derive(Clone, Copy, PartialEq)]
enum Auth {
    None,
    /// A login token (JWT).
    Bearer,
    /// A login token or a write key, both as Bearer.
    BearerOrWriteKey,
    /// Segment: a write key as the Basic auth user name, or `writeKey` in the body.
    SegmentKey,
    /// PostHog: `api_key` (or `token`) in the body.
    KeyInBody,
    /// Snowplow: the write key in the path.
    KeyInPath,
}

impl Auth {
    /// Whether error bodies follow the SDK shape `{code, message, detail}`.
    fn is_sdk(self) -> bool {
        matches!(self, Self::SegmentKey | Self::KeyInBody | Self::KeyInPath)
    }
}

/// Segment's routes (RudderStack's SDKs use them too).
const SEGMENT_PATHS: [&str; 7] = [
    "/v1/batch",
    "/v1/track",
    "/v1/page",
    "/v1/screen",
    "/v1/identify",
    "/v1/group",
    "/v1/alias",
];
/// PostHog's capture routes, each also with a trailing slash.
const POSTHOG_PATHS: [&str; 8] = [
    "/batch",
    "/batch/",
    "/capture",
    "/capture/",
    "/e",
    "/e/",
    "/i/v0/e",
    "/i/v0/e/",
];
const SDK_ERRORS: &[&str] = &["400", "401", "413", "415", "429", "503"];

/// The SDK protocol operations (DESIGN §8).
fn sdk_operations() -> Vec<Operation> {
    let segment = SEGMENT_PATHS.iter().map(|path| Operation {
        method: "post",
        path,
        summary: "Segment / RudderStack protocol: a batch or one message; 200 once committed",
        auth: Auth::SegmentKey,
        request: Some(if *path == "/v1/batch" {
            "SegmentBatch"
        } else {
            "SegmentMessage"
        }),
        success: ("200", "SegmentOk"),
        errors: SDK_ERRORS,
    });
    let posthog = POSTHOG_PATHS.iter().map(|path| Operation {
        method: "post",
        path,
        summary: "PostHog capture protocol: one event, an array, or {batch}; 200 once committed",
        auth: Auth::KeyInBody,
        request: Some("PostHogBody"),
        success: ("200", "PostHogOk"),
        errors: SDK_ERRORS,
    });
    let snowplow = Operation {
        method: "post",
        path: "/s/{write_key}/com.snowplowanalytics.snowplow/tp2",
        summary: "Snowplow tracker protocol 2 (payload_data); 200 once committed",
        auth: Auth::KeyInPath,
        request: Some("SnowplowBody"),
        success: ("200", "SnowplowOk"),
        errors: SDK_ERRORS,
    };
    segment.chain(posthog).chain([snowplow]).collect()
}

const OPERATIONS: &[Operation] = &[
    Operation {
        method: "post",
        path: "/api/auth/register",
        summary: "Register a user",
        auth: Auth::None,
        request: Some("RegisterRequest"),
        success: ("201", "User"),
        errors: &["409", "415", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/auth/login",
        summary: "Log in and get a bearer token",
        auth: Auth::None,
        request: Some("LoginRequest"),
        success: ("200", "Token"),
        errors: &["401", "415", "422", "429", "503"],
    },
    Operation {
        method: "post",
        path: "/api/v1/events",
        summary: "Submit one event (202 after the durable commit)",
        auth: Auth::BearerOrWriteKey,
        request: Some("EventRequest"),
        success: ("202", "EventAccepted"),
        errors: &["401", "413", "415", "422", "429", "503"],
    },
    Operation {
        method: "get",
        path: "/api/v1/events",
        summary: "List the caller's events, newest first (keyset pagination via before_id)",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "EventPage"),
        errors: &["401", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/v1/events/batch",
        summary: "Submit up to the batch limit of events as one job",
        auth: Auth::BearerOrWriteKey,
        request: Some("BatchRequest"),
        success: ("202", "BatchAccepted"),
        errors: &["401", "413", "415", "422", "429", "503"],
    },
    Operation {
        method: "get",
        path: "/api/v1/events/export",
        summary: "Stream the caller's events, newest first, as NDJSON (or CSV with ?format=csv), with the listing's filters",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "Export"),
        errors: &["401", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/v1/events/replay",
        summary: "Send the caller's failed or rejected events through processing again (by ids, or by status and creation time)",
        auth: Auth::Bearer,
        request: Some("ReplayRequest"),
        success: ("200", "Replayed"),
        errors: &["401", "415", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/api/v1/events/{id}",
        summary: "One of the caller's events",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "Event"),
        errors: &["401", "404", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/v1/write-keys",
        summary: "Create a write key for the SDK and native ingest routes (the key is shown only here)",
        auth: Auth::Bearer,
        request: Some("WriteKeyRequest"),
        success: ("201", "WriteKeyCreated"),
        errors: &["401", "415", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/api/v1/write-keys",
        summary: "The caller's write keys, revoked ones included (never the keys themselves)",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "WriteKeyList"),
        errors: &["401", "503"],
    },
    Operation {
        method: "delete",
        path: "/api/v1/write-keys/{id}",
        summary: "Revoke a write key: refused on every server within a second",
        auth: Auth::Bearer,
        request: None,
        success: ("204", "Empty"),
        errors: &["401", "404", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/health",
        summary: "The process answers",
        auth: Auth::None,
        request: None,
        success: ("200", "Status"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/ready",
        summary: "Store and queue answer",
        auth: Auth::None,
        request: None,
        success: ("200", "Status"),
        errors: &["503"],
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics (text format)",
        auth: Auth::None,
        request: None,
        success: ("200", "MetricsText"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/dashboard",
        summary: "Operator dashboard (operator token as Bearer or ?token=)",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "Html"),
        errors: &["401", "403"],
    },
    Operation {
        method: "get",
        path: "/dashboard/api/overview",
        summary: "Dashboard data: counts, queue, workers, throughput, failures",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "Overview"),
        errors: &["401", "403", "503"],
    },
    Operation {
        method: "get",
        path: "/dashboard/api/tasks/{task_id}",
        summary: "A task's events, attempts and outcomes",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "TaskEvents"),
        errors: &["401", "403", "503"],
    },
    Operation {
        method: "post",
        path: "/dashboard/api/replay",
        summary: "Replay failed or rejected events of every user (operators; the dashboard asks first)",
        auth: Auth::Bearer,
        request: Some("ReplayRequest"),
        success: ("200", "Replayed"),
        errors: &["401", "403", "415", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/dashboard/api/events/{id}",
        summary: "Any event by id (operators)",
        auth: Auth::Bearer,
        request: None,
        success: ("200", "Event"),
        errors: &["401", "403", "404", "422", "503"],
    },
];

/// The document, built once per batch limit (the one setting it states).
static DOCUMENT: OnceLock<(usize, Value)> = OnceLock::new();

pub(crate) async fn document(State(state): State<AppState>) -> Json<Value> {
    let max_batch_events = state.limits().max_batch_events;
    match DOCUMENT.get_or_init(|| (max_batch_events, build(max_batch_events))) {
        (built_for, document) if *built_for == max_batch_events => Json(document.clone()),
        _ => Json(build(max_batch_events)),
    }
}

fn build(max_batch_events: usize) -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS.iter().chain(&sdk_operations()) {
        let entry = paths.entry(operation.path).or_insert_with(|| json!({}));
        entry[operation.method] = describe(operation);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "PulseBoard", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Event ingestion: events are stored durably, answered 202, and processed by a background worker."},
        "paths": paths,
        "components": {"schemas": schemas(max_batch_events), "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "writeKey": {"type": "http", "scheme": "bearer", "description": "A write key (pbwk_…) from POST /api/v1/write-keys; ingest routes only"},
            "segmentWriteKey": {"type": "http", "scheme": "basic", "description": "The write key as the user name, empty password (or writeKey in the body)"}}},
    })
}

fn describe(operation: &Operation) -> Value {
    let (status, schema) = operation.success;
    let mut responses = Map::new();
    let success = if schema == "Empty" {
        json!({"description": "Success"})
    } else {
        json!({"description": "Success", "content": content(schema)})
    };
    responses.insert(status.to_owned(), success);
    // Every body is read under a size limit and a time limit, so every route with a body can
    // answer 413 and 408.
    let body_limits = ["408", "413"]
        .iter()
        .filter(|code| operation.request.is_some() && !operation.errors.contains(code));
    for code in operation.errors.iter().chain(body_limits) {
        let schema = match *code {
            _ if operation.auth.is_sdk() => "SdkError",
            "422" => "ValidationError",
            _ => "Error",
        };
        responses.insert(
            (*code).to_owned(),
            json!({"description": error_description(code), "content": content(schema)}),
        );
    }
    let mut described = json!({"summary": operation.summary, "responses": responses});
    if let Some(request) = operation.request {
        described["requestBody"] = json!({"required": true, "content": content(request)});
    }
    match operation.auth {
        Auth::Bearer => described["security"] = json!([{"bearer": []}]),
        Auth::BearerOrWriteKey => described["security"] = json!([{"bearer": []}, {"writeKey": []}]),
        Auth::SegmentKey => described["security"] = json!([{"segmentWriteKey": []}, {}]),
        Auth::None | Auth::KeyInBody | Auth::KeyInPath => {}
    }
    if let Some(parameters) = parameters(operation.method, operation.path) {
        described["parameters"] = parameters;
    }
    described
}

fn content(schema: &str) -> Value {
    if schema == "Export" {
        let reference = json!({"$ref": "#/components/schemas/Export"});
        return json!({"application/x-ndjson": {"schema": reference}, "text/csv": {"schema": reference}});
    }
    let media = match schema {
        "Html" => "text/html",
        "MetricsText" | "SnowplowOk" => "text/plain",
        "Export" => "application/x-ndjson",
        _ => "application/json",
    };
    json!({ media: {"schema": {"$ref": format!("#/components/schemas/{schema}")}} })
}

fn error_description(code: &str) -> &'static str {
    match code {
        "401" => {
            "Missing, malformed, expired or forged token, or wrong credentials (WWW-Authenticate: Bearer)"
        }
        "403" => {
            "The dashboard is closed: no operator token is configured (PULSEBOARD_OPERATOR_TOKEN)"
        }
        "404" => "Not found (also for other users' events)",
        "409" => "Email already registered",
        "400" => "The body is not readable as the protocol's JSON",
        "408" => "The body did not arrive within the body read timeout (Connection: close)",
        "413" => "Request body over the configured limit (after inflating gzip)",
        "415" => {
            "Content-Type is not JSON (API routes), or Content-Encoding is not gzip (SDK routes)"
        }
        "422" => "Validation error naming each field (FastAPI shape)",
        "429" => {
            "Too many failed logins for the account or address, or the sender is over its rate of events (Retry-After)"
        }
        "503" => "Store unavailable or backlog full (Retry-After)",
        _ => "Error",
    }
}

/// The path and query parameters of an operation; the listing's query belongs to GET only.
fn parameters(method: &str, path: &str) -> Option<Value> {
    let in_path = |name: &str, kind: &str| {
        let mut schema = json!({"type": kind});
        if kind == "integer" {
            schema["format"] = json!("int64");
        }
        json!({"name": name, "in": "path", "required": true, "schema": schema})
    };
    match path {
        "/api/v1/events/{id}" | "/dashboard/api/events/{id}" => {
            Some(json!([in_path("id", "integer")]))
        }
        "/dashboard/api/tasks/{task_id}" => Some(json!([in_path("task_id", "string")])),
        "/api/v1/write-keys/{id}" => Some(json!([in_path("id", "integer")])),
        "/s/{write_key}/com.snowplowanalytics.snowplow/tp2" => {
            Some(json!([in_path("write_key", "string")]))
        }
        "/api/v1/events/export" => {
            let format = json!({"name": "format", "in": "query", "required": false,
                "schema": {"type": "string", "enum": ["ndjson", "csv"]}});
            Some(Value::Array([vec![format], listing_filters()].concat()))
        }
        "/api/v1/events" if method == "get" => {
            let limit = json!({"name": "limit", "in": "query", "required": false,
                "schema": {"type": "integer", "minimum": 1, "maximum": crate::routes::MAX_PAGE}});
            Some(Value::Array([listing_filters(), vec![limit]].concat()))
        }
        _ => None,
    }
}

/// An optional query parameter.
fn in_query(name: &str, kind: &str, format: Option<&str>) -> Value {
    let mut schema = json!({"type": kind});
    if let Some(format) = format {
        schema["format"] = json!(format);
    }
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

/// The listing's filters, which the export takes too.
fn listing_filters() -> Vec<Value> {
    vec![
        json!({"name": "status", "in": "query", "required": false,
            "schema": {"type": "string", "enum": pulseboard_core::EventStatus::ALL.map(|s| s.as_str())}}),
        in_query("event_name", "string", None),
        in_query("message_id", "string", None),
        in_query("created_from", "string", Some("date-time")),
        in_query("created_until", "string", Some("date-time")),
        in_query("before_id", "integer", Some("int64")),
    ]
}

fn schemas(max_batch_events: usize) -> Value {
    let string = json!({"type": "string"});
    let nullable_string = json!({"type": "string", "nullable": true});
    let time = json!({"type": "string", "format": "date-time"});
    // Text fields never hold U+0000; a required one holds more than white space (as Rust's
    // `char::is_whitespace` counts it, spelled out: regex dialects disagree on `\s`).
    let no_nul = "^[^\\u0000]*$";
    let named = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000]*$";
    let text = |max: usize, pattern: &str, nullable: bool| {
        let mut field = json!({"type": "string", "maxLength": max, "pattern": pattern});
        if nullable {
            field["nullable"] = json!(true);
        }
        field
    };
    let event_request = json!({"type": "object", "required": ["event_name", "event_type"], "properties": {
        "event_name": text(pulseboard_core::MAX_EVENT_NAME_CHARS, named, false),
        "event_type": text(pulseboard_core::MAX_EVENT_TYPE_CHARS, named, false),
        "source": text(pulseboard_core::MAX_SOURCE_CHARS, no_nul, true),
        "session_id": text(pulseboard_core::MAX_SESSION_ID_CHARS, no_nul, true),
        "payload": {"nullable": true, "description": "Any JSON value, stored byte for byte as sent. Refused (422) when its arrays and objects nest more than 64 levels deep; otherwise accepted and judged by the worker: it must be an object (null counts as {}), ≤ 1 MiB, nested ≤ 10 levels, or the event becomes validation_error."},
        "message_id": {"type": "string", "minLength": 1, "maxLength": pulseboard_core::MAX_MESSAGE_ID_CHARS, "pattern": no_nul, "nullable": true,
                       "description": "Optional client id, unique per user: a request repeating it stores nothing and answers with the first event's ids (duplicate: true). The first body stored wins."}}});
    let event = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "task_id": string, "event_name": string, "event_type": string,
        "source": nullable_string, "session_id": nullable_string, "payload": {"description": "As sent, byte for byte"},
        "properties": {"type": "object", "nullable": true},
        "status": {"type": "string", "enum": pulseboard_core::EventStatus::ALL.map(|s| s.as_str())},
        "processed": {"type": "boolean"}, "processed_at": {"type": "string", "format": "date-time", "nullable": true},
        "processing_error": nullable_string, "attempts": {"type": "integer"}, "created_at": time,
        "message_id": nullable_string,
        "user_id": {"type": "string", "nullable": true, "description": "The sending app's id of its end user (SDK userId, PostHog distinct_id, Snowplow uid)"},
        "anonymous_id": {"type": "string", "nullable": true, "description": "An SDK's id of an end user not yet identified"},
        "occurred_at": {"type": "string", "format": "date-time", "nullable": true, "description": "When it happened by the client's clock"},
        "received_at": time,
        "context": {"type": "object", "nullable": true, "description": "Everything else an SDK message carried"}}});
    // OpenAPI 3.0: a nullable enum lists null among its values.
    let replayable: Vec<Value> = pulseboard_core::EventStatus::replay_sources()
        .iter()
        .map(|status| json!(status.as_str()))
        .chain([Value::Null])
        .collect();
    let nullable_time = json!({"type": "string", "format": "date-time", "nullable": true});
    let replay_request = json!({"type": "object",
        "description": "ids, or a status (with optional created_from / created_until). Only validation_error and failed events are replayed; their attempts start over at 0 (a fresh retry budget). null is the same as absent.",
        "properties": {"ids": {"type": "array", "minItems": 1, "maxItems": 1000, "nullable": true,
                               "items": {"type": "integer", "format": "int64"}},
            "status": {"type": "string", "enum": replayable, "nullable": true},
            "created_from": nullable_time, "created_until": nullable_time},
        "anyOf": [{"required": ["ids"], "properties": {"ids": {"type": "array"}}},
                  {"required": ["status"], "properties": {"status": {"type": "string"}}}]});
    let key = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "name": string, "created_at": time,
        "last_used_at": {"type": "string", "format": "date-time", "nullable": true},
        "event_count": {"type": "integer", "description": "Events stored with it (counted each second)"},
        "revoked_at": {"type": "string", "format": "date-time", "nullable": true}}});
    json!({
        "RegisterRequest": {"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": crate::MIN_PASSWORD_CHARS},
            "full_name": nullable_string}},
        "LoginRequest": {"type": "object", "required": ["email", "password"], "properties": {"email": string, "password": string}},
        "User": {"type": "object", "properties": {"id": {"type": "integer"}, "email": string, "full_name": nullable_string, "created_at": time}},
        "Token": {"type": "object", "properties": {"access_token": string, "token_type": {"type": "string", "enum": ["bearer"]}, "expires_in": {"type": "integer"}}},
        "EventRequest": event_request,
        "BatchRequest": {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "minItems": 1,
            "maxItems": max_batch_events, "items": {"$ref": "#/components/schemas/EventRequest"}}}},
        "EventAccepted": {"type": "object", "properties": {"event_id": {"type": "integer"}, "task_id": string, "status": string, "message": string,
            "duplicate": {"type": "boolean", "description": "The message_id was stored already: nothing was stored; event_id and task_id are the stored event's"}}},
        "BatchAccepted": {"type": "object", "properties": {"event_count": {"type": "integer"}, "event_ids": {"type": "array", "items": {"type": "integer"}}, "task_id": string, "status": string,
            "duplicate_positions": {"type": "array", "items": {"type": "integer"}, "description": "Positions in events whose message_id was stored already (earlier, or earlier in this batch); their event_ids are the stored events'"}}},
        "Event": event,
        "EventSummary": {"type": "object", "required": ["id", "task_id", "owner", "event_name", "status", "attempts", "created_at", "updated_at"], "properties": {
            "id": {"type": "integer"}, "task_id": string, "owner": {"type": "integer"}, "event_name": string,
            "status": {"type": "string", "enum": pulseboard_core::EventStatus::ALL.map(|s| s.as_str())},
            "attempts": {"type": "integer"}, "processing_error": nullable_string, "created_at": time, "updated_at": time,
            "processed_at": {"type": "string", "format": "date-time", "nullable": true},
            "took_ms": {"type": "integer", "nullable": true, "description": "From acceptance to the final status"}}},
        "TaskEvents": {"type": "object", "required": ["task_id", "events"], "properties": {"task_id": string,
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/EventSummary"}}}},
        "EventPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "next_before_id": {"type": "integer", "nullable": true}}},
        "Status": {"type": "object", "properties": {"status": string}},
        "Overview": {"type": "object"},
        "Html": string,
        "MetricsText": string,
        "Error": {"type": "object", "properties": {"detail": string}},
        "ReplayRequest": replay_request,
        "Export": {"type": "string", "description": "One Event per line (NDJSON); with format=csv, text/csv with a header row"},
        "Replayed": {"type": "object", "properties": {"replayed": {"type": "integer", "description": "Events sent through processing again (at most 100,000 per request)"}}},
        "SdkError": {"type": "object", "required": ["code", "message", "detail"], "properties": {"code": string, "message": string, "detail": string}},
        "WriteKeyRequest": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": pulseboard_core::MAX_SOURCE_CHARS, "description": "Becomes the source of events sent with the key, unless they name one"}}},
        "WriteKeyCreated": {"type": "object", "properties": {"id": {"type": "integer"}, "name": string,
            "write_key": {"type": "string", "description": "Shown only in this answer; stored as a hash"}, "created_at": time}},
        "WriteKey": key,
        "WriteKeyList": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/WriteKey"}}}},
        "SegmentBatch": {"type": "object", "required": ["batch"], "properties": {"batch": {"type": "array"}},
            "description": "{batch: [message], writeKey?, sentAt?, context?}. Each message becomes an event, or a validation_error record with its reason. Gzip (Content-Encoding) accepted; any Content-Type."},
        "SegmentMessage": {"type": "object", "description": "One message {type?, event?, userId?, anonymousId?, properties?, messageId?, …}. Gzip accepted; any Content-Type."},
        "PostHogBody": {"description": "An event {event, distinct_id, properties, uuid, timestamp, api_key}, an array of them, or {api_key, batch: [...]}; legacy {data: <events, or their JSON or base64 text>} too. Gzip accepted (Content-Encoding, or ?compression=gzip-js).",
            "anyOf": [{"type": "array"},
                      {"type": "object", "required": ["batch"], "properties": {"batch": {"type": "array"}}},
                      {"type": "object", "required": ["event"], "properties": {"batch": {"type": "array"}}},
                      {"type": "object", "properties": {"batch": {"type": "array"},
                          "data": {"anyOf": [{"type": "array"}, {"type": "object", "properties": {"batch": {"type": "array"}}}]}}}]},
        "SnowplowBody": {"type": "object", "required": ["data"], "properties": {
            "schema": {"type": "string", "pattern": "^iglu:com\\.snowplowanalytics\\.snowplow/payload_data/jsonschema/1-"},
            "data": {"type": "array"}}},
        "SegmentOk": {"type": "object", "properties": {"success": {"type": "boolean"}}},
        "PostHogOk": {"type": "object", "properties": {"status": {"type": "integer", "enum": [1]}}},
        "SnowplowOk": string,
        "ValidationError": {"type": "object", "properties": {"detail": {"type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {}}, "msg": string, "type": string}}}}},
    })
}
