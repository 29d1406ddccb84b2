//! Shared helpers of the worker tests: real PostgreSQL, real Redis, real worker processes.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulseboard_core::{EventStatus, NewEvent, RawEventFields};
use pulseboard_store::{EventId, EventStore, EventToInsert};
use pulseboard_test_support::fresh_postgres_url;
use pulseboard_worker::{JobQueue, ProcessEvents, RedisQueue, RedisSettings, new_task_id};

pub use pulseboard_test_support::redis_url;

/// A fresh PostgreSQL database, migrated.
pub async fn postgres() -> (String, Arc<dyn EventStore>) {
    let url = fresh_postgres_url().await;
    let store = pulseboard_store::connect(&url, 8, true)
        .await
        .expect("postgres store");
    (url, store)
}

/// A Redis queue with a name of its own.
pub async fn redis_queue() -> RedisQueue {
    let settings = RedisSettings {
        queue_name: format!("test_{}", ulid::Ulid::generate()),
        ..RedisSettings::default()
    };
    RedisQueue::connect(&redis_url(), settings)
        .await
        .expect("redis queue")
}

pub fn event(payload_json: &str) -> NewEvent {
    NewEvent::parse(RawEventFields {
        event_name: Some("page_view"),
        event_type: Some("engagement"),
        payload_json: Some(payload_json),
        ..Default::default()
    })
    .expect("valid event")
}

/// Stores `count` copies of `payload_json` for a new user, in request-sized batches of `per_job`,
/// and pushes one job per batch. Returns the ids.
pub async fn submit(
    store: &dyn EventStore,
    queue: &dyn JobQueue,
    count: usize,
    per_job: usize,
    payload_json: &str,
) -> Vec<EventId> {
    let owner = pulseboard_test_support::new_owner(store).await;
    let events: Vec<NewEvent> = (0..count).map(|_| event(payload_json)).collect();
    let mut ids = Vec::with_capacity(count);
    for chunk in events.chunks(per_job) {
        let rows: Vec<EventToInsert<'_>> = chunk
            .iter()
            .map(|event| EventToInsert { owner, event })
            .collect();
        let task_id = new_task_id();
        let inserted: Vec<EventId> = store
            .insert_events(&task_id.to_string(), &rows)
            .await
            .expect("insert")
            .into_iter()
            .map(|event| event.id)
            .collect();
        queue
            .push(
                task_id,
                ProcessEvents {
                    event_ids: inserted.iter().map(|id| id.0).collect(),
                },
            )
            .await
            .expect("push");
        ids.extend(inserted);
    }
    ids
}

/// Events per status.
pub async fn counts(store: &dyn EventStore) -> HashMap<EventStatus, i64> {
    store
        .counts_by_status()
        .await
        .expect("counts")
        .into_iter()
        .map(|c| (c.status, c.count))
        .collect()
}

/// Waits until `expected` events are final, or panics with the counts after `timeout`, also
/// while the store keeps failing (an outage that never ends must not hang the test).
pub async fn wait_all_final(store: &dyn EventStore, expected: i64, timeout: Duration) -> Duration {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        // Each count is bounded by the deadline too: while the store is out, one count could
        // otherwise wait out the pool's acquire timeout, long past it.
        let left = deadline.saturating_duration_since(Instant::now());
        let counts = tokio::time::timeout(left, store.counts_by_status()).await;
        if let Ok(Ok(now)) = &counts {
            let finished: i64 = now
                .iter()
                .filter(|c| c.status.is_final())
                .map(|c| c.count)
                .sum();
            if finished >= expected {
                return started.elapsed();
            }
        }
        if Instant::now() >= deadline {
            panic!("fewer than {expected} events final after {timeout:?}: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(100).min(left)).await;
    }
}

/// Starts the `pulseboard-worker` binary against `database_url` and `queue`, logging to `log`.
pub fn spawn_worker(
    database_url: &str,
    queue: &str,
    log: &std::path::Path,
    extra: &[(&str, &str)],
) -> tokio::process::Child {
    let log_file = std::fs::File::create(log).expect("log file");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulseboard-worker"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env("PULSEBOARD_REDIS_QUEUE", queue)
        .env("PULSEBOARD_MIGRATE", "false")
        .env("RUST_LOG", "info")
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .kill_on_drop(true);
    for (key, value) in extra {
        command.env(key, value);
    }
    command.spawn().expect("worker binary starts")
}

/// Stores `count` events in large inserts, then pushes one single-event job per event (32 pushes
/// in flight), as a burst of single-event requests would.
pub async fn submit_single_event_jobs(
    store: &dyn EventStore,
    queue: &dyn JobQueue,
    count: usize,
) -> Vec<EventId> {
    use futures::StreamExt;
    let owner = pulseboard_test_support::new_owner(store).await;
    let events: Vec<NewEvent> = (0..count).map(|_| event("{}")).collect();
    let mut ids = Vec::with_capacity(count);
    for chunk in events.chunks(1_000) {
        let rows: Vec<EventToInsert<'_>> = chunk
            .iter()
            .map(|event| EventToInsert { owner, event })
            .collect();
        let inserted = store.insert_events("bulk", &rows).await.expect("insert");
        ids.extend(inserted.into_iter().map(|event| event.id));
    }
    let pushes = futures::stream::iter(ids.iter().map(|id| {
        queue.push(
            new_task_id(),
            ProcessEvents {
                event_ids: vec![id.0],
            },
        )
    }))
    .buffer_unordered(32)
    .collect::<Vec<_>>()
    .await;
    assert!(pushes.iter().all(Result::is_ok), "every push succeeded");
    ids
}

/// The outcome that finishes `id` as processed, judged now, on its first attempt.
pub fn processed_outcome(id: EventId) -> pulseboard_store::EventOutcome {
    pulseboard_store::EventOutcome {
        id,
        status: EventStatus::Processed,
        properties_json: Some("{}".to_owned()),
        error: None,
        decided_at: chrono::Utc::now(),
        attempts_before: 0,
    }
}
