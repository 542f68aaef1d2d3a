//! The verified-token cache: a token seen before is accepted without redoing the RSA check,
//! until its `exp`.
//!
//! * Found by a keyed hash (SipHash with a per-cache random key) of the token's length and
//!   its **last 32 bytes**, which lie in the signature segment (an RS256 signature is at
//!   least 342 characters) and are uniformly random for a genuine token; then compared
//!   **whole**, in constant time: a lookalike token with a borrowed signature and a changed
//!   payload is a miss, never a hit. Hashing a fixed tail rather than the whole segment
//!   keeps the cost of a lookup independent of the token; a collision costs a miss at most
//!   (one entry per hash, and only verified tokens are ever stored).
//! * One hash per validation: the lookup's [`Probe`] serves the insertion after a miss.
//! * Bounded: at most `capacity` entries in all (tokens are at most the validator's
//!   maximum length), in up to 16 shards behind read-write locks whose capacities add up
//!   to exactly `capacity`; when a shard is full, expired entries go first (swept only
//!   when the shard's earliest expiry has passed, so a full shard of live tokens costs no
//!   scan), then an arbitrary one.
//! * An entry remembers the key that verified it. A hit counts only while the current key
//!   set still holds that very key, and a key-set refresh drops the entries of withdrawn
//!   keys at once.
//! * Entries hold the token in memory that is zeroed when dropped, in 64-bit words (eight
//!   times fewer volatile writes than byte by byte), and compared in those words.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

use zeroize::Zeroize;

use super::claims::Claims;
use super::jwks::{KeySet, RsaKey};
use crate::prehashed::Prehashed;

const SHARDS: usize = 16;
/// How many bytes at the end of a token the hash reads.
const HASHED_TAIL: usize = 32;

/// A copy of a token as 64-bit words (the last one zero-padded), zeroed when dropped.
struct Sealed {
    words: Box<[u64]>,
    len: usize,
}

/// Eight bytes (a `chunks_exact(8)` chunk) as a little-endian word: one load.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

/// The last, shorter chunk as a word, zero-padded.
#[inline]
fn last_word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(bytes) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

impl Sealed {
    fn new(token: &[u8]) -> Self {
        let mut words = Vec::with_capacity(token.len().div_ceil(8));
        let mut chunks = token.chunks_exact(8);
        words.extend(chunks.by_ref().map(word));
        if !chunks.remainder().is_empty() {
            words.push(last_word(chunks.remainder()));
        }
        Self {
            words: words.into_boxed_slice(),
            len: token.len(),
        }
    }

    /// Whether `token` is exactly this one. The lengths are compared first (a token's
    /// length is no secret); then every word, without an early exit, in time that
    /// depends on the length only.
    #[inline]
    fn matches(&self, token: &[u8]) -> bool {
        if token.len() != self.len {
            return false;
        }
        let mut diff = 0u64;
        let mut chunks = token.chunks_exact(8);
        let mut words = self.words.iter();
        for (c, w) in chunks.by_ref().zip(words.by_ref()) {
            diff |= w ^ word(c);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            diff |= words.next().map_or(u64::MAX, |w| w ^ last_word(rest));
        }
        std::hint::black_box(diff) == 0
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        self.words.zeroize();
    }
}

struct Entry {
    token: Sealed,
    claims: Claims,
    key: Arc<RsaKey>,
}

struct Shard {
    map: HashMap<u64, Entry, Prehashed>,
    /// The least `exp` of the entries (`i64::MAX` when empty, or not known to be less).
    earliest_exp: i64,
}

/// A shard and how many entries it may hold.
struct Slot {
    shard: RwLock<Shard>,
    cap: usize,
}

/// Where a token is or would be: its hash and shard, computed once per validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    hash: u64,
    slot: usize,
}

/// What a hit hands back: the claims and the key to re-check against the current set.
pub(crate) struct Hit {
    pub claims: Claims,
    pub key: Arc<RsaKey>,
}

