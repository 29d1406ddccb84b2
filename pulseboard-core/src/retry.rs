//! The retry rule for outages (store or queue down): how long to wait, when to give up.

use std::time::Duration;

/// Longest `processing_error` text stored, in characters.
pub const MAX_FAILURE_MESSAGE_CHARS: usize = 500;

/// Exponential backoff: after failed attempt `n` wait `base_delay × 2^(n-1)`, at most
/// `max_retries` times. `Default` is the original's 2 s, 4 s, 8 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt.
    pub base_delay: Duration,
    /// Retries after the first attempt; the event fails after `max_retries + 1` attempts.
    pub max_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(2),
            max_retries: 3,
        }
    }
}

/// What to do after an attempt failed because of an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// That was the last attempt: mark the events failed.
    GiveUp,
}

impl RetryPolicy {
    /// Decides after `failed_attempts` attempts (counting from 1) have failed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pulseboard_core::{RetryDecision, RetryPolicy};
    ///
    /// let policy = RetryPolicy::default();
    /// assert_eq!(policy.decide(1), RetryDecision::RetryAfter(Duration::from_secs(2)));
    /// assert_eq!(policy.decide(3), RetryDecision::RetryAfter(Duration::from_secs(8)));
    /// assert_eq!(policy.decide(4), RetryDecision::GiveUp);
    /// ```
    pub fn decide(&self, failed_attempts: u32) -> RetryDecision {
        if failed_attempts == 0 || failed_attempts > self.max_retries {
            return RetryDecision::GiveUp;
        }
        let factor = 2u32.saturating_pow(failed_attempts - 1);
        RetryDecision::RetryAfter(self.base_delay.saturating_mul(factor))
    }
}

/// The `processing_error` stored for an outage: `Processing error: <cause>`, cut to
/// [`MAX_FAILURE_MESSAGE_CHARS`] characters.
///
/// ```
/// assert_eq!(
///     pulseboard_core::failure_message("connection refused"),
///     "Processing error: connection refused"
/// );
/// ```
pub fn failure_message(cause: &str) -> String {
    let message = format!("Processing error: {cause}");
    match message.char_indices().nth(MAX_FAILURE_MESSAGE_CHARS - 1) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}
