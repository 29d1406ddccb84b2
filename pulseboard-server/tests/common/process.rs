//! Real binaries on real sockets: the server (and workers) as an operator starts them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// A running binary whose output goes to a log file; killed on drop.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal by name (`-STOP`, `-CONT`, `-KILL`) with `kill`.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {name} {pid}");
    }
}

/// The environment of a production server and worker: a fresh PostgreSQL database, the test
/// Redis with a queue of its own (named after `queue_prefix`), and a JWT secret.
pub async fn production_env(queue_prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "DATABASE_URL",
            pulseboard_test_support::fresh_postgres_url().await,
        ),
        ("REDIS_URL", super::redis_url()),
        (
            "PULSEBOARD_REDIS_QUEUE",
            format!("{queue_prefix}_{}", ulid::Ulid::generate()),
        ),
        (
            "PULSEBOARD_JWT_SECRET",
            "an-end-to-end-secret-long-enough-0123456789".to_owned(),
        ),
    ]
}

/// A port free right now, for servers that cannot report the one they bound (the tests'
/// own Redis). Another process may take it before it is used, so prefer port 0.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `pulseboard-worker` binary, built next to the server binary by `cargo test --workspace`.
#[track_caller]
pub fn worker_binary() -> PathBuf {
    let path =
        Path::new(env!("CARGO_BIN_EXE_pulseboard-server")).with_file_name("pulseboard-worker");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p pulseboard-worker` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The `loadgen` example, built by `scripts/test.sh` before the tests.
#[track_caller]
pub fn loadgen_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_pulseboard-server"))
        .with_file_name("examples")
        .join("loadgen");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p pulseboard --example loadgen` (scripts/test.sh does)",
        path.display()
    );
    path
}

pub fn spawn(binary: &Path, env: &[(&str, String)], log: PathBuf) -> Process {
    let file = std::fs::File::create(&log).expect("log file");
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        // A group of its own: a test that stops it (SIGSTOP) must not stop the job of a shell
        // with job control that runs the suite.
        .process_group(0)
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    Process {
        child: command.spawn().expect("binary starts"),
        log,
    }
}

/// Starts `pulseboard-server` with `env` on a port the system picks, and waits for `/health`.
/// The server binds port 0 itself and the port is read from its log: a port found free
/// beforehand could be taken by another test before the server binds it.
pub async fn spawn_server(env: &[(&str, String)], dir: &Path) -> (Process, String) {
    let log = dir.join(format!("server-{}.log", ulid::Ulid::generate()));
    let server = start_server("127.0.0.1:0", env, log);
    let started = Instant::now();
    let address = loop {
        if let Some(address) = listening_address(&server.log_text()) {
            break address;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not listen in 60 s:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let base = format!("http://{address}");
    wait_healthy(&server, &base).await;
    (server, base)
}

/// Starts `pulseboard-server` with `env` on `port` (a restart on the port a killed server
/// had) and waits for `/health`.
pub async fn spawn_server_on(port: u16, env: &[(&str, String)], dir: &Path) -> (Process, String) {
    let address = format!("127.0.0.1:{port}");
    let server = start_server(&address, env, dir.join(format!("server-{port}.log")));
    let base = format!("http://{address}");
    wait_healthy(&server, &base).await;
    (server, base)
}

fn start_server(bind: &str, env: &[(&str, String)], log: PathBuf) -> Process {
    let mut env = env.to_vec();
    env.push(("PULSEBOARD_BIND", bind.to_owned()));
    spawn(
        Path::new(env!("CARGO_BIN_EXE_pulseboard-server")),
        &env,
        log,
    )
}

/// The address of the server's `PulseBoard listening address=…` log line.
fn listening_address(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|line| line.contains("PulseBoard listening"))?;
    let address = line.split("address=").nth(1)?.split_whitespace().next()?;
    Some(address.to_owned())
}

async fn wait_healthy(server: &Process, base: &str) {
    let started = Instant::now();
    while reqwest::get(format!("{base}/health")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not answer in 60 s:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `pulseboard_events_accepted_total` from the server's `/metrics` (0 if it does not answer).
pub async fn accepted_total(base: &str) -> u64 {
    let Ok(response) = reqwest::get(format!("{base}/metrics")).await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("pulseboard_events_accepted_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A client of a running server, logged in as a fresh user.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Client {
    pub async fn register_and_login(base: &str, email: &str) -> Self {
        let credentials =
            json!({"email": email, "password": "TestPass123!", "full_name": "Test User"});
        let registered = reqwest::Client::new()
            .post(format!("{base}/api/auth/register"))
            .json(&credentials)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
        Self::login(base, email).await
    }

    /// Logs in a registered user (password `TestPass123!`); panics unless it succeeds.
    pub async fn login(base: &str, email: &str) -> Self {
        let http = reqwest::Client::new();
        let login = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": email, "password": "TestPass123!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200, "login of {email}");
        let login: Value = login.json().await.unwrap();
        let token = login["access_token"].as_str().expect("token").to_owned();
        Self {
            http,
            base: base.to_owned(),
            token,
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// Polls an event until it is final (panics after `timeout`).
    pub async fn wait_final(&self, id: i64, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (status, event) = self.get(&format!("/api/v1/events/{id}")).await;
            if status == 200
                && ["processed", "validation_error", "failed"]
                    .contains(&event["status"].as_str().unwrap_or(""))
            {
                return event;
            }
            assert!(
                started.elapsed() < timeout,
                "event {id} not final after {timeout:?}: {event}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
