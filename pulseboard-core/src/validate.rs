//! Payload validation: the rules and messages of the original service, first failure wins.

use serde_json::Value;

use crate::measure::measure;

/// Limits a payload must respect. `Default` gives the original service's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted compact serialized size, in bytes (default 1,048,576).
    pub max_bytes: usize,
    /// Deepest accepted nesting level; the payload root is level 0 (default 10).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 10,
        }
    }
}

/// Why a payload was refused. The `Display` text is what clients see as `processing_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The payload is JSON but not an object.
    #[error("Payload must be dict, got {got}")]
    NotAnObject {
        /// The payload's type in the original service's (Python) words: `list`, `str`, …
        got: &'static str,
    },
    /// The payload cannot be stored and read back as JSON as-is.
    #[error("Payload not JSON-serializable: {reason}")]
    NotJsonSafe {
        /// What is wrong, for a person.
        reason: String,
    },
    /// The compact serialized payload is larger than [`Limits::max_bytes`].
    #[error("Payload exceeds {} size limit", human_size(*max_bytes))]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        max_bytes: usize,
    },
    /// Some value is nested deeper than [`Limits::max_depth`].
    #[error("Payload exceeds max nesting depth ({max_depth})")]
    TooDeep {
        /// The limit that was exceeded.
        max_depth: usize,
    },
    /// `event_name` or `event_type` is missing or empty.
    #[error("Missing event_name or event_type")]
    MissingRequiredFields,
}

/// Checks a payload against `limits`: object, JSON safety, size, depth — in that order.
/// `null` counts as an empty object.
///
/// ```
/// use pulseboard_core::{validate_payload, Limits};
/// use serde_json::json;
///
/// assert!(validate_payload(&json!({"page": "/home"}), &Limits::default()).is_ok());
/// let err = validate_payload(&json!([1, 2]), &Limits::default()).unwrap_err();
/// assert_eq!(err.to_string(), "Payload must be dict, got list");
/// ```
pub fn validate_payload(payload: &Value, limits: &Limits) -> Result<(), ValidationError> {
    if !matches!(payload, Value::Object(_) | Value::Null) {
        return Err(ValidationError::NotAnObject {
            got: python_type_name(payload),
        });
    }
    let found = measure(payload, limits.max_depth);
    if let Some(reason) = found.unsafe_reason {
        return Err(ValidationError::NotJsonSafe {
            reason: reason.to_owned(),
        });
    }
    if found.serialized_bytes > limits.max_bytes {
        return Err(ValidationError::TooLarge {
            max_bytes: limits.max_bytes,
        });
    }
    if found.exceeds_depth {
        return Err(ValidationError::TooDeep {
            max_depth: limits.max_depth,
        });
    }
    Ok(())
}

/// The type names the original (Python) service used in its messages.
fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(number) if number.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `1048576` → `1MB`, `2048` → `2KB`, otherwise `N bytes`, as the original's message reads.
fn human_size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    match bytes {
        0 => "0 bytes".to_owned(),
        b if b % MIB == 0 => format!("{}MB", b / MIB),
        b if b % 1024 == 0 => format!("{}KB", b / 1024),
        b => format!("{b} bytes"),
    }
}
