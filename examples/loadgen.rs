//! An HTTP load generator for PulseBoard (the role locust had in the original project).
//!
//! It registers and logs in a few users, then runs `--concurrency` clients that submit events
//! (one per request, or `--batch-size` per batch request) as fast as the server answers, for
//! `--duration` seconds. It reports throughput, latency percentiles and errors, then waits until
//! the worker has finished every accepted event and reports the end-to-end rate. The last line,
//! `SUMMARY {...}`, is JSON for scripts.
//!
//! In the benchmark it shares the CPU with the server, so its load phase is lean: each client
//! owns one plain HTTP/1.1 connection (hyper, no shared pool) and serializes typed bodies. That
//! took its CPU per request from about 60 µs (reqwest and `serde_json::Value`) to 25 µs.
//!
//! Start a server, then:
//!
//! ```text
//! cargo run --release -p pulseboard-server
//! cargo run --release --example loadgen -- --concurrency 64 --duration 20
//! cargo run --release --example loadgen -- --mode batch --batch-size 100
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use reqwest::{Client, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// Password of the load-test users.
const PASSWORD: &str = "LoadgenPass123!";
/// Statuses of events the worker has not finished, in the order an event passes through them:
/// checking them in this order means an event moving on during a round is still seen later in it.
const UNFINISHED_STATUSES: [&str; 3] = ["enqueued", "processing", "retrying"];
/// Pause between two checks of the backlog while draining.
const DRAIN_POLL: Duration = Duration::from_millis(200);
/// Pause after a connection error, so a dead server is not hammered in a tight loop.
const CONNECTION_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// The server's batch limit.
const MAX_BATCH_SIZE: usize = 1_000;
/// Key under which transport failures (refused, reset, timed out) are counted.
const CONNECTION_ERROR: &str = "connection";
/// Longest wait for one load request's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Load-tests a running PulseBoard server.
#[derive(Debug, Clone, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, env = "PULSEBOARD_URL", default_value = "http://127.0.0.1:8000")]
    base_url: String,
    /// Concurrent clients, each with at most one request in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: u64,
    /// Length of the load phase, in seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// One event per request, or batches of `--batch-size`.
    #[arg(long, value_enum, default_value_t = Mode::Single)]
    mode: Mode,
    /// Events per batch request (batch mode).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH_SIZE as u64))]
    batch_size: u64,
    /// Users registered up front; clients share their tokens (password hashing is slow on
    /// purpose, so logging in per request would measure argon2, not ingestion).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    users: u64,
    /// Do not wait for the worker to finish the accepted events.
    #[arg(long)]
    no_wait: bool,
    /// Give every event a message id, and resend a request that got no answer, a 503 or a 429, with
    /// the same ids, until it is answered (at most `--wait-timeout` seconds past the load
    /// phase): a retrying client, whose events must be stored exactly once whatever happens
    /// to the server meanwhile.
    #[arg(long)]
    message_ids: bool,
    /// Send events the API must refuse (U+0000 in `event_name`, 422), to measure what a
    /// hostile client costs the others when run beside a normal load. Implies `--no-wait`.
    #[arg(long)]
    poison: bool,
    /// Longest wait for the worker to finish, in seconds.
    #[arg(long, default_value_t = 300)]
    wait_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `POST /api/v1/events`, one event per request.
    Single,
    /// `POST /api/v1/events/batch`, `--batch-size` events per request.
    Batch,
    /// `POST /v1/batch` (Segment's protocol), `--batch-size` track messages per request,
    /// gzip, with a write key as the Basic user, and a `messageId` on every message, as
    /// Segment's and RudderStack's SDKs send them.
    Segment,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Batch => "batch",
            Self::Segment => "segment",
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when the worker did not finish within `--wait-timeout`.
async fn run(args: Args) -> anyhow::Result<bool> {
    let client = http_client(&args)?;
    let base_url = args.base_url.trim_end_matches('/').to_owned();
    eprintln!("logging in {} users at {base_url} ...", args.users);
    let tokens = log_in_users(&client, &base_url, args.users).await?;

    eprintln!(
        "load: {} clients, {} mode, {} s",
        args.concurrency,
        args.mode.name(),
        args.duration
    );
    let credentials = match args.mode {
        Mode::Segment => segment_credentials(&client, &base_url, &tokens).await?,
        Mode::Single | Mode::Batch => tokens
            .iter()
            .map(|token| format!("Bearer {token}"))
            .collect(),
    };
    let target = LoadTarget::new(&base_url, &credentials)?;
    let load = Arc::new(Load {
        client,
        base_url,
        tokens,
        target,
        mode: args.mode,
        batch_size: args.batch_size as usize,
        event_name: if args.poison {
            "page\u{0}view"
        } else {
            "page_view"
        },
        message_id_prefix: (args.message_ids || args.mode == Mode::Segment)
            .then(|| format!("lg-{}", unique_suffix())),
        resend_until: Instant::now() + Duration::from_secs(args.duration + args.wait_timeout),
        deadline: Instant::now() + Duration::from_secs(args.duration),
        live: LiveCounters::default(),
    });
    let report = run_load(&load, args.concurrency).await;
    print_report(&report);

    let drain_outcome = if args.no_wait || args.poison {
        None
    } else {
        let timeout = Duration::from_secs(args.wait_timeout);
        Some(drain(&load, timeout).await)
    };
    if let Some(outcome) = drain_outcome {
        print_drain(&report, outcome);
    }
    let drained_in = drain_outcome.and_then(Result::ok);
    println!("SUMMARY {}", summary(&args, &report, drained_in));
    Ok(drain_outcome.is_none_or(|outcome| outcome.is_ok()))
}

/// One client shared by every task: its pool keeps a warm connection per task.
fn http_client(args: &Args) -> anyhow::Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(args.concurrency as usize)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")
}

