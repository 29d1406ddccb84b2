//! PostHog capture: `POST /batch`, `/capture`, `/e`, `/i/v0/e` (each also with a trailing `/`).
//!
//! A message becomes an event named by its `event` (required), of type `capture`, with
//! `properties` as payload; `uuid` → `message_id`, `distinct_id` (else `properties.distinct_id`)
//! → `user_id`, `timestamp` (RFC 3339) → `occurred_at`, `properties.$session_id` →
//! `session_id`. The other fields (`$set`, `offset`, `sent_at`, …) are kept as the event's context.
//! The project key is a secret: `api_key`, `token` and `properties.token` are never stored.
//!
//! ```
//! # use pulseboard_core::protocol::posthog;
//! # use serde_json::json;
//! let body = json!({"api_key": "phc_1", "batch": [{
//!     "event": "$pageview", "distinct_id": "u-1", "uuid": "0190c4c1-8d6a-7000-8000-000000000001",
//!     "timestamp": "2026-01-31T12:00:00+00:00", "$set": {"plan": "pro"},
//!     "properties": {"$current_url": "https://example.com/", "$session_id": "s-1", "token": "phc_1"},
//! }]});
//! assert_eq!(posthog::body_api_key(&body), Some("phc_1"));
//! let messages = posthog::messages(body).unwrap();
//! let event = posthog::to_event(&messages[0]).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("$pageview", "capture"));
//! assert_eq!(event.payload_json(), r#"{"$current_url":"https://example.com/","$session_id":"s-1"}"#);
//! assert_eq!((event.user_id(), event.session_id()), (Some("u-1"), Some("s-1")));
//! assert_eq!(event.message_id(), Some("0190c4c1-8d6a-7000-8000-000000000001"));
//! assert_eq!(event.occurred_at().unwrap().to_rfc3339(), "2026-01-31T12:00:00+00:00");
//! assert_eq!(event.context_json(), Some(r#"{"$set":{"plan":"pro"}}"#));
//! ```

use serde_json::Value;

use super::draft::{Draft, FieldNames};
use super::json::{self, Entry, ObjectView};
use super::{BodyError, Mapped};

/// Fields that describe one message: a batch envelope's field of such a name is not shared.
/// The keys are among them, so they never reach a message.
const PER_MESSAGE: &[&str] = &[
    "event",
    "properties",
    "uuid",
    "distinct_id",
    "timestamp",
    "api_key",
    "token",
];

/// The messages of a body: a JSON array of events, `{"batch": [...], ...}` (the envelope's other
/// fields, such as `sent_at`, are copied into each message that has no field of that name, the
/// keys excepted), one event object, or legacy posthog-js `{"data": ...}` holding any of those as
/// JSON text or base64 of it.
///
/// ```
/// # use pulseboard_core::protocol::{BodyError, posthog};
/// # use serde_json::json;
/// // base64 of [{"event":"e"}]
/// let legacy = json!({"data": "W3siZXZlbnQiOiJlIn1d"});
/// assert_eq!(posthog::messages(legacy).unwrap(), vec![json!({"event": "e"})]);
/// assert_eq!(posthog::messages(json!("e")), Err(BodyError::NotEvents));
/// ```
pub fn messages(body: Value) -> Result<Vec<Value>, BodyError> {
    split(body, true)
}

fn split(body: Value, may_hold_data: bool) -> Result<Vec<Value>, BodyError> {
    let mut envelope = match body {
        Value::Array(events) => return Ok(events),
        Value::Object(envelope) => envelope,
        _ => return Err(BodyError::NotEvents),
    };
    if let Some(batch) = envelope.remove("batch") {
        let Value::Array(mut batch) = batch else {
            return Err(BodyError::NotEvents);
        };
        json::share_envelope(&mut batch, envelope, PER_MESSAGE);
        return Ok(batch);
    }
    if may_hold_data
        && !envelope.contains_key("event")
        && let Some(data) = envelope.remove("data")
    {
        let events = match data {
            Value::String(text) => decode_data(&text).ok_or(BodyError::UnreadableData)?,
            events @ (Value::Array(_) | Value::Object(_)) => events,
            _ => return Err(BodyError::UnreadableData),
        };
        return split(events, false);
    }
    Ok(vec![Value::Object(envelope)])
}

/// Legacy `data`: JSON text, or base64 of it.
fn decode_data(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.starts_with(['[', '{']) {
        return serde_json::from_str(text).ok();
    }
    serde_json::from_slice(&json::base64_decode(text)?).ok()
}

