//! Test harness: the real app over a real store, driven with `oneshot`.
//! `embedded()` is SQLite + the in-process worker; `production()` is a fresh PostgreSQL database
//! + a Redis queue of its own, with a Redis worker running in the test.
#![allow(dead_code, unreachable_pub)]

pub mod process;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pulseboard_server::{Pulseboard, Secret, ServerSettings};
use pulseboard_test_support::fresh_postgres_url;
use pulseboard_worker::{
    RedisQueue, RedisSettings, WorkerMetrics, WorkerOptions, WorkerRunSettings, run_redis_worker,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub use pulseboard_test_support::redis_url;

pub struct TestApp {
    pub router: Router,
    pub server: Option<Pulseboard>,
    pub settings: ServerSettings,
    worker_stop: Option<CancellationToken>,
    _dir: tempfile::TempDir,
}

/// Fast retries for tests: the backoff shape is the same, only shorter.
pub fn test_worker_options() -> WorkerOptions {
    WorkerOptions {
        retry_base_ms: 100,
        lease_secs: 2,
        sweep_interval_secs: 1,
        ..WorkerOptions::default()
    }
}

impl TestApp {
    pub async fn embedded() -> Self {
        Self::embedded_with(|_| {}).await
    }

    /// The embedded default with adjusted settings.
    pub async fn embedded_with(adjust: impl FnOnce(&mut ServerSettings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = ServerSettings::embedded(dir.path(), "127.0.0.1:0".parse().unwrap());
        settings.worker = test_worker_options();
        settings.operator_token = Some(Secret::new("operator-token-for-tests"));
        adjust(&mut settings);
        Self::start(settings, dir, None).await
    }

    pub async fn production() -> Self {
        Self::production_with(|_| {}, true).await
    }

    /// Production setup with adjusted settings, optionally without a worker yet.
    pub async fn production_with(
        adjust: impl FnOnce(&mut ServerSettings),
        with_worker: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = ServerSettings::embedded(dir.path(), "127.0.0.1:0".parse().unwrap());
        settings.database_url = Some(fresh_postgres_url().await);
        settings.redis_url = Some(redis_url());
        settings.redis_queue = format!("test_{}", ulid::Ulid::generate());
        settings.jwt_secret = Some(Secret::new("a-test-secret-that-is-long-enough-0123456789"));
        settings.operator_token = Some(Secret::new("operator-token-for-tests"));
        settings.worker = test_worker_options();
        adjust(&mut settings);
        let mut app = Self::start(settings, dir, None).await;
        if with_worker {
            app.start_worker().await;
        }
        app
    }

    /// Starts a Redis worker for this app (production setups).
    pub async fn start_worker(&mut self) {
        let stop = CancellationToken::new();
        spawn_redis_worker(&self.settings, stop.clone()).await;
        self.worker_stop = Some(stop);
    }

    async fn start(
        settings: ServerSettings,
        dir: tempfile::TempDir,
        worker_stop: Option<CancellationToken>,
    ) -> Self {
        let server = pulseboard_server::start(&settings)
            .await
            .expect("server starts");
        if let Some(stop) = &worker_stop {
            spawn_redis_worker(&settings, stop.clone()).await;
        }
        Self {
            router: server.router(),
            server: Some(server),
            settings,
            worker_stop,
            _dir: dir,
        }
    }

    pub fn from_server(
        server: Pulseboard,
        settings: ServerSettings,
        dir: tempfile::TempDir,
    ) -> Self {
        Self {
            router: server.router(),
            server: Some(server),
            settings,
            worker_stop: None,
            _dir: dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let (status, headers, bytes) = self.send_for_bytes(request).await;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, body)
    }

    /// A counter's value on `/metrics`; panics when it is not there.
    pub async fn metric(&self, name: &str) -> u64 {
        let request = Request::get("/metrics").body(Body::empty()).unwrap();
        let (_, _, body) = self.send(request).await;
        let text = body.as_str().unwrap_or_default().to_owned();
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }

    /// The answer to `request`, its body as the bytes sent.
    async fn send_for_bytes(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body");
        (status, headers, bytes.to_bytes().to_vec())
    }

    /// The status and the body's bytes exactly as sent, of a request with `body` as raw text.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&str>,
    ) -> (StatusCode, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .expect("request");
        let (status, _, bytes) = self.send_for_bytes(request).await;
        (status, bytes)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        let (status, _, body) = self.send(request.expect("request")).await;
        (status, body)
    }

    pub async fn register(&self, email: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": "TestPass123!", "full_name": "Test User"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Registers `email` and returns a bearer token for it.
    pub async fn token(&self, email: &str) -> String {
        self.register(email).await;
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": email, "password": "TestPass123!"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Polls an event until its status is final (or panics after 20 s).
    pub async fn wait_final(&self, token: &str, id: i64) -> Value {
        for _ in 0..400 {
            let (status, body) = self
                .call(
                    Method::GET,
                    &format!("/api/v1/events/{id}"),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if ["processed", "validation_error", "failed"]
                .contains(&body["status"].as_str().unwrap_or(""))
            {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("event {id} never reached a final status");
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.worker_stop.take() {
            stop.cancel();
        }
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

async fn spawn_redis_worker(settings: &ServerSettings, stop: CancellationToken) {
    let store = pulseboard_store::connect(&settings.store_url(), 4, false)
        .await
        .expect("worker store");
    let redis = RedisSettings {
        queue_name: settings.redis_queue.clone(),
        ..RedisSettings::default()
    };
    let queue = RedisQueue::connect(settings.redis_url.as_deref().unwrap_or_default(), redis)
        .await
        .expect("worker queue");
    let context = settings
        .worker
        .job_context(store, std::sync::Arc::new(WorkerMetrics::default()));
    let run = WorkerRunSettings {
        name_prefix: format!("test-worker-{}", ulid::Ulid::generate()),
        concurrency: 4,
        maintenance_interval: Duration::from_secs(1),
    };
    tokio::spawn(run_redis_worker(queue, context, run, stop));
}

/// Runs each listed test once on the embedded setup and once on PostgreSQL + Redis. A test
/// may name a function that adjusts the settings of both: `name => adjust`.
#[macro_export]
macro_rules! on_both_setups {
    (@adjust) => { |_: &mut pulseboard_server::ServerSettings| {} };
    (@adjust $adjust:expr) => { $adjust };
    ($($name:ident $(=> $adjust:expr)?),* $(,)?) => {
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::common::TestApp::embedded_with($crate::on_both_setups!(@adjust $($adjust)?)).await;
                super::$name(&app).await;
                app.stop().await;
            })*
        }
        mod production {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::common::TestApp::production_with($crate::on_both_setups!(@adjust $($adjust)?), true).await;
                super::$name(&app).await;
                app.stop().await;
            })*
        }
    };
}
