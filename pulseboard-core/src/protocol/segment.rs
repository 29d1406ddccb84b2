//! Segment's HTTP tracking API, also spoken by RudderStack's SDKs: `POST /v1/batch` and the
//! single-message routes `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/identify`, `/v1/group`,
//! `/v1/alias`.
//!
//! | message | `event_name` | `event_type` | `payload` |
//! |---|---|---|---|
//! | track | `event` (required) | `track` | `properties` |
//! | page, screen | `name`, else `page` / `screen` | `page` / `screen` | `properties` |
//! | identify, group | `identify` / `group` | the same | `traits` |
//! | alias | `alias` | `alias` | `{}` |
//!
//! `messageId`, `userId` and `anonymousId` (strings, or numbers written as strings) become
//! `message_id`, `user_id`, `anonymous_id`; `timestamp` (else `originalTimestamp`, RFC 3339) the
//! `occurred_at`; `context.sessionId` the `session_id`. Every other field (`context`,
//! `integrations`, `sentAt`, `previousId`, `groupId`, a timestamp that does not parse, …) is kept
//! in the event's context. `writeKey` is a secret and is never stored.
//!
//! A message is read in place from the body text: `properties` and `context` are copied as sent,
//! never parsed into a tree nor written again.
//!
//! ```
//! # use pulseboard_core::protocol::segment::{self, Message};
//! let track = r#"{"type": "track", "event": "Order Completed", "userId": "u-1",
//!     "anonymousId": "a-1", "messageId": "node-next-1", "timestamp": "2026-01-31T12:00:00Z",
//!     "properties": {"total": 30}, "context": {"sessionId": 1738324800000, "ip": "1.2.3.4"}}"#;
//! let event = segment::to_event(&Message::parse(track).unwrap(), None).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("Order Completed", "track"));
//! assert_eq!(event.payload_json(), r#"{"total": 30}"#);
//! assert_eq!((event.message_id(), event.user_id()), (Some("node-next-1"), Some("u-1")));
//! assert_eq!((event.anonymous_id(), event.session_id()), (Some("a-1"), Some("1738324800000")));
//! assert_eq!(event.occurred_at().unwrap().to_rfc3339(), "2026-01-31T12:00:00+00:00");
//! assert_eq!(event.context_json(), Some(r#"{"context":{"sessionId": 1738324800000, "ip": "1.2.3.4"}}"#));
//! ```
//!
//! A page or screen is named by its `name`, else by its type; `/v1/page` implies the type:
//!
//! ```
//! # use pulseboard_core::protocol::segment::{self, Message};
//! let page = r#"{"name": "Pricing", "properties": {"url": "https://example.com/pricing"}}"#;
//! let event = segment::to_event(&Message::parse(page).unwrap(), Some("page")).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("Pricing", "page"));
//!
//! let screen = r#"{"type": "screen", "anonymousId": "a-1"}"#;
//! let event = segment::to_event(&Message::parse(screen).unwrap(), None).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("screen", "screen"));
//! assert_eq!(event.payload_json(), "{}");
//! ```
//!
//! identify and group carry `traits`; alias carries nothing but ids:
//!
//! ```
//! # use pulseboard_core::protocol::segment::{self, Message};
//! let map = |text| segment::to_event(&Message::parse(text).unwrap(), None).unwrap();
//! let identify = map(r#"{"type": "identify", "userId": "u-1", "traits": {"plan":"pro"}}"#);
//! assert_eq!((identify.event_name(), identify.payload_json()), ("identify", r#"{"plan":"pro"}"#));
//!
//! let group = map(r#"{"type": "group", "userId": "u-1", "groupId": "g-1", "traits": {"seats":5}}"#);
//! assert_eq!((group.event_name(), group.payload_json()), ("group", r#"{"seats":5}"#));
//! assert_eq!(group.context_json(), Some(r#"{"groupId":"g-1"}"#));
//!
//! // RudderStack's python SDK sends an identify's traits only in `context.traits`.
//! let rudder = map(r#"{"type": "identify", "context": {"traits": {"plan":"pro"}}}"#);
//! assert_eq!(rudder.payload_json(), r#"{"plan":"pro"}"#);
//!
//! let alias = map(r#"{"type": "alias", "userId": "u-1", "previousId": "a-1"}"#);
//! assert_eq!((alias.event_name(), alias.event_type()), ("alias", "alias"));
//! assert_eq!((alias.payload_json(), alias.context_json()), ("{}", Some(r#"{"previousId":"a-1"}"#)));
//! ```

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use super::draft::{Draft, FieldNames, UNKNOWN};
use super::json;
use super::raw::{self, Element, Members, Scalar};
use super::{BodyError, Mapped};

