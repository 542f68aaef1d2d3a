//! The decision cache: IBM's semantics, then better.
//!
//! * **Permits** are stored under the exact request and under the *generalised* keys that
//!   the obligation and `cacheKeyPattern` allow: for every action in `obligation.actions`,
//!   at the obligation's subject and resource scope. One account-wide permit for
//!   `[read, write]` then answers later checks of `write` on any instance of that account.
//!   As in IBM's library, only the actions IAM lists go under generalised keys: the action
//!   asked about, if unlisted, is remembered for the exact request only. An obligation
//!   subject without `id`, or resource without `accountId` (IAM's account-wide `{}`), is
//!   bound to the request's subject id and account, so no key ever spans subjects or
//!   accounts. Lifetime `maxCacheAgeSeconds` (600 s when absent).
//! * **Denies** are stored only under the exact request, for 120 s; context-based denies
//!   (`Network`, `Context`) likewise, keyed with the environment. Permits, denies and
//!   context denies can each be switched off.
//! * Keys are canonical and length-prefixed (values containing `,;:` cannot collide), built
//!   from attribute values only (a token-body subject is reduced to its `id` and `scope`),
//!   and what is stored is not that encoding but its HMAC-SHA256 under a key drawn at
//!   random once per process: no subject, attribute, token or secret is inside a key, and
//!   keys mean nothing outside the process. Entries remember their subject and account
//!   the same way (truncated MACs), for invalidation. Requests with environment attributes
//!   get generalised keys that include them.
//! * A change of `cacheKeyPattern` retires every generalised key (they carry the pattern's
//!   version), and the exact-key aliases written on generalised hits with them.
//!   Invalidation by subject, by account or of everything bumps a generation, so an
//!   answer that was requested before an invalidation cannot repopulate the cache: the
//!   generation is checked again inside every insert, under the lock of the shard written,
//!   and a generation read while an invalidation is still sweeping the shards never matches
//!   (see [`Generation`]).
//! * Memory is bounded: at most `max_entries`, oldest evicted first.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use aws_lc_rs::hmac;
use std::time::{Duration, Instant};
use zeroize::Zeroize as _;

use super::types::{AuthzRequest, Decision, DecisionSource, Obligation, Resource};
use crate::clock::Clock;
use crate::prehashed::Prehashed;

const SHARDS: usize = 16;

/// How decisions are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Cache permits.
    pub permits: bool,
    /// Cache ordinary denies (not context-based ones: see `context_denies`).
    pub denies: bool,
    /// Cache context-based denies (`reason` `Network` or `Context`), under the exact request
    /// with its environment. Independent of `denies`.
    pub context_denies: bool,
    /// Permit lifetime when IAM gives no `maxCacheAgeSeconds`.
    pub permit_ttl_fallback: Duration,
    /// An upper bound on permit lifetimes, whatever IAM says.
    pub permit_ttl_cap: Option<Duration>,
    /// Deny lifetime.
    pub deny_ttl: Duration,
    /// Lifetime of context-based denies (`reason` `Network` or `Context`).
    pub context_deny_ttl: Duration,
    /// At most this many entries.
    pub max_entries: usize,
    /// When IAM cannot be reached, serve expired entries up to this long past their expiry,
    /// flagged [`DecisionSource::StaleCache`]. Off (`None`) by default: fail closed.
    ///
    /// Only for transient failures: network errors, timeouts, 429, 408 and 5xx (of the call
    /// or of an item). A 4xx or an unreadable answer is returned as the error it is: IAM
    /// answered, and an old answer must not hide what it said.
    pub serve_stale_for: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            permits: true,
            denies: true,
            context_denies: true,
            permit_ttl_fallback: Duration::from_secs(600),
            permit_ttl_cap: None,
            deny_ttl: Duration::from_secs(120),
            context_deny_ttl: Duration::from_secs(120),
            max_entries: 100_000,
            serve_stale_for: None,
        }
    }
}

/// IAM's `cacheKeyPattern`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPattern {
    /// Subject attribute sets, least specific first.
    pub subject: Vec<Vec<String>>,
    /// Resource attribute sets, least specific first.
    pub resource: Vec<Vec<String>>,
}

/// A cache key: the HMAC-SHA256, under the per-process key, of a request's canonical
/// length-prefixed encoding.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    fn word(&self, i: usize) -> u64 {
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(self.0.iter().skip(i * 8)) {
            *d = *s;
        }
        u64::from_le_bytes(w)
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed and unpredictable without the process's key.
        state.write_u64(self.word(0));
    }
}

/// A truncated MAC of a subject id or account id, to find entries for invalidation.
type Tag = [u8; 16];

