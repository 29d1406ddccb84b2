//! Upgrading a PostgreSQL database that already holds events keeps every view of them.

use std::borrow::Cow;

use pulseboard_core::EventStatus;
use pulseboard_store::{EventFilter, EventId, PostgresStore, UserId};
use pulseboard_test_support::{activity_totals, fresh_postgres_url, new_owner, status_counts};

#[tokio::test]
async fn upgrading_from_the_first_schema_keeps_task_lookups_operations_views_and_properties() {
    let url = fresh_postgres_url().await;
    let store = PostgresStore::connect(&url, 2).await.unwrap();
    let mut first_only = sqlx::migrate!("./migrations/postgres");
    first_only.migrations = Cow::Owned(first_only.migrations[..1].to_vec());
    first_only.run(store.pool()).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO users (email, password_hash, created_at) VALUES ('m@example.com', 'h', now()); \
         INSERT INTO events (user_id, task_id, event_name, event_type, payload, status, \
                             created_at, updated_at) \
         SELECT 1, 'task-' || (n % 2), 'e' || n, 't', '{}', 'enqueued', now(), now() \
         FROM generate_series(1, 5) AS n; \
         UPDATE events SET status = 'processed', updated_at = now() - interval '2 minutes', \
                           properties = '{\"original\": {\"n\": 1}, \"amount\": 2.5}' \
         WHERE id = 2; \
         UPDATE events SET status = 'failed', processing_error = 'Processing error: x', \
                           updated_at = now() - interval '2 minutes' \
         WHERE id = 4;",
    )
    .execute(store.pool())
    .await
    .unwrap();

    store.migrate().await.unwrap();

    let store: &dyn pulseboard_store::EventStore = &store;
    let odd = store.events_for_task("task-1").await.unwrap();
    assert_eq!(
        odd.iter()
            .map(|e| e.event_name.as_str())
            .collect::<Vec<_>>(),
        ["e1", "e3", "e5"]
    );
    assert_eq!(store.events_for_task("task-0").await.unwrap().len(), 2);
    assert_eq!(
        activity_totals(store).await.0,
        5,
        "the time index still finds every event"
    );

    assert_eq!(
        store.count_unfinished().await.unwrap(),
        3,
        "the backlog is carried over"
    );
    assert_eq!(
        status_counts(store).await,
        [
            (EventStatus::Enqueued, 3),
            (EventStatus::Processed, 1),
            (EventStatus::Failed, 1)
        ],
        "the dashboard counters start from the rows already there"
    );
    let failures = store.recent_failures(10).await.unwrap();
    assert_eq!(failures.iter().map(|e| e.id.0).collect::<Vec<_>>(), [4]);
    let failed_filter = EventFilter {
        status: Some(EventStatus::Failed),
        limit: 10,
        ..Default::default()
    };
    let listed = store.list_events(UserId(1), &failed_filter).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id.0).collect::<Vec<_>>(),
        [4],
        "an owner's earlier failures are listed after the upgrade"
    );
    let (_, processed, failed) = activity_totals(store).await;
    assert_eq!(
        (processed, failed),
        (1, 1),
        "finished counts are carried over"
    );
    let processed = store.get_event(EventId(2), None).await.unwrap().unwrap();
    let properties: serde_json::Value =
        serde_json::from_str(processed.properties_json.as_deref().unwrap()).unwrap();
    assert_eq!(
        properties,
        serde_json::json!({"original": {"n": 1}, "amount": 2.5}),
        "properties written as jsonb read back the same from json"
    );

    let stale = store
        .requeue_stale(chrono::Utc::now(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        stale.ids.iter().map(|id| id.0).collect::<Vec<_>>(),
        [1, 3, 5],
        "the sweep still finds the unfinished events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_that_migrate_one_database_at_the_same_moment_all_start() {
    // A server and its workers start together (docker-compose does): each applies migrations.
    let url = pulseboard_test_support::fresh_postgres_url().await;
    let starts = (0..3).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { pulseboard_store::connect(&url, 2, true).await.map(|_| ()) })
    });
    for start in starts.collect::<Vec<_>>() {
        start
            .await
            .unwrap()
            .expect("every process migrates or finds the schema current");
    }
}