// ----- Users -------------------------------------------------------------------------------------

/// Milliseconds since the epoch: tells this run's users and message ids from earlier runs'.
fn unique_suffix() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis())
}

/// Registers and logs in `count` fresh users at once; returns their bearer tokens.
async fn log_in_users(client: &Client, base_url: &str, count: u64) -> anyhow::Result<Vec<String>> {
    let run_id = unique_suffix();
    let mut logins = tokio::task::JoinSet::new();
    for index in 0..count {
        let email = format!("loadgen+{run_id}-{index}@example.com");
        let (client, base_url) = (client.clone(), base_url.to_owned());
        logins.spawn(async move { register_and_log_in(&client, &base_url, &email).await });
    }
    let mut tokens = Vec::new();
    while let Some(joined) = logins.join_next().await {
        tokens.push(joined.context("a login task panicked")??);
    }
    Ok(tokens)
}

async fn register_and_log_in(
    client: &Client,
    base_url: &str,
    email: &str,
) -> anyhow::Result<String> {
    let body = json!({"email": email, "password": PASSWORD, "full_name": "Load Generator"});
    let response = client
        .post(format!("{base_url}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .map_err(|error| unreachable_server(base_url, &error))?;
    // 409: left over from an earlier run with the same name; its password is ours too.
    if !matches!(
        response.status(),
        StatusCode::CREATED | StatusCode::CONFLICT
    ) {
        bail!("registering {email}: {}", describe_failure(response).await);
    }
    let body = json!({"email": email, "password": PASSWORD});
    let response = client
        .post(format!("{base_url}/api/auth/login"))
        .json(&body)
        .send()
        .await
        .map_err(|error| unreachable_server(base_url, &error))?;
    if response.status() != StatusCode::OK {
        bail!("logging in {email}: {}", describe_failure(response).await);
    }
    #[derive(Deserialize)]
    struct Token {
        access_token: String,
    }
    let token: Token = response.json().await.context("login answer")?;
    Ok(token.access_token)
}

/// `Basic <write key>:` for each user: a write key created with the user's token.
async fn segment_credentials(
    client: &Client,
    base_url: &str,
    tokens: &[String],
) -> anyhow::Result<Vec<String>> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct Created {
        write_key: String,
    }
    let mut credentials = Vec::with_capacity(tokens.len());
    for token in tokens {
        let response = client
            .post(format!("{base_url}/api/v1/write-keys"))
            .bearer_auth(token)
            .json(&json!({"name": "loadgen"}))
            .send()
            .await
            .map_err(|error| unreachable_server(base_url, &error))?;
        if response.status() != StatusCode::CREATED {
            bail!("creating a write key: {}", describe_failure(response).await);
        }
        let created: Created = response.json().await.context("write key answer")?;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", created.write_key));
        credentials.push(format!("Basic {encoded}"));
    }
    Ok(credentials)
}

fn unreachable_server(base_url: &str, error: &reqwest::Error) -> anyhow::Error {
    if error.is_connect() {
        anyhow!(
            "cannot reach PulseBoard at {base_url}: is the server running? start it with \
             cargo run --release -p pulseboard-server ({error})"
        )
    } else {
        anyhow!("request to {base_url} failed: {error}")
    }
}

/// `HTTP 503: {"detail": ...}`, for error messages.
async fn describe_failure(response: reqwest::Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    format!("HTTP {status}: {body}")
}

// ----- Load phase --------------------------------------------------------------------------------

/// What every load task shares.
struct Load {
    client: Client,
    base_url: String,
    tokens: Vec<String>,
    target: LoadTarget,
    mode: Mode,
    batch_size: usize,
    /// `page_view`, or a name with U+0000 in `--poison` mode.
    event_name: &'static str,
    /// `--message-ids`: the prefix of this run's message ids, unique per run.
    message_id_prefix: Option<String>,
    /// `--message-ids`: the last moment a request is resent.
    resend_until: Instant,
    deadline: Instant,
    live: LiveCounters,
}

/// Totals the progress line reads while the tasks run.
#[derive(Default)]
struct LiveCounters {
    /// Numbers requests across all tasks, so every payload carries a unique index.
    next_request: AtomicU64,
    accepted_events: AtomicU64,
    errors: AtomicU64,
}

/// What one task saw; merged into one at the end, so tasks never contend on a lock.
#[derive(Debug, Default)]
struct TaskStats {
    requests: u64,
    accepted_events: u64,
    /// Events in 202 answers, each request counted once (stored now, or stored before: a
    /// resent request's events may have been committed before the answer was lost).
    acknowledged_events: u64,
    /// Of those, the ones the server had stored before (`duplicate`).
    duplicate_events: u64,
    /// `--message-ids`: requests given up unanswered at `--wait-timeout`.
    unacknowledged_requests: u64,
    /// Microseconds from sending to the end of the response body, of every answered request.
    latencies_us: Vec<u64>,
    /// HTTP status (or [`CONNECTION_ERROR`]) → count, for every request not accepted.
    errors: BTreeMap<String, u64>,
}

impl TaskStats {
    fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        self.accepted_events += other.accepted_events;
        self.acknowledged_events += other.acknowledged_events;
        self.duplicate_events += other.duplicate_events;
        self.unacknowledged_requests += other.unacknowledged_requests;
        self.latencies_us.extend(other.latencies_us);
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
    }
}

