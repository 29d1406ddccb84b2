//! The state every handler shares.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use pulseboard_store::{EventStore, StoreError, UserId};
use pulseboard_worker::{JobQueue, WorkerMetrics};

use crate::auth::{Passwords, Tokens};
use crate::ingest::Ingest;
use crate::metrics::ServerMetrics;
use crate::settings::Secret;
use crate::throttle::{SenderRates, ThrottleSettings};
use crate::write_keys::WriteKeys;

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most events per batch request.
    pub max_batch_events: usize,
    /// Largest request body of the SDK protocol routes, after inflating, in bytes.
    pub max_sdk_body_bytes: usize,
    /// Longest a handler waits for the whole body.
    pub body_read_timeout: std::time::Duration,
}

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<AppServices>,
    known_users: Arc<KnownUsers>,
    sender_rates: Arc<SenderRates>,
}

/// Ids of users seen in the store since start. Users are never deleted, so an id once found
/// stays valid, and a token costs a store lookup only the first time its user is seen.
#[derive(Debug, Default)]
pub(crate) struct KnownUsers(RwLock<HashSet<UserId>>);

impl KnownUsers {
    fn contains(&self, id: UserId) -> bool {
        self.0.read().map(|ids| ids.contains(&id)).unwrap_or(false)
    }

    fn insert(&self, id: UserId) {
        if let Ok(mut ids) = self.0.write() {
            ids.insert(id);
        }
    }
}

/// The parts of [`AppState`].
pub struct AppServices {
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
    /// Write key look-ups and use counts.
    pub write_keys: Arc<WriteKeys>,
    /// Login throttling and sender rates.
    pub throttle: ThrottleSettings,
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: AppServices) -> Self {
        Self {
            sender_rates: Arc::new(SenderRates::new(shared.throttle.sender_rate)),
            shared: Arc::new(shared),
            known_users: Arc::default(),
        }
    }

    /// Whether `id` names a stored user: a validly signed token may outlive its user (or
    /// come from another installation sharing the secret).
    pub(crate) async fn user_exists(&self, id: UserId) -> Result<bool, StoreError> {
        if self.known_users.contains(id) {
            return Ok(true);
        }
        let found = self.store().find_user(id).await?.is_some();
        if found {
            self.known_users.insert(id);
        }
        Ok(found)
    }

    /// The store.
    pub fn store(&self) -> &dyn EventStore {
        self.shared.store.as_ref()
    }

    /// The store, shared: for work that outlives the handler (a streamed export).
    pub fn shared_store(&self) -> Arc<dyn EventStore> {
        self.shared.store.clone()
    }

    /// The queue.
    pub fn queue(&self) -> &dyn JobQueue {
        self.shared.queue.as_ref()
    }

    /// The ingest path.
    pub fn ingest(&self) -> &Ingest {
        &self.shared.ingest
    }

    /// Password hashing.
    pub fn passwords(&self) -> &Passwords {
        &self.shared.passwords
    }

    /// Token issuing and checking.
    pub fn tokens(&self) -> &Tokens {
        &self.shared.tokens
    }

    /// Request limits.
    pub fn limits(&self) -> ApiLimits {
        self.shared.limits
    }

    /// HTTP metrics.
    pub fn metrics(&self) -> &ServerMetrics {
        &self.shared.metrics
    }

    /// HTTP metrics, shared: for the connection loop.
    pub(crate) fn shared_metrics(&self) -> Arc<ServerMetrics> {
        self.shared.metrics.clone()
    }

    /// Worker metrics, when the worker runs here.
    pub fn worker_metrics(&self) -> Option<&WorkerMetrics> {
        self.shared.worker_metrics.as_deref()
    }

    /// The operator credential.
    pub fn operator_token(&self) -> Option<&Secret> {
        self.shared.operator_token.as_ref()
    }

    /// Write keys.
    pub fn write_keys(&self) -> &WriteKeys {
        &self.shared.write_keys
    }

    /// What is throttled.
    pub fn throttle(&self) -> &ThrottleSettings {
        &self.shared.throttle
    }

    /// Senders' token buckets.
    pub(crate) fn sender_rates(&self) -> &SenderRates {
        &self.sender_rates
    }
}
