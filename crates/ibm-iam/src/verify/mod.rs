//! Accepting IAM bearer tokens: [`TokenValidator`] verifies an access token's RS256
//! signature against IAM's published keys and checks its claims; [`Claims`] reads them.
//!
//! ```no_run
//! # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use ibm_iam::{Endpoint, TokenValidator};
//!
//! // Build once, share (clones share the key set and the verified-token cache).
//! let validator = TokenValidator::new(Endpoint::production())?;
//! let claims = validator.validate(token).await?;
//! println!("{:?} acting in account {:?}", claims.iam_id(), claims.account_id());
//! # Ok(()) }
//! ```
//!
//! What happens to a token, in order (each failure is its own [`VerifyError`] variant):
//!
//! 1. **Cache**: a token verified before and still in date is accepted at once (whole-token
//!    comparison), as long as the key that verified it is still published.
//! 2. **Format**: at most 16 KiB, three canonical base64url
//!    segments, a header whose `alg` is exactly `RS256` (pinned, never read from the
//!    token as a choice), with a `kid` and without `crit`; `jku`, `jwk`, `x5u`, `x5c` are
//!    never used.
//! 3. **Key**: the key set of the endpoint, fetched over HTTPS and parsed once, kept
//!    fresh in the background (see [`TokenValidatorBuilder::key_max_age`]). An unknown
//!    `kid` refetches at most once per cooldown for all callers together.
//! 4. **Signature**: RSASSA-PKCS1-v1_5 with SHA-256 (aws-lc-rs), over `header.payload`.
//! 5. **Claims**: strictly typed JSON without duplicate members; `exp` and `iat` required,
//!    `nbf` honoured, with a leeway (60 s by default); `iss` exactly one of the accepted
//!    issuers; then the optional checks configured (client id, audience, scopes,
//!    accounts, subject types).
//!
//! The seed's one-call form is [`validate_token`]; synchronous code uses
//! [`blocking::TokenValidator`].

#[cfg(feature = "blocking")]
pub mod blocking;
mod cache;
mod checks;
mod claims;
mod error;
mod fetch;
mod json;
mod jwks;
mod jws;
mod key_cache;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

pub use claims::{Account, Authn, Claims, SubjectType};
pub use error::{Part, VerifyError};
pub use jwks::{KeySet, MAX_KEYS, SkippedKey};
pub use jws::DEFAULT_MAX_TOKEN_LEN;

use crate::clock::{Clock, SystemClock};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::http::HttpConfig;
use cache::TokenCache;
use checks::{IssuerRule, Policy};
use key_cache::{KeyCache, KeySettings};

/// The default number of verified tokens remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;
/// The default clock-skew leeway for `exp`, `iat` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The longest [`TokenValidatorBuilder::key_max_age`] accepted: a day. Keys kept longer
/// without asking IAM belong in [`TokenValidatorBuilder::keys`] (pinned).
pub const MAX_KEY_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The longest [`TokenValidatorBuilder::stale_keys_for`] accepted: a week.
pub const MAX_STALE_KEYS_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Verifies IAM access tokens and checks their claims. Cheap to clone: clones share the
/// key set and the verified-token cache.
///
/// ```no_run
/// # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// use ibm_iam::{Endpoint, TokenValidator};
/// use ibm_iam::verify::SubjectType;
///
/// let validator = TokenValidator::builder()
///     .endpoint(Endpoint::production())
///     .account("8b4da373c6f8494888986fcc4992ea2d")
///     .subject_type(SubjectType::ServiceId)
///     .require_scope("ibm")
///     .build()?;
/// let claims = validator.validate(token).await?;
/// # drop(claims); Ok(()) }
/// ```
///
/// The async API needs a Tokio runtime (to fetch keys); [`blocking::TokenValidator`]
/// serves synchronous callers.
#[derive(Clone)]
pub struct TokenValidator {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Arc<KeyCache>,
    tokens: Arc<TokenCache>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    max_token_len: usize,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("endpoint", self.inner.keys.endpoint())
            .field("issuer", &self.inner.policy.issuer)
            .finish_non_exhaustive()
    }
}

