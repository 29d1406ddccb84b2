//! The SQLite store (embedded default): one file, WAL journal, full fsync on commit.
//!
//! Lists (ids, statuses) are bound as one JSON array and read with `json_each`, so every statement
//! is static text that sqlx prepares once per connection.

mod counters;
mod insert;
mod writer;

use insert::insert_rows;
use writer::Writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pulseboard_core::account::email_key;
use pulseboard_core::{EventStatus, format_timestamp};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::Mutex;

use crate::error::is_unique_violation;
use crate::rows::{EventRow, UnfinishedRow, UserRow, WriteKeyRow, into_events, write_key_columns};
use crate::{
    EventFilter, EventId, EventOutcome, EventStore, EventToInsert, InsertedEvent, LoginAttemptId,
    MinuteActivity, NewUser, PurgeRound, ReplaySelection, StaleEvents, StatusCount, StoreError,
    StoreResult, StoredEvent, SweepCursor, UnfinishedEvent, User, UserId, WriteKey, WriteKeyId,
    WriteKeyUse, attempt_sources, failure_sql_list, final_statuses, match_inserted, sources_of,
    status_names, unfinished_sql_list,
};

/// Rows per multi-row INSERT: 10 bound values a row stays far below SQLite's 32,766 limit.
const INSERT_CHUNK_ROWS: usize = 500;
/// How long a writer waits for the database lock before the store counts as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `SELECT <every event column> FROM events <rest>`, as one string literal.
macro_rules! select_events {
    ($($rest:expr),+ $(,)?) => {
        concat!(
            "SELECT id, user_id, task_id, event_name, event_type, source, session_id, payload, ",
            "properties, status, processing_error, attempts, created_at, updated_at, processed_at, ",
            "message_id, client_user_id, anonymous_id, occurred_at, context ",
            "FROM events ",
            $($rest),+
        )
    };
}

