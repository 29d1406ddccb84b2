//! The multi-row insert of events, skipping message ids their owner already has.

use pulseboard_core::format_timestamp;
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

use super::INSERT_CHUNK_ROWS;
use crate::{EventToInsert, InsertedRow, StoredIds, message_key, stored_ids};

/// Rows an insert created, in id order, and the stored rows of message ids it skipped.
pub(super) type Written = (Vec<InsertedRow>, StoredIds);

/// Inserts `events` in chunks inside the caller's transaction, skipping message ids their
/// owner already has. The transaction holds the write lock, so the look-up of those sees every
/// committed row.
pub(super) async fn insert_rows(
    connection: &mut SqliteConnection,
    task_id: &str,
    events: &[EventToInsert<'_>],
    now: &str,
) -> Result<Written, sqlx::Error> {
    let mut inserted: Vec<InsertedRow> = Vec::with_capacity(events.len());
    for chunk in events.chunks(INSERT_CHUNK_ROWS) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO events (user_id, task_id, event_name, event_type, source, session_id, \
             payload, status, created_at, updated_at, message_id, processing_error, \
             client_user_id, anonymous_id, occurred_at, context) ",
        );
        insert.push_values(chunk, |mut row, item| {
            row.push_bind(item.owner.0)
                .push_bind(task_id)
                .push_bind(item.event.event_name())
                .push_bind(item.event.event_type())
                .push_bind(item.event.source())
                .push_bind(item.event.session_id())
                .push_bind(item.event.payload_json())
                .push_bind(item.event.initial_status().as_str())
                .push_bind(now)
                .push_bind(now)
                .push_bind(item.event.message_id())
                .push_bind(item.event.rejection())
                .push_bind(item.event.user_id())
                .push_bind(item.event.anonymous_id())
                .push_bind(item.event.occurred_at().map(format_timestamp))
                .push_bind(item.event.context_json());
        });
        insert.push(
            " ON CONFLICT (user_id, message_id) WHERE message_id IS NOT NULL DO NOTHING \
             RETURNING id, user_id, message_id",
        );
        inserted.extend(insert.build_query_as().fetch_all(&mut *connection).await?);
    }
    // Rowids are assigned in VALUES order; RETURNING order is not guaranteed.
    inserted.sort_unstable_by_key(|row| row.0);
    let stored = if inserted.len() < events.len() {
        stored_message_ids(connection, events).await?
    } else {
        StoredIds::default()
    };
    Ok((inserted, stored))
}

/// The stored (id, task id) of the given events' message ids, by (owner, message id).
async fn stored_message_ids(
    connection: &mut SqliteConnection,
    events: &[EventToInsert<'_>],
) -> Result<StoredIds, sqlx::Error> {
    let keys: Vec<(i64, &str)> = events.iter().filter_map(message_key).collect();
    let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_owned());
    let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
        "SELECT e.user_id, e.message_id, e.id, e.task_id \
         FROM json_each(?1) AS k JOIN events e \
           ON e.user_id = k.value ->> 0 AND e.message_id = k.value ->> 1",
    )
    .bind(keys)
    .fetch_all(&mut *connection)
    .await?;
    Ok(stored_ids(rows))
}