/// Fields that describe one message: a batch envelope's field of such a name is not shared.
const PER_MESSAGE: &[&str] = &[
    "type",
    "event",
    "name",
    "properties",
    "traits",
    "messageId",
    "userId",
    "anonymousId",
    "timestamp",
    "originalTimestamp",
];

/// A request body read in place: its write key and its messages, borrowed from the body text.
#[derive(Debug)]
pub struct Body<'a> {
    write_key: Option<Cow<'a, str>>,
    messages: Vec<Message<'a>>,
}

impl<'a> Body<'a> {
    /// The body's `writeKey`, when it is a non-empty string (Segment's python SDK 2.3 sends the
    /// key only there).
    pub fn write_key(&self) -> Option<&str> {
        self.write_key.as_deref()
    }

    /// The messages, in the order sent.
    pub fn messages(&self) -> &[Message<'a>] {
        &self.messages
    }
}

/// One message of a body, read in place: the fields the mapping copies (`properties`,
/// `context`, …) stay slices of the body text.
#[derive(Debug)]
pub struct Message<'a>(Element<'a>);

impl<'a> Message<'a> {
    /// One message from its JSON text, as a single-message route (`/v1/track`, …) takes it.
    ///
    /// ```
    /// # use pulseboard_core::protocol::segment::Message;
    /// assert!(Message::parse(r#"{"type": "track", "event": "e"}"#).is_ok());
    /// assert!(Message::parse("{not json").is_err());
    /// ```
    pub fn parse(text: &'a str) -> Result<Self, BodyError> {
        let element = Element::parse(text).map_err(not_json)?;
        Ok(Self::read(element, &[]))
    }

    /// A read element as a message, with the envelope's `shared` members added where it has
    /// none.
    fn read(element: Element<'a>, shared: &[(Cow<'a, str>, &'a RawValue)]) -> Self {
        let Element::Object(mut members) = element else {
            return Self(element);
        };
        raw::settle(&mut members);
        for member in shared {
            raw::insert_if_absent(&mut members, member);
        }
        Self(Element::Object(members))
    }

    fn members(&self) -> Option<&Members<'a>> {
        match &self.0 {
            Element::Object(members) => Some(members),
            Element::Other(_) => None,
        }
    }
}

/// Reads a body. `/v1/batch` (`route_type` `None`) takes `{"batch": [...], ...}`: the
/// envelope's other fields (`sentAt`, a batch-level `context`, …) are added to each message
/// that has no field of that name, except `writeKey` and the per-message fields (`timestamp`,
/// …). A single-message route (`route_type` `Some("track")`, …) takes the message object itself.
///
/// ```
/// # use pulseboard_core::protocol::{BodyError, segment};
/// let body = r#"{"batch": [{"type": "track", "event": "e"}], "writeKey": "wk", "sentAt": "2026-01-31T12:00:01Z"}"#;
/// let body = segment::parse(body, None).unwrap();
/// assert_eq!(body.write_key(), Some("wk"));
/// let event = segment::to_event(&body.messages()[0], None).unwrap();
/// assert_eq!(event.context_json(), Some(r#"{"sentAt":"2026-01-31T12:00:01Z"}"#));
/// assert_eq!(segment::parse("[1]", None).unwrap_err(), BodyError::NoBatch);
/// assert_eq!(segment::parse("[1]", Some("track")).unwrap_err(), BodyError::NotAMessage);
/// ```
pub fn parse<'a>(body: &'a str, route_type: Option<&str>) -> Result<Body<'a>, BodyError> {
    if route_type.is_some() {
        let message = Message::parse(body)?;
        let members = message.members().ok_or(BodyError::NotAMessage)?;
        let write_key = write_key_of(members);
        return Ok(Body {
            write_key,
            messages: vec![message],
        });
    }
    let envelope = raw::Envelope::parse(body)
        .map_err(not_json)?
        .ok_or(BodyError::NoBatch)?;
    let batch = envelope.batch.ok_or(BodyError::NoBatch)?;
    let write_key = write_key_of(&envelope.members);
    let shared: Vec<_> = envelope
        .members
        .into_iter()
        .filter(|(key, _)| key != "writeKey" && !PER_MESSAGE.contains(&key.as_ref()))
        .collect();
    let messages = batch
        .into_iter()
        .map(|element| Message::read(element, &shared))
        .collect();
    Ok(Body {
        write_key,
        messages,
    })
}

