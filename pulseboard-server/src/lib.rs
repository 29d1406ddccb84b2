//! PulseBoard's HTTP API: a thin axum adapter. Handlers parse, call core and the store, and map
//! errors; the rules live in `pulseboard-core`.
//!
//! [`start`] builds the system from [`ServerSettings`]; [`app`] is the router, so tests drive
//! the same wiring with `oneshot` or a real socket.

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "256"]

mod auth;
mod batcher;
mod credentials;
mod dashboard;
mod error;
mod extract;
mod ingest;
mod metrics;
mod openapi;
mod routes;
mod serve;
mod settings;
mod startup;
mod state;
mod throttle;
mod write_keys;

pub use auth::{PasswordError, Passwords, Tokens};
pub use batcher::{BatchSettings, MicroBatcher};
pub use error::{ApiError, FieldIssue};
pub use ingest::Accepted;
pub use metrics::ServerMetrics;
pub use pulseboard_core::account::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use routes::app;
pub use settings::{Cli, Command, ConnectionLimits, Secret, ServerSettings};
pub use startup::{Pulseboard, StartError, start};
pub use state::AppState;
pub use throttle::ThrottleSettings;
pub use write_keys::WriteKeys;