/// The project key of a body: its `api_key`, else `token`, else the first event's (see
/// [`messages_api_key`]). Call it before [`messages`] consumes the body; for a legacy
/// `{"data": ...}` body, whose key is inside the data, use [`messages_api_key`] on the messages.
pub fn body_api_key(body: &Value) -> Option<&str> {
    key_of(body).or_else(|| match body {
        Value::Array(events) => messages_api_key(events),
        Value::Object(envelope) => match envelope.get("batch") {
            Some(Value::Array(events)) => messages_api_key(events),
            _ => messages_api_key(std::slice::from_ref(body)),
        },
        _ => None,
    })
}

/// The first message's `api_key`, else `token`, else `properties.token` (posthog-js puts the key
/// there), when a non-empty string.
pub fn messages_api_key(messages: &[Value]) -> Option<&str> {
    let first = messages.first()?;
    key_of(first).or_else(|| non_empty(first.get("properties")?.get("token")))
}

fn key_of(value: &Value) -> Option<&str> {
    non_empty(value.get("api_key")).or_else(|| non_empty(value.get("token")))
}

fn non_empty(value: Option<&Value>) -> Option<&str> {
    value?.as_str().filter(|key| !key.is_empty())
}

/// One message → event.
///
/// ```
/// # use pulseboard_core::protocol::posthog;
/// # use serde_json::json;
/// let capture = json!({"event": "clicked", "properties": {"distinct_id": 42, "token": "phc_1"}});
/// let event = posthog::to_event(&capture).unwrap();
/// assert_eq!((event.user_id(), event.payload_json()), (Some("42"), r#"{"distinct_id":42}"#));
///
/// let nameless = json!({"uuid": "u-1", "api_key": "phc_1", "properties": {"token": "phc_1", "a": 1}});
/// let rejected = posthog::to_event(&nameless).unwrap_err();
/// assert_eq!(rejected.reason(), "capture message without an event name");
/// let record = rejected.into_event();
/// assert_eq!((record.event_name(), record.message_id()), ("unknown", Some("u-1")));
/// assert_eq!(record.payload_json(), r#"{"properties":{"a":1},"uuid":"u-1"}"#);
/// ```
pub fn to_event(message: &Value) -> Mapped {
    let whole = || json::without_secrets(message, without_keys);
    let mut draft = Draft::new("capture", NAMES);
    let Value::Object(map) = message else {
        draft.refuse("message is not a JSON object");
        return draft.finish(whole);
    };
    draft.event_name = draft.check(json::name(map.get("event"), "event"));
    if draft.event_name.is_none() {
        draft.refuse("capture message without an event name");
    }
    let properties = map
        .get("properties")
        .filter(|properties| !properties.is_null());
    draft.message_id = draft.check(json::text(map.get("uuid"), "uuid"));
    draft.user_id = match map.get("distinct_id").filter(|id| !id.is_null()) {
        Some(id) => draft.check(json::text(Some(id), "distinct_id")),
        None => {
            draft.names.user_id = "properties.distinct_id";
            let id = properties.and_then(|properties| properties.get("distinct_id"));
            draft.check(json::text(id, "properties.distinct_id"))
        }
    };
    let session_id = properties.and_then(|properties| properties.get("$session_id"));
    draft.session_id = draft.check(json::text(session_id, "properties.$session_id"));
    draft.occurred_at = map.get("timestamp").and_then(json::rfc3339);
    if draft.is_refused() {
        return draft.finish(whole);
    }
    draft.payload_json = match properties {
        Some(Value::Object(properties)) => json::to_text_without(properties, "token"),
        other => other.and_then(json::to_text),
    };
    let timestamp_mapped = draft.occurred_at.is_some();
    let context = ObjectView::new(map, |key, value| match key {
        "event" | "properties" | "uuid" | "distinct_id" | "api_key" | "token" => Entry::Skip,
        "timestamp" if timestamp_mapped => Entry::Skip,
        _ => Entry::Value(value),
    });
    draft.context_json = context.to_text_unless_empty();
    draft.finish(whole)
}

const NAMES: FieldNames = FieldNames {
    event_name: "event",
    source: "source",
    session_id: "properties.$session_id",
    message_id: "uuid",
    user_id: "distinct_id",
    anonymous_id: "anonymous_id",
    payload: "properties",
};

/// A rejected message's record: everything but the project key.
fn without_keys<'a>(key: &str, value: &'a Value) -> Entry<'a> {
    match (key, value) {
        ("api_key" | "token", _) => Entry::Skip,
        ("properties", Value::Object(properties)) => Entry::Without(properties, "token"),
        (_, value) => Entry::Value(value),
    }
}

#[cfg(test)]
mod tests;
