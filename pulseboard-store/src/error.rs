//! The store's error type, which tells outages (worth retrying) from everything else.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (refused connection, pool timeout, server
    /// shutting down, database locked). Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A user with this email (in any letter case) already exists.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// Stored data that the code cannot read (e.g. an unknown status); needs a person.
    #[error("invalid stored data: {0}")]
    InvalidData(String),
    /// The database refused the statement for another reason; retrying will not help.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Whether the worker should retry the operation after a backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// PostgreSQL SQLSTATEs that mean "the server is going away or not there yet".
const PG_UNAVAILABLE_STATES: &[&str] = &["57P01", "57P02", "57P03", "53300", "53400"];
/// SQLite result codes for a busy or locked database.
const SQLITE_BUSY_CODES: &[&str] = &["5", "6", "261", "262", "517"];

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_outage(&error) {
            Self::Unavailable(error)
        } else {
            Self::Database(error)
        }
    }
}

fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || PG_UNAVAILABLE_STATES.contains(&code.as_ref())
                || SQLITE_BUSY_CODES.contains(&code.as_ref())
        }),
        _ => false,
    }
}

/// Whether `error` is a unique-constraint violation (PostgreSQL 23505, SQLite 2067/1555).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
