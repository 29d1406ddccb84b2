//! The PostgreSQL store (production). Every bulk operation is one statement over `UNNEST`ed arrays.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pulseboard_core::account::email_key;
use pulseboard_core::{EventStatus, NewEvent};
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::{Connection as _, QueryBuilder};

use crate::error::is_unique_violation;
use crate::rows::{
    EventRow, UnfinishedRow, UserRow, WriteKeyRow, ids, into_events, write_key_columns,
};
use crate::{
    EventFilter, EventId, EventOutcome, EventStore, EventToInsert, InsertedEvent, InsertedRow,
    LoginAttemptId, MinuteActivity, NewUser, PurgeRound, ReplaySelection, StaleEvents, StatusCount,
    StoreError, StoreResult, StoredEvent, StoredIds, SweepCursor, UnfinishedEvent, User, UserId,
    WriteKey, WriteKeyId, WriteKeyUse, attempt_sources, failure_sql_list, final_statuses,
    match_inserted, message_key, sources_of, status_names, stored_ids, unfinished_sql_list,
};

/// How long a caller waits for a pooled connection before the store counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// `SELECT <every event column> FROM events <rest>`, as one string literal.
macro_rules! select_events {
    ($($rest:expr),+ $(,)?) => {
        concat!(
            "SELECT id, user_id, task_id, event_name, event_type, source, session_id, ",
            "payload::text AS payload, properties::text AS properties, status, processing_error, ",
            "attempts, created_at, updated_at, processed_at, message_id, client_user_id, ",
            "anonymous_id, occurred_at, context::text AS context FROM events ",
            $($rest),+
        )
    };
}

/// The insert of a request's (or micro-batch's) events, their message ids and their task's row,
/// with `$filter` choosing the rows. Identity values are drawn in ORDER BY order within one
/// statement (rows skipped for a known message id leave gaps, not reorderings), so the returned
/// ids in order follow the request's order. A message id its owner already has makes the
/// statement fail with a unique violation on `event_message_ids`. The task's row (for the
/// dashboard's task lookup) is written by the same statement, when anything was inserted.
///
/// Two shapes: the native one (every event `enqueued`, no SDK fields: the fewest arrays to
/// bind and unnest) and the full one for events from SDK messages.
macro_rules! insert_events_sql {
    (native, $filter:expr) => {
        insert_events_sql!("", "$2", "", "", "", $filter)
    };
    (full, $filter:expr) => {
        insert_events_sql!(
            ", processing_error, client_user_id, anonymous_id, occurred_at, context",
            "status",
            ", error, client_user, anonymous, occurred, context::json",
            ", $2::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::text[]",
            ", status, error, client_user, anonymous, occurred, context",
            $filter
        )
    };
    ($columns:literal, $status:literal, $values:literal, $arrays:literal, $names:literal,
     $filter:expr) => {
        concat!(
            "WITH inserted AS ( \
                 INSERT INTO events (user_id, task_id, event_name, event_type, source, session_id, \
                                     payload, status, created_at, updated_at, message_id",
            $columns,
            ") SELECT owner, $1, name, kind, source, session, payload::json, ",
            $status,
            ", $3, $3, message_id",
            $values,
            " FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], \
                             $9::text[], $10::text[]",
            $arrays,
            ") WITH ORDINALITY AS r(owner, name, kind, source, session, payload, message_id",
            $names,
            ", position) ",
            $filter,
            " ORDER BY position RETURNING id, user_id, message_id), \
             message_ids AS ( \
                 INSERT INTO event_message_ids (user_id, message_id, event_id) \
                 SELECT user_id, message_id, id FROM inserted WHERE message_id IS NOT NULL), \
             batch AS ( \
                 INSERT INTO task_batches (task_id, event_ids) \
                 SELECT $1, array_agg(id ORDER BY id) FROM inserted HAVING count(*) > 0) \
             SELECT id, user_id, message_id FROM inserted"
        )
    };
}

