//! The worker's instruments and their exposition on `/metrics`.

use pulseboard_telemetry::prometheus::{
    Counter, Gauge, Histogram, write_counter, write_gauge, write_histogram,
};

/// The worker's instruments.
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    /// Events that became `processed`.
    pub processed: Counter,
    /// Events that became `validation_error`.
    pub rejected: Counter,
    /// Event attempts retried after an outage.
    pub retried: Counter,
    /// Events marked `failed` after the last retry.
    pub failed: Counter,
    /// Jobs started so far.
    pub jobs_started: Counter,
    /// Jobs running now.
    pub jobs_in_flight: Gauge,
    /// Seconds per job run.
    pub job_duration: Histogram,
    /// Seconds from acceptance to the processed commit, per event.
    pub accept_to_processed: Histogram,
    /// Events re-enqueued by the recovery sweep.
    pub recovered: Counter,
    /// Jobs' loads and outcome writes.
    pub store_calls: Counter,
    /// Statements that served them: fewer than the calls when running jobs shared them.
    pub store_statements: Counter,
    /// Queue workers replaced because their heartbeat stopped.
    pub stalled_workers: Counter,
}

impl WorkerMetrics {
    /// Appends this worker's metrics in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        write_counter(
            out,
            "pulseboard_events_processed_total",
            "Events processed successfully.",
            self.processed.get(),
        );
        write_counter(
            out,
            "pulseboard_events_rejected_total",
            "Events rejected by validation.",
            self.rejected.get(),
        );
        write_counter(
            out,
            "pulseboard_events_retried_total",
            "Event attempts retried after an outage.",
            self.retried.get(),
        );
        write_counter(
            out,
            "pulseboard_events_failed_total",
            "Events failed after the last retry.",
            self.failed.get(),
        );
        write_counter(
            out,
            "pulseboard_events_recovered_total",
            "Events re-enqueued by the recovery sweep.",
            self.recovered.get(),
        );
        write_counter(
            out,
            "pulseboard_worker_store_calls_total",
            "Loads and outcome writes of jobs.",
            self.store_calls.get(),
        );
        write_counter(
            out,
            "pulseboard_worker_store_statements_total",
            "Statements that served the jobs' loads and outcome writes (jobs running together share them).",
            self.store_statements.get(),
        );
        write_counter(
            out,
            "pulseboard_worker_stalls_total",
            "Queue workers replaced because their heartbeat stopped.",
            self.stalled_workers.get(),
        );
        write_gauge(
            out,
            "pulseboard_jobs_in_flight",
            "Jobs being processed now.",
            self.jobs_in_flight.get(),
        );
        write_histogram(
            out,
            "pulseboard_job_duration_seconds",
            "Time to process one job.",
            &self.job_duration,
        );
        write_histogram(
            out,
            "pulseboard_accept_to_processed_seconds",
            "Time from acceptance to the processed commit, per event.",
            &self.accept_to_processed,
        );
    }
}
