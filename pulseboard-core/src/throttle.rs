//! How much a client may do: login attempts per window, and events per second with a burst.
//!
//! Both are pure: the caller keeps the state (attempt times in the store, buckets in memory)
//! and passes the clock in, so the rules are tested without waiting.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// At most `max_attempts` login attempts in any `window`, for one account or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    /// Attempts allowed in one window (at least 1).
    pub max_attempts: u32,
    /// The sliding window.
    pub window: Duration,
}

impl AttemptLimit {
    /// The limit the README documents for one account: 10 attempts in 15 minutes, so an
    /// attacker gets at most 40 guesses an hour at a password.
    pub const PER_ACCOUNT: Self = Self {
        max_attempts: 10,
        window: Duration::from_secs(15 * 60),
    };

    /// The limit for one client address: higher, since an office or a carrier shares one.
    pub const PER_ADDRESS: Self = Self {
        max_attempts: 100,
        window: Duration::from_secs(15 * 60),
    };

    /// The longest window a limit may have: attempts older than this are forgotten.
    pub const LONGEST_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

    /// How long the newest attempt must wait, or `None` if it may go ahead.
    ///
    /// `attempts` are the times of the attempts within the window, newest first, the one being
    /// decided included; only the first `max_attempts + 1` matter. When there are more than
    /// `max_attempts`, the attempt waits until the oldest of the `max_attempts` before it
    /// leaves the window.
    pub fn wait(&self, attempts: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<Duration> {
        let limit = self.max_attempts as usize;
        let oldest_counted = attempts.get(limit)?;
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let frees_at = oldest_counted.checked_add_signed(window)?;
        // Never less than a second: `Retry-After` counts whole seconds.
        Some(
            (frees_at - now)
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_secs(1)),
        )
    }
}

/// The key under which an account's login attempts are counted: its email key, so every
/// spelling of one address counts against the same account.
pub fn account_key(email: &str) -> String {
    format!("account:{}", crate::account::email_key(email))
}

/// The key under which a client address's login attempts are counted. An IPv6 client gets a
/// whole /64 from its provider, so its key is the prefix; an IPv4-mapped address is its IPv4.
pub fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("address:{v4}"),
            None => format!("address:{}/64", Ipv6Addr::from(u128::from(v6) >> 64 << 64)),
        },
    }
}

/// A sustained rate with a burst: a token bucket that holds at most `burst` tokens and gains
/// `per_second` of them each second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens gained per second (greater than zero).
    pub per_second: f64,
    /// Tokens the bucket holds when full (at least 1).
    pub burst: u64,
}

