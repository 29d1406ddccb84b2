//! A walk through PulseBoard's API from a client's side: register, log in, submit one event, a
//! batch of three and one event whose payload is too large, then wait for the worker to finish
//! each of them and print what it decided.
//!
//! Start a server, then run the example against it:
//!
//! ```text
//! cargo run --release -p pulseboard-server
//! cargo run --release --example example_usage
//! cargo run --release --example example_usage -- --base-url http://127.0.0.1:8099
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long the worker gets to finish every submitted event.
const PROCESSING_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks at an unfinished event.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Statuses after which the worker never touches an event again.
const FINAL_STATUSES: [&str; 3] = ["processed", "validation_error", "failed"];

/// Registers (or logs in), submits example events and shows how they were processed.
#[derive(Debug, Parser)]
struct Args {
    /// The server's base URL.
    #[arg(long, env = "PULSEBOARD_URL", default_value = "http://127.0.0.1:8000")]
    base_url: String,
    /// Account to use; default: a fresh `example+<unix-millis>@example.com`.
    #[arg(long)]
    email: Option<String>,
    /// Password of the account (at least 8 characters).
    #[arg(long, default_value = "ExamplePass123!")]
    password: String,
}

/// `POST /api/auth/login` answer.
#[derive(Debug, Deserialize)]
struct Token {
    access_token: String,
    expires_in: u64,
}

/// `POST /api/v1/events` answer.
#[derive(Debug, Deserialize)]
struct EventAccepted {
    event_id: i64,
    task_id: String,
}

/// `POST /api/v1/events/batch` answer.
#[derive(Debug, Deserialize)]
struct BatchAccepted {
    event_ids: Vec<i64>,
    task_id: String,
}

/// The fields of `GET /api/v1/events/{id}` this example shows (the payload is left out: one of
/// them is over a mebibyte).
#[derive(Debug, Deserialize)]
struct Event {
    id: i64,
    event_name: String,
    status: String,
    attempts: i64,
    processed_at: Option<String>,
    processing_error: Option<String>,
    properties: Option<Value>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let email = args.email.clone().unwrap_or_else(unique_email);
    let mut api = Api::new(&args.base_url)?;

    println!("== 1. Account ({email}) ==");
    api.register(&email, &args.password).await?;
    api.login(&email, &args.password).await?;

    println!("\n== 2. Submitting events ==");
    let mut ids = vec![api.submit_page_view().await?];
    ids.extend(api.submit_batch().await?);
    ids.push(api.submit_oversized().await?);

    println!("\n== 3. Waiting for the worker (up to {PROCESSING_TIMEOUT:?}) ==");
    let events = api.wait_until_final(&ids).await?;

    println!("\n== 4. Results ==");
    for (index, event) in events.iter().enumerate() {
        if index > 0 {
            println!();
        }
        // Only the first shows its properties: the others would repeat the same shape.
        print_event(event, index == 0);
    }
    Ok(())
}

/// A new address per run, so the example can run again without a 409.
fn unique_email() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    format!("example+{millis}@example.com")
}

/// A client of one server, logged in once [`Api::login`] succeeded.
struct Api {
    client: Client,
    base_url: String,
    token: Option<String>,
}