/// The merged result of the load phase.
struct LoadReport {
    mode: Mode,
    concurrency: u64,
    /// From the first request to the last task's last answer (the last requests may end a little
    /// after the deadline; rates use this real time).
    elapsed: Duration,
    stats: TaskStats,
    /// Sorted, for percentiles.
    latencies_us: Vec<u64>,
}

async fn run_load(load: &Arc<Load>, concurrency: u64) -> LoadReport {
    let started = Instant::now();
    let progress = tokio::spawn(show_progress(load.clone(), started));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..concurrency {
        tasks.spawn(run_client(load.clone(), index as usize));
    }
    let mut stats = TaskStats::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(task) => stats.merge(task),
            Err(error) => eprintln!("\na load task failed: {error}"),
        }
    }
    let elapsed = started.elapsed();
    progress.abort();
    eprintln!();
    let mut latencies_us = std::mem::take(&mut stats.latencies_us);
    latencies_us.sort_unstable();
    LoadReport {
        mode: load.mode,
        concurrency,
        elapsed,
        stats,
        latencies_us,
    }
}

/// One client: sends requests back to back until the deadline. With `--message-ids` a request
/// that got no answer, a 503 or a 429 is sent again, with the same ids, until it is answered.
async fn run_client(load: Arc<Load>, index: usize) -> TaskStats {
    let authorization = &load.target.authorizations[index % load.target.authorizations.len()];
    let session_id = format!("loadgen-{index}");
    let mut connection = LoadConnection::default();
    let mut stats = TaskStats::default();
    while Instant::now() < load.deadline {
        let sequence = load.live.next_request.fetch_add(1, Ordering::Relaxed);
        loop {
            let started = Instant::now();
            let request = load_request(&load, authorization, &session_id, sequence);
            let outcome = connection
                .send(&load.target, request, load.batch_size as u64)
                .await;
            stats.requests += 1;
            let wait = match outcome {
                Outcome::Accepted(answer) => {
                    stats.latencies_us.push(micros(started.elapsed()));
                    record_accepted(&load, &mut stats, answer);
                    break;
                }
                Outcome::Refused {
                    status,
                    retry_after,
                } => {
                    stats.latencies_us.push(micros(started.elapsed()));
                    count_error(&load, &mut stats, status.as_u16().to_string());
                    // A 503 or a 429 asks us to back off: hammering on would only measure how
                    // fast the server says no.
                    let retried = [
                        StatusCode::SERVICE_UNAVAILABLE,
                        StatusCode::TOO_MANY_REQUESTS,
                    ];
                    match retry_after {
                        Some(wait) if retried.contains(&status) => wait,
                        Some(wait) => {
                            pause_until_deadline(&load, wait).await;
                            break;
                        }
                        None => break,
                    }
                }
                Outcome::ConnectionError => {
                    count_error(&load, &mut stats, CONNECTION_ERROR.to_owned());
                    CONNECTION_ERROR_PAUSE
                }
            };
            if load.message_id_prefix.is_none() {
                pause_until_deadline(&load, wait).await;
                break;
            }
            if Instant::now() + wait > load.resend_until {
                stats.unacknowledged_requests += 1;
                break;
            }
            tokio::time::sleep(wait).await;
        }
    }
    stats
}

