//! Access tokens for calling IBM Cloud APIs: [`TokenManager`] exchanges an API key (or a
//! trusted profile, a refresh token, …) for an IAM access token and caches it.
//!
//! The cache follows IAM's own semantics (wire reference §6): a token is refreshed from 80%
//! of its life (a little earlier, with jitter) and no longer served 10 s before it expires.
//!
//! * While fresh, [`TokenManager::get_token`] is a lock-free read.
//! * Once a refresh is due, every caller still gets the cached token at once while exactly
//!   one refresh runs in the background. A failed refresh never replaces the valid token
//!   and is never raised to a caller while it is valid; the next attempt backs off with
//!   jitter, honours `Retry-After`, is spread over the remaining life, and is never later
//!   than the moment the token stops being served.
//! * When no valid token is left, callers wait on exactly one shared request, and its token
//!   or its error reaches all of them. Permanent errors (an unknown API key) fail fast with
//!   IAM's `errorCode`, status and transaction id; the manager recovers as soon as a later
//!   attempt succeeds. With no valid token the cool-down between attempts is short (at most
//!   [`RetryPolicy::no_token_max_delay`], 30 s, unless IAM says `Retry-After`), so callers
//!   do not keep failing for minutes once IAM is back.
//!
//! Expiry is measured on the monotonic clock from `expires_in`. Handles are cheap to clone
//! and share one cache; background work ends when the last handle is dropped. The async API
//! needs a Tokio runtime; [`crate::blocking::TokenManager`] serves synchronous callers.

mod builder;
mod cache;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod local;
mod refresh;
mod response;
mod source;
mod status;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use reqwest::header::HeaderMap;

pub use builder::TokenManagerBuilder;
pub use cache::{Lifecycle, MAX_TOKEN_LIFETIME};
pub use refresh::{MAX_POLICY_DELAY, RetryPolicy};
pub use source::{ContainerAuth, DEFAULT_CR_TOKEN_FILES, Profile};
pub use status::TokenStatus;

use crate::clock::Clock;
use crate::endpoint::Endpoint;
use crate::error::{Error, TransportKind};
use crate::secret::{AccessToken, SecretString};
use cache::Cached;
use refresh::{Control, Step};
use source::Source;

/// A cached, self-refreshing source of IAM access tokens.
///
/// ```no_run
/// # async fn demo() -> Result<(), ibm_iam::Error> {
/// use ibm_iam::TokenManager;
///
/// let tm = TokenManager::new("my-api-key")?;
/// let token = tm.get_token().await?;
/// let header = token.bearer_header(); // Authorization: Bearer …
/// # drop(header); Ok(()) }
/// ```
///
/// Build once and share: clones are handles to the same cache.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("source", &self.inner.source.describe())
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    source: Source,
    endpoint: Endpoint,
    http: reqwest::Client,
    request_timeout: Duration,
    client_credentials: Option<(String, SecretString)>,
    scope: Option<String>,
    headers: HeaderMap,
    clock: Arc<dyn Clock>,
    lifecycle: Lifecycle,
    retry: RetryPolicy,
    cache: ArcSwapOption<Cached>,
    /// Changes (to a number no manager had) after every change of `cache`: the key of the
    /// threads' copies of the token (see `local`).
    generation: AtomicU64,
    control: Mutex<Control>,
}

impl Inner {
    /// Replaces the cached token, then moves to a new generation (in that order: a thread
    /// that sees the new generation sees the new token).
    fn publish(&self, cached: Option<Arc<Cached>>) {
        self.cache.store(cached);
        self.bump_generation();
    }

    fn bump_generation(&self) {
        self.generation
            .store(local::next_generation(), Ordering::Release);
    }
}

impl TokenManager {
    /// A manager for an API key against production IAM, with default settings.
    pub fn new(api_key: impl Into<String>) -> Result<Self, Error> {
        Self::builder().api_key(api_key).build()
    }

