//! Snowplow tracker protocol 2: `POST /s/{write_key}/com.snowplowanalytics.snowplow/tp2` with a
//! `payload_data` body whose events hold only strings. (A GET `/i` request's query parameters,
//! gathered into an object, map the same way through [`to_event`].)
//!
//! | `e` | `event_type` | `event_name` | `payload` |
//! |---|---|---|---|
//! | `pv` | `page_view` | `page_view` | `{url, title, referrer}` from `url`, `page`, `refr` |
//! | `pp` | `page_ping` | `page_ping` | the same plus `min_x`, `max_x`, `min_y`, `max_y` from `pp_mix` … |
//! | `se` | `struct` | `se_ac` (required) | `{category, action, label, property, value}` from `se_ca` … `se_va` |
//! | `ue` | `unstruct` | the name part of the inner schema | the inner `data` |
//!
//! `eid` → `message_id`, `uid` → `user_id`, `duid` (else `nuid`) → `anonymous_id`, `sid` →
//! `session_id`, `aid` → `source`, `ttm` (else `dtm`, milliseconds since the epoch) →
//! `occurred_at`. Every other field is kept as the event's context, with `cx` (base64 contexts)
//! and `co` (JSON contexts) decoded when they decode, and a `ue` event's full schema URI as
//! `ue_schema`. Numeric strings (`se_va`, `pp_*`) become numbers in the payload.
//!
//! ```
//! # use pulseboard_core::protocol::snowplow;
//! # use serde_json::json;
//! let body = json!({
//!     "schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
//!     "data": [{"e": "pv", "url": "https://example.com/", "page": "Home", "eid": "e-1",
//!               "duid": "d-1", "sid": "s-1", "aid": "shop", "dtm": "1767225600000", "tv": "py-1.1.0"}],
//! });
//! let event = snowplow::to_event(&snowplow::messages(body).unwrap()[0]).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("page_view", "page_view"));
//! assert_eq!(event.payload_json(), r#"{"title":"Home","url":"https://example.com/"}"#);
//! assert_eq!((event.message_id(), event.anonymous_id()), (Some("e-1"), Some("d-1")));
//! assert_eq!((event.session_id(), event.source()), (Some("s-1"), Some("shop")));
//! assert_eq!(event.occurred_at().unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
//! assert_eq!(event.context_json(), Some(r#"{"tv":"py-1.1.0"}"#));
//! ```
//!
//! A structured event is named by its action:
//!
//! ```
//! # use pulseboard_core::protocol::snowplow;
//! # use serde_json::json;
//! let se = json!({"e": "se", "se_ca": "shop", "se_ac": "add-to-basket", "se_va": "2.5"});
//! let event = snowplow::to_event(&se).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("add-to-basket", "struct"));
//! assert_eq!(event.payload_json(), r#"{"action":"add-to-basket","category":"shop","value":2.5}"#);
//! ```
//!
//! An unstructured event by its schema, from `ue_pr` (JSON text) or `ue_px` (base64url):
//!
//! ```
//! # use pulseboard_core::protocol::snowplow;
//! # use serde_json::json;
//! let ue_pr = r#"{"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
//!     "data": {"schema": "iglu:com.acme/link_click/jsonschema/1-0-1", "data": {"targetUrl": "/a"}}}"#;
//! let event = snowplow::to_event(&json!({"e": "ue", "ue_pr": ue_pr})).unwrap();
//! assert_eq!((event.event_name(), event.event_type()), ("link_click", "unstruct"));
//! assert_eq!(event.payload_json(), r#"{"targetUrl":"/a"}"#);
//! assert_eq!(event.context_json(), Some(r#"{"ue_schema":"iglu:com.acme/link_click/jsonschema/1-0-1"}"#));
//! ```

use serde_json::{Map, Value};

use super::draft::{Draft, FieldNames, UNKNOWN};
use super::json::{self, Entry, ObjectView};
use super::{BodyError, Mapped};
use kind::{Kind, renamed};

const PAYLOAD_DATA: &str = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-";

