//! The in-process queue of the embedded mode: an apalis in-memory backend fed by a channel.
//!
//! Nothing is persisted here on purpose: the events table is the durable record, and the recovery
//! sweep at start-up re-enqueues whatever a previous run left unfinished.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use apalis::prelude::{
    MemorySink, MemoryStorage, Task, TaskBuilder, TaskId, WorkerBuilder, WorkerBuilderExt,
};
use async_trait::async_trait;
use chrono::Utc;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use crate::handler::handle_task;
use crate::{JobContext, JobQueue, ProcessEvents, QueueError, QueueStats, WorkerHeartbeat};

/// Task ids of the jobs pushed and not yet taken by the worker; ULIDs sort by creation time.
type WaitingJobs = Arc<Mutex<BTreeSet<Ulid>>>;

/// Producer side of the in-process queue: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EmbeddedQueue {
    sender: UnboundedSender<Task<ProcessEvents>>,
    /// Made with the queue; it lives and dies with the process, as its jobs do.
    generation: Ulid,
    waiting: WaitingJobs,
    pushed: Arc<AtomicU64>,
    context: Arc<JobContext>,
    concurrency: usize,
}

/// Consumer side: run it with [`EmbeddedWorker::run`].
pub struct EmbeddedWorker {
    sender: UnboundedSender<Task<ProcessEvents>>,
    receiver: UnboundedReceiver<Task<ProcessEvents>>,
    waiting: WaitingJobs,
    context: Arc<JobContext>,
    concurrency: usize,
}

/// Creates the queue and the worker that drains it with `concurrency` jobs at a time.
pub fn embedded_queue(
    context: Arc<JobContext>,
    concurrency: usize,
) -> (EmbeddedQueue, EmbeddedWorker) {
    let (sender, receiver) = unbounded();
    let waiting = WaitingJobs::default();
    let queue = EmbeddedQueue {
        sender: sender.clone(),
        generation: Ulid::generate(),
        waiting: waiting.clone(),
        pushed: Arc::default(),
        context: context.clone(),
        concurrency,
    };
    (
        queue,
        EmbeddedWorker {
            sender,
            receiver,
            waiting,
            context,
            concurrency,
        },
    )
}

/// Why the in-process worker stopped before its shutdown.
#[derive(Debug, thiserror::Error)]
#[error("the in-process worker stopped: {0}")]
pub struct EmbeddedWorkerError(String);

impl EmbeddedWorker {
    /// Processes jobs until `shutdown` fires, then lets running jobs finish.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), EmbeddedWorkerError> {
        let sink = MemorySink::new(Arc::new(futures::lock::Mutex::new(Box::new(
            self.sender.sink_map_err(Into::into),
        ))));
        // A job stops waiting when the worker takes it from the channel.
        let waiting = self.waiting;
        let taken = self.receiver.map(move |task| {
            if let Some(id) = task.ctx().task_id().and_then(TaskId::as_ulid) {
                lock(&waiting).remove(&id);
            }
            task
        });
        let backend = MemoryStorage::new_with(sink, taken.boxed());
        let worker = WorkerBuilder::new("embedded")
            .backend(backend)
            .concurrency(self.concurrency)
            .data(self.context)
            .build(handle_task);
        worker
            .run_until(async move {
                shutdown.cancelled().await;
                Ok::<(), std::io::Error>(())
            })
            .await
            .map_err(|error| EmbeddedWorkerError(error.to_string()))
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    fn backend_name(&self) -> &'static str {
        "embedded"
    }

    async fn push(&self, task_id: Ulid, job: ProcessEvents) -> Result<(), QueueError> {
        let task = TaskBuilder::new(job)
            .task_id(TaskId::from_ulid(task_id))
            .build();
        lock(&self.waiting).insert(task_id);
        self.sender.unbounded_send(task).map_err(|_| {
            lock(&self.waiting).remove(&task_id);
            QueueError::Closed
        })?;
        self.pushed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn oldest_waiting(&self) -> Result<Option<Ulid>, QueueError> {
        Ok(lock(&self.waiting).first().copied())
    }

    async fn generation(&self) -> Result<Ulid, QueueError> {
        Ok(self.generation)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        if self.sender.is_closed() {
            return Err(QueueError::Closed);
        }
        let started = self.context.metrics.jobs_started.get();
        let in_flight = self.context.metrics.jobs_in_flight.get().max(0) as u64;
        Ok(QueueStats {
            pending_jobs: self.pushed.load(Ordering::Relaxed).saturating_sub(started),
            in_flight_jobs: in_flight,
            workers: vec![WorkerHeartbeat {
                name: "embedded".to_owned(),
                last_seen: Utc::now(),
                concurrency: Some(self.concurrency as u32),
            }],
        })
    }
}

/// The waiting set, even if a thread panicked while holding it (a set of ids stays valid).
fn lock(waiting: &WaitingJobs) -> std::sync::MutexGuard<'_, BTreeSet<Ulid>> {
    waiting
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