/// An insert's two statements: one that inserts every row, and one that skips the rows whose
/// message id their owner already has. Both fail with a unique violation on a message id
/// stored but not visible to them (another insert of it committed meanwhile, or is in flight).
struct InsertStatements {
    plain: &'static str,
    skipping_known_ids: &'static str,
}

/// Rows without a message id, or with one their owner does not have yet.
macro_rules! unknown_message_ids {
    () => {
        "WHERE r.message_id IS NULL OR NOT EXISTS (SELECT 1 FROM event_message_ids k \
                WHERE k.user_id = r.owner AND k.message_id = r.message_id)"
    };
}

/// Native events: all `enqueued`, no SDK fields.
const INSERT_NATIVE: InsertStatements = InsertStatements {
    plain: insert_events_sql!(native, ""),
    skipping_known_ids: insert_events_sql!(native, unknown_message_ids!()),
};
/// Events with SDK fields, or rejected on arrival.
const INSERT_FULL: InsertStatements = InsertStatements {
    plain: insert_events_sql!(full, ""),
    skipping_known_ids: insert_events_sql!(full, unknown_message_ids!()),
};

/// Times an insert skipping known message ids runs again after meeting one stored meanwhile by
/// a concurrent insert. Each run sees every insert committed before it started, so only
/// inserts of the same ids racing it again can make it fail again.
const MAX_SKIPPING_RUNS: usize = 5;

/// Whether an event needs the full insert: it carries SDK fields or was rejected on arrival.
fn needs_full_insert(event: &EventToInsert<'_>) -> bool {
    let event = event.event;
    event.rejection().is_some()
        || event.user_id().is_some()
        || event.anonymous_id().is_some()
        || event.occurred_at().is_some()
        || event.context_json().is_some()
}

