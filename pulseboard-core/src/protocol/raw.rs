//! Messages read as borrowed raw JSON: an object is a list of `(key, raw value)` slices of the
//! request body. Values the mapping only copies (`properties`, `context`, …) are never parsed
//! into a tree nor written again, and the few it reads (ids, type, timestamp) are read in place.
//!
//! Members follow `serde_json::Value`'s rules, so a message means what it did as a `Value`: a
//! repeated key keeps its last value, and members are written back in key order.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::value::SeqAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// An object's members: keys (borrowed unless they hold escapes) and raw values, sorted by key
/// once [`settle`]d.
pub(crate) type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Sorts members by key and keeps the last of repeated keys, as `serde_json::Map` does.
pub(crate) fn settle(members: &mut Members<'_>) {
    // Stable: repeated keys stay in the order sent, so the last one sent is kept.
    members.sort_by(|(a, _), (b, _)| a.cmp(b));
    members.dedup_by(|later, kept| {
        let repeated = later.0 == kept.0;
        if repeated {
            kept.1 = later.1;
        }
        repeated
    });
}

/// Adds `member` to [`settle`]d members, in key order, unless they have its key already.
pub(crate) fn insert_if_absent<'a>(
    members: &mut Members<'a>,
    member: &(Cow<'a, str>, &'a RawValue),
) {
    if let Err(at) = members.binary_search_by(|(probe, _)| probe.cmp(&member.0)) {
        members.insert(at, member.clone());
    }
}

/// The value of `key` in [`settle`]d members.
pub(crate) fn get<'a>(members: &Members<'a>, key: &str) -> Option<&'a RawValue> {
    members
        .binary_search_by(|(probe, _)| probe.as_ref().cmp(key))
        .ok()
        .map(|at| members[at].1)
}

/// The last value of `key` in `raw` when it is an object, without collecting its members.
/// `None` when `raw` is not an object, has no such key, or cannot be read.
pub(crate) fn member<'a>(raw: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    if !raw.get().starts_with('{') {
        return None;
    }
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    deserializer
        .deserialize_map(MemberVisitor { key })
        .ok()
        .flatten()
}

/// Whether `raw` is JSON `null`.
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// A JSON value that may stand for text: a string or a number, read in place.
pub(crate) enum Scalar<'a> {
    Null,
    /// A string's content, borrowed from the body unless it holds escapes.
    Text(Cow<'a, str>),
    /// A number, written as `serde_json` writes it (`1e3` is `1000.0`).
    Number(String),
    /// A string whose escapes are not Unicode (a lone `\uD800`).
    NotUnicode,
    /// An object, array or boolean.
    Other,
}

impl<'a> Scalar<'a> {
    /// What a parsed `value` holds, in the same terms as [`scalar`].
    pub(crate) fn of_value(value: &'a serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::String(text) => Self::Text(Cow::Borrowed(text)),
            serde_json::Value::Number(number) => Self::Number(number.to_string()),
            _ => Self::Other,
        }
    }
}

/// What `raw` holds, read without building a `Value`.
pub(crate) fn scalar(raw: &RawValue) -> Scalar<'_> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => string(text),
        Some(b'n') => Scalar::Null,
        Some(b'-' | b'0'..=b'9') => serde_json::from_str::<serde_json::Number>(text)
            .map_or(Scalar::Other, |number| Scalar::Number(number.to_string())),
        _ => Scalar::Other,
    }
}

/// A JSON string literal's content: a slice of it unless it holds escapes.
fn string(literal: &str) -> Scalar<'_> {
    if !literal.contains('\\') {
        // A valid literal without escapes is its content between the quotes.
        return Scalar::Text(Cow::Borrowed(&literal[1..literal.len() - 1]));
    }
    serde_json::from_str::<String>(literal)
        .map_or(Scalar::NotUnicode, |text| Scalar::Text(Cow::Owned(text)))
}

/// `{"key":value,…}` from members written in order, without the keys `skip` names; `None` when
/// no member is left.
pub(crate) fn object_text<'a>(
    members: impl IntoIterator<Item = &'a (Cow<'a, str>, &'a RawValue)>,
    skip: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut out = String::new();
    for (key, value) in members {
        if skip(key) {
            continue;
        }
        out.push(if out.is_empty() { '{' } else { ',' });
        push_key(&mut out, key);
        out.push(':');
        out.push_str(value.get());
    }
    if out.is_empty() {
        return None;
    }
    out.push('}');
    Some(out)
}

/// `key` as a JSON string literal.
fn push_key(out: &mut String, key: &str) {
    if key
        .bytes()
        .any(|byte| byte == b'"' || byte == b'\\' || byte < 0x20)
    {
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
    } else {
        out.push('"');
        out.push_str(key);
        out.push('"');
    }
}

/// A member name, borrowed from the body unless it holds escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Finds the last value of one key, skipping the others unread.
struct MemberVisitor<'k> {
    key: &'k str,
}

impl<'de> Visitor<'de> for MemberVisitor<'_> {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Key(key)) = map.next_key()? {
            if key == self.key {
                found = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// A request body's top level: an object's members, with one member (`batch`) read as an array
/// of raw messages; `None` for a body that is JSON but not an object.
pub(crate) struct Envelope<'a> {
    pub(crate) members: Members<'a>,
    /// The `batch` member's elements: `Some` when it is present and an array.
    pub(crate) batch: Option<Vec<Element<'a>>>,
}

