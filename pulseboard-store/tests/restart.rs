//! The PostgreSQL pool across a database restart. This binary stops and restarts the shared test
//! server, so it holds a single test.

use std::time::Duration;

use pulseboard_store::{EventId, EventStore, PostgresStore};
use pulseboard_test_support::{PostgresOutage, fresh_postgres_url};

#[tokio::test]
async fn a_pooled_connection_cut_by_a_restart_is_replaced_before_use() {
    let url = fresh_postgres_url().await;
    // One connection, so the call after the restart must get the one the restart cut.
    let store = PostgresStore::connect(&url, 1).await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.get_event(EventId(1), None).await.unwrap().is_none());
    // sqlx returns a connection to the pool in the background; wait until it is there.
    let returned = async {
        while store.pool().num_idle() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), returned)
        .await
        .expect("the connection returns to the pool");

    PostgresOutage::begin().end();
    // Idle long enough to be pinged before its next use, as any connection is after a pause.
    tokio::time::sleep(PostgresStore::PING_CONNECTIONS_IDLE_FOR).await;

    let after_restart = store.get_event(EventId(1), None).await;
    assert!(
        matches!(after_restart, Ok(None)),
        "the first call after a restart failed: {after_restart:?}"
    );
}
