//! Token verification for synchronous callers.
//!
//! [`TokenValidator`] owns a small Tokio runtime (one worker thread) on which key fetches
//! run. A token already verified is answered on the calling thread without waiting for
//! the runtime; when the key set is due for a refresh, that refresh is spawned on the
//! runtime and runs in the background, as in the async validator. Calling it from inside an async runtime returns [`VerifyError::Runtime`]
//! instead of deadlocking or panicking.

use std::sync::{Arc, OnceLock};

use super::{Claims, VerifyError};
use crate::endpoint::Endpoint;
use crate::error::Error;

struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        // Never blocks, so dropping the last handle is safe anywhere, even in async code.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(tokio::runtime::Runtime::handle)
    }

    fn new() -> Result<Self, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ibm-iam-verify")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
            .map_err(|e| Error::Runtime(format!("cannot start the background runtime: {e}")))
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, VerifyError>>,
    ) -> Result<T, VerifyError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(VerifyError::Runtime(
                "the blocking TokenValidator was called from inside an async runtime; use the async TokenValidator there".into(),
            ));
        }
        match &self.0 {
            Some(rt) => rt.block_on(f),
            None => Err(VerifyError::Runtime("the runtime is shut down".into())),
        }
    }
}

/// A blocking [`super::TokenValidator`]. Clones share the key set, the cache and the
/// runtime.
///
/// ```no_run
/// use ibm_iam::Endpoint;
/// use ibm_iam::verify::blocking::TokenValidator;
///
/// let validator = TokenValidator::new(Endpoint::production())?;
/// # let token = "";
/// let claims = validator.validate(token)?;
/// println!("{:?}", claims.iam_id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenValidator {
    inner: super::TokenValidator,
    rt: Arc<Runtime>,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("blocking::TokenValidator")
            .field(&self.inner)
            .finish()
    }
}

impl TokenValidator {
    /// A validator for `endpoint` with the default settings.
    pub fn new(endpoint: Endpoint) -> Result<Self, Error> {
        Self::from_async(super::TokenValidator::new(endpoint)?)
    }

    /// Wraps an async validator (built with [`super::TokenValidator::builder`]).
    pub fn from_async(inner: super::TokenValidator) -> Result<Self, Error> {
        Ok(Self {
            inner,
            rt: Arc::new(Runtime::new()?),
        })
    }

    /// See [`super::TokenValidator::validate`].
    pub fn validate(&self, token: &str) -> Result<Claims, VerifyError> {
        let probe = self.inner.probe(token);
        if let Some(c) = self.inner.cached(probe, token, self.rt.handle()) {
            return Ok(c);
        }
        self.rt.block_on(self.inner.validate_uncached(token, probe))
    }

    /// See [`super::TokenValidator::prefetch`].
    pub fn prefetch(&self) -> Result<(), VerifyError> {
        self.rt.block_on(self.inner.prefetch())
    }

    /// See [`super::TokenValidator::refresh_keys`].
    pub fn refresh_keys(&self) -> Result<(), VerifyError> {
        self.rt.block_on(self.inner.refresh_keys())
    }

    /// The async validator behind this one (same keys, same cache).
    pub fn as_async(&self) -> &super::TokenValidator {
        &self.inner
    }
}

/// The blocking form of [`super::validate_token`]: the seed's call, with keys cached per
/// endpoint for the life of the process.
pub fn validate_token(token: &str, endpoint: &Endpoint) -> Result<Claims, VerifyError> {
    static RT: OnceLock<Result<Runtime, Error>> = OnceLock::new();
    let rt = RT.get_or_init(Runtime::new);
    match rt {
        Ok(rt) => rt.block_on(super::validate_token(token, endpoint)),
        Err(e) => Err(VerifyError::Runtime(e.to_string())),
    }
}