#[tokio::test]
async fn upgrading_a_sqlite_database_starts_the_dashboard_counters_from_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = pulseboard_test_support::fresh_sqlite_url(dir.path());
    let store = pulseboard_store::SqliteStore::connect(&url, 2)
        .await
        .unwrap();
    let mut before_counters = sqlx::migrate!("./migrations/sqlite");
    let count = before_counters
        .migrations
        .iter()
        .position(|migration| migration.description.contains("counters"))
        .expect("the counters migration");
    before_counters.migrations = Cow::Owned(before_counters.migrations[..count].to_vec());
    before_counters.run(store.pool()).await.unwrap();
    let now = pulseboard_core::format_timestamp(chrono::Utc::now());
    sqlx::query(
        "INSERT INTO users (email, password_hash, created_at) VALUES ('s@example.com', 'h', ?1)",
    )
    .bind(&now)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (user_id, task_id, event_name, event_type, payload, status, \
                             created_at, updated_at) \
         VALUES (1, 't', 'a', 't', '{}', 'enqueued', ?1, ?1), \
                (1, 't', 'b', 't', '{}', 'processed', ?1, ?1), \
                (1, 't', 'c', 't', '{}', 'processed', ?1, ?1), \
                (1, 't', 'd', 't', '{}', 'validation_error', ?1, ?1)",
    )
    .bind(&now)
    .execute(store.pool())
    .await
    .unwrap();

    store.migrate().await.unwrap();

    let store: &dyn pulseboard_store::EventStore = &store;
    assert_eq!(
        status_counts(store).await,
        [
            (EventStatus::Enqueued, 1),
            (EventStatus::Processed, 2),
            (EventStatus::ValidationError, 1)
        ]
    );
    let totals = activity_totals(store).await;
    assert_eq!(
        totals,
        (4, 2, 1),
        "the last hours' activity is carried over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folding_moves_the_postgres_counter_deltas_into_the_counters_and_keeps_every_count() {
    let url = fresh_postgres_url().await;
    let store = PostgresStore::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let store_dyn: &dyn pulseboard_store::EventStore = &store;
    let owner = new_owner(store_dyn).await;
    let event = plain_event();
    for _ in 0..5 {
        let rows = [pulseboard_store::EventToInsert {
            owner,
            event: &event,
        }];
        store_dyn.insert_events("task", &rows).await.unwrap();
    }
    let deltas = "SELECT (SELECT count(*) FROM event_status_deltas) \
                       + (SELECT count(*) FROM event_activity_deltas)";
    let before: i64 = sqlx::query_scalar(deltas)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        before, 10,
        "each insert statement appended one row to each delta table"
    );

    store_dyn.fold_counters().await.unwrap();

    let after: i64 = sqlx::query_scalar(deltas)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(after, 0, "every delta was folded");
    assert_eq!(
        status_counts(store_dyn).await,
        [(EventStatus::Enqueued, 5)],
        "folding keeps every count"
    );
    assert_eq!(activity_totals(store_dyn).await.0, 5);
}

#[tokio::test]
async fn sqlite_activity_reaches_other_processes_when_the_writer_folds_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = pulseboard_test_support::fresh_sqlite_url(dir.path());
    let writer = pulseboard_store::connect(&url, 2, true).await.unwrap();
    let other = pulseboard_store::connect(&url, 2, false).await.unwrap();
    let owner = new_owner(writer.as_ref()).await;
    let event = plain_event();
    let rows = [pulseboard_store::EventToInsert {
        owner,
        event: &event,
    }];
    writer.insert_events("task", &rows).await.unwrap();
    let accepted = |store: std::sync::Arc<dyn pulseboard_store::EventStore>| async move {
        activity_totals(store.as_ref()).await.0
    };
    assert_eq!(
        accepted(writer.clone()).await,
        1,
        "the writer sees it at once"
    );
    assert_eq!(
        accepted(other.clone()).await,
        0,
        "another process sees it once folded"
    );
    writer.fold_counters().await.unwrap();
    assert_eq!(accepted(other.clone()).await, 1);
    assert_eq!(accepted(writer).await, 1, "folding counts nothing twice");
    let counts = other.counts_by_status().await.unwrap();
    assert_eq!(counts.len(), 1, "events per status are shared at once");
}

fn plain_event() -> pulseboard_core::NewEvent {
    pulseboard_core::NewEvent::parse(pulseboard_core::RawEventFields {
        event_name: Some("e"),
        event_type: Some("t"),
        ..Default::default()
    })
    .expect("a valid event")
}

