//! PulseBoard's storage: one object-safe [`EventStore`] trait, implemented for PostgreSQL
//! (production) and SQLite (the embedded default), each with its own migrations.
//!
//! The store is the source of truth for every event: the queue only carries wake-ups. Every bulk
//! operation is one round trip (PostgreSQL) or one transaction (SQLite), and every status write is
//! conditional on the status model of `pulseboard-core`, so duplicate jobs change nothing.

mod error;
mod postgres;
mod rows;
mod sqlite;
mod types;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::{FaultKind, StoreError, StoreResult};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use types::{
    EventFilter, EventId, EventOutcome, EventToInsert, InsertedEvent, LoginAttemptId,
    MinuteActivity, NewUser, PurgeRound, ReplaySelection, StaleEvents, StatusCount, StoredEvent,
    SweepCursor, UnfinishedEvent, User, UserId, WriteKey, WriteKeyId, WriteKeyUse,
};

/// Everything the API, the worker, the recovery sweep and the dashboard ask of storage.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`, for logs and the dashboard.
    fn backend_name(&self) -> &'static str;

    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;

    /// Creates a user; [`StoreError::DuplicateEmail`] if the email exists in any letter case.
    async fn create_user(&self, user: &NewUser) -> StoreResult<User>;

    /// Finds a user by id.
    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>>;

    /// Finds a user by email, ignoring letter case.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// Inserts events in one transaction, all `enqueued` under `task_id`, and says for each, in
    /// the order given, which id it has. An event whose owner already has its message id
    /// (stored earlier, or at an earlier position of this insert) is not inserted: it gets the
    /// stored event's id and task id. A unique constraint decides, so this holds between concurrent
    /// inserts and between server processes.
    async fn insert_events(
        &self,
        task_id: &str,
        events: &[EventToInsert<'_>],
    ) -> StoreResult<Vec<InsertedEvent>>;

    /// One event; with `owner` set, only if that user owns it.
    async fn get_event(
        &self,
        id: EventId,
        owner: Option<UserId>,
    ) -> StoreResult<Option<StoredEvent>>;

    /// An owner's events, newest first, filtered and paged by [`EventFilter`].
    async fn list_events(
        &self,
        owner: UserId,
        filter: &EventFilter,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The unfinished events among `ids`, with their owners' emails, in id order. Final events
    /// are left out. Writes nothing: an attempt stores only where it ended, with
    /// [`EventStore::apply_outcomes`] or [`EventStore::record_retry`] (see
    /// [`EventStatus::attempt_sources`](pulseboard_core::EventStatus::attempt_sources)).
    async fn load_unfinished(&self, ids: &[EventId]) -> StoreResult<Vec<UnfinishedEvent>>;

    /// Writes all outcomes atomically and counts the attempt, each only where the event is
    /// still in one of [`EventStatus::attempt_sources`](pulseboard_core::EventStatus::attempt_sources)
    /// (so a second applier changes nothing) and still has [`EventOutcome::attempts_before`]
    /// attempts (so an attempt counted as failed meanwhile changes nothing). Returns the ids of
    /// the events that changed. `outcomes` holds each event at most once.
    async fn apply_outcomes(&self, outcomes: &[EventOutcome]) -> StoreResult<Vec<EventId>>;

    /// Sets `updated_at` to now on the unfinished events among `ids`: their attempt starts, and
    /// the sweep's lease counts from here. Returns how many changed.
    async fn touch_unfinished(&self, ids: &[EventId]) -> StoreResult<u64>;

    /// Marks unfinished events `retrying` with the outage's message and counts the failed
    /// attempt. Returns how many changed.
    async fn record_retry(&self, ids: &[EventId], error: &str) -> StoreResult<u64>;

    /// Marks retrying events `failed` with the outage's message. Returns how many changed.
    async fn mark_failed(&self, ids: &[EventId], error: &str) -> StoreResult<u64>;

    /// Takes up to `limit` unfinished events last changed before `cutoff` and after `after` in
    /// (last change, id) order, and touches them (`updated_at` = now, so later sweeps skip them
    /// for a lease). A sweep keeps one `cutoff` and passes each round's cursor to the next, so
    /// it takes every stale event exactly once and never rescans what it already took.
    async fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<SweepCursor>,
        limit: u32,
    ) -> StoreResult<StaleEvents>;

    /// Events not yet in a final status: the backlog.
    async fn count_unfinished(&self) -> StoreResult<i64>;

    /// Events per status, over all users; statuses with no events are left out. Read from
    /// counters the store keeps as events are written, so the cost does not grow with the table.
    async fn counts_by_status(&self) -> StoreResult<Vec<StatusCount>>;

    /// The most recently failed events (`validation_error` or `failed`), newest first.
    async fn recent_failures(&self, limit: u32) -> StoreResult<Vec<StoredEvent>>;

    /// Accepted / processed / failed counts per minute since `since` (at most two hours
    /// back), oldest first; read from counters like [`Self::counts_by_status`]. An event counts
    /// when it happens: a replayed event that is processed again counts again.
    async fn activity_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<MinuteActivity>>;

    /// Upkeep of those counters, for the worker to call every few seconds: moves what the
    /// writes appended into the counters (PostgreSQL) and drops minutes older than two hours.
    /// Readers get the same counts before and after.
    async fn fold_counters(&self) -> StoreResult<()>;

    /// Every event a job carried, in id order.
    async fn events_for_task(&self, task_id: &str) -> StoreResult<Vec<StoredEvent>>;

    /// Moves up to `limit` of `owner`'s (every user's with `None`, for the operator) replayable
    /// events that `selection` matches back to `enqueued` (error cleared, `attempts` back to 0
    /// for a fresh retry budget, `updated_at` now), lowest ids first; their ids.
    async fn replay_events(
        &self,
        owner: Option<UserId>,
        selection: &ReplaySelection,
        limit: u32,
    ) -> StoreResult<Vec<EventId>>;

    /// Takes or renews the lease `name` for `holder` for `ttl`: true when `holder` holds it
    /// now, because it was free, expired, or `holder`'s already. Upkeep that one process at a
    /// time should do (the retention purge) runs only while its lease is held; a holder that
    /// stops renewing loses it after `ttl`.
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;

    /// One round of the retention purge: looks at up to `limit` events after `after` in id
    /// order (ids follow creation time) and deletes those created before `cutoff` that are
    /// final, with what else only they kept (their task's lookup row). Unfinished old events
    /// stay. A purge passes each round's `next` to the following one until it is `None`.
    async fn purge_finished_before(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<EventId>,
        limit: u32,
    ) -> StoreResult<PurgeRound>;

    /// Stores a write key for `owner` under `name`; only the key's hash is given and kept.
    async fn create_write_key(
        &self,
        owner: UserId,
        name: &str,
        key_hash: &str,
    ) -> StoreResult<WriteKey>;

    /// `owner`'s write keys (every user's with `None`, for the operator), revoked ones
    /// included, oldest first, at most `limit`.
    async fn list_write_keys(
        &self,
        owner: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<WriteKey>>;

    /// Revokes `owner`'s key `id`. `false` when `owner` has no such key; revoking twice is
    /// harmless and keeps the first revocation time.
    async fn revoke_write_key(&self, owner: UserId, id: WriteKeyId) -> StoreResult<bool>;

    /// The active (not revoked) key with this hash.
    async fn find_write_key(&self, key_hash: &str) -> StoreResult<Option<WriteKey>>;

    /// Adds use counts and moves each key's last-use time forward (never back).
    async fn record_write_key_use(&self, uses: &[WriteKeyUse]) -> StoreResult<()>;

    /// Keeps a new installation's cached query plans from scanning the events table: analyzes
    /// the table once it holds 1,000 rows, if the planner has never seen it that large. Returns
    /// whether it did. PostgreSQL's autovacuum would, but a minute or more later; until then
    /// the plans cached while the table was empty scan it whole for every lookup by id
    /// (BENCHMARKS.md). A no-op on SQLite, whose planner needs no statistics.
    async fn refresh_planner_statistics(&self) -> StoreResult<bool>;

    /// Records one login attempt at `at` under each of `keys`, before its password is checked,
    /// so concurrent attempts see each other. Returns the records, in the order of `keys`.
    async fn record_login_attempt(
        &self,
        keys: &[&str],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<LoginAttemptId>>;

    /// The times of `key`'s recorded attempts at or after `since`, newest first, at most
    /// `limit`.
    async fn recent_login_attempts(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DateTime<Utc>>>;

    /// Deletes attempt records: a login that succeeded, or one refused before its password
    /// was checked, does not count against anyone.
    async fn forget_login_attempts(&self, ids: &[LoginAttemptId]) -> StoreResult<()>;

    /// Deletes attempt records older than `before`; returns how many.
    async fn forget_login_attempts_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Opens the store a URL names: `postgres://…` or `sqlite://path` (`sqlite::memory:` for tests).
/// With `migrate`, applies pending migrations first.
pub async fn connect(url: &str, pool_size: u32, migrate: bool) -> StoreResult<Arc<dyn EventStore>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url, pool_size).await?;
        if migrate {
            store.migrate().await?;
        }
        Ok(Arc::new(store))
    } else {
        let store = SqliteStore::connect(url, pool_size).await?;
        if migrate {
            store.migrate().await?;
        }
        Ok(Arc::new(store))
    }
}

/// The (owner, message id) of an event, when it has a message id.
fn message_key<'a>(event: &EventToInsert<'a>) -> Option<(i64, &'a str)> {
    event.event.message_id().map(|id| (event.owner.0, id))
}

