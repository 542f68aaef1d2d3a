//! Coalescing and micro-batching of PDP calls.
//!
//! Concurrent identical misses share one in-flight question. Distinct misses that arrive
//! within a short window (a few milliseconds, or as soon as 100 are queued) go to IAM in one
//! `/v2/authz` call, and the answers are handed back by index; an item's own error affects
//! only that item. Each batch runs in its own task, so it completes (and fills the cache)
//! even if every caller that asked has gone.
//!
//! **Bounded.** At most `max_in_flight` distinct questions are queued or being asked at
//! once (each holds a slot from a semaphore until it is answered), and at most
//! `max_concurrent_calls` PDP calls run at once. A caller with a new question waits for a
//! slot (backpressure); callers asking a question already in flight join it without one.
//! So the in-flight map, the queue and the number of batch tasks are all bounded, whatever
//! the load.
//!
//! **Robust.** No task outlives its work: a collector task is started, on the runtime of
//! the caller that finds none running, when the first question of a burst arrives, and it
//! ends when the queue is empty. A runtime that shuts down therefore takes no batcher with
//! it: the next question starts a new collector on the caller's runtime. Every queued or
//! in-flight question is owned by a [`Job`] whose drop answers its callers with an error
//! if it was not answered: a batch task that panics, or that is dropped with its runtime,
//! releases everyone waiting on it instead of leaving later identical checks hanging.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};

use super::PdpInner;
use super::cache::Key;
use super::types::{AuthzRequest, Decision};
use crate::error::Error;

/// At most this many items per `/v2/authz` call (IBM's enforcement library's limit).
pub const MAX_BATCH: usize = 100;

pub(crate) type Reply = oneshot::Sender<Result<Decision, Error>>;

/// Callers waiting on each coalesced question.
type Waiters = Arc<Mutex<HashMap<Key, Vec<Reply>>>>;

fn abandoned() -> Error {
    Error::Runtime(
        "the PDP call was abandoned (its task panicked or its runtime shut down); ask again".into(),
    )
}

/// Hands `result` to every caller waiting on `key`.
fn complete(waiters: &Waiters, key: &Key, result: &Result<Decision, Error>) {
    let list = waiters
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(key)
        .unwrap_or_default();
    for w in list {
        let _ = w.send(result.clone());
    }
}

/// One question on its way to IAM, holding its in-flight slot. Dropped unanswered, it
/// answers its callers with an error.
pub(crate) struct Job {
    pub req: AuthzRequest,
    /// The coalescing key (`None` for calls that bypass the cache: never coalesced).
    key: Option<Key>,
    /// Where to send the answer when not coalesced.
    reply: Option<Reply>,
    waiters: Waiters,
    _slot: OwnedSemaphorePermit,
}

impl Job {
    /// Answers everyone who asked this question.
    pub fn answer(mut self, result: &Result<Decision, Error>) {
        self.finish(result);
    }

    fn finish(&mut self, result: &Result<Decision, Error>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(result.clone());
        }
        if let Some(key) = self.key.take() {
            complete(&self.waiters, &key, result);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.reply.is_some() || self.key.is_some() {
            self.finish(&Err(abandoned()));
        }
    }
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Whether a collector task is running (and will see what is queued).
    collecting: bool,
}

pub(crate) struct Batcher {
    queue: Mutex<Queue>,
    /// Wakes the collector on each arrival.
    arrived: Notify,
    waiters: Waiters,
    /// One per distinct question queued or in flight.
    slots: Arc<Semaphore>,
    /// One per PDP call in progress.
    calls: Arc<Semaphore>,
    window: Duration,
    max: usize,
}

/// What [`Batcher::join_or_lead`] decided.
pub(crate) enum Joined {
    /// An identical question is in flight: its answer will come.
    Joined,
    /// This caller asks: here is its slot.
    Lead(OwnedSemaphorePermit),
}