    /// A builder for every other source and setting.
    pub fn builder() -> TokenManagerBuilder {
        TokenManagerBuilder::default()
    }

    /// The endpoint tokens come from.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// A valid access token: the cached one while it is valid, else a new one.
    pub async fn get_token(&self) -> Result<AccessToken, Error> {
        // This thread's own copy of the cached token, while it is fresh: no reference count
        // shared with other threads, no load of the shared pointer.
        let generation = self.inner.generation.load(Ordering::Acquire);
        if let Some(t) = local::get(generation) {
            return Ok(t);
        }
        if let Some(c) = self.inner.cache.load().as_ref()
            && c.is_fresh()
        {
            let owner = Arc::as_ptr(&self.inner) as usize;
            return Ok(local::put(owner, generation, c));
        }
        match self.cached_answer(Duration::ZERO) {
            ControlFlow::Break(answer) => answer,
            // Boxed, so that every call's future (the fast path's too) does not carry, and
            // move, the wait's large state; a read the cache answers allocates nothing.
            ControlFlow::Continue(need_until) => {
                Box::pin(self.wait_for_token(Duration::ZERO, need_until)).await
            }
        }
    }

    /// A token that stays valid for at least `duration` (for long operations). Fetches a
    /// new one if the cached token expires sooner; fails with
    /// [`Error::InsufficientValidity`] if IAM's tokens do not live that long (at once, with
    /// no request, beyond [`MAX_TOKEN_LIFETIME`]).
    pub async fn get_token_valid_for(&self, duration: Duration) -> Result<AccessToken, Error> {
        match self.cached_answer(duration) {
            ControlFlow::Break(answer) => answer,
            ControlFlow::Continue(need_until) => self.wait_for_token(duration, need_until).await,
        }
    }

    /// What can be answered without waiting, for a caller that needs a token valid for
    /// `min_valid`: `Break` with the answer (the static token, the cached one, or an
    /// error), else `Continue` with the instant a new token must be valid until.
    fn cached_answer(
        &self,
        min_valid: Duration,
    ) -> ControlFlow<Result<AccessToken, Error>, Instant> {
        if let Source::Static(t) = &self.inner.source {
            return ControlFlow::Break(Ok(t.clone()));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return ControlFlow::Break(Err(Error::Runtime(
                "the async TokenManager needs a Tokio runtime; use ibm_iam::blocking::TokenManager from synchronous code".into(),
            )));
        }
        let inner = &self.inner;
        let now = inner.clock.now();
        let cached = inner.cache.load_full();
        let Some(need_until) = now
            .checked_add(min_valid)
            .filter(|_| min_valid <= MAX_TOKEN_LIFETIME)
        else {
            // No token lives that long: say so without asking IAM.
            return ControlFlow::Break(Err(Error::InsufficientValidity {
                wanted: min_valid,
                available: cached
                    .map(|c| c.expires_at.saturating_duration_since(now))
                    .unwrap_or_default(),
            }));
        };
        if let Some(c) = cached
            && now < c.expires_at
            && need_until <= c.expires_at
        {
            if now >= c.refresh_at {
                inner.refresh_in_background(now);
            } else {
                // Fresh, yet not marked so: its timer died with the runtime it ran on. A
                // new one on this runtime brings back the lock-free path.
                c.arm(&inner.clock);
            }
            return ControlFlow::Break(Ok(c.token.clone()));
        }
        ControlFlow::Continue(need_until)
    }

