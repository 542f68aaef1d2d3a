//! Authorization: ask IAM's Policy Decision Point whether a subject may perform an action on
//! a resource ([`PdpClient`]), cache the answers the way IAM allows, and list a subject's
//! roles.
//!
//! An authorization that cannot be decided is an error, never a permit (fail closed).

mod batch;
mod cache;
mod crn;
mod types;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

pub use batch::MAX_BATCH;
pub use cache::{CacheConfig, CacheStats, KeyPattern};
pub use crn::Crn;
pub use types::{
    AuthzRequest, Decision, DecisionSource, Environment, Obligation, Resource, ResourceBuilder,
    Subject,
};
pub use wire::{RoleActions, Roles};

use crate::clock::{Clock, SystemClock};
use crate::endpoint::Endpoint;
use crate::error::{Error, TransportKind};
use crate::http::{self, HttpConfig, retry::Backoff};
use crate::token::TokenManager;
use batch::{Batcher, Job, Joined};
use cache::DecisionCache;
use tokio::sync::Semaphore;

/// Internal components for the benchmarks (`benches/decisions.rs`): not a stable API.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use super::cache::{DecisionCache, Generation};
}

/// A request that is answered, or waiting for IAM.
enum Pending {
    Ready(Result<Decision, Error>),
    Waiting(tokio::sync::oneshot::Receiver<Result<Decision, Error>>),
}

impl Pending {
    async fn wait(self) -> Result<Decision, Error> {
        match self {
            Pending::Ready(r) => r,
            Pending::Waiting(rx) => rx
                .await
                .unwrap_or_else(|_| Err(Error::Runtime("the PDP call was abandoned".into()))),
        }
    }
}

/// Per-call options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// Skip the cache (read-after-write, right after a policy change). The answer is still
    /// stored.
    pub bypass_cache: bool,
}

/// A client of IAM's Policy Decision Point.
///
/// ```no_run
/// # async fn demo() -> Result<(), ibm_iam::Error> {
/// use ibm_iam::TokenManager;
/// use ibm_iam::authz::{PdpClient, Resource, Subject};
///
/// let pdp = PdpClient::new(TokenManager::new("service-api-key")?)?;
/// let subject = Subject::attributes("IBMid-123", "ibm openid");
/// let resource = Resource::crn("crn:v1:bluemix:public:books:us-south:a/1111222233334444:shelf-1::")?;
/// let decision = pdp.is_authorized(&subject, "books.book.read", &resource).await?;
/// if decision.permitted { /* … */ }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PdpClient {
    inner: Arc<PdpInner>,
}

impl std::fmt::Debug for PdpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdpClient")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

pub(crate) struct PdpInner {
    tokens: TokenManager,
    endpoint: Endpoint,
    http: reqwest::Client,
    cache: DecisionCache,
    batcher: Batcher,
    max_attempts: u32,
    backoff: Backoff,
    deadline: Duration,
    calls: AtomicU64,
}

/// Configures a [`PdpClient`].
pub struct PdpClientBuilder {
    tokens: TokenManager,
    endpoint: Option<Endpoint>,
    http: HttpConfig,
    cache: CacheConfig,
    batch_window: Duration,
    max_batch: usize,
    max_in_flight: usize,
    max_concurrent_calls: usize,
    max_attempts: u32,
    backoff: Backoff,
    deadline: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PdpClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdpClientBuilder").finish_non_exhaustive()
    }
}