fn record_accepted(load: &Load, stats: &mut TaskStats, answer: AcceptedAnswer) {
    let stored = answer.events - answer.duplicates;
    stats.accepted_events += stored;
    stats.acknowledged_events += answer.events;
    stats.duplicate_events += answer.duplicates;
    load.live
        .accepted_events
        .fetch_add(stored, Ordering::Relaxed);
}

enum Outcome {
    /// 202.
    Accepted(AcceptedAnswer),
    /// Any other HTTP answer.
    Refused {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// No complete HTTP answer.
    ConnectionError,
}

/// The next request of a client: one event, or a batch of `--batch-size`.
fn load_request(
    load: &Load,
    authorization: &HeaderValue,
    session_id: &str,
    sequence: u64,
) -> Request<Full<Bytes>> {
    let event = |item| {
        let message_id = load
            .message_id_prefix
            .as_ref()
            .map(|prefix| format!("{prefix}-{sequence}-{item}"));
        LoadEvent::new(load.event_name, session_id, sequence, item, message_id)
    };
    let (path, body) = match load.mode {
        Mode::Single => ("/api/v1/events", serde_json::to_vec(&event(0))),
        Mode::Batch => {
            let events = (0..load.batch_size).map(event).collect();
            (
                "/api/v1/events/batch",
                serde_json::to_vec(&LoadBatch { events }),
            )
        }
        Mode::Segment => {
            let batch = (0..load.batch_size)
                .map(|item| SegmentTrack::from(event(item)))
                .collect();
            let body = serde_json::to_vec(&SegmentBatch { batch }).map(|json| gzip(&json));
            ("/v1/batch", body)
        }
    };
    // Serializing these plain structs cannot fail; an empty body would be answered with 422.
    let mut request = Request::new(Full::new(Bytes::from(body.unwrap_or_default())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from_static(path);
    let headers = request.headers_mut();
    if load.mode == Mode::Segment {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(HOST, load.target.host.clone());
    headers.insert(AUTHORIZATION, authorization.clone());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    request
}

/// A small realistic event, like the seed guide's page view, traceable to its request.
#[derive(Serialize)]
struct LoadEvent<'a> {
    event_name: &'static str,
    event_type: &'static str,
    source: &'static str,
    session_id: &'a str,
    payload: PageView,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
}

#[derive(Serialize)]
struct PageView {
    page: &'static str,
    duration: u32,
    scroll_depth: u32,
    request: u64,
    item: usize,
}

#[derive(Serialize)]
struct LoadBatch<'a> {
    events: Vec<LoadEvent<'a>>,
}

/// The load event as a Segment track message, shaped as analytics-python sends one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SegmentTrack<'a> {
    r#type: &'static str,
    event: &'static str,
    message_id: Option<String>,
    anonymous_id: &'a str,
    timestamp: &'static str,
    properties: PageView,
    context: SegmentContext,
}

#[derive(Serialize)]
struct SegmentContext {
    library: SegmentLibrary,
}

#[derive(Serialize)]
struct SegmentLibrary {
    name: &'static str,
    version: &'static str,
}

impl<'a> From<LoadEvent<'a>> for SegmentTrack<'a> {
    fn from(event: LoadEvent<'a>) -> Self {
        Self {
            r#type: "track",
            event: event.event_name,
            message_id: event.message_id,
            anonymous_id: event.session_id,
            timestamp: "2026-11-30T10:00:00.000000+00:00",
            properties: event.payload,
            context: SegmentContext {
                library: SegmentLibrary {
                    name: "loadgen",
                    version: "1.0",
                },
            },
        }
    }
}

