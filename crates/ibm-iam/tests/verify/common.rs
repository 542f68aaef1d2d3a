//! Shared helpers: test keys that sign anything, IAM-like claims, validators, emulators.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaEncoding};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ibm_iam::clock::{Clock, ManualClock};
use ibm_iam::endpoint::PRODUCTION_ISSUER;
use ibm_iam::verify::KeySet;
use ibm_iam::{Endpoint, TokenValidator};
use ibm_iam_emulator::{Emulator, RunningEmulator};
use serde_json::{Value, json};

pub const APIKEY: &str = "verify-tests-apikey-0123456789abcdefghij";
pub const ACCOUNT: &str = "def0a17acc0a17def0a17acc0a17def0";

/// An RSA-2048 key that signs whatever header and payload a test wants.
pub struct TestKey {
    pub pair: KeyPair,
    pub kid: String,
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        Self {
            pair: KeyPair::generate(KeySize::Rsa2048).expect("key"),
            kid: kid.to_owned(),
        }
    }

    /// The key as IAM publishes it.
    pub fn jwk(&self) -> Value {
        let p = self.pair.public_key();
        json!({
            "kty": "RSA",
            "n": b64(p.modulus().big_endian_without_leading_zero()),
            "e": b64(p.exponent().big_endian_without_leading_zero()),
            "alg": "RS256",
            "kid": self.kid,
        })
    }

    /// Signs `header.payload` (both given as JSON text) with `alg`.
    pub fn sign_with(&self, alg: &'static dyn RsaEncoding, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let sig = self.sign_bytes(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn sign_bytes(&self, alg: &'static dyn RsaEncoding, input: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair.sign(alg, &rng, input, &mut sig).expect("sign");
        sig
    }

    /// An RS256 token with IAM's header (`kid`, `alg`) over these claims.
    pub fn token(&self, claims: &Value) -> String {
        let header = format!(r#"{{"kid":{},"alg":"RS256"}}"#, json!(self.kid));
        self.sign_with(&RSA_PKCS1_SHA256, &header, &claims.to_string())
    }

    /// An RS256 token with any header text and payload text.
    pub fn raw(&self, header: &str, payload: &str) -> String {
        self.sign_with(&RSA_PKCS1_SHA256, header, payload)
    }
}

/// Keys generated once per test run (RSA generation is slow).
pub fn key(which: usize) -> &'static TestKey {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        vec![
            TestKey::generate("202409020842"),
            TestKey::generate("202410010000"),
            TestKey::generate("attacker"),
        ]
    })[which]
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

pub fn keyset(keys: &[&TestKey]) -> KeySet {
    let doc = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
    KeySet::from_jwks(&serde_json::to_vec(&doc).expect("json")).expect("key set")
}

pub fn unix(clock: &dyn Clock) -> i64 {
    clock
        .system_now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Service-ID claims as IAM issues them, issued at `now`, valid one hour.
pub fn claims(now: i64) -> Value {
    json!({
        "iam_id": "iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
        "id": "iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
        "realmid": "iam",
        "jti": "c4810836-2467-49e6-9612-ad3595de4eb1",
        "identifier": "ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
        "name": "My Service ID",
        "sub": "ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
        "sub_type": "ServiceId",
        "authn": {"sub": "ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
                  "iam_id": "iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69",
                  "sub_type": "ServiceId", "name": "My Service ID"},
        "account": {"valid": true, "bss": "f71446b6474d45bf81196da45de13940", "frozen": true},
        "iat": now, "exp": now + 3600,
        "iss": PRODUCTION_ISSUER,
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
        "scope": "ibm openid", "client_id": "default", "acr": 1, "amr": ["pwd"]
    })
}

/// A validator with pinned keys 0 and 1 (production's issuer) and a manual clock.
pub fn pinned() -> (TokenValidator, ManualClock) {
    let clock = ManualClock::new();
    let v = TokenValidator::builder()
        .endpoint(Endpoint::production())
        .keys(keyset(&[key(0), key(1)]))
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("validator");
    (v, clock)
}

/// An emulator with one service-ID API key.
pub async fn emulator() -> RunningEmulator {
    Emulator::builder()
        .apikey(APIKEY)
        .start()
        .await
        .expect("emulator starts")
}

/// A fresh access token from the emulator.
pub async fn emulator_token(emu: &RunningEmulator) -> String {
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/identity/token", emu.url()))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", APIKEY),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// The `kid` in a token's header.
pub fn kid_of(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&unb64(token.split('.').next().expect("header"))).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

/// A validator for the emulator on a manual clock that starts at the emulator's time.
pub fn emulator_validator(
    emu: &RunningEmulator,
    f: impl FnOnce(ibm_iam::verify::TokenValidatorBuilder) -> ibm_iam::verify::TokenValidatorBuilder,
) -> (TokenValidator, ManualClock) {
    let clock = ManualClock::new();
    let b = TokenValidator::builder()
        .endpoint_url(emu.url())
        .clock(Arc::new(clock.clone()));
    (f(b).build().expect("validator"), clock)
}

/// Moves the emulator's clock and the validator's together.
pub fn advance(emu: &RunningEmulator, clock: &ManualClock, secs: u64) {
    emu.state().clock().advance(secs as i64);
    clock.advance(Duration::from_secs(secs));
}

/// Requests to the emulator's key set so far.
pub fn key_fetches(emu: &RunningEmulator) -> u64 {
    emu.state().counters().get("/identity/keys")
}

/// Waits (bounded, in real time) until `f` holds: for background work to land.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
