//! The operator dashboard (the role Flower had): one embedded HTML page that polls a small JSON
//! API built on the store (event state and history, which survive restarts) and the queue
//! (depth, workers). Every route requires the operator token; without one configured the
//! dashboard stays closed.

use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use pulseboard_core::format_timestamp;
use pulseboard_store::StoredEvent;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{PathParam, bearer_token};
use crate::metrics::ServerMetrics;
use crate::routes::{EventView, parse_event_id};

const PAGE: &str = include_str!("dashboard.html");
/// Recent failures shown.
const FAILURES_SHOWN: u32 = 20;
/// Write keys shown.
const WRITE_KEYS_SHOWN: u32 = 200;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/api/overview", get(overview))
        .route("/dashboard/api/tasks/{task_id}", get(task))
        .route("/dashboard/api/events/{id}", get(event))
}

/// Proof that the caller holds the operator token (as a Bearer token or `?token=`).
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.operator_token() else {
            return Err(ApiError::Forbidden(
                "The dashboard is disabled: set PULSEBOARD_OPERATOR_TOKEN to open it",
            ));
        };
        let offered = bearer_token(parts)
            .map(str::to_owned)
            .or_else(|| query_token(parts))
            .unwrap_or_default();
        if constant_time_eq(offered.as_bytes(), expected.expose().as_bytes()) {
            Ok(Operator)
        } else {
            Err(ApiError::Unauthorized("Operator token required"))
        }
    }
}

fn query_token(parts: &Parts) -> Option<String> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

async fn page(_: Operator) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

async fn overview(_: Operator, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store();
    let counts = store.counts_by_status().await?;
    let activity = store
        .activity_per_minute(Utc::now() - Duration::hours(1))
        .await?;
    let failures = store.recent_failures(FAILURES_SHOWN).await?;
    let write_keys = store.list_write_keys(None, WRITE_KEYS_SHOWN).await?;
    let queue = state.queue().stats().await;
    let mut by_status: Map<String, Value> = pulseboard_core::EventStatus::ALL
        .iter()
        .map(|status| (status.as_str().to_owned(), json!(0)))
        .collect();
    for count in &counts {
        by_status.insert(count.status.as_str().to_owned(), json!(count.count));
    }
    let queue_json = match &queue {
        Ok(stats) => json!({"backend": state.queue().backend_name(), "available": true,
            "pending_jobs": stats.pending_jobs, "in_flight_jobs": stats.in_flight_jobs}),
        Err(error) => {
            json!({"backend": state.queue().backend_name(), "available": false, "error": error.to_string()})
        }
    };
    let workers: Vec<Value> = queue.as_ref().map(|stats| stats.workers.as_slice()).unwrap_or_default().iter()
        .map(|worker| json!({"name": worker.name, "last_seen": format_timestamp(worker.last_seen), "concurrency": worker.concurrency}))
        .collect();
    Ok(Json(json!({
        "generated_at": format_timestamp(Utc::now()),
        "store": store.backend_name(),
        "total": counts.iter().map(|count| count.count).sum::<i64>(),
        "by_status": by_status,
        "queue": queue_json,
        "workers": workers,
        "activity": activity.iter().map(|minute| json!({"minute": format_timestamp(minute.minute),
            "accepted": minute.accepted, "processed": minute.processed, "failed": minute.failed})).collect::<Vec<_>>(),
        "recent_failures": failures.into_iter().map(summary).collect::<Vec<_>>(),
        "protection": protection(state.metrics()),
        "write_keys": write_keys.into_iter().map(|key| json!({"id": key.id.0, "owner": key.owner.0,
            "name": key.name, "created_at": format_timestamp(key.created_at),
            "last_used_at": key.last_used_at.map(format_timestamp), "event_count": key.event_count,
            "revoked_at": key.revoked_at.map(format_timestamp)})).collect::<Vec<_>>(),
    })))
}

async fn task(
    _: Operator,
    State(state): State<AppState>,
    PathParam(task_id): PathParam,
) -> Result<Json<Value>, ApiError> {
    let events = state.store().events_for_task(&task_id).await?;
    Ok(Json(
        json!({"task_id": task_id, "events": events.into_iter().map(summary).collect::<Vec<_>>()}),
    ))
}

async fn event(
    _: Operator,
    State(state): State<AppState>,
    PathParam(id): PathParam,
) -> Result<Json<EventView>, ApiError> {
    let id = parse_event_id(&id)?;
    let event = state
        .store()
        .get_event(id, None)
        .await?
        .ok_or(ApiError::NotFound("Event not found"))?;
    Ok(Json(EventView::from(event)))
}

/// What this server process refused or cut off since it started, by reason.
fn protection(metrics: &ServerMetrics) -> Value {
    json!({
        "logins_throttled": metrics.logins_throttled.get(),
        "requests_rate_limited": metrics.requests_rate_limited.get(),
        "connections_timed_out": metrics.connections_timed_out.get(),
        "connections_refused": metrics.connections_refused.get(),
        "admission_refused_events": metrics.admission_refused.get(),
    })
}

/// An event without its payload: what the dashboard's tables show.
fn summary(event: StoredEvent) -> Value {
    let took_ms = event
        .processed_at
        .map(|done| (done - event.created_at).num_milliseconds());
    json!({
        "id": event.id.0, "task_id": event.task_id, "owner": event.owner.0, "event_name": event.event_name,
        "status": event.status.as_str(), "attempts": event.attempts, "processing_error": event.processing_error,
        "created_at": format_timestamp(event.created_at), "updated_at": format_timestamp(event.updated_at),
        "processed_at": event.processed_at.map(format_timestamp), "took_ms": took_ms,
    })
}