/// The per-process MAC key: 32 random bytes from aws-lc-rs's system RNG, drawn on first
/// use. Should the RNG fail, std's `RandomState` (also seeded by the OS) stands in.
fn mac_key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut seed = [0u8; 32];
        if aws_lc_rs::rand::fill(&mut seed).is_err() {
            for (i, chunk) in seed.chunks_mut(8).enumerate() {
                let word = RandomState::new().hash_one((i, std::process::id()));
                for (d, s) in chunk.iter_mut().zip(word.to_le_bytes()) {
                    *d = s;
                }
            }
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, &seed);
        seed.zeroize();
        key
    })
}

fn mac(bytes: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(mac_key(), bytes);
    let mut out = [0u8; 32];
    for (d, s) in out.iter_mut().zip(tag.as_ref()) {
        *d = *s;
    }
    out
}

fn tag(kind: u8, value: &str) -> Tag {
    let mut buf = Vec::with_capacity(value.len() + 9);
    buf.push(kind);
    put_str(&mut buf, value);
    let full = mac(&buf);
    let mut out = [0u8; 16];
    for (d, s) in out.iter_mut().zip(full) {
        *d = s;
    }
    out
}

fn subject_tag(iam_id: &str) -> Tag {
    tag(b'S', iam_id)
}

fn account_tag(account: &str) -> Tag {
    tag(b'A', account)
}

struct Entry {
    permitted: bool,
    reason: Option<Arc<str>>,
    obligation: Option<Arc<Obligation>>,
    expires: Instant,
    subject: Tag,
    account: Option<Tag>,
    /// 0 for IAM's answer to this very request; otherwise the `cacheKeyPattern` version the
    /// entry was derived under (a generalised entry, or an exact-key alias of one): it is
    /// dead once the pattern changes.
    derived_from: u64,
    seq: u64,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Entry, Prehashed>,
    order: VecDeque<(Key, u64)>,
    seq: u64,
}

/// Counters, for dashboards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answers from the cache.
    pub hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Expired answers served because IAM could not be reached.
    pub stale: u64,
    /// Entries evicted to stay within `max_entries`.
    pub evictions: u64,
    /// Entries now held.
    pub entries: u64,
}

/// A snapshot of the cache's invalidation count, taken before asking IAM and handed back
/// to [`DecisionCache::store`]: the answer is stored only if no invalidation started since.
///
/// A snapshot taken while an invalidation is still sweeping the shards is *tainted*: it
/// never matches, so nothing read or asked during a sweep can be written back behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl Generation {
    const TAINTED: u64 = u64::MAX;
}

/// The cache behind a [`super::PdpClient`] (public only through the hidden `internals`
/// module, for benchmarks).
pub struct DecisionCache {
    shards: Vec<Mutex<Shard>>,
    pattern: RwLock<(u64, Option<Arc<KeyPattern>>)>,
    /// The pattern's version, readable without the lock.
    pattern_version: AtomicU64,
    /// Invalidations started, and finished (`finished <= started`; equal when none runs).
    started: AtomicU64,
    finished: AtomicU64,
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
    stale: AtomicU64,
    evictions: AtomicU64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_map<'a>(
    out: &mut Vec<u8>,
    entries: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) {
    out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    for (k, v) in entries {
        put_str(out, k);
        put_str(out, v);
    }
}

/// The resource as asked: a CRN by its text (its attributes lose the cname and any scope
/// but `a/<account>`), attributes by their map. The form is part of the key.
fn put_resource(out: &mut Vec<u8>, r: &Resource) {
    match r.as_crn() {
        Some(c) => {
            out.push(b'C');
            put_str(out, c.as_str());
        }
        None => {
            out.push(b'A');
            put_map(out, r.attributes().iter());
        }
    }
}

/// What a CRN says beyond its attributes (cname and scope segment), for generalised keys:
/// a permit for `o/org1` or on `staging` never answers `o/org2` or `bluemix`.
fn put_realm(out: &mut Vec<u8>, r: &Resource) {
    match r.as_crn() {
        Some(c) => {
            out.push(b'C');
            put_str(out, c.cname());
            put_str(out, c.scope());
        }
        None => out.push(b'A'),
    }
}

/// The exact-request key of `req`.
pub fn exact_key(req: &AuthzRequest) -> Key {
    let mut out = Vec::with_capacity(192);
    out.push(b'E');
    put_map(&mut out, req.subject.cache_attributes().iter());
    put_str(&mut out, &req.action);
    put_resource(&mut out, &req.resource);
    put_map(&mut out, req.environment.attributes().iter());
    Key(mac(&out))
}

fn put_opt(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(v) => {
            out.push(1);
            put_str(out, v);
        }
        None => out.push(0),
    }
}

