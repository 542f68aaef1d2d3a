//! One request to IAM however many callers ask: the single flight, retries, and back-off
//! after failures.
//!
//! At most one exchange with IAM is in flight per manager. It runs in a spawned task, so it
//! completes even if the caller that started it is dropped, and its outcome (token or error)
//! reaches every caller that waits on it. A failure never replaces a valid cached token; the
//! next attempt is scheduled with jittered back-off, honouring `Retry-After`, and spread
//! over what is left of the token's life.

use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Inner;
use super::cache::Cached;
use super::response;
use crate::error::Error;
use crate::http::{self, retry::Backoff, retry::unit_random};
use crate::secret::AccessToken;

/// How a manager retries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per exchange that callers wait for (transient errors only).
    pub max_attempts: u32,
    /// Delay between those attempts (unless IAM says `Retry-After`).
    pub retry_backoff: Backoff,
    /// Delay before the next exchange after a failed one.
    pub failure_backoff: Backoff,
    /// While a token is still valid, the next attempt comes no later than this fraction of
    /// its remaining validity (so attempts spread over the remaining life)…
    pub spread_fraction: f64,
    /// …and no sooner than this.
    pub min_interval: Duration,
    /// Overall time allowed for an exchange that callers wait for, retries included.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            retry_backoff: Backoff {
                base: Duration::from_millis(250),
                max: Duration::from_secs(5),
            },
            failure_backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            spread_fraction: 0.25,
            min_interval: Duration::from_secs(1),
            deadline: Duration::from_secs(60),
        }
    }
}

pub(crate) type Outcome = Result<Arc<Cached>, Error>;

/// Bookkeeping behind the manager's lock (never held across an await).
#[derive(Default)]
pub(crate) struct Control {
    pub inflight: Option<watch::Receiver<Option<Outcome>>>,
    pub last_error: Option<Error>,
    pub consecutive_failures: u32,
    pub next_attempt_at: Option<Instant>,
    pub requests: u64,
    pub skew_seconds: Option<i64>,
}

/// What a caller should do.
pub(crate) enum Step {
    /// A valid token is at hand.
    Ready(AccessToken),
    /// Wait for the exchange in flight.
    Wait(watch::Receiver<Option<Outcome>>),
    /// Fail now (a recent failure, and the next attempt is not yet due).
    Fail(Error),
}

