//! 401 for missing, expired and forged tokens, 400 for malformed ones; 403 for a denied
//! action; caches warm on repeats; BearerClient and the books client calling the service.

use ibm_iam::authz::PdpClient;
use ibm_iam::middleware::BearerClient;
use ibm_iam::{TokenManager, TokenValidator};
use ibm_iam_emulator::{Emulator, RunningEmulator, Seed};
use serde_json::{Value, json};

use crate::books::books_app;
use crate::books_client::{add_book, list_books};

const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";

struct Setup {
    emu: RunningEmulator,
    url: String,
    /// The service's validator (a handle on the same caches).
    validator: TokenValidator,
}

async fn setup() -> Setup {
    let emu = Emulator::builder()
        .seed(
            Seed::from_json(include_str!("../../../ibm-iam-emulator/examples/seed.json"))
                .expect("seed"),
        )
        .start()
        .await
        .expect("emulator");
    let validator = TokenValidator::builder()
        .endpoint_url(emu.url())
        .build()
        .expect("validator");
    let service_tokens = TokenManager::builder()
        .api_key(BOOKS_KEY)
        .endpoint_url(emu.url())
        .build()
        .expect("tokens");
    let pdp = PdpClient::new(service_tokens).expect("pdp");
    let app = books_app(validator.clone(), pdp, ACCOUNT.to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Setup {
        emu,
        url,
        validator,
    }
}

/// A new service ID in the seed account with an API key and, when `role` is given, that
/// role on the books service account-wide. Returns its API key.
async fn identity(emu: &RunningEmulator, name: &str, role: Option<&str>) -> String {
    let c = reqwest::Client::new();
    let admin = token(emu, ALICE_KEY).await; // Alice owns the seed account.
    let sid: Value = c
        .post(format!("{}/v1/serviceids/", emu.url()))
        .bearer_auth(&admin)
        .json(&json!({"account_id": ACCOUNT, "name": name, "apikey": {"name": format!("{name}-key")}}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let iam_id = sid["iam_id"].as_str().expect("iam_id");
    if let Some(role) = role {
        let resp = c
            .post(format!("{}/v1/policies", emu.url()))
            .bearer_auth(&admin)
            .json(&json!({
                "type": "access",
                "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
                "roles": [{"role_id": format!("crn:v1:bluemix:public:iam::::serviceRole:{role}")}],
                "resources": [{"attributes": [{"name": "accountId", "value": ACCOUNT}, {"name": "serviceName", "value": "books"}]}],
            }))
            .send()
            .await
            .expect("policy");
        assert!(resp.status().is_success(), "policy: {}", resp.status());
    }
    sid["apikey"]["apikey"].as_str().expect("key").to_owned()
}

async fn token(emu: &RunningEmulator, key: &str) -> String {
    let tm = TokenManager::builder()
        .api_key(key)
        .endpoint_url(emu.url())
        .build()
        .expect("tm");
    tm.get_token()
        .await
        .expect("token")
        .expose_secret()
        .to_owned()
}

async fn get(url: &str, auth: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new().get(format!("{url}/books"));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let text = resp.text().await.expect("text");
    (
        status,
        www,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn missing_malformed_expired_and_forged_tokens_get_401() {
    let s = setup().await;
    let good = token(&s.emu, ALICE_KEY).await;
    let (status, www, body) = get(&s.url, None).await;
    assert_eq!(status, 401);
    assert!(www.expect("www").starts_with("Bearer realm="));
    assert_eq!(body["errors"][0]["code"], "missing_token");

    for (bad, want) in [
        ("Basic abc", 401),
        ("Bearer", 400),
        ("Bearer not a token", 400),
        ("Bearer not.a.token", 401),
    ] {
        let (status, www, body) = get(&s.url, Some(bad)).await;
        assert_eq!(status, want, "{bad}");
        assert!(www.expect("www").starts_with("Bearer realm="), "{bad}");
        assert!(body["errors"][0]["message"].is_string());
    }

    let mut forged = good.clone();
    let n = forged.len();
    forged.replace_range(n - 4.., "AAAA");
    let (status, www, body) = get(&s.url, Some(&format!("Bearer {forged}"))).await;
    assert_eq!(status, 401);
    assert!(www.expect("www").contains("error=\"invalid_token\""));
    assert!(
        !body.to_string().contains(&forged),
        "the token is never echoed"
    );

    // A token the emulator issued two hours "ago" has expired for the validator.
    // (Asked for directly: the TokenManager itself refuses to hand out an expired token.)
    s.emu.state().clock().advance(-2 * 3600);
    let body: Value = reqwest::Client::new()
        .post(format!("{}/identity/token", s.emu.url()))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", ALICE_KEY),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let old = body["access_token"].as_str().expect("token").to_owned();
    s.emu.state().clock().advance(2 * 3600);
    let (status, _, body) = get(&s.url, Some(&format!("Bearer {old}"))).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("expired")
    );
}

#[tokio::test]
async fn permitted_passes_unpermitted_gets_403_and_repeats_hit_the_caches() {
    let s = setup().await;
    let reader = token(&s.emu, &identity(&s.emu, "reader", Some("Reader")).await).await;
    let nobody = token(&s.emu, &identity(&s.emu, "nobody", None).await).await;
    let (status, _, body) = get(&s.url, Some(&format!("Bearer {reader}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["reader"]
            .as_str()
            .expect("reader")
            .starts_with("iam-ServiceId-")
    );

    let (status, www, body) = get(&s.url, Some(&format!("Bearer {nobody}"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(www.expect("www").contains("insufficient_scope"));
    assert_eq!(body["errors"][0]["code"], "forbidden");

    // Both tokens were verified once and are remembered by the service's validator.
    assert_eq!(s.validator.status().cached_tokens, 2);

    // Repeats: no new key fetch, no new PDP call, no new verification-cache entry.
    let keys = s.emu.state().counters().get("/identity/keys");
    let authz = s.emu.state().counters().get("/v2/authz");
    for _ in 0..20 {
        assert_eq!(get(&s.url, Some(&format!("Bearer {reader}"))).await.0, 200);
        assert_eq!(get(&s.url, Some(&format!("Bearer {nobody}"))).await.0, 403);
    }
    assert_eq!(s.emu.state().counters().get("/identity/keys"), keys);
    assert_eq!(s.emu.state().counters().get("/v2/authz"), authz);
    assert_eq!(s.validator.status().cached_tokens, 2);

    // The signal is real: with the cache emptied, the next request is verified afresh and
    // remembered again (and its PDP decision still comes from the decision cache).
    s.validator.clear_cache();
    assert_eq!(s.validator.status().cached_tokens, 0);
    assert_eq!(get(&s.url, Some(&format!("Bearer {reader}"))).await.0, 200);
    assert_eq!(s.validator.status().cached_tokens, 1);
    assert_eq!(s.emu.state().counters().get("/v2/authz"), authz);
}

#[tokio::test]
async fn the_books_client_calls_the_service_with_bearer_tokens() {
    let s = setup().await;
    let client_for = |key: String| {
        BearerClient::new(
            reqwest::Client::new(),
            TokenManager::builder()
                .api_key(key)
                .endpoint_url(s.emu.url())
                .build()
                .expect("tm"),
        )
    };
    let writer = client_for(identity(&s.emu, "writer", Some("Writer")).await);
    let reader = client_for(identity(&s.emu, "reader", Some("Reader")).await);
    let nobody = client_for(identity(&s.emu, "nobody", None).await);
    let before = s.emu.state().counters().get("/identity/token");

    let (status, body) = add_book(&writer, &s.url, "Dune").await.expect("add");
    assert_eq!(status, 200, "{body}");
    let (status, body) = list_books(&reader, &s.url).await.expect("list");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["books"][0]["title"], "Dune");
    assert!(
        v["reader"]
            .as_str()
            .expect("reader")
            .starts_with("iam-ServiceId-")
    );

    let (status, body) = add_book(&reader, &s.url, "Emma").await.expect("add");
    assert_eq!(status, 403, "a Reader cannot create: {body}");
    let (status, _) = list_books(&nobody, &s.url).await.expect("list");
    assert_eq!(status, 403);
    // A 403 is not a reason to drop a token: each client fetched one, once.
    for _ in 0..3 {
        assert_eq!(list_books(&reader, &s.url).await.expect("list").0, 200);
        assert_eq!(list_books(&nobody, &s.url).await.expect("list").0, 403);
    }
    for c in [&writer, &reader, &nobody] {
        assert_eq!(c.tokens().status().requests, 1);
    }
    assert_eq!(
        s.emu.state().counters().get("/identity/token") - before,
        4,
        "the three clients' tokens and the service's own, for the PDP"
    );
}

#[tokio::test]
async fn create_needs_books_book_create() {
    let s = setup().await;
    let post = |token: String| {
        let url = format!("{}/books", s.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"title": "Dune"}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    let reader = token(&s.emu, &identity(&s.emu, "reader", Some("Reader")).await).await;
    let writer = token(&s.emu, &identity(&s.emu, "writer", Some("Writer")).await).await;
    assert_eq!(post(reader).await, 403, "Reader cannot create");
    assert_eq!(post(writer.clone()).await, 200, "Writer can");
    let (status, _, body) = get(&s.url, Some(&format!("Bearer {writer}"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["books"][0]["title"], "Dune");
}