/// SQLite-backed [`EventStore`].
///
/// SQLite runs one writer at a time. Writers queue on an in-process lock rather than on
/// SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and made write latency
/// spike under load; readers are not affected (WAL).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Mutex<()>>,
    activity: counters::PendingActivity,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file a `sqlite://path` URL names.
    ///
    /// Pragmas: WAL lets readers run beside the single writer; `synchronous=FULL` fsyncs the WAL
    /// on every commit, so an event acknowledged with 202 survives a power cut (NORMAL could lose
    /// the last commits); `busy_timeout` makes writers queue instead of failing at once.
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // An in-memory database exists per connection: share one.
        let pool_size = if url.contains(":memory:") {
            1
        } else {
            pool_size
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            writer: Arc::default(),
            activity: counters::PendingActivity::default(),
        })
    }

    /// Applies pending migrations from `migrations/sqlite`.
    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(|error| StoreError::Database(error.into()))
    }

    /// The underlying pool, for tests and benchmarks.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for the single writer's turn and takes a pooled connection for the write.
    async fn writer(&self) -> StoreResult<Writer<'_>> {
        let turn = self.writer.lock().await;
        let connection = self.pool.acquire().await?;
        Ok(Writer::new(turn, connection))
    }

    /// Like [`Self::writer`], inside `BEGIN IMMEDIATE`: the write lock is taken now, so a
    /// transaction never fails half-way for want of it; end it with [`Writer::commit`].
    async fn transaction(&self) -> StoreResult<Writer<'_>> {
        let mut writer = self.writer().await?;
        let begun = sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(writer.connection())
            .await;
        writer.finish(begun).await?;
        Ok(writer)
    }

    /// Moves unfinished events to `to` with `error`, from `sources`, adding `attempts_added`.
    async fn set_status(
        &self,
        ids: &[EventId],
        to: EventStatus,
        error: &str,
        sources: Vec<&'static str>,
        attempts_added: i32,
    ) -> StoreResult<u64> {
        let now = now_text();
        let update = sqlx::query(
            "UPDATE events SET status = ?1, processing_error = ?2, updated_at = ?3, \
                    attempts = attempts + ?6 \
             WHERE id IN (SELECT value FROM json_each(?4)) \
               AND status IN (SELECT value FROM json_each(?5))",
        )
        .bind(to.as_str())
        .bind(error)
        .bind(&now)
        .bind(json_ids(ids))
        .bind(json_list(&sources))
        .bind(attempts_added);
        let mut writer = self.writer().await?;
        let result = update.execute(writer.connection()).await;
        let moved = writer.finish(result).await?.rows_affected();
        if to.is_final() {
            let moved = moved as usize;
            let processed = if to.is_processed() { moved } else { 0 };
            self.activity
                .add(counters::minute_of(&now), 0, processed, moved - processed);
        }
        Ok(moved)
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        // An explicit transaction, so a failed commit is seen: in autocommit, `fetch_one` of an
        // INSERT … RETURNING leaves the statement before it ends, and the commit that happens
        // when it is reset later can fail unseen (a 201 for a user lost on a full disk).
        let mut transaction = self.transaction().await?;
        let inserted: Result<UserRow, _> = sqlx::query_as(
            "INSERT INTO users (email, password_hash, full_name, created_at, email_key) \
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id, email, password_hash, full_name, created_at",
        )
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(&user.full_name)
        .bind(now_text())
        .bind(email_key(&user.email))
        .fetch_one(transaction.connection())
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => {
                // Rolls back; the error it passes on is this same violation.
                let _ = transaction.commit(Err::<(), _>(error)).await;
                Err(StoreError::DuplicateEmail)
            }
            inserted => Ok(transaction.commit(inserted).await?.into()),
        }
    }

    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, password_hash, full_name, created_at FROM users WHERE id = ?1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, password_hash, full_name, created_at FROM users \
             WHERE email_key = ?1 OR (email_key IS NULL AND lower(email) = lower(?2))",
        )
        .bind(email_key(email))
        .bind(email.trim())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    async fn insert_events(
        &self,
        task_id: &str,
        events: &[EventToInsert<'_>],
    ) -> StoreResult<Vec<InsertedEvent>> {
        let now = now_text();
        let mut transaction = self.transaction().await?;
        let written = insert_and_count(transaction.connection(), task_id, events, &now).await;
        let (inserted, stored) = transaction.commit(written).await?;
        let answered = match_inserted(events, task_id, &inserted, &stored)?;
        // An event refused at the door is stored final: accepted and failed in one minute.
        let (mut accepted, mut rejected) = (0, 0);
        for (item, answer) in events.iter().zip(&answered) {
            if !answer.is_duplicate() {
                accepted += 1;
                rejected += usize::from(item.event.rejection().is_some());
            }
        }
        self.activity
            .add(counters::minute_of(&now), accepted, 0, rejected);
        Ok(answered)
    }

    async fn get_event(
        &self,
        id: EventId,
        owner: Option<UserId>,
    ) -> StoreResult<Option<StoredEvent>> {
        let row: Option<EventRow> = sqlx::query_as(select_events!(
            "WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)"
        ))
        .bind(id.0)
        .bind(owner.map(|owner| owner.0))
        .fetch_optional(&self.pool)
        .await?;
        row.map(StoredEvent::try_from).transpose()
    }

    async fn list_events(
        &self,
        owner: UserId,
        filter: &EventFilter,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(select_events!(
            "WHERE user_id = ?1 \
               AND (?2 IS NULL OR status = ?2) \
               AND (?3 IS NULL OR event_name = ?3) \
               AND (?8 IS NULL OR message_id = ?8) \
               AND (?4 IS NULL OR created_at >= ?4) \
               AND (?5 IS NULL OR created_at < ?5) \
               AND (?6 IS NULL OR id < ?6) \
             ORDER BY id DESC LIMIT ?7"
        ))
        .bind(owner.0)
        .bind(filter.status.map(EventStatus::as_str))
        .bind(filter.event_name.as_deref())
        .bind(filter.created_from.map(filter_bound))
        .bind(filter.created_until.map(filter_bound))
        .bind(filter.before_id.map(|id| id.0))
        .bind(i64::from(filter.limit))
        .bind(filter.message_id.as_deref())
        .fetch_all(&self.pool)
        .await?;
        into_events(rows)
    }

    async fn load_unfinished(&self, ids: &[EventId]) -> StoreResult<Vec<UnfinishedEvent>> {
        // A plain read: in WAL mode it does not wait for the writer.
        let rows: Vec<UnfinishedRow> = sqlx::query_as(
            "SELECT e.id, u.email AS owner_email, e.event_name, e.event_type, e.payload, \
                    e.attempts, e.created_at \
             FROM events e JOIN users u ON u.id = e.user_id \
             WHERE e.id IN (SELECT value FROM json_each(?1)) \
               AND e.status IN (SELECT value FROM json_each(?2)) \
             ORDER BY e.id",
        )
        .bind(json_ids(ids))
        .bind(json_list(&attempt_sources()))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(UnfinishedEvent::from).collect())
    }

    async fn apply_outcomes(&self, outcomes: &[EventOutcome]) -> StoreResult<Vec<EventId>> {
        // One statement over a JSON array: every statement is a round trip to sqlx's SQLite
        // thread, which cost more than the row itself when this was one UPDATE per row.
        let rows: Vec<_> = outcomes
            .iter()
            .map(|o| {
                (
                    o.id.0,
                    o.status.as_str(),
                    o.properties_json.as_deref(),
                    o.error.as_deref(),
                    o.processed_at().map(format_timestamp),
                    format_timestamp(o.decided_at),
                    o.attempts_before,
                )
            })
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|error| StoreError::InvalidData(format!("outcomes: {error}")))?;
        let mut writer = self.writer().await?;
        let changed: Result<Vec<i64>, _> = sqlx::query_scalar(
            "UPDATE events SET status = o.status, properties = o.properties, \
                    processing_error = o.error, processed_at = o.processed_at, \
                    updated_at = o.decided_at, attempts = events.attempts + 1 \
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS status, value ->> 2 AS properties, \
                          value ->> 3 AS error, value ->> 4 AS processed_at, \
                          value ->> 5 AS decided_at, value ->> 6 AS attempts_before \
                   FROM json_each(?1)) AS o \
             WHERE events.id = o.id AND events.status IN (SELECT value FROM json_each(?2)) \
               AND events.attempts = o.attempts_before \
             RETURNING events.id",
        )
        .bind(rows)
        .bind(json_list(&attempt_sources()))
        .fetch_all(writer.connection())
        .await;
        let changed = writer.finish(changed).await?;
        self.count_applied_outcomes(outcomes, &changed);
        Ok(changed.into_iter().map(EventId).collect())
    }

    async fn touch_unfinished(&self, ids: &[EventId]) -> StoreResult<u64> {
        let mut writer = self.writer().await?;
        let result = sqlx::query(concat!(
            "UPDATE events SET updated_at = ?1 \
             WHERE id IN (SELECT value FROM json_each(?2)) AND status IN ",
            unfinished_sql_list!()
        ))
        .bind(now_text())
        .bind(json_ids(ids))
        .execute(writer.connection())
        .await;
        Ok(writer.finish(result).await?.rows_affected())
    }

    async fn record_retry(&self, ids: &[EventId], error: &str) -> StoreResult<u64> {
        let retrying = EventStatus::Retrying;
        self.set_status(ids, retrying, error, attempt_sources(), 1)
            .await
    }

    async fn mark_failed(&self, ids: &[EventId], error: &str) -> StoreResult<u64> {
        let failed = EventStatus::Failed;
        self.set_status(ids, failed, error, sources_of(failed), 0)
            .await
    }

    async fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<SweepCursor>,
        limit: u32,
    ) -> StoreResult<StaleEvents> {
        let (from, after_id) = after.map_or((String::new(), 0), |c| {
            (format_timestamp(c.updated_at), c.id.0)
        });
        // Only the writer changes rows, and it holds its turn across both statements.
        let mut writer = self.writer().await?;
        let picked: Result<Vec<(i64, DateTime<Utc>)>, _> = sqlx::query_as(concat!(
            "SELECT id, updated_at FROM events WHERE status IN ",
            unfinished_sql_list!(),
            " AND updated_at < ?1 AND updated_at >= ?2 AND (updated_at, id) > (?2, ?3) \
             ORDER BY updated_at, id LIMIT ?4"
        ))
        .bind(format_timestamp(cutoff))
        .bind(&from)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(writer.connection())
        .await;
        let picked = writer.finish(picked).await?;
        let ids: Vec<EventId> = picked.iter().map(|&(id, _)| EventId(id)).collect();
        let touched = sqlx::query(
            "UPDATE events SET updated_at = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
        )
        .bind(now_text())
        .bind(json_ids(&ids))
        .execute(writer.connection())
        .await;
        writer.finish(touched).await?;
        Ok(crate::rows::stale_events(picked))
    }

    async fn count_unfinished(&self) -> StoreResult<i64> {
        let sql = concat!(
            "SELECT count(*) FROM events WHERE status IN ",
            unfinished_sql_list!()
        );
        Ok(sqlx::query_scalar(sql).fetch_one(&self.pool).await?)
    }

    async fn counts_by_status(&self) -> StoreResult<Vec<StatusCount>> {
        counters::counts_by_status(&self.pool).await
    }

    async fn recent_failures(&self, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        // The literal list lets the planner use the partial index of failures by time.
        let rows: Vec<EventRow> = sqlx::query_as(select_events!(
            "WHERE status IN ",
            failure_sql_list!(),
            " ORDER BY updated_at DESC LIMIT ?1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        into_events(rows)
    }

    async fn activity_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<MinuteActivity>> {
        // Minutes are the first 16 characters of the fixed-width RFC 3339 timestamps.
        let since = format_timestamp(since);
        let since = counters::minute_of(&since).to_owned();
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT minute, accepted, processed, failed FROM event_activity_minutes \
             WHERE minute >= ?1",
        )
        .bind(&since)
        .fetch_all(&self.pool)
        .await?;
        let mut minutes: std::collections::BTreeMap<String, [i64; 3]> = rows
            .into_iter()
            .map(|(minute, accepted, processed, failed)| (minute, [accepted, processed, failed]))
            .collect();
        for (minute, pending) in self.activity.snapshot().range(since..) {
            let counts = minutes.entry(minute.clone()).or_default();
            counts
                .iter_mut()
                .zip(pending)
                .for_each(|(count, more)| *count += more);
        }
        minutes
            .into_iter()
            .map(|(m, [accepted, processed, failed])| {
                Ok(MinuteActivity::from((
                    minute(&m)?,
                    accepted,
                    processed,
                    failed,
                )))
            })
            .collect()
    }

    async fn fold_counters(&self) -> StoreResult<()> {
        let mut writer = self.writer().await?;
        let connection = writer.connection();
        let mut folded = self.activity.write(connection).await;
        if folded.is_ok() {
            folded = sqlx::query(
                "DELETE FROM event_activity_minutes \
                 WHERE minute < strftime('%Y-%m-%dT%H:%M', 'now', '-2 hours')",
            )
            .execute(connection)
            .await
            .map(drop);
        }
        writer.finish(folded).await
    }

    async fn events_for_task(&self, task_id: &str) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(select_events!("WHERE task_id = ?1 ORDER BY id"))
            .bind(task_id)
            .fetch_all(&self.pool)
            .await?;
        into_events(rows)
    }

    async fn purge_finished_before(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<EventId>,
        limit: u32,
    ) -> StoreResult<PurgeRound> {
        let scanned: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, created_at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")
                .bind(after.map_or(0, |id| id.0))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        let cutoff = format_timestamp(cutoff);
        let old: Vec<i64> = scanned
            .iter()
            .filter(|(_, created_at)| *created_at < cutoff)
            .map(|(id, _)| *id)
            .collect();
        let deleted = if old.is_empty() {
            0
        } else {
            let mut transaction = self.transaction().await?;
            let connection = transaction.connection();
            let result = async {
                let deleted = sqlx::query(
                    "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?1)) \
                       AND status IN (SELECT value FROM json_each(?2))",
                )
                .bind(serde_json::to_string(&old).unwrap_or_else(|_| "[]".to_owned()))
                .bind(json_list(&final_statuses()))
                .execute(&mut *connection)
                .await?
                .rows_affected();
                counters::count_deleted(connection, deleted).await?;
                Ok(deleted)
            }
            .await;
            transaction.commit(result).await?
        };
        let finished = old.len() < scanned.len() || scanned.len() < limit as usize;
        Ok(PurgeRound {
            deleted,
            next: (!finished)
                .then(|| old.last().copied().map(EventId))
                .flatten(),
        })
    }

    async fn replay_events(
        &self,
        owner: Option<UserId>,
        selection: &ReplaySelection,
        limit: u32,
    ) -> StoreResult<Vec<EventId>> {
        let mut writer = self.writer().await?;
        let replayed: Result<Vec<i64>, _> = sqlx::query_scalar(
            "UPDATE events SET status = ?7, processing_error = NULL, attempts = 0, updated_at = ?8 \
             WHERE id IN (SELECT id FROM events \
                          WHERE (?1 IS NULL OR user_id = ?1) \
                            AND status IN (SELECT value FROM json_each(?2)) \
                            AND (?3 IS NULL OR id IN (SELECT value FROM json_each(?3))) \
                            AND (?4 IS NULL OR created_at >= ?4) \
                            AND (?5 IS NULL OR created_at < ?5) \
                          ORDER BY id LIMIT ?6) \
             RETURNING id",
        )
        .bind(owner.map(|owner| owner.0))
        .bind(json_list(&status_names(&selection.statuses())))
        .bind(selection.ids.as_deref().map(json_ids))
        .bind(selection.created_from.map(format_timestamp))
        .bind(selection.created_until.map(format_timestamp))
        .bind(i64::from(limit))
        .bind(EventStatus::Enqueued.as_str())
        .bind(now_text())
        .fetch_all(writer.connection())
        .await;
        let mut ids: Vec<EventId> = writer
            .finish(replayed)
            .await?
            .into_iter()
            .map(EventId)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn create_write_key(
        &self,
        owner: UserId,
        name: &str,
        key_hash: &str,
    ) -> StoreResult<WriteKey> {
        let mut transaction = self.transaction().await?;
        let row: Result<WriteKeyRow, _> = sqlx::query_as(concat!(
            "INSERT INTO write_keys (user_id, name, key_hash, created_at) VALUES (?1, ?2, ?3, ?4) \
             RETURNING ",
            write_key_columns!()
        ))
        .bind(owner.0)
        .bind(name)
        .bind(key_hash)
        .bind(now_text())
        .fetch_one(transaction.connection())
        .await;
        Ok(transaction.commit(row).await?.into())
    }

    async fn list_write_keys(
        &self,
        owner: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<WriteKey>> {
        let rows: Vec<WriteKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            write_key_columns!(),
            " FROM write_keys WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id LIMIT ?2"
        ))
        .bind(owner.map(|owner| owner.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(WriteKey::from).collect())
    }

    async fn revoke_write_key(&self, owner: UserId, id: WriteKeyId) -> StoreResult<bool> {
        let mut writer = self.writer().await?;
        let result = sqlx::query(
            "UPDATE write_keys SET revoked_at = COALESCE(revoked_at, ?3) \
             WHERE id = ?1 AND user_id = ?2",
        )
        .bind(id.0)
        .bind(owner.0)
        .bind(now_text())
        .execute(writer.connection())
        .await;
        Ok(writer.finish(result).await?.rows_affected() > 0)
    }

    async fn find_write_key(&self, key_hash: &str) -> StoreResult<Option<WriteKey>> {
        let row: Option<WriteKeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            write_key_columns!(),
            " FROM write_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(WriteKey::from))
    }

    async fn record_write_key_use(&self, uses: &[WriteKeyUse]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, i64, String)> = uses
            .iter()
            .map(|used| (used.id.0, used.events, format_timestamp(used.at)))
            .collect();
        let rows = serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned());
        let mut writer = self.writer().await?;
        let result = sqlx::query(
            "UPDATE write_keys SET \
                 event_count = event_count + u.value ->> 1, \
                 last_used_at = max(COALESCE(last_used_at, ''), u.value ->> 2) \
             FROM json_each(?1) AS u WHERE write_keys.id = u.value ->> 0",
        )
        .bind(rows)
        .execute(writer.connection())
        .await;
        writer.finish(result).await?;
        Ok(())
    }

    async fn refresh_planner_statistics(&self) -> StoreResult<bool> {
        Ok(false)
    }

    async fn record_login_attempt(
        &self,
        keys: &[&str],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<LoginAttemptId>> {
        let mut writer = self.writer().await?;
        let ids: Result<Vec<i64>, _> = sqlx::query_scalar(
            "INSERT INTO login_attempts (key, attempted_at) \
             SELECT value, ?2 FROM json_each(?1) ORDER BY key RETURNING id",
        )
        .bind(json_list(keys))
        .bind(format_timestamp(at))
        .fetch_all(writer.connection())
        .await;
        let mut ids = writer.finish(ids).await?;
        // RETURNING's order is unspecified; ids follow the insertion order, which is `keys`'.
        ids.sort_unstable();
        Ok(ids.into_iter().map(LoginAttemptId).collect())
    }

    async fn recent_login_attempts(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let times: Vec<String> = sqlx::query_scalar(
            "SELECT attempted_at FROM login_attempts WHERE key = ?1 AND attempted_at >= ?2 \
             ORDER BY attempted_at DESC LIMIT ?3",
        )
        .bind(key)
        .bind(filter_bound(since))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        times
            .iter()
            .map(|time| {
                DateTime::parse_from_rfc3339(time)
                    .map(|time| time.to_utc())
                    .map_err(|error| {
                        StoreError::InvalidData(format!("bad attempt time {time:?}: {error}"))
                    })
            })
            .collect()
    }

    async fn forget_login_attempts(&self, ids: &[LoginAttemptId]) -> StoreResult<()> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".to_owned());
        let mut writer = self.writer().await?;
        let result =
            sqlx::query("DELETE FROM login_attempts WHERE id IN (SELECT value FROM json_each(?1))")
                .bind(ids)
                .execute(writer.connection())
                .await;
        writer.finish(result).await?;
        Ok(())
    }

    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let now_ms = Utc::now().timestamp_millis();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut writer = self.writer().await?;
        let held: Result<Option<String>, _> = sqlx::query_scalar(
            "INSERT INTO upkeep_leases AS l (name, holder, expires_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at_ms = excluded.expires_at_ms \
             WHERE l.holder = excluded.holder OR l.expires_at_ms < ?4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms.saturating_add(ttl_ms))
        .bind(now_ms)
        .fetch_optional(writer.connection())
        .await;
        Ok(writer.finish(held).await?.is_some())
    }

    async fn forget_login_attempts_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut writer = self.writer().await?;
        let result = sqlx::query("DELETE FROM login_attempts WHERE attempted_at < ?1")
            .bind(filter_bound(before))
            .execute(writer.connection())
            .await;
        Ok(writer.finish(result).await?.rows_affected())
    }
}