#[derive(Serialize)]
struct SegmentBatch<'a> {
    batch: Vec<SegmentTrack<'a>>,
}

/// Gzip at the fastest level: the load generator's CPU is not the figure measured.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    let written = encoder.write_all(bytes);
    written.and_then(|()| encoder.finish()).unwrap_or_default()
}

impl<'a> LoadEvent<'a> {
    fn new(
        event_name: &'static str,
        session_id: &'a str,
        sequence: u64,
        item: usize,
        message_id: Option<String>,
    ) -> Self {
        const PAGES: [&str; 4] = ["/home", "/dashboard", "/pricing", "/docs"];
        Self {
            event_name,
            event_type: "engagement",
            source: "loadgen",
            session_id,
            payload: PageView {
                page: PAGES[(sequence as usize + item) % PAGES.len()],
                duration: 45,
                scroll_depth: 75,
                request: sequence,
                item,
            },
            message_id,
        }
    }
}

/// Where the load requests go: the server's address and the headers every request carries.
struct LoadTarget {
    /// `host:port`, for connecting.
    address: String,
    host: HeaderValue,
    /// `Bearer <token>` (or a write key's `Basic` credential) of each user.
    authorizations: Vec<HeaderValue>,
}

impl LoadTarget {
    /// `credentials`: the `Authorization` value of each user.
    fn new(base_url: &str, credentials: &[String]) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(base_url).with_context(|| format!("base URL {base_url}"))?;
        if url.scheme() != "http" {
            bail!("the load phase speaks plain HTTP/1.1 only; use an http:// base URL");
        }
        let host = url.host_str().context("the base URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let authorizations = credentials
            .iter()
            .map(|credential| HeaderValue::try_from(credential.as_str()))
            .collect::<Result<_, _>>()
            .context("a credential is not a valid header value")?;
        Ok(Self {
            address: format!("{host}:{port}"),
            host: HeaderValue::try_from(format!("{host}:{port}"))?,
            authorizations,
        })
    }
}