/// Users from before the email key: ASCII emails get their key in the migration; others keep
/// none and are still found by `lower(email)` as before. Both stores.
#[tokio::test]
async fn users_from_before_the_email_key_are_still_found_by_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = pulseboard_store::SqliteStore::connect(
        &pulseboard_test_support::fresh_sqlite_url(dir.path()),
        2,
    )
    .await
    .unwrap();
    let mut before = sqlx::migrate!("./migrations/sqlite");
    let keyed = position_of(&before, "email key");
    before.migrations = Cow::Owned(before.migrations[..keyed].to_vec());
    before.run(sqlite.pool()).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO users (email, password_hash, created_at) \
         VALUES ('Old@Example.com', 'h', '2026-01-01T00:00:00Z'), ('ü@b.co', 'h', '2026-01-01T00:00:00Z')",
    )
    .execute(sqlite.pool())
    .await
    .unwrap();
    sqlite.migrate().await.unwrap();
    assert_legacy_users_found(&sqlite).await;

    let postgres = PostgresStore::connect(&fresh_postgres_url().await, 2)
        .await
        .unwrap();
    let mut before = sqlx::migrate!("./migrations/postgres");
    let keyed = position_of(&before, "email key");
    before.migrations = Cow::Owned(before.migrations[..keyed].to_vec());
    before.run(postgres.pool()).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO users (email, password_hash, created_at) \
         VALUES ('Old@Example.com', 'h', now()), ('ü@b.co', 'h', now())",
    )
    .execute(postgres.pool())
    .await
    .unwrap();
    postgres.migrate().await.unwrap();
    assert_legacy_users_found(&postgres).await;
}

fn position_of(migrator: &sqlx::migrate::Migrator, description: &str) -> usize {
    migrator
        .migrations
        .iter()
        .position(|migration| migration.description.contains(description))
        .unwrap_or_else(|| panic!("the {description} migration"))
}

async fn assert_legacy_users_found(store: &dyn pulseboard_store::EventStore) {
    for (typed, stored) in [("old@EXAMPLE.com", "Old@Example.com"), ("ü@b.co", "ü@b.co")] {
        let found = store.find_user_by_email(typed).await.unwrap();
        assert_eq!(
            found.map(|user| user.email),
            Some(stored.to_owned()),
            "{typed}"
        );
    }
    let again = pulseboard_store::NewUser {
        email: "OLD@example.com".into(),
        password_hash: "h".into(),
        full_name: None,
    };
    assert!(matches!(
        store.create_user(&again).await,
        Err(pulseboard_store::StoreError::DuplicateEmail)
    ));
}

/// Message ids stored under the unique index of `events` are still known after they move to
/// their own table: a retry of one stores nothing and answers with the stored event.
#[tokio::test]
async fn message_ids_from_before_their_table_still_make_retries_duplicates() {
    let store = PostgresStore::connect(&fresh_postgres_url().await, 2)
        .await
        .unwrap();
    let mut before = sqlx::migrate!("./migrations/postgres");
    let moved = position_of(&before, "message ids table");
    before.migrations = Cow::Owned(before.migrations[..moved].to_vec());
    before.run(store.pool()).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO users (email, email_key, password_hash, created_at) \
         VALUES ('m@example.com', 'm@example.com', 'h', now()); \
         INSERT INTO events (user_id, task_id, event_name, event_type, payload, status, \
                             created_at, updated_at, message_id) \
         VALUES (1, 'task-old', 'e', 't', '{}', 'processed', now(), now(), 'm-old'), \
                (1, 'task-old', 'e', 't', '{}', 'enqueued', now(), now(), NULL);",
    )
    .execute(store.pool())
    .await
    .unwrap();

    store.migrate().await.unwrap();

    let store: &dyn pulseboard_store::EventStore = &store;
    let retried = pulseboard_core::NewEvent::parse(pulseboard_core::RawEventFields {
        event_name: Some("e"),
        event_type: Some("t"),
        message_id: Some("m-old"),
        ..Default::default()
    })
    .expect("a valid event");
    let row = pulseboard_store::EventToInsert {
        owner: UserId(1),
        event: &retried,
    };
    let answered = store.insert_events("task-retry", &[row]).await.unwrap();
    assert_eq!(answered[0].id, EventId(1), "the stored event answers");
    assert_eq!(answered[0].existing_task_id.as_deref(), Some("task-old"));
    let filter = EventFilter {
        message_id: Some("m-old".into()),
        limit: 10,
        ..EventFilter::default()
    };
    let listed = store.list_events(UserId(1), &filter).await.unwrap();
    assert_eq!(listed.len(), 1, "found by its message id");
}
