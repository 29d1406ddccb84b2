//! The production queue: apalis-redis 1.0, with deliberate answers to its known traps.
//!
//! - Idle pick-up: workers poll every `poll_interval` (the backend otherwise waits for its 30 s
//!   heartbeat).
//! - A fetch of ≥ ~8,000 due jobs fails ("too many results to unpack") and kills the worker:
//!   [`RedisQueue::promote_due`] moves due ids to the active list in chunks before every worker
//!   start and every few seconds, and admission control keeps the backlog bounded.
//! - The backend re-runs failed tasks up to 25 times: our handler retries inside the job and ends
//!   a give-up with `AbortError`, which the backend never re-runs.
//! - Finished tasks are never deleted: [`RedisQueue::clean_finished`] vacuums them and drops the
//!   done/dead id sets, so memory stays bounded.
//! - A lost connection stops the worker for good: [`run_redis_worker`] restarts it under a new
//!   name (a reused name is refused until its heartbeat expires).
//! - A worker can go silent: apalis-redis records heartbeats (and drains its lock/ack events)
//!   only while no fetched job waits for a free slot. A job that runs long while another waits
//!   silences the worker, and a load run once saw one stall for good that way (jobs waiting,
//!   none running, no heartbeat for minutes). [`run_redis_worker`] replaces a worker silent for
//!   [`MISSED_HEARTBEATS`] heartbeats under a new name, the rule by which other workers would
//!   re-enqueue its jobs anyway; the new one's heartbeat re-enqueues them.
//! - Tasks lost when a worker crashes are recovered from the store by the recovery sweep.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis::prelude::{BackendExt, TaskBuilder, TaskId, TaskSink, WorkerBuilder, WorkerBuilderExt};
use apalis_core::backend::Vacuum;
use apalis_redis::{Config, RedisStorage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use ulid::Ulid;

use crate::handler::handle_task;
use crate::{JobContext, JobQueue, ProcessEvents, QueueError, QueueStats, WorkerHeartbeat};

/// Due ids moved per promotion step: well below the fetch script's unpack limit.
const PROMOTE_CHUNK: usize = 1_000;
/// Heartbeats a worker may miss before it counts as gone: apalis then re-enqueues its tasks, and
/// [`run_redis_worker`] replaces its own silent worker.
const MISSED_HEARTBEATS: u32 = 3;
/// Hash of worker name → concurrency (apalis-redis does not record it).
const CONCURRENCY_HASH_SUFFIX: &str = ":pulseboard:concurrency";
/// The key (after the queue name) holding the queue's generation, see [`JobQueue::generation`].
const GENERATION_KEY_SUFFIX: &str = ":pulseboard:generation";

/// The Redis queue's key prefix unless configured otherwise.
pub const DEFAULT_QUEUE_NAME: &str = "pulseboard_events";

/// Redis queue settings.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Key prefix of the queue.
    pub queue_name: String,
    /// Jobs a worker fetches at once (its prefetch).
    pub prefetch: usize,
    /// How often an idle worker looks for new jobs.
    pub poll_interval: Duration,
    /// Worker heartbeat; a worker silent for 3 heartbeats is considered gone.
    pub heartbeat: Duration,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            queue_name: DEFAULT_QUEUE_NAME.to_owned(),
            prefetch: crate::options::DEFAULT_PREFETCH,
            poll_interval: Duration::from_millis(50),
            heartbeat: Duration::from_secs(5),
        }
    }
}

/// The Redis-backed queue (producer side, plus maintenance). Cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    storage: RedisStorage<ProcessEvents>,
    connection: ConnectionManager,
    settings: RedisSettings,
}

