//! RS256 signing keys: generation, publication as a JWK set, scheduled and on-demand
//! rotation with an overlap window, and persistence.
//!
//! The newest key signs. When a key is retired by a rotation it stays published for the
//! overlap window (so tokens it signed keep verifying) and is then withdrawn.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::civil;

/// Why a key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation failed in the crypto library.
    #[error("RSA key generation failed")]
    Generate,
    /// A stored key could not be decoded.
    #[error("stored signing key {kid:?} is not a valid PKCS#8 RSA key: {reason}")]
    Decode {
        /// The key's id.
        kid: String,
        /// What was wrong.
        reason: String,
    },
}

/// One RSA-2048 signing key with its published form.
pub struct SigningKey {
    kid: String,
    pair: KeyPair,
    pkcs8: Vec<u8>,
    public_der: Vec<u8>,
    n: String,
    e: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key whose id is derived from `now` (`YYYYMMDDhhmm`), made unique
    /// against `taken` by a numeric suffix.
    pub fn generate(now: i64, taken: &[&str]) -> Result<Self, KeyError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec();
        let base = civil::key_id(now);
        let mut kid = base.clone();
        let mut n = 1;
        while taken.contains(&kid.as_str()) {
            n += 1;
            kid = format!("{base}-{n}");
        }
        Self::from_parts(kid, pair, pkcs8, now, None)
    }

    fn from_parts(
        kid: String,
        pair: KeyPair,
        pkcs8: Vec<u8>,
        created_at: i64,
        retired_at: Option<i64>,
    ) -> Result<Self, KeyError> {
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let public_der = public.as_ref().to_vec();
        Ok(Self {
            kid,
            pair,
            pkcs8,
            public_der,
            n,
            e,
            created_at,
            retired_at,
        })
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// When the key was made (emulator clock, Unix seconds).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// When a rotation retired the key, if one did.
    pub fn retired_at(&self) -> Option<i64> {
        self.retired_at
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 and SHA-256.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // Signing with a valid in-memory key into a correctly sized buffer cannot fail
        // short of memory exhaustion; an empty signature then fails every verification.
        if self
            .pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .is_err()
        {
            sig.clear();
        }
        sig
    }

    /// Verifies an RS256 signature made by this key.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public_der)
            .verify(message, sig)
            .is_ok()
    }

    /// The key as IAM publishes it at `/identity/keys`: `kty`, `n`, `e`, `alg`, `kid`, no `use`.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "n": self.n,
            "e": self.e,
            "alg": "RS256",
            "kid": self.kid,
        })
    }

    /// The public key as PEM (SubjectPublicKeyInfo), for users who want to pin it.
    pub fn public_pem(&self) -> String {
        let spki = self
            .pair
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default();
        let b64 = STANDARD.encode(spki);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }
}

/// The stored form of a key (private key as base64 PKCS#8).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredKey {
    kid: String,
    pkcs8: String,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// How keys rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// Rotate when the signing key is this many seconds old; `None` rotates only on demand.
    pub every_seconds: Option<i64>,
    /// How long a retired key stays published, in seconds.
    pub overlap_seconds: i64,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            every_seconds: None,
            overlap_seconds: 3600,
        }
    }
}

/// The published keys; the last one signs. Immutable: a rotation builds a new ring.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
    jwks: bytes::Bytes,
}

impl KeyRing {
    /// A ring holding one freshly generated key.
    pub fn generate(now: i64) -> Result<Self, KeyError> {
        Ok(Self::from_keys(vec![Arc::new(SigningKey::generate(
            now,
            &[],
        )?)]))
    }

    fn from_keys(keys: Vec<Arc<SigningKey>>) -> Self {
        // Newest first, as IAM's historical key sets list them.
        let list: Vec<_> = keys.iter().rev().map(|k| k.jwk()).collect();
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": list }))
            .unwrap_or_default()
            .into();
        Self { keys, jwks }
    }

    /// Loads a ring from its stored form. An empty list is an error, as is a bad key.
    pub fn from_stored(stored: &[StoredKey]) -> Result<Self, KeyError> {
        let mut keys = Vec::with_capacity(stored.len());
        for s in stored {
            let decode = |reason: String| KeyError::Decode {
                kid: s.kid.clone(),
                reason,
            };
            let der = STANDARD
                .decode(&s.pkcs8)
                .map_err(|e| decode(e.to_string()))?;
            let pair = KeyPair::from_pkcs8(&der).map_err(|e| decode(e.to_string()))?;
            keys.push(Arc::new(SigningKey::from_parts(
                s.kid.clone(),
                pair,
                der,
                s.created_at,
                s.retired_at,
            )?));
        }
        if keys.is_empty() {
            return Err(KeyError::Decode {
                kid: String::new(),
                reason: "the stored key list is empty".into(),
            });
        }
        Ok(Self::from_keys(keys))
    }

