//! Account rules: what a registration must hold, and when two emails are the same account.
//!
//! ```
//! use pulseboard_core::account::{email_key, check_email, check_password, PasswordRuleError};
//!
//! assert!(check_email("ann@example.com").is_ok());
//! assert_eq!(check_password("short"), Err(PasswordRuleError::TooShort));
//! // One account, however the address is typed.
//! assert_eq!(email_key(" Ä@Example.COM "), email_key("ä@example.com"));
//! ```

use unicode_normalization::UnicodeNormalization as _;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in bytes (bounds the hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest accepted full name, in characters.
pub const MAX_FULL_NAME_CHARS: usize = 255;
/// Longest accepted email address, in bytes (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Why an email address is refused. A deliberately simple syntax check: one `@`, a non-empty
/// local part, a dotted domain, no spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Over [`MAX_EMAIL_BYTES`].
    #[error("it is longer than 254 characters")]
    TooLong,
    /// Contains a space, tab or line break.
    #[error("it contains whitespace")]
    Whitespace,
    /// No `@`.
    #[error("an email address must have an @-sign")]
    NoAtSign,
    /// Nothing before the `@`, or more than one `@`.
    #[error("there must be exactly one @-sign with something before it")]
    BadLocalPart,
    /// The domain is not dotted labels.
    #[error("the part after the @-sign is not a valid domain name")]
    BadDomain,
}

/// Checks an email address (already trimmed) for registration.
pub fn check_email(email: &str) -> Result<(), EmailError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(EmailError::TooLong);
    }
    if email.chars().any(char::is_whitespace) {
        return Err(EmailError::Whitespace);
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(EmailError::NoAtSign);
    };
    if local.is_empty() || domain.contains('@') {
        return Err(EmailError::BadLocalPart);
    }
    let mut labels = domain.split('.');
    let dotted = domain.contains('.');
    if !dotted || labels.any(str::is_empty) {
        return Err(EmailError::BadDomain);
    }
    Ok(())
}

/// Why a password is refused. The messages are the API's (FastAPI's wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRuleError {
    /// Under [`MIN_PASSWORD_CHARS`] characters.
    #[error("String should have at least 8 characters")]
    TooShort,
    /// Over [`MAX_PASSWORD_BYTES`] bytes.
    #[error("String should have at most 1024 characters")]
    TooLong,
}

/// Checks a password for registration.
pub fn check_password(password: &str) -> Result<(), PasswordRuleError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordRuleError::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordRuleError::TooLong);
    }
    Ok(())
}

/// A full name over [`MAX_FULL_NAME_CHARS`] characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("String should have at most 255 characters")]
pub struct FullNameTooLong;

/// Checks a full name for registration.
pub fn check_full_name(name: &str) -> Result<(), FullNameTooLong> {
    if name.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(FullNameTooLong);
    }
    Ok(())
}

/// The form under which emails are compared: trimmed, Unicode-normalized (NFKC, so a
/// full-width `ａ` is an `a`) and lowercased in full Unicode (so `Ä` is `ä`, which ASCII-only
/// folding would miss). Two emails with the same key are one account; the stores keep the key
/// unique and look accounts up by it.
pub fn email_key(email: &str) -> String {
    email.trim().nfkc().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_a_plain_syntax() {
        assert_eq!(check_email("a@b.co"), Ok(()));
        assert_eq!(check_email("ä@bücher.de"), Ok(()));
        assert_eq!(check_email("a b@c.de"), Err(EmailError::Whitespace));
        assert_eq!(check_email("ab.de"), Err(EmailError::NoAtSign));
        assert_eq!(check_email("@b.de"), Err(EmailError::BadLocalPart));
        assert_eq!(check_email("a@b@c.de"), Err(EmailError::BadLocalPart));
        assert_eq!(check_email("a@localhost"), Err(EmailError::BadDomain));
        assert_eq!(check_email("a@b..de"), Err(EmailError::BadDomain));
        let long = format!("{}@b.de", "a".repeat(250));
        assert_eq!(check_email(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn passwords_and_names_have_bounds() {
        assert_eq!(check_password("1234567"), Err(PasswordRuleError::TooShort));
        assert_eq!(check_password("12345678"), Ok(()));
        // Characters, not bytes, count toward the minimum.
        assert_eq!(check_password("ääääääää"), Ok(()));
        assert_eq!(
            check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordRuleError::TooLong)
        );
        assert_eq!(check_full_name(&"n".repeat(255)), Ok(()));
        assert_eq!(check_full_name(&"n".repeat(256)), Err(FullNameTooLong));
    }

    #[test]
    fn email_keys_fold_case_and_compatibility_forms_beyond_ascii() {
        assert_eq!(email_key("Ä@b.co"), email_key("ä@b.co"));
        assert_eq!(email_key(" TEST@Example.com"), "test@example.com");
        // Full-width letters and a decomposed umlaut are the same address.
        assert_eq!(email_key("ｔｅｓｔ@b.co"), "test@b.co");
        assert_eq!(email_key("a\u{308}@b.co"), email_key("ä@b.co"));
        assert_ne!(email_key("a@b.co"), email_key("ä@b.co"));
    }
}