impl RedisQueue {
    /// Connects to Redis; the connection reconnects by itself after an outage.
    pub async fn connect(url: &str, settings: RedisSettings) -> Result<Self, QueueError> {
        let connection = apalis_redis::connect(url).await.map_err(unavailable)?;
        let config = Config::default()
            .queue(&settings.queue_name)
            .batch_size(settings.prefetch)
            .heartbeat_interval(settings.heartbeat)
            .missed_heartbeats(MISSED_HEARTBEATS as usize);
        let storage = RedisStorage::new(connection.clone()).with_config(config);
        Ok(Self {
            storage,
            connection,
            settings,
        })
    }

    /// The queue's key prefix.
    pub fn name(&self) -> &str {
        &self.settings.queue_name
    }

    fn config(&self) -> &Config {
        self.storage.get_config()
    }

    /// Moves due jobs from the scheduled set to the active list in chunks, so no fetch ever sees
    /// more than a chunk at once. Returns how many moved.
    pub async fn promote_due(&self) -> Result<usize, QueueError> {
        let script = redis::Script::new(
            r"local ids = redis.call('zrangebyscore', KEYS[1], 0, ARGV[1], 'LIMIT', 0, ARGV[2])
              if #ids > 0 then
                redis.call('rpush', KEYS[2], unpack(ids))
                redis.call('zrem', KEYS[1], unpack(ids))
              end
              return #ids",
        );
        let mut connection = self.connection.clone();
        let mut total = 0;
        loop {
            let moved: usize = script
                .key(self.config().scheduled_jobs_set())
                .key(self.config().active_jobs_list())
                .arg(unix_now())
                .arg(PROMOTE_CHUNK)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            total += moved;
            if moved < PROMOTE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Deletes finished tasks (data, metadata and the done/dead id sets). Returns how many tasks
    /// were vacuumed. Safe because our tasks only end as done or killed, never as "failed and
    /// scheduled for a backend retry" (which vacuum would break).
    pub async fn clean_finished(&self) -> Result<usize, QueueError> {
        let mut storage = self.storage.clone();
        let vacuumed = storage.vacuum().await.map_err(unavailable)?;
        let mut connection = self.connection.clone();
        redis::cmd("UNLINK")
            .arg(self.config().done_jobs_set())
            .arg(self.config().dead_jobs_set())
            .exec_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(vacuumed)
    }

    /// Number of Redis keys belonging to this queue (a memory check for tests and operators).
    pub async fn key_count(&self) -> Result<u64, QueueError> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}*", self.settings.queue_name);
        let (mut cursor, mut total) = (0u64, 0u64);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1_000)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            total += keys.len() as u64;
            if next == 0 {
                return Ok(total);
            }
            cursor = next;
        }
    }

    /// Returns once the worker `name` has been silent longer than apalis lets a worker be before
    /// it counts as orphaned (how long it was silent), checking every heartbeat interval; never
    /// while it beats. A worker not registered yet counts from the first check. An unreachable
    /// Redis is not silence: the worker's own connection errors handle that.
    ///
    /// apalis-redis beats only while a worker has a free slot, so a worker whose slots all run
    /// long jobs (a store outage's retries, a statement waiting on a lock) falls silent too.
    /// While `busy()` says the worker's jobs are running, this beats for it instead: such a
    /// worker is not reported, and other workers do not take its jobs as orphans.
    pub async fn until_heartbeat_stops(&self, name: &str, busy: impl Fn() -> bool) -> Duration {
        let interval = self.settings.heartbeat;
        let allowed = self.config().orphaned_duration();
        let watching_since = unix_now();
        let mut connection = self.connection.clone();
        loop {
            tokio::time::sleep(interval).await;
            if busy() {
                self.beat_for(name).await;
                continue;
            }
            let last_beat: Result<Option<f64>, _> = redis::cmd("ZSCORE")
                .arg(self.config().workers_set())
                .arg(name)
                .query_async(&mut connection)
                .await;
            let Ok(last_beat) = last_beat else { continue };
            let last = last_beat.map_or(watching_since, |seconds| seconds as u64);
            let silent = Duration::from_secs(unix_now().saturating_sub(last));
            if silent > allowed {
                return silent;
            }
        }
    }

    /// Records a heartbeat of the worker `name` now, as apalis-redis's own does, if it is still
    /// registered (one already taken as an orphan stays gone). Best effort: a missed beat is
    /// retried at the next interval.
    async fn beat_for(&self, name: &str) {
        let mut connection = self.connection.clone();
        let beat = redis::cmd("ZADD")
            .arg(self.config().workers_set())
            .arg("XX")
            .arg(unix_now())
            .arg(name)
            .exec_async(&mut connection)
            .await;
        if let Err(error) = beat {
            warn!(worker = %name, error = %error, "could not record a busy worker's heartbeat");
        }
    }

    async fn set_concurrency(&self, worker: &str, concurrency: Option<usize>) {
        let key = format!("{}{CONCURRENCY_HASH_SUFFIX}", self.settings.queue_name);
        let mut connection = self.connection.clone();
        let command = match concurrency {
            Some(k) => redis::cmd("HSET").arg(&key).arg(worker).arg(k).to_owned(),
            None => redis::cmd("HDEL").arg(&key).arg(worker).to_owned(),
        };
        if let Err(error) = command.exec_async(&mut connection).await {
            warn!(error = %error, "could not record worker concurrency");
        }
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    fn backend_name(&self) -> &'static str {
        "redis"
    }

    async fn push(&self, task_id: Ulid, job: ProcessEvents) -> Result<(), QueueError> {
        let task = TaskBuilder::new(job)
            .task_id(TaskId::from_ulid(task_id))
            .build();
        let mut storage = self.storage.clone();
        storage.push_task(task).await.map_err(unavailable)
    }

    async fn oldest_waiting(&self) -> Result<Option<Ulid>, QueueError> {
        // apalis-redis puts a pushed job in the scheduled set (by run time), moves due jobs to
        // the end of the active list, and workers take from the list's head: the oldest
        // waiting job is at one of those two heads.
        let mut connection = self.connection.clone();
        let (active, scheduled): (Option<String>, Vec<String>) = redis::pipe()
            .cmd("LINDEX")
            .arg(self.config().active_jobs_list())
            .arg(0)
            .cmd("ZRANGE")
            .arg(self.config().scheduled_jobs_set())
            .arg(0)
            .arg(0)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(active
            .into_iter()
            .chain(scheduled)
            .filter_map(|id| Ulid::from_string(&id).ok())
            .min())
    }

    async fn generation(&self) -> Result<Ulid, QueueError> {
        // SET NX makes a generation only where none exists: Redis lost its data, or this queue
        // is new. Every process then reads the same one.
        let key = format!("{}{GENERATION_KEY_SUFFIX}", self.settings.queue_name);
        let mut connection = self.connection.clone();
        let (current,): (String,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(Ulid::generate().to_string())
            .arg("NX")
            .ignore()
            .get(&key)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ulid::from_string(&current).map_err(|error| {
            QueueError::Unavailable(format!("{key} holds {current:?}, not a ULID: {error}"))
        })
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let mut connection = self.connection.clone();
        let now = unix_now();
        let concurrency_key = format!("{}{CONCURRENCY_HASH_SUFFIX}", self.settings.queue_name);
        let (active, due, workers, concurrency): (
            u64,
            u64,
            Vec<(String, f64)>,
            HashMap<String, u32>,
        ) = redis::pipe()
            .llen(self.config().active_jobs_list())
            .zcount(self.config().scheduled_jobs_set(), "-inf", now)
            .zrange_withscores(self.config().workers_set(), 0, -1)
            .hgetall(&concurrency_key)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let alive_after = now.saturating_sub(self.config().orphaned_duration().as_secs().max(1));
        let mut stats = QueueStats {
            pending_jobs: active + due,
            ..QueueStats::default()
        };
        for (name, last_seen) in workers
            .into_iter()
            .filter(|(_, seen)| *seen as u64 >= alive_after)
        {
            let inflight: u64 = redis::cmd("SCARD")
                .arg(format!("{}:{name}", self.config().inflight_jobs_set()))
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            stats.in_flight_jobs += inflight;
            stats.workers.push(WorkerHeartbeat {
                concurrency: concurrency.get(&name).copied(),
                last_seen: DateTime::<Utc>::from_timestamp(last_seen as i64, 0).unwrap_or_default(),
                name,
            });
        }
        Ok(stats)
    }
}