/// The events of a `payload_data` body `{"schema": "iglu:…/payload_data/jsonschema/1-0-*",
/// "data": [...]}`. A body without `schema` is read too; one with another schema is refused.
pub fn messages(body: Value) -> Result<Vec<Value>, BodyError> {
    let Value::Object(mut envelope) = body else {
        return Err(BodyError::NotPayloadData);
    };
    match envelope.get("schema") {
        None => {}
        Some(Value::String(schema)) if schema.starts_with(PAYLOAD_DATA) => {}
        Some(_) => return Err(BodyError::NotPayloadData),
    }
    match envelope.remove("data") {
        Some(Value::Array(events)) => Ok(events),
        _ => Err(BodyError::NotPayloadData),
    }
}

/// One event → event.
///
/// ```
/// # use pulseboard_core::protocol::snowplow;
/// # use serde_json::json;
/// let rejected = snowplow::to_event(&json!({"e": "tr", "eid": "e-1"})).unwrap_err();
/// assert_eq!(rejected.reason(), r#"unknown Snowplow event type "tr""#);
/// assert_eq!(rejected.into_event().message_id(), Some("e-1"));
/// ```
pub fn to_event(message: &Value) -> Mapped {
    let whole = || json::without_secrets(message, |_, value| Entry::Value(value));
    let mut draft = Draft::new(UNKNOWN, NAMES);
    let Value::Object(map) = message else {
        draft.refuse("message is not a JSON object");
        return draft.finish(whole);
    };
    let kind = draft.check(read_kind(map).map(Some));
    draft.event_type = kind.map_or(UNKNOWN, Kind::as_str);
    // A `ue` event's field (`ue_pr`/`ue_px`) and its decoded self-describing JSON.
    let unstruct = kind.and_then(|kind| read_name(&mut draft, map, kind));
    let read = read_ids(&mut draft, map);
    let Some(kind) = kind.filter(|_| !draft.is_refused()) else {
        return draft.finish(whole);
    };
    let inner = unstruct.as_ref().and_then(|(_, event)| event.get("data"));
    draft.payload_json = match kind {
        Kind::Unstruct => inner
            .and_then(|inner| inner.get("data"))
            .filter(|data| !data.is_null())
            .and_then(json::to_text),
        kind => json::to_text(&renamed(map, kind.fields())),
    };
    let unstruct_key = unstruct.as_ref().map(|(key, _)| *key);
    let mapped = |key: &str| {
        matches!(key, "e" | "eid" | "uid" | "sid" | "aid")
            || [Some(read.anonymous_key), read.timestamp_key, unstruct_key].contains(&Some(key))
            || kind.fields().iter().any(|(from, ..)| *from == key)
    };
    let schema = inner.and_then(|inner| inner.get("schema"));
    draft.context_json = context(map, mapped, schema);
    draft.finish(whole)
}

fn read_kind(map: &Map<String, Value>) -> Result<Kind, String> {
    match map.get("e") {
        None | Some(Value::Null) => Err("Snowplow event without a type (e)".to_owned()),
        Some(Value::String(e)) => {
            Kind::parse(e).ok_or_else(|| format!("unknown Snowplow event type {}", json::quoted(e)))
        }
        Some(_) => Err("e must be a string".to_owned()),
    }
}

/// Names the event as its kind says; a `ue` event's decoded JSON and the field that held it.
fn read_name<'a>(
    draft: &mut Draft<'a>,
    map: &'a Map<String, Value>,
    kind: Kind,
) -> Option<(&'static str, Value)> {
    match kind {
        Kind::Struct => {
            draft.names.event_name = "se_ac";
            draft.event_name = draft.check(json::name(map.get("se_ac"), "se_ac"));
            if draft.event_name.is_none() {
                draft.refuse("structured event without an action (se_ac)");
            }
        }
        Kind::Unstruct => match self_describing(map) {
            Ok((key, name, event)) => {
                draft.names.event_name = key;
                draft.event_name = Some(name.into());
                return Some((key, event));
            }
            Err(reason) => draft.refuse(reason),
        },
        Kind::PageView | Kind::PagePing => draft.event_name = Some(kind.as_str().into()),
    }
    None
}

