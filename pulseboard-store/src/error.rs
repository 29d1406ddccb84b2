//! The store's error type, which tells faults worth retrying from everything else.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A transient fault: the database cannot be reached right now (refused connection, pool
    /// timeout, server shutting down or read-only after a failover), or it gave up on this
    /// statement (busy or locked, deadlock, serialization failure, statement timeout). Retrying
    /// later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database ran out of a resource: disk full, out of memory, too many connections, an
    /// I/O error. Retrying later may succeed once an operator frees it; nothing was written.
    #[error("database out of resources: {0}")]
    ResourceExhausted(#[source] sqlx::Error),
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

/// What a store fault means for whoever asked: wait and retry, or give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Goes away by itself: retry after a backoff.
    Transient,
    /// Goes away when a resource is freed (disk, memory, connections): retry after a backoff.
    Resource,
    /// Retrying the same request will fail the same way.
    Permanent,
}

impl StoreError {
    /// What kind of fault this is.
    pub fn kind(&self) -> FaultKind {
        match self {
            Self::Unavailable(_) => FaultKind::Transient,
            Self::ResourceExhausted(_) => FaultKind::Resource,
            Self::DuplicateEmail | Self::InvalidData(_) | Self::Database(_) => FaultKind::Permanent,
        }
    }

    /// Whether the caller should retry the operation after a backoff.
    pub fn is_retryable(&self) -> bool {
        self.kind() != FaultKind::Permanent
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match classify(&error) {
            FaultKind::Transient => Self::Unavailable(error),
            FaultKind::Resource => Self::ResourceExhausted(error),
            FaultKind::Permanent => Self::Database(error),
        }
    }
}

/// PostgreSQL SQLSTATEs of transient faults, beyond class 08 (connection exception).
const PG_TRANSIENT_STATES: &[&str] = &[
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "40003", // statement_completion_unknown
    "55P03", // lock_not_available
    "57014", // query_canceled (statement_timeout)
    "57P01", // admin_shutdown
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now (starting up)
    "25006", // read_only_sql_transaction (connected to a replica after a failover)
];
/// PostgreSQL SQLSTATE classes of resource faults: 53 insufficient resources (disk full, out of
/// memory, too many connections), 58 system error (I/O error).
const PG_RESOURCE_CLASSES: &[&str] = &["53", "58"];

/// SQLite primary result codes (the low byte of an extended code) of transient faults.
const SQLITE_TRANSIENT_CODES: &[i32] = &[
    5, // SQLITE_BUSY
    6, // SQLITE_LOCKED
];
/// SQLite primary result codes of resource faults. SQLITE_CANTOPEN is not one: it means a
/// wrong path or permissions, which waiting does not fix.
const SQLITE_RESOURCE_CODES: &[i32] = &[
    7,  // SQLITE_NOMEM
    10, // SQLITE_IOERR (every extended I/O error)
    13, // SQLITE_FULL (disk full)
    15, // SQLITE_PROTOCOL (WAL lock protocol)
];

/// Classifies a driver error by what it means, from its SQLSTATE or SQLite result code.
fn classify(error: &sqlx::Error) -> FaultKind {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => FaultKind::Transient,
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => code
                .parse()
                .map_or(FaultKind::Permanent, classify_sqlite_code),
            Some(code) => classify_sqlstate(&code),
            None => FaultKind::Permanent,
        },
        _ => FaultKind::Permanent,
    }
}

/// Classifies a SQLite (extended) result code by its primary code.
fn classify_sqlite_code(code: i32) -> FaultKind {
    let primary = code & 0xff;
    if SQLITE_TRANSIENT_CODES.contains(&primary) {
        FaultKind::Transient
    } else if SQLITE_RESOURCE_CODES.contains(&primary) {
        FaultKind::Resource
    } else {
        FaultKind::Permanent
    }
}

/// Classifies a PostgreSQL SQLSTATE.
fn classify_sqlstate(code: &str) -> FaultKind {
    if code.starts_with("08") || PG_TRANSIENT_STATES.contains(&code) {
        FaultKind::Transient
    } else if PG_RESOURCE_CLASSES
        .iter()
        .any(|class| code.starts_with(class))
    {
        FaultKind::Resource
    } else {
        FaultKind::Permanent
    }
}

/// Whether `error` is a unique-constraint violation (PostgreSQL 23505, SQLite 2067/1555).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::{FaultKind, classify_sqlite_code, classify_sqlstate};

    #[test]
    fn sqlstates_are_classified_by_meaning() {
        let cases = [
            ("08006", FaultKind::Transient),
            ("40001", FaultKind::Transient),
            ("40P01", FaultKind::Transient),
            ("57014", FaultKind::Transient),
            ("25006", FaultKind::Transient),
            ("57P01", FaultKind::Transient),
            ("53100", FaultKind::Resource),
            ("53200", FaultKind::Resource),
            ("53300", FaultKind::Resource),
            ("58030", FaultKind::Resource),
            ("23505", FaultKind::Permanent),
            ("22P02", FaultKind::Permanent),
        ];
        for (code, kind) in cases {
            assert_eq!(classify_sqlstate(code), kind, "{code}");
        }
    }

    #[test]
    fn sqlite_result_codes_are_classified_by_their_primary_code() {
        let cases = [
            (5, FaultKind::Transient),
            (517, FaultKind::Transient), // SQLITE_BUSY_SNAPSHOT
            (262, FaultKind::Transient), // SQLITE_LOCKED_SHAREDCACHE
            (13, FaultKind::Resource),   // SQLITE_FULL
            (778, FaultKind::Resource),  // SQLITE_IOERR_WRITE
            (10, FaultKind::Resource),
            (2067, FaultKind::Permanent), // SQLITE_CONSTRAINT_UNIQUE
            (19, FaultKind::Permanent),
        ];
        for (code, kind) in cases {
            assert_eq!(classify_sqlite_code(code), kind, "{code}");
        }
    }
}
