//! The dashboard's counters on SQLite (migration 0004): the number of events and the activity
//! per minute, kept by the writes that change them, in their transaction, one statement per
//! batch. Events per status are derived from the total (see [`counts_by_status`]).

use sqlx::sqlite::{SqliteConnection, SqlitePool};

use crate::{StatusCount, StoreResult, failure_sql_list, unfinished_sql_list};

/// The minute of a fixed-width RFC 3339 timestamp: its first 16 characters.
pub(super) fn minute_of(timestamp: &str) -> &str {
    timestamp.get(..16).unwrap_or(timestamp)
}

/// `inserted` events were stored at `now`, `rejected` of them already final.
pub(super) async fn count_inserted(
    connection: &mut SqliteConnection,
    inserted: usize,
    rejected: usize,
    now: &str,
) -> Result<(), sqlx::Error> {
    if inserted == 0 {
        return Ok(());
    }
    add_to_total(connection, inserted as i64).await?;
    add_activity(connection, minute_of(now), inserted, 0, rejected).await
}

/// `deleted` events were purged.
pub(super) async fn count_deleted(
    connection: &mut SqliteConnection,
    deleted: u64,
) -> Result<(), sqlx::Error> {
    add_to_total(connection, -(deleted as i64)).await
}

/// Events became final in `minute`: `processed` of them processed, `failed` not.
pub(super) async fn count_finished(
    connection: &mut SqliteConnection,
    minute: &str,
    processed: usize,
    failed: usize,
) -> Result<(), sqlx::Error> {
    if processed + failed == 0 {
        return Ok(());
    }
    add_activity(connection, minute, 0, processed, failed).await
}

async fn add_to_total(connection: &mut SqliteConnection, events: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE event_counters SET value = value + ?1 WHERE name = 'events'")
        .bind(events)
        .execute(connection)
        .await
        .map(drop)
}

async fn add_activity(
    connection: &mut SqliteConnection,
    minute: &str,
    accepted: usize,
    processed: usize,
    failed: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO event_activity_minutes (minute, accepted, processed, failed) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (minute) DO UPDATE SET accepted = accepted + excluded.accepted, \
             processed = processed + excluded.processed, failed = failed + excluded.failed",
    )
    .bind(minute)
    .bind(accepted as i64)
    .bind(processed as i64)
    .bind(failed as i64)
    .execute(connection)
    .await
    .map(drop)
}

/// Events per status: the unfinished ones and the failures counted on their partial indexes
/// (the literal lists let the planner use them), `processed` the rest of the total. One read
/// transaction, so the three agree.
pub(super) async fn counts_by_status(pool: &SqlitePool) -> StoreResult<Vec<StatusCount>> {
    let mut connection = pool.begin().await?;
    let total: i64 = sqlx::query_scalar("SELECT value FROM event_counters WHERE name = 'events'")
        .fetch_one(&mut *connection)
        .await?;
    let mut rows: Vec<(String, i64)> = sqlx::query_as(concat!(
        "SELECT status, count(*) FROM events WHERE status IN ",
        unfinished_sql_list!(),
        " GROUP BY status UNION ALL SELECT status, count(*) FROM events WHERE status IN ",
        failure_sql_list!(),
        " GROUP BY status"
    ))
    .fetch_all(&mut *connection)
    .await?;
    connection.commit().await?;
    let processed = total - rows.iter().map(|(_, count)| count).sum::<i64>();
    rows.push((
        pulseboard_core::EventStatus::Processed.as_str().to_owned(),
        processed,
    ));
    rows.retain(|(_, count)| *count != 0);
    crate::rows::status_counts(rows)
}
