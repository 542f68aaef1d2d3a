//! Compact JWS (RS256) encoding and verification for the tokens the emulator issues and
//! accepts back: access tokens, refresh tokens and compute-resource tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::keys::{KeyRing, SigningKey};

/// Largest token the emulator will look at.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Signs `claims` with `key`; the header is exactly `{"kid":…,"alg":"RS256"}`, as IAM's.
pub fn sign(key: &SigningKey, claims: &Value) -> String {
    let kid = serde_json::to_string(key.kid()).unwrap_or_else(|_| "\"\"".into());
    let header = format!(r#"{{"kid":{kid},"alg":"RS256"}}"#);
    let mut token = String::with_capacity(1024);
    token.push_str(&URL_SAFE_NO_PAD.encode(header));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig));
    token
}

/// Why a presented token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url segments of JSON, too long, or not RS256.
    #[error("the token is malformed")]
    Malformed,
    /// Signed by no key the emulator currently publishes, or the signature is wrong.
    #[error("the token's signature is not valid")]
    Signature,
    /// `exp` is in the past.
    #[error("the token has expired")]
    Expired,
}

/// Verifies `token` against the published keys and its `exp` against `now`; returns the
/// claims.
pub fn verify(ring: &KeyRing, token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Map<String, Value> = decode_json(h)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(JwtError::Malformed);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(JwtError::Malformed)?;
    let key = ring.find(kid).ok_or(JwtError::Signature)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
    let signed_len = h.len() + 1 + p.len();
    if !key.verify(&token.as_bytes()[..signed_len], &sig) {
        return Err(JwtError::Signature);
    }
    let claims: Map<String, Value> = decode_json(p)?;
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp > now => Ok(claims),
        Some(_) => Err(JwtError::Expired),
        None => Err(JwtError::Malformed),
    }
}

/// Decodes a token's payload without verifying it (for the `accessTokenBody` subject form
/// and diagnostics).
pub fn decode_segment(segment: &str) -> Result<Map<String, Value>, JwtError> {
    decode_json(segment)
}

fn decode_json(segment: &str) -> Result<Map<String, Value>, JwtError> {
    let raw = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&raw).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let ring = KeyRing::generate(1_000).expect("keys");
        let claims = serde_json::json!({"iam_id": "x", "exp": 2_000});
        let token = sign(ring.signing_key(), &claims);
        let header = token.split('.').next().expect("header");
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("utf8");
        assert_eq!(
            header,
            format!(r#"{{"kid":"{}","alg":"RS256"}}"#, ring.signing_key().kid())
        );

        let got = verify(&ring, &token, 1_500).expect("valid");
        assert_eq!(got["iam_id"], "x");
        assert_eq!(verify(&ring, &token, 2_000), Err(JwtError::Expired));

        let mut tampered = token.clone();
        tampered.insert(token.find('.').expect("dot") + 3, 'A');
        assert!(verify(&ring, &tampered, 1_500).is_err());

        let other = KeyRing::generate(1_000).expect("keys");
        // Same kid (same minute), different key: the signature must not verify.
        assert_eq!(verify(&other, &token, 1_500), Err(JwtError::Signature));
        assert_eq!(verify(&ring, "a.b", 1_500), Err(JwtError::Malformed));
        assert_eq!(verify(&ring, "", 1_500), Err(JwtError::Malformed));
        assert_eq!(
            verify(&ring, &"a".repeat(MAX_TOKEN_LEN + 1), 0),
            Err(JwtError::Malformed)
        );
    }
}