/// Which of two alternative fields the ids came from: those are not context.
struct Read {
    anonymous_key: &'static str,
    timestamp_key: Option<&'static str>,
}

fn read_ids<'a>(draft: &mut Draft<'a>, map: &'a Map<String, Value>) -> Read {
    draft.message_id = draft.check(json::text(map.get("eid"), "eid"));
    draft.user_id = draft.check(json::text(map.get("uid"), "uid"));
    let duid = map.get("duid").is_some_and(|id| !id.is_null());
    let anonymous_key = if duid { "duid" } else { "nuid" };
    draft.names.anonymous_id = anonymous_key;
    draft.anonymous_id = draft.check(json::text(map.get(anonymous_key), anonymous_key));
    draft.session_id = draft.check(json::text(map.get("sid"), "sid"));
    draft.source = draft.check(json::text(map.get("aid"), "aid"));
    let timestamp = json::first_timestamp(map, ["ttm", "dtm"], json::epoch_millis);
    draft.occurred_at = timestamp.map(|(_, at)| at);
    let timestamp_key = timestamp.map(|(key, _)| key);
    Read {
        anonymous_key,
        timestamp_key,
    }
}

/// The fields `mapped` does not claim, contexts decoded when they decode, plus `ue_schema`.
fn context(
    map: &Map<String, Value>,
    mapped: impl Fn(&str) -> bool,
    schema: Option<&Value>,
) -> Option<String> {
    let decoded = map
        .get("cx")
        .and_then(Value::as_str)
        .and_then(json::base64_decode);
    let contexts: Option<Value> = decoded.and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let plain: Option<Value> = map
        .get("co")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str(text).ok());
    let view = ObjectView::new(map, |key, value| match (key, &contexts, &plain) {
        (key, ..) if mapped(key) => Entry::Skip,
        ("cx", Some(decoded), _) | ("co", _, Some(decoded)) => Entry::Value(decoded),
        _ => Entry::Value(value),
    });
    match schema {
        Some(schema) => view.with_extra("ue_schema", schema).to_text_unless_empty(),
        None => view.to_text_unless_empty(),
    }
}

const NAMES: FieldNames = FieldNames {
    event_name: "e",
    source: "aid",
    session_id: "sid",
    message_id: "eid",
    user_id: "uid",
    anonymous_id: "duid",
    payload: "payload",
};

/// The self-describing event of a `ue`: the field that held it, the event's name (from its
/// schema URI) and the decoded JSON.
fn self_describing(map: &Map<String, Value>) -> Result<(&'static str, String, Value), String> {
    let present = |key| map.get(key).filter(|value: &&Value| !value.is_null());
    let (key, event): (_, Value) = if let Some(text) = present("ue_pr") {
        let text = text.as_str().ok_or("ue_pr must be a string")?;
        (
            "ue_pr",
            serde_json::from_str(text).map_err(|_| "ue_pr is not valid JSON")?,
        )
    } else if let Some(text) = present("ue_px") {
        let text = text.as_str().ok_or("ue_px must be a string")?;
        let bytes = json::base64_decode(text).ok_or("ue_px is not valid base64")?;
        (
            "ue_px",
            serde_json::from_slice(&bytes).map_err(|_| "ue_px does not hold valid JSON")?,
        )
    } else {
        return Err("unstructured event without ue_pr or ue_px".to_owned());
    };
    let schema = event
        .get("data")
        .and_then(|inner| inner.get("schema"))
        .and_then(Value::as_str);
    let schema = schema.ok_or_else(|| format!("{key} holds no event schema (data.schema)"))?;
    let name = iglu_name(schema).ok_or_else(|| {
        format!(
            "{key} event schema is not an Iglu URI: {}",
            json::quoted(schema)
        )
    })?;
    Ok((key, name.to_owned(), event))
}

/// The name part of `iglu:vendor/name/format/version`.
fn iglu_name(uri: &str) -> Option<&str> {
    let mut parts = uri.strip_prefix("iglu:")?.split('/');
    let (_vendor, name, _format, _version) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !name.trim().is_empty()).then_some(name)
}

mod kind;
#[cfg(test)]
mod tests;
