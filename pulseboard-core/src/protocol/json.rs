//! Reading SDK messages: ids, timestamps, base64, and objects serialized with some entries left
//! out, written straight from the borrowed message instead of cloning it.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::raw::Scalar;

/// A client id (`messageId`, `userId`, …): a string, or a number written as one. Absent and
/// `null` are `None`; any other JSON type is refused with a reason naming `field`.
pub(crate) fn text<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<Option<Cow<'a, str>>, String> {
    scalar_text(value.map(Scalar::of_value), field)
}

/// [`text`] of a value already read as a [`Scalar`] (from a `Value` or raw JSON).
pub(crate) fn scalar_text<'a>(
    value: Option<Scalar<'a>>,
    field: &str,
) -> Result<Option<Cow<'a, str>>, String> {
    match value {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Text(text)) => Ok(Some(text)),
        Some(Scalar::Number(number)) => Ok(Some(Cow::Owned(number))),
        Some(Scalar::NotUnicode) => Err(lone_surrogate(field)),
        Some(Scalar::Other) => Err(must_be_a_string(field)),
    }
}

/// A name the message may give (track `event`, page `name`, …): `None` when absent, `null` or
/// blank, refused when not a string.
pub(crate) fn name<'a>(
    value: Option<&'a Value>,
    field: &str,
) -> Result<Option<Cow<'a, str>>, String> {
    scalar_name(value.map(Scalar::of_value), field)
}

/// [`name`] of a value already read as a [`Scalar`] (from a `Value` or raw JSON).
pub(crate) fn scalar_name<'a>(
    value: Option<Scalar<'a>>,
    field: &str,
) -> Result<Option<Cow<'a, str>>, String> {
    match value {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Scalar::Text(text)) => Ok(Some(text)),
        Some(Scalar::NotUnicode) => Err(lone_surrogate(field)),
        Some(Scalar::Number(_) | Scalar::Other) => Err(must_be_a_string(field)),
    }
}

pub(crate) fn must_be_a_string(field: &str) -> String {
    format!("{field} must be a string")
}

pub(crate) fn lone_surrogate(field: &str) -> String {
    format!("{field} contains a lone UTF-16 surrogate escape")
}

/// An RFC 3339 timestamp (`2026-01-31T12:00:00.123Z`), in UTC.
pub(crate) fn rfc3339(value: &Value) -> Option<DateTime<Utc>> {
    parse_rfc3339(value.as_str()?)
}

/// An RFC 3339 timestamp's text, in UTC.
pub(crate) fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Milliseconds since the Unix epoch, as a string (Snowplow) or a number.
pub(crate) fn epoch_millis(value: &Value) -> Option<DateTime<Utc>> {
    let millis = match value {
        Value::String(text) => text.trim().parse::<i64>().ok()?,
        Value::Number(number) => number.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp_millis(millis)
}

/// The first of `keys` whose value `read` turns into a timestamp, with that key.
pub(crate) fn first_timestamp(
    map: &Map<String, Value>,
    keys: [&'static str; 2],
    read: fn(&Value) -> Option<DateTime<Utc>>,
) -> Option<(&'static str, DateTime<Utc>)> {
    keys.into_iter()
        .find_map(|key| Some((key, read(map.get(key)?)?)))
}

/// `text` as a short quoted snippet for a reason: escaped (NUL and control characters too) and
/// cut at 40 characters, so a reason stays short and storable whatever the client sent.
pub(crate) fn quoted(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Base64 in either alphabet (URL-safe first, as Snowplow sends), padding optional.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    let text = text.trim();
    URL_SAFE
        .decode(text)
        .or_else(|_| STANDARD.decode(text))
        .ok()
}

/// Compact JSON text of `value`; `None` only if serialization fails, which a `Value` never does.
pub(crate) fn to_text<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}

/// Copies the envelope's other fields (`sentAt`, a batch-level `context`, …) into each object
/// message that has no field of that name, so they reach every event's context. `per_message`
/// names the fields that describe one message (its id, type, timestamp…): an envelope's field of
/// such a name would mislabel every message, so it is left out.
pub(crate) fn share_envelope(
    messages: &mut [Value],
    envelope: Map<String, Value>,
    per_message: &[&str],
) {
    let shared: Vec<(String, Value)> = envelope
        .into_iter()
        .filter(|(key, _)| !per_message.contains(&key.as_str()))
        .collect();
    if shared.is_empty() {
        return;
    }
    for message in messages {
        if let Value::Object(message) = message {
            for (key, value) in &shared {
                if !message.contains_key(key) {
                    message.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

/// How one entry of an [`ObjectView`] is written.
pub(crate) enum Entry<'a> {
    /// Left out.
    Skip,
    /// Written with this value: the message's own or a decoded replacement.
    Value(&'a Value),
    /// An object written without one of its keys (PostHog `properties` without `token`).
    Without(&'a Map<String, Value>, &'static str),
}

/// An object serialized entry by entry as `select` says, then an `extra` entry: the message's
/// leftovers become context text without a copy of the message.
pub(crate) struct ObjectView<'a, F> {
    map: &'a Map<String, Value>,
    select: F,
    extra: Option<(&'static str, &'a Value)>,
}

impl<'a, F: Fn(&'a str, &'a Value) -> Entry<'a>> ObjectView<'a, F> {
    pub(crate) fn new(map: &'a Map<String, Value>, select: F) -> Self {
        Self {
            map,
            select,
            extra: None,
        }
    }

    /// The view with one more entry at its end.
    pub(crate) fn with_extra(self, key: &'static str, value: &'a Value) -> Self {
        Self {
            extra: Some((key, value)),
            ..self
        }
    }

    /// The view's JSON text, `None` when it has no entry at all.
    pub(crate) fn to_text_unless_empty(&self) -> Option<String> {
        to_text(self).filter(|text| text != "{}")
    }
}

impl<'a, F: Fn(&'a str, &'a Value) -> Entry<'a>> Serialize for ObjectView<'a, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        for (key, value) in self.map {
            match (self.select)(key, value) {
                Entry::Skip => {}
                Entry::Value(value) => out.serialize_entry(key, value)?,
                Entry::Without(map, left_out) => {
                    out.serialize_entry(key, &Without { map, left_out })?;
                }
            }
        }
        if let Some((key, value)) = self.extra {
            out.serialize_entry(key, value)?;
        }
        out.end()
    }
}

/// `map` without the entry `left_out`, as JSON text.
pub(crate) fn to_text_without(map: &Map<String, Value>, left_out: &'static str) -> Option<String> {
    to_text(&Without { map, left_out })
}

/// An object written without one of its keys.
struct Without<'a> {
    map: &'a Map<String, Value>,
    left_out: &'static str,
}

