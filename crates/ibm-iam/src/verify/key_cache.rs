//! Fetching and caching the key set: fresh keys without waiting, one fetch however many
//! callers need one, and no fetch storm whatever tokens arrive.
//!
//! A key set's life, measured from the request that fetched it (injected clock):
//!
//! | age | a token with a known `kid` | background |
//! |---|---|---|
//! | < `max_age − refresh_ahead` | verified at once | – |
//! | < `max_age` | verified at once | one refresh starts |
//! | ≥ `max_age`, fetches working | waits for the refresh (one for all); if it fails, the old keys serve | – |
//! | < `max_age + stale_for`, fetches failing | the old keys serve at once | retries, backing off |
//! | ≥ `max_age + stale_for` | waits for a fetch; fails if it fails | – |
//!
//! An **unknown `kid`** joins the fetch in flight, or starts one unless a fetch started less
//! than `cooldown` ago or the back-off after a failure is running: at most one fetch per
//! cooldown, shared by every waiter, however many tokens with invented kids arrive. A
//! caller that looked at an older set than the current one uses the current one. The
//! answer is [`VerifyError::UnknownKey`] (a verdict) only when the last fetch succeeded
//! and lacks the `kid`; while fetches are failing (the fetch for it failed, or the
//! cooldown or back-off after a failed fetch holds the next one) it is
//! [`VerifyError::KeysUnavailable`] with the last fetch error (transient: the key may
//! exist, it could not be looked for).
//!
//! Every fetch runs in a spawned task (a caller that gives up does not cancel it for the
//! others) and is `GET {endpoint}/identity/keys` through the crate's HTTP client (or the
//! caller's): HTTPS only (plain HTTP only to loopback), no redirects followed or accepted,
//! a 1 MiB cap, the request timeout set on each request (see [`super::fetch`]). A fetch whose
//! answer is not 200 or holds no usable key fails and never replaces the keys in use. When
//! the issuer must be discovered, the first fetch also reads
//! `{endpoint}/identity/.well-known/openid-configuration`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::watch;

use super::cache::TokenCache;
use super::error::{VerifyError, cut};
use super::fetch;
use super::jwks::{KeySet, RsaKey};
use crate::clock::Clock;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::http::retry::Backoff;

/// How the key set is kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeySettings {
    pub max_age: Duration,
    pub refresh_ahead: Duration,
    pub cooldown: Duration,
    pub stale_for: Duration,
    pub backoff: Backoff,
}

impl KeySettings {
    /// How long after a fetch its keys may still serve: `max_age + stale_for`, saturating
    /// (the builder bounds both; this never panics whatever they are).
    pub fn usable_for(&self) -> Duration {
        self.max_age.saturating_add(self.stale_for)
    }
}

/// Whether `now` is less than `span` after `since` (an end past the clock's range is never
/// reached).
fn within(now: Instant, since: Instant, span: Duration) -> bool {
    since.checked_add(span).is_none_or(|end| now < end)
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(600),
            refresh_ahead: Duration::from_secs(120),
            cooldown: Duration::from_secs(30),
            stale_for: Duration::from_secs(3600),
            backoff: Backoff {
                base: Duration::from_secs(2),
                max: Duration::from_secs(120),
            },
        }
    }
}

/// A key set in use, with what was discovered along with it.
pub(crate) struct Snapshot {
    pub keys: KeySet,
    pub issuer: Option<Arc<str>>,
    pub fetched_at: Instant,
    /// Pinned by the caller: never refreshed, never stale.
    pub pinned: bool,
}

type Outcome = Result<Arc<Snapshot>, Error>;

#[derive(Default)]
struct Control {
    inflight: Option<watch::Receiver<Option<Outcome>>>,
    last_attempt: Option<Instant>,
    failures: u32,
    next_attempt_at: Option<Instant>,
    last_error: Option<Error>,
    fetches: u64,
}

/// A snapshot of the key cache's state, for status pages and tests.
#[derive(Debug, Clone)]
pub(crate) struct KeyStatus {
    pub kids: Vec<String>,
    pub age: Option<Duration>,
    pub fetches: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<Error>,
    pub issuer: Option<String>,
}

enum Phase {
    /// Use it.
    Fresh,
    /// Use it and refresh in the background.
    RefreshDue,
    /// Wait for a refresh; on failure use it.
    MustRefresh,
    /// Fetches are failing: use it, retry in the background.
    ServeStale,
    /// Too old to use.
    Unusable,
}