fn not_json(error: serde_json::Error) -> BodyError {
    BodyError::NotJson(error.to_string())
}

/// `writeKey` when it is a non-empty string.
fn write_key_of<'a>(members: &Members<'a>) -> Option<Cow<'a, str>> {
    match raw::scalar(raw::get(members, "writeKey")?) {
        Scalar::Text(key) if !key.is_empty() => Some(key),
        _ => None,
    }
}

/// One message → event. `route_type` is the type a single-message route implies (`track`,
/// `page`, …), used when the message has no `type`; `None` on `/v1/batch`.
///
/// ```
/// # use pulseboard_core::protocol::segment::{self, Message};
/// let message = Message::parse(r#"{"type": "tap", "messageId": "m-1"}"#).unwrap();
/// let rejected = segment::to_event(&message, None).unwrap_err();
/// assert_eq!(rejected.reason(), r#"unknown message type "tap""#);
/// let record = rejected.into_event();
/// assert_eq!((record.event_type(), record.message_id()), ("unknown", Some("m-1")));
/// assert_eq!(record.payload_json(), r#"{"messageId":"m-1","type":"tap"}"#);
/// ```
pub fn to_event(message: &Message<'_>, route_type: Option<&str>) -> Mapped {
    let members = match &message.0 {
        Element::Object(members) => members,
        Element::Other(text) => return not_an_object(text, route_type),
    };
    let whole =
        || raw::object_text(members, |key| key == "writeKey").unwrap_or_else(|| "{}".to_owned());
    let mut draft = Draft::new(UNKNOWN, NAMES);
    let kind = draft.check(read_kind(members, route_type).map(Some));
    let name_key = kind.and_then(|kind| read_name(&mut draft, members, kind));
    draft.message_id = draft.check(text(raw::get(members, "messageId"), "messageId"));
    draft.user_id = draft.check(text(raw::get(members, "userId"), "userId"));
    draft.anonymous_id = draft.check(text(raw::get(members, "anonymousId"), "anonymousId"));
    let session_id =
        raw::get(members, "context").and_then(|context| raw::member(context, "sessionId"));
    draft.session_id = draft.check(text(session_id, "context.sessionId"));
    let timestamp = ["timestamp", "originalTimestamp"]
        .into_iter()
        .find_map(|key| Some((key, rfc3339(raw::get(members, key)?)?)));
    draft.occurred_at = timestamp.map(|(_, at)| at);
    let timestamp_key = timestamp.map(|(key, _)| key);
    if draft.is_refused() {
        return draft.finish(whole);
    }
    let payload_key = match kind {
        Some(Kind::Identify | Kind::Group) => Some("traits"),
        Some(Kind::Alias) => None,
        _ => Some("properties"),
    };
    if let Some(key) = payload_key {
        draft.names.payload = key;
        draft.payload_json = raw::get(members, key)
            .filter(|value| !raw::is_null(value))
            .or_else(|| context_traits(members, kind))
            .map(|value| value.get().to_owned());
    }
    let mapped = |key: &str| {
        matches!(
            key,
            "type" | "messageId" | "userId" | "anonymousId" | "writeKey"
        ) || [payload_key, name_key, timestamp_key].contains(&Some(key))
    };
    draft.context_json = raw::object_text(members, mapped);
    draft.finish(whole)
}

