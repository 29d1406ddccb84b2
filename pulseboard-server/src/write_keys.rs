//! Write keys: long random tokens that let SDKs and servers send events without a login.
//!
//! A key is `pbwk_` and 64 hex digits (256 random bits); the store keeps only its SHA-256. A
//! fast hash is enough for a token that cannot be guessed, and it lets every request be checked
//! in microseconds, unlike a password hash. Found keys are cached for at most
//! [`KEY_CACHE_TTL`], so a key revoked through any server process stops working on every
//! process within that time. Keys found unknown (or revoked) are remembered as unknown for as
//! long, so a fleet of apps still sending a revoked key, or a guesser, costs the store one
//! lookup per key and interval instead of one per request. (A remembered unknown key cannot be
//! created meanwhile: keys are 256 random bits, never chosen by a client.) Use counts (events, last use) are summed in memory and flushed to
//! the store every [`USE_FLUSH_INTERVAL`]: a crash loses at most that much of the statistics,
//! never an event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use pulseboard_store::{EventStore, StoreError, WriteKey, WriteKeyId, WriteKeyUse};
use pulseboard_telemetry::prometheus::Counter;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// Every write key starts with this, so a bearer token is told apart from a JWT at a glance.
pub(crate) const WRITE_KEY_PREFIX: &str = "pbwk_";
/// Random bytes in a key.
const KEY_RANDOM_BYTES: usize = 32;
/// How long a found key is trusted without asking the store: the bound on how long a revoked
/// key keeps working on another process.
pub(crate) const KEY_CACHE_TTL: Duration = Duration::from_millis(500);
/// Cached keys kept at most, found and unknown each; a cache is emptied when it grows past
/// this, so random keys cannot grow it without bound nor push found keys out.
const KEY_CACHE_CAPACITY: usize = 10_000;
/// How often use counts go to the store.
pub(crate) const USE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// A new key to show its creator once.
pub(crate) fn generate() -> Result<String, getrandom::Error> {
    let mut random = [0u8; KEY_RANDOM_BYTES];
    getrandom::fill(&mut random)?;
    Ok(format!("{WRITE_KEY_PREFIX}{}", hex::encode(random)))
}

/// The stored form of a key: its SHA-256 in hex.
pub(crate) fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `token` has the shape of a write key (it may still be unknown or revoked).
pub(crate) fn looks_like_write_key(token: &str) -> bool {
    token.starts_with(WRITE_KEY_PREFIX)
}

/// Looks keys up with a short-lived cache and counts their use.
pub struct WriteKeys {
    store: Arc<dyn EventStore>,
    /// Found keys by hash.
    found: Recent<WriteKey>,
    /// Hashes of keys the store did not know.
    unknown: Recent<()>,
    uses: Mutex<HashMap<WriteKeyId, WriteKeyUse>>,
    lookups: Counter,
}

impl WriteKeys {
    /// Keys stored in `store`.
    pub(crate) fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            found: Recent::default(),
            unknown: Recent::default(),
            uses: Mutex::default(),
            lookups: Counter::default(),
        }
    }

    /// Keys looked up in the store, the cache missed: `pulseboard_write_key_lookups_total`.
    pub(crate) fn store_lookups(&self) -> u64 {
        self.lookups.get()
    }

    /// The active key `key` names, or `None` when it is unknown or revoked.
    pub(crate) async fn find(&self, key: &str) -> Result<Option<WriteKey>, StoreError> {
        if !looks_like_write_key(key) {
            return Ok(None);
        }
        let hashed = hash(key);
        if let Some(found) = self.found.get(&hashed) {
            return Ok(Some(found));
        }
        if self.unknown.get(&hashed).is_some() {
            return Ok(None);
        }
        self.lookups.inc_by(1);
        let found = self.store.find_write_key(&hashed).await?;
        match &found {
            Some(found) => self.found.put(hashed, found.clone()),
            None => self.unknown.put(hashed, ()),
        }
        Ok(found)
    }

    /// Forgets every cached key, so a revocation through this process holds at once here.
    pub(crate) fn forget_cached(&self) {
        self.found.clear();
    }

    /// Counts `events` sent with `key` now.
    pub(crate) fn record_use(&self, key: WriteKeyId, events: usize) {
        let Ok(mut uses) = self.uses.lock() else {
            return;
        };
        let used = uses.entry(key).or_insert(WriteKeyUse {
            id: key,
            events: 0,
            at: Utc::now(),
        });
        used.events += events as i64;
        used.at = Utc::now();
    }

    /// Writes the counted use to the store every [`USE_FLUSH_INTERVAL`] until `shutdown`,
    /// and once more then.
    pub(crate) async fn flush_uses(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tokio::time::sleep(USE_FLUSH_INTERVAL) => false,
            };
            self.flush_once().await;
            if stopping {
                return;
            }
        }
    }

    /// Writes the counted use now; on failure the counts are kept for the next flush.
    pub(crate) async fn flush_once(&self) {
        let taken: Vec<WriteKeyUse> = match self.uses.lock() {
            Ok(mut uses) => uses.drain().map(|(_, used)| used).collect(),
            Err(_) => return,
        };
        if taken.is_empty() {
            return;
        }
        if let Err(error) = self.store.record_write_key_use(&taken).await {
            tracing::warn!(error = %error, "write key use counts not stored; kept for the next flush");
            if let Ok(mut uses) = self.uses.lock() {
                for used in taken {
                    let kept = uses
                        .entry(used.id)
                        .or_insert(WriteKeyUse { events: 0, ..used });
                    kept.events += used.events;
                    kept.at = kept.at.max(used.at);
                }
            }
        }
    }
}

/// Values remembered for [`KEY_CACHE_TTL`] each, at most [`KEY_CACHE_CAPACITY`] of them (the
/// map is emptied when it would grow past that). A poisoned lock reads as empty.
struct Recent<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

impl<V: Clone> Recent<V> {
    fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (value, at) = entries.get(key)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| value.clone())
    }

    fn put(&self, key: String, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEY_CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(key, (value, Instant::now()));
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed_to_hex() {
        let first = generate().unwrap();
        let second = generate().unwrap();
        assert_ne!(first, second);
        assert!(looks_like_write_key(&first));
        assert_eq!(first.len(), WRITE_KEY_PREFIX.len() + 2 * KEY_RANDOM_BYTES);
        assert_eq!(hash(&first).len(), 64);
        assert_eq!(hash(&first), hash(&first));
        assert_ne!(hash(&first), hash(&second));
        assert!(!looks_like_write_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }
}