pub(crate) struct TokenCache {
    slots: Vec<Slot>,
    hasher: RandomState,
    /// Hashes computed, for tests that check what is never hashed.
    #[cfg(test)]
    hashes: std::sync::atomic::AtomicUsize,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (0 turns it off): `min(capacity, 16)` shards
    /// whose capacities differ by at most one and add up to `capacity`.
    pub fn new(capacity: usize) -> Self {
        let n = capacity.min(SHARDS);
        Self {
            slots: (0..n)
                .map(|i| Slot {
                    shard: RwLock::new(Shard {
                        map: HashMap::default(),
                        earliest_exp: i64::MAX,
                    }),
                    cap: capacity / n + usize::from(i < capacity % n),
                })
                .collect(),
            hasher: RandomState::new(),
            #[cfg(test)]
            hashes: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Where `token` is or would be (`None` when the cache is off).
    #[inline]
    pub fn probe(&self, token: &str) -> Option<Probe> {
        if self.slots.is_empty() {
            return None;
        }
        #[cfg(test)]
        self.hashes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = token.as_bytes();
        let tail = &bytes[bytes.len().saturating_sub(HASHED_TAIL)..];
        let mut h = self.hasher.build_hasher();
        h.write_usize(bytes.len());
        h.write(tail);
        let hash = h.finish();
        // The high half picks the shard; the map uses the whole hash.
        let slot = usize::try_from(hash >> 32).unwrap_or(0) % self.slots.len();
        Some(Probe { hash, slot })
    }

    /// How many hashes were computed.
    #[cfg(test)]
    pub fn hashes(&self) -> usize {
        self.hashes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot(&self, p: Probe) -> Option<&Slot> {
        self.slots.get(p.slot)
    }

    /// The cached claims of exactly this token (found by `probe`, the token's own), if
    /// still in date at `now` per `in_date`.
    #[inline]
    pub fn get(
        &self,
        probe: Probe,
        token: &str,
        now: i64,
        in_date: impl Fn(i64, i64) -> bool,
    ) -> Option<Hit> {
        let shard = self
            .slot(probe)?
            .shard
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let e = shard.map.get(&probe.hash)?;
        if !e.token.matches(token.as_bytes()) || !in_date(e.claims.exp(), now) {
            return None;
        }
        Some(Hit {
            claims: e.claims.clone(),
            key: e.key.clone(),
        })
    }

    /// Remembers a token (found by `probe`, the token's own) verified with `key`,
    /// expiring entries out of date at `now` when the shard is full.
    pub fn insert(
        &self,
        probe: Probe,
        token: &str,
        claims: &Claims,
        key: &Arc<RsaKey>,
        now: i64,
        in_date: impl Fn(i64, i64) -> bool,
    ) {
        let Some(slot) = self.slot(probe) else {
            return;
        };
        // Built before the lock is taken: the copy is the only work that grows with the
        // token.
        let entry = Entry {
            token: Sealed::new(token.as_bytes()),
            claims: claims.clone(),
            key: key.clone(),
        };
        let mut shard = slot.shard.write().unwrap_or_else(PoisonError::into_inner);
        if shard.map.len() >= slot.cap && !shard.map.contains_key(&probe.hash) {
            if !in_date(shard.earliest_exp, now) {
                shard.map.retain(|_, e| in_date(e.claims.exp(), now));
                shard.earliest_exp = shard
                    .map
                    .values()
                    .map(|e| e.claims.exp())
                    .min()
                    .unwrap_or(i64::MAX);
            }
            if shard.map.len() >= slot.cap
                && let Some(victim) = shard.map.keys().next().copied()
            {
                // The earliest expiry may now be later than recorded: harmless, it only
                // makes the next sweep come sooner.
                shard.map.remove(&victim);
            }
        }
        shard.earliest_exp = shard.earliest_exp.min(claims.exp());
        let old = shard.map.insert(probe.hash, entry);
        drop(shard);
        // A replaced entry is zeroed and freed outside the lock.
        drop(old);
    }

    /// Drops the entries whose key is no longer in `keys`.
    pub fn retain_keys(&self, keys: &KeySet) {
        for slot in &self.slots {
            slot.shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .map
                .retain(|_, e| keys.still_has(&e.key));
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        for slot in &self.slots {
            let mut shard = slot.shard.write().unwrap_or_else(PoisonError::into_inner);
            shard.map.clear();
            shard.earliest_exp = i64::MAX;
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .map(|s| {
                s.shard
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .map
                    .len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::jwks::tests::jwk;
    use aws_lc_rs::rsa::{KeyPair, KeySize};

    fn keyset(pair: &KeyPair, kid: &str) -> KeySet {
        let doc = serde_json::json!({ "keys": [jwk(pair, kid)] });
        KeySet::parse(&serde_json::to_vec(&doc).expect("json"), None).expect("set")
    }

    fn claims(exp: i64) -> Claims {
        Claims::parse(format!(r#"{{"exp":{exp}}}"#).into_bytes()).expect("claims")
    }

    fn in_date(exp: i64, now: i64) -> bool {
        now < exp
    }

    fn put(c: &TokenCache, token: &str, exp: i64, key: &Arc<RsaKey>, now: i64) {
        if let Some(p) = c.probe(token) {
            c.insert(p, token, &claims(exp), key, now, in_date);
        }
    }

    fn hit(c: &TokenCache, token: &str, now: i64) -> bool {
        c.probe(token)
            .and_then(|p| c.get(p, token, now, in_date))
            .is_some()
    }

    fn test_key() -> (KeySet, Arc<RsaKey>) {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let ks = keyset(&pair, "k");
        let key = ks.get("k").expect("k").clone();
        (ks, key)
    }

    #[test]
    fn hits_only_the_same_whole_token_while_in_date() {
        let (_, key) = test_key();
        let cache = TokenCache::new(64);
        let sig = "s".repeat(342);
        let token = format!("h.p.{sig}");
        put(&cache, &token, 100, &key, 0);
        assert!(hit(&cache, &token, 99));
        assert!(!hit(&cache, &token, 100), "expired");
        assert!(
            !hit(&cache, &format!("h.q.{sig}"), 0),
            "same signature and length, other payload"
        );
        assert!(!hit(&cache, &format!("h.p.{sig}x"), 0));
        assert!(!hit(&cache, &format!("h.pp.{sig}"), 0));
        assert!(!hit(&cache, "", 0));
        assert_eq!(cache.len(), 1);
        // Short tokens and every length around a word boundary compare exactly.
        for len in 0..40 {
            let t: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            put(&cache, &t, 100, &key, 0);
            assert!(hit(&cache, &t, 0), "{len}");
            if len > 0 {
                let mut other = t.clone().into_bytes();
                other[len - 1] ^= 1;
                let other = String::from_utf8(other).expect("ascii");
                assert!(!hit(&cache, &other, 0), "{len}: last byte differs");
                let mut first = t.clone().into_bytes();
                first[0] ^= 1;
                let first = String::from_utf8(first).expect("ascii");
                assert!(!hit(&cache, &first, 0), "{len}: first byte differs");
            }
        }
    }

    #[test]
    fn sealed_copies_compare_exactly() {
        for len in 0..50usize {
            let t: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let s = Sealed::new(&t);
            assert!(s.matches(&t));
            assert_eq!(s.words.len(), len.div_ceil(8));
            let mut longer = t.clone();
            longer.push(0);
            assert!(!s.matches(&longer), "a zero byte is not padding");
            for i in 0..len {
                let mut o = t.clone();
                o[i] ^= 0x80;
                assert!(!s.matches(&o), "{len}/{i}");
            }
        }
    }

    #[test]
    fn bounded_and_drops_withdrawn_keys() {
        let (ks, key) = test_key();
        let cache = TokenCache::new(32);
        for i in 0..1000 {
            put(&cache, &format!("h.p.s{i}"), 100, &key, 0);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        assert!(cache.len() >= 16);
        for capacity in (1..=40).chain([100, 4096 + 7]) {
            let c = TokenCache::new(capacity);
            for i in 0..(capacity * 4).max(200) {
                put(&c, &format!("h.p.s{i}"), 100, &key, 0);
                assert!(c.len() <= capacity, "capacity {capacity}: {}", c.len());
            }
            assert!(
                c.len() >= capacity.min(16),
                "capacity {capacity}: {}",
                c.len()
            );
        }
        let one = TokenCache::new(1);
        put(&one, "h.p.a", 100, &key, 0);
        put(&one, "h.p.b", 100, &key, 0);
        assert_eq!(one.len(), 1);
        assert!(hit(&one, "h.p.b", 0), "the newest stays");
        cache.retain_keys(&ks);
        assert!(cache.len() >= 16, "the key is still there");
        let other = KeyPair::generate(KeySize::Rsa2048).expect("key");
        cache.retain_keys(&keyset(&other, "k"));
        assert_eq!(cache.len(), 0, "same kid, other key: withdrawn");
        let off = TokenCache::new(0);
        assert!(off.probe("h.p.s").is_none());
        put(&off, "h.p.s", 100, &key, 0);
        assert_eq!(off.len(), 0);
        put(&cache, "h.p.s", 100, &key, 0);
        cache.clear();
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_full_shard_sweeps_expired_entries_first() {
        let (_, key) = test_key();
        let cache = TokenCache::new(1);
        put(&cache, "h.p.old", 10, &key, 0);
        put(&cache, "h.p.new", 100, &key, 20);
        assert!(hit(&cache, "h.p.new", 20));
        assert_eq!(cache.len(), 1);
        // Sixteen shards of four: after their live entries, expired ones go first.
        let cache = TokenCache::new(64);
        for i in 0..64 {
            put(&cache, &format!("h.p.live{i}"), 1000, &key, 0);
        }
        for i in 0..500 {
            put(&cache, &format!("h.p.short{i}"), 10, &key, 0);
        }
        assert!(cache.len() <= 64);
        for i in 0..200 {
            put(&cache, &format!("h.p.later{i}"), 1000, &key, 50);
        }
        assert!(cache.len() <= 64);
        let shorts = (0..500)
            .filter(|i| hit(&cache, &format!("h.p.short{i}"), 5))
            .count();
        assert_eq!(shorts, 0, "expired entries were swept before live ones");
    }
}
