//! `GET /health` (the process answers), `GET /ready` (store and queue answer), `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store().ping().await;
    let queue = state.queue().stats().await;
    match (&store, &queue) {
        (Ok(()), Ok(_)) => Ok(Json(json!({
            "status": "ready",
            "store": state.store().backend_name(),
            "queue": state.queue().backend_name(),
        }))),
        _ => {
            if let Err(error) = &store {
                tracing::warn!(error = %error, "readiness: store unavailable");
            }
            if let Err(error) = &queue {
                tracing::warn!(error = %error, "readiness: queue unavailable");
            }
            Err(ApiError::Unavailable(
                match (store.is_ok(), queue.is_ok()) {
                    (false, false) => "Not ready: the store and the queue are unavailable",
                    (false, true) => "Not ready: the store is unavailable",
                    _ => "Not ready: the queue is unavailable",
                },
            ))
        }
    }
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = String::new();
    state.metrics().render(&mut body, state.ingest().backlog());
    pulseboard_telemetry::prometheus::write_counter(
        &mut body,
        "pulseboard_write_key_lookups_total",
        "Write keys looked up in the store: cache misses, found or unknown.",
        state.write_keys().store_lookups(),
    );
    if let Some(worker) = state.worker_metrics() {
        worker.render(&mut body);
    }
    if let Ok(stats) = state.queue().stats().await {
        stats.render(&mut body);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
}