/// A snapshot of a validator's state, for readiness probes and dashboards.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidatorStatus {
    /// The ids of the keys in use.
    pub kids: Vec<String>,
    /// How long ago the keys in use were fetched (`None` before the first fetch).
    pub key_set_age: Option<Duration>,
    /// Key-set fetches started so far.
    pub key_fetches: u64,
    /// Failed fetches since the last good one.
    pub consecutive_failures: u32,
    /// The last fetch error, while fetches are failing.
    pub last_error: Option<Error>,
    /// The issuer announced by the endpoint's discovery document, when it was read.
    pub discovered_issuer: Option<String>,
    /// Verified tokens remembered.
    pub cached_tokens: usize,
}

impl TokenValidator {
    /// A validator for `endpoint` with the default settings: the issuer is production's or
    /// staging's for those endpoints, and the one the discovery document announces for any
    /// other (the emulator).
    pub fn new(endpoint: Endpoint) -> Result<Self, Error> {
        Self::builder().endpoint(endpoint).build()
    }

    /// A builder for every setting.
    pub fn builder() -> TokenValidatorBuilder {
        TokenValidatorBuilder::default()
    }

    /// Verifies `token` (the bare JWT, without `Bearer `) and returns its claims.
    ///
    /// Fails with the [`VerifyError`] of the first check that refuses it, or with
    /// [`VerifyError::KeysUnavailable`] when no key set could be had.
    pub async fn validate(&self, token: &str) -> Result<Claims, VerifyError> {
        let probe = self.probe(token);
        if let Some(c) = self.cached(probe, token, None) {
            return Ok(c);
        }
        self.validate_uncached(token, probe).await
    }

    /// Where the verified-token cache keeps `token`, hashed once for the lookup and the
    /// insertion after a miss: `None` when the cache is off, or when the token is over the
    /// length limit (never cached, and not worth a hash: the parse refuses it).
    #[inline]
    pub(crate) fn probe(&self, token: &str) -> Option<cache::Probe> {
        if token.len() > self.inner.max_token_len {
            return None;
        }
        self.inner.tokens.probe(token)
    }

    /// The claims of `token` (at `probe`, its own) if it was verified before and may be
    /// trusted without any work but a lookup. A key-set refresh that is due starts in the
    /// background on the current Tokio runtime, or on `spawner` for a caller without one
    /// (the blocking validator passes its own runtime).
    #[inline]
    pub(crate) fn cached(
        &self,
        probe: Option<cache::Probe>,
        token: &str,
        spawner: Option<&tokio::runtime::Handle>,
    ) -> Option<Claims> {
        let inner = &self.inner;
        let now = unix_now(inner.clock.as_ref());
        let hit = inner.tokens.get(probe?, token, now, |exp, now| {
            inner.policy.still_in_date(exp, now)
        })?;
        inner
            .keys
            .trusts_now(&hit.key, spawner)
            .then_some(hit.claims)
    }

    /// Verifies `token` (at `probe`, its own, in the cache) and remembers it.
    pub(crate) async fn validate_uncached(
        &self,
        token: &str,
        probe: Option<cache::Probe>,
    ) -> Result<Claims, VerifyError> {
        let inner = &self.inner;
        let jws = jws::parse(token, inner.max_token_len)?;
        let (snapshot, key) = inner.keys.key_for(&jws.kid).await?;
        if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
            return Err(VerifyError::Signature);
        }
        let claims = Claims::parse(jws.payload)?;
        let now = unix_now(inner.clock.as_ref());
        inner
            .policy
            .check(&claims, now, snapshot.issuer.as_deref())?;
        if let Some(probe) = probe {
            inner
                .tokens
                .insert(probe, token, &claims, &key, now, |exp, now| {
                    inner.policy.still_in_date(exp, now)
                });
        }
        Ok(claims)
    }

    /// Fetches the keys (and the issuer, when it is discovered) unless usable ones are at
    /// hand, so that the first token does not wait. For readiness probes.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let validator = ibm_iam::TokenValidator::new(ibm_iam::Endpoint::production())?;
    /// validator.prefetch().await?; // ready: the first request will not wait for IAM
    /// # Ok(()) }
    /// ```
    pub async fn prefetch(&self) -> Result<(), VerifyError> {
        self.inner.keys.ensure().await
    }

    /// Fetches the key set now (joining a fetch in flight), whatever its age.
    pub async fn refresh_keys(&self) -> Result<(), VerifyError> {
        self.inner.keys.refresh().await
    }

    /// Forgets every verified token (the keys stay).
    pub fn clear_cache(&self) {
        self.inner.tokens.clear();
    }

    /// The endpoint keys come from.
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.keys.endpoint()
    }

    /// A snapshot of the validator's state.
    ///
    /// ```
    /// let validator = ibm_iam::TokenValidator::new(ibm_iam::Endpoint::production()).unwrap();
    /// let status = validator.status();
    /// assert_eq!(status.key_fetches, 0, "nothing is fetched before the first token");
    /// assert!(status.kids.is_empty() && status.key_set_age.is_none());
    /// ```
    pub fn status(&self) -> ValidatorStatus {
        let k = self.inner.keys.status();
        ValidatorStatus {
            kids: k.kids,
            key_set_age: k.age,
            key_fetches: k.fetches,
            consecutive_failures: k.consecutive_failures,
            last_error: k.last_error,
            discovered_issuer: k.issuer,
            cached_tokens: self.inner.tokens.len(),
        }
    }
}