/// A row an insert created: (id, owner, message id).
type InsertedRow = (i64, i64, Option<String>);

/// Events already stored under a message id: (owner, message id) → (id, task id).
type StoredIds = HashMap<(i64, String), (i64, String)>;

/// Maps keyed by client message ids: foldhash, seeded per process, hashes them several times
/// faster than std's SipHash (it was 3.4 % of the server's CPU on the Segment route).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See [`HashMap`].
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// [`StoredIds`] from `SELECT user_id, message_id, id, task_id` rows.
fn stored_ids(rows: Vec<(i64, String, i64, String)>) -> StoredIds {
    rows.into_iter()
        .map(|(owner, message_id, id, task)| ((owner, message_id), (id, task)))
        .collect()
}

/// Maps an insert's results back to the events given, in their order.
///
/// `inserted` holds (id, owner, message id) of the rows the insert created, in id order (ids
/// follow the order given); `stored` the (id, task id) of rows that held a message id already,
/// by (owner, message id). Rows without a message id are never skipped, so they take the
/// anonymous inserted ids in order.
fn match_inserted(
    events: &[EventToInsert<'_>],
    task_id: &str,
    inserted: &[InsertedRow],
    stored: &StoredIds,
) -> StoreResult<Vec<InsertedEvent>> {
    let mut anonymous = inserted
        .iter()
        .filter(|row| row.2.is_none())
        .map(|row| row.0);
    // Each created id with whether an event was answered with it yet: a repeat within the
    // batch gets the same id, as a duplicate.
    let mut created: HashMap<(i64, &str), (i64, bool)> = inserted
        .iter()
        .filter_map(|(id, owner, message_id)| {
            Some(((*owner, message_id.as_deref()?), (*id, false)))
        })
        .collect();
    events
        .iter()
        .map(|event| {
            let Some(key) = message_key(event) else {
                let id = anonymous
                    .next()
                    .ok_or_else(|| mismatch("an event without message id"))?;
                return Ok(InsertedEvent {
                    id: EventId(id),
                    existing_task_id: None,
                });
            };
            if let Some((id, answered)) = created.get_mut(&key) {
                let (id, repeat) = (*id, std::mem::replace(answered, true));
                let existing_task_id = repeat.then(|| task_id.to_owned());
                return Ok(InsertedEvent {
                    id: EventId(id),
                    existing_task_id,
                });
            }
            let (id, task) = stored
                .get(&(key.0, key.1.to_owned()))
                .ok_or_else(|| mismatch("a message id neither inserted nor stored"))?;
            Ok(InsertedEvent {
                id: EventId(*id),
                existing_task_id: Some(task.clone()),
            })
        })
        .collect()
}

/// An insert whose results do not cover the events given: a concurrent delete removed the
/// event a message id conflicted with. Retrying the request stores it.
fn mismatch(what: &str) -> StoreError {
    StoreError::InvalidData(format!(
        "insert results do not cover {what}; retry the request"
    ))
}

/// The `EventStatus` spellings of `statuses`, for SQL `IN`/`ANY` conditions.
fn status_names(statuses: &[pulseboard_core::EventStatus]) -> Vec<&'static str> {
    statuses.iter().map(|status| status.as_str()).collect()
}

