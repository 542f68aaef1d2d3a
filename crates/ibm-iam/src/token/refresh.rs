//! One request to IAM however many callers ask: the single flight, retries, and back-off
//! after failures.
//!
//! At most one exchange with IAM is in flight per manager. It runs in a spawned task, so it
//! completes even if the caller that started it is dropped, and its outcome (token or error)
//! reaches every caller that waits on it. A failure never replaces a valid cached token; the
//! next attempt is scheduled with jittered back-off, honouring `Retry-After`, and spread
//! over what is left of the token's life.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Inner;
use super::cache::Cached;
use super::response;
use crate::error::{Error, TransportKind};
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
    /// With no valid token cached, the delay after a failure is at most this (30 s by
    /// default), however many failures came before: callers are failing meanwhile, so once
    /// IAM is back they should not wait out a long back-off. `Retry-After` is still honoured.
    pub no_token_max_delay: Duration,
    /// While a token is still valid, the next attempt comes no later than this fraction of
    /// its remaining validity (so attempts spread over the remaining life)…
    pub spread_fraction: f64,
    /// …and no sooner than this.
    pub min_interval: Duration,
    /// Overall time allowed for an exchange, retries included: each attempt is cut short
    /// at what is left of it (or at the HTTP request timeout, if that comes first), and no
    /// retry starts that would end after it.
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
            no_token_max_delay: Duration::from_secs(30),
            spread_fraction: 0.25,
            min_interval: Duration::from_secs(1),
            deadline: Duration::from_secs(60),
        }
    }
}

/// The longest delay a [`RetryPolicy`] may ask for (back-off caps, `min_interval`,
/// `deadline`).
pub const MAX_POLICY_DELAY: Duration = Duration::from_secs(24 * 3600);

impl RetryPolicy {
    /// Checks the policy; [`TokenManagerBuilder::build`](super::TokenManagerBuilder::build)
    /// calls this and refuses an invalid one with [`Error::Config`] naming the field.
    ///
    /// `max_attempts` must be at least 1; `spread_fraction` a number in (0, 1]; each
    /// back-off's `base` at most its `max`; `deadline` non-zero; and every duration at most
    /// [`MAX_POLICY_DELAY`] (a day).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(format!("retry policy: {what}")));
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if !(self.spread_fraction > 0.0 && self.spread_fraction <= 1.0) {
            return bad("spread_fraction must be a number in (0, 1]");
        }
        for (name, b) in [
            ("retry_backoff", &self.retry_backoff),
            ("failure_backoff", &self.failure_backoff),
        ] {
            if b.base > b.max || b.max > MAX_POLICY_DELAY {
                return bad(&format!("{name} needs base <= max <= {MAX_POLICY_DELAY:?}"));
            }
        }
        if self.min_interval > MAX_POLICY_DELAY {
            return bad(&format!(
                "min_interval must be at most {MAX_POLICY_DELAY:?}"
            ));
        }
        if self.deadline.is_zero() || self.deadline > MAX_POLICY_DELAY {
            return bad(&format!(
                "deadline must be more than zero and at most {MAX_POLICY_DELAY:?}"
            ));
        }
        Ok(())
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

impl Control {
    /// The exchange in flight, if its task is alive. A flight whose task vanished without
    /// a word (its sender dropped, say with its runtime) is forgotten here, so that the next
    /// caller starts a new one instead of waiting on it for ever.
    fn live_flight(&mut self) -> Option<&watch::Receiver<Option<Outcome>>> {
        if self
            .inflight
            .as_ref()
            .is_some_and(watch::Receiver::is_closed)
        {
            self.inflight = None;
        }
        self.inflight.as_ref()
    }

    /// Whether an exchange is in flight.
    pub fn refreshing(&self) -> bool {
        self.inflight.as_ref().is_some_and(|rx| !rx.is_closed())
    }
}

impl Inner {
    pub(crate) fn control(&self) -> MutexGuard<'_, super::refresh::Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a background refresh unless one is in flight or the back-off says not yet.
    pub(crate) fn refresh_in_background(self: &Arc<Self>, now: Instant) {
        let mut ctl = self.control();
        if ctl.live_flight().is_some() || ctl.next_attempt_at.is_some_and(|t| now < t) {
            return;
        }
        tracing::debug!(
            source = self.source.describe(),
            "token refresh due; refreshing in the background"
        );
        let flight = self.begin(&mut ctl);
        drop(ctl);
        flight.launch(false);
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
        if let Some(rx) = ctl.live_flight() {
            return Step::Wait(rx.clone());
        }
        if let (Some(at), Some(err)) = (ctl.next_attempt_at, &ctl.last_error)
            && now < at
        {
            return Step::Fail(err.clone());
        }
        let flight = self.begin(&mut ctl);
        let rx = flight.rx.clone();
        // Spawned without the lock: a runtime that is shutting down drops the task at once,
        // and the flight's drop takes the lock.
        drop(ctl);
        flight.launch(true);
        Step::Wait(rx)
    }

    /// Registers a new flight; [`Flight::launch`] it once the lock is released.
    fn begin(self: &Arc<Self>, ctl: &mut Control) -> Flight {
        let (tx, rx) = watch::channel(None);
        ctl.inflight = Some(rx.clone());
        Flight {
            inner: self.clone(),
            rx,
            tx: Some(tx),
        }
    }