impl PdpClientBuilder {
    /// The PDP's endpoint (default: the token manager's).
    #[must_use]
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// HTTP settings (default request timeout 15 s, as IBM's enforcement library).
    #[must_use]
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }

    /// Decision caching.
    #[must_use]
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// How long to wait for more distinct misses before sending a call (default 2 ms, restarted
    /// by each arrival, at most five times that in all; zero sends at once).
    #[must_use]
    pub fn batch_window(mut self, window: Duration) -> Self {
        self.batch_window = window;
        self
    }

    /// At most this many items per call (1-100, default 100).
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }

    /// At most this many distinct questions queued or being asked at once (default
    /// 10,000). A caller with another new question waits until one is answered
    /// (backpressure); callers asking a question already in flight join it without waiting.
    /// This bounds the coalescing map and the batching queue.
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// At most this many PDP calls at once (default 16); further batches wait, and
    /// collect more questions meanwhile.
    #[must_use]
    pub fn max_concurrent_calls(mut self, n: usize) -> Self {
        self.max_concurrent_calls = n;
        self
    }

    /// Attempts per call for 429, 5xx, timeouts and resets (default 3), within `deadline`
    /// (default 20 s, real time: it bounds each attempt too, so a PDP that never answers
    /// fails the call once it has passed).
    #[must_use]
    pub fn retries(mut self, max_attempts: u32, backoff: Backoff, deadline: Duration) -> Self {
        self.max_attempts = max_attempts;
        self.backoff = backoff;
        self.deadline = deadline;
        self
    }

    /// The clock for cache lifetimes (the retry deadline runs on real time).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates and builds; sends nothing and needs no runtime.
    pub fn build(self) -> Result<PdpClient, Error> {
        if !(1..=MAX_BATCH).contains(&self.max_batch) {
            return Err(Error::Config(format!("max_batch must be 1 to {MAX_BATCH}")));
        }
        if !(1..=Semaphore::MAX_PERMITS).contains(&self.max_in_flight) {
            return Err(Error::Config("max_in_flight must be at least 1".into()));
        }
        if !(1..=Semaphore::MAX_PERMITS).contains(&self.max_concurrent_calls) {
            return Err(Error::Config(
                "max_concurrent_calls must be at least 1".into(),
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::Config("max_attempts must be at least 1".into()));
        }
        if self.cache.max_entries == 0 {
            return Err(Error::Config(
                "the cache needs room for at least one entry".into(),
            ));
        }
        let endpoint = self
            .endpoint
            .unwrap_or_else(|| self.tokens.endpoint().clone());
        Ok(PdpClient {
            inner: Arc::new(PdpInner {
                http: self.http.build_client()?,
                cache: DecisionCache::new(self.cache, self.clock),
                tokens: self.tokens,
                endpoint,
                batcher: Batcher::new(
                    self.batch_window,
                    self.max_batch,
                    self.max_in_flight,
                    self.max_concurrent_calls,
                ),
                max_attempts: self.max_attempts,
                backoff: self.backoff,
                deadline: self.deadline,
                calls: AtomicU64::new(0),
            }),
        })
    }
}

impl PdpClient {
    /// A client that calls the PDP with `tokens`' service credentials, at the same endpoint.
    pub fn new(tokens: TokenManager) -> Result<Self, Error> {
        Self::builder(tokens).build()
    }

    /// A builder.
    pub fn builder(tokens: TokenManager) -> PdpClientBuilder {
        PdpClientBuilder {
            tokens,
            endpoint: None,
            http: HttpConfig::default().request_timeout(Duration::from_secs(15)),
            cache: CacheConfig::default(),
            batch_window: Duration::from_millis(2),
            max_batch: MAX_BATCH,
            max_in_flight: 10_000,
            max_concurrent_calls: 16,
            max_attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            deadline: Duration::from_secs(20),
            clock: Arc::new(SystemClock),
        }
    }

    /// The seed's `is_authorized`: may `subject` do `action` on `resource`?
    pub async fn is_authorized(
        &self,
        subject: &Subject,
        action: &str,
        resource: &Resource,
    ) -> Result<Decision, Error> {
        self.authorize(AuthzRequest::new(subject.clone(), action, resource.clone()))
            .await
    }

    /// One request, through the cache.
    pub async fn authorize(&self, req: AuthzRequest) -> Result<Decision, Error> {
        self.authorize_with(req, CallOptions::default()).await
    }

    /// One request, with per-call options.
    pub async fn authorize_with(
        &self,
        req: AuthzRequest,
        opts: CallOptions,
    ) -> Result<Decision, Error> {
        self.enqueue(req, opts).await.wait().await
    }

    /// Answers from the cache at once; otherwise joins an identical question in flight or
    /// queues a new one for the batcher (waiting for an in-flight slot when all are taken).
    async fn enqueue(&self, req: AuthzRequest, opts: CallOptions) -> Pending {
        if let Err(e) = req.validate() {
            return Pending::Ready(Err(e));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Pending::Ready(Err(Error::Runtime(
                "PdpClient needs a Tokio runtime".into(),
            )));
        }
        // The exact key serves the lookup and, on a miss, the coalescing.
        let key = (!opts.bypass_cache).then(|| cache::exact_key(&req));
        if let Some(key) = key
            && let Some(d) = self.inner.cache.lookup_at(&req, key)
        {
            return Pending::Ready(Ok(d));
        }
        let batcher = &self.inner.batcher;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = match key {
            None => match batcher.slot().await {
                Ok(slot) => batcher.job(req, None, Some(tx), slot),
                Err(e) => return Pending::Ready(Err(e)),
            },
            Some(key) => match batcher.join_or_lead(key, tx).await {
                Ok(Joined::Joined) => return Pending::Waiting(rx),
                Ok(Joined::Lead(slot)) => batcher.job(req, Some(key), None, slot),
                Err(e) => return Pending::Ready(Err(e)),
            },
        };
        batcher.submit(&self.inner, job);
        Pending::Waiting(rx)
    }

