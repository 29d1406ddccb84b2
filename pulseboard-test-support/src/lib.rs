//! Test support for every crate of the workspace (a dev-dependency only): a fresh database per
//! test, the test Redis, outages of the test PostgreSQL, the seed guide's payloads, and counts
//! read back from a store.
//!
//! PostgreSQL and Redis tests need `PULSEBOARD_TEST_DATABASE_URL` and
//! `PULSEBOARD_TEST_REDIS_URL` (set by `scripts/test.sh`). Without them they fail with a
//! message saying so; they are never skipped.

pub mod seed;

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, PgConnection};

/// Name of the variable holding a PostgreSQL admin URL for tests.
pub const POSTGRES_URL_VAR: &str = "PULSEBOARD_TEST_DATABASE_URL";

/// Name of the variable holding the test Redis URL.
pub const REDIS_URL_VAR: &str = "PULSEBOARD_TEST_REDIS_URL";

/// The test Redis URL. Panics with instructions when unset.
#[track_caller]
pub fn redis_url() -> String {
    required_server(REDIS_URL_VAR, "Redis")
}

/// The PostgreSQL admin URL for tests. Panics with instructions when unset.
#[track_caller]
pub fn postgres_admin_url() -> String {
    required_server(POSTGRES_URL_VAR, "PostgreSQL")
}

/// The URL in `variable`; a test without its server fails loudly, never passes.
#[track_caller]
fn required_server(variable: &str, server: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: this test needs a real {server} server. \
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

/// A new user (with a unique email) to own test events.
pub async fn new_owner(store: &dyn pulseboard_store::EventStore) -> pulseboard_store::UserId {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let email = format!(
        "owner-{}-{}-{}@example.com",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros()
    );
    let user = pulseboard_store::NewUser {
        email,
        password_hash: "x".into(),
        full_name: None,
    };
    store.create_user(&user).await.expect("test user").id
}

/// A URL for a new SQLite file in `dir`.
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("pulseboard.db").display())
}

#[track_caller]
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with `scripts/test.sh`, which starts PostgreSQL and sets it"))
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// A stopped test PostgreSQL server, started again by [`PostgresOutage::end`] or, if the test panics
/// first, on drop (so one failing test cannot take the database from the others).
pub struct PostgresOutage {
    ended: bool,
}

impl PostgresOutage {
    /// Stops the server now.
    pub fn begin() -> Self {
        stop_postgres();
        Self { ended: false }
    }

    /// Starts the server again and waits until it accepts connections.
    pub fn end(mut self) {
        self.ended = true;
        start_postgres();
    }
}

impl Drop for PostgresOutage {
    fn drop(&mut self) {
        if !self.ended {
            start_postgres();
        }
    }
}

/// Stops the test PostgreSQL server (fast shutdown: open connections are cut).
fn stop_postgres() {
    let pg_ctl = format!("{}/pg_ctl", env("PULSEBOARD_TEST_PG_BIN"));
    let data = env("PULSEBOARD_TEST_PG_DATA");
    let mut command = if running_as_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", &pg_ctl]);
        c
    } else {
        std::process::Command::new(&pg_ctl)
    };
    let status = command
        .args(["-D", &data, "stop", "-m", "fast", "-w"])
        .current_dir("/tmp")
        .status()
        .expect("pg_ctl runs");
    assert!(status.success(), "could not stop PostgreSQL");
}

/// Starts the test PostgreSQL server again and waits until it accepts connections.
fn start_postgres() {
    let status = std::process::Command::new("bash")
        .args(["-c", &env("PULSEBOARD_TEST_PG_START_CMD")])
        .status()
        .expect("bash runs");
    assert!(status.success(), "could not start PostgreSQL again");
}

/// Sends SIGTERM to `child` and waits up to 30 s for it to exit; returns how it exited.
pub async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().expect("the process runs").to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success(), "kill -TERM {pid}");
    tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("the process exits within 30 s of SIGTERM")
        .unwrap()
}

/// The store's events per status, sorted by status, as the dashboard reads them.
pub async fn status_counts(
    store: &dyn pulseboard_store::EventStore,
) -> Vec<(pulseboard_core::EventStatus, i64)> {
    let mut counts: Vec<_> = store
        .counts_by_status()
        .await
        .expect("counts by status")
        .into_iter()
        .map(|count| (count.status, count.count))
        .collect();
    counts.sort();
    counts
}

/// Events accepted, processed and failed over the last hour, as the dashboard reads them.
pub async fn activity_totals(store: &dyn pulseboard_store::EventStore) -> (i64, i64, i64) {
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let minutes = store.activity_per_minute(since).await.expect("activity");
    minutes.iter().fold((0, 0, 0), |sum, minute| {
        (
            sum.0 + minute.accepted,
            sum.1 + minute.processed,
            sum.2 + minute.failed,
        )
    })
}
