//! PostgreSQL and Redis outages during processing. This binary stops and restarts the shared
//! test servers, so it holds a single test that runs its scenarios one after the other.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{postgres, redis_queue, submit, wait_all_final};
use pulseboard_core::EventStatus;
use pulseboard_store::{EventId, EventStore};
use pulseboard_test_support::PostgresOutage;
use pulseboard_worker::{
    JobQueue, ProcessEvents, RedisQueue, WorkerMetrics, WorkerOptions, WorkerRunSettings,
    new_task_id, run_recovery_sweep, run_redis_worker,
};
use tokio_util::sync::CancellationToken;

struct Running {
    stop: CancellationToken,
    metrics: Arc<WorkerMetrics>,
}

fn start(queue: &RedisQueue, store: Arc<dyn EventStore>, options: WorkerOptions) -> Running {
    let metrics = Arc::new(WorkerMetrics::default());
    let stop = CancellationToken::new();
    let run = WorkerRunSettings {
        name_prefix: format!("outage-{}", ulid::Ulid::generate()),
        concurrency: 2,
        maintenance_interval: Duration::from_secs(1),
    };
    let context = options.job_context(store.clone(), metrics.clone());
    tokio::spawn(run_redis_worker(queue.clone(), context, run, stop.clone()));
    let queue: Arc<dyn JobQueue> = Arc::new(queue.clone());
    tokio::spawn(run_recovery_sweep(
        store,
        queue,
        options.sweep(),
        options.sweep().lease,
        metrics.clone(),
        stop.clone(),
    ));
    Running { stop, metrics }
}

/// Stores one event while the database is up, returns its id (the job is pushed later).
async fn stored_event(store: &dyn EventStore) -> EventId {
    let sink = common::redis_queue().await; // a queue nobody works on: the insert only
    submit(store, &sink, 1, 1, r#"{"page": "/x"}"#).await[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outages_are_retried_and_nothing_accepted_is_lost() {
    a_restart_within_the_backoff_window_ends_processed().await;
    an_outage_past_the_last_retry_is_recovered_by_the_sweep().await;
    a_redis_restart_is_survived_and_lost_jobs_are_recovered().await;
}

async fn a_restart_within_the_backoff_window_ends_processed() {
    let (_, store) = postgres().await;
    let queue = redis_queue().await;
    let options = WorkerOptions {
        retry_base_ms: 1_000,
        max_retries: 3,
        lease_secs: 3_600,
        ..WorkerOptions::default()
    };
    let running = start(&queue, store.clone(), options);
    let id = stored_event(store.as_ref()).await;

    let outage = PostgresOutage::begin();
    let down_since = Instant::now();
    queue
        .push(
            new_task_id(),
            ProcessEvents {
                event_ids: vec![id.0],
            },
        )
        .await
        .unwrap();
    // The database comes back as soon as an attempt has failed (at once on a pooled connection
    // the outage cut, or after the 5 s acquire timeout); a later attempt succeeds inside the
    // backoff window (1 + 2 + 4 s).
    wait_until("an attempt failed", Duration::from_secs(30), || {
        running.metrics.retried.get() >= 1
    })
    .await;
    outage.end();
    eprintln!("database was down for {:?}", down_since.elapsed());

    wait_all_final(store.as_ref(), 1, Duration::from_secs(30)).await;
    let event = store.get_event(id, None).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Processed);
    assert!(
        running.metrics.retried.get() >= 1,
        "the outage cost at least one retry"
    );
    running.stop.cancel();
}

async fn an_outage_past_the_last_retry_is_recovered_by_the_sweep() {
    let (_, store) = postgres().await;
    let queue = redis_queue().await;
    // Three attempts of about 6 s each (the pool's 5 s acquire timeout, 1 s to try recording the
    // retry) with 0.2 s and 0.4 s between, then up to 5 s trying to mark the event failed:
    // the job gives up while the database is still down; the 2 s lease makes the sweep pick the
    // event up again once it is back.
    let options = WorkerOptions {
        retry_base_ms: 200,
        max_retries: 2,
        lease_secs: 2,
        sweep_interval_secs: 1,
        ..WorkerOptions::default()
    };
    let running = start(&queue, store.clone(), options);
    let id = stored_event(store.as_ref()).await;

    let outage = PostgresOutage::begin();
    queue
        .push(
            new_task_id(),
            ProcessEvents {
                event_ids: vec![id.0],
            },
        )
        .await
        .unwrap();
    // The job gives up with the database still down: every attempt failed, and marking the
    // event failed failed too, so the job ended with the event still unfinished.
    wait_until("the job gave up", Duration::from_secs(60), || {
        running.metrics.retried.get() >= 2 && running.metrics.jobs_in_flight.get() == 0
    })
    .await;
    eprintln!(
        "retries during the outage: {}",
        running.metrics.retried.get()
    );
    assert!(
        running.metrics.retried.get() >= 2,
        "both retries ran during the outage, and the job gave up after them"
    );
    outage.end();
    let back = Instant::now();

    wait_all_final(store.as_ref(), 1, Duration::from_secs(30)).await;
    eprintln!(
        "recovered {:?} after the database came back",
        back.elapsed()
    );
    let event = store.get_event(id, None).await.unwrap().unwrap();
    assert_eq!(
        event.status,
        EventStatus::Processed,
        "the accepted event was not lost"
    );
    assert!(
        running.metrics.recovered.get() >= 1,
        "the sweep re-enqueued it"
    );
    running.stop.cancel();
}

/// Polls `fact` every 50 ms until it holds; panics after `timeout`.
async fn wait_until(what: &str, timeout: Duration, fact: impl Fn() -> bool) {
    let started = Instant::now();
    while !fact() {
        assert!(started.elapsed() < timeout, "{what}: not after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Restarts the test Redis (no persistence: every queued job is lost with it).
fn restart_redis() {
    let port = std::env::var("PULSEBOARD_TEST_REDIS_PORT")
        .expect("PULSEBOARD_TEST_REDIS_PORT (set by scripts/test.sh)");
    let _ = std::process::Command::new("redis-cli")
        .args(["-p", &port, "shutdown", "nosave"])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let started = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
        ])
        .status()
        .expect("redis-server runs");
    assert!(started.success(), "could not start Redis again");
    for _ in 0..50 {
        let ping = std::process::Command::new("redis-cli")
            .args(["-p", &port, "ping"])
            .output();
        if ping.is_ok_and(|out| out.stdout.starts_with(b"PONG")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("Redis did not come back");
}

async fn a_redis_restart_is_survived_and_lost_jobs_are_recovered() {
    let (_, store) = postgres().await;
    let queue = redis_queue().await;
    let options = WorkerOptions {
        lease_secs: 2,
        sweep_interval_secs: 1,
        ..WorkerOptions::default()
    };
    let running = start(&queue, store.clone(), options);
    let id = stored_event(store.as_ref()).await; // stored; its job only in a queue nobody reads

    restart_redis();
    let back = Instant::now();
    // A job pushed after the restart is processed: the worker reconnected by itself.
    let fresh = submit(store.as_ref(), &queue, 1, 1, r#"{"page": "/after"}"#).await[0];
    wait_all_final(store.as_ref(), 2, Duration::from_secs(60)).await;
    eprintln!(
        "both events final {:?} after Redis came back",
        back.elapsed()
    );
    for event in [id, fresh] {
        assert_eq!(
            store.get_event(event, None).await.unwrap().unwrap().status,
            EventStatus::Processed
        );
    }
    assert!(
        running.metrics.recovered.get() >= 1,
        "the event whose job was lost came back through the sweep"
    );
    running.stop.cancel();
}
