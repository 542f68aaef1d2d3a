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
pub const IAM_AUTHZ_GRANT: &str = "urn:ibm:params:oauth:grant-type:iam-authz";
/// The seed's CRN identity (a resource broker); books-backend is its delegate.
pub const BROKER_CRN: &str = "crn:v1:bluemix:public:resource-controller::a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e::resource-broker:b00c5b40-0000-4000-8000-000000000001";

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

/// Writes `request` over a fresh connection to `addr`, in writes of at most `chunk` bytes,
/// then reads until the server closes the connection (within 10 s). Returns the bytes read
/// and how the read ended (an aborted connection is an error after what was read).
pub async fn raw_exchange(
    addr: std::net::SocketAddr,
    request: &[u8],
    chunk: usize,
) -> (Vec<u8>, std::io::Result<usize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    for part in request.chunks(chunk) {
        stream.write_all(part).await.expect("write");
        stream.flush().await.expect("flush");
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("closed in time");
    (answer, read)
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

// ---- access management (issue 5) ----

/// The seeded access group (member: the books-workload profile; Writer on books).
pub const LIBRARIANS: &str = "AccessGroupId-0b5ee1d0-0000-4000-8000-000000000001";
/// The seeded Reader policy of books-backend.
pub const BOOKS_READER_POLICY: &str = "0b5ee1d0-0000-4000-8000-0000000000a1";
/// The default account of `--apikey` identities.
pub const DEFAULT_ACCOUNT: &str = "def0a17acc0a17def0a17acc0a17def0";

/// `iam-<books-backend>`.
pub fn books_iam_id() -> String {
    format!("iam-{BOOKS_SID}")
}

/// `iam-<books-workload profile>`.
pub fn profile_iam_id() -> String {
    format!("iam-{PROFILE}")
}

/// A CRN of the books service in the seed account.
pub fn books_crn(instance: &str) -> String {
    format!("crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:{instance}::")
}

/// Sends a request; returns the status and the JSON body (`Null` when empty).
pub async fn send_json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("text");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("json body ({e}): {text}"))
    };
    (status, body)
}

/// `POST /v2/authz` with `items`, as `caller`, with advanced obligations.
pub async fn authz(c: &reqwest::Client, url: &str, caller: &str, items: Value) -> (u16, Value) {
    send_json(
        c.post(format!("{url}/v2/authz"))
            .bearer_auth(caller)
            .header("X-Accept-Advanced-Obligation", "true")
            .json(&items),
    )
    .await
}

/// One `/v2/authz` item with an attributes subject and a CRN resource.
pub fn item(subject: &str, action: &str, crn: &str) -> Value {
    serde_json::json!({
        "subject": {"attributes": {"id": subject, "scope": "ibm openid"}},
        "action": action,
        "resource": {"crn": crn},
    })
}

/// Whether `subject` may do `action` on `crn` (one-item `/v2/authz`).
pub async fn permitted(
    c: &reqwest::Client,
    url: &str,
    caller: &str,
    subject: &str,
    action: &str,
    crn: &str,
) -> bool {
    let (status, body) = authz(
        c,
        url,
        caller,
        serde_json::json!([item(subject, action, crn)]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["responses"][0]["status"], "200", "{body}");
    body["responses"][0]["authorizationDecision"]["permitted"]
        .as_bool()
        .expect("permitted")
}

/// Creates a v1 policy as `token`; returns the status and body.
pub async fn create_policy(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    policy: Value,
) -> (u16, Value) {
    let path = if policy.get("control").is_some() {
        "v2"
    } else {
        "v1"
    };
    send_json(
        c.post(format!("{url}/{path}/policies"))
            .bearer_auth(token)
            .json(&policy),
    )
    .await
}

/// A v1 access policy: `role` for `iam_id` on the given resource attributes of the seed
/// account.
pub fn v1_policy(
    subject_attr: &str,
    subject: &str,
    role: &str,
    resource: &[(&str, &str, &str)],
) -> Value {
    let mut attrs = vec![serde_json::json!({"name": "accountId", "value": ACCOUNT})];
    for (name, op, value) in resource {
        attrs.push(serde_json::json!({"name": name, "operator": op, "value": value}));
    }
    serde_json::json!({
        "type": "access",
        "subjects": [{"attributes": [{"name": subject_attr, "value": subject}]}],
        "roles": [{"role_id": role}],
        "resources": [{"attributes": attrs}],
    })
}

/// The CRN of a built-in service role.
pub fn service_role(name: &str) -> String {
    format!("crn:v1:bluemix:public:iam::::serviceRole:{name}")
}

/// The CRN of a built-in platform role.
pub fn platform_role(name: &str) -> String {
    format!("crn:v1:bluemix:public:iam::::role:{name}")
}