/// One sender's bucket of [`Rate`] tokens, one token per event.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    updated: Instant,
    /// After a refusal, until when the sender was told to wait (`Retry-After`).
    refused_until: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(rate: Rate, now: Instant) -> Self {
        Self {
            rate,
            tokens: rate.burst as f64,
            updated: now,
            refused_until: None,
        }
    }

    /// Takes `n` tokens at `now`, or answers how long until they would be there.
    ///
    /// A request larger than the burst passes once the bucket is full and leaves it in debt,
    /// so a sender of large batches keeps the same average rate as one of small ones.
    pub fn take(&mut self, n: u64, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        let needed = n.min(self.rate.burst) as f64;
        if self.tokens >= needed {
            self.tokens -= n as f64;
            return Ok(());
        }
        let seconds = (needed - self.tokens) / self.rate.per_second;
        let wait = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        self.refused_until = now.checked_add(wait);
        Err(wait)
    }

    /// Whether a request could pass at `now`, without taking anything: not while the wait
    /// the last refusal named lasts, nor with less than one token. Lets a server refuse a
    /// sender over its rate before reading the request's body; a sender who ignores
    /// `Retry-After` is refused that cheaply until the time it was given.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.refused_until
            && now < until
        {
            return Err(until - now);
        }
        let mut bucket = self.clone();
        bucket.take(1, now)
    }

    /// Whether the bucket is full at `now` (a full bucket can be forgotten and made anew).
    pub fn is_full(&self, now: Instant) -> bool {
        let mut bucket = self.clone();
        bucket.refill(now);
        bucket.tokens >= bucket.rate.burst as f64
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst as f64);
        self.updated = self.updated.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn attempts_within_the_limit_go_ahead() {
        let limit = AttemptLimit {
            max_attempts: 3,
            window: Duration::from_secs(60),
        };
        assert_eq!(limit.wait(&[], at(0)), None);
        assert_eq!(limit.wait(&[at(10), at(5), at(0)], at(10)), None);
    }

    #[test]
    fn the_attempt_past_the_limit_waits_for_the_oldest_counted_to_leave_the_window() {
        let limit = AttemptLimit {
            max_attempts: 3,
            window: Duration::from_secs(60),
        };
        // This attempt at 20 and three before it: the one at 0 frees a place at 60.
        let attempts = [at(20), at(15), at(5), at(0), at(-30)];
        assert_eq!(limit.wait(&attempts, at(20)), Some(Duration::from_secs(40)));
        // Never less than one second, even at the edge.
        assert_eq!(
            limit.wait(&attempts[..4], at(60)),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn the_documented_account_limit_allows_forty_guesses_an_hour() {
        let per_hour = 3600 / AttemptLimit::PER_ACCOUNT.window.as_secs()
            * u64::from(AttemptLimit::PER_ACCOUNT.max_attempts);
        assert_eq!(per_hour, 40);
    }

    #[test]
    fn attempts_are_keyed_by_email_key_and_by_ipv4_or_ipv6_prefix() {
        assert_eq!(account_key(" Ä@Example.com "), account_key("ä@example.com"));
        assert_eq!(address_key("10.1.2.3".parse().unwrap()), "address:10.1.2.3");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap()),
            "address:2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key("::ffff:10.1.2.3".parse().unwrap()),
            "address:10.1.2.3"
        );
    }

    #[test]
    fn a_bucket_spends_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let rate = Rate {
            per_second: 10.0,
            burst: 20,
        };
        let mut bucket = TokenBucket::full(rate, start);
        assert_eq!(bucket.take(20, start), Ok(()));
        let wait = bucket.take(5, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(bucket.take(5, start + Duration::from_millis(500)), Ok(()));
        assert!(!bucket.is_full(start + Duration::from_millis(500)));
        assert_eq!(
            bucket.check(start + Duration::from_millis(500)),
            Err(Duration::from_millis(100))
        );
        assert_eq!(bucket.check(start + Duration::from_millis(600)), Ok(()));
        assert!(bucket.is_full(start + Duration::from_secs(3)));
    }

    #[test]
    fn after_a_refusal_the_check_refuses_until_the_wait_it_named() {
        let start = Instant::now();
        let rate = Rate {
            per_second: 100.0,
            burst: 100,
        };
        let mut bucket = TokenBucket::full(rate, start);
        assert_eq!(bucket.take(100, start), Ok(()));
        // 50 events need 0.5 s of tokens; one would be there after 10 ms.
        assert_eq!(bucket.take(50, start), Err(Duration::from_millis(500)));
        let later = start + Duration::from_millis(100);
        assert_eq!(bucket.check(later), Err(Duration::from_millis(400)));
        assert_eq!(bucket.check(start + Duration::from_millis(500)), Ok(()));
    }

    #[test]
    fn a_request_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_debt() {
        let start = Instant::now();
        let rate = Rate {
            per_second: 100.0,
            burst: 50,
        };
        let mut bucket = TokenBucket::full(rate, start);
        assert_eq!(bucket.take(250, start), Ok(()));
        // 200 in debt and 1 needed: 2.01 s at 100 a second.
        let wait = bucket.take(1, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(2010));
    }
}
