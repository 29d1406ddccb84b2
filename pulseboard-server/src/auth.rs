//! Passwords (argon2id) and access tokens (HS256 JWT).
//!
//! Argon2 parameters are the argon2 crate's defaults, which follow OWASP's recommendation:
//! argon2id, 19 MiB of memory, 2 passes, 1 lane. Hashing runs on the blocking pool behind a
//! semaphore sized to the CPU count, so a burst of logins cannot starve the async threads.
//! Each permit owns one reusable 19 MiB work area: letting argon2 allocate its own per hash
//! left a work area resident per blocking thread, while this keeps memory fixed whatever
//! clients do (BENCHMARKS.md, "Hostile clients").

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version};
use chrono::Utc;
use jsonwebtoken::{Algorithm as JwtAlgorithm, DecodingKey, EncodingKey, Header, Validation};
use pulseboard_store::UserId;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::metrics::ServerMetrics;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The system gave no random bytes for a salt.
    #[error("no randomness for a salt")]
    Randomness(#[source] getrandom::Error),
    /// argon2 refused its input or parameters.
    #[error("argon2: {0}")]
    Argon2(String),
}

/// Salt length, in bytes (the PHC recommendation).
const SALT_BYTES: usize = 16;

/// Hashes and verifies passwords off the async threads, in bounded memory.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// One argon2 work area per permit, reused by every hash.
    work_areas: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Verified against when the user is unknown, so both paths cost the same.
    dummy_hash: Arc<str>,
    /// Counts each hash computed.
    metrics: Arc<ServerMetrics>,
}

impl Passwords {
    /// Prepares the hasher: allocates the work areas and computes the dummy hash. Each hash
    /// computed is counted in `metrics`.
    pub fn new(metrics: Arc<ServerMetrics>) -> Result<Self, PasswordError> {
        let parallelism = std::thread::available_parallelism().map_or(2, usize::from);
        let area = || vec![Block::default(); Params::DEFAULT.block_count()];
        let mut first = area();
        let dummy_hash = hash_with(&mut first, "not a real password, only for timing")?;
        let mut areas = vec![first];
        areas.extend((1..parallelism).map(|_| area()));
        Ok(Self {
            permits: Arc::new(Semaphore::new(parallelism)),
            work_areas: Arc::new(Mutex::new(areas)),
            dummy_hash: dummy_hash.into(),
            metrics,
        })
    }

    /// A PHC-format argon2id hash of `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.blocking(move |area| hash_with(area, &password))
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
            .blocking(move |area| verify_with(area, &password, &hash))
            .await?;
        Ok(known && matches)
    }

    /// Runs `work` on the blocking pool with one work area, at most one per permit at a time.
    ///
    /// The permit moves into the blocking task, so it is released when the hash ends, not when
    /// the request does: a client that hangs up mid-login cannot start more hashes than there
    /// are permits (and work areas).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal)?;
        let areas = self.work_areas.clone();
        self.metrics.password_hashes.inc_by(1);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A permit always finds a free area: there is one area per permit.
            let mut area = areas
                .lock()
                .ok()
                .and_then(|mut free| free.pop())
                .unwrap_or_default();
            let result = work(&mut area);
            if let Ok(mut free) = areas.lock() {
                free.push(area);
            }
            result
        })
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "password task failed");
            ApiError::Internal
        })
    }
}

/// Hashes with the default parameters into `area` (resized if needed) and encodes it as PHC.
fn hash_with(area: &mut Vec<Block>, password: &str) -> Result<String, PasswordError> {
    let params = Params::DEFAULT;
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(PasswordError::Randomness)?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    area.resize(params.block_count(), Block::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut output,
            area.as_mut_slice(),
        )
        .map_err(|error| PasswordError::Argon2(error.to_string()))?;
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)
            .map_err(|error| PasswordError::Argon2(format!("params: {error}")))?,
        salt: Some(
            Salt::new(&salt).map_err(|error| PasswordError::Argon2(format!("salt: {error}")))?,
        ),
        hash: Some(
            Output::new(&output)
                .map_err(|error| PasswordError::Argon2(format!("output: {error}")))?,
        ),
    };
    Ok(phc.to_string())
}

/// Recomputes `stored` (a PHC argon2id string, parameters read from it) for `password` in `area`.
fn verify_with(area: &mut Vec<Block>, password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let mut output = vec![0u8; expected.len()];
    area.resize(params.block_count(), Block::default());
    let computed = Argon2::new(algorithm, Version::V0x13, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        &mut output,
        area.as_mut_slice(),
    );
    // Output's equality is constant-time.
    computed.is_ok() && Output::new(&output).is_ok_and(|output| &output == expected)
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
        let mut validation = Validation::new(JwtAlgorithm::HS256);
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
        jsonwebtoken::encode(&Header::new(JwtAlgorithm::HS256), &claims, &self.encoding).map_err(
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
        jsonwebtoken::encode(&Header::new(JwtAlgorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_interoperate_with_the_standard_argon2_encoding() {
        let passwords = Passwords::new(Arc::default()).unwrap();
        let ours = passwords.hash("TestPass123!".to_owned()).await.unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(
            passwords
                .verify("TestPass123!".to_owned(), Some(ours.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("WrongPass123!".to_owned(), Some(ours.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("TestPass123!".to_owned(), None)
                .await
                .unwrap(),
            "unknown users never match"
        );
        assert!(
            !passwords
                .verify("x".to_owned(), Some("not a hash".to_owned()))
                .await
                .unwrap()
        );
        // The argon2 crate's own encoder and verifier agree with ours, both ways.
        assert!(
            Argon2::default()
                .verify_password(b"TestPass123!", ours.as_str())
                .is_ok()
        );
        let standard = Argon2::default()
            .hash_password(b"other-password")
            .unwrap()
            .to_string();
        assert!(
            passwords
                .verify("other-password".to_owned(), Some(standard))
                .await
                .unwrap()
        );
    }
}
