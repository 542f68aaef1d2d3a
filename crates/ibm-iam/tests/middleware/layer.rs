//! IamAuthLayer's answers in detail (RFC 6750 challenges, IAM's error body, the extractor
//! without the layer), with pinned keys that sign whatever a test needs: no IAM involved.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ibm_iam::authz::{PdpClient, Resource};
use ibm_iam::endpoint::PRODUCTION_ISSUER;
use ibm_iam::middleware::{IamAuthLayer, VerifiedClaims};
use ibm_iam::verify::KeySet;
use ibm_iam::{TokenManager, TokenValidator};
use serde_json::{Value, json};

const KID: &str = "layer-test-key";

fn key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).expect("key"))
}

fn b64(b: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn sign(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(json!({"kid": KID, "alg": "RS256"}).to_string()),
        b64(claims.to_string())
    );
    let mut sig = vec![0u8; key().public_modulus_len()];
    key()
        .sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .expect("sign");
    format!("{input}.{}", b64(sig))
}

fn validator() -> TokenValidator {
    let p = key().public_key();
    let jwks = json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "kid": KID,
        "n": b64(p.modulus().big_endian_without_leading_zero()),
        "e": b64(p.exponent().big_endian_without_leading_zero()),
    }]});
    TokenValidator::builder()
        .keys(KeySet::from_jwks(jwks.to_string().as_bytes()).expect("keys"))
        .build()
        .expect("validator")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A PDP client that is never reached (nothing here gets as far as a decision).
fn pdp() -> PdpClient {
    let tokens = TokenManager::builder()
        .api_key("never-used-apikey-0123456789abcdefghij")
        .endpoint_url("http://127.0.0.1:9")
        .build()
        .expect("tm");
    PdpClient::new(tokens).expect("pdp")
}

async fn hello(VerifiedClaims(c): VerifiedClaims) -> String {
    c.iam_id().unwrap_or("?").to_owned()
}

/// `/in` behind the layer (authorizing every request), `/out` using the extractor without it.
async fn serve() -> String {
    let layer = IamAuthLayer::new(validator()).authorize(pdp(), |_: &http::request::Parts| {
        Some((
            "books.book.read".to_owned(),
            Resource::builder().service_name("books").build(),
        ))
    });
    let app = axum::Router::new()
        .route("/in", get(hello))
        .layer(layer)
        .route("/out", get(hello));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

struct Answer {
    status: u16,
    www: Option<String>,
    transaction_id: Option<String>,
    body: Value,
}

async fn call(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v); // `header` appends: two Authorization headers are possible
    }
    let resp = req.send().await.expect("send");
    let get = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let (status, www, transaction_id) = (
        resp.status().as_u16(),
        get("www-authenticate"),
        get("transaction-id"),
    );
    let body = serde_json::from_str(&resp.text().await.expect("text")).unwrap_or(Value::Null);
    Answer {
        status,
        www,
        transaction_id,
        body,
    }
}

#[tokio::test]
async fn a_verified_token_without_a_subject_gets_401_with_a_challenge() {
    let url = serve().await;
    let t = now();
    let token = sign(&json!({
        "sub": "no-iam-id", "iss": PRODUCTION_ISSUER, "iat": t, "exp": t + 3600,
        "scope": "ibm openid",
    }));
    validator()
        .validate(&token)
        .await
        .expect("the token itself verifies");
    let a = call(
        &format!("{url}/in"),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.body["errors"][0]["code"], "invalid_token");
    assert!(
        a.body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("iam_id")
    );
    let www = a.www.expect("WWW-Authenticate on every 401");
    assert!(
        www.starts_with("Bearer realm=\"IBM Cloud IAM\", error=\"invalid_token\""),
        "{www}"
    );
    assert!(!a.body.to_string().contains(&token));

    // A token with a subject passes (and reaches the PDP, unreachable here: 503, fail closed).
    let token = sign(&json!({
        "iam_id": "IBMid-1", "sub": "a", "iss": PRODUCTION_ISSUER, "iat": t, "exp": t + 3600,
        "scope": "ibm openid",
    }));
    let a = call(
        &format!("{url}/in"),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.www, None);
}

#[tokio::test]
async fn no_bearer_token_is_401_without_an_error_code() {
    let url = serve().await;
    for headers in [
        &[][..],
        &[("authorization", "Basic dXNlcjpwYXNz")],
        &[("authorization", "Negotiate abc")],
    ] {
        let a = call(&format!("{url}/in"), headers).await;
        assert_eq!(a.status, 401, "{headers:?}");
        assert_eq!(
            a.www.as_deref(),
            Some("Bearer realm=\"IBM Cloud IAM\""),
            "RFC 6750 §3.1: no error information when no credentials were sent"
        );
        assert_eq!(a.body["errors"][0]["code"], "missing_token");
    }
}

#[tokio::test]
async fn malformed_bearer_credentials_are_400_invalid_request() {
    let url = serve().await;
    for headers in [
        &[("authorization", "Bearer")][..],
        &[("authorization", "Bearer    ")],
        &[("authorization", "Bearer two words")],
        &[("authorization", "Bearer ab=cd")],
        &[("authorization", "Bearer tok!en")],
        &[
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer d.e.f"),
        ],
    ] {
        let a = call(&format!("{url}/in"), headers).await;
        assert_eq!(a.status, 400, "{headers:?}: {}", a.body);
        let www = a.www.expect("www");
        assert!(
            www.starts_with("Bearer realm=\"IBM Cloud IAM\", error=\"invalid_request\""),
            "{www}"
        );
        assert_eq!(a.body["errors"][0]["code"], "invalid_request");
        assert_eq!(a.body["status_code"], 400);
    }
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_server_error() {
    let url = serve().await;
    let t = now();
    let token = sign(&json!({
        "iam_id": "IBMid-1", "sub": "a", "iss": PRODUCTION_ISSUER, "iat": t, "exp": t + 3600,
    }));
    for headers in [&[][..], &[("authorization", &*format!("Bearer {token}"))]] {
        let a = call(&format!("{url}/out"), headers).await;
        assert_eq!(a.status, 500, "the server's mistake, not the caller's");
        assert_eq!(a.www, None, "no challenge: no token would help");
        assert_eq!(a.body["errors"][0]["code"], "server_misconfigured");
    }
}

#[tokio::test]
async fn every_refusal_carries_a_transaction_id() {
    let url = serve().await;
    let a = call(
        &format!("{url}/in"),
        &[("transaction-id", "caller-trace-42")],
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["trace"], "caller-trace-42", "the caller's, echoed");
    assert_eq!(a.transaction_id.as_deref(), Some("caller-trace-42"));

    let a = call(&format!("{url}/in"), &[("authorization", "Bearer")]).await;
    let b = call(&format!("{url}/in"), &[("authorization", "Bearer")]).await;
    let trace = a.body["trace"].as_str().expect("trace").to_owned();
    assert!(trace.starts_with("ibm-iam-"), "{trace}");
    assert_eq!(a.transaction_id.as_deref(), Some(trace.as_str()));
    assert_ne!(b.body["trace"], a.body["trace"], "a fresh one each time");

    // An unsafe caller id is not echoed.
    let a = call(&format!("{url}/in"), &[("transaction-id", "<script>")]).await;
    assert!(
        a.body["trace"]
            .as_str()
            .expect("trace")
            .starts_with("ibm-iam-")
    );
}
