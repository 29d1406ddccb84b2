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

/// Files the process keeps open besides client connections and the database pool: the
/// listener, Redis connections, the SQLite files and their journal, logs, the runtime's own.
const OTHER_OPEN_FILES: u64 = 64;

impl ConnectionLimits {
    /// These limits with `max_connections` lowered, if need be, to what the process's
    /// open-file limit (`ulimit -n`) leaves after `db_pool_size` connections and the other
    /// files it keeps open, with a warning that says what to change. Past that limit, accepting
    /// fails and the database pool cannot open connections either: an outage where a bound
    /// would only refuse the extra clients.
    pub(crate) fn fit_open_file_limit(self, db_pool_size: u32) -> Self {
        let Some(open_files) = open_file_limit() else {
            return self;
        };
        let wanted = self.max_connections;
        let fitted = max_connections_within(open_files, db_pool_size, wanted);
        if fitted < wanted {
            tracing::warn!(
                open_file_limit = open_files,
                max_connections = fitted,
                configured = wanted,
                "the open-file limit (ulimit -n) is too low for PULSEBOARD_MAX_CONNECTIONS \
                 and the database pool: serving at most {fitted} connections; raise the limit \
                 (LimitNOFILE= under systemd) to {} or more to allow {wanted}",
                wanted as u64 + u64::from(db_pool_size) + OTHER_OPEN_FILES
            );
        }
        Self {
            max_connections: fitted,
            ..self
        }
    }
}

/// The most client connections `open_files` leave room for, at most `wanted` (and at least 1:
/// a server that accepts nothing would look dead rather than overloaded).
fn max_connections_within(open_files: u64, db_pool_size: u32, wanted: usize) -> usize {
    let room = open_files.saturating_sub(u64::from(db_pool_size) + OTHER_OPEN_FILES);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(1, wanted.max(1))
}

/// The process's soft open-file limit, from `/proc/self/limits`; `None` where that cannot be
/// read (not Linux) or the limit is unlimited.
fn open_file_limit() -> Option<u64> {
    parse_open_file_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft limit of the `Max open files` line of a `/proc/<pid>/limits` text.
fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95083                95083                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(parse_open_file_limit(unlimited), None);
        assert_eq!(parse_open_file_limit(""), None);
        assert!(
            open_file_limit().is_some(),
            "this machine's limit is readable"
        );
    }

    #[test]
    fn connections_are_bounded_by_what_the_open_file_limit_leaves() {
        assert_eq!(max_connections_within(1_024, 16, 3_500), 1_024 - 16 - 64);
        assert_eq!(max_connections_within(20_000, 16, 3_500), 3_500);
        assert_eq!(max_connections_within(50, 16, 3_500), 1);
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            body_read_timeout: Duration::from_secs(1),
            max_connections: usize::MAX,
        };
        let fitted = limits.fit_open_file_limit(16).max_connections;
        assert_eq!(
            fitted as u64,
            open_file_limit().unwrap() - 16 - OTHER_OPEN_FILES,
            "this process's own limit"
        );
    }
}
