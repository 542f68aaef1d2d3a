//! Shared helpers: start an emulator, post forms, decode tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ibm_iam_emulator::{Emulator, EmulatorBuilder, RunningEmulator, Seed};
use serde_json::Value;

pub const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
pub const ALICE: &str = "IBMid-550000ED6J";
pub const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";
pub const BOOKS_SID: &str = "ServiceId-9b1c7d4e-0000-4000-8000-000000000001";
pub const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
pub const PROFILE: &str = "Profile-3f0e2a9c-0000-4000-8000-000000000001";
pub const CLI_KEY: &str = "cli-apikey-for-the-default-account-0001";
pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

pub fn seed() -> Seed {
    Seed::from_json(include_str!("../../examples/seed.json")).expect("example seed parses")
}

pub fn builder() -> EmulatorBuilder {
    Emulator::builder().seed(seed()).apikey(CLI_KEY)
}

pub async fn start() -> (RunningEmulator, reqwest::Client) {
    let emu = builder().start().await.expect("emulator starts");
    (emu, client())
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// POSTs a form to `/identity/token`.
pub async fn token_request(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(format!("{url}/identity/token"))
        .form(form)
        .send()
        .await
        .expect("token request")
}

/// An access token for an API key, or a panic with the body.
pub async fn access_token(client: &reqwest::Client, url: &str, apikey: &str) -> String {
    let resp = token_request(
        client,
        url,
        &[("grant_type", APIKEY_GRANT), ("apikey", apikey)],
    )
    .await;
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The claims of a JWT, unverified.
pub fn claims(token: &str) -> Value {
    segment(token, 1)
}

/// The header of a JWT.
pub fn header(token: &str) -> Value {
    segment(token, 0)
}

fn segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

/// Verifies a token's RS256 signature against the emulator's published key set.
pub async fn verify_with_published_keys(client: &reqwest::Client, url: &str, token: &str) -> bool {
    let jwks: Value = client
        .get(format!("{url}/identity/keys"))
        .send()
        .await
        .expect("keys")
        .json()
        .await
        .expect("json");
    let kid = header(token)["kid"].as_str().expect("kid").to_owned();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let n = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().expect("n"))
        .expect("n b64");
    let e = URL_SAFE_NO_PAD
        .decode(jwk["e"].as_str().expect("e"))
        .expect("e b64");
    let key = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let (signed, sig) = token.rsplit_once('.').expect("three parts");
    let sig = URL_SAFE_NO_PAD.decode(sig).expect("sig b64");
    key.verify(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        signed.as_bytes(),
        &sig,
    )
    .is_ok()
}

/// POSTs JSON to the control API.
pub async fn control(client: &reqwest::Client, url: &str, path: &str, body: Value) -> Value {
    let resp = client
        .post(format!("{url}/_emulator/{path}"))
        .json(&body)
        .send()
        .await
        .expect("control request");
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// The emulator's request count for a route.
pub async fn count(client: &reqwest::Client, url: &str, route: &str) -> u64 {
    let v: Value = client
        .get(format!("{url}/_emulator/counters"))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    v["counters"][route].as_u64().unwrap_or(0)
}
