//! Rows per second through the store layer, next to the raw database rate of the same work.
//!
//! ```text
//! scripts/test.sh --services-only &          # or any PostgreSQL you may create databases on
//! source target/test-services.env
//! cargo run --release -p pulseboard-store --example store_throughput
//! ```
//!
//! For each backend: `insert_events` in batches of 1, 100 and 1,000 events, then loading and
//! applying outcomes in jobs of 1,000. For PostgreSQL also the raw rates of a 1,000-row
//! multi-row INSERT sent as SQL text and of COPY. Each figure is the median of 3 rounds.

use std::time::Instant;

use chrono::Utc;
use pulseboard_core::{EventStatus, NewEvent, RawEventFields};
use pulseboard_store::{EventId, EventOutcome, EventStore, EventToInsert, PostgresStore};
use pulseboard_test_support::fresh_postgres_url;

const PAYLOAD: &str = r#"{"page": "/dashboard", "duration": 45, "scroll_depth": 75, "referrer": "https://example.com/"}"#;
const ROUNDS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn events(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|i| {
            let name = format!("event_{}", i % 10);
            NewEvent::parse(RawEventFields {
                event_name: Some(&name),
                event_type: Some("engagement"),
                source: Some("web"),
                payload_json: Some(PAYLOAD),
                ..Default::default()
            })
            .expect("valid")
        })
        .collect()
}

/// Inserts `total` events in batches of `batch`; returns rows/s and the ids.
async fn insert_rate(store: &dyn EventStore, batch: usize, total: usize) -> (f64, Vec<EventId>) {
    let owner = pulseboard_test_support::new_owner(store).await;
    let events = events(total);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(total);
    for chunk in events.chunks(batch) {
        let rows: Vec<EventToInsert<'_>> = chunk
            .iter()
            .map(|event| EventToInsert { owner, event })
            .collect();
        let inserted = store.insert_events("bench", &rows).await.expect("insert");
        ids.extend(inserted.into_iter().map(|event| event.id));
    }
    (total as f64 / started.elapsed().as_secs_f64(), ids)
}

/// Claims and applies outcomes for `ids` in jobs of 1,000, as the worker does; returns rows/s.
async fn process_rate(store: &dyn EventStore, ids: &[EventId]) -> f64 {
    let started = Instant::now();
    for job in ids.chunks(1_000) {
        let loaded = store.load_unfinished(job).await.expect("load");
        let now = Utc::now();
        let outcomes: Vec<EventOutcome> = loaded
            .iter()
            .map(|event| EventOutcome {
                id: event.id,
                status: EventStatus::Processed,
                properties_json: Some(PAYLOAD.to_owned()),
                error: None,
                decided_at: now,
                attempts_before: event.attempts,
            })
            .collect();
        store.apply_outcomes(&outcomes).await.expect("apply");
    }
    ids.len() as f64 / started.elapsed().as_secs_f64()
}

async fn measure(name: &str, store: &dyn EventStore) {
    for (batch, total) in [(1, 2_000), (100, 20_000), (1_000, 50_000)] {
        let mut rates = Vec::new();
        let mut process = Vec::new();
        for _ in 0..ROUNDS {
            let (rate, ids) = insert_rate(store, batch, total).await;
            rates.push(rate);
            if batch == 1_000 {
                process.push(process_rate(store, &ids).await);
            }
        }
        println!(
            "{name:>8}  insert_events, {batch:>5}-event batches: {:>9.0} rows/s",
            median(rates)
        );
        if !process.is_empty() {
            println!(
                "{name:>8}  load + apply_outcomes, 1,000-event jobs: {:>9.0} rows/s",
                median(process)
            );
        }
    }
}

/// Raw PostgreSQL: the same rows as SQL text (1,000-row INSERT … VALUES) and through COPY.
async fn raw_postgres(store: &PostgresStore) {
    let pool = store.pool();
    let owner: i64 = sqlx::query_scalar("SELECT id FROM users LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("a user");
    let row = |i: usize| {
        format!(
            "({owner}, 'raw', 'event_{}', 'engagement', 'web', NULL, '{PAYLOAD}', 'enqueued', now(), now())",
            i % 10
        )
    };
    let statement = format!(
        "INSERT INTO events (user_id, task_id, event_name, event_type, source, session_id, payload, status, created_at, updated_at) VALUES {} RETURNING id",
        (0..1_000).map(row).collect::<Vec<_>>().join(",")
    );
    let mut rates = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..50 {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(pool)
                .await
                .expect("raw insert");
        }
        rates.push(50_000.0 / started.elapsed().as_secs_f64());
    }
    println!(
        "     raw  INSERT … VALUES, 1,000-row statements:   {:>9.0} rows/s",
        median(rates)
    );

    let line = format!(
        "{owner}\traw\tevent_0\tengagement\tweb\t\\N\t{PAYLOAD}\tenqueued\t2026-01-01T00:00:00Z\t2026-01-01T00:00:00Z\n"
    );
    let data = line.repeat(200_000);
    let mut rates = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut connection = pool.acquire().await.expect("connection");
        let mut copy = connection
            .copy_in_raw("COPY events (user_id, task_id, event_name, event_type, source, session_id, payload, status, created_at, updated_at) FROM STDIN")
            .await
            .expect("copy");
        copy.send(data.as_bytes()).await.expect("copy data");
        copy.finish().await.expect("copy finish");
        rates.push(200_000.0 / started.elapsed().as_secs_f64());
    }
    println!(
        "     raw  COPY of 200,000 rows:                     {:>9.0} rows/s",
        median(rates)
    );
}

#[tokio::main]
async fn main() {
    let url = fresh_postgres_url().await;
    let postgres = PostgresStore::connect(&url, 8).await.expect("postgres");
    postgres.migrate().await.expect("migrate");
    measure("postgres", &postgres).await;
    raw_postgres(&postgres).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = pulseboard_store::connect(
        &format!("sqlite://{}/bench.db", dir.path().display()),
        4,
        true,
    )
    .await
    .expect("sqlite");
    measure("sqlite", sqlite.as_ref()).await;
}