impl Serialize for Without<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        for (key, value) in self.map.iter().filter(|(key, _)| *key != self.left_out) {
            out.serialize_entry(key, value)?;
        }
        out.end()
    }
}

/// `value` without the entries `skip` names, as JSON text: the record of a rejected message.
/// A non-object value is written whole.
pub(crate) fn without_secrets<'a>(
    value: &'a Value,
    skip: impl Fn(&'a str, &'a Value) -> Entry<'a>,
) -> String {
    let text = match value {
        Value::Object(map) => to_text(&ObjectView::new(map, skip)),
        other => to_text(other),
    };
    text.unwrap_or_else(|| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_accept_strings_and_numbers_and_refuse_other_types() {
        assert_eq!(text(Some(&json!("a")), "x").unwrap().as_deref(), Some("a"));
        assert_eq!(text(Some(&json!(42)), "x").unwrap().as_deref(), Some("42"));
        assert_eq!(text(Some(&json!(null)), "x").unwrap(), None);
        assert_eq!(
            text(Some(&json!([1])), "userId").unwrap_err(),
            "userId must be a string"
        );
    }

    #[test]
    fn quoted_snippets_are_escaped_and_cut() {
        assert_eq!(quoted("foo"), r#""foo""#);
        assert_eq!(quoted("a\0b"), r#""a\0b""#);
        assert_eq!(quoted(&"é".repeat(50)), format!("{:?}…", "é".repeat(40)));
    }

    #[test]
    fn base64_is_read_in_either_alphabet_with_or_without_padding() {
        assert_eq!(base64_decode("eyJhIjoiPz4ifQ").unwrap(), br#"{"a":"?>"}"#);
        assert_eq!(base64_decode("eyJhIjoiPz4ifQ==").unwrap(), br#"{"a":"?>"}"#);
        assert_eq!(base64_decode("Pz4_").unwrap(), b"?>?");
        assert_eq!(base64_decode("Pz4/").unwrap(), b"?>?");
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn a_view_leaves_out_and_replaces_entries_and_nested_keys() {
        let message = json!({"a": 1, "b": 2, "p": {"token": "secret", "x": 1}});
        let Value::Object(map) = &message else {
            unreachable!()
        };
        let two = json!("two");
        let view = ObjectView::new(map, |key, value| match (key, value) {
            ("a", _) => Entry::Skip,
            ("b", _) => Entry::Value(&two),
            ("p", Value::Object(inner)) => Entry::Without(inner, "token"),
            (_, value) => Entry::Value(value),
        })
        .with_extra("z", &message["a"]);
        assert_eq!(
            view.to_text_unless_empty().unwrap(),
            r#"{"b":"two","p":{"x":1},"z":1}"#
        );
    }

    #[test]
    fn timestamps_in_rfc3339_and_epoch_milliseconds() {
        let at = rfc3339(&json!("2026-01-31T12:00:00.5+01:00")).unwrap();
        assert_eq!(at.to_rfc3339(), "2026-01-31T11:00:00.500+00:00");
        assert_eq!(rfc3339(&json!("yesterday")), None);
        assert_eq!(
            epoch_millis(&json!("1767225600000")).unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(epoch_millis(&json!("soon")), None);
    }
}
