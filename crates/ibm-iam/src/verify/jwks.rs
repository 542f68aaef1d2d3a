//! The published key set, parsed once into ready RSA public keys looked up by `kid`.
//!
//! Key selection follows what IAM publishes (`kty`, `n`, `e`, `alg`, `kid`, no `use`) and
//! refuses anything a signing key set should not hold. A key is **used** when:
//!
//! * `kty` is `RSA`, with a modulus of 2048 to 8192 bits;
//! * `use` is absent or `sig`; `key_ops`, if present, contains `verify`;
//! * `alg` is absent or `RS256` (never a reason to accept another algorithm);
//! * `kid` is a non-empty string of at most 256 bytes, unique in the set (two different
//!   keys under one `kid` make both unusable: a token could not say which it means);
//! * no private member (`d`, `p`, `q`, …) is present.
//!
//! Any other key is **skipped** with a reason ([`KeySet::skipped`]) without breaking the
//! rest of the set. A set with no usable key is an error, so an empty or poisoned answer
//! never replaces good keys.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::{VerifyError, cut};
use super::json::parse_object;
use super::jws::MAX_KID_LEN;

/// The most keys of one set that are looked at; the rest are skipped.
pub const MAX_KEYS: usize = 100;

const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

/// One RSA public key, parsed once (aws-lc-rs `ParsedPublicKey`), with its `kid` and the
/// components it came from so that an unchanged key is recognised at the next fetch.
pub(crate) struct RsaKey {
    kid: Box<str>,
    n: Vec<u8>,
    e: Vec<u8>,
    key: ParsedPublicKey,
}

impl RsaKey {
    fn from_components(kid: &str, n: Vec<u8>, e: Vec<u8>) -> Result<Self, &'static str> {
        let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
        if !(2048..=8192).contains(&bits) {
            return Err("the modulus is not 2048 to 8192 bits");
        }
        let key = RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|_| "not a valid RSA public key")?;
        Ok(Self {
            kid: kid.into(),
            n,
            e,
            key,
        })
    }

    /// The `kid` the key is published under (a key is only ever reused under its own).
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`: the one signature check of this
    /// crate, used by the validator, the key set and the test vectors alike.
    #[inline]
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    fn same_material(&self, n: &[u8], e: &[u8]) -> bool {
        self.n == n && self.e == e
    }
}

/// A key that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its `kid`, when it had a string one (cut to 64 characters).
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: &'static str,
}

/// A JWK set parsed into ready RS256 public keys, looked up by `kid`.
///
/// The validator builds these from IAM's `/identity/keys`; build one yourself to verify
/// against pinned keys ([`crate::verify::TokenValidatorBuilder::keys`]) or to check a raw
/// signature with [`verify_signature`](Self::verify_signature), the same check the
/// validator makes. Cheap to clone.
///
/// ```
/// use ibm_iam::verify::KeySet;
///
/// let jwks = br#"{"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"","y":""}]}"#;
/// let err = KeySet::from_jwks(jwks).unwrap_err();
/// assert!(err.to_string().contains("no usable key"), "{err}");
/// ```
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Arc<HashMap<Box<str>, Arc<RsaKey>>>,
    skipped: Arc<[SkippedKey]>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl KeySet {
    /// Parses a JWK set document (`{"keys":[…]}`). Keys that do not qualify are skipped
    /// (see [`skipped`](Self::skipped)); a document that is not a JSON object with a
    /// `keys` array, has a duplicate member, or holds no usable key is an error.
    pub fn from_jwks(json: &[u8]) -> Result<Self, crate::Error> {
        Self::parse(json, None)
            .map_err(|why| crate::Error::Config(format!("invalid key set: {why}")))
    }

    /// Parses, reusing the already parsed keys of `previous` whose `kid` and components
    /// are unchanged.
    pub(crate) fn parse(json: &[u8], previous: Option<&KeySet>) -> Result<Self, String> {
        let doc = parse_object(json).map_err(|p| format!("not a JSON object ({p:?})"))?;
        let Some(Value::Array(list)) = doc.get("keys") else {
            return Err("no \"keys\" array".into());
        };
        let mut keys: HashMap<Box<str>, Arc<RsaKey>> = HashMap::new();
        let mut conflicted: Vec<Box<str>> = Vec::new();
        let mut skipped = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let kid_of =
                |m: &Map<String, Value>| m.get("kid").and_then(Value::as_str).map(|k| cut(k, 64));
            let Value::Object(jwk) = entry else {
                skipped.push(SkippedKey {
                    kid: None,
                    reason: "not a JSON object",
                });
                continue;
            };
            if i >= MAX_KEYS {
                skipped.push(SkippedKey {
                    kid: kid_of(jwk),
                    reason: "beyond the most keys looked at",
                });
                continue;
            }
            match candidate(jwk) {
                Err(reason) => skipped.push(SkippedKey {
                    kid: kid_of(jwk),
                    reason,
                }),
                Ok((kid, n, e)) => {
                    if conflicted.iter().any(|c| **c == *kid) {
                        skipped.push(SkippedKey {
                            kid: Some(cut(kid, 64)),
                            reason: "another key has the same kid",
                        });
                        continue;
                    }
                    if let Some(existing) = keys.get(kid) {
                        if !existing.same_material(&n, &e) {
                            keys.remove(kid);
                            conflicted.push(kid.into());
                            skipped.push(SkippedKey {
                                kid: Some(cut(kid, 64)),
                                reason: "another key has the same kid",
                            });
                        }
                        continue;
                    }
                    let reused = previous
                        .and_then(|p| p.keys.get(kid))
                        .filter(|k| k.same_material(&n, &e))
                        .cloned();
                    let key = match reused {
                        Some(k) => k,
                        None => match RsaKey::from_components(kid, n, e) {
                            Ok(k) => Arc::new(k),
                            Err(reason) => {
                                skipped.push(SkippedKey {
                                    kid: Some(cut(kid, 64)),
                                    reason,
                                });
                                continue;
                            }
                        },
                    };
                    keys.insert(kid.into(), key);
                }
            }
        }
        if keys.is_empty() {
            let why = skipped
                .first()
                .map(|s| format!(" (first skipped: {})", s.reason))
                .unwrap_or_default();
            return Err(format!("no usable key in the set{why}"));
        }
        Ok(Self {
            keys: Arc::new(keys),
            skipped: skipped.into(),
        })
    }

    /// The ids of the usable keys, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.keys.keys().map(|k| &**k).collect();
        v.sort_unstable();
        v
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable (only for `KeySet::default()`: parsing never yields one).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a usable key has this id.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The keys that were not used, with the reason.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Checks an RS256 (RSASSA-PKCS1-v1_5, SHA-256) signature over `message` with the key
    /// `kid`: exactly the check [`crate::TokenValidator`] makes for a token, whose
    /// `message` is `header.payload` as sent.
    pub fn verify_signature(
        &self,
        kid: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let key = self
            .get(kid)
            .ok_or_else(|| VerifyError::UnknownKey { kid: cut(kid, 64) })?;
        if key.verify(message, signature) {
            Ok(())
        } else {
            Err(VerifyError::Signature)
        }
    }

    #[inline]
    pub(crate) fn get(&self, kid: &str) -> Option<&Arc<RsaKey>> {
        self.keys.get(kid)
    }

    /// Whether the set still holds this very key (same parsed object) under its `kid`.
    #[inline]
    pub(crate) fn still_has(&self, key: &Arc<RsaKey>) -> bool {
        self.keys
            .get(key.kid())
            .is_some_and(|k| Arc::ptr_eq(k, key))
    }
}