/// How a Redis worker process runs its jobs.
#[derive(Debug, Clone)]
pub struct WorkerRunSettings {
    /// Unique prefix of this process's worker names.
    pub name_prefix: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// How often queue maintenance (promotion, cleanup) runs.
    pub maintenance_interval: Duration,
}

/// Runs a Redis worker until `shutdown` fires, restarting it under a new name whenever the
/// backend stops it (e.g. Redis restarted). In-flight jobs finish before this returns.
pub async fn run_redis_worker(
    queue: RedisQueue,
    context: Arc<JobContext>,
    settings: WorkerRunSettings,
    shutdown: CancellationToken,
) {
    let maintenance = tokio::spawn(run_maintenance(
        queue.clone(),
        settings.maintenance_interval,
        shutdown.clone(),
    ));
    let mut generation = 0u32;
    while !shutdown.is_cancelled() {
        generation += 1;
        let name = format!("{}-{generation}", settings.name_prefix);
        if let Err(error) = queue.promote_due().await {
            warn!(error = %error, "queue unreachable; retrying in 1 s");
            pause(&shutdown, Duration::from_secs(1)).await;
            continue;
        }
        queue
            .set_concurrency(&name, Some(settings.concurrency))
            .await;
        info!(worker = %name, concurrency = settings.concurrency, "worker starting");
        let worker = WorkerBuilder::new(name.as_str())
            .backend(
                queue
                    .storage
                    .clone()
                    .poll_with_interval(queue.settings.poll_interval),
            )
            .concurrency(settings.concurrency)
            .data(context.clone())
            .build(handle_task);
        let stop = shutdown.clone();
        let running = worker.run_until(async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
        let result = tokio::select! {
            result = running => result,
            silence = queue.until_heartbeat_stops(&name, || context.jobs_running() > 0) => {
                // Dropping the worker drops its jobs' futures; their events stay unfinished in
                // the store and their tasks are re-enqueued as orphans.
                warn!(worker = %name, silent_s = silence.as_secs(), "worker stopped heartbeating (stalled); replacing it");
                context.metrics.stalled_workers.inc_by(1);
                Ok(())
            }
        };
        queue.set_concurrency(&name, None).await;
        if let Err(error) = result {
            warn!(worker = %name, error = %error, "worker stopped by the queue backend; restarting in 1 s");
            pause(&shutdown, Duration::from_secs(1)).await;
        }
    }
    maintenance.abort();
    info!("worker stopped");
}

/// Keeps the due set small and deletes finished tasks, every `interval`.
async fn run_maintenance(queue: RedisQueue, interval: Duration, shutdown: CancellationToken) {
    let mut ticks = 0u64;
    while !shutdown.is_cancelled() {
        pause(&shutdown, interval).await;
        if let Err(error) = queue.promote_due().await {
            warn!(error = %error, "queue maintenance: promotion failed");
        }
        ticks += 1;
        // Vacuum reads the whole data hash in one script: run it every 12 ticks, while it is small.
        if ticks.is_multiple_of(12) {
            match queue.clean_finished().await {
                Ok(vacuumed) => tracing::debug!(
                    tasks = vacuumed,
                    "queue maintenance: finished tasks deleted"
                ),
                Err(error) => warn!(error = %error, "queue maintenance: cleanup failed"),
            }
        }
    }
}

async fn pause(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(duration) => {}
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unavailable(error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(error.to_string())
}