/// The validator's clock in Unix seconds (negative before 1970).
fn unix_now(clock: &dyn Clock) -> i64 {
    match clock.system_now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Configures a [`TokenValidator`]. Nothing is checked or fetched until
/// [`build`](Self::build), which returns an error (never panics) for invalid settings.
///
/// ```
/// use std::time::Duration;
/// use ibm_iam::{Endpoint, TokenValidator};
///
/// let validator = TokenValidator::builder()
///     .endpoint(Endpoint::staging())
///     .leeway(Duration::from_secs(10))
///     .client_id("default")
///     .build()
///     .unwrap();
/// # drop(validator);
/// ```
pub struct TokenValidatorBuilder {
    endpoint: Result<Endpoint, Error>,
    issuers: Vec<String>,
    any_iam_issuer: bool,
    leeway: Duration,
    client_ids: Vec<String>,
    audiences: Vec<String>,
    scopes: Vec<String>,
    accounts: Vec<String>,
    subject_types: Vec<SubjectType>,
    http: Option<HttpConfig>,
    clock: Arc<dyn Clock>,
    keys: KeySettings,
    pinned: Option<KeySet>,
    cache_capacity: usize,
    max_token_len: usize,
}

impl std::fmt::Debug for TokenValidatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidatorBuilder")
            .field("endpoint", &self.endpoint.as_ref().ok())
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

impl Default for TokenValidatorBuilder {
    fn default() -> Self {
        Self {
            endpoint: Ok(Endpoint::production()),
            issuers: Vec::new(),
            any_iam_issuer: false,
            leeway: DEFAULT_LEEWAY,
            client_ids: Vec::new(),
            audiences: Vec::new(),
            scopes: Vec::new(),
            accounts: Vec::new(),
            subject_types: Vec::new(),
            http: None,
            clock: Arc::new(SystemClock),
            keys: KeySettings::default(),
            pinned: None,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

impl TokenValidatorBuilder {
    /// The IAM whose keys verify tokens (production by default).
    #[must_use]
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Ok(endpoint);
        self
    }

    /// The IAM as a URL (HTTPS, or plain HTTP to loopback for the emulator).
    #[must_use]
    pub fn endpoint_url(mut self, url: &str) -> Self {
        self.endpoint = Endpoint::parse(url);
        self
    }

    /// Accept tokens whose `iss` is exactly `issuer`. The first call replaces the default
    /// (the endpoint's known issuer, or discovery); later calls add to the list.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accept **any** `iss` that starts with `https://iam`, as the seed package did. This
    /// accepts `https://iam.attacker.example` too: the signature still has to verify with
    /// the endpoint's keys, but tokens meant for another IAM (staging's, say, if it ever
    /// shared keys) would pass. Only for drop-in compatibility; prefer [`issuer`](Self::issuer).
    #[must_use]
    pub fn danger_accept_any_iam_issuer(mut self, on: bool) -> Self {
        self.any_iam_issuer = on;
        self
    }

    /// Clock-skew allowance for `exp`, `iat` and `nbf` (default 60 s, at most 10 min).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Require `client_id` to be one of those given (repeat to allow several).
    #[must_use]
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_ids.push(client_id.into());
        self
    }

    /// Require `aud` to name one of those given (repeat to allow several). IAM's access
    /// tokens carry no `aud`, so only for tokens minted with one.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Require `scope` to contain `scope` (repeat to require several).
    #[must_use]
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Require `account.bss` to be one of those given (repeat to allow several).
    #[must_use]
    pub fn account(mut self, account_id: impl Into<String>) -> Self {
        self.accounts.push(account_id.into());
        self
    }

    /// Require the subject type to be one of those given (repeat to allow several).
    #[must_use]
    pub fn subject_type(mut self, subject_type: SubjectType) -> Self {
        self.subject_types.push(subject_type);
        self
    }

    /// HTTP settings for key fetches (default: [`HttpConfig::default`] with a 10 s
    /// request timeout). The request timeout applies to each fetch even with a client of
    /// your own ([`HttpConfig::client`]), and a fetch that the client answers through a
    /// redirect is refused: keys come from the endpoint itself or not at all.
    #[must_use]
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock (tests pass a [`crate::clock::ManualClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a fetched key set is used before it must be refetched (default 10 min;
    /// 1 s to [`MAX_KEY_MAX_AGE`]). A withdrawn key stops being trusted at most this long
    /// after IAM withdraws it, while IAM answers.
    #[must_use]
    pub fn key_max_age(mut self, max_age: Duration) -> Self {
        self.keys.max_age = max_age;
        self
    }

    /// How long before `key_max_age` a background refresh starts (default 2 min), so
    /// callers do not wait for it.
    #[must_use]
    pub fn key_refresh_ahead(mut self, ahead: Duration) -> Self {
        self.keys.refresh_ahead = ahead;
        self
    }

    /// The least time between two fetches caused by unknown key ids (default 30 s).
    #[must_use]
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.keys.cooldown = cooldown;
        self
    }

    /// While fetches fail, how long past `key_max_age` the last good keys stay in use
    /// (default 1 h; at most [`MAX_STALE_KEYS_FOR`]). After that, tokens are refused until
    /// a fetch succeeds.
    #[must_use]
    pub fn stale_keys_for(mut self, stale_for: Duration) -> Self {
        self.keys.stale_for = stale_for;
        self
    }

    /// Verify with these keys only, never fetching (offline use, pinned keys, tests).
    /// For an endpoint other than production or staging, set the issuer too.
    ///
    /// ```
    /// use ibm_iam::TokenValidator;
    /// use ibm_iam::verify::KeySet;
    ///
    /// # let jwks = br#"{"keys":[{"kty":"RSA","kid":"2011-04-29","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}]}"#;
    /// let keys = KeySet::from_jwks(jwks)?; // say, a saved copy of /identity/keys
    /// let validator = TokenValidator::builder().keys(keys).build()?;
    /// assert_eq!(validator.status().kids, vec!["2011-04-29"]);
    /// # Ok::<(), ibm_iam::Error>(())
    /// ```
    #[must_use]
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.pinned = Some(keys);
        self
    }

    /// How many verified tokens to remember (default 4096; 0 turns the cache off). Memory
    /// stays below this many times the largest token accepted plus its claims.
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The longest token accepted, in bytes (default 16 KiB; 1 KiB to 1 MiB).
    #[must_use]
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Builds the validator. Fetches nothing (the first validation, or
    /// [`TokenValidator::prefetch`], does).
    pub fn build(self) -> Result<TokenValidator, Error> {
        let endpoint = self.endpoint?;
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.leeway > Duration::from_secs(600) {
            return bad("the leeway must be at most 10 minutes");
        }
        if !(1024..=1024 * 1024).contains(&self.max_token_len) {
            return bad("the maximum token length must be between 1 KiB and 1 MiB");
        }
        let k = &self.keys;
        if k.max_age < Duration::from_secs(1) || k.max_age > MAX_KEY_MAX_AGE {
            return bad("the key max age must be between 1 s and 24 h");
        }
        if k.refresh_ahead >= k.max_age {
            return bad("the key max age must be longer than the refresh-ahead time");
        }
        if k.stale_for > MAX_STALE_KEYS_FOR {
            return bad("stale keys may serve for at most 7 days");
        }
        if k.cooldown > k.max_age {
            return bad("the unknown-kid cooldown must not exceed the key max age");
        }
        if self.issuers.iter().any(|i| i.trim().is_empty()) {
            return bad("an issuer must not be empty");
        }
        let issuer = if self.any_iam_issuer {
            IssuerRule::SeedPrefix
        } else if !self.issuers.is_empty() {
            IssuerRule::Exact(self.issuers)
        } else if let Some(known) = endpoint.known_issuer() {
            IssuerRule::Exact(vec![known.to_owned()])
        } else if self.pinned.is_some() {
            return bad(
                "pinned keys for a custom endpoint need the issuer set explicitly (nothing is fetched, so it cannot be discovered)",
            );
        } else {
            IssuerRule::Discovered
        };
        let policy = Policy {
            leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(600),
            issuer: issuer.clone(),
            client_ids: self.client_ids,
            audiences: self.audiences,
            scopes: self.scopes,
            accounts: self.accounts,
            subject_types: self.subject_types,
        };
        let tokens = Arc::new(TokenCache::new(self.cache_capacity));
        let keys = match self.pinned {
            Some(set) => {
                if set.is_empty() {
                    return bad("the pinned key set holds no key");
                }
                KeyCache::pinned(endpoint, set, self.clock.clone(), tokens.clone())
            }
            None => {
                let config = self.http.unwrap_or_else(|| {
                    HttpConfig::default().request_timeout(Duration::from_secs(10))
                });
                KeyCache::remote(
                    endpoint,
                    config.build_client()?,
                    config.get_request_timeout(),
                    self.clock.clone(),
                    self.keys,
                    issuer == IssuerRule::Discovered,
                    tokens.clone(),
                )
            }
        };
        Ok(TokenValidator {
            inner: Arc::new(Inner {
                keys: Arc::new(keys),
                tokens,
                policy,
                clock: self.clock,
                max_token_len: self.max_token_len,
            }),
        })
    }
}

/// The leeway [`validate_token`] uses: the seed's 5 s.
pub const SEED_LEEWAY: Duration = Duration::from_secs(5);

/// How many endpoints [`validate_token`] keeps a validator for.
const SHARED_VALIDATORS: usize = 16;

fn shared_validator(endpoint: &Endpoint) -> Result<TokenValidator, VerifyError> {
    static SHARED: OnceLock<Mutex<Vec<(Endpoint, TokenValidator)>>> = OnceLock::new();
    let mut shared = SHARED
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some((_, v)) = shared.iter().find(|(e, _)| e == endpoint) {
        return Ok(v.clone());
    }
    let v = TokenValidator::builder()
        .endpoint(endpoint.clone())
        .leeway(SEED_LEEWAY)
        .build()
        .map_err(VerifyError::KeysUnavailable)?;
    if shared.len() >= SHARED_VALIDATORS {
        shared.remove(0);
    }
    shared.push((endpoint.clone(), v.clone()));
    Ok(v)
}

/// The seed's `validate_token(token, iam_endpoint)`: verifies `token` against the keys of
/// `endpoint` and returns its claims, with the seed's 5 s leeway.
///
/// Unlike the seed, the keys are fetched once and cached (one validator per endpoint is
/// kept for the process), and the issuer is checked exactly (see [`TokenValidator::new`])
/// rather than by the prefix `https://iam`.
///
/// ```no_run
/// # async fn demo(token: &str) -> Result<(), ibm_iam::VerifyError> {
/// let claims = ibm_iam::validate_token(token, &ibm_iam::Endpoint::production()).await?;
/// # drop(claims); Ok(()) }
/// ```
pub async fn validate_token(token: &str, endpoint: &Endpoint) -> Result<Claims, VerifyError> {
    shared_validator(endpoint)?.validate(token).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn handles_and_futures_cross_threads() {
        let v = TokenValidator::new(Endpoint::production()).expect("validator");
        send_sync(&v);
        send(&v.validate("x"));
        send(&v.prefetch());
        send(&validate_token("x", &Endpoint::production()));
        let err = VerifyError::Signature;
        send_sync(&err);
    }

    #[test]
    fn an_oversized_token_is_refused_before_the_cache_hashes_it() {
        let v = TokenValidator::builder()
            .keys(KeySet::from_jwks(br#"{"keys":[{"kty":"RSA","kid":"k","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}]}"#).expect("keys"))
            .build()
            .expect("validator");
        let huge = format!("a.b.{}", "s".repeat(DEFAULT_MAX_TOKEN_LEN));
        assert!(v.probe(&huge).is_none());
        assert_eq!(v.inner.tokens.hashes(), 0, "not hashed");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        assert!(matches!(
            rt.block_on(v.validate(&huge)),
            Err(VerifyError::TooLarge { .. })
        ));
        assert_eq!(v.inner.tokens.hashes(), 0, "not hashed");
        assert!(v.cached(v.probe("a.b.c"), "a.b.c", None).is_none());
        assert_eq!(
            v.inner.tokens.hashes(),
            1,
            "a token within the limit is looked up"
        );
    }

    #[test]
    fn builder_refuses_invalid_settings() {
        let b = || TokenValidator::builder();
        assert!(b().leeway(Duration::from_secs(601)).build().is_err());
        assert!(b().max_token_len(10).build().is_err());
        assert!(b().key_max_age(Duration::ZERO).build().is_err());
        // Durations that would overflow instants and sums are refused, never a panic.
        for bad in [
            b().key_max_age(Duration::MAX),
            b().key_max_age(MAX_KEY_MAX_AGE + Duration::from_secs(1)),
            b().stale_keys_for(Duration::MAX),
            b().key_max_age(Duration::MAX).stale_keys_for(Duration::MAX),
            b().key_max_age(Duration::MAX)
                .unknown_kid_cooldown(Duration::MAX)
                .key_refresh_ahead(Duration::MAX),
            b().unknown_kid_cooldown(Duration::MAX),
            b().key_refresh_ahead(Duration::MAX),
        ] {
            assert!(matches!(bad.build(), Err(Error::Config(_))));
        }
        assert!(
            b().key_max_age(MAX_KEY_MAX_AGE)
                .stale_keys_for(MAX_STALE_KEYS_FOR)
                .unknown_kid_cooldown(MAX_KEY_MAX_AGE)
                .build()
                .is_ok()
        );
        assert!(
            b().key_refresh_ahead(Duration::from_secs(600))
                .build()
                .is_err()
        );
        assert!(
            b().unknown_kid_cooldown(Duration::from_secs(3600))
                .build()
                .is_err()
        );
        assert!(b().issuer(" ").build().is_err());
        assert!(b().endpoint_url("http://iam.example.com").build().is_err());
        assert!(b().keys(KeySet::default()).build().is_err());
        assert!(
            b().endpoint_url("http://127.0.0.1:1")
                .keys(KeySet::default())
                .build()
                .is_err(),
            "pinned keys on a custom endpoint need an issuer"
        );
        assert!(b().build().is_ok());
    }
}

/// Entry points for the fuzz targets in `fuzz/`: not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::{Claims, VerifyError, jws};

    /// Every parsing step of a token that precedes and follows the signature check: the
    /// segments, base64url, the header rules, and the claims' JSON and types.
    pub fn parse_token(token: &str) -> Result<Claims, VerifyError> {
        let c = jws::parse(token, jws::DEFAULT_MAX_TOKEN_LEN)?;
        Claims::parse(c.payload).map(complete)
    }

    /// The claims parser alone, on a decoded payload.
    pub fn parse_claims(payload: &[u8]) -> Result<Claims, VerifyError> {
        Claims::parse(payload.to_vec()).map(complete)
    }

    /// Accepted claims must read back whole into [`Claims::raw`]: the fuzzer stops here if
    /// they ever do not.
    fn complete(c: Claims) -> Claims {
        assert_eq!(c.raw().len(), c.members(), "Claims::raw lost members");
        c
    }

    /// The payload segment decoder.
    pub fn decode_payload(segment: &str) -> Result<Vec<u8>, VerifyError> {
        jws::decode_payload(segment)
    }
}