pub(crate) struct KeyCache {
    endpoint: Endpoint,
    http: Option<reqwest::Client>,
    /// Set on every request, whatever timeouts the client has.
    timeout: Duration,
    clock: Arc<dyn Clock>,
    settings: KeySettings,
    discover: bool,
    snapshot: ArcSwapOption<Snapshot>,
    ctl: Mutex<Control>,
    tokens: Arc<TokenCache>,
}

impl KeyCache {
    /// A cache that fetches from `endpoint` (`discover`: also read the issuer).
    pub fn remote(
        endpoint: Endpoint,
        http: reqwest::Client,
        timeout: Duration,
        clock: Arc<dyn Clock>,
        settings: KeySettings,
        discover: bool,
        tokens: Arc<TokenCache>,
    ) -> Self {
        Self {
            endpoint,
            http: Some(http),
            timeout,
            clock,
            settings,
            discover,
            snapshot: ArcSwapOption::empty(),
            ctl: Mutex::new(Control::default()),
            tokens,
        }
    }

    /// A cache holding pinned keys, which never fetches.
    pub fn pinned(
        endpoint: Endpoint,
        keys: KeySet,
        clock: Arc<dyn Clock>,
        tokens: Arc<TokenCache>,
    ) -> Self {
        let now = clock.now();
        Self {
            endpoint,
            http: None,
            timeout: Duration::ZERO,
            clock,
            settings: KeySettings::default(),
            discover: false,
            snapshot: ArcSwapOption::new(Some(Arc::new(Snapshot {
                keys,
                issuer: None,
                fetched_at: now,
                pinned: true,
            }))),
            ctl: Mutex::new(Control::default()),
            tokens,
        }
    }

    fn ctl(&self) -> MutexGuard<'_, Control> {
        self.ctl.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn phase(&self, s: &Snapshot, now: Instant) -> Phase {
        if s.pinned {
            return Phase::Fresh;
        }
        let age = now.saturating_duration_since(s.fetched_at);
        let st = &self.settings;
        if age < st.max_age.saturating_sub(st.refresh_ahead) {
            Phase::Fresh
        } else if age < st.max_age {
            Phase::RefreshDue
        } else if age < st.usable_for() {
            if self.ctl().failures > 0 {
                Phase::ServeStale
            } else {
                Phase::MustRefresh
            }
        } else {
            Phase::Unusable
        }
    }

    /// Whether a cached verification by `key` may be trusted now without waiting: the set
    /// in use still holds that very key under its `kid` and may be used at once. A
    /// refresh that is due starts in the background, on the current Tokio runtime or,
    /// for a caller without one, on `spawner`.
    pub fn trusts_now(
        self: &Arc<Self>,
        key: &Arc<RsaKey>,
        spawner: Option<&tokio::runtime::Handle>,
    ) -> bool {
        let guard = self.snapshot.load();
        let Some(s) = guard.as_ref() else {
            return false;
        };
        if !s.keys.still_has(key) {
            return false;
        }
        let now = self.clock.now();
        match self.phase(s, now) {
            Phase::Fresh => true,
            Phase::RefreshDue | Phase::ServeStale => {
                self.refresh_in_background(now, spawner);
                true
            }
            Phase::MustRefresh | Phase::Unusable => false,
        }
    }

    /// The key named `kid`, with the set it is from; fetches as the rules allow.
    pub async fn key_for(
        self: &Arc<Self>,
        kid: &str,
    ) -> Result<(Arc<Snapshot>, Arc<RsaKey>), VerifyError> {
        let now = self.clock.now();
        let current = self.snapshot.load_full();
        if let Some(s) = &current {
            let usable_now = match self.phase(s, now) {
                Phase::Fresh => true,
                Phase::RefreshDue | Phase::ServeStale => {
                    self.refresh_in_background(now, None);
                    true
                }
                Phase::MustRefresh | Phase::Unusable => false,
            };
            if usable_now {
                if let Some(k) = s.keys.get(kid) {
                    return Ok((s.clone(), k.clone()));
                }
                if s.pinned {
                    return Err(unknown(kid));
                }
                return self.unknown_kid(kid, s, now).await;
            }
        }
        match self.fetch_and_wait(now).await {
            Ok(s) => match s.keys.get(kid) {
                Some(k) => {
                    let k = k.clone();
                    Ok((s, k))
                }
                None => Err(unknown(kid)),
            },
            Err(e) => {
                // Serve the last good keys while they are within their stale bound.
                if let Some(s) = current
                    && now.saturating_duration_since(s.fetched_at) < self.settings.usable_for()
                    && let Some(k) = s.keys.get(kid)
                {
                    let k = k.clone();
                    return Ok((s, k));
                }
                // A `kid` the old keys lack, while no fetch succeeds, may be a key IAM
                // has just published: not a verdict on the token, so transient.
                Err(e)
            }
        }
    }