/// A generalised key: `subject` and `resource` attribute sets (the obligation's when
/// storing, the request's projected on a pattern when looking up), for `action`.
///
/// A set without `id` (subject) or `accountId` (resource), such as the account-wide `{}`
/// of an obligation, is bound to the request's subject id and account: one answer never
/// reaches another subject or another account. The CRN's cname and scope segment, and the
/// environment, are always part of it.
fn general_key(
    version: u64,
    subject: &BTreeMap<String, String>,
    resource: &BTreeMap<String, String>,
    req: &AuthzRequest,
    action: &str,
) -> Key {
    let mut out = Vec::with_capacity(192);
    out.push(b'G');
    out.extend_from_slice(&version.to_le_bytes());
    put_map(&mut out, subject.iter());
    put_map(&mut out, resource.iter());
    put_opt(
        &mut out,
        (!subject.contains_key("id")).then(|| req.subject.id()),
    );
    put_opt(
        &mut out,
        if resource.contains_key("accountId") {
            None
        } else {
            req.resource.account_id()
        },
    );
    put_realm(&mut out, &req.resource);
    put_str(&mut out, action);
    put_map(&mut out, req.environment.attributes().iter());
    Key(mac(&out))
}

/// The request's attributes restricted to `names`; `None` if one is missing.
fn project(attrs: &BTreeMap<String, String>, names: &[String]) -> Option<BTreeMap<String, String>> {
    names
        .iter()
        .map(|n| attrs.get(n).map(|v| (n.clone(), v.clone())))
        .collect()
}

