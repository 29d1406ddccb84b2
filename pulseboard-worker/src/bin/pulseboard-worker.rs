//! `pulseboard-worker`: processes jobs from Redis against PostgreSQL (production mode).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use pulseboard_store::EventStore;
use pulseboard_telemetry::logs::{self as telemetry, LogFormat};
use pulseboard_worker::{
    JobQueue, RedisQueue, RedisSettings, WorkerMetrics, WorkerOptions, WorkerRunSettings,
    run_recovery_sweep, run_redis_worker,
};
use tokio_util::sync::CancellationToken;

/// Processes PulseBoard events from the Redis queue. Run as many as you like on one Redis.
#[derive(Debug, Parser)]
#[command(version)]
struct Config {
    /// PostgreSQL URL of the event store.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Redis URL of the job queue.
    #[arg(long, env = "REDIS_URL")]
    redis_url: String,
    /// Key prefix of the Redis queue; servers and workers must use the same.
    #[arg(long, env = "PULSEBOARD_REDIS_QUEUE", default_value = pulseboard_worker::DEFAULT_QUEUE_NAME)]
    redis_queue: String,
    /// Database connections this worker may open.
    #[arg(long, env = "PULSEBOARD_DB_POOL_SIZE", default_value_t = 8)]
    db_pool_size: u32,
    /// Apply pending database migrations at start.
    #[arg(long, env = "PULSEBOARD_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    migrate: bool,
    /// Address for this worker's Prometheus `/metrics` (unset: no endpoint).
    #[arg(long, env = "PULSEBOARD_WORKER_METRICS_BIND")]
    metrics_bind: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, env = "PULSEBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    worker: WorkerOptions,
}

/// Opens the store, waiting while the database is not reachable yet (e.g. still starting next to
/// this worker); other errors stop the worker with a message.
async fn connect_store(config: &Config) -> anyhow::Result<Arc<dyn EventStore>> {
    loop {
        match pulseboard_store::connect(&config.database_url, config.db_pool_size, config.migrate)
            .await
        {
            Ok(store) => return Ok(store),
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %error, "database not reachable yet; retrying in 2 s");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Err(error) => return Err(error).context("cannot open the event store (DATABASE_URL)"),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(config.log_format);
    let store = connect_store(&config).await?;
    let settings = RedisSettings {
        queue_name: config.redis_queue.clone(),
        prefetch: config.worker.prefetch,
        ..RedisSettings::default()
    };
    let queue = RedisQueue::connect(&config.redis_url, settings)
        .await
        .context("cannot reach Redis (REDIS_URL)")?;
    let metrics = Arc::new(WorkerMetrics::default());
    let context = config.worker.job_context(store.clone(), metrics.clone());

    let shutdown = CancellationToken::new();
    if let Some(address) = config.metrics_bind {
        let exposed: Arc<dyn JobQueue> = Arc::new(queue.clone());
        tokio::spawn(pulseboard_worker::serve_metrics(
            address,
            metrics.clone(),
            exposed,
            shutdown.clone(),
        ));
    }
    let upkeep = tokio::spawn(pulseboard_worker::run_upkeep(
        store.clone(),
        config.worker.retention(),
        shutdown.clone(),
    ));
    let sweep = tokio::spawn(run_recovery_sweep(
        store,
        Arc::new(queue.clone()) as Arc<dyn JobQueue>,
        config.worker.sweep(),
        config.worker.sweep().lease,
        metrics,
        shutdown.clone(),
    ));
    let run = WorkerRunSettings {
        name_prefix: format!("pulseboard-worker-{}", ulid::Ulid::generate()),
        concurrency: config.worker.concurrency,
        maintenance_interval: std::time::Duration::from_secs(5),
    };
    let worker = tokio::spawn(run_redis_worker(queue, context, run, shutdown.clone()));
    telemetry::shutdown_signal().await;
    shutdown.cancel();
    worker.await?;
    sweep.await?;
    upkeep.await?;
    Ok(())
}