    /// A `kid` the set `seen` does not hold: at most one refetch per cooldown.
    async fn unknown_kid(
        self: &Arc<Self>,
        kid: &str,
        seen: &Arc<Snapshot>,
        now: Instant,
    ) -> Result<(Arc<Snapshot>, Arc<RsaKey>), VerifyError> {
        let rx = {
            let mut ctl = self.ctl();
            if let Some(cur) = self.snapshot.load_full()
                && !Arc::ptr_eq(&cur, seen)
            {
                // A fetch completed since the caller looked: its answer is the answer.
                drop(ctl);
                return match cur.keys.get(kid) {
                    Some(k) => {
                        let k = k.clone();
                        Ok((cur, k))
                    }
                    None => Err(unknown(kid)),
                };
            }
            let cooling = ctl
                .last_attempt
                .is_some_and(|t| within(now, t, self.settings.cooldown));
            let backing_off = ctl.next_attempt_at.is_some_and(|t| now < t);
            if let Some(rx) = &ctl.inflight {
                rx.clone()
            } else if backing_off || (cooling && ctl.failures > 0) {
                // The last fetch failed: the key may well exist, it could not be looked
                // for. Transient, so that callers answer "retry" rather than "invalid".
                return Err(unavailable(&ctl));
            } else if cooling {
                // The last fetch succeeded less than a cooldown ago and lacks this kid.
                return Err(unknown(kid));
            } else {
                tracing::debug!(kid = %cut(kid, 64), "unknown key id; refetching the IAM key set");
                self.start(&mut ctl, now)?
            }
        };
        match wait(rx).await {
            Ok(s) => match s.keys.get(kid) {
                Some(k) => {
                    let k = k.clone();
                    Ok((s, k))
                }
                None => Err(unknown(kid)),
            },
            Err(e) => Err(VerifyError::KeysUnavailable(e)),
        }
    }

    /// Joins the fetch in flight or starts one, unless the back-off forbids; waits.
    async fn fetch_and_wait(self: &Arc<Self>, now: Instant) -> Result<Arc<Snapshot>, VerifyError> {
        let rx = {
            let mut ctl = self.ctl();
            if let Some(rx) = &ctl.inflight {
                rx.clone()
            } else if let (Some(at), Some(err)) = (ctl.next_attempt_at, &ctl.last_error)
                && now < at
            {
                return Err(VerifyError::KeysUnavailable(err.clone()));
            } else {
                self.start(&mut ctl, now)?
            }
        };
        wait(rx).await.map_err(VerifyError::KeysUnavailable)
    }

    /// Fetches now (joining a fetch in flight), whatever the age of the keys in use.
    pub async fn refresh(self: &Arc<Self>) -> Result<(), VerifyError> {
        if self.http.is_none() {
            return Ok(());
        }
        let rx = {
            let mut ctl = self.ctl();
            match &ctl.inflight {
                Some(rx) => rx.clone(),
                None => self.start(&mut ctl, self.clock.now())?,
            }
        };
        wait(rx)
            .await
            .map(|_| ())
            .map_err(VerifyError::KeysUnavailable)
    }

    /// Makes sure keys are at hand: fetches only if none may be used now.
    pub async fn ensure(self: &Arc<Self>) -> Result<(), VerifyError> {
        let now = self.clock.now();
        if let Some(s) = self.snapshot.load_full()
            && matches!(
                self.phase(&s, now),
                Phase::Fresh | Phase::RefreshDue | Phase::ServeStale
            )
        {
            return Ok(());
        }
        self.fetch_and_wait(now).await.map(|_| ())
    }

    fn refresh_in_background(
        self: &Arc<Self>,
        now: Instant,
        spawner: Option<&tokio::runtime::Handle>,
    ) {
        let mut ctl = self.ctl();
        if ctl.inflight.is_some() || ctl.next_attempt_at.is_some_and(|t| now < t) {
            return;
        }
        tracing::debug!("IAM key set is due for a refresh; refreshing in the background");
        if let Err(e) = self.start_on(&mut ctl, now, spawner) {
            tracing::warn!(error = %e, "the background refresh of the IAM key set could not start");
        }
    }

    fn start(
        self: &Arc<Self>,
        ctl: &mut Control,
        now: Instant,
    ) -> Result<watch::Receiver<Option<Outcome>>, VerifyError> {
        self.start_on(ctl, now, None)
    }

