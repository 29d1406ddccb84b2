//! Telemetry shared by PulseBoard's binaries: log set-up and shutdown signals ([`logs`]), and
//! the Prometheus instruments both processes expose ([`prometheus`]).

pub mod logs;
pub mod prometheus;
