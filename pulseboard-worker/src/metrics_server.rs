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

/// Serves `GET /metrics` on `address` until `shutdown`.
pub async fn serve_metrics(
    address: SocketAddr,
    metrics: Arc<WorkerMetrics>,
    queue: Arc<dyn JobQueue>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(MetricsSources { metrics, queue });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

async fn render(State(exposed): State<MetricsSources>) -> impl IntoResponse {
    let mut body = String::new();
    exposed.metrics.render(&mut body);
    if let Ok(stats) = exposed.queue.stats().await {
        stats.render(&mut body);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