    /// Starts a fetch on the current Tokio runtime, else on `spawner`.
    fn start_on(
        self: &Arc<Self>,
        ctl: &mut Control,
        now: Instant,
        spawner: Option<&tokio::runtime::Handle>,
    ) -> Result<watch::Receiver<Option<Outcome>>, VerifyError> {
        let Some(handle) = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| spawner.cloned())
        else {
            return Err(VerifyError::Runtime(
                "fetching IAM's keys needs a Tokio runtime; use ibm_iam::verify::blocking from synchronous code".into(),
            ));
        };
        let (tx, rx) = watch::channel(None);
        ctl.inflight = Some(rx.clone());
        ctl.last_attempt = Some(now);
        ctl.fetches = ctl.fetches.saturating_add(1);
        let finisher = Finisher {
            cache: self.clone(),
            tx: Some(tx),
        };
        handle.spawn(async move {
            let mut finisher = finisher;
            let outcome = finisher.cache.fetch().await;
            finisher.finish(Some(outcome));
        });
        Ok(rx)
    }

    fn finish(&self, outcome: Option<Outcome>, tx: watch::Sender<Option<Outcome>>) {
        let outcome = {
            let mut ctl = self.ctl();
            ctl.inflight = None;
            match outcome {
                Some(Ok(s)) => {
                    let old = self.snapshot.swap(Some(s.clone()));
                    log_changes(old.as_deref(), &s);
                    self.tokens.retain_keys(&s.keys);
                    if ctl.failures > 0 {
                        tracing::info!(after_failures = ctl.failures, "IAM key set fetched again");
                    }
                    ctl.failures = 0;
                    ctl.next_attempt_at = None;
                    ctl.last_error = None;
                    Ok(s)
                }
                Some(Err(e)) => {
                    ctl.failures = ctl.failures.saturating_add(1);
                    let now = self.clock.now();
                    let mut delay = self.settings.backoff.delay(ctl.failures.saturating_sub(1));
                    if let Some(ra) = e.retry_after() {
                        delay = delay.max(ra.min(self.settings.backoff.max));
                    }
                    // The delay is at most the back-off's maximum; a clock at the end of
                    // its range retries at once rather than panic.
                    ctl.next_attempt_at = Some(now.checked_add(delay).unwrap_or(now));
                    tracing::warn!(
                        error = %e,
                        consecutive_failures = ctl.failures,
                        next_attempt_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "fetching the IAM key set failed; the last good keys stay in use while they may"
                    );
                    ctl.last_error = Some(e.clone());
                    Err(e)
                }
                None => {
                    // The runtime dropped the fetch: not IAM's fault, so no back-off, and
                    // the next caller may try at once.
                    ctl.last_attempt = None;
                    Err(Error::Runtime(
                        "the key fetch was abandoned (its runtime shut down)".into(),
                    ))
                }
            }
        };
        let _ = tx.send(Some(outcome));
    }

    /// One fetch: discovery when needed, then the key set.
    async fn fetch(&self) -> Outcome {
        let Some(client) = &self.http else {
            return Err(Error::Config("pinned keys are never fetched".into()));
        };
        let sent_at = self.clock.now();
        let previous = self.snapshot.load_full();
        let issuer = match previous.as_ref().and_then(|p| p.issuer.clone()) {
            Some(i) => Some(i),
            None if self.discover => Some(self.discover_issuer(client).await?),
            None => None,
        };
        let url = self.endpoint.keys_url();
        let answer = fetch::get_json(client, &url, self.timeout).await?;
        if answer.status != 200 {
            return Err(Error::Iam(answer.iam_error()));
        }
        let keys = KeySet::parse(&answer.body, previous.as_ref().map(|p| &p.keys))
            .map_err(|why| answer.invalid(&url, why))?;
        for s in keys.skipped() {
            tracing::debug!(kid = ?s.kid, reason = s.reason, "IAM key skipped");
        }
        Ok(Arc::new(Snapshot {
            keys,
            issuer,
            fetched_at: sent_at,
            pinned: false,
        }))
    }

    async fn discover_issuer(&self, client: &reqwest::Client) -> Result<Arc<str>, Error> {
        let url = self.endpoint.discovery_url();
        let answer = fetch::get_json(client, &url, self.timeout).await?;
        if answer.status != 200 {
            return Err(Error::Iam(answer.iam_error()));
        }
        let doc: serde_json::Value = serde_json::from_slice(&answer.body)
            .map_err(|_| answer.invalid(&url, "the discovery document is not JSON"))?;
        match doc.get("issuer").and_then(serde_json::Value::as_str) {
            Some(i) if !i.is_empty() && i.len() <= 1024 => {
                tracing::debug!(issuer = i, "IAM issuer discovered");
                Ok(i.into())
            }
            _ => Err(answer.invalid(&url, "the discovery document has no issuer")),
        }
    }

    pub fn status(&self) -> KeyStatus {
        let now = self.clock.now();
        let s = self.snapshot.load_full();
        let ctl = self.ctl();
        KeyStatus {
            kids: s
                .as_ref()
                .map(|s| s.keys.kids().into_iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            age: s
                .as_ref()
                .map(|s| now.saturating_duration_since(s.fetched_at)),
            fetches: ctl.fetches,
            consecutive_failures: ctl.failures,
            last_error: ctl.last_error.clone(),
            issuer: s
                .as_ref()
                .and_then(|s| s.issuer.as_deref().map(str::to_owned)),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

fn unknown(kid: &str) -> VerifyError {
    VerifyError::UnknownKey { kid: cut(kid, 64) }
}

/// The refusal while fetches are failing: the last fetch error, transient.
fn unavailable(ctl: &Control) -> VerifyError {
    VerifyError::KeysUnavailable(
        ctl.last_error
            .clone()
            .unwrap_or_else(|| Error::Runtime("the last fetch of the IAM key set failed".into())),
    )
}

async fn wait(mut rx: watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => match v.as_ref() {
            Some(o) => o.clone(),
            None => Err(Error::Runtime(
                "the key fetch ended without an answer".into(),
            )),
        },
        Err(_) => Err(Error::Runtime(
            "the key fetch was abandoned (its runtime shut down)".into(),
        )),
    }
}

fn log_changes(old: Option<&Snapshot>, new: &Snapshot) {
    let new_kids = new.keys.kids();
    let Some(old) = old else {
        tracing::info!(kids = ?new_kids, "IAM key set fetched");
        return;
    };
    let old_kids = old.keys.kids();
    let added: Vec<_> = new_kids.iter().filter(|k| !old_kids.contains(k)).collect();
    let withdrawn: Vec<_> = old_kids.iter().filter(|k| !new_kids.contains(k)).collect();
    if !added.is_empty() || !withdrawn.is_empty() {
        tracing::info!(?added, ?withdrawn, "IAM key set changed");
    }
}

/// Completes a fetch exactly once: with its outcome, or as abandoned if the task is
/// dropped before it finishes (its runtime shut down), so waiters are never stranded.
struct Finisher {
    cache: Arc<KeyCache>,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Finisher {
    fn finish(&mut self, outcome: Option<Outcome>) {
        if let Some(tx) = self.tx.take() {
            self.cache.finish(outcome, tx);
        }
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::verify::jwks::tests::jwk;
    use aws_lc_rs::rsa::{KeyPair, KeySize};

    fn keyset(kid: &str) -> KeySet {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let doc = serde_json::json!({ "keys": [jwk(&pair, kid)] });
        KeySet::parse(&serde_json::to_vec(&doc).expect("json"), None).expect("set")
    }

    #[tokio::test]
    async fn extreme_settings_never_overflow() {
        let clock = ManualClock::new();
        let settings = KeySettings {
            max_age: Duration::from_secs(1),
            refresh_ahead: Duration::ZERO,
            cooldown: Duration::MAX,
            stale_for: Duration::MAX,
            backoff: Backoff {
                base: Duration::MAX,
                max: Duration::MAX,
            },
        };
        let cache = Arc::new(KeyCache::remote(
            Endpoint::parse("http://127.0.0.1:1").expect("endpoint"),
            reqwest::Client::new(),
            Duration::from_secs(1),
            Arc::new(clock.clone()),
            settings,
            false,
            Arc::new(TokenCache::new(4)),
        ));
        let t0 = clock.now();
        cache.snapshot.store(Some(Arc::new(Snapshot {
            keys: keyset("k"),
            issuer: None,
            fetched_at: t0,
            pinned: false,
        })));
        {
            let mut ctl = cache.ctl();
            ctl.last_attempt = Some(t0);
            ctl.failures = u32::MAX;
            ctl.last_error = Some(Error::Config("down".into()));
        }
        clock.advance(Duration::from_secs(2));
        // Past max_age: max_age + stale_for saturates, and the stale keys serve.
        assert!(cache.key_for("k").await.is_ok());
        // An unknown kid: last_attempt + cooldown saturates (a cooldown without end).
        assert!(matches!(
            cache.key_for("other").await,
            Err(VerifyError::KeysUnavailable(_))
        ));
        // A failed fetch with a back-off past the clock's range, and a failure count at
        // its maximum: no panic, the count stays saturated.
        let (tx, _rx) = watch::channel(None);
        cache.finish(Some(Err(Error::Config("down".into()))), tx);
        assert_eq!(cache.status().consecutive_failures, u32::MAX);
    }
}
