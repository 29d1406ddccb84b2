//! Throttling hostile or runaway clients: failed logins per account and per client address
//! (kept in the store, so every server process sees the same counts), and events per second
//! per sender (a token bucket per user or write key, in this process's memory).
//!
//! The rules themselves ([`AttemptLimit`], [`TokenBucket`]) live in `pulseboard-core`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderName;
use axum::http::request::Parts;
use chrono::Utc;
use pulseboard_core::{AttemptLimit, Rate, TokenBucket, account_key, address_key};
use pulseboard_store::{LoginAttemptId, UserId, WriteKeyId};

use crate::AppState;
use crate::error::ApiError;

/// What is throttled, and how much.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Login attempts per account (the email as typed, case-folded); `None`: unlimited.
    pub login_per_account: Option<AttemptLimit>,
    /// Login attempts per client address (IPv6 by its /64); `None`: unlimited.
    pub login_per_address: Option<AttemptLimit>,
    /// A header a trusted proxy sets to the client's address (`X-Forwarded-For`: its last
    /// entry is used, the one the proxy added). `None`: the connection's peer address.
    pub client_ip_header: Option<HeaderName>,
    /// Events per second per sender (user or write key); `None`: unlimited.
    pub sender_rate: Option<Rate>,
}

/// Senders' token buckets kept at most before full ones are forgotten.
const BUCKETS_BEFORE_CLEANUP: usize = 10_000;

/// The address a request came from, as the throttling sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let from_header = state.throttle().client_ip_header.as_ref().and_then(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
        });
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(Self(from_header.or(peer)))
    }
}

/// A login attempt, recorded before its password is checked. Dropped without
/// [`LoginAttempt::succeeded`], it counts as a failure: a client that hangs up mid-login
/// spent one of its attempts.
#[must_use]
pub(crate) struct LoginAttempt(Vec<LoginAttemptId>);

impl LoginAttempt {
    /// Records an attempt to log in as `email` from `address`, or refuses it with 429 when the
    /// account or the address is over its limit. Runs before any password is hashed, and the
    /// same whether the account exists or not.
    pub(crate) async fn begin(
        state: &AppState,
        email: &str,
        address: ClientAddress,
    ) -> Result<Self, ApiError> {
        let settings = state.throttle();
        let mut limited: Vec<(String, AttemptLimit)> = Vec::new();
        if let Some(limit) = settings.login_per_account {
            limited.push((account_key(email), limit));
        }
        if let (Some(limit), Some(address)) = (settings.login_per_address, address.0) {
            limited.push((address_key(address), limit));
        }
        if limited.is_empty() {
            return Ok(Self(Vec::new()));
        }
        let now = Utc::now();
        let keys: Vec<&str> = limited.iter().map(|(key, _)| key.as_str()).collect();
        let recorded = state.store().record_login_attempt(&keys, now).await?;
        for (key, limit) in &limited {
            let since = now - chrono::Duration::from_std(limit.window).unwrap_or_default();
            let recent = state
                .store()
                .recent_login_attempts(key, since, limit.max_attempts + 1)
                .await?;
            if let Some(wait) = limit.wait(&recent, now) {
                // A refused attempt checked no password: it does not count.
                state.store().forget_login_attempts(&recorded).await?;
                state.metrics().logins_throttled.inc_by(1);
                return Err(ApiError::TooManyRequests {
                    message: "Too many failed logins for this account or from this address; \
                              retry after the time in Retry-After",
                    retry_after_secs: whole_seconds(wait),
                });
            }
        }
        Ok(Self(recorded))
    }

    /// The password was right: the attempt no longer counts against anyone.
    pub(crate) async fn succeeded(self, state: &AppState) -> Result<(), ApiError> {
        if !self.0.is_empty() {
            state.store().forget_login_attempts(&self.0).await?;
        }
        Ok(())
    }
}

/// Who a rate applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SenderId {
    /// A logged-in user (bearer JWT).
    User(UserId),
    /// A write key.
    Key(WriteKeyId),
}

/// Each sender's token bucket, in this process.
#[derive(Debug)]
pub(crate) struct SenderRates {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<SenderId, TokenBucket>>,
}

impl SenderRates {
    /// Buckets of `rate` (`None`: every sender is admitted).
    pub(crate) fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            buckets: Mutex::default(),
        }
    }

    /// Whether `sender` could send at least one event now, taking nothing: a sender over its
    /// rate is refused before its body is read.
    pub(crate) fn check(&self, sender: SenderId) -> Result<(), Duration> {
        if self.rate.is_none() {
            return Ok(());
        }
        let Ok(buckets) = self.buckets.lock() else {
            return Ok(());
        };
        buckets
            .get(&sender)
            .map_or(Ok(()), |bucket| bucket.check(Instant::now()))
    }

    /// Takes `events` from `sender`'s bucket, or answers how long until they would fit.
    pub(crate) fn admit(&self, sender: SenderId, events: usize) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= BUCKETS_BEFORE_CLEANUP {
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets
            .entry(sender)
            .or_insert_with(|| TokenBucket::full(rate, now))
            .take(events as u64, now)
    }
}

/// `Retry-After` counts whole seconds; round up so a retry at that time passes.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The longest a refused sender's answer is held back.
const REFUSAL_HOLD: Duration = Duration::from_secs(1);

/// Refuses a sender over its rate: counts it and answers 429, after holding the answer for
/// the wait it names (at most [`REFUSAL_HOLD`]). A client that sends again as soon as it is
/// answered, ignoring `Retry-After`, then sends one request per connection per second, not
/// thousands; a client that honours `Retry-After` loses nothing, since it would wait anyway.
pub(crate) async fn refuse_over_rate(state: &AppState, wait: Duration) -> ApiError {
    state.metrics().requests_rate_limited.inc_by(1);
    let retry_after_secs = whole_seconds(wait).max(1);
    tokio::time::sleep(Duration::from_secs(retry_after_secs).min(REFUSAL_HOLD)).await;
    ApiError::TooManyRequests {
        message: "This sender is over its rate of events; retry after the time in Retry-After",
        retry_after_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sender_over_its_rate_leaves_the_others_alone() {
        let rates = SenderRates::new(Some(Rate {
            per_second: 1.0,
            burst: 10,
        }));
        let flooder = SenderId::Key(WriteKeyId(1));
        let other = SenderId::User(UserId(1));
        assert_eq!(rates.admit(flooder, 10), Ok(()));
        assert!(rates.admit(flooder, 1).is_err());
        assert_eq!(rates.admit(other, 10), Ok(()));
        assert_eq!(SenderRates::new(None).admit(flooder, 1_000_000), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2_001)), 3);
    }
}
