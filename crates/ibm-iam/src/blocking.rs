//! A synchronous facade for callers without an async runtime.
//!
//! It owns a small Tokio runtime (one worker thread) on which the manager's background
//! refreshes and timers run; calls block the calling thread only. Calling it from inside an
//! async runtime returns [`Error::Runtime`] instead of deadlocking or panicking.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::secret::AccessToken;
use crate::token::TokenStatus;

struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        // Never blocks, so dropping the last handle is safe anywhere, even in async code.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A blocking [`crate::TokenManager`]. Clones share the cache and the runtime.
///
/// ```no_run
/// let tm = ibm_iam::blocking::TokenManager::new("my-api-key")?;
/// let token = tm.get_token()?;
/// # drop(token); Ok::<(), ibm_iam::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenManager {
    inner: crate::TokenManager,
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("blocking::TokenManager")
            .field(&self.inner)
            .finish()
    }
}

impl TokenManager {
    /// A manager for an API key against production IAM.
    pub fn new(api_key: impl Into<String>) -> Result<Self, Error> {
        Self::from_async(crate::TokenManager::new(api_key)?)
    }

    /// Wraps an async manager (built with [`crate::TokenManager::builder`]).
    pub fn from_async(inner: crate::TokenManager) -> Result<Self, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ibm-iam-blocking")
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime(format!("cannot start the background runtime: {e}")))?;
        Ok(Self {
            inner,
            rt: Arc::new(Runtime(Some(rt))),
        })
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::Runtime(
                "the blocking TokenManager was called from inside an async runtime; use the async TokenManager there".into(),
            ));
        }
        match &self.rt.0 {
            Some(rt) => rt.block_on(f),
            None => Err(Error::Runtime("the runtime is shut down".into())),
        }
    }

    /// See [`crate::TokenManager::get_token`].
    pub fn get_token(&self) -> Result<AccessToken, Error> {
        self.block_on(self.inner.get_token())
    }

    /// See [`crate::TokenManager::get_token_valid_for`].
    pub fn get_token_valid_for(&self, duration: Duration) -> Result<AccessToken, Error> {
        self.block_on(self.inner.get_token_valid_for(duration))
    }

    /// See [`crate::TokenManager::invalidate`].
    pub fn invalidate(&self, token: &AccessToken) -> bool {
        self.inner.invalidate(token)
    }

    /// See [`crate::TokenManager::prefetch`].
    pub fn prefetch(&self, deadline: Duration) -> Result<(), Error> {
        self.block_on(self.inner.prefetch(deadline))
    }

    /// See [`crate::TokenManager::status`].
    pub fn status(&self) -> TokenStatus {
        self.inner.status()
    }

    /// The async manager behind this one (same cache).
    pub fn as_async(&self) -> &crate::TokenManager {
        &self.inner
    }
}
