//! The event status model and the only moves it allows.

use std::fmt;
use std::str::FromStr;

/// Where an event is in its life. Stored as its [`EventStatus::as_str`] text.
///
/// ```text
/// enqueued ─▶ processing ─▶ processed          (final)
///                 │ ▲ ├───▶ validation_error   (final, never retried)
///                 │ └─┤
///                 ▼   │ (redelivery after a crash or a lost job)
///              retrying ──▶ failed             (final, after the last retry)
///
/// validation_error, failed ─▶ enqueued         (a replay, asked for explicitly)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventStatus {
    /// Stored and waiting for a worker.
    Enqueued,
    /// A worker is running an attempt on it. Held in the worker's memory for the attempt's
    /// milliseconds; stores record only where the attempt ended (see
    /// [`EventStatus::attempt_sources`]).
    Processing,
    /// An outage interrupted processing; another attempt is scheduled.
    Retrying,
    /// Validated and normalized. Final.
    Processed,
    /// The payload broke a rule. Final; never retried.
    ValidationError,
    /// Every attempt hit an outage. Final.
    Failed,
}

/// A move the status model does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal status transition from {from} to {to}")]
pub struct IllegalTransition {
    /// The current status.
    pub from: EventStatus,
    /// The refused target.
    pub to: EventStatus,
}

/// Text that names no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event status {0:?}")]
pub struct UnknownStatus(pub String);

impl EventStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [EventStatus; 6] = [
        Self::Enqueued,
        Self::Processing,
        Self::Retrying,
        Self::Processed,
        Self::ValidationError,
        Self::Failed,
    ];

    /// The stored and API spelling, e.g. `validation_error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Processing => "processing",
            Self::Retrying => "retrying",
            Self::Processed => "processed",
            Self::ValidationError => "validation_error",
            Self::Failed => "failed",
        }
    }

    /// Whether an event in this status counts as processed (the API's `processed` flag, and
    /// the one status that keeps a `processed_at`).
    pub const fn is_processed(self) -> bool {
        matches!(self, Self::Processed)
    }

    /// The statuses' names, comma-separated, for messages that list them.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// A final status never changes again.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Processed | Self::ValidationError | Self::Failed)
    }

    /// Whether the model allows moving from `self` to `to`.
    pub const fn can_become(self, to: EventStatus) -> bool {
        use EventStatus::*;
        matches!(
            (self, to),
            (Enqueued, Processing)
                | (
                    Processing,
                    Processing | Processed | ValidationError | Retrying
                )
                | (Retrying, Processing | Failed)
        )
    }

    /// Moves to `to`, or refuses with [`IllegalTransition`].
    ///
    /// ```
    /// use pulseboard_core::EventStatus::*;
    /// assert_eq!(Enqueued.transition(Processing), Ok(Processing));
    /// assert!(Processed.transition(Processing).is_err());
    /// ```
    pub fn transition(self, to: EventStatus) -> Result<EventStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// The statuses from which the model allows a move to `to`: what a store's conditional
    /// update must check before writing `to`.
    pub fn sources_of(to: EventStatus) -> Vec<EventStatus> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_become(to))
            .collect()
    }

    /// The statuses a processing attempt may start from: those that may become `processing`.
    ///
    /// An attempt moves its events to `processing` and on to where it ends (`processed`,
    /// `validation_error` or `retrying`) in one store write, because storing `processing` on its
    /// own would cost a whole extra row version per event. That one write must check these
    /// statuses, which include `processing` itself (an earlier attempt was cut short).
    ///
    /// ```
    /// use pulseboard_core::EventStatus::{self, *};
    /// assert_eq!(EventStatus::attempt_sources(), vec![Enqueued, Processing, Retrying]);
    /// assert!(EventStatus::attempt_sources().iter().all(|from| !from.is_final()));
    /// ```
    pub fn attempt_sources() -> Vec<EventStatus> {
        Self::sources_of(Self::Processing)
    }

    /// Whether an event in this status may be replayed: sent through processing again, back
    /// to `enqueued`, by its owner or an operator once the rules or the store were fixed. Only
    /// failures are: a processed event stays processed, and an unfinished one is on its way
    /// already (so replaying it changes nothing). Its attempts go on counting.
    ///
    /// ```
    /// use pulseboard_core::EventStatus::{self, *};
    /// assert_eq!(EventStatus::replay_sources(), vec![ValidationError, Failed]);
    /// assert!(!Processed.is_replayable() && !Enqueued.is_replayable());
    /// ```
    pub const fn is_replayable(self) -> bool {
        matches!(self, Self::ValidationError | Self::Failed)
    }

    /// The statuses a replay moves back to `enqueued`.
    pub fn replay_sources() -> Vec<EventStatus> {
        Self::ALL
            .into_iter()
            .filter(|status| status.is_replayable())
            .collect()
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}