/// The `kid`, modulus and exponent of a JWK that qualifies, or why it does not.
fn candidate(jwk: &Map<String, Value>) -> Result<(&str, Vec<u8>, Vec<u8>), &'static str> {
    let kid = match jwk.get("kid") {
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => k.as_str(),
        Some(Value::String(_)) => return Err("kid is empty or too long"),
        Some(_) => return Err("kid is not a string"),
        None => return Err("no kid"),
    };
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err("kty is not RSA");
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("use is not sig"),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|o| o.as_str() == Some("verify")) => {}
        Some(_) => return Err("key_ops does not allow verify"),
    }
    match jwk.get("alg") {
        None => {}
        Some(Value::String(a)) if a == "RS256" => {}
        Some(_) => return Err("alg is not RS256"),
    }
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err("holds private key material");
    }
    let n = component(jwk.get("n")).ok_or("n is not base64url")?;
    let e = component(jwk.get("e")).ok_or("e is not base64url")?;
    if e.len() > 8 {
        return Err("the exponent is too large");
    }
    Ok((kid, n, e))
}

/// A big-endian integer from base64url (padding tolerated), without leading zero bytes.
fn component(v: Option<&Value>) -> Option<Vec<u8>> {
    let s = v?.as_str()?.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
    let start = bytes.iter().position(|&b| b != 0)?;
    Some(bytes[start..].to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;

    /// A JWK for a generated key (`{kty,n,e,alg,kid}`, IAM's shape).
    pub(crate) fn jwk(pair: &KeyPair, kid: &str) -> Value {
        let public = pair.public_key();
        serde_json::json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            "alg": "RS256",
            "kid": kid,
        })
    }

    fn set(keys: &[Value]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "keys": keys })).expect("json")
    }

    #[test]
    fn selects_keys_by_the_rules_and_skips_the_rest() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let other = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let good = jwk(&pair, "good");
        let with = |kid: &str, f: &dyn Fn(&mut Map<String, Value>)| {
            let mut v = jwk(&pair, kid);
            if let Value::Object(m) = &mut v {
                f(m);
            }
            v
        };
        let keys = vec![
            good.clone(),
            with("use-sig", &|m| {
                m.insert("use".into(), "sig".into());
            }),
            with("use-enc", &|m| {
                m.insert("use".into(), "enc".into());
            }),
            with("ops-sign", &|m| {
                m.insert("key_ops".into(), serde_json::json!(["sign"]));
            }),
            with("ops-verify", &|m| {
                m.insert("key_ops".into(), serde_json::json!(["verify"]));
            }),
            with("alg-rs384", &|m| {
                m.insert("alg".into(), "RS384".into());
            }),
            with("alg-absent", &|m| {
                m.remove("alg");
            }),
            with("kty-ec", &|m| {
                m.insert("kty".into(), "EC".into());
            }),
            with("private", &|m| {
                m.insert("d".into(), "AQAB".into());
            }),
            with("bad-n", &|m| {
                m.insert("n".into(), "***".into());
            }),
            with("short-n", &|m| {
                m.insert("n".into(), URL_SAFE_NO_PAD.encode([0xc3u8; 128]).into());
            }),
            with("", &|_| {}),
            with("x", &|m| {
                m.insert("kid".into(), 7.into());
            }),
            serde_json::json!("not an object"),
            good.clone(), // an exact duplicate is harmless
            jwk(&other, "twice"),
            with("twice", &|_| {}),
        ];
        let ks = KeySet::parse(&set(&keys), None).expect("usable keys");
        assert_eq!(
            ks.kids(),
            vec!["alg-absent", "good", "ops-verify", "use-sig"]
        );
        let reasons: Vec<_> = ks
            .skipped()
            .iter()
            .map(|s| (s.kid.as_deref(), s.reason))
            .collect();
        for (kid, reason) in [
            (Some("use-enc"), "use is not sig"),
            (Some("ops-sign"), "key_ops does not allow verify"),
            (Some("alg-rs384"), "alg is not RS256"),
            (Some("kty-ec"), "kty is not RSA"),
            (Some("private"), "holds private key material"),
            (Some("bad-n"), "n is not base64url"),
            (Some("short-n"), "the modulus is not 2048 to 8192 bits"),
            (Some(""), "kid is empty or too long"),
            (None, "kid is not a string"),
            (None, "not a JSON object"),
            (Some("twice"), "another key has the same kid"),
        ] {
            assert!(
                reasons.contains(&(kid, reason)),
                "{kid:?} {reason}: {reasons:?}"
            );
        }
        assert!(!ks.contains("twice"), "a contested kid is unusable");
    }

    #[test]
    fn refuses_sets_without_usable_keys() {
        for bad in [
            &b"{}"[..],
            b"[]",
            b"{\"keys\":{}}",
            b"{\"keys\":[]}",
            b"{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}]}",
            b"{\"keys\":[],\"keys\":[]}",
            b"not json",
            b"",
        ] {
            assert!(
                KeySet::parse(bad, None).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn reuses_unchanged_keys_and_verifies_signatures() {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("key");
        let json = set(&[jwk(&pair, "k1")]);
        let first = KeySet::parse(&json, None).expect("set");
        let second = KeySet::parse(&json, Some(&first)).expect("set");
        let (a, b) = (first.get("k1").expect("k1"), second.get("k1").expect("k1"));
        assert!(Arc::ptr_eq(a, b), "parsed once");
        assert!(second.still_has(a));
        assert_eq!(a.kid(), "k1");

        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &rng,
            b"msg",
            &mut sig,
        )
        .expect("sign");
        assert!(first.verify_signature("k1", b"msg", &sig).is_ok());
        assert!(matches!(
            first.verify_signature("k1", b"msh", &sig),
            Err(VerifyError::Signature)
        ));
        assert!(matches!(
            first.verify_signature("k2", b"msg", &sig),
            Err(VerifyError::UnknownKey { .. })
        ));

        // Leading zero bytes and padding in n/e are tolerated.
        let public = pair.public_key();
        let mut n = vec![0u8];
        n.extend_from_slice(public.modulus().big_endian_without_leading_zero());
        let padded = serde_json::json!({"kty":"RSA","kid":"p","e":"AQAB","n": format!("{}=", URL_SAFE_NO_PAD.encode(&n))});
        let ks = KeySet::parse(&set(&[padded]), None).expect("set");
        assert!(ks.verify_signature("p", b"msg", &sig).is_ok());
    }
}
