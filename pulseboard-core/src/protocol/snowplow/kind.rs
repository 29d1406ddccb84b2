//! The Snowplow event types PulseBoard maps, and the payloads built from their fields.

use serde_json::{Map, Value};

/// The event types of tracker protocol 2 that PulseBoard maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    PageView,
    PagePing,
    Struct,
    Unstruct,
}

impl Kind {
    pub(super) fn parse(e: &str) -> Option<Self> {
        Some(match e {
            "pv" => Self::PageView,
            "pp" => Self::PagePing,
            "se" => Self::Struct,
            "ue" => Self::Unstruct,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::PageView => "page_view",
            Self::PagePing => "page_ping",
            Self::Struct => "struct",
            Self::Unstruct => "unstruct",
        }
    }

    /// The fields that make the payload.
    pub(super) fn fields(self) -> Fields {
        match self {
            Self::PageView => PAGE_VIEW,
            Self::PagePing => PAGE_PING,
            Self::Struct => STRUCT,
            Self::Unstruct => &[],
        }
    }
}

/// Payload fields: (the protocol's name, the payload's, whether numeric).
pub(super) type Fields = &'static [(&'static str, &'static str, bool)];

const PAGE_VIEW: Fields = &[
    ("url", "url", false),
    ("page", "title", false),
    ("refr", "referrer", false),
];
const PAGE_PING: Fields = &[
    ("url", "url", false),
    ("page", "title", false),
    ("refr", "referrer", false),
    ("pp_mix", "min_x", true),
    ("pp_max", "max_x", true),
    ("pp_miy", "min_y", true),
    ("pp_may", "max_y", true),
];
const STRUCT: Fields = &[
    ("se_ca", "category", false),
    ("se_ac", "action", false),
    ("se_la", "label", false),
    ("se_pr", "property", false),
    ("se_va", "value", true),
];

/// A payload of the message's fields under readable names; numeric fields as numbers.
pub(super) fn renamed(map: &Map<String, Value>, fields: Fields) -> Map<String, Value> {
    let present = fields.iter().filter_map(|&(from, to, numeric)| {
        let value = map.get(from).filter(|value| !value.is_null())?;
        let value = if numeric {
            number_or_text(value)
        } else {
            value.clone()
        };
        Some((to.to_owned(), value))
    });
    present.collect()
}

/// A numeric string as a JSON number (an integer when it is one), anything else unchanged.
fn number_or_text(value: &Value) -> Value {
    if let Some(text) = value.as_str().map(str::trim) {
        if let Ok(integer) = text.parse::<i64>() {
            return integer.into();
        }
        if let Some(number) = text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(number);
        }
    }
    value.clone()
}
