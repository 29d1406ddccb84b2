//! `GET /openapi.json`: an OpenAPI 3.0 document built from the route table below, with the
//! request bodies, success bodies and every error body of each route.

use std::sync::LazyLock;

use axum::Json;
use serde_json::{Map, Value, json};

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    authenticated: bool,
    request: Option<&'static str>,
    success: (&'static str, &'static str),
    errors: &'static [&'static str],
}

const OPERATIONS: &[Operation] = &[
    Operation {
        method: "post",
        path: "/api/auth/register",
        summary: "Register a user",
        authenticated: false,
        request: Some("RegisterRequest"),
        success: ("201", "User"),
        errors: &["409", "415", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/auth/login",
        summary: "Log in and get a bearer token",
        authenticated: false,
        request: Some("LoginRequest"),
        success: ("200", "Token"),
        errors: &["401", "415", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/v1/events",
        summary: "Submit one event (202 after the durable commit)",
        authenticated: true,
        request: Some("EventRequest"),
        success: ("202", "EventAccepted"),
        errors: &["401", "413", "415", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/api/v1/events",
        summary: "List the caller's events, newest first (keyset pagination via before_id)",
        authenticated: true,
        request: None,
        success: ("200", "EventPage"),
        errors: &["401", "422", "503"],
    },
    Operation {
        method: "post",
        path: "/api/v1/events/batch",
        summary: "Submit up to the batch limit of events as one job",
        authenticated: true,
        request: Some("BatchRequest"),
        success: ("202", "BatchAccepted"),
        errors: &["401", "413", "415", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/api/v1/events/{id}",
        summary: "One of the caller's events",
        authenticated: true,
        request: None,
        success: ("200", "Event"),
        errors: &["401", "404", "422", "503"],
    },
    Operation {
        method: "get",
        path: "/health",
        summary: "The process answers",
        authenticated: false,
        request: None,
        success: ("200", "Status"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/ready",
        summary: "Store and queue answer",
        authenticated: false,
        request: None,
        success: ("200", "Status"),
        errors: &["503"],
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics (text format)",
        authenticated: false,
        request: None,
        success: ("200", "MetricsText"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/dashboard",
        summary: "Operator dashboard (operator token as Bearer or ?token=)",
        authenticated: true,
        request: None,
        success: ("200", "Html"),
        errors: &["401"],
    },
    Operation {
        method: "get",
        path: "/dashboard/api/overview",
        summary: "Dashboard data: counts, queue, workers, throughput, failures",
        authenticated: true,
        request: None,
        success: ("200", "Overview"),
        errors: &["401", "503"],
    },
    Operation {
        method: "get",
        path: "/dashboard/api/tasks/{task_id}",
        summary: "A task's events, attempts and outcomes",
        authenticated: true,
        request: None,
        success: ("200", "EventList"),
        errors: &["401", "503"],
    },
    Operation {
        method: "get",
        path: "/dashboard/api/events/{id}",
        summary: "Any event by id (operators)",
        authenticated: true,
        request: None,
        success: ("200", "Event"),
        errors: &["401", "404", "422", "503"],
    },
];

static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

pub(crate) async fn document() -> Json<Value> {
    Json(DOCUMENT.clone())
}

fn build() -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let entry = paths.entry(operation.path).or_insert_with(|| json!({}));
        entry[operation.method] = describe(operation);
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "PulseBoard", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Event ingestion: events are stored durably, answered 202, and processed by a background worker."},
        "paths": paths,
        "components": {"schemas": schemas(), "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    })
}

fn describe(operation: &Operation) -> Value {
    let (status, schema) = operation.success;
    let mut responses = Map::new();
    responses.insert(
        status.to_owned(),
        json!({"description": "Success", "content": content(schema)}),
    );
    for code in operation.errors {
        let schema = if *code == "422" {
            "ValidationError"
        } else {
            "Error"
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
    if operation.authenticated {
        described["security"] = json!([{"bearer": []}]);
    }
    if let Some(parameters) = parameters(operation.path) {
        described["parameters"] = parameters;
    }
    described
}

fn content(schema: &str) -> Value {
    let media = match schema {
        "Html" => "text/html",
        "MetricsText" => "text/plain",
        _ => "application/json",
    };
    json!({ media: {"schema": {"$ref": format!("#/components/schemas/{schema}")}} })
}

fn error_description(code: &str) -> &'static str {
    match code {
        "401" => {
            "Missing, malformed, expired or forged token, or wrong credentials (WWW-Authenticate: Bearer)"
        }
        "404" => "Not found (also for other users' events)",
        "409" => "Email already registered",
        "413" => "Request body over the configured limit",
        "415" => "Content-Type is not JSON",
        "422" => "Validation error naming each field (FastAPI shape)",
        "503" => "Store unavailable or backlog full (Retry-After)",
        _ => "Error",
    }
}

fn parameters(path: &str) -> Option<Value> {
    let in_path = |name: &str, kind: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": kind}});
    let in_query = |name: &str, kind: &str, format: Option<&str>| {
        let mut schema = json!({"type": kind});
        if let Some(format) = format {
            schema["format"] = json!(format);
        }
        json!({"name": name, "in": "query", "required": false, "schema": schema})
    };
    match path {
        "/api/v1/events/{id}" | "/dashboard/api/events/{id}" => {
            Some(json!([in_path("id", "integer")]))
        }
        "/dashboard/api/tasks/{task_id}" => Some(json!([in_path("task_id", "string")])),
        "/api/v1/events" => Some(json!([
            in_query("status", "string", None),
            in_query("event_name", "string", None),
            in_query("message_id", "string", None),
            in_query("created_from", "string", Some("date-time")),
            in_query("created_until", "string", Some("date-time")),
            in_query("before_id", "integer", None),
            in_query("limit", "integer", None),
        ])),
        _ => None,
    }
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let nullable_string = json!({"type": "string", "nullable": true});
    let time = json!({"type": "string", "format": "date-time"});
    let event_request = json!({"type": "object", "required": ["event_name", "event_type"], "properties": {
        "event_name": {"type": "string", "minLength": 1, "maxLength": pulseboard_core::MAX_EVENT_NAME_CHARS},
        "event_type": {"type": "string", "minLength": 1, "maxLength": pulseboard_core::MAX_EVENT_TYPE_CHARS},
        "source": {"type": "string", "maxLength": pulseboard_core::MAX_SOURCE_CHARS, "nullable": true},
        "session_id": {"type": "string", "maxLength": pulseboard_core::MAX_SESSION_ID_CHARS, "nullable": true},
        "payload": {"type": "object", "nullable": true, "description": "Any JSON object; validated by the worker (≤ 1 MiB, depth ≤ 10)"},
        "message_id": {"type": "string", "minLength": 1, "maxLength": pulseboard_core::MAX_MESSAGE_ID_CHARS, "nullable": true,
                       "description": "Optional client id, unique per user: a request repeating it stores nothing and answers with the first event's ids (duplicate: true). The first body stored wins."}}});
    let event = json!({"type": "object", "properties": {
        "id": {"type": "integer"}, "task_id": string, "event_name": string, "event_type": string,
        "source": nullable_string, "session_id": nullable_string, "payload": {"type": "object"},
        "properties": {"type": "object", "nullable": true},
        "status": {"type": "string", "enum": pulseboard_core::EventStatus::ALL.map(|s| s.as_str())},
        "processed": {"type": "boolean"}, "processed_at": {"type": "string", "format": "date-time", "nullable": true},
        "processing_error": nullable_string, "attempts": {"type": "integer"}, "created_at": time,
        "message_id": nullable_string}});
    json!({
        "RegisterRequest": {"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": crate::MIN_PASSWORD_CHARS},
            "full_name": nullable_string}},
        "LoginRequest": {"type": "object", "required": ["email", "password"], "properties": {"email": string, "password": string}},
        "User": {"type": "object", "properties": {"id": {"type": "integer"}, "email": string, "full_name": nullable_string, "created_at": time}},
        "Token": {"type": "object", "properties": {"access_token": string, "token_type": {"type": "string", "enum": ["bearer"]}, "expires_in": {"type": "integer"}}},
        "EventRequest": event_request,
        "BatchRequest": {"type": "object", "required": ["events"], "properties": {"events": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/EventRequest"}}}},
        "EventAccepted": {"type": "object", "properties": {"event_id": {"type": "integer"}, "task_id": string, "status": string, "message": string,
            "duplicate": {"type": "boolean", "description": "The message_id was stored already: nothing was stored; event_id and task_id are the stored event's"}}},
        "BatchAccepted": {"type": "object", "properties": {"event_count": {"type": "integer"}, "event_ids": {"type": "array", "items": {"type": "integer"}}, "task_id": string, "status": string,
            "duplicate_positions": {"type": "array", "items": {"type": "integer"}, "description": "Positions in events whose message_id was stored already (earlier, or earlier in this batch); their event_ids are the stored events'"}}},
        "Event": event,
        "EventList": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        "EventPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "next_before_id": {"type": "integer", "nullable": true}}},
        "Status": {"type": "object", "properties": {"status": string}},
        "Overview": {"type": "object"},
        "Html": string,
        "MetricsText": string,
        "Error": {"type": "object", "properties": {"detail": string}},
        "ValidationError": {"type": "object", "properties": {"detail": {"type": "array", "items": {"type": "object", "properties": {
            "loc": {"type": "array", "items": {}}, "msg": string, "type": string}}}}},
    })
}
