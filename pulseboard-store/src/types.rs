//! Values the store takes and returns.

use chrono::{DateTime, Utc};
use pulseboard_core::{EventStatus, NewEvent};

/// A user's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// An event's id. Ids grow with insertion order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub i64);

/// A user to create. The password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login email; unique regardless of case.
    pub email: String,
    /// PHC-format password hash.
    pub password_hash: String,
    /// Display name.
    pub full_name: Option<String>,
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// Login email as registered.
    pub email: String,
    /// PHC-format password hash.
    pub password_hash: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// One event to insert, with its owner.
#[derive(Debug, Clone, Copy)]
pub struct EventToInsert<'a> {
    /// Who sent it.
    pub owner: UserId,
    /// The parsed event.
    pub event: &'a NewEvent,
}

/// A stored event as the API and the dashboard show it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The event's id.
    pub id: EventId,
    /// Its owner.
    pub owner: UserId,
    /// The job that carries (or carried) it.
    pub task_id: String,
    /// `event_name` as received.
    pub event_name: String,
    /// `event_type` as received.
    pub event_type: String,
    /// `source` as received.
    pub source: Option<String>,
    /// `session_id` as received.
    pub session_id: Option<String>,
    /// The payload's JSON text exactly as received.
    pub payload_json: String,
    /// The normalized properties' JSON text, once processed.
    pub properties_json: Option<String>,
    /// Where the event is in its life.
    pub status: EventStatus,
    /// Why it failed, for `validation_error`, `retrying` and `failed`.
    pub processing_error: Option<String>,
    /// Processing attempts recorded so far (each outcome or retry counts one).
    pub attempts: i32,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was processed.
    pub processed_at: Option<DateTime<Utc>>,
    /// The client's id of the event, unique per owner.
    pub message_id: Option<String>,
    /// The client app's id of its end user (an SDK's `userId`).
    pub client_user_id: Option<String>,
    /// An SDK's id of an end user not yet identified.
    pub anonymous_id: Option<String>,
    /// When it happened by the client's clock.
    pub occurred_at: Option<DateTime<Utc>>,
    /// JSON text of the other fields the client sent with it.
    pub context_json: Option<String>,
}

/// What an insert did with one of the events given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertedEvent {
    /// The new event's id or, when its owner's message id was already stored, the stored one's.
    pub id: EventId,
    /// `Some(task id)` when nothing was inserted because the owner's message id was already
    /// stored, earlier or at an earlier position of the same insert: the task carrying it.
    pub existing_task_id: Option<String>,
}

impl InsertedEvent {
    /// Whether the event was stored before (by another request, or earlier in this one).
    pub fn is_duplicate(&self) -> bool {
        self.existing_task_id.is_some()
    }
}

/// Filters and page position for listing an owner's events, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events in this status.
    pub status: Option<EventStatus>,
    /// Only events with this exact name.
    pub event_name: Option<String>,
    /// Only the event with this client message id.
    pub message_id: Option<String>,
    /// Only events created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only events created before this time.
    pub created_until: Option<DateTime<Utc>>,
    /// Keyset cursor: only events with a smaller id (the last id of the previous page).
    pub before_id: Option<EventId>,
    /// Page size.
    pub limit: u32,
}

/// An unfinished event loaded for a processing attempt, with what the worker needs.
#[derive(Debug, Clone, PartialEq)]
pub struct UnfinishedEvent {
    /// The event's id.
    pub id: EventId,
    /// The owner's email, for the processing log.
    pub owner_email: String,
    /// `event_name` as stored.
    pub event_name: String,
    /// `event_type` as stored.
    pub event_type: String,
    /// The payload's JSON text as stored.
    pub payload_json: String,
    /// Attempts recorded before this one.
    pub attempts: i32,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
}

/// The final result of processing one event, to be written back.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// The event's id.
    pub id: EventId,
    /// `processed` or `validation_error`.
    pub status: EventStatus,
    /// Normalized properties' JSON text, for `processed`.
    pub properties_json: Option<String>,
    /// The validation message, for `validation_error`.
    pub error: Option<String>,
    /// When it was judged.
    pub decided_at: DateTime<Utc>,
    /// The event's `attempts` when this attempt loaded it. The outcome is written only while
    /// the stored count is still this, so an attempt that was given up on (timed out, counted
    /// as failed) can never finish its event later.
    pub attempts_before: i32,
}

impl EventOutcome {
    /// `processed_at` to store: the decision time for `processed`, none otherwise.
    pub fn processed_at(&self) -> Option<DateTime<Utc>> {
        self.status.is_processed().then_some(self.decided_at)
    }
}

/// Events per status, over all users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCount {
    /// The status.
    pub status: EventStatus,
    /// How many events are in it.
    pub count: i64,
}

/// Activity in one minute, over all users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteActivity {
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Events accepted in it.
    pub accepted: i64,
    /// Events that became `processed` in it.
    pub processed: i64,
    /// Events that became `validation_error` or `failed` in it.
    pub failed: i64,
}

impl From<(DateTime<Utc>, i64, i64, i64)> for MinuteActivity {
    fn from((minute, accepted, processed, failed): (DateTime<Utc>, i64, i64, i64)) -> Self {
        Self {
            minute,
            accepted,
            processed,
            failed,
        }
    }
}

/// Where a recovery sweep stands: the last event it took, in (last change, id) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepCursor {
    /// The event's `updated_at` before the sweep touched it.
    pub updated_at: DateTime<Utc>,
    /// The event's id.
    pub id: EventId,
}

/// One round of a recovery sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaleEvents {
    /// The events taken, in id order.
    pub ids: Vec<EventId>,
    /// Where the next round continues; `None` when nothing was taken.
    pub cursor: Option<SweepCursor>,
}

/// One recorded login attempt under one key (an account or a client address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoginAttemptId(pub i64);

/// A write key's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriteKeyId(pub i64);

/// A stored write key. The key itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKey {
    /// The key's id.
    pub id: WriteKeyId,
    /// The user whose events it writes.
    pub owner: UserId,
    /// Its name; events sent with it have it as their `source` unless they name one.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last sent events (up to the last flush of use counts).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Events sent with it (up to the last flush of use counts).
    pub event_count: i64,
}

/// Use of one write key since the last flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteKeyUse {
    /// The key.
    pub id: WriteKeyId,
    /// Events it sent.
    pub events: i64,
    /// When it was last used.
    pub at: DateTime<Utc>,
}

/// Which of an owner's events a replay sends through processing again. Only replayable ones
/// ([`EventStatus::is_replayable`]) are ever moved, whatever the selection says.
#[derive(Debug, Clone, Default)]
pub struct ReplaySelection {
    /// Only these events.
    pub ids: Option<Vec<EventId>>,
    /// Only events in this status.
    pub status: Option<EventStatus>,
    /// Only events created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only events created before this time.
    pub created_until: Option<DateTime<Utc>>,
}

impl ReplaySelection {
    /// The statuses to move: the replayable ones, narrowed to `status` when given.
    pub fn statuses(&self) -> Vec<EventStatus> {
        EventStatus::replay_sources()
            .into_iter()
            .filter(|status| self.status.is_none_or(|wanted| wanted == *status))
            .collect()
    }
}

/// One round of a retention purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeRound {
    /// Events deleted in this round.
    pub deleted: u64,
    /// Where the next round continues; `None` once the purge reached events newer than the
    /// cutoff (or the end of the table).
    pub next: Option<EventId>,
}
