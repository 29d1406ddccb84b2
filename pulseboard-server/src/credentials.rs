//! The JWT signing secret and the operator token: explicit in production, generated once and
//! kept in the data directory in the embedded mode (so they survive restarts).

use std::io::Write as _;
use std::path::Path;

use crate::startup::StartError;
use crate::{Secret, ServerSettings};

/// Shortest accepted secret, in bytes.
pub(crate) const MIN_SECRET_BYTES: usize = 32;
const SECRET_FILE: &str = "jwt-secret";
const OPERATOR_TOKEN_FILE: &str = "operator-token";

/// The dashboard's operator token, and whether it was read from (or made in) the data
/// directory rather than set: then the server prints the dashboard's address with it, as
/// Jupyter does, so a newcomer can open it.
pub(crate) struct OperatorToken {
    pub(crate) token: Option<Secret>,
    pub(crate) from_data_dir: bool,
}

/// The configured operator token; in the embedded mode without one, the data directory's
/// (made on first start). Production mode without one keeps the dashboard closed.
pub(crate) fn resolve_operator_token(
    settings: &ServerSettings,
) -> Result<OperatorToken, StartError> {
    if settings.operator_token.is_some() || settings.database_url.is_some() {
        return Ok(OperatorToken {
            token: settings.operator_token.clone(),
            from_data_dir: false,
        });
    }
    let token = load_or_create(
        &settings.data_dir.join(OPERATOR_TOKEN_FILE),
        "operator token",
    )?;
    let token = String::from_utf8(token)
        .map_err(|_| StartError::Setting("the operator token file is not UTF-8".to_owned()))?;
    Ok(OperatorToken {
        token: Some(Secret::new(&token)),
        from_data_dir: true,
    })
}

/// The secret to sign tokens with, or a message saying what to set.
pub(crate) fn resolve_jwt_secret(settings: &ServerSettings) -> Result<Vec<u8>, StartError> {
    if let Some(secret) = &settings.jwt_secret {
        if secret.expose().len() < MIN_SECRET_BYTES {
            return Err(StartError::Setting(format!(
                "PULSEBOARD_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long (try `openssl rand -hex 32`)"
            )));
        }
        return Ok(secret.expose().as_bytes().to_vec());
    }
    if settings.database_url.is_some() {
        return Err(StartError::Setting(format!(
            "PULSEBOARD_JWT_SECRET is required when DATABASE_URL is set (production mode): \
             set it to a random string of at least {MIN_SECRET_BYTES} bytes, e.g. `openssl rand -hex 32`"
        )));
    }
    load_or_create(&settings.data_dir.join(SECRET_FILE), "JWT secret")
}

/// The secret kept at `path`, made (256 random bits, hex) when the file does not exist.
fn load_or_create(path: &Path, what: &'static str) -> Result<Vec<u8>, StartError> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim();
        if existing.len() >= MIN_SECRET_BYTES {
            return Ok(existing.as_bytes().to_vec());
        }
        return Err(StartError::Setting(format!(
            "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes; delete it to generate a new one",
            path.display()
        )));
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|source| StartError::Randomness { what, source })?;
    let secret: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    write_private(path, &secret).map_err(|source| StartError::SecretFile {
        what,
        path: path.to_owned(),
        source,
    })?;
    tracing::info!(path = %path.display(), "generated a {what}");
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
