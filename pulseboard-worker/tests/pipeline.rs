//! The job pipeline on real backends: the in-process queue on SQLite, Redis on PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{counts, postgres, redis_queue, submit, wait_all_final};
use pulseboard_core::EventStatus;
use pulseboard_store::{EventId, EventStore};
use pulseboard_worker::{
    JobQueue as _, RedisQueue, WorkerMetrics, WorkerOptions, WorkerRunSettings, embedded_queue,
    run_redis_worker,
};
use tokio_util::sync::CancellationToken;

use pulseboard_test_support::seed::PAYLOAD as SEED_PAYLOAD;

fn fast_options() -> WorkerOptions {
    WorkerOptions {
        retry_base_ms: 100,
        ..WorkerOptions::default()
    }
}

fn start_redis_worker(
    queue: &RedisQueue,
    store: Arc<dyn EventStore>,
    options: &WorkerOptions,
) -> (CancellationToken, Arc<WorkerMetrics>) {
    start_redis_worker_with_maintenance(queue, store, options, Duration::from_millis(500))
}

fn start_redis_worker_with_maintenance(
    queue: &RedisQueue,
    store: Arc<dyn EventStore>,
    options: &WorkerOptions,
    maintenance_interval: Duration,
) -> (CancellationToken, Arc<WorkerMetrics>) {
    let metrics = Arc::new(WorkerMetrics::default());
    let stop = CancellationToken::new();
    let run = WorkerRunSettings {
        name_prefix: format!("pipeline-{}", ulid::Ulid::generate()),
        concurrency: options.concurrency,
        maintenance_interval,
    };
    tokio::spawn(run_redis_worker(
        queue.clone(),
        options.job_context(store, metrics.clone()),
        run,
        stop.clone(),
    ));
    (stop, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_queue_processes_a_batch_in_one_transaction_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        pulseboard_store::connect(&format!("sqlite://{}/pb.db", dir.path().display()), 4, true)
            .await
            .unwrap();
    let metrics = Arc::new(WorkerMetrics::default());
    let (queue, worker) = embedded_queue(
        fast_options().job_context(store.clone(), metrics.clone()),
        2,
    );
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run(stop.clone()));
    let ids = submit(store.as_ref(), &queue, 3, 3, SEED_PAYLOAD).await;
    wait_all_final(store.as_ref(), 3, Duration::from_secs(10)).await;
    let events: Vec<_> =
        futures::future::join_all(ids.iter().map(|id| store.get_event(*id, None))).await;
    let events: Vec<_> = events.into_iter().map(|e| e.unwrap().unwrap()).collect();
    assert!(
        events
            .iter()
            .all(|e| e.status == EventStatus::Processed && e.attempts == 1)
    );
    assert!(
        events
            .iter()
            .all(|e| e.processed_at == events[0].processed_at),
        "one job, one decision time, one transaction"
    );
    assert_eq!(metrics.jobs_started.get(), 1, "a batch is one job");
    assert_eq!(metrics.processed.get(), 3);
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_jobs_process_seed_events_and_reject_invalid_ones_exactly_once() {
    let (_, store) = postgres().await;
    let queue = redis_queue().await;
    let (stop, metrics) = start_redis_worker(&queue, store.clone(), &fast_options());
    let ok = submit(store.as_ref(), &queue, 3, 3, SEED_PAYLOAD).await;
    let oversize = format!(r#"{{"data": "{}"}}"#, "x".repeat(1_100 * 1024));
    let too_big = submit(store.as_ref(), &queue, 1, 1, &oversize).await;
    let too_deep = submit(
        store.as_ref(),
        &queue,
        1,
        1,
        r#"{"a": [[[[[[[[[[[1]]]]]]]]]]]}"#,
    )
    .await;
    wait_all_final(store.as_ref(), 5, Duration::from_secs(20)).await;
    let processed = store.get_event(ok[0], None).await.unwrap().unwrap();
    let properties: serde_json::Value =
        serde_json::from_str(processed.properties_json.as_deref().unwrap()).unwrap();
    assert_eq!(properties["duration"], serde_json::json!(45.0));
    for (id, message) in [
        (too_big[0], "Payload exceeds 1MB size limit"),
        (too_deep[0], "Payload exceeds max nesting depth (10)"),
    ] {
        let event = store.get_event(id, None).await.unwrap().unwrap();
        assert_eq!(event.status, EventStatus::ValidationError);
        assert_eq!(event.processing_error.as_deref(), Some(message));
        assert_eq!(event.attempts, 1, "validation errors are never retried");
    }
    assert_eq!(metrics.retried.get(), 0);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_while_saving_shows_retrying_with_attempts_then_failed() {
    let (url, store) = postgres().await;
    // A real PostgreSQL error on the final write, classified as an outage (57P03 cannot_connect_now).
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_final() RETURNS trigger AS $$ BEGIN \
           RAISE EXCEPTION 'the database system is starting up' USING ERRCODE = '57P03'; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse_final BEFORE UPDATE ON events FOR EACH ROW \
           WHEN (NEW.status IN ('processed', 'validation_error')) EXECUTE FUNCTION refuse_final();",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let queue = redis_queue().await;
    let options = WorkerOptions {
        retry_base_ms: 400,
        max_retries: 2,
        ..WorkerOptions::default()
    };
    let (stop, metrics) = start_redis_worker(&queue, store.clone(), &options);
    let ids = submit(store.as_ref(), &queue, 1, 1, SEED_PAYLOAD).await;
    let retrying = wait_for_status(store.as_ref(), ids[0], EventStatus::Retrying).await;
    assert_eq!(retrying.attempts, 1);
    assert!(
        retrying
            .processing_error
            .as_deref()
            .unwrap()
            .starts_with("Processing error: database unavailable")
    );
    let failed = wait_for_status(store.as_ref(), ids[0], EventStatus::Failed).await;
    assert_eq!(failed.attempts, 3, "first attempt plus two retries");
    assert!(
        failed
            .processing_error
            .unwrap()
            .starts_with("Processing error: ")
    );
    assert_eq!(metrics.failed.get(), 1);
    stop.cancel();
}

async fn wait_for_status(
    store: &dyn EventStore,
    id: EventId,
    status: EventStatus,
) -> pulseboard_store::StoredEvent {
    for _ in 0..200 {
        let event = store.get_event(id, None).await.unwrap().unwrap();
        if event.status == status {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("event {id:?} never became {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_20_000_queued_jobs_drains_without_the_worker_dying() {
    let (_, store) = postgres().await;
    let queue = redis_queue().await;
    // 20,000 jobs queued while no worker runs: far past the ~8,000 due jobs that crash a plain
    // apalis-redis fetch. Each job carries one event.
    let started = std::time::Instant::now();
    let ids = common::submit_single_event_jobs(store.as_ref(), &queue, 20_000).await;
    eprintln!("queued 20,000 jobs in {:?}", started.elapsed());
    let options = WorkerOptions {
        concurrency: 8,
        ..fast_options()
    };
    let (stop, metrics) = start_redis_worker(&queue, store.clone(), &options);
    let drained = wait_all_final(store.as_ref(), ids.len() as i64, Duration::from_secs(600)).await;
    eprintln!(
        "drained 20,000 single-event jobs in {drained:?} ({:.0} jobs/s)",
        20_000.0 / drained.as_secs_f64()
    );
    assert_eq!(
        counts(store.as_ref()).await.get(&EventStatus::Processed),
        Some(&20_000)
    );
    assert_eq!(metrics.jobs_started.get(), 20_000);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_memory_stays_bounded_once_finished_tasks_are_cleaned() {
    let (_, store) = postgres().await;
    let queue = redis_queue().await;
    // Maintenance far in the future: only the explicit cleanup below deletes finished tasks.
    let (stop, _) = start_redis_worker_with_maintenance(
        &queue,
        store.clone(),
        &fast_options(),
        Duration::from_secs(3600),
    );
    let before = queue.key_count().await.unwrap();
    submit(store.as_ref(), &queue, 2_000, 1, "{}").await;
    wait_all_final(store.as_ref(), 2_000, Duration::from_secs(120)).await;
    // The last acks land after the events are final: wait until no job is in flight.
    let started = std::time::Instant::now();
    loop {
        let stats = queue.stats().await.unwrap();
        if stats.pending_jobs == 0 && stats.in_flight_jobs == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "jobs still in flight: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let piled_up = queue.key_count().await.unwrap();
    let vacuumed = queue.clean_finished().await.unwrap();
    let after = queue.key_count().await.unwrap();
    eprintln!(
        "redis keys: {before} before, {piled_up} after 2,000 jobs, {after} after cleanup ({vacuumed} tasks vacuumed)"
    );
    assert!(
        piled_up >= before + 2_000,
        "finished tasks pile up until cleaned ({piled_up})"
    );
    assert_eq!(vacuumed, 2_000);
    assert!(
        after <= before + 20,
        "cleanup leaves no per-task keys ({after} keys, {before} before)"
    );
    stop.cancel();
}
