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
//! ```
//! # use pulseboard_core::protocol::segment;
//! # use serde_json::json;
//! let track = json!({"type": "track", "event": "Order Completed", "userId": "u-1",
//!     "anonymousId": "a-1", "messageId": "node-next-1", "timestamp": "2026-01-31T12:00:00Z",
//!     "properties": {"total": 30}, "context": {"sessionId": 1738324800000_u64, "ip": "1.2.3.4"}});
//! let event = segment::to_event(&track, None).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("Order Completed", "track"));
//! assert_eq!(event.payload_json(), r#"{"total":30}"#);
//! assert_eq!((event.message_id(), event.user_id()), (Some("node-next-1"), Some("u-1")));
//! assert_eq!((event.anonymous_id(), event.session_id()), (Some("a-1"), Some("1738324800000")));
//! assert_eq!(event.occurred_at().unwrap().to_rfc3339(), "2026-01-31T12:00:00+00:00");
//! assert_eq!(event.context_json(), Some(r#"{"context":{"ip":"1.2.3.4","sessionId":1738324800000}}"#));
//! ```
//!
//! A page or screen is named by its `name`, else by its type; `/v1/page` implies the type:
//!
//! ```
//! # use pulseboard_core::protocol::segment;
//! # use serde_json::json;
//! let page = json!({"name": "Pricing", "properties": {"url": "https://example.com/pricing"}});
//! let event = segment::to_event(&page, Some("page")).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("Pricing", "page"));
//!
//! let screen = json!({"type": "screen", "anonymousId": "a-1"});
//! let event = segment::to_event(&screen, None).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("screen", "screen"));
//! assert_eq!(event.payload_json(), "{}");
//! ```
//!
//! identify and group carry `traits`; alias carries nothing but ids:
//!
//! ```
//! # use pulseboard_core::protocol::segment;
//! # use serde_json::json;
//! let identify = json!({"type": "identify", "userId": "u-1", "traits": {"plan": "pro"}});
//! let event = segment::to_event(&identify, None).unwrap();
//! assert_eq!((event.event_name(), event.payload_json()), ("identify", r#"{"plan":"pro"}"#));
//!
//! let group = json!({"type": "group", "userId": "u-1", "groupId": "g-1", "traits": {"seats": 5}});
//! let event = segment::to_event(&group, None).unwrap();
//! assert_eq!((event.event_name(), event.payload_json()), ("group", r#"{"seats":5}"#));
//! assert_eq!(event.context_json(), Some(r#"{"groupId":"g-1"}"#));
//!
//! // RudderStack's python SDK sends an identify's traits only in `context.traits`.
//! let rudder = json!({"type": "identify", "context": {"traits": {"plan": "pro"}}});
//! assert_eq!(segment::to_event(&rudder, None).unwrap().payload_json(), r#"{"plan":"pro"}"#);
//!
//! let alias = json!({"type": "alias", "userId": "u-1", "previousId": "a-1"});
//! let event = segment::to_event(&alias, None).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("alias", "alias"));
//! assert_eq!((event.payload_json(), event.context_json()), ("{}", Some(r#"{"previousId":"a-1"}"#)));
//! ```

use serde_json::{Map, Value};

use super::draft::{Draft, FieldNames, UNKNOWN};
use super::json::{self, Entry, ObjectView};
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

/// The messages of a body. `/v1/batch` (`route_type` `None`) takes `{"batch": [...], ...}`: the
/// envelope's other fields (`sentAt`, a batch-level `context`, …) are copied into each message
/// that has no field of that name, except `writeKey` and the per-message fields (`timestamp`, …).
/// A single-message route (`route_type` `Some("track")`, …) takes the message object itself.
///
/// ```
/// # use pulseboard_core::protocol::{BodyError, segment};
/// # use serde_json::json;
/// let body = json!({"batch": [{"type": "track", "event": "e"}], "sentAt": "2026-01-31T12:00:01Z"});
/// let messages = segment::messages(body, None).unwrap();
/// assert_eq!(messages[0]["sentAt"], "2026-01-31T12:00:01Z");
/// assert_eq!(segment::messages(json!([1]), None), Err(BodyError::NoBatch));
/// ```
pub fn messages(body: Value, route_type: Option<&str>) -> Result<Vec<Value>, BodyError> {
    match (body, route_type) {
        (message @ Value::Object(_), Some(_)) => Ok(vec![message]),
        (_, Some(_)) => Err(BodyError::NotAMessage),
        (Value::Object(mut envelope), None) => {
            let Some(Value::Array(mut batch)) = envelope.remove("batch") else {
                return Err(BodyError::NoBatch);
            };
            envelope.remove("writeKey");
            json::share_envelope(&mut batch, envelope, PER_MESSAGE);
            Ok(batch)
        }
        (_, None) => Err(BodyError::NoBatch),
    }
}