/// One load client's own HTTP/1.1 connection, opened on first use and again after a failure.
/// Each client owns its connection, so the clients never contend on a shared pool, and the load
/// generator spends as little of the shared CPU as it can.
#[derive(Default)]
struct LoadConnection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl LoadConnection {
    /// Sends one request of `batch_size` events.
    async fn send(
        &mut self,
        target: &LoadTarget,
        request: Request<Full<Bytes>>,
        batch_size: u64,
    ) -> Outcome {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            self.sender = open_connection(target).await;
        }
        let Some(sender) = self.sender.as_mut() else {
            return Outcome::ConnectionError;
        };
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            sender.ready().await.ok()?;
            let (parts, body) = sender.send_request(request).await.ok()?.into_parts();
            // The body is always read to the end: only then can the connection carry the next.
            let body = body.collect().await.ok()?.to_bytes();
            Some((parts.status, parts.headers, body))
        })
        .await;
        let Ok(Some((status, headers, body))) = answer else {
            self.sender = None;
            return Outcome::ConnectionError;
        };
        match status {
            StatusCode::ACCEPTED => Outcome::Accepted(accepted_answer(&body)),
            // The SDK protocols answer exactly 200 and say nothing of duplicates.
            StatusCode::OK => Outcome::Accepted(AcceptedAnswer {
                events: batch_size,
                duplicates: 0,
            }),
            _ => Outcome::Refused {
                status,
                retry_after: retry_after(&headers),
            },
        }
    }
}

async fn open_connection(target: &LoadTarget) -> Option<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.address).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// What a 202 said: how many events it covers, and how many of them were stored before.
struct AcceptedAnswer {
    events: u64,
    duplicates: u64,
}