    /// Many requests at once: cached answers at once, the rest queued together so they
    /// share as few `/v2/authz` calls as possible (100 items each); results in order.
    pub async fn authorize_many(&self, reqs: Vec<AuthzRequest>) -> Vec<Result<Decision, Error>> {
        self.authorize_many_with(reqs, CallOptions::default()).await
    }

    /// [`Self::authorize_many`], with per-call options.
    pub async fn authorize_many_with(
        &self,
        reqs: Vec<AuthzRequest>,
        opts: CallOptions,
    ) -> Vec<Result<Decision, Error>> {
        let mut pending = Vec::with_capacity(reqs.len());
        for r in reqs {
            pending.push(self.enqueue(r, opts).await);
        }
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            out.push(p.wait().await);
        }
        out
    }

    /// The subject's service and platform roles on `resource`, with the actions they grant
    /// (`POST /v2/authz/roles`).
    pub async fn roles(&self, subject: &Subject, resource: &Resource) -> Result<Roles, Error> {
        let body = json!([{ "subject": subject.to_json(), "resource": resource.to_json() }]);
        let url = self.inner.endpoint.url("/v2/authz/roles");
        let answer = self
            .inner
            .post_json(&url, reqwest::Method::POST, &body)
            .await?;
        let first = answer
            .get("responses")
            .and_then(|r| r.get(0))
            .ok_or_else(|| Error::InvalidResponse {
                url: url.clone(),
                status: 200,
                message: "no responses[0]".into(),
                transaction_id: None,
            })?;
        wire::roles_item(first)
    }

    /// One subject and action over many resources of one service and account
    /// (`PUT /v2/authz/bulk`, [`MAX_BULK`] resources per call, longer lists split), through
    /// the cache: cached answers first, only the rest is asked. Answers are cached like
    /// single ones.
    ///
    /// IAM's list API needs the resources asked together to share one `serviceName`, one
    /// `accountId` and one `resourceType` (or none), and one environment (wire reference
    /// §4.5); CRN resources must also share their cname (the bulk call sends attributes).
    /// Otherwise the resources go through [`Self::authorize_many`]. A decision IAM gives
    /// that cannot be read is that resource's error.
    pub async fn authorize_resources(
        &self,
        subject: &Subject,
        action: &str,
        resources: &[Resource],
    ) -> Vec<Result<Decision, Error>> {
        self.authorize_resources_with(subject, action, resources, CallOptions::default())
            .await
    }

    /// [`Self::authorize_resources`], with per-call options.
    pub async fn authorize_resources_with(
        &self,
        subject: &Subject,
        action: &str,
        resources: &[Resource],
        opts: CallOptions,
    ) -> Vec<Result<Decision, Error>> {
        let reqs: Vec<AuthzRequest> = resources
            .iter()
            .map(|r| AuthzRequest::new(subject.clone(), action, r.clone()))
            .collect();
        let mut out: Vec<Option<Result<Decision, Error>>> = vec![None; reqs.len()];
        if tokio::runtime::Handle::try_current().is_err() {
            let e = Error::Runtime("PdpClient needs a Tokio runtime".into());
            return reqs.iter().map(|_| Err(e.clone())).collect();
        }
        let mut todo = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            if let Err(e) = r.validate() {
                out[i] = Some(Err(e));
            } else if !opts.bypass_cache
                && let Some(d) = self.inner.cache.lookup(r)
            {
                out[i] = Some(Ok(d));
            } else {
                todo.push(i);
            }
        }
        if bulk_eligible(todo.iter().map(|&i| &reqs[i].resource)) {
            for chunk in todo.chunks(MAX_BULK) {
                let batch: Vec<&AuthzRequest> = chunk.iter().map(|&i| &reqs[i]).collect();
                match self.inner.bulk(subject, action, &batch).await {
                    Ok(results) => {
                        for (&i, r) in chunk.iter().zip(results) {
                            out[i] = Some(r);
                        }
                    }
                    Err(e) => {
                        for &i in chunk {
                            out[i] = Some(self.inner.stale_or(&reqs[i], e.clone()));
                        }
                    }
                }
            }
        } else if !todo.is_empty() {
            let asked: Vec<AuthzRequest> = todo.iter().map(|&i| reqs[i].clone()).collect();
            for (&i, r) in todo.iter().zip(self.authorize_many_with(asked, opts).await) {
                out[i] = Some(r);
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Runtime("no answer for this resource".into()))))
            .collect()
    }

    /// Drops every cached answer about this subject.
    pub fn invalidate_subject(&self, iam_id: &str) {
        self.inner.cache.invalidate_subject(iam_id);
    }

    /// Drops every cached answer about this account's resources.
    pub fn invalidate_account(&self, account_id: &str) {
        self.inner.cache.invalidate_account(account_id);
    }

    /// Drops every cached answer.
    pub fn clear_cache(&self) {
        self.inner.cache.clear();
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// HTTP calls made to the PDP so far.
    pub fn pdp_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }
}

