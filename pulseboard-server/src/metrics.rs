//! The server's instruments and the `/metrics` exposition (worker metrics included when the
//! worker runs in this process).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use pulseboard_telemetry::prometheus::{Counter, Gauge, write_counter, write_gauge};

/// Counters of the HTTP side.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    /// Events committed and answered 202.
    pub accepted: Counter,
    /// Events refused by admission control.
    pub admission_refused: Counter,
    /// Connections open now (at most the connection bound).
    pub connections_open: Gauge,
    /// Connections closed at once because the connection bound was reached.
    pub connections_refused: Counter,
    /// Connections closed because the request head or body came too slowly.
    pub connections_timed_out: Counter,
    /// Password hashes computed (registrations and logins).
    pub password_hashes: Counter,
    /// Logins answered 429 before any password was checked.
    pub logins_throttled: Counter,
    /// Ingest requests answered 429 because their sender was over its rate.
    pub requests_rate_limited: Counter,
    /// Requests by (route, status).
    requests: Mutex<BTreeMap<(String, u16), u64>>,
}

impl ServerMetrics {
    /// Counts one request to `route` answered with `status`.
    pub fn count_request(&self, route: &str, status: u16) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((route.to_owned(), status)).or_default() += 1;
        }
    }

    /// Appends the server's metrics in Prometheus text format.
    pub fn render(&self, out: &mut String, backlog: u64) {
        write_counter(
            out,
            "pulseboard_events_accepted_total",
            "Events stored and answered 202.",
            self.accepted.get(),
        );
        write_counter(
            out,
            "pulseboard_events_admission_refused_total",
            "Events refused with 503 because the backlog was full.",
            self.admission_refused.get(),
        );
        for (name, help, counter) in [
            (
                "pulseboard_connections_refused_total",
                "Connections closed on arrival because the connection bound was reached.",
                &self.connections_refused,
            ),
            (
                "pulseboard_connections_timed_out_total",
                "Connections closed because the request head or body came too slowly.",
                &self.connections_timed_out,
            ),
            (
                "pulseboard_password_hashes_total",
                "Password hashes computed, for registrations and logins.",
                &self.password_hashes,
            ),
            (
                "pulseboard_logins_throttled_total",
                "Logins refused with 429 after repeated failures.",
                &self.logins_throttled,
            ),
            (
                "pulseboard_requests_rate_limited_total",
                "Ingest requests refused with 429 because their sender was over its rate.",
                &self.requests_rate_limited,
            ),
        ] {
            write_counter(out, name, help, counter.get());
        }
        write_gauge(
            out,
            "pulseboard_connections_open",
            "HTTP connections open now (PULSEBOARD_MAX_CONNECTIONS bounds them).",
            self.connections_open.get(),
        );
        write_gauge(
            out,
            "pulseboard_backlog_events",
            "Events not yet in a final status.",
            backlog as i64,
        );
        let _ = writeln!(
            out,
            "# HELP pulseboard_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE pulseboard_http_requests_total counter");
        if let Ok(requests) = self.requests.lock() {
            for ((route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "pulseboard_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
    }
}