/// Reads a 202: a batch answer counts its events and lists its duplicates; a single-event
/// answer stands for one, a duplicate or not.
fn accepted_answer(body: &[u8]) -> AcceptedAnswer {
    #[derive(Deserialize)]
    struct Accepted {
        event_count: Option<u64>,
        #[serde(default)]
        duplicate_positions: Vec<u64>,
        #[serde(default)]
        duplicate: bool,
    }
    match serde_json::from_slice::<Accepted>(body) {
        Ok(answer) => AcceptedAnswer {
            events: answer.event_count.unwrap_or(1),
            duplicates: (answer.duplicate_positions.len() as u64) + u64::from(answer.duplicate),
        },
        Err(_) => AcceptedAnswer {
            events: 1,
            duplicates: 0,
        },
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn count_error(load: &Load, stats: &mut TaskStats, key: String) {
    *stats.errors.entry(key).or_default() += 1;
    load.live.errors.fetch_add(1, Ordering::Relaxed);
}

/// Sleeps `wait`, but never past the end of the load phase.
async fn pause_until_deadline(load: &Load, wait: Duration) {
    let until = (Instant::now() + wait).min(load.deadline);
    tokio::time::sleep_until(until.into()).await;
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Rewrites one stderr line every second until aborted.
async fn show_progress(load: Arc<Load>, started: Instant) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut previous = 0;
    loop {
        ticker.tick().await;
        let accepted = load.live.accepted_events.load(Ordering::Relaxed);
        let errors = load.live.errors.load(Ordering::Relaxed);
        eprint!(
            "\r[{:>4.0} s] accepted {accepted:>9} events | {:>8} events/s | errors {errors:<8}",
            started.elapsed().as_secs_f64(),
            accepted - previous,
        );
        let _ = std::io::stderr().flush();
        previous = accepted;
    }
}

// ----- Drain phase -------------------------------------------------------------------------------

/// Waits until no user has an unfinished event. `Ok(time taken)`, or `Err(timeout)`.
async fn drain(load: &Load, timeout: Duration) -> Result<Duration, Duration> {
    eprintln!("waiting for the worker to finish every accepted event ...");
    let started = Instant::now();
    let outcome = loop {
        if nothing_unfinished(load).await {
            break Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            break Err(timeout);
        }
        eprint!(
            "\r[{:>5.1} s] events still unfinished",
            started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        tokio::time::sleep(DRAIN_POLL).await;
    };
    eprintln!();
    outcome
}

/// One round of `limit=1` listings per user and unfinished status. Stops at the first hit: while
/// the worker is busy, one query per round is enough and leaves the store to the worker.
/// A failed query counts as "not yet": the server may be busy, and the timeout still applies.
async fn nothing_unfinished(load: &Load) -> bool {
    for token in &load.tokens {
        for status in UNFINISHED_STATUSES {
            if has_events(load, token, status).await != Some(false) {
                return false;
            }
        }
    }
    true
}

/// `Some(true)` if the user has an event in `status`, `None` if the server did not say.
async fn has_events(load: &Load, token: &str, status: &str) -> Option<bool> {
    #[derive(Deserialize)]
    struct Page {
        items: Vec<serde::de::IgnoredAny>,
    }
    let url = format!("{}/api/v1/events", load.base_url);
    let response = load
        .client
        .get(url)
        .query(&[("status", status), ("limit", "1")])
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    let page: Page = response.json().await.ok()?;
    Some(!page.items.is_empty())
}

// ----- Reporting ---------------------------------------------------------------------------------

/// Nearest-rank percentile of sorted latencies, in milliseconds.
fn percentile_ms(sorted_us: &[u64], percent: f64) -> Option<f64> {
    let rank = (percent / 100.0 * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len().max(1)) - 1;
    sorted_us.get(index).map(|&us| us as f64 / 1000.0)
}

fn events_per_second(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

fn print_report(report: &LoadReport) {
    let stats = &report.stats;
    let ms = |percent| {
        percentile_ms(&report.latencies_us, percent).map_or("n/a".to_owned(), |v| format!("{v:.2}"))
    };
    println!("mode:                  {}", report.mode.name());
    println!("concurrency:           {}", report.concurrency);
    println!(
        "load duration:         {:.2} s",
        report.elapsed.as_secs_f64()
    );
    println!("requests:              {}", stats.requests);
    println!("accepted events:       {}", stats.accepted_events);
    println!(
        "accepted events/s:     {:.1}",
        events_per_second(stats.accepted_events, report.elapsed)
    );
    println!(
        "latency ms:            p50 {}  p95 {}  p99 {}  max {}",
        ms(50.0),
        ms(95.0),
        ms(99.0),
        ms(100.0)
    );
    let errors: Vec<String> = stats
        .errors
        .iter()
        .map(|(kind, count)| format!("{kind}: {count}"))
        .collect();
    let errors = if errors.is_empty() {
        "none".to_owned()
    } else {
        errors.join(", ")
    };
    println!("errors:                {errors} (HTTP status or connection)");
}

fn print_drain(report: &LoadReport, outcome: Result<Duration, Duration>) {
    match outcome {
        Ok(drained_in) => {
            let total = report.elapsed + drained_in;
            println!(
                "drained in:            {:.2} s after the load phase",
                drained_in.as_secs_f64()
            );
            println!(
                "end-to-end events/s:   {:.1} (accepted events / (load + drain time))",
                events_per_second(report.stats.accepted_events, total)
            );
        }
        Err(timeout) => println!(
            "worker still busy after {} s (--wait-timeout); no end-to-end rate",
            timeout.as_secs()
        ),
    }
}

/// The machine-readable line: rates and times rounded for readability.
fn summary(args: &Args, report: &LoadReport, drained_in: Option<Duration>) -> Value {
    let stats = &report.stats;
    let round = |value: f64, places: i32| {
        let scale = 10f64.powi(places);
        (value * scale).round() / scale
    };
    let ms = |percent| percentile_ms(&report.latencies_us, percent).map(|v| round(v, 3));
    let e2e = drained_in.map(|drain| {
        round(
            events_per_second(stats.accepted_events, report.elapsed + drain),
            1,
        )
    });
    json!({
        "mode": args.mode.name(),
        "concurrency": args.concurrency,
        "duration_s": round(report.elapsed.as_secs_f64(), 3),
        "requests": stats.requests,
        "accepted_events": stats.accepted_events,
        "acknowledged_events": stats.acknowledged_events,
        "duplicate_events": stats.duplicate_events,
        "unacknowledged_requests": stats.unacknowledged_requests,
        "accepted_events_per_s": round(events_per_second(stats.accepted_events, report.elapsed), 1),
        "p50_ms": ms(50.0),
        "p95_ms": ms(95.0),
        "p99_ms": ms(99.0),
        "max_ms": ms(100.0),
        "errors": stats.errors,
        "drain_s": drained_in.map(|drain| round(drain.as_secs_f64(), 3)),
        "e2e_events_per_s": e2e,
    })
}