/// The record of a message that is not an object (`text`), typed by the route's type if any.
fn not_an_object(text: &str, route_type: Option<&str>) -> Mapped {
    let event_type = route_type
        .and_then(Kind::parse)
        .map_or(UNKNOWN, Kind::as_str);
    let mut draft = Draft::new(event_type, NAMES);
    draft.refuse("message is not a JSON object");
    draft.finish(|| text.to_owned())
}

/// An identify's traits where RudderStack's python SDK puts them: only in `context.traits`.
/// (The whole `context` stays in the event's context too.)
fn context_traits<'a>(members: &Members<'a>, kind: Option<Kind>) -> Option<&'a RawValue> {
    if kind != Some(Kind::Identify) {
        return None;
    }
    raw::member(raw::get(members, "context")?, "traits").filter(|traits| !raw::is_null(traits))
}

/// The message's `type`, else the route's.
fn read_kind(members: &Members<'_>, route_type: Option<&str>) -> Result<Kind, String> {
    let kind = raw::get(members, "type").map_or(Scalar::Null, raw::scalar);
    match (kind, route_type) {
        (Scalar::Null, Some(route_type)) => {
            Kind::parse(route_type).ok_or_else(|| unknown_type(route_type))
        }
        (Scalar::Null, None) => Err("message without a type".to_owned()),
        (Scalar::Text(kind), _) => Kind::parse(&kind).ok_or_else(|| unknown_type(&kind)),
        (Scalar::NotUnicode, _) => Err(json::lone_surrogate("type")),
        (Scalar::Number(_) | Scalar::Other, _) => Err(json::must_be_a_string("type")),
    }
}

/// Names and types the event; the field that named it (`event`, `name`), if any.
fn read_name<'a>(draft: &mut Draft<'a>, members: &Members<'a>, kind: Kind) -> Option<&'static str> {
    let name_key = match kind {
        Kind::Track => Some("event"),
        Kind::Page | Kind::Screen => Some("name"),
        _ => None,
    };
    draft.event_type = kind.as_str();
    draft.names.event_name = name_key.unwrap_or("type");
    let name = name_key.and_then(|key| draft.check(name(raw::get(members, key), key)));
    draft.event_name = match (kind, name) {
        (_, Some(name)) => Some(name),
        (Kind::Track, None) => {
            draft.refuse("track message without an event name");
            None
        }
        (kind, None) => Some(kind.as_str().into()),
    };
    name_key
}

/// A client id (`messageId`, …) read in place; see [`json::text`].
fn text<'a>(value: Option<&'a RawValue>, field: &str) -> Result<Option<Cow<'a, str>>, String> {
    json::scalar_text(value.map(raw::scalar), field)
}

/// A name (track `event`, page `name`) read in place; see [`json::name`].
fn name<'a>(value: Option<&'a RawValue>, field: &str) -> Result<Option<Cow<'a, str>>, String> {
    json::scalar_name(value.map(raw::scalar), field)
}

/// An RFC 3339 timestamp string read in place, in UTC.
fn rfc3339(value: &RawValue) -> Option<DateTime<Utc>> {
    match raw::scalar(value) {
        Scalar::Text(text) => json::parse_rfc3339(&text),
        _ => None,
    }
}

const NAMES: FieldNames = FieldNames {
    event_name: "type",
    source: "source",
    session_id: "context.sessionId",
    message_id: "messageId",
    user_id: "userId",
    anonymous_id: "anonymousId",
    payload: "properties",
};

fn unknown_type(kind: &str) -> String {
    format!("unknown message type {}", json::quoted(kind))
}

/// The message types of the Segment spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Track,
    Page,
    Screen,
    Identify,
    Group,
    Alias,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Self::Track,
        Self::Page,
        Self::Screen,
        Self::Identify,
        Self::Group,
        Self::Alias,
    ];

    /// The type named by `text`, in any letter case (`track`, `Track`).
    fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Identify => "identify",
            Self::Group => "group",
            Self::Alias => "alias",
        }
    }
}

#[cfg(test)]
mod tests;
