//! The verified-token cache: a token seen before is accepted without redoing the RSA check,
//! until its `exp`.
//!
//! * Found by a keyed hash (SipHash with a per-cache random key) of the **signature
//!   segment** only, then compared **whole**, in constant time: a lookalike token with a
//!   borrowed signature and a changed payload is a miss, never a hit.
//! * Bounded: at most `capacity` entries in all (tokens are at most the validator's
//!   maximum length), in up to 16 shards behind read-write locks whose capacities add up
//!   to exactly `capacity`; when a shard is full, expired entries go first, then an
//!   arbitrary one.
//! * An entry remembers the key that verified it. A hit counts only while the current key
//!   set still holds that very key, and a key-set refresh drops the entries of withdrawn
//!   keys at once.
//! * Entries hold the token in memory that is zeroed when dropped.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

use zeroize::Zeroizing;

use super::claims::Claims;
use super::jwks::{KeySet, RsaKey};

const SHARDS: usize = 16;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else rather than panic.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Entry {
    token: Zeroizing<String>,
    claims: Claims,
    kid: Box<str>,
    key: Arc<RsaKey>,
}

type Shard = HashMap<u64, Entry, BuildHasherDefault<Prehashed>>;

/// What a hit hands back: the claims and the key to re-check against the current set.
pub(crate) struct Hit {
    pub claims: Claims,
    pub kid: Box<str>,
    pub key: Arc<RsaKey>,
}

/// A shard and how many entries it may hold.
struct Slot {
    map: RwLock<Shard>,
    cap: usize,
}

pub(crate) struct TokenCache {
    shards: Vec<Slot>,
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
            shards: (0..n)
                .map(|i| Slot {
                    map: RwLock::new(Shard::default()),
                    cap: capacity / n + usize::from(i < capacity % n),
                })
                .collect(),
            hasher: RandomState::new(),
            #[cfg(test)]
            hashes: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn locate(&self, token: &str) -> Option<(u64, &Slot)> {
        if self.shards.is_empty() {
            return None;
        }
        #[cfg(test)]
        self.hashes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let signature = token.rsplit_once('.').map_or(token, |(_, s)| s);
        let h = self.hasher.hash_one(signature.as_bytes());
        // The high half picks the shard; the map uses the whole hash.
        let shard = &self.shards[usize::try_from(h >> 32).unwrap_or(0) % self.shards.len()];
        Some((h, shard))
    }

    /// How many hashes were computed.
    #[cfg(test)]
    pub fn hashes(&self) -> usize {
        self.hashes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cached claims of exactly this token, if still in date at `now` per `in_date`.
    #[inline]
    pub fn get(&self, token: &str, now: i64, in_date: impl Fn(i64, i64) -> bool) -> Option<Hit> {
        let (h, shard) = self.locate(token)?;
        let map = shard.map.read().unwrap_or_else(PoisonError::into_inner);
        let e = map.get(&h)?;
        let same = e.token.len() == token.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(
                e.token.as_bytes(),
                token.as_bytes(),
            )
            .is_ok();
        if !same || !in_date(e.claims.exp(), now) {
            return None;
        }
        Some(Hit {
            claims: e.claims.clone(),
            kid: e.kid.clone(),
            key: e.key.clone(),
        })
    }

    /// Remembers a token verified with `key`, expiring entries out of date at `now` when
    /// the shard is full.
    pub fn insert(
        &self,
        token: &str,
        claims: &Claims,
        kid: &str,
        key: &Arc<RsaKey>,
        now: i64,
        in_date: impl Fn(i64, i64) -> bool,
    ) {
        let Some((h, shard)) = self.locate(token) else {
            return;
        };
        let mut map = shard.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= shard.cap && !map.contains_key(&h) {
            map.retain(|_, e| in_date(e.claims.exp(), now));
            if map.len() >= shard.cap
                && let Some(victim) = map.keys().next().copied()
            {
                map.remove(&victim);
            }
        }
        map.insert(
            h,
            Entry {
                token: Zeroizing::new(token.to_owned()),
                claims: claims.clone(),
                kid: kid.into(),
                key: key.clone(),
            },
        );
    }

    /// Drops the entries whose key is no longer in `keys`.
    pub fn retain_keys(&self, keys: &KeySet) {
        for shard in &self.shards {
            shard
                .map
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, e| keys.still_has(&e.kid, &e.key));
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        for shard in &self.shards {
            shard
                .map
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.map.read().unwrap_or_else(PoisonError::into_inner).len())
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

    #[test]
    fn hits_only_the_same_whole_token_while_in_date() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let ks = keyset(&pair, "k");
        let key = ks.get("k").expect("k").clone();
        let cache = TokenCache::new(64);
        cache.insert("h.p.sig", &claims(100), "k", &key, 0, in_date);
        assert!(cache.get("h.p.sig", 99, in_date).is_some());
        assert!(cache.get("h.p.sig", 100, in_date).is_none(), "expired");
        assert!(
            cache.get("h.q.sig", 0, in_date).is_none(),
            "same signature, other payload"
        );
        assert!(cache.get("h.p.sig2", 0, in_date).is_none());
        assert!(cache.get("", 0, in_date).is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn bounded_and_drops_withdrawn_keys() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let ks = keyset(&pair, "k");
        let key = ks.get("k").expect("k").clone();
        let cache = TokenCache::new(32);
        for i in 0..1000 {
            cache.insert(&format!("h.p.s{i}"), &claims(100), "k", &key, 0, in_date);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        assert!(cache.len() >= 16);
        for capacity in (1..=40).chain([100, 4096 + 7]) {
            let c = TokenCache::new(capacity);
            for i in 0..(capacity * 4).max(200) {
                c.insert(&format!("h.p.s{i}"), &claims(100), "k", &key, 0, in_date);
                assert!(c.len() <= capacity, "capacity {capacity}: {}", c.len());
            }
            assert!(
                c.len() >= capacity.min(16),
                "capacity {capacity}: {}",
                c.len()
            );
        }
        let one = TokenCache::new(1);
        one.insert("h.p.a", &claims(100), "k", &key, 0, in_date);
        one.insert("h.p.b", &claims(100), "k", &key, 0, in_date);
        assert_eq!(one.len(), 1);
        assert!(one.get("h.p.b", 0, in_date).is_some(), "the newest stays");
        cache.retain_keys(&ks);
        assert!(cache.len() >= 16, "the key is still there");
        let other = KeyPair::generate(KeySize::Rsa2048).expect("key");
        cache.retain_keys(&keyset(&other, "k"));
        assert_eq!(cache.len(), 0, "same kid, other key: withdrawn");
        let off = TokenCache::new(0);
        off.insert("h.p.s", &claims(100), "k", &key, 0, in_date);
        assert!(off.get("h.p.s", 0, in_date).is_none());
        assert_eq!(off.len(), 0);
        cache.insert("h.p.s", &claims(100), "k", &key, 0, in_date);
        cache.clear();
        assert_eq!(cache.len(), 0);
    }
}