/// Most resources per `PUT /v2/authz/bulk` call (IBM's enforcement library's limit);
/// longer lists are split.
pub const MAX_BULK: usize = 1000;

/// The attributes one bulk call's resources share (wire reference §4.5).
const BULK_SHARED: [&str; 3] = ["serviceName", "accountId", "resourceType"];

/// Whether these resources can go in bulk calls: one `serviceName` and one `accountId`
/// (both present), one `resourceType` (or none), and for CRNs one cname.
fn bulk_eligible<'a>(mut resources: impl Iterator<Item = &'a Resource>) -> bool {
    let Some(first) = resources.next() else {
        return false;
    };
    let a = first.attributes();
    if !(a.contains_key("serviceName") && a.contains_key("accountId")) {
        return false;
    }
    let cname = |r: &Resource| r.as_crn().map(|c| c.cname().to_owned());
    let first_cname = cname(first);
    resources.all(|r| {
        let b = r.attributes();
        BULK_SHARED.iter().all(|k| a.get(*k) == b.get(*k)) && cname(r) == first_cname
    })
}

/// Whether an expired answer may stand in for IAM's after this failure: only when IAM could
/// not be reached or was failing (network errors, timeouts, 429, 408, 5xx), as IBM's
/// library does for network errors and 5xx. A 4xx, or an answer that arrived but cannot be
/// read, is IAM speaking: its error is returned. (Narrower than [`Error::is_transient`],
/// which also counts an unreadable answer.)
fn stale_allowed(e: &Error) -> bool {
    match e {
        Error::Transport { .. } => true,
        Error::Iam(i) => i.is_transient(),
        _ => false,
    }
}

impl PdpInner {
    /// Sends a batch and hands every item its answer.
    async fn process(self: Arc<Self>, batch: Vec<Job>) {
        let generation = self.cache.generation();
        let body = Value::Array(batch.iter().map(|j| j.req.to_json(None)).collect());
        let url = self.endpoint.url("/v2/authz");
        let outcome = self
            .post_json(&url, reqwest::Method::POST, &body)
            .await
            .and_then(|v| {
                let parsed =
                    wire::AuthzResponse::read(v).ok_or_else(|| Error::InvalidResponse {
                        url: url.clone(),
                        status: 200,
                        message: "not a /v2/authz answer: no responses[]".into(),
                        transaction_id: None,
                    })?;
                if parsed.responses.len() != batch.len() {
                    return Err(Error::InvalidResponse {
                        url: url.clone(),
                        status: 200,
                        message: format!(
                            "{} answers for {} requests",
                            parsed.responses.len(),
                            batch.len()
                        ),
                        transaction_id: None,
                    });
                }
                Ok(parsed)
            });
        match outcome {
            Ok(parsed) => {
                let pattern = parsed.cache_key_pattern;
                for (job, item) in batch.into_iter().zip(&parsed.responses) {
                    let result = match wire::authz_item(item, &url) {
                        Ok(d) => {
                            self.cache.store(&job.req, &d, pattern.as_ref(), generation);
                            Ok(d)
                        }
                        Err(e) => self.stale_or(&job.req, e),
                    };
                    job.answer(&result);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, items = batch.len(), "the PDP call failed; failing closed");
                for job in batch {
                    let result = self.stale_or(&job.req, e.clone());
                    job.answer(&result);
                }
            }
        }
    }

    /// `e`, or an expired answer when stale answers are opted in and `e` says IAM could not
    /// be reached or was failing (see [`stale_allowed`]).
    fn stale_or(&self, req: &AuthzRequest, e: Error) -> Result<Decision, Error> {
        if stale_allowed(&e)
            && let Some(d) = self.cache.lookup_stale(req)
        {
            return Ok(d);
        }
        Err(e)
    }

