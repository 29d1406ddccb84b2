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

/// Failed attempts of a job's events, counted across deliveries: the store's `attempts` decide,
/// so a job delivered again (its worker died, or the recovery sweep re-enqueued it) goes on
/// from the attempts already recorded instead of getting a fresh budget. A job carrying
/// several events goes by the one with the most attempts.
///
/// ```
/// use pulseboard_core::{AttemptBudget, RetryDecision, RetryPolicy};
///
/// let mut budget = AttemptBudget::default();
/// budget.saw_stored(2); // an earlier delivery failed twice
/// assert_eq!(budget.record_failure(), 3);
/// assert_eq!(budget.record_failure(), 4);
/// assert_eq!(RetryPolicy::default().decide(4), RetryDecision::GiveUp);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptBudget {
    failed: u32,
    stored_before_attempt: u32,
}

impl AttemptBudget {
    /// Notes the largest `attempts` stored for the events an attempt just loaded.
    pub fn saw_stored(&mut self, stored_attempts: i32) {
        self.stored_before_attempt = u32::try_from(stored_attempts).unwrap_or(0);
    }

    /// Counts a failed attempt; returns the failed attempts so far, for [`RetryPolicy::decide`].
    pub fn record_failure(&mut self) -> u32 {
        self.failed = (self.failed + 1).max(self.stored_before_attempt + 1);
        self.failed
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