impl Batcher {
    pub fn new(window: Duration, max: usize, max_in_flight: usize, max_calls: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                collecting: false,
            }),
            arrived: Notify::new(),
            waiters: Arc::default(),
            slots: Arc::new(Semaphore::new(max_in_flight)),
            calls: Arc::new(Semaphore::new(max_calls)),
            window,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a question that is not coalesced (waits while all are taken).
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| abandoned())
    }

    /// Joins the identical question in flight, or takes a slot to ask it (waiting while all
    /// slots are taken), registering `reply` either way.
    pub async fn join_or_lead(&self, key: Key, reply: Reply) -> Result<Joined, Error> {
        {
            let mut w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(list) = w.get_mut(&key) {
                list.push(reply);
                return Ok(Joined::Joined);
            }
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                w.insert(key, vec![reply]);
                return Ok(Joined::Lead(slot));
            }
        }
        let slot = self.slot().await?;
        let mut w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = w.get_mut(&key) {
            // Someone asked it while this caller waited: join them, give the slot back.
            list.push(reply);
            return Ok(Joined::Joined);
        }
        w.insert(key, vec![reply]);
        Ok(Joined::Lead(slot))
    }

    /// A job for `req`: coalesced under `key` (whose callers are already registered), or
    /// answering `reply`.
    pub fn job(
        &self,
        req: AuthzRequest,
        key: Option<Key>,
        reply: Option<Reply>,
        slot: OwnedSemaphorePermit,
    ) -> Job {
        Job {
            req,
            key,
            reply,
            waiters: self.waiters.clone(),
            _slot: slot,
        }
    }

    /// Queues a job, starting a collector on the caller's runtime when none is running.
    /// Needs a Tokio runtime (the caller checks).
    pub fn submit(&self, inner: &Arc<PdpInner>, job: Job) {
        let start = {
            let mut q = self.lock();
            q.jobs.push_back(job);
            !std::mem::replace(&mut q.collecting, true)
        };
        if start {
            // The guard is made here, not inside the task: a task dropped before its first
            // poll (its runtime is shutting down) still resets `collecting`.
            tokio::spawn(collect(Collecting {
                inner: inner.clone(),
                armed: true,
            }));
        } else {
            self.arrived.notify_one();
        }
    }
}

/// Marks the collector stopped when its task ends, and, if it ends without having emptied
/// the queue (its runtime shut down, or it panicked), fails what is queued.
struct Collecting {
    inner: Arc<PdpInner>,
    armed: bool,
}

impl Drop for Collecting {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let orphans: Vec<Job> = {
            let mut q = self.inner.batcher.lock();
            q.collecting = false;
            q.jobs.drain(..).collect()
        };
        drop(orphans);
    }
}

/// Collects queued jobs into batches and sends each in its own task, until the queue is
/// empty.
async fn collect(mut guard: Collecting) {
    let inner = guard.inner.clone();
    let b = &inner.batcher;
    loop {
        // The window restarts with every arrival (so a steady stream fills whole batches),
        // up to five windows after the batch's first question.
        if !b.window.is_zero() {
            let hard = tokio::time::Instant::now() + b.window * 5;
            while b.lock().jobs.len() < b.max {
                let deadline = (tokio::time::Instant::now() + b.window).min(hard);
                tokio::select! {
                    () = b.arrived.notified() => {}
                    () = tokio::time::sleep_until(deadline) => break,
                }
                if tokio::time::Instant::now() >= hard {
                    break;
                }
            }
        }
        // Wait for a call slot; questions arriving meanwhile join the batch.
        let Ok(call) = b.calls.clone().acquire_owned().await else {
            return;
        };
        let batch: Vec<Job> = {
            let mut q = b.lock();
            let n = q.jobs.len().min(b.max);
            q.jobs.drain(..n).collect()
        };
        if !batch.is_empty() {
            let inner = inner.clone();
            tokio::spawn(async move {
                let _call = call;
                inner.process(batch).await;
            });
        }
        let mut q = b.lock();
        if q.jobs.is_empty() {
            q.collecting = false;
            guard.armed = false;
            return;
        }
    }
}
