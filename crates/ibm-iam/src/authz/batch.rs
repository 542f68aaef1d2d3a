//! Coalescing and micro-batching of PDP calls.
//!
//! Concurrent identical misses share one in-flight question. Distinct misses that arrive
//! within a short window (a few milliseconds, or as soon as 100 are queued) go to IAM in one
//! `/v2/authz` call, and the answers are handed back by index; an item's own error affects
//! only that item. Each batch runs in its own task, so it completes (and fills the cache)
//! even if every caller that asked has gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::PdpInner;
use super::cache::Key;
use super::types::{AuthzRequest, Decision};
use crate::error::Error;

/// At most this many items per `/v2/authz` call (IBM's enforcement library's limit).
pub const MAX_BATCH: usize = 100;

pub(crate) type Reply = oneshot::Sender<Result<Decision, Error>>;

pub(crate) struct Job {
    pub req: AuthzRequest,
    /// `None` for calls that bypass the cache (never coalesced).
    pub key: Option<Key>,
    /// Where to send the answer when not coalesced.
    pub reply: Option<Reply>,
}

#[derive(Default)]
pub(crate) struct Batcher {
    tx: OnceLock<mpsc::UnboundedSender<Job>>,
    pub inflight: Mutex<HashMap<Key, Vec<Reply>>>,
}

impl Batcher {
    /// Queues a job, starting the batching task on first use (inside the caller's runtime:
    /// nothing is spawned at construction).
    pub fn submit(&self, inner: &Arc<PdpInner>, job: Job) -> Result<(), Error> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let weak = Arc::downgrade(inner);
            tokio::spawn(run(weak, rx, inner.batch_window, inner.max_batch));
            tx
        });
        tx.send(job)
            .map_err(|_| Error::Runtime("the PDP batcher has stopped".into()))
    }

    /// Hands `result` to every caller waiting on `key`.
    pub fn complete(&self, key: &Key, result: &Result<Decision, Error>) {
        let waiters = self
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key)
            .unwrap_or_default();
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// Collects jobs into batches until the client is dropped.
async fn run(
    inner: std::sync::Weak<PdpInner>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    window: Duration,
    max: usize,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // The window restarts with every arrival (so a steady stream fills whole batches),
        // up to five windows after the first question.
        let hard = tokio::time::Instant::now() + window * 5;
        while batch.len() < max {
            let deadline = (tokio::time::Instant::now() + window).min(hard);
            tokio::select! {
                job = rx.recv() => match job {
                    Some(j) => batch.push(j),
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        // Jobs already queued join the batch even if the window closed while this task
        // was descheduled (Tokio's cooperative budget can pause it mid-drain).
        while batch.len() < max {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        tokio::spawn(async move { inner.process(batch).await });
    }
}