/// A filter's instant as stored text. Stored timestamps have four-digit years, and compare as
/// text; an instant beyond them would not (`+10000-…` sorts before `2025-…`), so it is clamped
/// to years 0000–9999, which hold every stored event.
fn filter_bound(time: DateTime<Utc>) -> String {
    let earliest = DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z");
    let latest = DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999Z");
    match (earliest, latest) {
        (Ok(earliest), Ok(latest)) => {
            format_timestamp(time.clamp(earliest.to_utc(), latest.to_utc()))
        }
        _ => format_timestamp(time),
    }
}

fn now_text() -> String {
    format_timestamp(Utc::now())
}

fn json_ids(ids: &[EventId]) -> String {
    serde_json::to_string(&crate::rows::ids(ids)).unwrap_or_else(|_| "[]".to_owned())
}

fn json_list(items: &[&str]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// `2025-12-18T10:30` → the start of that minute.
fn minute(prefix: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&format!("{prefix}:00Z"))
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| StoreError::InvalidData(format!("bad timestamp {prefix:?}: {error}")))
}

/// Inserts `events` and counts what was stored, in the caller's transaction.
async fn insert_and_count(
    connection: &mut sqlx::SqliteConnection,
    task_id: &str,
    events: &[EventToInsert<'_>],
    now: &str,
) -> Result<insert::Written, sqlx::Error> {
    let (inserted, stored) = insert_rows(connection, task_id, events, now).await?;
    counters::count_inserted(connection, inserted.len()).await?;
    Ok((inserted, stored))
}

impl SqliteStore {
    /// Counts the outcomes whose rows `changed` (by id) as finished in their decision's minute.
    fn count_applied_outcomes(&self, outcomes: &[EventOutcome], changed: &[i64]) {
        // Usually every outcome applied; the set is built only when some did not.
        let changed: Option<std::collections::HashSet<i64>> =
            (changed.len() < outcomes.len()).then(|| changed.iter().copied().collect());
        let applied = outcomes
            .iter()
            .filter(|o| changed.as_ref().is_none_or(|ids| ids.contains(&o.id.0)));
        // A job's outcomes share their decision time: the minute's text is made once per minute.
        let mut minute: Option<(i64, String)> = None;
        for outcome in applied {
            let at = outcome.decided_at.timestamp().div_euclid(60);
            if minute.as_ref().is_none_or(|(current, _)| *current != at) {
                minute = Some((at, outcome.decided_at.format("%Y-%m-%dT%H:%M").to_string()));
            }
            let text = minute.as_ref().map_or("", |(_, text)| text.as_str());
            let processed = usize::from(outcome.status.is_processed());
            self.activity.add(text, 0, processed, 1 - processed);
        }
    }
}
