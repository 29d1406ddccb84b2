//! The JWT signing secret: explicit in production, generated once and kept in the data directory
//! in the embedded mode (so tokens survive restarts).

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};

use crate::ServerSettings;

/// Shortest accepted secret, in bytes.
pub(crate) const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt-secret";

/// The secret to sign tokens with, or a message saying what to set.
pub(crate) fn resolve_jwt_secret(settings: &ServerSettings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.jwt_secret {
        if secret.expose().len() < MIN_SECRET_BYTES {
            bail!(
                "PULSEBOARD_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long (try `openssl rand -hex 32`)"
            );
        }
        return Ok(secret.expose().as_bytes().to_vec());
    }
    if settings.database_url.is_some() {
        bail!(
            "PULSEBOARD_JWT_SECRET is required when DATABASE_URL is set (production mode): \
             set it to a random string of at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`"
        );
    }
    load_or_create(&settings.data_dir.join(SECRET_FILE))
}

fn load_or_create(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        if existing.len() >= MIN_SECRET_BYTES {
            return Ok(existing.as_bytes().to_vec());
        }
        bail!(
            "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes; delete it to generate a new one",
            path.display()
        );
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random)
        .map_err(|error| anyhow::anyhow!("no randomness for the JWT secret: {error}"))?;
    let secret: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    write_private(path, &secret)
        .with_context(|| format!("cannot write the JWT secret to {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a JWT secret");
    Ok(secret.into_bytes())
}

/// Creates `path` readable by its owner only.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.sync_all()
}