impl Api {
    fn new(base_url: &str) -> anyhow::Result<Self> {
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: None,
        })
    }

    async fn register(&self, email: &str, password: &str) -> anyhow::Result<()> {
        let body = json!({"email": email, "password": password, "full_name": "Example User"});
        let response = self
            .send(self.post("/api/auth/register").json(&body))
            .await?;
        if response.status() == StatusCode::CONFLICT {
            println!("already registered; logging in");
            return Ok(());
        }
        let user: Value = expect(response, StatusCode::CREATED, "registration").await?;
        let created_at = user["created_at"].as_str().unwrap_or("?");
        println!("registered user {} at {created_at}", user["id"]);
        Ok(())
    }

    async fn login(&mut self, email: &str, password: &str) -> anyhow::Result<()> {
        let body = json!({"email": email, "password": password});
        let response = self.send(self.post("/api/auth/login").json(&body)).await?;
        let token: Token = expect(response, StatusCode::OK, "login").await?;
        println!("logged in; token valid for {} s", token.expires_in);
        self.token = Some(token.access_token);
        Ok(())
    }

    /// The seed guide's page view.
    async fn submit_page_view(&self) -> anyhow::Result<i64> {
        let event = json!({
            "event_name": "page_view",
            "event_type": "engagement",
            "source": "web",
            "session_id": "sess_123",
            "payload": {"page": "/dashboard", "duration": 45, "scroll_depth": 75},
        });
        let accepted: EventAccepted = self.submit("/api/v1/events", &event).await?;
        println!(
            "page_view accepted: event {} (task {})",
            accepted.event_id, accepted.task_id
        );
        Ok(accepted.event_id)
    }

    /// The seed guide's batch: three events, one request, one job.
    async fn submit_batch(&self) -> anyhow::Result<Vec<i64>> {
        let batch = json!({"events": [
            {"event_name": "page_view", "event_type": "engagement", "payload": {"page": "/home"}},
            {"event_name": "button_click", "event_type": "interaction", "payload": {"button_id": "btn_1"}},
            {"event_name": "form_submit", "event_type": "conversion", "payload": {"form_id": "form_1"}},
        ]});
        let accepted: BatchAccepted = self.submit("/api/v1/events/batch", &batch).await?;
        println!(
            "batch accepted: events {:?} (task {})",
            accepted.event_ids, accepted.task_id
        );
        Ok(accepted.event_ids)
    }

    /// A 1.1 MiB payload: the API accepts it (the body limit is larger), and the worker rejects
    /// it against the 1 MiB payload limit, which shows how a `validation_error` looks.
    async fn submit_oversized(&self) -> anyhow::Result<i64> {
        let filler = "x".repeat(1_100 * 1024);
        let event = json!({
            "event_name": "oversized_upload",
            "event_type": "engagement",
            "payload": {"data": filler},
        });
        let accepted: EventAccepted = self.submit("/api/v1/events", &event).await?;
        println!(
            "oversized event accepted for now: event {} (the worker will reject it)",
            accepted.event_id
        );
        Ok(accepted.event_id)
    }

    async fn submit<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<T> {
        let response = self.send(self.authorized_post(path).json(body)).await?;
        expect(response, StatusCode::ACCEPTED, path).await
    }

    /// Polls every event until all are final; fails naming the stragglers after the timeout.
    async fn wait_until_final(&self, ids: &[i64]) -> anyhow::Result<Vec<Event>> {
        let deadline = Instant::now() + PROCESSING_TIMEOUT;
        loop {
            let mut events = Vec::with_capacity(ids.len());
            for id in ids {
                events.push(self.get_event(*id).await?);
            }
            let pending: Vec<String> = events
                .iter()
                .filter(|event| !is_final(&event.status))
                .map(|event| format!("{} ({})", event.id, event.status))
                .collect();
            if pending.is_empty() {
                println!("all {} events are final", events.len());
                return Ok(events);
            }
            if Instant::now() >= deadline {
                bail!(
                    "events still unfinished after {PROCESSING_TIMEOUT:?}: {}; is the server's worker running?",
                    pending.join(", ")
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn get_event(&self, id: i64) -> anyhow::Result<Event> {
        let request = self.authorize(self.client.get(self.url(&format!("/api/v1/events/{id}"))));
        let response = self.send(request).await?;
        expect(response, StatusCode::OK, &format!("reading event {id}")).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    fn authorized_post(&self, path: &str) -> RequestBuilder {
        self.authorize(self.post(path))
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request, turning "nobody listens there" into advice instead of a socket error.
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        request.send().await.map_err(|error| {
            if error.is_connect() {
                anyhow!(
                    "cannot reach PulseBoard at {}: is the server running? start it with \
                     cargo run --release -p pulseboard-server ({error})",
                    self.base_url
                )
            } else {
                anyhow!("request to {} failed: {error}", self.base_url)
            }
        })
    }
}

/// Decodes a response with the `expected` status, or fails with the server's `detail`.
async fn expect<T: serde::de::DeserializeOwned>(
    response: Response,
    expected: StatusCode,
    what: &str,
) -> anyhow::Result<T> {
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("{what}: cannot read the response body"))?;
    if status != expected {
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|body| body.get("detail").map(describe_detail))
            .unwrap_or(text);
        bail!("{what} failed with HTTP {status}: {detail}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: unexpected response body"))
}

/// `"Incorrect email or password"`, or a 422's issue list as `password: String should have …`.
fn describe_detail(detail: &Value) -> String {
    match detail {
        Value::String(message) => message.clone(),
        Value::Array(issues) => issues
            .iter()
            .map(|issue| {
                let field = issue["loc"].as_array().and_then(|loc| loc.last());
                let field = field.map_or_else(String::new, |field| match field {
                    Value::String(name) => format!("{name}: "),
                    other => format!("{other}: "),
                });
                format!("{field}{}", issue["msg"].as_str().unwrap_or("invalid"))
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn is_final(status: &str) -> bool {
    FINAL_STATUSES.contains(&status)
}

fn print_event(event: &Event, with_properties: bool) {
    println!("event {} ({})", event.id, event.event_name);
    println!("  status:           {}", event.status);
    println!("  attempts:         {}", event.attempts);
    println!(
        "  processed_at:     {}",
        event.processed_at.as_deref().unwrap_or("-")
    );
    println!(
        "  processing_error: {}",
        event.processing_error.as_deref().unwrap_or("-")
    );
    if with_properties {
        let properties = event
            .properties
            .as_ref()
            .and_then(|properties| serde_json::to_string_pretty(properties).ok())
            .unwrap_or_else(|| "-".to_owned());
        println!("  properties:       {}", properties.replace('\n', "\n  "));
    }
}
