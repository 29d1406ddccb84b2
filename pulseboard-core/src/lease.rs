//! The recovery sweep's lease: how long unfinished events may go untouched before their job
//! counts as lost.

use std::time::Duration;

/// The lease, with the time limit of the attempts it must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Unfinished events untouched this long, whose job is not waiting in the queue, are
    /// enqueued again.
    pub duration: Duration,
    /// The longest an attempt may run.
    pub attempt_time_limit: Duration,
}

impl Lease {
    /// Whether a job whose events were last touched `waited` ago must touch them again as its
    /// attempt starts. The clock of a job waiting in the queue does not run (the sweep leaves
    /// waiting jobs alone), but once it runs, its attempt must end inside the lease, or the
    /// sweep would take the events of a running job for lost. A job that waited briefly needs
    /// no extra write.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pulseboard_core::Lease;
    ///
    /// let lease = Lease {
    ///     duration: Duration::from_secs(360),
    ///     attempt_time_limit: Duration::from_secs(300),
    /// };
    /// assert!(!lease.renew_at_start(Duration::from_millis(5)));
    /// assert!(!lease.renew_at_start(Duration::from_secs(59)));
    /// assert!(lease.renew_at_start(Duration::from_secs(60)));
    /// ```
    pub fn renew_at_start(&self, waited: Duration) -> bool {
        waited.saturating_add(self.attempt_time_limit) >= self.duration
    }
}
