//! The server's settings: a plain struct (tests build it in code) filled from flags and
//! environment variables by [`Cli`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pulseboard_telemetry::logs::LogFormat;
use pulseboard_worker::WorkerOptions;

pub use crate::serve::ConnectionLimits;
use crate::throttle::ThrottleSettings;
use axum::http::HeaderName;
use pulseboard_core::{AttemptLimit, Rate};

/// A secret string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(value))
    }
}

/// Defaults, written once for the flags and for [`ServerSettings::embedded`].
const DEFAULT_TOKEN_TTL_MINUTES: u64 = 30;
const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// PostHog's capture service accepts 20 MiB on `/batch`; SDKs size their batches for that.
const DEFAULT_MAX_SDK_BODY_BYTES: usize = 20 * 1024 * 1024;
const DEFAULT_MAX_BATCH_EVENTS: usize = 1_000;
const DEFAULT_MAX_BACKLOG_EVENTS: u64 = 500_000;
const DEFAULT_DB_POOL_SIZE: u32 = 16;
const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;
/// Below the usual limit of open files a service gets (`LimitNOFILE`, often 4,096 soft or
/// more), with room for the database pool and the log.
const DEFAULT_MAX_CONNECTIONS: usize = 3_500;
/// A sender's sustained rate in production: a fifth of what one server process ingests in
/// batches here (BENCHMARKS.md), so one runaway client cannot take it all.
const DEFAULT_PRODUCTION_SENDER_EVENTS_PER_SEC: f64 = 5_000.0;
/// A sender's burst, in seconds of its rate.
const DEFAULT_BURST_SECONDS: f64 = 10.0;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the embedded mode keeps its SQLite file and generated JWT secret.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; `None` selects the embedded SQLite store.
    pub database_url: Option<String>,
    /// Redis URL; `None` runs the worker in this process on an in-process queue.
    pub redis_url: Option<String>,
    /// Key prefix of the Redis queue (servers and workers must agree).
    pub redis_queue: String,
    /// JWT signing secret (≥ 32 bytes); required with `database_url`.
    pub jwt_secret: Option<Secret>,
    /// Bearer token that opens the operator dashboard; `None` keeps it closed.
    pub operator_token: Option<Secret>,
    /// Lifetime of access tokens.
    pub token_lifetime: Duration,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch request.
    pub max_batch_events: usize,
    /// Largest body of an SDK protocol request after inflating, in bytes.
    pub max_sdk_body_bytes: usize,
    /// Unfinished events beyond which new events are refused with 503.
    pub max_backlog_events: u64,
    /// Database connections the server may open.
    pub db_pool_size: u32,
    /// Apply pending migrations at start.
    pub migrate: bool,
    /// Slow clients and the connection bound.
    pub connections: ConnectionLimits,
    /// Login throttling and sender rates.
    pub throttle: ThrottleSettings,
    /// Worker settings, used when the worker runs in this process.
    pub worker: WorkerOptions,
}

impl ServerSettings {
    /// The embedded default with its data in `data_dir`, listening on `bind`.
    pub fn embedded(data_dir: impl Into<PathBuf>, bind: SocketAddr) -> Self {
        Self {
            bind,
            data_dir: data_dir.into(),
            database_url: None,
            redis_url: None,
            redis_queue: pulseboard_worker::DEFAULT_QUEUE_NAME.to_owned(),
            jwt_secret: None,
            operator_token: None,
            token_lifetime: Duration::from_secs(DEFAULT_TOKEN_TTL_MINUTES * 60),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
            max_sdk_body_bytes: DEFAULT_MAX_SDK_BODY_BYTES,
            max_backlog_events: DEFAULT_MAX_BACKLOG_EVENTS,
            db_pool_size: DEFAULT_DB_POOL_SIZE,
            migrate: true,
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
                body_read_timeout: Duration::from_secs(DEFAULT_BODY_READ_TIMEOUT_SECS),
                max_connections: DEFAULT_MAX_CONNECTIONS,
            },
            throttle: ThrottleSettings {
                login_per_account: Some(AttemptLimit::PER_ACCOUNT),
                login_per_address: Some(AttemptLimit::PER_ADDRESS),
                client_ip_header: None,
                sender_rate: None,
            },
            worker: WorkerOptions::default(),
        }
    }

    /// The store URL: `DATABASE_URL`, or the SQLite file in the data directory.
    pub fn store_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("pulseboard.db").display()),
        }
    }
}