/// Statuses from which the model allows moving to `to`.
fn sources_of(to: pulseboard_core::EventStatus) -> Vec<&'static str> {
    status_names(&pulseboard_core::EventStatus::sources_of(to))
}

/// The statuses the one write that ends an attempt may change, as SQL values.
fn attempt_sources() -> Vec<&'static str> {
    status_names(&pulseboard_core::EventStatus::attempt_sources())
}

/// The statuses that are not final, as the SQL list literal of the migrations' partial indexes.
/// Spelled out (not bound) so the planner can prove the index predicate and use it: counting
/// the backlog must not scan the whole table. A test checks it against core's status model.
macro_rules! unfinished_sql_list {
    () => {
        "('enqueued', 'processing', 'retrying')"
    };
}
pub(crate) use unfinished_sql_list;

/// The final statuses other than `processed` (the failures), spelled out for the same reason.
macro_rules! failure_sql_list {
    () => {
        "('validation_error', 'failed')"
    };
}
pub(crate) use failure_sql_list;

/// Spellings of the final statuses.
fn final_statuses() -> Vec<&'static str> {
    let all = pulseboard_core::EventStatus::ALL;
    status_names(
        &all.into_iter()
            .filter(|status| status.is_final())
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_unfinished_sql_list_matches_the_status_model() {
        let unfinished: Vec<String> = pulseboard_core::EventStatus::ALL
            .into_iter()
            .filter(|status| !status.is_final())
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        assert_eq!(
            unfinished_sql_list!(),
            format!("({})", unfinished.join(", "))
        );
    }

    #[test]
    fn the_failure_sql_list_matches_the_status_model() {
        use pulseboard_core::EventStatus;
        let failures: Vec<String> = EventStatus::ALL
            .into_iter()
            .filter(|status| status.is_final() && *status != EventStatus::Processed)
            .map(|status| format!("'{}'", status.as_str()))
            .collect();
        assert_eq!(failure_sql_list!(), format!("({})", failures.join(", ")));
    }
}
