//! The store's upkeep:
//! - every [`FOLD_INTERVAL`], the dashboard's counters are folded (see
//!   [`EventStore::fold_counters`]), so the deltas a reader adds up stay few, and the events
//!   table of a new installation is analyzed once it has rows enough for its indexes to pay
//!   ([`EventStore::refresh_planner_statistics`]);
//! - every [`PURGE_INTERVAL`], retention: events older than `PULSEBOARD_RETENTION_DAYS` in a
//!   final state are deleted, in small rounds with pauses between them, so the purge never
//!   holds locks or the store for long. Every server and worker runs the upkeep; the purge
//!   runs in the one that holds its lease in the store ([`PURGE_LEASE`]), so processes never
//!   purge the same rows side by side;
//! - every [`PURGE_INTERVAL`] too, login attempts older than the longest throttling window
//!   are forgotten.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pulseboard_core::AttemptLimit;
use pulseboard_store::{EventStore, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Events looked at per round.
const ROUND_EVENTS: u32 = 1_000;
/// Pause between two rounds: leaves the store to ingest.
const ROUND_PAUSE: Duration = Duration::from_millis(50);
/// Time between two folds of the counters.
const FOLD_INTERVAL: Duration = Duration::from_secs(5);
/// Time between two retention purges.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// The store lease the retention purge runs under.
pub const PURGE_LEASE: &str = "retention-purge";
/// How long the purge's lease lasts unrenewed. Longer than [`PURGE_INTERVAL`], so a live
/// holder keeps it from one purge to the next; a holder that died frees it after this.
const PURGE_LEASE_TTL: Duration = Duration::from_secs(3 * 60);

/// Why a retention purge stopped; the next one tries again.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The retention is longer than any date can express.
    #[error("the retention of {0:?} is too long to compute a cutoff")]
    RetentionTooLong(Duration),
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Deletes every final event created more than `keep` ago, as `holder` of the purge's lease;
/// returns how many, or `None` when another process holds the lease (and purges). The lease is
/// renewed before every round; a purge that loses it stops after the round it was in.
pub async fn purge_once(
    store: &dyn EventStore,
    keep: Duration,
    holder: &str,
) -> Result<Option<u64>, PurgeError> {
    let cutoff = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|keep| Utc::now().checked_sub_signed(keep))
        .ok_or(PurgeError::RetentionTooLong(keep))?;
    let (mut after, mut deleted) = (None, 0);
    loop {
        if !store
            .hold_lease(PURGE_LEASE, holder, PURGE_LEASE_TTL)
            .await?
        {
            return Ok(after.is_some().then_some(deleted));
        }
        let round = store
            .purge_finished_before(cutoff, after, ROUND_EVENTS)
            .await?;
        deleted += round.deleted;
        match round.next {
            Some(next) => after = Some(next),
            None => return Ok(Some(deleted)),
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    }
}

/// Until `shutdown`: folds the counters every [`FOLD_INTERVAL`] and, with `retention`, purges
/// the final events older than it every [`PURGE_INTERVAL`], side by side, so a long purge
/// does not hold up the folds.
pub async fn run_upkeep(
    store: Arc<dyn EventStore>,
    retention: Option<Duration>,
    shutdown: CancellationToken,
) {
    let fold = every(FOLD_INTERVAL, &shutdown, || async {
        if let Err(error) = store.fold_counters().await {
            warn!(error = %error, "folding the dashboard counters failed; will try again");
        }
        match store.refresh_planner_statistics().await {
            Ok(true) => info!("analyzed the events table: it outgrew the plans made when empty"),
            Ok(false) => {}
            Err(error) => warn!(error = %error, "analyzing the events table failed"),
        }
    });
    // This process's name as a lease holder: unique, so two processes never share a lease.
    let holder = format!("{}-{}", std::process::id(), ulid::Ulid::generate());
    let purge = async {
        let Some(keep) = retention else { return };
        every(PURGE_INTERVAL, &shutdown, || async {
            match purge_once(store.as_ref(), keep, &holder).await {
                Ok(None | Some(0)) => {}
                Ok(Some(deleted)) => {
                    info!(events = deleted, "retention purge deleted old final events");
                }
                Err(error) => warn!(error = %error, "retention purge failed; will try again"),
            }
        })
        .await;
    };
    let forget_logins = every(PURGE_INTERVAL, &shutdown, || async {
        let before = Utc::now()
            - chrono::Duration::from_std(AttemptLimit::LONGEST_WINDOW).unwrap_or_default();
        match store.forget_login_attempts_before(before).await {
            Ok(0) => {}
            Ok(forgotten) => info!(attempts = forgotten, "forgot old login attempts"),
            Err(error) => warn!(error = %error, "forgetting old login attempts failed"),
        }
    });
    tokio::join!(fold, purge, forget_logins);
}

/// Runs `task` now and then `interval` after each run ends, until `shutdown`.
async fn every<F, T>(interval: Duration, shutdown: &CancellationToken, task: F)
where
    F: Fn() -> T,
    T: std::future::Future<Output = ()>,
{
    while !shutdown.is_cancelled() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            () = task() => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
