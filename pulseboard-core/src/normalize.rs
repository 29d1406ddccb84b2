//! Normalization of a valid payload into `properties`, driven by a table of field conversions.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// How one payload field is converted into `properties`.
#[derive(Debug, Clone, Copy)]
pub enum Conversion {
    /// Numbers and numeric strings become a float; anything else becomes `0.0`.
    Float,
    /// Strings are trimmed; other values become their compact JSON text (`null` becomes `""`).
    TrimmedString,
    /// Like [`Conversion::TrimmedString`], then upper-cased (e.g. country codes).
    TrimmedUppercase,
    /// Any rule of the embedding service's own. It must not panic.
    Custom(fn(&Value) -> Value),
}

impl Conversion {
    /// Converts one field value.
    pub fn apply(&self, value: &Value) -> Value {
        match self {
            Self::Float => Value::from(to_float(value)),
            Self::TrimmedString => Value::from(to_trimmed_string(value)),
            Self::TrimmedUppercase => Value::from(to_trimmed_string(value).to_uppercase()),
            Self::Custom(convert) => convert(value),
        }
    }
}

/// The field → conversion table. `Default` is the original service's table:
/// `page` and `referrer` → trimmed string, `duration` and `scroll_depth` → float.
///
/// ```
/// use chrono::Utc;
/// use pulseboard_core::{Conversion, NormalizationRules};
/// use serde_json::json;
///
/// let rules = NormalizationRules::default().with("country", Conversion::TrimmedUppercase);
/// let properties = rules.normalize(json!({"country": " fr ", "duration": "2.5"}), Utc::now());
/// assert_eq!(properties["country"], "FR");
/// assert_eq!(properties["duration"], 2.5);
/// assert_eq!(properties["original"]["country"], " fr ");
/// ```
#[derive(Debug, Clone)]
pub struct NormalizationRules {
    fields: Vec<(String, Conversion)>,
}

impl Default for NormalizationRules {
    fn default() -> Self {
        Self::none()
            .with("page", Conversion::TrimmedString)
            .with("referrer", Conversion::TrimmedString)
            .with("duration", Conversion::Float)
            .with("scroll_depth", Conversion::Float)
    }
}

impl NormalizationRules {
    /// A table with no conversions: `properties` then holds only `original` and `normalized_at`.
    pub fn none() -> Self {
        Self { fields: Vec::new() }
    }

    /// Adds (or replaces) the conversion for `field`. Rules for `original` or `normalized_at`
    /// are ignored: those two keys always hold the payload and the time.
    pub fn with(mut self, field: impl Into<String>, conversion: Conversion) -> Self {
        let field = field.into();
        self.fields.retain(|(existing, _)| *existing != field);
        self.fields.push((field, conversion));
        self
    }

    /// Builds `properties`: `original` (the payload, unchanged), `normalized_at` (`now`) and each
    /// converted field that is present in the payload. A `null` payload counts as `{}`.
    pub fn normalize(&self, payload: Value, now: DateTime<Utc>) -> Value {
        let payload = if payload.is_null() {
            Value::Object(Map::new())
        } else {
            payload
        };
        let mut properties = Map::new();
        for (field, conversion) in &self.fields {
            if let Some(value) = payload.get(field) {
                properties.insert(field.clone(), conversion.apply(value));
            }
        }
        properties.insert(
            "normalized_at".to_owned(),
            Value::from(format_timestamp(now)),
        );
        properties.insert("original".to_owned(), payload);
        Value::Object(properties)
    }
}

/// The text to store for `properties` (as [`NormalizationRules::normalize`] built them from
/// `payload_json`), with `original` spliced in as `payload_json` itself rather than
/// re-serialized: numbers keep every digit as written (`123456789012345678901234567890`,
/// `-0`, `1.0`), keys keep their order, and a repeated key stays repeated. `original` comes
/// first; a `null` payload is `{}`, as in `properties`.
///
/// ```
/// use chrono::Utc;
/// use pulseboard_core::{NormalizationRules, properties_json};
///
/// let payload_json = r#"{"duration": "2", "big": 123456789012345678901234567890}"#;
/// let properties = NormalizationRules::default()
///     .normalize(serde_json::from_str(payload_json).unwrap(), Utc::now());
/// let text = properties_json(&properties, payload_json);
/// assert!(text.starts_with(r#"{"original":{"duration": "2", "big": 123456789012345678901234567890},"#));
/// assert!(text.contains(r#""duration":2.0"#));
/// ```
pub fn properties_json(properties: &Value, payload_json: &str) -> String {
    let original = match payload_json.trim() {
        "null" => "{}",
        text => text,
    };
    let mut text = String::with_capacity(original.len() + 64);
    text.push_str("{\"original\":");
    text.push_str(original);
    if let Value::Object(fields) = properties {
        for (key, value) in fields.iter().filter(|(key, _)| *key != "original") {
            text.push(',');
            text.push_str(&Value::from(key.as_str()).to_string());
            text.push(':');
            text.push_str(&value.to_string());
        }
    }
    text.push('}');
    text
}

/// The timestamp format of the API: RFC 3339, UTC, microseconds, e.g. `2025-12-18T10:30:00.123456Z`.
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn to_float(value: &Value) -> f64 {
    let parsed = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    // Non-finite results (e.g. the string "inf") would not be storable JSON.
    parsed.filter(|float| float.is_finite()).unwrap_or(0.0)
}

fn to_trimmed_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