/// The body's `writeKey`, when it is a non-empty string (Segment's python SDK 2.3 sends the key
/// only there). Call it before [`messages`] consumes the body.
pub fn body_write_key(body: &Value) -> Option<&str> {
    body.get("writeKey")
        .and_then(Value::as_str)
        .filter(|key| !key.is_empty())
}

/// One message → event. `route_type` is the type a single-message route implies (`track`,
/// `page`, …), used when the message has no `type`; `None` on `/v1/batch`.
///
/// ```
/// # use pulseboard_core::protocol::segment;
/// # use serde_json::json;
/// let rejected = segment::to_event(&json!({"type": "tap", "messageId": "m-1"}), None).unwrap_err();
/// assert_eq!(rejected.reason(), r#"unknown message type "tap""#);
/// let record = rejected.into_event();
/// assert_eq!((record.event_type(), record.message_id()), ("unknown", Some("m-1")));
/// assert_eq!(record.payload_json(), r#"{"messageId":"m-1","type":"tap"}"#);
/// ```
pub fn to_event(message: &Value, route_type: Option<&str>) -> Mapped {
    let whole = || json::without_secrets(message, keep_all_but_write_key);
    let Value::Object(map) = message else {
        let event_type = route_type
            .and_then(Kind::parse)
            .map_or(UNKNOWN, Kind::as_str);
        let mut draft = Draft::new(event_type, NAMES);
        draft.refuse("message is not a JSON object");
        return draft.finish(whole);
    };
    let mut draft = Draft::new(UNKNOWN, NAMES);
    let kind = draft.check(read_kind(map, route_type).map(Some));
    let name_key = kind.and_then(|kind| read_name(&mut draft, map, kind));
    draft.message_id = draft.check(json::text(map.get("messageId"), "messageId"));
    draft.user_id = draft.check(json::text(map.get("userId"), "userId"));
    draft.anonymous_id = draft.check(json::text(map.get("anonymousId"), "anonymousId"));
    let session_id = map
        .get("context")
        .and_then(|context| context.get("sessionId"));
    draft.session_id = draft.check(json::text(session_id, "context.sessionId"));
    let timestamp = json::first_timestamp(map, ["timestamp", "originalTimestamp"], json::rfc3339);
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
        draft.payload_json = map
            .get(key)
            .filter(|value| !value.is_null())
            .or_else(|| context_traits(map, kind))
            .and_then(json::to_text);
    }
    let mapped = |key: &str| {
        matches!(
            key,
            "type" | "messageId" | "userId" | "anonymousId" | "writeKey"
        ) || [payload_key, name_key, timestamp_key].contains(&Some(key))
    };
    let context = ObjectView::new(map, |key, value| {
        if mapped(key) {
            Entry::Skip
        } else {
            Entry::Value(value)
        }
    });
    draft.context_json = context.to_text_unless_empty();
    draft.finish(whole)
}

/// An identify's traits where RudderStack's python SDK puts them: only in `context.traits`.
/// (The whole `context` stays in the event's context too.)
fn context_traits(map: &Map<String, Value>, kind: Option<Kind>) -> Option<&Value> {
    if kind != Some(Kind::Identify) {
        return None;
    }
    map.get("context")?
        .get("traits")
        .filter(|traits| !traits.is_null())
}

/// The message's `type`, else the route's.
fn read_kind(map: &Map<String, Value>, route_type: Option<&str>) -> Result<Kind, String> {
    match (map.get("type"), route_type) {
        (None | Some(Value::Null), Some(route_type)) => {
            Kind::parse(route_type).ok_or_else(|| unknown_type(route_type))
        }
        (None | Some(Value::Null), None) => Err("message without a type".to_owned()),
        (Some(Value::String(kind)), _) => Kind::parse(kind).ok_or_else(|| unknown_type(kind)),
        (Some(_), _) => Err("type must be a string".to_owned()),
    }
}

/// Names and types the event; the field that named it (`event`, `name`), if any.
fn read_name<'a>(
    draft: &mut Draft<'a>,
    map: &'a Map<String, Value>,
    kind: Kind,
) -> Option<&'static str> {
    let name_key = match kind {
        Kind::Track => Some("event"),
        Kind::Page | Kind::Screen => Some("name"),
        _ => None,
    };
    draft.event_type = kind.as_str();
    draft.names.event_name = name_key.unwrap_or("type");
    let name = name_key.and_then(|key| draft.check(json::name(map.get(key), key)));
    draft.event_name = match (kind, name) {
        (_, Some(name)) => Some(name.into()),
        (Kind::Track, None) => {
            draft.refuse("track message without an event name");
            None
        }
        (kind, None) => Some(kind.as_str().into()),
    };
    name_key
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

fn keep_all_but_write_key<'a>(key: &str, value: &'a Value) -> Entry<'a> {
    if key == "writeKey" {
        Entry::Skip
    } else {
        Entry::Value(value)
    }
}

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