    /// The stored form of every published key.
    pub fn to_stored(&self) -> Vec<StoredKey> {
        self.keys
            .iter()
            .map(|k| StoredKey {
                kid: k.kid.clone(),
                pkcs8: STANDARD.encode(&k.pkcs8),
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect()
    }

    /// The key that signs new tokens.
    pub fn signing_key(&self) -> &Arc<SigningKey> {
        // A ring is never empty: every constructor puts at least one key in it.
        &self.keys[self.keys.len() - 1]
    }

    /// A published key by id.
    pub fn find(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Every published key, oldest first.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// The serialized `/identity/keys` document.
    pub fn jwks(&self) -> bytes::Bytes {
        self.jwks.clone()
    }

    /// A new ring in which a new key signs and the current one is retired at `now`.
    pub fn rotated(&self, now: i64) -> Result<Self, KeyError> {
        let taken: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        let fresh = Arc::new(SigningKey::generate(now, &taken)?);
        let mut keys: Vec<Arc<SigningKey>> = Vec::with_capacity(self.keys.len() + 1);
        for k in &self.keys {
            if k.retired_at.is_some() {
                keys.push(k.clone());
            } else {
                let der = k.pkcs8.clone();
                let pair = KeyPair::from_pkcs8(&der).map_err(|_| KeyError::Generate)?;
                keys.push(Arc::new(SigningKey::from_parts(
                    k.kid.clone(),
                    pair,
                    der,
                    k.created_at,
                    Some(now),
                )?));
            }
        }
        keys.push(fresh);
        Ok(Self::from_keys(keys))
    }

    /// What the policy asks for at `now`: a rotation, a withdrawal of expired retired keys,
    /// or nothing.
    pub fn due(&self, policy: &RotationPolicy, now: i64) -> Maintenance {
        if let Some(every) = policy.every_seconds
            && now - self.signing_key().created_at >= every
        {
            return Maintenance::Rotate;
        }
        if self.keys.iter().any(|k| {
            k.retired_at
                .is_some_and(|r| now - r >= policy.overlap_seconds)
        }) {
            return Maintenance::Withdraw;
        }
        Maintenance::None
    }

    /// A new ring without the retired keys whose overlap window has passed.
    pub fn withdrawn(&self, policy: &RotationPolicy, now: i64) -> Self {
        let keys = self
            .keys
            .iter()
            .filter(|k| {
                k.retired_at
                    .is_none_or(|r| now - r < policy.overlap_seconds)
            })
            .cloned()
            .collect();
        Self::from_keys(keys)
    }
}

/// Key maintenance that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// Nothing to do.
    None,
    /// The signing key is older than the rotation period.
    Rotate,
    /// A retired key has outlived the overlap window.
    Withdraw,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_reload() {
        let ring = KeyRing::generate(1_725_266_520).expect("generate");
        let key = ring.signing_key();
        assert_eq!(key.kid(), "202409020842");
        let sig = key.sign(b"hello");
        assert_eq!(sig.len(), 256);
        assert!(key.verify(b"hello", &sig));
        assert!(!key.verify(b"hellO", &sig));

        let reloaded = KeyRing::from_stored(&ring.to_stored()).expect("reload");
        assert!(reloaded.signing_key().verify(b"hello", &sig));
        let jwks: serde_json::Value = serde_json::from_slice(&reloaded.jwks()).expect("json");
        let k = &jwks["keys"][0];
        assert_eq!(k["kty"], "RSA");
        assert_eq!(k["e"], "AQAB");
        assert!(k.get("use").is_none());
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
    }

    #[test]
    fn rotation_overlaps_then_withdraws() {
        let policy = RotationPolicy {
            every_seconds: Some(100),
            overlap_seconds: 50,
        };
        let ring = KeyRing::generate(1_000).expect("generate");
        assert_eq!(ring.due(&policy, 1_050), Maintenance::None);
        assert_eq!(ring.due(&policy, 1_100), Maintenance::Rotate);
        let rotated = ring.rotated(1_100).expect("rotate");
        assert_eq!(rotated.keys().len(), 2);
        assert_ne!(rotated.signing_key().kid(), ring.signing_key().kid());
        assert_eq!(rotated.due(&policy, 1_120), Maintenance::None);
        assert_eq!(rotated.due(&policy, 1_150), Maintenance::Withdraw);
        let withdrawn = rotated.withdrawn(&policy, 1_150);
        assert_eq!(withdrawn.keys().len(), 1);
        assert_eq!(withdrawn.signing_key().kid(), rotated.signing_key().kid());
    }

    #[test]
    fn corrupt_stored_key_is_an_error() {
        let bad = StoredKey {
            kid: "x".into(),
            pkcs8: "bm90IGEga2V5".into(),
            created_at: 0,
            retired_at: None,
        };
        assert!(matches!(
            KeyRing::from_stored(&[bad]),
            Err(KeyError::Decode { .. })
        ));
        assert!(KeyRing::from_stored(&[]).is_err());
    }
}