impl DecisionCache {
    /// An empty cache.
    pub fn new(config: CacheConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            pattern: RwLock::new((0, None)),
            pattern_version: AtomicU64::new(0),
            started: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            config,
            clock,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, Shard> {
        // Another word of the MAC than the map's hash uses.
        let i = (key.word(1) % SHARDS as u64) as usize;
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current generation, to hand back to [`Self::store`].
    pub fn generation(&self) -> Generation {
        // `finished` first: if it then equals `started`, no invalidation was running at any
        // moment between the two reads (`finished` never passes `started`).
        let finished = self.finished.load(Ordering::Acquire);
        let started = self.started.load(Ordering::Acquire);
        Generation(if started == finished {
            started
        } else {
            Generation::TAINTED
        })
    }

    /// The entry's decision and expiry, fresh (or, with `stale`, within the stale window).
    /// An entry derived under another `cacheKeyPattern` than `version` is dropped.
    fn read(
        &self,
        key: &Key,
        now: Instant,
        stale: bool,
        version: u64,
    ) -> Option<(Decision, Instant)> {
        let mut shard = self.shard(key);
        let e = shard.map.get(key)?;
        if e.derived_from != 0 && e.derived_from != version {
            shard.map.remove(key);
            return None;
        }
        if now < e.expires {
            return Some((decision(e, DecisionSource::Cache), e.expires));
        }
        let keep = self
            .config
            .serve_stale_for
            .is_some_and(|s| now < e.expires + s);
        if !keep {
            shard.map.remove(key);
            return None;
        }
        stale.then(|| (decision(e, DecisionSource::StaleCache), e.expires))
    }

    /// A fresh cached answer for `req`.
    pub fn lookup(&self, req: &AuthzRequest) -> Option<Decision> {
        self.lookup_at(req, exact_key(req))
    }

    /// [`Self::lookup`], for a caller that already holds `exact`, the [`exact_key`] of
    /// `req` (so that a miss does not compute it twice).
    pub(crate) fn lookup_at(&self, req: &AuthzRequest, exact: Key) -> Option<Decision> {
        let found = self.lookup_inner(req, exact, false);
        match &found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// An expired answer within the stale window (only when opted in), for when IAM fails.
    pub fn lookup_stale(&self, req: &AuthzRequest) -> Option<Decision> {
        self.config.serve_stale_for?;
        let found = self
            .lookup_inner(req, exact_key(req), true)
            .filter(|d| d.source == DecisionSource::StaleCache);
        if found.is_some() {
            self.stale.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    fn lookup_inner(&self, req: &AuthzRequest, exact: Key, stale: bool) -> Option<Decision> {
        // Read before any entry: an alias written below must not outlive an invalidation
        // that sweeps the generalised entry it copies.
        let generation = self.generation();
        let now = self.clock.now();
        let current = self.pattern_version.load(Ordering::Acquire);
        if let Some((d, _)) = self.read(&exact, now, stale, current) {
            return Some(d);
        }
        if !self.config.permits {
            return None;
        }
        let (version, pattern) = {
            let g = self.pattern.read().unwrap_or_else(PoisonError::into_inner);
            (g.0, g.1.clone()?)
        };
        let subject = req.subject.cache_attributes();
        let resource = req.resource.attributes();
        for sp in pattern.subject.iter().rev() {
            let Some(s) = project(subject, sp) else {
                continue;
            };
            for rp in pattern.resource.iter().rev() {
                let Some(r) = project(resource, rp) else {
                    continue;
                };
                let key = general_key(version, &s, &r, req, &req.action);
                if let Some((d, expires)) = self
                    .read(&key, now, stale, version)
                    .filter(|(d, _)| d.permitted)
                {
                    if d.source == DecisionSource::Cache {
                        // Remember the answer under this exact request too: the next
                        // identical check is one lookup instead of a walk of the patterns.
                        self.insert(
                            exact,
                            Entry {
                                permitted: true,
                                reason: d.reason.as_deref().map(Into::into),
                                obligation: d.obligation.clone(),
                                expires,
                                subject: subject_tag(req.subject.id()),
                                account: req.resource.account_id().map(account_tag),
                                derived_from: version,
                                seq: 0,
                            },
                            generation,
                        );
                    }
                    return Some(d);
                }
            }
        }
        None
    }

    /// Stores IAM's answer, unless an invalidation happened since `generation` was read.
    pub fn store(
        &self,
        req: &AuthzRequest,
        d: &Decision,
        pattern: Option<&KeyPattern>,
        generation: Generation,
    ) {
        if self.generation() != generation {
            return;
        }
        let version = self.update_pattern(pattern);
        let now = self.clock.now();
        let ttl = if d.permitted {
            if !self.config.permits {
                return;
            }
            let mut ttl = d
                .obligation
                .as_ref()
                .and_then(|o| o.max_cache_age_seconds)
                .map_or(self.config.permit_ttl_fallback, Duration::from_secs);
            if let Some(cap) = self.config.permit_ttl_cap {
                ttl = ttl.min(cap);
            }
            if ttl.is_zero() {
                // `maxCacheAgeSeconds: 0`, or a value that could not be read: not cached.
                return;
            }
            ttl
        } else {
            let (on, ttl) = if d.is_context_deny() {
                (self.config.context_denies, self.config.context_deny_ttl)
            } else {
                (self.config.denies, self.config.deny_ttl)
            };
            if !on {
                return;
            }
            ttl
        };
        let Some(expires) = now.checked_add(ttl) else {
            return;
        };
        // Only now that something is stored: the tags cost a MAC each.
        let subject_t = subject_tag(req.subject.id());
        let account_t = req.resource.account_id().map(account_tag);
        let entry = |derived_from: u64| Entry {
            permitted: d.permitted,
            reason: d.reason.as_deref().map(Into::into),
            obligation: d.obligation.clone(),
            expires,
            subject: subject_t,
            account: account_t,
            derived_from,
            seq: 0,
        };
        self.insert(exact_key(req), entry(0), generation);
        if !d.permitted {
            // Denies stay under the exact request.
            return;
        }
        let (Some(o), Some(_)) = (&d.obligation, pattern) else {
            return;
        };
        let subject = o.subject.as_ref().unwrap_or(req.subject.cache_attributes());
        let resource = o.resource.as_ref().unwrap_or(req.resource.attributes());
        // Only what IAM listed reaches the obligation's scope; the action asked about is
        // under the exact key above, and under generalised keys only if listed.
        for a in &o.actions {
            let key = general_key(version, subject, resource, req, a);
            self.insert(key, entry(version), generation);
        }
    }

    fn update_pattern(&self, pattern: Option<&KeyPattern>) -> u64 {
        let Some(p) = pattern else {
            return self
                .pattern
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        {
            let g = self.pattern.read().unwrap_or_else(PoisonError::into_inner);
            if g.1.as_deref() == Some(p) {
                return g.0;
            }
        }
        let mut g = self.pattern.write().unwrap_or_else(PoisonError::into_inner);
        if g.1.as_deref() != Some(p) {
            if g.1.is_some() {
                tracing::info!(
                    "IAM's cacheKeyPattern changed; generalised cached permits are retired"
                );
            }
            g.0 += 1;
            g.1 = Some(Arc::new(p.clone()));
            self.pattern_version.store(g.0, Ordering::Release);
        }
        g.0
    }

    /// Inserts unless an invalidation started after `generation` was read. The check is made
    /// under the shard's lock: an invalidation that already swept this shard has bumped
    /// `started` before taking the lock, so it is seen; one that has not yet reached the
    /// shard will sweep this entry.
    fn insert(&self, key: Key, mut entry: Entry, generation: Generation) {
        let cap = (self.config.max_entries / SHARDS).max(1);
        let mut shard = self.shard(&key);
        if generation.0 == Generation::TAINTED
            || self.started.load(Ordering::Acquire) != generation.0
        {
            return;
        }
        shard.seq += 1;
        entry.seq = shard.seq;
        let seq = shard.seq;
        shard.order.push_back((key, seq));
        shard.map.insert(key, entry);
        while shard.map.len() > cap {
            let Some((old, s)) = shard.order.pop_front() else {
                break;
            };
            if shard.map.get(&old).is_some_and(|e| e.seq == s) {
                shard.map.remove(&old);
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keep the order queue from growing without bound under re-inserts.
        if shard.order.len() > 2 * cap + 16 {
            let Shard { map, order, .. } = &mut *shard;
            order.retain(|(k, s)| map.get(k).is_some_and(|e| e.seq == *s));
        }
    }

    fn remove_where(&self, pred: impl Fn(&Entry) -> bool) {
        self.remove_where_hooked(pred, |_| {});
    }

    /// [`Self::remove_where`], calling `before_shard(i)` before sweeping shard `i` (no lock
    /// held), so tests can interleave inserts with a sweep.
    fn remove_where_hooked(
        &self,
        pred: impl Fn(&Entry) -> bool,
        mut before_shard: impl FnMut(usize),
    ) {
        self.started.fetch_add(1, Ordering::AcqRel);
        for (i, s) in self.shards.iter().enumerate() {
            before_shard(i);
            let mut shard = s.lock().unwrap_or_else(PoisonError::into_inner);
            shard.map.retain(|_, e| !pred(e));
        }
        self.finished.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops every answer about this subject.
    pub fn invalidate_subject(&self, iam_id: &str) {
        let t = subject_tag(iam_id);
        self.remove_where(|e| e.subject == t);
    }

    /// Drops every answer about resources of this account.
    pub fn invalidate_account(&self, account_id: &str) {
        let t = account_tag(account_id);
        self.remove_where(|e| e.account == Some(t));
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.remove_where(|_| true);
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        let entries = self
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len() as u64)
            .sum();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries,
        }
    }
}

fn decision(e: &Entry, source: DecisionSource) -> Decision {
    Decision {
        permitted: e.permitted,
        reason: e.reason.as_deref().map(str::to_owned),
        obligation: e.obligation.clone(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::types::{Environment, Resource, Subject};
    use crate::clock::ManualClock;

    fn pattern() -> KeyPattern {
        let v = |xs: &[&[&str]]| {
            xs.iter()
                .map(|x| x.iter().map(|s| (*s).to_owned()).collect())
                .collect()
        };
        KeyPattern {
            subject: v(&[&["id"], &["id", "scope"]]),
            resource: v(&[
                &[],
                &["serviceName"],
                &["serviceName", "accountId"],
                &["serviceName", "accountId", "serviceInstance"],
            ]),
        }
    }

    fn req(action: &str, instance: &str) -> AuthzRequest {
        AuthzRequest::new(
            Subject::attributes("IBMid-1", "ibm openid"),
            action,
            Resource::builder()
                .service_name("books")
                .account_id("acct")
                .service_instance(instance)
                .build(),
        )
    }

    fn permit(actions: &[&str], max_age: Option<u64>) -> Decision {
        let mut resource = BTreeMap::new();
        resource.insert("serviceName".to_owned(), "books".to_owned());
        resource.insert("accountId".to_owned(), "acct".to_owned());
        let mut subject = BTreeMap::new();
        subject.insert("id".to_owned(), "IBMid-1".to_owned());
        subject.insert("scope".to_owned(), "ibm openid".to_owned());
        Decision {
            permitted: true,
            reason: None,
            obligation: Some(Arc::new(Obligation {
                actions: actions.iter().map(|s| (*s).to_owned()).collect(),
                max_cache_age_seconds: max_age,
                subject: Some(subject),
                resource: Some(resource),
            })),
            source: DecisionSource::Pdp,
        }
    }

    fn deny(reason: Option<&str>) -> Decision {
        Decision {
            permitted: false,
            reason: reason.map(str::to_owned),
            obligation: None,
            source: DecisionSource::Pdp,
        }
    }

    fn cache(config: CacheConfig) -> (DecisionCache, ManualClock) {
        let clock = ManualClock::new();
        (DecisionCache::new(config, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn an_account_scope_permit_answers_other_actions_and_instances() {
        let (c, clock) = cache(CacheConfig::default());
        c.store(
            &req("books.book.read", "i1"),
            &permit(&["books.book.read", "books.book.write"], Some(300)),
            Some(&pattern()),
            c.generation(),
        );
        let hit = c
            .lookup(&req("books.book.write", "i2"))
            .expect("generalised hit");
        assert!(hit.permitted && hit.from_cache());
        assert!(
            c.lookup(&req("books.book.delete", "i2")).is_none(),
            "not in obligation.actions"
        );
        clock.advance(Duration::from_secs(300));
        assert!(
            c.lookup(&req("books.book.write", "i2")).is_none(),
            "maxCacheAgeSeconds honoured"
        );
    }

    #[test]
    fn denies_are_exact_and_short_lived() {
        let (c, clock) = cache(CacheConfig::default());
        c.store(
            &req("books.book.read", "i1"),
            &deny(None),
            Some(&pattern()),
            c.generation(),
        );
        assert!(
            !c.lookup(&req("books.book.read", "i1"))
                .expect("exact")
                .permitted
        );
        assert!(
            c.lookup(&req("books.book.read", "i2")).is_none(),
            "instance 2 unaffected"
        );
        clock.advance(Duration::from_secs(120));
        assert!(c.lookup(&req("books.book.read", "i1")).is_none());
        // Context denies are keyed with the environment.
        let env_req = req("books.book.read", "i1")
            .environment(Environment::none().with("networkZone", "outside"));
        c.store(&env_req, &deny(Some("Network")), None, c.generation());
        assert!(c.lookup(&env_req).expect("cached").is_context_deny());
        assert!(
            c.lookup(&req("books.book.read", "i1")).is_none(),
            "another environment is unaffected"
        );
    }

    #[test]
    fn keys_cannot_collide_through_separators() {
        let (c, _) = cache(CacheConfig::default());
        let a = AuthzRequest::new(
            Subject::attributes("a,b", "c"),
            "x",
            Resource::builder().attribute("k", "v;w").build(),
        );
        let b = AuthzRequest::new(
            Subject::attributes("a", "b,c"),
            "x",
            Resource::builder().attribute("k:v", "w").build(),
        );
        c.store(&a, &deny(None), None, c.generation());
        assert!(c.lookup(&b).is_none());
        assert!(exact_key(&a) != exact_key(&b));
    }

    #[test]
    fn keys_are_macs_holding_no_request_text() {
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"iam_id":"IBMid-secretive","scope":"ibm openid"}"#,
        );
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl");
        let r = AuthzRequest::new(
            Subject::token_body(&token).expect("subject"),
            "books.book.read",
            Resource::builder()
                .service_name("books")
                .account_id("acct-0123456789")
                .build(),
        );
        let k = exact_key(&r);
        assert_eq!(k.0.len(), 32);
        let contains = |needle: &[u8]| k.0.windows(needle.len()).any(|w| w == needle);
        for text in ["IBMid-secretive", "books", "acct-0123456789", "ibm openid"] {
            assert!(!contains(text.as_bytes()), "{text} is inside the key");
        }
        // Still canonical: the same request, the same key; another, another.
        assert!(exact_key(&r) == k);
        assert!(exact_key(&req("books.book.read", "i1")) != k);
        // Tags for invalidation are MACs too.
        assert!(subject_tag("IBMid-1") != subject_tag("IBMid-2"));
        assert!(subject_tag("IBMid-1") != account_tag("IBMid-1"));
    }

    #[test]
    fn invalidation_and_the_generation_guard() {
        let (c, _) = cache(CacheConfig::default());
        let before = c.generation();
        c.store(
            &req("books.book.read", "i1"),
            &permit(&["books.book.read"], None),
            Some(&pattern()),
            before,
        );
        c.invalidate_subject("IBMid-1");
        assert!(c.lookup(&req("books.book.read", "i1")).is_none());
        // An answer requested before the invalidation is not stored.
        c.store(
            &req("books.book.read", "i1"),
            &permit(&["books.book.read"], None),
            Some(&pattern()),
            before,
        );
        assert!(c.lookup(&req("books.book.read", "i1")).is_none());
        let now = c.generation();
        c.store(
            &req("books.book.read", "i1"),
            &permit(&["books.book.read"], None),
            Some(&pattern()),
            now,
        );
        c.invalidate_account("other");
        assert!(
            c.lookup(&req("books.book.read", "i1")).is_some(),
            "another account's invalidation leaves it"
        );
        c.invalidate_account("acct");
        assert!(c.lookup(&req("books.book.read", "i1")).is_none());
    }

    fn subject_req(subject: &str, action: &str, instance: &str) -> AuthzRequest {
        AuthzRequest::new(
            Subject::attributes(subject, "ibm openid"),
            action,
            Resource::builder()
                .service_name("books")
                .account_id("acct")
                .service_instance(instance)
                .build(),
        )
    }

    fn permit_for(subject: &str, actions: &[&str]) -> Decision {
        let mut d = permit(actions, None);
        let mut o = (*d.obligation.take().expect("obligation")).clone();
        o.subject
            .as_mut()
            .expect("subject")
            .insert("id".to_owned(), subject.to_owned());
        d.obligation = Some(Arc::new(o));
        d
    }

    #[test]
    fn a_store_racing_a_sweep_cannot_land_behind_it() {
        // Answers requested before `clear()` arrive while it sweeps, before each shard in
        // turn: whichever shard they land in, none survives the invalidation.
        let (c, _) = cache(CacheConfig::default());
        let before = c.generation();
        let reqs: Vec<AuthzRequest> = (0..64)
            .map(|i| subject_req(&format!("IBMid-{i}"), "books.book.read", "i1"))
            .collect();
        c.remove_where_hooked(
            |_| true,
            |_| {
                for r in &reqs {
                    c.store(r, &deny(None), None, before);
                    // A generation read during the sweep is no better.
                    c.store(r, &deny(None), None, c.generation());
                }
            },
        );
        assert_eq!(c.stats().entries, 0);
        for r in &reqs {
            assert!(c.lookup(r).is_none());
        }
        // After the sweep, a fresh generation stores again.
        c.store(&reqs[0], &deny(None), None, c.generation());
        assert!(c.lookup(&reqs[0]).is_some());
    }

    #[test]
    fn an_alias_made_during_a_sweep_does_not_survive_it() {
        // Generalised permits for many subjects; while `clear()` sweeps, each shard in turn,
        // checks of another instance hit the generalised entries not yet swept and would
        // write exact-key aliases into shards already swept.
        let (c, _) = cache(CacheConfig::default());
        let subjects: Vec<String> = (0..64).map(|i| format!("IBMid-{i}")).collect();
        for s in &subjects {
            c.store(
                &subject_req(s, "books.book.read", "i1"),
                &permit_for(s, &["books.book.read", "books.book.write"]),
                Some(&pattern()),
                c.generation(),
            );
        }
        let others: Vec<AuthzRequest> = subjects
            .iter()
            .map(|s| subject_req(s, "books.book.write", &format!("fresh-{s}")))
            .collect();
        let mut hits = 0;
        c.remove_where_hooked(
            |_| true,
            |_| {
                hits += others.iter().filter(|r| c.lookup(r).is_some()).count();
            },
        );
        assert!(hits > 0, "the checks met generalised entries mid-sweep");
        for r in &others {
            assert!(c.lookup(r).is_none(), "an alias outlived the invalidation");
        }
        assert_eq!(c.stats().entries, 0);
    }

    #[test]
    fn crns_that_differ_only_in_scope_or_cname_do_not_share_entries() {
        let (c, _) = cache(CacheConfig::default());
        let crn = |cname: &str, scope: &str| {
            AuthzRequest::new(
                Subject::attributes("IBMid-1", "ibm openid"),
                "books.book.read",
                Resource::crn(&format!(
                    "crn:v1:{cname}:public:books:us-south:{scope}:i1::"
                ))
                .expect("crn"),
            )
        };
        let org1 = crn("bluemix", "o/org1");
        assert_eq!(
            org1.resource.attributes(),
            crn("bluemix", "o/org2").resource.attributes(),
            "the attributes alone cannot tell them apart"
        );
        // An exact permit, and a generalised one at the service's scope.
        let mut books = BTreeMap::new();
        books.insert("serviceName".to_owned(), "books".to_owned());
        let mut p = permit(&["books.book.read"], None);
        let mut o = (*p.obligation.take().expect("obligation")).clone();
        o.resource = Some(books);
        p.obligation = Some(Arc::new(o));
        c.store(&org1, &p, Some(&pattern()), c.generation());
        assert!(c.lookup(&org1).is_some());
        for other in [
            crn("bluemix", "o/org2"),
            crn("bluemix", "s/space1"),
            crn("bluemix", "p/org1"),
            crn("staging", "o/org1"),
            crn("bluemix", ""),
        ] {
            assert!(c.lookup(&other).is_none(), "{:?}", other.resource);
        }
        // A CRN and the same attributes given directly are different questions too.
        let attrs = AuthzRequest::new(
            Subject::attributes("IBMid-1", "ibm openid"),
            "books.book.read",
            Resource::builder()
                .service_name("books")
                .region("us-south")
                .service_instance("i1")
                .attribute("ctype", "public")
                .build(),
        );
        assert_eq!(attrs.resource.attributes(), org1.resource.attributes());
        assert!(c.lookup(&attrs).is_none());
    }

    #[test]
    fn only_listed_actions_are_generalised_and_an_empty_scope_stays_in_its_account() {
        let (c, _) = cache(CacheConfig::default());
        let on = |account: &str, action: &str, instance: &str| {
            AuthzRequest::new(
                Subject::attributes("IBMid-1", "ibm openid"),
                action,
                Resource::builder()
                    .service_name("books")
                    .account_id(account)
                    .service_instance(instance)
                    .build(),
            )
        };
        // IAM lists `write` only; `read` was asked about.
        c.store(
            &on("acct", "books.book.read", "i1"),
            &permit(&["books.book.write"], None),
            Some(&pattern()),
            c.generation(),
        );
        assert!(
            c.lookup(&on("acct", "books.book.read", "i1")).is_some(),
            "exact"
        );
        assert!(
            c.lookup(&on("acct", "books.book.read", "i2")).is_none(),
            "the unlisted action asked about is not spread to the obligation's scope"
        );
        assert!(c.lookup(&on("acct", "books.book.write", "i2")).is_some());

        // An obligation resource of `{}` (and a subject without id): bound to the request's
        // account and subject.
        let mut p = permit(&["books.book.list"], None);
        let mut o = (*p.obligation.take().expect("obligation")).clone();
        o.resource = Some(BTreeMap::new());
        o.subject = Some(BTreeMap::new());
        p.obligation = Some(Arc::new(o));
        let mut wide = pattern();
        wide.subject.insert(0, Vec::new());
        c.store(
            &on("acct", "books.book.list", "i1"),
            &p,
            Some(&wide),
            c.generation(),
        );
        assert!(c.lookup(&on("acct", "books.book.list", "i9")).is_some());
        assert!(
            c.lookup(&on("other-acct", "books.book.list", "i9"))
                .is_none(),
            "an account-wide permit does not reach another account"
        );
        let stranger = AuthzRequest::new(
            Subject::attributes("IBMid-2", "ibm openid"),
            "books.book.list",
            on("acct", "books.book.list", "i9").resource,
        );
        assert!(c.lookup(&stranger).is_none(), "nor another subject");
    }

    #[test]
    fn a_new_pattern_retires_generalised_keys() {
        let (c, _) = cache(CacheConfig::default());
        c.store(
            &req("books.book.read", "i1"),
            &permit(&["books.book.read", "books.book.write"], None),
            Some(&pattern()),
            c.generation(),
        );
        assert!(c.lookup(&req("books.book.write", "i2")).is_some());
        let mut p2 = pattern();
        p2.resource.pop();
        c.store(
            &req("books.book.list", "i9"),
            &deny(None),
            Some(&p2),
            c.generation(),
        );
        assert!(
            c.lookup(&req("books.book.write", "i3")).is_none(),
            "no generalised hit under the new pattern"
        );
        assert!(
            c.lookup(&req("books.book.write", "i2")).is_none(),
            "the exact-key alias of an earlier generalised hit goes with it"
        );
        assert!(
            c.lookup(&req("books.book.read", "i1")).is_some(),
            "exact keys survive"
        );
    }

    #[test]
    fn bounded_and_stale_on_opt_in_only() {
        let (c, clock) = cache(CacheConfig {
            max_entries: 160,
            serve_stale_for: Some(Duration::from_secs(60)),
            ..CacheConfig::default()
        });
        for i in 0..1000 {
            c.store(
                &req("books.book.read", &format!("i{i}")),
                &deny(None),
                None,
                c.generation(),
            );
        }
        let s = c.stats();
        assert!(s.entries <= 160, "{s:?}");
        assert!(s.evictions >= 840);
        let r = req("books.book.read", "i999");
        clock.advance(Duration::from_secs(130));
        assert!(c.lookup(&r).is_none());
        assert_eq!(
            c.lookup_stale(&r).expect("stale").source,
            DecisionSource::StaleCache
        );
        clock.advance(Duration::from_secs(60));
        assert!(c.lookup_stale(&r).is_none(), "past the stale window");
        let (plain, clock) = cache(CacheConfig::default());
        plain.store(&r, &deny(None), None, plain.generation());
        clock.advance(Duration::from_secs(130));
        assert!(
            plain.lookup_stale(&r).is_none(),
            "fail closed unless opted in"
        );
    }

    #[test]
    fn each_kind_can_be_disabled() {
        let (c, _) = cache(CacheConfig {
            permits: false,
            denies: false,
            context_denies: false,
            ..CacheConfig::default()
        });
        c.store(
            &req("a.b.c", "i"),
            &permit(&["a.b.c"], None),
            Some(&pattern()),
            c.generation(),
        );
        c.store(&req("a.b.d", "i"), &deny(None), None, c.generation());
        c.store(
            &req("a.b.e", "i"),
            &deny(Some("Context")),
            None,
            c.generation(),
        );
        assert_eq!(c.stats().entries, 0);

        // Context denies have their own switch, either way round.
        let (c, _) = cache(CacheConfig {
            context_denies: false,
            ..CacheConfig::default()
        });
        c.store(&req("a.b.d", "i"), &deny(None), None, c.generation());
        c.store(
            &req("a.b.e", "i"),
            &deny(Some("Network")),
            None,
            c.generation(),
        );
        assert!(
            c.lookup(&req("a.b.d", "i")).is_some(),
            "ordinary deny cached"
        );
        assert!(
            c.lookup(&req("a.b.e", "i")).is_none(),
            "context deny not cached"
        );
        let (c, _) = cache(CacheConfig {
            denies: false,
            ..CacheConfig::default()
        });
        c.store(&req("a.b.d", "i"), &deny(None), None, c.generation());
        c.store(
            &req("a.b.e", "i"),
            &deny(Some("Network")),
            None,
            c.generation(),
        );
        assert!(c.lookup(&req("a.b.d", "i")).is_none());
        assert!(c.lookup(&req("a.b.e", "i")).is_some());
    }
}