    /// When to try again after the `n`th consecutive failure.
    ///
    /// * While a valid token is cached: the failure back-off, spread over what is left of
    ///   the token's life (at most `spread_fraction` of it, at least `min_interval`), at
    ///   least `Retry-After`, and never later than the moment the token stops being served,
    ///   so that an attempt is due when callers would otherwise have none.
    /// * With none: the failure back-off capped at `no_token_max_delay`, and at least
    ///   `Retry-After`.
    fn delay_after_failure(&self, e: &Error, n: u32, now: Instant) -> Duration {
        let backoff = self.retry.failure_backoff.delay(n.saturating_sub(1));
        let retry_after = e.retry_after().unwrap_or_default();
        let remaining = self
            .cache
            .load()
            .as_ref()
            .filter(|c| now < c.expires_at)
            .map(|c| c.expires_at - now);
        match remaining {
            Some(remaining) => {
                let spread = Duration::try_from_secs_f64(
                    remaining.as_secs_f64() * self.retry.spread_fraction,
                )
                .unwrap_or(remaining);
                backoff
                    .min(spread)
                    .max(self.retry.min_interval)
                    .max(retry_after)
                    .min(remaining)
            }
            None => backoff.min(self.retry.no_token_max_delay).max(retry_after),
        }
    }

    async fn exchange_with_retries(&self, waited_for: bool) -> Outcome {
        let started = self.clock.now();
        let mut attempt: u32 = 0;
        loop {
            // Each attempt gets the request timeout, or what is left of the deadline if that
            // is less, so that callers never wait much past the deadline.
            let left = self
                .retry
                .deadline
                .saturating_sub(self.clock.now().saturating_duration_since(started));
            let timeout = self.request_timeout.min(left).max(Duration::from_millis(1));
            match self.exchange(timeout).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    if !waited_for || !e.is_transient() || attempt >= self.retry.max_attempts {
                        return Err(e);
                    }
                    let delay = e
                        .retry_after()
                        .unwrap_or_else(|| self.retry.retry_backoff.delay(attempt - 1));
                    let now = self.clock.now();
                    let elapsed = now.saturating_duration_since(started);
                    if elapsed.saturating_add(delay) > self.retry.deadline {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "retrying the IAM token request");
                    self.clock
                        .sleep_until(now.checked_add(delay).unwrap_or(now))
                        .await;
                }
            }
        }
    }

    /// One request to the token endpoint, given at most `timeout`.
    async fn exchange(&self, timeout: Duration) -> Outcome {
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
        let answer = http::send_within(req, &url, timeout).await?;
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

/// One exchange with IAM, from [`Inner::begin`] to its outcome.
///
/// Its normal end is [`Flight::complete`]: the cache and the bookkeeping are updated and the
/// outcome reaches every waiter. Dropped before that (its task was cancelled because its
/// runtime shut down, or it was never run), it clears the flight so that the next caller
/// starts a new one, and closes its channel so that the callers waiting on it start again
/// instead of being told "abandoned" for ever. A panic inside the exchange is caught and
/// completes the flight as a transient failure, with the usual back-off.
struct Flight {
    inner: Arc<Inner>,
    rx: watch::Receiver<Option<Outcome>>,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Flight {
    /// Spawns the exchange on the current runtime (callers checked that there is one;
    /// without one the flight is dropped, which clears it).
    fn launch(self, waited_for: bool) {
        let work = async move {
            let flight = self;
            let result =
                CatchUnwind(Box::pin(flight.inner.exchange_with_retries(waited_for))).await;
            let outcome = result.unwrap_or_else(|_| {
                Err(Error::Transport {
                    kind: TransportKind::Other,
                    url: flight.inner.endpoint.token_url(),
                    message: "the token request panicked".into(),
                })
            });
            flight.complete(outcome);
        };
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(work);
        }
    }

    fn complete(mut self, outcome: Outcome) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let me = &self.inner;
        {
            let mut ctl = me.control();
            let now = me.clock.now();
            match &outcome {
                Ok(c) => {
                    me.publish(Some(c.clone()));
                    c.arm(&me.clock);
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
                    ctl.consecutive_failures = ctl.consecutive_failures.saturating_add(1);
                    let delay = me.delay_after_failure(e, ctl.consecutive_failures, now);
                    ctl.next_attempt_at = Some(now.checked_add(delay).unwrap_or(now));
                    let valid_for = me
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
            self.forget_in(&mut ctl);
        }
        let _ = tx.send(Some(outcome));
    }

    /// Forgets this flight as the one in flight (unless a newer one has taken its place).
    fn forget_in(&self, ctl: &mut Control) {
        if ctl
            .inflight
            .as_ref()
            .is_some_and(|rx| rx.same_channel(&self.rx))
        {
            ctl.inflight = None;
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        self.forget_in(&mut self.inner.control());
        tracing::debug!(
            "the IAM token request was abandoned (its runtime shut down); the next caller starts a new one"
        );
        // Closing the channel tells the waiters to start again.
        drop(tx);
    }
}

/// Catches a panic of the future it wraps, as its output.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
