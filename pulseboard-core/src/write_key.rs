//! Write key names.

use crate::{FieldError, MAX_SOURCE_CHARS};

/// A write key's name, e.g. `web` or `ios-app`. Events sent with the key take it as their
/// `source` unless they name one, so it follows the rules of `source`: 1 to
/// [`MAX_SOURCE_CHARS`] characters, not blank, no U+0000.
///
/// ```
/// use pulseboard_core::WriteKeyName;
///
/// assert_eq!(WriteKeyName::parse(" web ").unwrap().as_str(), "web");
/// assert_eq!(WriteKeyName::parse("  ").unwrap_err().field(), "name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKeyName(String);

impl WriteKeyName {
    /// Trims surrounding whitespace and applies the rules; errors name the field `name`.
    pub fn parse(name: &str) -> Result<Self, FieldError> {
        let field = "name";
        let name = name.trim();
        if name.is_empty() {
            return Err(FieldError::Empty { field });
        }
        if name.chars().count() > MAX_SOURCE_CHARS {
            return Err(FieldError::TooLong {
                field,
                max_chars: MAX_SOURCE_CHARS,
            });
        }
        if name.contains('\0') {
            return Err(FieldError::ContainsNul { field });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
