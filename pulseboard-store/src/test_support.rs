//! Helpers for tests in every crate: a fresh, migrated database per test.
//!
//! PostgreSQL tests need `PULSEBOARD_TEST_DATABASE_URL` (set by `scripts/test.sh`). Without it they
//! fail with a message saying so; they are never skipped.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

/// Name of the variable holding a PostgreSQL admin URL for tests.
pub const POSTGRES_URL_VAR: &str = "PULSEBOARD_TEST_DATABASE_URL";

/// The PostgreSQL admin URL for tests. Panics with instructions when unset.
#[track_caller]
pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: this test needs a real PostgreSQL server. \
             Run the suite with `scripts/test.sh`, which starts one."
        )
    })
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_url() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = postgres_admin_url();
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin_url}: {e}"));
    let name = format!(
        "pulseboard_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    );
    let statement = format!("CREATE DATABASE {name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// A URL for a new SQLite file in `dir`.
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("pulseboard.db").display())
}
