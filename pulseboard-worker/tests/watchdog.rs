//! A queue worker whose heartbeat stops is noticed and replaced; one that beats is left alone.
//! Real Redis and PostgreSQL.

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

#[tokio::test]
async fn a_beating_worker_is_left_alone_and_a_silent_one_is_noticed() {
    let queue = queue().await;
    beat(&queue, "beating").await;
    beat(&queue, "silent").await;
    let keep_beating = {
        let queue = queue.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT / 2).await;
                beat(&queue, "beating").await;
            }
        })
    };

    let (beating, silent) = tokio::join!(
        tokio::time::timeout(
            Duration::from_secs(7),
            queue.until_heartbeat_stops("beating")
        ),
        tokio::time::timeout(
            Duration::from_secs(7),
            queue.until_heartbeat_stops("silent")
        ),
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
}

/// The stall seen in a load run, made on purpose: one slot, a job blocked on a locked table,
/// and a second job fetched ahead waiting for the slot. apalis-redis records no heartbeat while a
/// fetched job waits, so the worker goes silent; it is replaced, and once the table is free every
/// event is processed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_is_replaced_and_its_jobs_are_processed_once() {
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
    let stop = CancellationToken::new();
    tokio::spawn(run_redis_worker(
        queue.clone(),
        options.job_context(store.clone(), metrics.clone()),
        WorkerRunSettings {
            name_prefix: format!("watchdog-{}", ulid::Ulid::generate()),
            concurrency: 1,
            maintenance_interval: Duration::from_millis(500),
        },
        stop.clone(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while metrics.stalled_workers.get() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent worker was not replaced within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    stop.cancel();
}