impl<'a> Envelope<'a> {
    /// Reads `body`; `Ok(None)` when it is JSON but not an object.
    pub(crate) fn parse(body: &'a str) -> Result<Option<Self>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(body);
        let envelope = deserializer.deserialize_any(EnvelopeVisitor)?;
        deserializer.end()?;
        Ok(envelope.map(|mut envelope| {
            settle(&mut envelope.members);
            envelope
        }))
    }
}

/// The visits of the JSON scalars (booleans, numbers, strings, `null`): each is "not the shape
/// wanted", answered with `$value`.
macro_rules! other_json_types {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Option<Envelope<'de>>;
    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("JSON")
    }
    other_json_types!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope {
            members: Vec::new(),
            batch: None,
        };
        while let Some(Key(key)) = map.next_key()? {
            if key == "batch" {
                envelope.batch = map.next_value::<Batch<'de>>()?.0;
            } else {
                envelope.members.push((key, map.next_value()?));
            }
        }
        Ok(Some(envelope))
    }
}

/// A `batch` member: its elements when it is an array.
struct Batch<'a>(Option<Vec<Element<'a>>>);

impl<'de> Deserialize<'de> for Batch<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BatchVisitor;
        impl<'de> Visitor<'de> for BatchVisitor {
            type Value = Batch<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("JSON")
            }
            other_json_types!(Batch(None));
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Batch<'de>, A::Error> {
                let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(64));
                while let Some(element) = seq.next_element()? {
                    elements.push(element);
                }
                Ok(Batch(Some(elements)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Batch(None))
            }
        }
        deserializer.deserialize_any(BatchVisitor)
    }
}

/// An array element read in one pass: an object as its members (not yet [`settle`]d), any other
/// value as its compact JSON text.
#[derive(Debug)]
pub(crate) enum Element<'a> {
    Object(Members<'a>),
    Other(String),
}

impl<'a> Element<'a> {
    /// Reads one JSON value that is all of `text`.
    pub(crate) fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let element = Element::deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(element)
    }
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl ElementVisitor {
    fn other<E>(value: serde_json::Value) -> Result<Element<'static>, E> {
        Ok(Element::Other(value.to_string()))
    }
}

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element<'de>;
    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("JSON")
    }
    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Self::other(value.into())
    }
    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Self::other(value.into())
    }
    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Self::other(value.into())
    }
    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Self::other(value.into())
    }
    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Self::other(value.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Self::other(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let array = serde_json::Value::deserialize(SeqAccessDeserializer::new(seq))?;
        Self::other(array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Element::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn members_are_sorted_and_a_repeated_key_keeps_its_last_value() {
        let Element::Object(mut read) =
            Element::parse(r#"{"b": 1, "a\"x": [ 2 ], "b": {"c": null}}"#).unwrap()
        else {
            panic!("not read as an object")
        };
        settle(&mut read);
        let keys: Vec<&str> = read.iter().map(|(key, _)| key.as_ref()).collect();
        assert_eq!(keys, ["a\"x", "b"]);
        assert_eq!(get(&read, "b").unwrap().get(), r#"{"c": null}"#);
        assert_eq!(
            object_text(&read, |_| false).unwrap(),
            r#"{"a\"x":[ 2 ],"b":{"c": null}}"#
        );
        assert_eq!(object_text(&read, |_| true), None);
        assert!(
            matches!(Element::parse(" [1, {}] "), Ok(Element::Other(text)) if text == "[1,{}]")
        );
        assert!(Element::parse(r#"{"\ud800": 1}"#).is_err());
    }

    #[test]
    fn one_member_is_found_without_collecting_the_others() {
        let context = raw(r#"{"sessionId": 1, "x": {"sessionId": 2}, "sessionId": 3}"#);
        assert_eq!(member(context, "sessionId").unwrap().get(), "3");
        assert!(member(context, "nope").is_none());
        assert!(member(raw(r#""sessionId""#), "sessionId").is_none());
    }

    #[test]
    fn scalars_are_read_in_place() {
        assert!(matches!(
            scalar(raw(r#""a-1""#)),
            Scalar::Text(Cow::Borrowed("a-1"))
        ));
        assert!(
            matches!(scalar(raw(r#""a\"1""#)), Scalar::Text(Cow::Owned(text)) if text == "a\"1")
        );
        assert!(matches!(scalar(raw("1e3")), Scalar::Number(text) if text == "1000.0"));
        assert!(matches!(scalar(raw("-7")), Scalar::Number(text) if text == "-7"));
        assert!(matches!(scalar(raw("null")), Scalar::Null));
        assert!(matches!(scalar(raw(r#""\ud800""#)), Scalar::NotUnicode));
        assert!(matches!(scalar(raw("true")), Scalar::Other));
        assert!(matches!(scalar(raw("{}")), Scalar::Other));
    }

    #[test]
    fn an_envelope_reads_its_batch_as_raw_messages() {
        let envelope = Envelope::parse(r#"{"sentAt": "t", "batch": [{"a": 1}, 2 ]}"#)
            .unwrap()
            .unwrap();
        let batch = envelope.batch.unwrap();
        assert!(matches!(&batch[0], Element::Object(members) if members[0].1.get() == "1"));
        assert!(matches!(&batch[1], Element::Other(text) if text == "2"));
        assert_eq!(get(&envelope.members, "sentAt").unwrap().get(), r#""t""#);
        assert!(
            Envelope::parse(r#"{"batch": {"a": 1}}"#)
                .unwrap()
                .unwrap()
                .batch
                .is_none()
        );
        assert!(Envelope::parse("[1, {}]").unwrap().is_none());
        assert!(Envelope::parse(r#"{"batch": []} x"#).is_err());
        assert!(Envelope::parse("{").is_err());
    }
}