    async fn bulk(
        &self,
        subject: &Subject,
        action: &str,
        reqs: &[&AuthzRequest],
    ) -> Result<Vec<Result<Decision, Error>>, Error> {
        let Some(first) = reqs.first().map(|r| r.resource.attributes()) else {
            return Ok(Vec::new());
        };
        let shared: serde_json::Map<String, Value> = BULK_SHARED
            .iter()
            .filter_map(|k| first.get(*k).map(|v| ((*k).to_owned(), json!(v))))
            .collect();
        let unique: Vec<Value> = reqs
            .iter()
            .map(|r| {
                let m: serde_json::Map<String, Value> = r
                    .resource
                    .attributes()
                    .iter()
                    .filter(|(k, _)| !BULK_SHARED.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                Value::Object(m)
            })
            .collect();
        let body = json!({
            "subject": subject.to_json(),
            "action": action,
            "resources": { "sharedAttributes": shared, "uniqueAttributes": unique },
            "environment": { "attributes": {} },
        });
        let url = self.endpoint.url("/v2/authz/bulk");
        let generation = self.cache.generation();
        let answer = self.post_json(&url, reqwest::Method::PUT, &body).await?;
        let decisions = answer
            .get("decisions")
            .and_then(Value::as_array)
            .filter(|d| d.len() == reqs.len())
            .ok_or_else(|| Error::InvalidResponse {
                url: url.clone(),
                status: 200,
                message: "decisions[] does not match the resources".into(),
                transaction_id: None,
            })?;
        let pattern = wire::pattern(answer.get("cacheKeyPattern"));
        Ok(reqs
            .iter()
            .zip(decisions)
            .map(|(req, d)| {
                let decision = wire::bulk_item(d, &url)?;
                self.cache
                    .store(req, &decision, pattern.as_ref(), generation);
                Ok(decision)
            })
            .collect())
    }

    /// Sends JSON with the service's token; retries 429 (honouring `Retry-After`), 5xx,
    /// timeouts and resets within the deadline; a 401 drops the rejected token and retries
    /// once.
    ///
    /// The deadline is measured on Tokio's monotonic clock (real time, not the injected
    /// cache clock, which a test may hold still) and bounds each attempt, token included:
    /// a PDP that never answers costs the deadline, then a timeout error.
    async fn post_json(
        &self,
        url: &str,
        method: reqwest::Method,
        body: &Value,
    ) -> Result<Value, Error> {
        let deadline = tokio::time::Instant::now() + self.deadline;
        let timed_out = || Error::Transport {
            kind: TransportKind::Timeout,
            url: url.to_owned(),
            message: format!("no answer within the PDP deadline of {:?}", self.deadline),
        };
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                return Err(timed_out());
            }
            let one = async {
                let token = self.tokens.get_token().await?;
                let req = self
                    .http
                    .request(method.clone(), url)
                    .header(reqwest::header::AUTHORIZATION, token.bearer_header())
                    .header(reqwest::header::ACCEPT, "application/json")
                    .header("X-Accept-Advanced-Obligation", "true")
                    .json(body);
                self.calls.fetch_add(1, Ordering::Relaxed);
                let a = http::send(req, url).await?;
                Ok::<_, Error>((a, token))
            };
            let result = match tokio::time::timeout(remaining, one).await {
                Err(_) => Err(timed_out()),
                Ok(Err(e)) => Err(e),
                Ok(Ok((a, _))) if (200..300).contains(&a.status) => {
                    if !a.is_json() {
                        Err(a.invalid(url, "the answer is not JSON"))
                    } else {
                        serde_json::from_slice::<Value>(&a.body)
                            .map_err(|e| a.invalid(url, format!("the answer is not JSON: {e}")))
                    }
                }
                Ok(Ok((a, token))) if a.status == 401 && !refreshed => {
                    refreshed = true;
                    self.tokens.invalidate(&token);
                    continue;
                }
                Ok(Ok((a, _))) => Err(Error::Iam(a.iam_error())),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    attempt += 1;
                    if !e.is_transient() || attempt >= self.max_attempts {
                        return Err(e);
                    }
                    let delay = e
                        .retry_after()
                        .unwrap_or_else(|| self.backoff.delay(attempt - 1));
                    if tokio::time::Instant::now() + delay >= deadline {
                        return Err(e);
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
