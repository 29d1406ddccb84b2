//! Passwords (argon2id) and access tokens (HS256 JWT).
//!
//! Argon2 parameters are the argon2 crate's defaults, which follow OWASP's recommendation:
//! argon2id, 19 MiB of memory, 2 passes, 1 lane (≈ 25 ms per hash in a release build here).
//! Hashing runs on the blocking pool behind a semaphore sized to the CPU count, so a burst of
//! logins cannot starve the async threads or exhaust memory.

use std::sync::Arc;
use std::time::Duration;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pulseboard_store::UserId;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Hashes and verifies passwords off the async threads.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the user is unknown, so both paths cost the same.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// Prepares the hasher (computes the dummy hash once).
    pub fn new() -> anyhow::Result<Self> {
        let parallelism = std::thread::available_parallelism().map_or(2, usize::from);
        let dummy_hash = hash_now("not a real password, only for timing")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallelism)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// A PHC-format argon2id hash of `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.blocking(move || hash_now(&password))
            .await?
            .map_err(|error| {
                tracing::error!(error = %error, "password hashing failed");
                ApiError::Internal
            })
    }

    /// Whether `password` matches `stored_hash`; with no stored hash (unknown user) verifies
    /// against a dummy hash and answers `false`, taking the same time.
    pub async fn verify(
        &self,
        password: String,
        stored_hash: Option<String>,
    ) -> Result<bool, ApiError> {
        let known = stored_hash.is_some();
        let hash = stored_hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .blocking(move || {
                Argon2::default()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Internal)?;
        tokio::task::spawn_blocking(work).await.map_err(|error| {
            tracing::error!(error = %error, "password task failed");
            ApiError::Internal
        })
    }
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|error| anyhow::anyhow!("argon2: {error}"))?;
    Ok(hash.to_string())
}

/// JWT claims: the user id as subject, issue and expiry times in Unix seconds.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

/// Issues and checks HS256 access tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl Tokens {
    /// Tokens signed with `secret`, valid for `lifetime`.
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["sub", "exp", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }
    }

    /// How long issued tokens are valid.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A token for `user`.
    pub fn issue(&self, user: UserId) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.0.to_string(),
            iat: now,
            exp: now + self.lifetime.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(
            |error| {
                tracing::error!(error = %error, "token signing failed");
                ApiError::Internal
            },
        )
    }

    /// The user a valid, unexpired token names; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<UserId> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        data.claims.sub.parse().ok().map(UserId)
    }

    /// A token for `user` that expired `ago` (tests only need this).
    #[doc(hidden)]
    pub fn issue_expired(&self, user: UserId, ago: Duration) -> String {
        let exp = Utc::now().timestamp() - ago.as_secs() as i64;
        let claims = Claims {
            sub: user.0.to_string(),
            iat: exp - 60,
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }
}
