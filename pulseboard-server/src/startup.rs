//! Building the running system from settings: store, queue (Redis, or the in-process worker),
//! background tasks, and serving with graceful shutdown.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use pulseboard_store::{EventStore, StoreError};
use pulseboard_worker::{
    JobQueue, QueueError, RedisQueue, RedisSettings, WorkerMetrics, embedded_queue,
    run_recovery_sweep,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{PasswordError, Passwords, Tokens};
use crate::credentials::{resolve_jwt_secret, resolve_operator_token};
use crate::ingest::Ingest;
use crate::metrics::ServerMetrics;
use crate::serve::ConnectionLimits;
use crate::settings::Secret;
use crate::state::{ApiLimits, AppServices};
use crate::write_keys::WriteKeys;
use crate::{AppState, ServerSettings, app};

/// A started PulseBoard server: state plus its background tasks.
pub struct Pulseboard {
    state: AppState,
    /// Print the dashboard's address with its token when serving (embedded default only).
    announce_dashboard: bool,
    connections: ConnectionLimits,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Why the server could not start or serve. Each message names the setting at fault, or what
/// to do; the cause, if any, is the error's source.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or invalid.
    #[error("{0}")]
    Setting(String),
    /// The embedded mode's data directory could not be made.
    #[error("cannot create the data directory {} (PULSEBOARD_DATA_DIR)", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A generated secret could not be written to the data directory.
    #[error("cannot write the {what} to {}", path.display())]
    SecretFile {
        /// Which secret.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The system gave no random bytes for a secret.
    #[error("no randomness for the {what}")]
    Randomness {
        /// Which secret.
        what: &'static str,
        /// Why.
        source: getrandom::Error,
    },
    /// The embedded SQLite store could not be opened.
    #[error("cannot open the SQLite store in the data directory")]
    EmbeddedStore(#[source] StoreError),
    /// The PostgreSQL store could not be opened.
    #[error("cannot open the event store (DATABASE_URL)")]
    Store(#[source] StoreError),
    /// Redis did not answer.
    #[error("cannot reach Redis (REDIS_URL)")]
    Queue(#[source] QueueError),
    /// Password hashing could not be prepared.
    #[error("cannot prepare password hashing")]
    Passwords(#[from] PasswordError),
    /// Serving failed.
    #[error("serving HTTP failed")]
    Serve(#[source] std::io::Error),
}

/// Opens the store (migrating when asked), connects or starts the queue, and starts background
/// tasks. Fails with a message naming the setting at fault.
pub async fn start(settings: &ServerSettings) -> Result<Pulseboard, StartError> {
    if settings.database_url.is_none() {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
    }
    let secret = resolve_jwt_secret(settings)?;
    let operator = resolve_operator_token(settings)?;
    let store = open_store(settings).await?;
    let mut background = Background::default();
    let (queue, worker_metrics) = connect_queue(settings, &store, &mut background).await?;
    let state = build_state(settings, store, queue, &secret, &mut background)?
        .into_state(operator.token, worker_metrics);
    Ok(Pulseboard {
        state,
        announce_dashboard: operator.from_data_dir,
        connections: settings
            .connections
            .fit_open_file_limit(settings.db_pool_size),
        shutdown: background.shutdown,
        tasks: background.tasks,
    })
}

/// Tasks that run beside the server until it stops.
#[derive(Default)]
struct Background {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }
}

async fn open_store(settings: &ServerSettings) -> Result<Arc<dyn EventStore>, StartError> {
    let url = settings.store_url();
    let store = pulseboard_store::connect(&url, settings.db_pool_size, settings.migrate).await;
    store.map_err(if settings.database_url.is_none() {
        StartError::EmbeddedStore
    } else {
        StartError::Store
    })
}

/// The Redis queue of production, or the in-process queue with its worker.
async fn connect_queue(
    settings: &ServerSettings,
    store: &Arc<dyn EventStore>,
    background: &mut Background,
) -> Result<(Arc<dyn JobQueue>, Option<Arc<WorkerMetrics>>), StartError> {
    let Some(url) = &settings.redis_url else {
        return Ok(start_in_process_worker(settings, store.clone(), background));
    };
    let redis = RedisSettings {
        queue_name: settings.redis_queue.clone(),
        ..RedisSettings::default()
    };
    let queue = RedisQueue::connect(url, redis)
        .await
        .map_err(StartError::Queue)?;
    Ok((Arc::new(queue), None))
}

/// What handlers share, with the ingest path's and the write keys' background tasks.
fn build_state(
    settings: &ServerSettings,
    store: Arc<dyn EventStore>,
    queue: Arc<dyn JobQueue>,
    secret: &[u8],
    background: &mut Background,
) -> Result<AppServices, StartError> {
    let metrics = Arc::new(ServerMetrics::default());
    let ingest = Arc::new(Ingest::new(
        store.clone(),
        queue.clone(),
        settings.max_backlog_events,
        metrics.clone(),
    ));
    background.spawn(ingest.clone().track_backlog(background.shutdown.clone()));
    let write_keys = Arc::new(WriteKeys::new(store.clone()));
    background.spawn(write_keys.clone().flush_uses(background.shutdown.clone()));
    Ok(AppServices {
        store,
        queue,
        ingest,
        passwords: Passwords::new(metrics.clone())?,
        tokens: Tokens::new(secret, settings.token_lifetime),
        limits: ApiLimits {
            max_body_bytes: settings.max_body_bytes,
            max_batch_events: settings.max_batch_events,
            max_sdk_body_bytes: settings.max_sdk_body_bytes,
            body_read_timeout: settings.connections.body_read_timeout,
        },
        metrics,
        worker_metrics: None,
        operator_token: None,
        write_keys,
        throttle: settings.throttle.clone(),
    })
}

impl AppServices {
    /// The shared state, with the operator credential and the in-process worker's metrics.
    fn into_state(
        self,
        operator_token: Option<Secret>,
        worker_metrics: Option<Arc<WorkerMetrics>>,
    ) -> AppState {
        AppState::new(Self {
            operator_token,
            worker_metrics,
            ..self
        })
    }
}

/// The embedded worker and its recovery sweep. With SQLite nothing else can be working on the
/// events, so the first sweep takes every unfinished event at once (a restart resumes them).
fn start_in_process_worker(
    settings: &ServerSettings,
    store: Arc<dyn EventStore>,
    background: &mut Background,
) -> (Arc<dyn JobQueue>, Option<Arc<WorkerMetrics>>) {
    let metrics = Arc::new(WorkerMetrics::default());
    let context = settings.worker.job_context(store.clone(), metrics.clone());
    let (queue, worker) = embedded_queue(context, settings.worker.concurrency);
    let worker_shutdown = background.shutdown.clone();
    background.spawn(async move {
        if let Err(error) = worker.run(worker_shutdown).await {
            tracing::error!(error = %error, "in-process worker stopped");
        }
    });
    let queue: Arc<dyn JobQueue> = Arc::new(queue);
    let startup_lease = if settings.database_url.is_none() {
        Duration::ZERO
    } else {
        settings.worker.sweep().lease
    };
    background.spawn(pulseboard_worker::run_upkeep(
        store.clone(),
        settings.worker.retention(),
        background.shutdown.clone(),
    ));
    background.spawn(run_recovery_sweep(
        store,
        queue.clone(),
        settings.worker.sweep(),
        startup_lease,
        metrics.clone(),
        background.shutdown.clone(),
    ));
    (queue, Some(metrics))
}

impl Pulseboard {
    /// The shared state (for tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP router over this server's state.
    pub fn router(&self) -> Router {
        app(self.state.clone())
    }

    /// Serves on `listener` until `signal` resolves, then stops accepting, finishes in-flight
    /// requests and lets the in-process worker finish its running jobs.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let address = listener.local_addr().map_err(StartError::Serve)?;
        tracing::info!(address = %address, store = self.state.store().backend_name(), queue = self.state.queue().backend_name(), "PulseBoard listening");
        if self.announce_dashboard
            && let Some(token) = self.state.operator_token()
        {
            // On stdout, like Jupyter's address: the newcomer's way in. The token is also in
            // the data directory's `operator-token` file.
            println!(
                "Dashboard: http://{address}/dashboard?token={}",
                token.expose()
            );
        }
        crate::serve::serve(
            listener,
            self.router(),
            self.connections,
            self.state.shared_metrics(),
            signal,
        )
        .await;
        self.stop().await;
        Ok(())
    }

    /// Stops background tasks, waiting for running jobs.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
