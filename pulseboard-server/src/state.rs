//! Shared state of the handlers.

use std::sync::Arc;

use pulseboard_store::EventStore;
use pulseboard_worker::{JobQueue, WorkerMetrics};

use crate::auth::{Passwords, Tokens};
use crate::ingest::Ingest;
use crate::metrics::ServerMetrics;
use crate::settings::Secret;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events per batch request.
    pub max_batch_events: usize,
}

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    /// Source of truth.
    pub store: Arc<dyn EventStore>,
    /// Where jobs go.
    pub queue: Arc<dyn JobQueue>,
    /// Accepting events.
    pub ingest: Arc<Ingest>,
    /// Password hashing.
    pub passwords: Passwords,
    /// Access tokens.
    pub tokens: Tokens,
    /// Request limits.
    pub limits: ApiLimits,
    /// HTTP-side metrics.
    pub metrics: Arc<ServerMetrics>,
    /// Worker metrics when the worker runs in this process.
    pub worker_metrics: Option<Arc<WorkerMetrics>>,
    /// Operator credential for the dashboard.
    pub operator_token: Option<Secret>,
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// The store.
    pub fn store(&self) -> &dyn EventStore {
        self.0.store.as_ref()
    }

    /// The queue.
    pub fn queue(&self) -> &dyn JobQueue {
        self.0.queue.as_ref()
    }

    /// The ingest path.
    pub fn ingest(&self) -> &Ingest {
        &self.0.ingest
    }

    /// Password hashing.
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }

    /// Token issuing and checking.
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }

    /// Request limits.
    pub fn limits(&self) -> ApiLimits {
        self.0.limits
    }

    /// HTTP metrics.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.0.metrics
    }

    /// Worker metrics, when the worker runs here.
    pub fn worker_metrics(&self) -> Option<&WorkerMetrics> {
        self.0.worker_metrics.as_deref()
    }

    /// The operator credential.
    pub fn operator_token(&self) -> Option<&Secret> {
        self.0.operator_token.as_ref()
    }
}