/// PostgreSQL-backed [`EventStore`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// A pooled connection idle at least this long is pinged before it is handed out: the
    /// database may have restarted meanwhile, and a dead connection is then replaced instead of
    /// failing a request. Under load no connection sits idle this long, so busy callers skip the
    /// round trip (single-event POSTs +15%, BENCHMARKS.md, change 10).
    pub const PING_CONNECTIONS_IDLE_FOR: Duration = Duration::from_secs(1);

    /// Connects a pool of up to `pool_size` connections; fails now if the server is unreachable.
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= Self::PING_CONNECTIONS_IDLE_FOR {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Applies pending migrations from `migrations/postgres`.
    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|error| StoreError::Database(error.into()))
    }

    /// The underlying pool, for tests and benchmarks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one of the insert statements over `events`; the (id, owner, message id) of each row
    /// it created.
    async fn insert_rows(
        &self,
        full: bool,
        skip_known_ids: bool,
        task_id: &str,
        events: &[EventToInsert<'_>],
    ) -> Result<Vec<InsertedRow>, sqlx::Error> {
        let statements = if full { &INSERT_FULL } else { &INSERT_NATIVE };
        let sql = if skip_known_ids {
            statements.skipping_known_ids
        } else {
            statements.plain
        };
        let column = |field: fn(&NewEvent) -> Option<&str>| -> Vec<Option<&str>> {
            events.iter().map(|e| field(e.event)).collect()
        };
        let owners: Vec<i64> = events.iter().map(|e| e.owner.0).collect();
        let names: Vec<&str> = events.iter().map(|e| e.event.event_name()).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event.event_type()).collect();
        let payloads: Vec<&str> = events.iter().map(|e| e.event.payload_json()).collect();
        let query = sqlx::query_as(sql).bind(task_id);
        let query = if full {
            let statuses: Vec<&str> = events
                .iter()
                .map(|e| e.event.initial_status().as_str())
                .collect();
            query.bind(statuses)
        } else {
            query.bind(EventStatus::Enqueued.as_str())
        };
        let query = query
            .bind(Utc::now())
            .bind(owners)
            .bind(names)
            .bind(types)
            .bind(column(NewEvent::source))
            .bind(column(NewEvent::session_id))
            .bind(payloads)
            .bind(column(NewEvent::message_id));
        let query = if full {
            let occurred: Vec<Option<DateTime<Utc>>> =
                events.iter().map(|e| e.event.occurred_at()).collect();
            query
                .bind(column(NewEvent::rejection))
                .bind(column(NewEvent::user_id))
                .bind(column(NewEvent::anonymous_id))
                .bind(occurred)
                .bind(column(NewEvent::context_json))
        } else {
            query
        };
        query.fetch_all(&self.pool).await
    }

    /// Inserts the events whose message ids their owners do not have yet, each id once (the
    /// first event carrying it). Runs again while a concurrent insert stores one of the ids
    /// first; a contest that outlasts [`MAX_SKIPPING_RUNS`] is a transient fault.
    async fn insert_skipping_known_ids(
        &self,
        full: bool,
        task_id: &str,
        events: &[EventToInsert<'_>],
    ) -> StoreResult<Vec<InsertedRow>> {
        let mut seen = crate::HashSet::default();
        let first_of_each_id: Vec<EventToInsert<'_>> = events
            .iter()
            .filter(|event| message_key(event).is_none_or(|key| seen.insert(key)))
            .copied()
            .collect();
        let mut runs = 0;
        loop {
            runs += 1;
            match self
                .insert_rows(full, true, task_id, &first_of_each_id)
                .await
            {
                Err(error) if is_unique_violation(&error) && runs < MAX_SKIPPING_RUNS => continue,
                Err(error) if is_unique_violation(&error) => {
                    return Err(StoreError::Unavailable(error));
                }
                inserted => return Ok(inserted?),
            }
        }
    }

    /// The stored (id, task id) of the given events' message ids, by (owner, message id). A
    /// statement of its own: it must see rows that a concurrent insert committed after the
    /// insert's snapshot was taken.
    async fn stored_message_ids(&self, events: &[EventToInsert<'_>]) -> StoreResult<StoredIds> {
        let (owners, message_ids): (Vec<i64>, Vec<&str>) =
            events.iter().filter_map(message_key).unzip();
        let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
            "SELECT m.user_id, m.message_id, e.id, e.task_id \
             FROM UNNEST($1::bigint[], $2::text[]) AS k(owner, message_id) \
             JOIN event_message_ids m ON m.user_id = k.owner AND m.message_id = k.message_id \
             JOIN events e ON e.id = m.event_id",
        )
        .bind(owners)
        .bind(message_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(stored_ids(rows))
    }

    async fn select_events(&self, sql: &'static str, key: &str) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(sql).bind(key).fetch_all(&self.pool).await?;
        into_events(rows)
    }

    /// Moves unfinished events to `to` with `error`, from `sources`, adding `attempts_added`.
    async fn set_status(
        &self,
        event_ids: &[EventId],
        to: EventStatus,
        error: &str,
        sources: Vec<&'static str>,
        attempts_added: i32,
    ) -> StoreResult<u64> {
        let result = sqlx::query(
            "UPDATE events SET status = $2, processing_error = $3, updated_at = $4, \
                    attempts = attempts + $6 \
             WHERE id = ANY($1) AND status = ANY($5)",
        )
        .bind(ids(event_ids))
        .bind(to.as_str())
        .bind(error)
        .bind(Utc::now())
        .bind(sources)
        .bind(attempts_added)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}

/// Rows from which an index beats a sequential scan of the events table for the lookups by
/// id; below them the planner's statistics are left to autovacuum.
const PLANNER_MIN_ROWS: i64 = 1_000;

#[async_trait]
impl EventStore for PostgresStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<User> {
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (email, password_hash, full_name, created_at, email_key) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, email, password_hash, full_name, created_at",
        )
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(&user.full_name)
        .bind(Utc::now())
        .bind(email_key(&user.email))
        .fetch_one(&self.pool)
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::DuplicateEmail
            } else {
                error.into()
            }
        })?;
        Ok(row.into())
    }

    async fn find_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, password_hash, full_name, created_at FROM users WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, password_hash, full_name, created_at FROM users \
             WHERE email_key = $1 OR (email_key IS NULL AND lower(email) = lower($2))",
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
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Most inserts repeat no message id: they insert every row without looking ids up. Only
        // an insert that meets a known id runs again, skipping those.
        let full = events.iter().any(needs_full_insert);
        let mut inserted = match self.insert_rows(full, false, task_id, events).await {
            Err(error) if is_unique_violation(&error) => {
                self.insert_skipping_known_ids(full, task_id, events)
                    .await?
            }
            inserted => inserted?,
        };
        inserted.sort_unstable_by_key(|row| row.0);
        let stored = if inserted.len() < events.len() {
            self.stored_message_ids(events).await?
        } else {
            StoredIds::default()
        };
        match_inserted(events, task_id, &inserted, &stored)
    }

    async fn get_event(
        &self,
        id: EventId,
        owner: Option<UserId>,
    ) -> StoreResult<Option<StoredEvent>> {
        let sql = select_events!("WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2)");
        let row: Option<EventRow> = sqlx::query_as(sql)
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
        // Only the filters given go into the SQL: `$n IS NULL OR …` would hide each condition
        // from the planner, and the failures index and the BRIN index on `created_at` would go
        // unused. The status is written as a literal (one of the fixed status names), so even a
        // generic plan can match the failures index's predicate.
        let mut query = QueryBuilder::<Postgres>::new(select_events!("WHERE user_id = "));
        query.push_bind(owner.0);
        if let Some(status) = filter.status {
            query.push(format_args!(" AND status = '{}'", status.as_str()));
        }
        if let Some(name) = filter.event_name.as_deref() {
            query.push(" AND event_name = ").push_bind(name);
        }
        if let Some(message_id) = filter.message_id.as_deref() {
            query
                .push(" AND id IN (SELECT event_id FROM event_message_ids WHERE user_id = ")
                .push_bind(owner.0)
                .push(" AND message_id = ")
                .push_bind(message_id)
                .push(")");
        }
        if let Some(from) = filter.created_from {
            query.push(" AND created_at >= ").push_bind(from);
        }
        if let Some(until) = filter.created_until {
            query.push(" AND created_at < ").push_bind(until);
        }
        if let Some(before) = filter.before_id {
            query.push(" AND id < ").push_bind(before.0);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows: Vec<EventRow> = query.build_query_as().fetch_all(&self.pool).await?;
        into_events(rows)
    }

    async fn load_unfinished(&self, event_ids: &[EventId]) -> StoreResult<Vec<UnfinishedEvent>> {
        let rows: Vec<UnfinishedRow> = sqlx::query_as(
            "SELECT e.id, u.email AS owner_email, e.event_name, e.event_type, \
                    e.payload::text AS payload, e.attempts, e.created_at \
             FROM events e JOIN users u ON u.id = e.user_id \
             WHERE e.id = ANY($1) AND e.status = ANY($2) \
             ORDER BY e.id",
        )
        .bind(ids(event_ids))
        .bind(attempt_sources())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(UnfinishedEvent::from).collect())
    }

    async fn apply_outcomes(&self, outcomes: &[EventOutcome]) -> StoreResult<Vec<EventId>> {
        // One statement, so atomic without BEGIN/COMMIT round trips.
        let changed: Vec<i64> = sqlx::query_scalar(
            "UPDATE events e SET status = o.status, properties = o.properties::json, \
                    processing_error = o.error, processed_at = o.processed_at, \
                    updated_at = o.decided_at, attempts = e.attempts + 1 \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
                         $6::timestamptz[], $8::int[]) \
                  AS o(id, status, properties, error, processed_at, decided_at, attempts_before) \
             WHERE e.id = o.id AND e.status = ANY($7) AND e.attempts = o.attempts_before \
             RETURNING e.id",
        )
        .bind(outcomes.iter().map(|o| o.id.0).collect::<Vec<_>>())
        .bind(
            outcomes
                .iter()
                .map(|o| o.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|o| o.properties_json.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|o| o.error.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(EventOutcome::processed_at)
                .collect::<Vec<_>>(),
        )
        .bind(outcomes.iter().map(|o| o.decided_at).collect::<Vec<_>>())
        .bind(attempt_sources())
        .bind(
            outcomes
                .iter()
                .map(|o| o.attempts_before)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(changed.into_iter().map(EventId).collect())
    }

    async fn touch_unfinished(&self, event_ids: &[EventId]) -> StoreResult<u64> {
        let result = sqlx::query(concat!(
            "UPDATE events SET updated_at = $2 WHERE id = ANY($1) AND status IN ",
            unfinished_sql_list!()
        ))
        .bind(ids(event_ids))
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn record_retry(&self, event_ids: &[EventId], error: &str) -> StoreResult<u64> {
        let retrying = EventStatus::Retrying;
        self.set_status(event_ids, retrying, error, attempt_sources(), 1)
            .await
    }

    async fn mark_failed(&self, event_ids: &[EventId], error: &str) -> StoreResult<u64> {
        let failed = EventStatus::Failed;
        self.set_status(event_ids, failed, error, sources_of(failed), 0)
            .await
    }

    async fn requeue_stale(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<SweepCursor>,
        limit: u32,
    ) -> StoreResult<StaleEvents> {
        // The cursor is an index bound (`updated_at >= …`), so a round starts where the last
        // one ended instead of stepping over the index entries the sweep already touched.
        // SKIP LOCKED lets several workers sweep at once without taking the same events.
        let (from, after_id) = after.map_or((None, 0), |c| (Some(c.updated_at), c.id.0));
        let picked: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(concat!(
            "WITH picked AS ( \
                 SELECT id, updated_at FROM events WHERE status IN ",
            unfinished_sql_list!(),
            "      AND updated_at < $1 \
                   AND updated_at >= coalesce($2, '-infinity') \
                   AND (updated_at, id) > (coalesce($2, '-infinity'), $3) \
                 ORDER BY updated_at, id LIMIT $4 FOR UPDATE SKIP LOCKED), \
             touched AS ( \
                 UPDATE events e SET updated_at = $5 FROM picked WHERE e.id = picked.id) \
             SELECT id, updated_at FROM picked"
        ))
        .bind(cutoff)
        .bind(from)
        .bind(after_id)
        .bind(i64::from(limit))
        .bind(Utc::now())
        .fetch_all(&self.pool)
        .await?;
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
        // The counters of migration 0007 plus the deltas not folded in yet: a few rows,
        // however big `events` is.
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, sum(events)::bigint FROM ( \
                 SELECT status, events FROM event_status_counts \
                 UNION ALL SELECT status, events FROM event_status_deltas) counted \
             GROUP BY status HAVING sum(events) <> 0",
        )
        .fetch_all(&self.pool)
        .await?;
        crate::rows::status_counts(rows)
    }

    async fn recent_failures(&self, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        // The literal list lets the planner use the partial index of failures by time.
        let sql = select_events!(
            "WHERE status IN ",
            failure_sql_list!(),
            " ORDER BY updated_at DESC LIMIT $1"
        );
        let rows: Vec<EventRow> = sqlx::query_as(sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        into_events(rows)
    }

    async fn activity_per_minute(&self, since: DateTime<Utc>) -> StoreResult<Vec<MinuteActivity>> {
        let rows: Vec<(DateTime<Utc>, i64, i64, i64)> = sqlx::query_as(
            "SELECT minute, sum(accepted)::bigint, sum(processed)::bigint, sum(failed)::bigint \
             FROM ( \
                 SELECT minute, accepted, processed, failed FROM event_activity_minutes \
                 UNION ALL SELECT minute, accepted, processed, failed FROM event_activity_deltas \
             ) counted \
             WHERE minute >= date_trunc('minute', $1::timestamptz) \
             GROUP BY minute ORDER BY minute",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(MinuteActivity::from).collect())
    }

    async fn fold_counters(&self) -> StoreResult<()> {
        sqlx::query("SELECT fold_event_counters()")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn refresh_planner_statistics(&self) -> StoreResult<bool> {
        // `reltuples` is what the planner last saw (-1: never analyzed); `n_live_tup` is the
        // statistics collector's running count. The planner scales its estimates with the
        // table's current size by itself; what stays stale are the plans cached while the
        // table was nearly empty, until an analyze invalidates them. So one analyze, once the
        // table has rows enough for an index to win, is enough; autovacuum does the rest.
        let (planned, live): (f32, i64) = sqlx::query_as(
            "SELECT c.reltuples, COALESCE(s.n_live_tup, 0) FROM pg_class c \
             LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
             WHERE c.oid = 'events'::regclass",
        )
        .fetch_one(&self.pool)
        .await?;
        if live < PLANNER_MIN_ROWS || f64::from(planned) >= PLANNER_MIN_ROWS as f64 {
            return Ok(false);
        }
        sqlx::query("ANALYZE events").execute(&self.pool).await?;
        Ok(true)
    }

    async fn events_for_task(&self, task_id: &str) -> StoreResult<Vec<StoredEvent>> {
        let sql = select_events!(
            "WHERE id IN (SELECT unnest(event_ids) FROM task_batches WHERE task_id = $1) ORDER BY id"
        );
        self.select_events(sql, task_id).await
    }

    async fn purge_finished_before(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<EventId>,
        limit: u32,
    ) -> StoreResult<PurgeRound> {
        // Scans by primary key from the cursor, so no round rescans the dead rows of the last.
        // The status is checked again on the row being deleted: a replay may have moved it.
        let (deleted, last_old, scanned, newer): (i64, Option<i64>, i64, i64) = sqlx::query_as(
            "WITH scanned AS MATERIALIZED ( \
                 SELECT id, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2), \
             gone AS ( \
                 DELETE FROM events e USING scanned s \
                 WHERE e.id = s.id AND s.created_at < $3 AND e.status = ANY($4) \
                 RETURNING e.id, e.task_id, e.user_id, e.message_id), \
             message_ids AS ( \
                 DELETE FROM event_message_ids m USING gone g \
                 WHERE m.user_id = g.user_id AND m.message_id = g.message_id), \
             batches AS ( \
                 DELETE FROM task_batches tb \
                 WHERE tb.task_id IN (SELECT DISTINCT task_id FROM gone) \
                   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = ANY(tb.event_ids) \
                                     AND e.id NOT IN (SELECT id FROM gone))) \
             SELECT (SELECT count(*) FROM gone), \
                    (SELECT max(id) FROM scanned WHERE created_at < $3), \
                    (SELECT count(*) FROM scanned), \
                    (SELECT count(*) FROM scanned WHERE created_at >= $3)",
        )
        .bind(after.map_or(0, |id| id.0))
        .bind(i64::from(limit))
        .bind(cutoff)
        .bind(final_statuses())
        .fetch_one(&self.pool)
        .await?;
        let finished = newer > 0 || scanned < i64::from(limit);
        Ok(PurgeRound {
            deleted: deleted as u64,
            next: (!finished).then_some(last_old.map(EventId)).flatten(),
        })
    }

    async fn replay_events(
        &self,
        owner: Option<UserId>,
        selection: &ReplaySelection,
        limit: u32,
    ) -> StoreResult<Vec<EventId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            // MATERIALIZED: the LIMIT must hold for the picked set as a whole (an `IN
            // (subquery)` may be planned to pick again per row and move more).
            "WITH picked AS MATERIALIZED ( \
                 SELECT id FROM events \
                 WHERE ($1::bigint IS NULL OR user_id = $1) AND status = ANY($2) \
                   AND ($3::bigint[] IS NULL OR id = ANY($3)) \
                   AND ($4::timestamptz IS NULL OR created_at >= $4) \
                   AND ($5::timestamptz IS NULL OR created_at < $5) \
                 ORDER BY id LIMIT $6 FOR UPDATE) \
             UPDATE events e SET status = $7, processing_error = NULL, attempts = 0, updated_at = $8 \
             FROM picked WHERE e.id = picked.id AND e.status = ANY($2) \
             RETURNING e.id",
        )
        .bind(owner.map(|owner| owner.0))
        .bind(status_names(&selection.statuses()))
        .bind(selection.ids.as_deref().map(ids))
        .bind(selection.created_from)
        .bind(selection.created_until)
        .bind(i64::from(limit))
        .bind(EventStatus::Enqueued.as_str())
        .bind(Utc::now())
        .fetch_all(&self.pool)
        .await?;
        let mut ids: Vec<EventId> = ids.into_iter().map(EventId).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn create_write_key(
        &self,
        owner: UserId,
        name: &str,
        key_hash: &str,
    ) -> StoreResult<WriteKey> {
        let sql = concat!(
            "INSERT INTO write_keys (user_id, name, key_hash, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING ",
            write_key_columns!()
        );
        let row: WriteKeyRow = sqlx::query_as(sql)
            .bind(owner.0)
            .bind(name)
            .bind(key_hash)
            .bind(Utc::now())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.into())
    }

    async fn list_write_keys(
        &self,
        owner: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<WriteKey>> {
        let sql = concat!(
            "SELECT ",
            write_key_columns!(),
            " FROM write_keys WHERE $1::bigint IS NULL OR user_id = $1 ORDER BY id LIMIT $2"
        );
        let rows: Vec<WriteKeyRow> = sqlx::query_as(sql)
            .bind(owner.map(|owner| owner.0))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(WriteKey::from).collect())
    }

    async fn revoke_write_key(&self, owner: UserId, id: WriteKeyId) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE write_keys SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id.0)
        .bind(owner.0)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn find_write_key(&self, key_hash: &str) -> StoreResult<Option<WriteKey>> {
        let sql = concat!(
            "SELECT ",
            write_key_columns!(),
            " FROM write_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        let row: Option<WriteKeyRow> = sqlx::query_as(sql)
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(WriteKey::from))
    }

    async fn record_write_key_use(&self, uses: &[WriteKeyUse]) -> StoreResult<()> {
        if uses.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = uses.iter().map(|used| used.id.0).collect();
        let counts: Vec<i64> = uses.iter().map(|used| used.events).collect();
        let times: Vec<DateTime<Utc>> = uses.iter().map(|used| used.at).collect();
        sqlx::query(
            "UPDATE write_keys k SET event_count = k.event_count + u.events, \
                    last_used_at = GREATEST(k.last_used_at, u.at) \
             FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[]) AS u(id, events, at) \
             WHERE k.id = u.id",
        )
        .bind(ids)
        .bind(counts)
        .bind(times)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_login_attempt(
        &self,
        keys: &[&str],
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<LoginAttemptId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "INSERT INTO login_attempts (key, attempted_at) \
             SELECT key, $2 FROM UNNEST($1::text[]) WITH ORDINALITY AS k(key, position) \
             ORDER BY position RETURNING id",
        )
        .bind(keys)
        .bind(at)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(LoginAttemptId).collect())
    }

    async fn recent_login_attempts(
        &self,
        key: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let times = sqlx::query_scalar(
            "SELECT attempted_at FROM login_attempts WHERE key = $1 AND attempted_at >= $2 \
             ORDER BY attempted_at DESC LIMIT $3",
        )
        .bind(key)
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(times)
    }

    async fn forget_login_attempts(&self, ids: &[LoginAttemptId]) -> StoreResult<()> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        sqlx::query("DELETE FROM login_attempts WHERE id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        // The database's clock judges expiry: the holders' clocks may disagree.
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO upkeep_leases AS l (name, holder, expires_at) \
             VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
             WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp() \
             RETURNING l.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    async fn forget_login_attempts_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM login_attempts WHERE attempted_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
