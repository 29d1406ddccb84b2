//! The single writer's turn, and what happens to a connection whose write failed.

use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::MutexGuard;

use crate::StoreResult;

/// The writer's turn and the connection it writes on.
///
/// A connection whose write failed is closed, never returned to the pool. After a failed COMMIT
/// (a full disk, an I/O error) SQLite may or may not have rolled back by itself; a connection left
/// inside a transaction would make every later commit on it commit nothing, and hold the write
/// lock against every other connection. Closing it rolls back whatever is still open.
pub(super) struct Writer<'a> {
    _turn: MutexGuard<'a, ()>,
    connection: PoolConnection<Sqlite>,
}

impl<'a> Writer<'a> {
    /// Writes on `connection` during the writer's `turn`.
    pub(super) fn new(turn: MutexGuard<'a, ()>, connection: PoolConnection<Sqlite>) -> Self {
        Self {
            _turn: turn,
            connection,
        }
    }

    pub(super) fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }

    /// Passes `result` on. On an error it first rolls back whatever may still be open, so the
    /// next writer finds the write lock free, and has the connection closed instead of pooled
    /// (see [`Writer`]). The ROLLBACK's own error is expected (SQLite may have rolled back
    /// already, or there was no transaction) and says nothing new.
    pub(super) async fn finish<T>(&mut self, result: Result<T, sqlx::Error>) -> StoreResult<T> {
        if result.is_err() {
            let _ = sqlx::raw_sql("ROLLBACK").execute(self.connection()).await;
            self.connection.close_on_drop();
        }
        Ok(result?)
    }

    /// Commits the transaction when `result` is a success, and passes on the first error.
    /// Either way, a connection that failed is closed (see [`Writer`]).
    pub(super) async fn commit<T>(mut self, result: Result<T, sqlx::Error>) -> StoreResult<T> {
        let committed = match result {
            Ok(value) => sqlx::raw_sql("COMMIT")
                .execute(self.connection())
                .await
                .map(|_| value),
            Err(error) => Err(error),
        };
        self.finish(committed).await
    }
}