/// PulseBoard's HTTP API. With no DATABASE_URL it runs the whole system in one process
/// (SQLite + in-process worker); with DATABASE_URL and REDIS_URL it is one stateless API server
/// of the production deployment.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on.
    #[arg(
        long,
        env = "PULSEBOARD_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,
    /// Data directory of the embedded mode (SQLite file, generated JWT secret).
    #[arg(
        long,
        env = "PULSEBOARD_DATA_DIR",
        default_value = "./pulseboard-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (production). Unset: embedded SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Redis URL of the job queue (production). Unset: the worker runs in this process.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Key prefix of the Redis queue; servers and workers must use the same.
    #[arg(
        long,
        env = "PULSEBOARD_REDIS_QUEUE",
        default_value = pulseboard_worker::DEFAULT_QUEUE_NAME,
        global = true
    )]
    pub redis_queue: String,
    /// JWT signing secret, at least 32 bytes. Required with DATABASE_URL; generated and kept in
    /// the data directory otherwise.
    #[arg(
        long,
        env = "PULSEBOARD_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<Secret>,
    /// Token that opens /dashboard (send it as a Bearer token or `?token=`). Unset: closed.
    #[arg(
        long,
        env = "PULSEBOARD_OPERATOR_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub operator_token: Option<Secret>,
    /// Access-token lifetime in minutes.
    #[arg(
        long,
        env = "PULSEBOARD_TOKEN_TTL_MINUTES",
        default_value_t = DEFAULT_TOKEN_TTL_MINUTES,
        global = true
    )]
    pub token_ttl_minutes: u64,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "PULSEBOARD_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES, global = true)]
    pub max_body_bytes: usize,
    /// Most events in one batch request.
    #[arg(
        long,
        env = "PULSEBOARD_MAX_BATCH_EVENTS",
        default_value_t = DEFAULT_MAX_BATCH_EVENTS,
        global = true
    )]
    pub max_batch_events: usize,
    /// Largest body of an SDK protocol request (Segment, PostHog, Snowplow) after inflating
    /// gzip, in bytes. PostHog's own limit on `/batch` is 20 MiB.
    #[arg(
        long,
        env = "PULSEBOARD_MAX_SDK_BODY_BYTES",
        default_value_t = DEFAULT_MAX_SDK_BODY_BYTES,
        global = true
    )]
    pub max_sdk_body_bytes: usize,
    /// Unfinished events beyond which the API answers 503 + Retry-After.
    #[arg(
        long,
        env = "PULSEBOARD_MAX_BACKLOG_EVENTS",
        default_value_t = DEFAULT_MAX_BACKLOG_EVENTS,
        global = true
    )]
    pub max_backlog_events: u64,
    /// Database connections the server may open.
    #[arg(
        long,
        env = "PULSEBOARD_DB_POOL_SIZE",
        default_value_t = DEFAULT_DB_POOL_SIZE,
        global = true
    )]
    pub db_pool_size: u32,
    /// Apply pending migrations at start (true/false).
    #[arg(long, env = "PULSEBOARD_MIGRATE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub migrate: bool,
    /// Seconds a connection may take to send a request head, counted from when it waits for
    /// one: a new connection, or a kept-alive one after its last answer (so it is also the
    /// idle keep-alive timeout).
    #[arg(
        long,
        env = "PULSEBOARD_HEADER_READ_TIMEOUT_SECS",
        default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS,
        global = true
    )]
    pub header_read_timeout_secs: u64,
    /// Seconds a request may take to send its whole body; slower ones get 408.
    #[arg(
        long,
        env = "PULSEBOARD_BODY_READ_TIMEOUT_SECS",
        default_value_t = DEFAULT_BODY_READ_TIMEOUT_SECS,
        global = true
    )]
    pub body_read_timeout_secs: u64,
    /// Open connections at most; further ones are closed on arrival. Keep it below the
    /// process's open-file limit (`ulimit -n`) less the database pool.
    #[arg(
        long,
        env = "PULSEBOARD_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        global = true
    )]
    pub max_connections: usize,
    /// Failed logins allowed per account (email) in one window; more get 429 before any
    /// password is checked. 0: unlimited.
    #[arg(
        long,
        env = "PULSEBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT",
        default_value_t = AttemptLimit::PER_ACCOUNT.max_attempts,
        global = true
    )]
    pub login_attempts_per_account: u32,
    /// Failed logins allowed per client address in one window. 0: unlimited.
    #[arg(
        long,
        env = "PULSEBOARD_LOGIN_ATTEMPTS_PER_ADDRESS",
        default_value_t = AttemptLimit::PER_ADDRESS.max_attempts,
        global = true
    )]
    pub login_attempts_per_address: u32,
    /// The sliding window of the login limits, in seconds (at most a day).
    #[arg(
        long,
        env = "PULSEBOARD_LOGIN_WINDOW_SECS",
        default_value_t = AttemptLimit::PER_ACCOUNT.window.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=AttemptLimit::LONGEST_WINDOW.as_secs()),
        global = true
    )]
    pub login_window_secs: u64,
    /// Header a trusted proxy in front sets to the client's address (e.g. X-Forwarded-For,
    /// whose last entry is used). Unset: the connection's peer address. Set it only behind a
    /// proxy that overwrites or appends it, or clients can pick their own address.
    #[arg(long, env = "PULSEBOARD_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<HeaderName>,
    /// Events per second one sender (a user or a write key) may send on average, per server
    /// process; over it, 429 with Retry-After. 0: unlimited. Default: 5000 in production,
    /// unlimited in the embedded mode.
    #[arg(long, env = "PULSEBOARD_SENDER_EVENTS_PER_SEC", value_parser = non_negative, global = true)]
    pub sender_events_per_sec: Option<f64>,
    /// Events a sender may send at once beyond its rate. Default: 10 seconds of the rate.
    #[arg(long, env = "PULSEBOARD_SENDER_BURST_EVENTS", global = true)]
    pub sender_burst_events: Option<u64>,
    /// Log format.
    #[arg(long, env = "PULSEBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub worker: WorkerOptions,
}