impl Inner {
    pub(crate) fn control(&self) -> MutexGuard<'_, super::refresh::Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a background refresh unless one is in flight or the back-off says not yet.
    pub(crate) fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        let mut ctl = self.control();
        if ctl.inflight.is_some() || ctl.next_attempt_at.is_some_and(|t| now < t) {
            return;
        }
        tracing::debug!(
            source = self.source.describe(),
            "token refresh due; refreshing in the background"
        );
        let rx = self.start(&mut ctl, false);
        drop(rx);
    }

    /// For a caller that needs a token valid until at least `need_until`.
    pub(crate) fn join_or_start(self: &Arc<Self>, now: Instant, need_until: Instant) -> Step {
        let mut ctl = self.control();
        // Re-check under the lock: an exchange may have just finished.
        if let Some(c) = self.cache.load().as_ref()
            && now < c.expires_at
            && need_until <= c.expires_at
        {
            return Step::Ready(c.token.clone());
        }
        if let Some(rx) = &ctl.inflight {
            return Step::Wait(rx.clone());
        }
        if let (Some(at), Some(err)) = (ctl.next_attempt_at, &ctl.last_error)
            && now < at
        {
            return Step::Fail(err.clone());
        }
        Step::Wait(self.start(&mut ctl, true))
    }

    fn start(
        self: &Arc<Self>,
        ctl: &mut Control,
        waited_for: bool,
    ) -> watch::Receiver<Option<Outcome>> {
        let (tx, rx) = watch::channel(None);
        ctl.inflight = Some(rx.clone());
        let me = self.clone();
        let work = async move {
            let outcome = me.exchange_with_retries(waited_for).await;
            me.finish(outcome, tx);
        };
        // Callers check for a runtime before they get here (`TokenManager::runtime_check`).
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(work);
        }
        rx
    }

    fn finish(&self, outcome: Outcome, tx: watch::Sender<Option<Outcome>>) {
        {
            let mut ctl = self.control();
            let now = self.clock.now();
            match &outcome {
                Ok(c) => {
                    self.cache.store(Some(c.clone()));
                    c.arm(&self.clock);
                    if ctl.consecutive_failures > 0 {
                        tracing::info!(
                            after_failures = ctl.consecutive_failures,
                            "IAM token obtained again"
                        );
                    }
                    ctl.last_error = None;
                    ctl.consecutive_failures = 0;
                    ctl.next_attempt_at = None;
                }
                Err(e) => {
                    ctl.consecutive_failures += 1;
                    let delay = self.delay_after_failure(e, ctl.consecutive_failures, now);
                    ctl.next_attempt_at = Some(now + delay);
                    let valid_for = self
                        .cache
                        .load()
                        .as_ref()
                        .map(|c| c.expires_at.saturating_duration_since(now));
                    tracing::warn!(
                        error = %e,
                        transient = e.is_transient(),
                        consecutive_failures = ctl.consecutive_failures,
                        next_attempt_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        cached_token_valid_for_s = valid_for.map(|d| d.as_secs()),
                        "getting an IAM token failed"
                    );
                    ctl.last_error = Some(e.clone());
                }
            }
            ctl.inflight = None;
        }
        let _ = tx.send(Some(outcome));
    }

    /// When to try again after the `n`th consecutive failure.
    fn delay_after_failure(&self, e: &Error, n: u32, now: Instant) -> Duration {
        let mut d = self.retry.failure_backoff.delay(n.saturating_sub(1));
        if let Some(c) = self.cache.load().as_ref()
            && now < c.expires_at
        {
            let remaining = c.expires_at - now;
            d = d
                .min(remaining.mul_f64(self.retry.spread_fraction))
                .max(self.retry.min_interval);
        }
        if let Some(ra) = e.retry_after() {
            d = d.max(ra);
        }
        d
    }

    async fn exchange_with_retries(&self, waited_for: bool) -> Outcome {
        let started = self.clock.now();
        let mut attempt = 0;
        loop {
            match self.exchange().await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    attempt += 1;
                    if !waited_for || !e.is_transient() || attempt >= self.retry.max_attempts {
                        return Err(e);
                    }
                    let delay = e
                        .retry_after()
                        .unwrap_or_else(|| self.retry.retry_backoff.delay(attempt - 1));
                    let now = self.clock.now();
                    if now + delay > started + self.retry.deadline {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "retrying the IAM token request");
                    self.clock.sleep_until(now + delay).await;
                }
            }
        }
    }

    /// One request to the token endpoint.
    async fn exchange(&self) -> Outcome {
        let params = self.source.params(self.scope.as_deref()).await?;
        let url = self.endpoint.token_url();
        let form: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (*k, v.expose_secret()))
            .collect();
        let mut req = self
            .http
            .post(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .headers(self.headers.clone())
            .form(&form);
        if let Some((id, secret)) = &self.client_credentials {
            req = req.basic_auth(id, Some(secret.expose_secret()));
        }
        let sent_at = self.clock.now();
        let sent_system = self.clock.system_now();
        self.control().requests += 1;
        let answer = http::send(req, &url).await?;
        if !(200..300).contains(&answer.status) {
            return Err(Error::Iam(answer.iam_error()));
        }
        let issued = response::parse(
            &answer,
            &url,
            sent_at,
            sent_system,
            self.lifecycle.expiry_window,
        )?;
        self.source
            .remember_refresh_token(issued.refresh_token.as_ref());
        self.control().skew_seconds = issued.skew_seconds;
        Ok(Arc::new(Cached::new(
            issued.token,
            issued.sent_at,
            issued.lifetime,
            &self.lifecycle,
            unit_random(),
        )))
    }
}
