//! A queue worker whose heartbeat stops is noticed and replaced; one that beats, or whose jobs
//! are running (however long), is left alone. Real Redis and PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{counts, postgres, submit, wait_all_final};
use pulseboard_core::EventStatus;
use pulseboard_test_support::redis_url;
use pulseboard_worker::{
    RedisQueue, RedisSettings, WorkerMetrics, WorkerOptions, WorkerRunSettings, run_redis_worker,
};
use tokio_util::sync::CancellationToken;

const HEARTBEAT: Duration = Duration::from_secs(1);

async fn queue() -> RedisQueue {
    queue_with(RedisSettings::default()).await
}

async fn queue_with(settings: RedisSettings) -> RedisQueue {
    let settings = RedisSettings {
        queue_name: format!("test_{}", ulid::Ulid::generate()),
        heartbeat: HEARTBEAT,
        ..settings
    };
    RedisQueue::connect(&redis_url(), settings)
        .await
        .expect("redis queue")
}

/// Records a heartbeat of `worker` now, where apalis-redis keeps them.
async fn beat(queue: &RedisQueue, worker: &str) {
    let mut connection = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let _: () = redis::cmd("ZADD")
        .arg(format!("{}:workers", queue.name()))
        .arg(now)
        .arg(worker)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// `worker`'s last heartbeat, in Unix seconds.
async fn last_beat(queue: &RedisQueue, worker: &str) -> Option<u64> {
    let mut connection = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("ZSCORE")
        .arg(format!("{}:workers", queue.name()))
        .arg(worker)
        .query_async::<Option<f64>>(&mut connection)
        .await
        .unwrap()
        .map(|seconds| seconds as u64)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_beating_or_busy_worker_is_left_alone_and_a_silent_idle_one_is_noticed() {
    let queue = queue().await;
    for worker in ["beating", "silent", "busy"] {
        beat(&queue, worker).await;
    }
    let keep_beating = {
        let queue = queue.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT / 2).await;
                beat(&queue, "beating").await;
            }
        })
    };
    let watch = |worker, busy: bool| {
        let queue = queue.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(7),
                queue.until_heartbeat_stops(worker, move || busy),
            )
            .await
        }
    };

    let (beating, silent, busy) = tokio::join!(
        watch("beating", false),
        watch("silent", false),
        watch("busy", true)
    );
    keep_beating.abort();

    assert!(
        beating.is_err(),
        "a beating worker is never reported: {beating:?}"
    );
    let silence = silent.expect("a silent worker is reported within 7 s");
    assert!(
        silence > 3 * HEARTBEAT,
        "reported only past three missed heartbeats: {silence:?}"
    );
    assert!(busy.is_err(), "a busy worker is never reported: {busy:?}");
    let beat = last_beat(&queue, "busy").await.expect("still registered");
    assert!(
        unix_now() - beat <= 2,
        "the watchdog beat for the busy worker: last beat {beat}"
    );
}

/// A worker whose only slot runs a long job: the job is blocked on a locked table for twice the
/// orphan window, and a second job fetched ahead waits for the slot. apalis-redis records no
/// heartbeat meanwhile; the watchdog beats for the worker, so it is neither replaced nor robbed
/// of its jobs, and once the table is free every event is processed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_busy_with_a_long_job_is_kept_alive_and_processes_each_event_once() {
    let (url, store) = postgres().await;
    let queue = queue_with(RedisSettings {
        prefetch: 2,
        ..RedisSettings::default()
    })
    .await;
    let ids = submit(store.as_ref(), &queue, 3, 1, "{}").await;
    let mut locker = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE;")
        .execute(&mut locker)
        .await
        .unwrap();

    let metrics = Arc::new(WorkerMetrics::default());
    let options = WorkerOptions {
        concurrency: 1,
        ..WorkerOptions::default()
    };
    let context = options.job_context(store.clone(), metrics.clone());
    let name_prefix = format!("watchdog-{}", ulid::Ulid::generate());
    let stop = CancellationToken::new();
    tokio::spawn(run_redis_worker(
        queue.clone(),
        context.clone(),
        WorkerRunSettings {
            name_prefix: name_prefix.clone(),
            concurrency: 1,
            maintenance_interval: Duration::from_millis(500),
        },
        stop.clone(),
    ));
    // Twice the orphan window (3 missed heartbeats of 1 s), with the job running throughout.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        context.jobs_running(),
        1,
        "the blocked job is still running"
    );
    assert_eq!(
        metrics.stalled_workers.get(),
        0,
        "a busy worker is not replaced"
    );
    let worker = format!("{name_prefix}-1");
    let beat = last_beat(&queue, &worker).await.expect("still registered");
    assert!(unix_now() - beat <= 2, "kept alive: last beat {beat}");
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();

    wait_all_final(store.as_ref(), 3, Duration::from_secs(30)).await;
    assert_eq!(
        counts(store.as_ref()).await.get(&EventStatus::Processed),
        Some(&3)
    );
    for id in ids {
        let event = store.get_event(id, None).await.unwrap().unwrap();
        assert_eq!(event.attempts, 1, "event {id:?} processed once");
    }
    assert_eq!(metrics.stalled_workers.get(), 0);
    assert_eq!(context.jobs_running(), 0);
    stop.cancel();
}