/// A finite number ≥ 0.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("{text:?} is not a number ≥ 0")),
    }
}

/// What to do.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
}

impl Cli {
    /// The throttling these flags describe; the sender rate defaults by mode.
    fn throttle(&self) -> ThrottleSettings {
        let window = Duration::from_secs(self.login_window_secs);
        let limit = |max_attempts: u32| {
            (max_attempts > 0).then_some(AttemptLimit {
                max_attempts,
                window,
            })
        };
        let per_second = self
            .sender_events_per_sec
            .unwrap_or(if self.database_url.is_some() {
                DEFAULT_PRODUCTION_SENDER_EVENTS_PER_SEC
            } else {
                0.0
            });
        let sender_rate = (per_second > 0.0).then(|| Rate {
            per_second,
            burst: self
                .sender_burst_events
                .unwrap_or((per_second * DEFAULT_BURST_SECONDS) as u64)
                .max(1),
        });
        ThrottleSettings {
            login_per_account: limit(self.login_attempts_per_account),
            login_per_address: limit(self.login_attempts_per_address),
            client_ip_header: self.client_ip_header.clone(),
            sender_rate,
        }
    }

    /// The settings these flags describe.
    pub fn settings(&self) -> ServerSettings {
        ServerSettings {
            bind: self.bind,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            redis_url: self.redis_url.clone(),
            redis_queue: self.redis_queue.clone(),
            jwt_secret: self.jwt_secret.clone(),
            operator_token: self.operator_token.clone(),
            token_lifetime: Duration::from_secs(self.token_ttl_minutes * 60),
            max_body_bytes: self.max_body_bytes,
            max_batch_events: self.max_batch_events,
            max_sdk_body_bytes: self.max_sdk_body_bytes,
            max_backlog_events: self.max_backlog_events,
            db_pool_size: self.db_pool_size,
            migrate: self.migrate,
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
                body_read_timeout: Duration::from_secs(self.body_read_timeout_secs),
                max_connections: self.max_connections,
            },
            throttle: self.throttle(),
            worker: self.worker.clone(),
        }
    }
}
