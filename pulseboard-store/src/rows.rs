//! Row types shared by both backends and their conversion into public types.

use chrono::{DateTime, Utc};
use pulseboard_core::EventStatus;

use crate::{
    EventId, StaleEvents, StoreError, StoreResult, StoredEvent, SweepCursor, UnfinishedEvent, User,
    UserId, WriteKey, WriteKeyId,
};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    email: String,
    password_hash: String,
    full_name: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId(row.id),
            email: row.email,
            password_hash: row.password_hash,
            full_name: row.full_name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    user_id: i64,
    task_id: String,
    event_name: String,
    event_type: String,
    source: Option<String>,
    session_id: Option<String>,
    payload: String,
    properties: Option<String>,
    status: String,
    processing_error: Option<String>,
    attempts: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    message_id: Option<String>,
    client_user_id: Option<String>,
    anonymous_id: Option<String>,
    occurred_at: Option<DateTime<Utc>>,
    context: Option<String>,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        Ok(Self {
            id: EventId(row.id),
            owner: UserId(row.user_id),
            task_id: row.task_id,
            event_name: row.event_name,
            event_type: row.event_type,
            source: row.source,
            session_id: row.session_id,
            payload_json: row.payload,
            properties_json: row.properties,
            status: parse_status(&row.status)?,
            processing_error: row.processing_error,
            attempts: row.attempts,
            created_at: row.created_at,
            updated_at: row.updated_at,
            processed_at: row.processed_at,
            message_id: row.message_id,
            client_user_id: row.client_user_id,
            anonymous_id: row.anonymous_id,
            occurred_at: row.occurred_at,
            context_json: row.context,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WriteKeyRow {
    id: i64,
    user_id: i64,
    name: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    event_count: i64,
}

impl From<WriteKeyRow> for WriteKey {
    fn from(row: WriteKeyRow) -> Self {
        Self {
            id: WriteKeyId(row.id),
            owner: UserId(row.user_id),
            name: row.name,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
            event_count: row.event_count,
        }
    }
}

/// The columns of a [`WriteKeyRow`], for SELECT and RETURNING lists (a macro, so statements
/// stay string literals).
macro_rules! write_key_columns {
    () => {
        "id, user_id, name, created_at, revoked_at, last_used_at, event_count"
    };
}
pub(crate) use write_key_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct UnfinishedRow {
    id: i64,
    owner_email: String,
    event_name: String,
    event_type: String,
    payload: String,
    attempts: i32,
    created_at: DateTime<Utc>,
}

impl From<UnfinishedRow> for UnfinishedEvent {
    fn from(row: UnfinishedRow) -> Self {
        Self {
            id: EventId(row.id),
            owner_email: row.owner_email,
            event_name: row.event_name,
            event_type: row.event_type,
            payload_json: row.payload,
            attempts: row.attempts,
            created_at: row.created_at,
        }
    }
}

pub(crate) fn parse_status(text: &str) -> StoreResult<EventStatus> {
    text.parse()
        .map_err(|error: pulseboard_core::UnknownStatus| StoreError::InvalidData(error.to_string()))
}

pub(crate) fn into_events(rows: Vec<EventRow>) -> StoreResult<Vec<StoredEvent>> {
    rows.into_iter().map(StoredEvent::try_from).collect()
}

pub(crate) fn ids(ids: &[EventId]) -> Vec<i64> {
    ids.iter().map(|id| id.0).collect()
}

pub(crate) fn status_counts(rows: Vec<(String, i64)>) -> StoreResult<Vec<crate::StatusCount>> {
    rows.into_iter()
        .map(|(status, count)| {
            Ok(crate::StatusCount {
                status: parse_status(&status)?,
                count,
            })
        })
        .collect()
}

/// A sweep round from the (id, previous `updated_at`) pairs it took, in sweep order.
pub(crate) fn stale_events(picked: Vec<(i64, DateTime<Utc>)>) -> StaleEvents {
    let cursor = picked.last().map(|&(id, updated_at)| SweepCursor {
        updated_at,
        id: EventId(id),
    });
    let mut ids: Vec<EventId> = picked.into_iter().map(|(id, _)| EventId(id)).collect();
    ids.sort_unstable();
    StaleEvents { ids, cursor }
}
