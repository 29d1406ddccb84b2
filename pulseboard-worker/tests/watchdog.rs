//! A queue worker whose heartbeat stops is noticed (and then replaced by `run_redis_worker`); one
//! that beats is left alone. Real Redis; the heartbeats are written as apalis-redis writes them.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pulseboard_test_support::redis_url;
use pulseboard_worker::{RedisQueue, RedisSettings};

const HEARTBEAT: Duration = Duration::from_secs(1);

async fn queue() -> RedisQueue {
    let settings = RedisSettings {
        queue_name: format!("test_{}", ulid::Ulid::generate()),
        heartbeat: HEARTBEAT,
        ..RedisSettings::default()
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