    /// Waits for a token valid until `need_until` (for `min_valid` from when it arrives),
    /// joining the exchange in flight or starting one.
    async fn wait_for_token(
        &self,
        min_valid: Duration,
        need_until: Instant,
    ) -> Result<AccessToken, Error> {
        let inner = &self.inner;
        // A flight abandoned by its runtime closes without an outcome: start again, a few
        // times, rather than report it.
        for _ in 0..3 {
            let now = inner.clock.now();
            let need_until = now.checked_add(min_valid).unwrap_or(need_until);
            let mut rx = match inner.join_or_start(now, need_until) {
                Step::Ready(t) => return Ok(t),
                Step::Fail(e) => return Err(e),
                Step::Wait(rx) => rx,
            };
            let outcome = match rx.wait_for(Option::is_some).await {
                Ok(v) => v.clone(),
                Err(_) => None,
            };
            match outcome {
                Some(Ok(c)) => {
                    let now = inner.clock.now();
                    if now.checked_add(min_valid).is_none_or(|t| t > c.expires_at) {
                        return Err(Error::InsufficientValidity {
                            wanted: min_valid,
                            available: c.expires_at.saturating_duration_since(now),
                        });
                    }
                    return Ok(c.token.clone());
                }
                Some(Err(e)) => return Err(e),
                None => continue,
            }
        }
        Err(Error::Transport {
            kind: TransportKind::Other,
            url: inner.endpoint.token_url(),
            message: "the token request was abandoned again and again (runtimes shutting down)"
                .into(),
        })
    }

    /// Drops the cached token if it is `token` (say, after IAM or a service answered 401
    /// to it), so the next call fetches a new one. A stale 401 for an older token cannot
    /// drop a newer one. Returns whether the token was dropped.
    pub fn invalidate(&self, token: &AccessToken) -> bool {
        let current = self.inner.cache.load_full();
        match current {
            Some(c) if c.token == *token => {
                let prev = self.inner.cache.compare_and_swap(&Some(c.clone()), None);
                let dropped = prev.as_ref().is_some_and(|p| Arc::ptr_eq(p, &c));
                if dropped {
                    self.inner.bump_generation();
                    tracing::info!("cached IAM token invalidated");
                }
                dropped
            }
            _ => false,
        }
    }

    /// Gets a token now, so the first real caller does not wait; gives up after `deadline`.
    pub async fn prefetch(&self, deadline: Duration) -> Result<(), Error> {
        match tokio::time::timeout(deadline, self.get_token()).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(Error::Transport {
                kind: TransportKind::Timeout,
                url: self.inner.endpoint.token_url(),
                message: format!("no token within the prefetch deadline of {deadline:?}"),
            }),
        }
    }

    /// How long a static token stays valid, by its JWT `exp` and this machine's clock.
    fn static_validity(&self, token: &AccessToken) -> Option<Duration> {
        let Ok((Some(exp), _)) = response::jws_times(token.expose_secret()) else {
            return Some(Duration::MAX);
        };
        let now = self
            .inner
            .clock
            .system_now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        let left = u64::try_from(exp)
            .ok()?
            .checked_sub(now)
            .map(Duration::from_secs)?
            .checked_sub(self.inner.lifecycle.expiry_window)?;
        (!left.is_zero()).then_some(left)
    }

    /// A snapshot for readiness probes and dashboards.
    ///
    /// A static bearer token is ready from the start: `valid_for` runs to its JWT `exp`
    /// (less the expiry window) when it has one, and is `Duration::MAX` when it has none.
    pub fn status(&self) -> TokenStatus {
        let now = self.inner.clock.now();
        let cached = self.inner.cache.load_full();
        let ctl = self.inner.control();
        let valid_for = match &self.inner.source {
            Source::Static(t) => self.static_validity(t),
            _ => cached
                .as_ref()
                .filter(|c| now < c.expires_at)
                .map(|c| c.expires_at - now),
        };
        TokenStatus {
            valid_for,
            refresh_due: cached.as_ref().is_some_and(|c| now >= c.refresh_at),
            refreshing: ctl.refreshing(),
            last_error: ctl.last_error.clone(),
            consecutive_failures: ctl.consecutive_failures,
            next_attempt_in: ctl
                .next_attempt_at
                .map(|t| t.saturating_duration_since(now)),
            requests: ctl.requests,
            clock_skew_seconds: ctl.skew_seconds,
        }
    }
}
