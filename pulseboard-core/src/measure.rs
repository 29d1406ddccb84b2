//! One iterative walk over a payload that measures its compact serialized size, its nesting depth
//! and its JSON safety together, without serializing it and without recursion (so a value nested
//! 100,000 levels deep cannot overflow the stack).

use std::fmt::Write as _;

use serde_json::Value;

/// What one walk found out about a value.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Measurement {
    /// `serde_json::to_vec(value).len()`, computed without serializing.
    pub(crate) serialized_bytes: usize,
    /// Some value sits deeper than the `max_depth` passed to [`measure`].
    pub(crate) exceeds_depth: bool,
    /// Why the value could not be stored as JSON as-is, if it cannot.
    pub(crate) unsafe_reason: Option<&'static str>,
}

/// Walks `root` once (the root is level 0). Stops early only on a JSON-safety violation, because
/// that rule outranks size and depth.
pub(crate) fn measure(root: &Value, max_depth: usize) -> Measurement {
    let mut found = Measurement::default();
    let mut pending: Vec<(&Value, usize)> = vec![(root, 0)];
    while let Some((value, level)) = pending.pop() {
        if level > max_depth {
            found.exceeds_depth = true;
        }
        let own_bytes = match value {
            Value::Null | Value::Bool(true) => 4,
            Value::Bool(false) => 5,
            Value::Number(number) => match number_len(number) {
                Some(len) => len,
                None => return unsafe_value(found, "number is not finite"),
            },
            Value::String(text) => match string_len(text) {
                Some(len) => len,
                None => return unsafe_value(found, "string contains U+0000 (NUL)"),
            },
            Value::Array(items) => {
                pending.extend(items.iter().map(|item| (item, level + 1)));
                2 + items.len().saturating_sub(1)
            }
            Value::Object(entries) => {
                let mut len = 2 + entries.len().saturating_sub(1);
                for (key, item) in entries {
                    match string_len(key) {
                        Some(key_len) => len += key_len + 1,
                        None => return unsafe_value(found, "key contains U+0000 (NUL)"),
                    }
                    pending.push((item, level + 1));
                }
                len
            }
        };
        found.serialized_bytes += own_bytes;
    }
    found
}

fn unsafe_value(mut found: Measurement, reason: &'static str) -> Measurement {
    found.unsafe_reason = Some(reason);
    found
}

/// Length of a number as serde_json writes it; `None` for a non-finite float.
fn number_len(number: &serde_json::Number) -> Option<usize> {
    if number.is_f64() && !number.as_f64().is_some_and(f64::is_finite) {
        return None;
    }
    // serde_json's Display for Number uses the same itoa/ryu formatting as its serializer.
    let mut counter = CharCounter(0);
    write!(counter, "{number}").ok()?;
    Some(counter.0)
}

/// Length of a string as serde_json writes it, quotes and escapes included; `None` if it holds NUL.
fn string_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Fast path: most strings need no escaping, and this count vectorizes.
    let needs_escape = bytes
        .iter()
        .filter(|&&b| b < 0x20 || b == b'"' || b == b'\\')
        .count();
    if needs_escape == 0 {
        return Some(bytes.len() + 2);
    }
    if bytes.contains(&0) {
        return None;
    }
    let escaped: usize = bytes.iter().map(|&b| escaped_len(b)).sum();
    Some(escaped + 2)
}

/// Bytes serde_json writes for one input byte of a string.
fn escaped_len(byte: u8) -> usize {
    match byte {
        b'"' | b'\\' | b'\x08' | b'\t' | b'\n' | b'\x0c' | b'\r' => 2,
        0..=0x1f => 6, // \u00XX
        _ => 1,
    }
}

struct CharCounter(usize);

impl std::fmt::Write for CharCounter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}
