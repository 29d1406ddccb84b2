//! The dashboard's counters on SQLite (migration 0004):
//! - the number of events, kept by inserts and purges in their transaction (one statement per
//!   batch); events per status are derived from it (see [`counts_by_status`]);
//! - the activity per minute, summed in memory as writes commit ([`PendingActivity`]) and
//!   written to `event_activity_minutes` by the upkeep every few seconds. A statement per write
//!   cost embedded batch ingest measurably more CPU per event (BENCHMARKS.md).
//!   The price: a process that dies loses the last seconds of its activity counts (never an
//!   event), and another process sharing the file sees them seconds late.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sqlx::sqlite::{SqliteConnection, SqlitePool};

use crate::{StatusCount, StoreResult, failure_sql_list, unfinished_sql_list};

/// The minute of a fixed-width RFC 3339 timestamp: its first 16 characters.
pub(super) fn minute_of(timestamp: &str) -> &str {
    timestamp.get(..16).unwrap_or(timestamp)
}

/// `inserted` events were stored.
pub(super) async fn count_inserted(
    connection: &mut SqliteConnection,
    inserted: usize,
) -> Result<(), sqlx::Error> {
    if inserted == 0 {
        return Ok(());
    }
    add_to_total(connection, inserted as i64).await
}

/// `deleted` events were purged.
pub(super) async fn count_deleted(
    connection: &mut SqliteConnection,
    deleted: u64,
) -> Result<(), sqlx::Error> {
    add_to_total(connection, -(deleted as i64)).await
}

async fn add_to_total(connection: &mut SqliteConnection, events: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE event_counters SET value = value + ?1 WHERE name = 'events'")
        .bind(events)
        .execute(connection)
        .await
        .map(drop)
}

/// Activity per minute (accepted, processed, failed) of committed writes not yet written to
/// `event_activity_minutes`.
#[derive(Debug, Clone, Default)]
pub(super) struct PendingActivity {
    minutes: Arc<Mutex<BTreeMap<String, [i64; 3]>>>,
}

impl PendingActivity {
    /// Adds to `minute`'s counts; call only once the write has committed.
    pub(super) fn add(&self, minute: &str, accepted: usize, processed: usize, failed: usize) {
        if accepted + processed + failed == 0 {
            return;
        }
        let mut minutes = self.lock();
        let counts = minutes.entry(minute.to_owned()).or_default();
        counts[0] += accepted as i64;
        counts[1] += processed as i64;
        counts[2] += failed as i64;
    }

    /// The counts not written yet, leaving none.
    fn take(&self) -> BTreeMap<String, [i64; 3]> {
        std::mem::take(&mut *self.lock())
    }

    /// A copy of the counts not written yet.
    pub(super) fn snapshot(&self) -> BTreeMap<String, [i64; 3]> {
        self.lock().clone()
    }

    /// The counts, locked. A panic elsewhere while they were held leaves plain numbers behind,
    /// still usable, so a poisoned lock is taken as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, [i64; 3]>> {
        self.minutes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the pending counts into `event_activity_minutes`. On an error they are put back,
    /// to be written next time.
    pub(super) async fn write(&self, connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let pending = self.take();
        for (minute, [accepted, processed, failed]) in &pending {
            let written = sqlx::query(
                "INSERT INTO event_activity_minutes (minute, accepted, processed, failed) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (minute) DO UPDATE SET accepted = accepted + excluded.accepted, \
                     processed = processed + excluded.processed, failed = failed + excluded.failed",
            )
            .bind(minute)
            .bind(accepted)
            .bind(processed)
            .bind(failed)
            .execute(&mut *connection)
            .await;
            if let Err(error) = written {
                for (minute, [accepted, processed, failed]) in &pending {
                    self.add(
                        minute,
                        *accepted as usize,
                        *processed as usize,
                        *failed as usize,
                    );
                }
                return Err(error);
            }
        }
        Ok(())
    }
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
