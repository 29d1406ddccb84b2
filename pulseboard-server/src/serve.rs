//! Serving HTTP/1.1 with the connection rules of a server that faces the internet: a bound on
//! concurrent connections, a deadline for the request head (which also closes idle kept-alive
//! connections) and graceful shutdown. The body deadline is checked where bodies are read
//! ([`crate::extract::read_body`]).
//!
//! `axum::serve` offers none of these knobs, so this is its accept loop with hyper's own
//! header timeout and hyper-util's graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use crate::metrics::ServerMetrics;

/// How long a connection may take, and how many may be open.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From the moment a connection waits for a request (new, or kept alive after an answer)
    /// until the whole request head has arrived.
    pub header_read_timeout: Duration,
    /// From the moment a handler starts reading the body until it has all of it.
    pub body_read_timeout: Duration,
    /// Open connections; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `signal` resolves; then stops accepting and waits for
/// the open connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<ServerMetrics>,
    signal: impl Future<Output = ()> + Send + 'static,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    wait_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Closing at once tells the client to come back later; the connections already
            // open keep being served.
            metrics.connections_refused.inc_by(1);
            drop(stream);
            continue;
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), service(router.clone(), remote));
        let connection = graceful.watch(connection);
        let metrics = metrics.clone();
        metrics.connections_open.add(1);
        tokio::spawn(async move {
            finish(connection.await, &metrics);
            metrics.connections_open.add(-1);
            drop::<OwnedSemaphorePermit>(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The router as a hyper service for one connection, which knows its peer's address.
fn service(
    router: Router,
    remote: SocketAddr,
) -> TowerToHyperService<
    impl tower::Service<
        axum::http::Request<Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone,
> {
    TowerToHyperService::new(router.map_request(
        move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request.map(Body::new)
        },
    ))
}

/// Counts a connection that ended because its client was too slow.
fn finish(result: Result<(), hyper::Error>, metrics: &ServerMetrics) {
    if let Err(error) = result {
        if error.is_timeout() {
            metrics.connections_timed_out.inc_by(1);
        }
        tracing::debug!(error = %error, "connection ended with an error");
    }
}

/// Accept fails when the process is out of file descriptors (or the peer reset the connection
/// while it queued): wait a little rather than spin.
async fn wait_after_accept_error(error: &std::io::Error) {
    tracing::warn!(error = %error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
