//! Analytics SDKs' messages → [`NewEvent`]s (DESIGN §8): Segment (and RudderStack), PostHog
//! capture and Snowplow tracker protocol 2.
//!
//! Each protocol module has the same two steps. `messages(body)` (Segment: `parse(text)`, which
//! reads the body text in place) splits a request body into its messages, or refuses a body that is not the protocol's envelope with a [`BodyError`] (the
//! route answers 400). `to_event(message)` maps one message to an event; a message that cannot
//! become one is a [`Rejection`] that still carries a record to store as `validation_error`, so
//! nothing a client sent is dropped:
//!
//! ```
//! use pulseboard_core::{EventStatus, protocol::segment};
//!
//! let body = r#"{"writeKey": "wk_1", "batch": [
//!     {"type": "track", "event": "Signed Up", "messageId": "m-1", "properties": {"plan": "pro"}},
//!     {"type": "track", "messageId": "m-2"}
//! ]}"#;
//! let body = segment::parse(body, None).unwrap();
//! assert_eq!(body.write_key(), Some("wk_1"));
//! let events: Vec<_> = body
//!     .messages()
//!     .iter()
//!     .map(|message| segment::to_event(message, None).unwrap_or_else(|rejected| rejected.into_event()))
//!     .collect();
//! assert_eq!(events[0].event_name(), "Signed Up");
//! assert_eq!(events[0].initial_status(), EventStatus::Enqueued);
//! assert_eq!(events[1].rejection(), Some("track message without an event name"));
//! assert_eq!(events[1].message_id(), Some("m-2")); // a retry is still deduplicated
//! assert_eq!(events[1].initial_status(), EventStatus::ValidationError);
//! ```
//!
//! Write keys are secrets: Segment's `writeKey`, PostHog's `api_key`, `token` and
//! `properties.token` are never copied into an event, accepted or rejected.

use crate::NewEvent;

mod draft;
mod json;
pub mod posthog;
mod raw;
pub mod segment;
pub mod snowplow;

/// A message that could not become an event, with why. [`Rejection::into_event`] gives the record
/// to store (already [`NewEvent::rejected`] with the reason), so nothing a client sent is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.reason())]
pub struct Rejection {
    /// Already marked rejected, so it holds the reason too; boxed to keep [`Mapped`]'s error small.
    record: Box<NewEvent>,
}

impl Rejection {
    fn new(reason: String, record: NewEvent) -> Self {
        Self {
            record: Box::new(record.rejected(reason)),
        }
    }

    /// Why the message was refused, for a person: `track message without an event name`.
    pub fn reason(&self) -> &str {
        self.record.rejection().unwrap_or_default()
    }

    /// The record to store: every valid field of the message (its message id above all, so a
    /// retry is deduplicated), the whole message as payload, status `validation_error`.
    pub fn record(&self) -> &NewEvent {
        &self.record
    }

    /// The record to store; see [`Rejection::record`].
    pub fn into_event(self) -> NewEvent {
        *self.record
    }
}

/// One message mapped: the event, or why not with the record to store instead.
pub type Mapped = Result<NewEvent, Rejection>;

/// A body that is not readable as the protocol's envelope: the route answers 400 with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is not JSON text; holds the parser's account of where and why.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// Segment `/v1/batch`: no `batch` array.
    #[error(r#"expected a JSON object with a "batch" array of messages"#)]
    NoBatch,
    /// A Segment single-message route (`/v1/track`, …): the body is not an object.
    #[error("expected one message as a JSON object")]
    NotAMessage,
    /// PostHog: neither an array of events, `{"batch": [...]}`, `{"data": ...}` nor one event.
    #[error(
        r#"expected a JSON array of events, an object with a "batch" array, or one event object"#
    )]
    NotEvents,
    /// PostHog legacy `{"data": ...}`: neither JSON text nor base64 of JSON text.
    #[error(r#""data" must hold the events as JSON text or as base64 of JSON text"#)]
    UnreadableData,
    /// Snowplow: not a `payload_data` envelope.
    #[error(
        r#"expected a Snowplow payload_data object: {{"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": [...]}}"#
    )]
    NotPayloadData,
}
