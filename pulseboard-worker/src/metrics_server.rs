//! The worker's own `/metrics` endpoint (production workers have no API server beside them).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::{JobQueue, WorkerMetrics};

#[derive(Clone)]
struct MetricsSources {
    metrics: Arc<WorkerMetrics>,
    queue: Arc<dyn JobQueue>,
}

/// Why the metrics endpoint stopped.
#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    /// The address could not be bound.
    #[error("cannot listen on {address} (PULSEBOARD_WORKER_METRICS_BIND): {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving /metrics failed: {0}")]
    Serve(std::io::Error),
}

/// Serves `GET /metrics` on `address` until `shutdown`.
pub async fn serve_metrics(
    address: SocketAddr,
    metrics: Arc<WorkerMetrics>,
    queue: Arc<dyn JobQueue>,
    shutdown: CancellationToken,
) -> Result<(), MetricsServerError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| MetricsServerError::Bind { address, source })?;
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(MetricsSources { metrics, queue });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(MetricsServerError::Serve)
}

async fn render(State(exposed): State<MetricsSources>) -> impl IntoResponse {
    let mut body = String::new();
    exposed.metrics.render(&mut body);
    if let Ok(stats) = exposed.queue.stats().await {
        stats.render(&mut body);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
