//! A full run with every log captured at TRACE finds no secret anywhere.
//!
//! In this process, with a global TRACE subscriber for every crate (the library, the
//! emulator, hyper, reqwest, rustls through `log`): every grant (API key, API key with a
//! client, refresh token, compute-resource token, assume, and password against the
//! emulator), failing grants, verification of good and forged tokens, the PDP client
//! (decisions, roles, bulk, a PDP failure), and both middlewares (BearerClient calling an
//! axum service behind IamAuthLayer: permit, deny, forged token, PDP down), over HTTPS to an
//! in-process emulator. The `Debug` and `Display` output of every object and error, and the
//! bodies the middleware answers with, are collected too.
//!
//! Then the binary, with `IBM_IAM_LOG=trace`: an `ibm-iam emulator` child process, and
//! `token` (stderr only: printing the token is its job), `validate`, `authz`, `roles` and
//! `demo` against it, with their stdout and stderr.
//!
//! No API key, access token (nor its signature alone), refresh token, compute-resource
//! token, client secret or password may appear in any of it, and nothing shaped like a
//! signed JWT may appear at all (that catches tokens the test never saw, such as the ones
//! the demo and a rotating refresh token produce). Nothing is skipped: if a part cannot
//! run (the emulator's PDP missing, say), the test fails.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::request::Parts;
use axum::routing::get;
use ibm_iam::authz::{PdpClient, Resource, Subject};
use ibm_iam::middleware::{BearerClient, IamAuthLayer, VerifiedClaims};
use ibm_iam::token::{ContainerAuth, Profile};
use ibm_iam::{HttpConfig, TokenManager, TokenValidator};
use ibm_iam_emulator::{Emulator, RunningEmulator, Seed, Tls};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ibm-iam");
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ibm-iam-emulator/examples/seed.json"
);
const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
const ALICE_PASSWORD: &str = "alice-password-change-me";
const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";
const PROFILE: &str = "Profile-3f0e2a9c-0000-4000-8000-000000000001";
const READER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Reader";
const CLIENT_SECRET: &str = "leak-test-client-secret-7Hq2Zp9Lw";
const WRONG_KEY: &str = "leak-test-unknown-apikey-0123456789abcdef";
const WRONG_PASSWORD: &str = "leak-test-wrong-password-Xy7";
const WRONG_REFRESH: &str = "leak-test-bogus-refresh-token-Qm4Rt8";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every secret the run handled, and every text it produced.
#[derive(Default)]
struct Ledger {
    secrets: Vec<(String, String)>,
    texts: Vec<(String, String)>,
}

impl Ledger {
    fn secret(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 8, "{what} is too short to search for");
        self.secrets.push((what.to_owned(), value.to_owned()));
        // An access token's signature is what makes it usable; look for it alone too.
        let parts: Vec<&str> = value.split('.').collect();
        if parts.len() == 3 && parts[2].len() >= 40 {
            self.secrets
                .push((format!("{what} (signature)"), parts[2].to_owned()));
        }
    }

    fn text(&mut self, what: &str, text: impl Into<String>) {
        self.texts.push((what.to_owned(), text.into()));
    }
}

/// Anything shaped like a signed JWT: `eyJ….<payload>.<signature>`.
fn jwts(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .map(|piece| piece.trim_matches('.'))
        .filter(|piece| {
            let p: Vec<&str> = piece.split('.').collect();
            p.len() == 3 && p[0].starts_with("eyJ") && p[1].len() >= 10 && p[2].len() >= 40
        })
        .map(str::to_owned)
        .collect()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_owned()
}

struct Lib {
    emu: RunningEmulator,
    http: HttpConfig,
    raw: reqwest::Client,
}

impl Lib {
    fn manager(&self, b: ibm_iam::TokenManagerBuilder) -> TokenManager {
        b.endpoint_url(self.emu.url())
            .http(self.http.clone())
            .build()
            .expect("manager")
    }

    async fn grant(&self, form: &[(&str, &str)], basic: bool) -> (u16, Value) {
        let mut req = self
            .raw
            .post(format!("{}/identity/token", self.emu.url()))
            .form(form);
        if basic {
            req = req.basic_auth("bx", Some(CLIENT_SECRET));
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn api(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let resp = self
            .raw
            .request(method, format!("{}{path}", self.emu.url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn fault(&self, rule: Value) {
        let r = self
            .raw
            .post(format!("{}/_emulator/faults", self.emu.url()))
            .json(&rule)
            .send()
            .await
            .expect("fault");
        assert_eq!(r.status(), 201);
    }

    async fn clear_faults(&self) {
        self.raw
            .delete(format!("{}/_emulator/faults", self.emu.url()))
            .send()
            .await
            .expect("clear");
    }
}

fn instance(i: &str) -> Resource {
    Resource::builder()
        .service_name("books")
        .account_id(ACCOUNT)
        .service_instance(i)
        .build()
}

fn policy(iam_id: &str) -> Value {
    json!({
        "type": "access",
        "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
        "roles": [{"role_id": READER}],
        "resources": [{"attributes": [
            {"name": "accountId", "value": ACCOUNT},
            {"name": "serviceName", "value": "books"},
        ]}],
    })
}

/// Everything the library does, in this process.
async fn library(l: &mut Ledger, dir: &std::path::Path) {
    let emu = Emulator::builder()
        .seed(Seed::from_json(&std::fs::read_to_string(SEED).expect("seed")).expect("seed"))
        .tls(Tls::SelfSigned)
        .start()
        .await
        .expect("emulator");
    let pem = emu.cert_pem().expect("a CA certificate").to_owned();
    let raw = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let lib = Lib {
        emu,
        http: HttpConfig::default().add_root_pem(pem),
        raw,
    };
    for (what, v) in [
        ("API key", ALICE_KEY),
        ("API key", BOOKS_KEY),
        ("password", ALICE_PASSWORD),
        ("client secret", CLIENT_SECRET),
        ("unknown API key", WRONG_KEY),
        ("wrong password", WRONG_PASSWORD),
        ("bogus refresh token", WRONG_REFRESH),
    ] {
        l.secret(what, v);
    }
    let mut printed = String::new();

    // Every grant the token manager sends.
    let alice = lib.manager(TokenManager::builder().api_key(ALICE_KEY));
    let with_client = lib.manager(
        TokenManager::builder()
            .api_key(BOOKS_KEY)
            .client_credentials("bx", CLIENT_SECRET),
    );
    let (status, issued) = lib
        .grant(
            &[
                ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                ("apikey", ALICE_KEY),
            ],
            true,
        )
        .await;
    assert_eq!(status, 200, "{issued}");
    l.secret(
        "access token (raw API-key grant)",
        &s(&issued, "access_token"),
    );
    let refresh = s(&issued, "refresh_token");
    l.secret("refresh token", &refresh);
    let refreshing = lib.manager(
        TokenManager::builder()
            .refresh_token(refresh)
            .client_credentials("bx", CLIENT_SECRET),
    );
    let cr: Value = lib
        .raw
        .post(format!("{}/_emulator/cr-tokens", lib.emu.url()))
        .json(&json!({"claims": {"namespace": "books"}}))
        .send()
        .await
        .expect("cr")
        .json()
        .await
        .expect("json");
    let cr = s(&cr, "cr_token");
    l.secret("compute-resource token", &cr);
    let cr_file = dir.join("cr-token");
    std::fs::write(&cr_file, &cr).expect("write");
    let container = lib.manager(TokenManager::builder().container(ContainerAuth {
        cr_token_file: Some(cr_file),
        profile_id: Some(PROFILE.into()),
        profile_name: None,
        profile_crn: None,
    }));
    let assume =
        lib.manager(TokenManager::builder().assume(alice.clone(), Profile::Id(PROFILE.into())));
    let managers = [
        ("api key", &alice),
        ("api key with a client", &with_client),
        ("refresh token", &refreshing),
        ("cr token", &container),
        ("assume", &assume),
    ];
    let mut tokens = Vec::new();
    for (what, tm) in managers {
        let t = tm
            .get_token()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        l.secret(&format!("access token ({what})"), t.expose_secret());
        printed.push_str(&format!("{t:?} {tm:?} {:?}\n", tm.status()));
        // Drop it and get another: the refresh-token manager now sends the token it was
        // given last (rotated), the others repeat their grant.
        assert!(tm.invalidate(&t));
        let again = tm.get_token().await.expect("again");
        l.secret(
            &format!("access token ({what}, again)"),
            again.expose_secret(),
        );
        tokens.push(again.expose_secret().to_owned());
    }
    // The password grant (the emulator's; the library does not send it), and failures.
    let (status, pw) = lib
        .grant(
            &[
                ("grant_type", "password"),
                ("username", "alice@example.com"),
                ("password", ALICE_PASSWORD),
            ],
            true,
        )
        .await;
    assert_eq!(status, 200, "{pw}");
    l.secret("access token (password)", &s(&pw, "access_token"));
    l.secret("refresh token (password)", &s(&pw, "refresh_token"));
    let (status, body) = lib
        .grant(
            &[
                ("grant_type", "password"),
                ("username", "alice@example.com"),
                ("password", WRONG_PASSWORD),
            ],
            true,
        )
        .await;
    assert_eq!(status, 400);
    printed.push_str(&format!("{body}\n"));
    let unknown = lib.manager(TokenManager::builder().api_key(WRONG_KEY));
    let e = unknown.get_token().await.expect_err("unknown key");
    printed.push_str(&format!("{e} {e:?} {unknown:?}\n"));
    let bogus = lib.manager(
        TokenManager::builder()
            .refresh_token(WRONG_REFRESH)
            .client_credentials("bx", CLIENT_SECRET),
    );
    let e = bogus.get_token().await.expect_err("bogus refresh token");
    printed.push_str(&format!("{e} {e:?} {bogus:?}\n"));

    // Verification: every token, a forged one, a cut one.
    let validator = TokenValidator::builder()
        .endpoint_url(lib.emu.url())
        .http(lib.http.clone())
        .build()
        .expect("validator");
    for t in &tokens {
        let claims = validator.validate(t).await.expect("valid");
        printed.push_str(&format!("{claims:?}\n"));
    }
    let mut forged = tokens[0].clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let e = validator.validate(&forged).await.expect_err("forged");
    printed.push_str(&format!("{e} {e:?}\n"));
    let e = validator
        .validate(&tokens[1][..tokens[1].len() - 30])
        .await
        .expect_err("cut");
    printed.push_str(&format!(
        "{e} {e:?} {validator:?} {:?}\n",
        validator.status()
    ));

    // Authorization: a service ID with Reader on the books service.
    let admin = alice.get_token().await.expect("admin");
    let admin = admin.expose_secret();
    let sid = lib
        .api(
            reqwest::Method::POST,
            "/v1/serviceids/",
            admin,
            json!({"account_id": ACCOUNT, "name": "leak-reader"}),
        )
        .await;
    let reader = s(&sid, "iam_id");
    lib.api(
        reqwest::Method::POST,
        "/v1/policies",
        admin,
        policy(&reader),
    )
    .await;
    let key = lib
        .api(
            reqwest::Method::POST,
            "/v1/apikeys",
            admin,
            json!({"name": "leak-reader-key", "iam_id": reader, "account_id": ACCOUNT}),
        )
        .await;
    let reader_key = s(&key, "apikey");
    l.secret("API key (created)", &reader_key);
    printed.push_str(&format!(
        "{}\n",
        json!({"id": key["id"], "crn": key["crn"]})
    ));

    let pdp = PdpClient::builder(with_client.clone())
        .http(lib.http.clone())
        .build()
        .expect("pdp");
    let subject = Subject::attributes(&reader, "ibm openid");
    let d = pdp
        .is_authorized(&subject, "books.book.read", &instance("1"))
        .await
        .expect("the emulator's PDP answers /v2/authz");
    assert!(d.permitted, "Reader may read: {d:?}");
    printed.push_str(&format!("{d:?}\n"));
    let d = pdp
        .is_authorized(&subject, "books.book.delete", &instance("1"))
        .await
        .expect("decision");
    assert!(!d.permitted, "Reader may not delete");
    let by_token = Subject::token_body(&tokens[0]).expect("token body");
    let d = pdp
        .is_authorized(&by_token, "books.book.read", &instance("2"))
        .await
        .expect("decision for a token subject");
    printed.push_str(&format!("{d:?} {by_token:?}\n"));
    let roles = pdp
        .roles(&subject, &instance("1"))
        .await
        .expect("the emulator's PDP answers /v2/authz/roles");
    assert!(
        roles.service.iter().any(|r| r.role_crn == READER),
        "{roles:?}"
    );
    printed.push_str(&format!("{roles:?}\n"));
    let bulk = pdp
        .authorize_resources(&subject, "books.book.read", &[instance("3"), instance("4")])
        .await;
    assert!(
        bulk.iter().all(|r| r.as_ref().is_ok_and(|d| d.permitted)),
        "the emulator's PDP answers /v2/authz/bulk: {bulk:?}"
    );
    lib.fault(json!({"path": "/v2/authz", "status": 503})).await;
    let e = pdp
        .is_authorized(&subject, "books.book.update", &instance("9"))
        .await
        .expect_err("PDP down");
    printed.push_str(&format!("{e} {e:?} {pdp:?} {:?}\n", pdp.cache_stats()));
    lib.clear_faults().await;

    // The middlewares: BearerClient calling an axum service behind IamAuthLayer.
    let mw_pdp = PdpClient::builder(with_client.clone())
        .http(lib.http.clone())
        .build()
        .expect("pdp");
    let layer = IamAuthLayer::new(validator.clone()).authorize(mw_pdp.clone(), |parts: &Parts| {
        let id = parts.uri.path().rsplit('/').next().unwrap_or("").to_owned();
        Some(("books.book.read".to_owned(), instance(&id)))
    });
    async fn book(Path(id): Path<String>, VerifiedClaims(c): VerifiedClaims) -> String {
        format!("book {id} for {}", c.iam_id().unwrap_or("?"))
    }
    let app = Router::new().route("/books/{id}", get(book)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let caller = lib.manager(TokenManager::builder().api_key(&reader_key));
    let client = BearerClient::new(reqwest::Client::new(), caller.clone());
    let resp = client
        .send(client.get(&format!("{url}/books/7")))
        .await
        .expect("call");
    assert_eq!(resp.status(), 200);
    printed.push_str(&format!("{}\n", resp.text().await.expect("body")));
    l.secret(
        "access token (BearerClient)",
        caller.get_token().await.expect("t").expose_secret(),
    );
    let denied = BearerClient::new(reqwest::Client::new(), alice.clone());
    for (what, req, expect) in [
        (
            "deny",
            denied.send(denied.get(&format!("{url}/books/8"))).await,
            403,
        ),
        (
            "forged",
            Ok(reqwest::Client::new()
                .get(format!("{url}/books/8"))
                .bearer_auth(&forged)
                .send()
                .await
                .expect("send")),
            401,
        ),
    ] {
        let resp = req.expect(what);
        assert_eq!(resp.status(), expect, "{what}");
        let headers = format!("{:?}", resp.headers());
        printed.push_str(&format!("{headers} {}\n", resp.text().await.expect("body")));
    }
    // The permit above is cached for the whole service; without it, the PDP is asked.
    mw_pdp.clear_cache();
    lib.fault(json!({"path": "/v2/authz", "status": 503})).await;
    let resp = client
        .send(client.get(&format!("{url}/books/99")))
        .await
        .expect("call");
    assert_eq!(resp.status(), 503, "PDP down: fail closed");
    let headers = format!("{:?}", resp.headers());
    printed.push_str(&format!("{headers} {}\n", resp.text().await.expect("body")));
    lib.clear_faults().await;
    printed.push_str(&format!("{client:?} {caller:?}\n"));
    server.abort();
    lib.emu.shutdown().await;
    l.text("Debug, Display and answers (library)", printed);
}

/// The `ibm-iam emulator` child, with everything it writes.
struct EmulatorChild {
    child: Child,
    url: String,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

fn drain(mut r: impl std::io::Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

fn spawn_emulator() -> EmulatorChild {
    let mut child = Command::new(BIN)
        .args(["emulator", "--config", SEED])
        .env("IBM_IAM_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut url = String::new();
    stdout.read_line(&mut url).expect("the URL line");
    let (out, err) = (Arc::new(Mutex::new(url.clone())), Arc::default());
    drain(stdout, Arc::clone(&out));
    drain(child.stderr.take().expect("stderr"), Arc::clone(&err));
    EmulatorChild {
        child,
        url: url.trim().to_owned(),
        out,
        err,
    }
}

/// Runs the binary with `IBM_IAM_LOG=trace`: (status, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("IBMCLOUD_API_KEY")
        .env("IBM_IAM_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A command: its name, arguments, environment, stdin and expected exit code.
type CliRun<'a> = (
    &'a str,
    Vec<&'a str>,
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    i32,
);

/// Everything the binary does, as child processes.
fn binary(l: &mut Ledger) {
    let mut emu = spawn_emulator();
    let url = emu.url.clone();
    let http = reqwest::blocking::Client::new();
    let token = |key: &str| -> String {
        let v: Value = http
            .post(format!("{url}/identity/token"))
            .form(&[
                ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                ("apikey", key),
            ])
            .send()
            .expect("token")
            .json()
            .expect("json");
        s(&v, "access_token")
    };
    let admin = token(ALICE_KEY);
    l.secret("access token (CLI setup)", &admin);
    let sid: Value = http
        .post(format!("{url}/v1/serviceids/"))
        .bearer_auth(&admin)
        .json(&json!({"account_id": ACCOUNT, "name": "cli-reader"}))
        .send()
        .expect("sid")
        .json()
        .expect("json");
    let reader = s(&sid, "iam_id");
    let p = http
        .post(format!("{url}/v1/policies"))
        .bearer_auth(&admin)
        .json(&policy(&reader))
        .send()
        .expect("policy");
    assert!(
        p.status().is_success(),
        "the CLI's emulator has a PDP: {}",
        p.status()
    );

    let iam = [("IBM_IAM_URL", url.as_str())];
    let as_alice = [
        ("IBM_IAM_URL", url.as_str()),
        ("IBMCLOUD_API_KEY", ALICE_KEY),
    ];
    let as_books = [
        ("IBM_IAM_URL", url.as_str()),
        ("IBMCLOUD_API_KEY", BOOKS_KEY),
    ];
    let as_unknown = [
        ("IBM_IAM_URL", url.as_str()),
        ("IBMCLOUD_API_KEY", WRONG_KEY),
    ];

    // `token` prints the token: its stdout is a secret, its stderr is checked.
    let (code, out, err) = cli(&["token"], &as_alice, None);
    assert_eq!(code, 0, "{err}");
    let user_token = out.trim().to_owned();
    l.secret("access token (ibm-iam token)", &user_token);
    l.text("ibm-iam token: stderr", err);
    let profile = [
        ("IBM_IAM_URL", url.as_str()),
        ("BOOKS_APIKEY", BOOKS_KEY),
        ("BOOKS_CLIENT_ID", "bx"),
        ("BOOKS_CLIENT_SECRET", CLIENT_SECRET),
        ("BOOKS_AUTH_URL", url.as_str()),
    ];
    let (code, out, err) = cli(&["token", "--profile", "books", "--json"], &profile, None);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    l.secret(
        "access token (ibm-iam token --profile)",
        &s(&v, "access_token"),
    );
    l.text("ibm-iam token --profile: stderr", err);
    let (code, _, err) = cli(&["token"], &as_unknown, None);
    assert_eq!(code, 2);
    l.text("ibm-iam token (unknown key): stderr", err);

    let mut forged = user_token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let runs: Vec<CliRun<'_>> = vec![
        (
            "validate",
            vec!["validate", "-"],
            &iam,
            Some(&user_token),
            0,
        ),
        (
            "validate --output json",
            vec!["validate", "-o", "json", "-"],
            &iam,
            Some(&user_token),
            0,
        ),
        (
            "validate (forged)",
            vec!["validate", "-"],
            &iam,
            Some(&forged),
            1,
        ),
        (
            "authz --token",
            vec![
                "authz",
                "--token",
                "-",
                "--action",
                "books.book.read",
                "--resource",
                "crn:v1:bluemix:public:books:us-south:a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e:shelf-1::",
                "-v",
            ],
            &as_books,
            Some(&user_token),
            1,
        ),
        (
            "authz --subject",
            vec![
                "authz",
                "--subject",
                &reader,
                "--action",
                "books.book.read",
                "--attr",
                "serviceName=books",
                "--attr",
                "accountId=5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e",
                "-v",
            ],
            &as_books,
            None,
            0,
        ),
        (
            "roles",
            vec![
                "roles",
                "--subject",
                &reader,
                "--resource",
                "crn:v1:bluemix:public:books:us-south:a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e:shelf-1::",
                "-o",
                "json",
            ],
            &as_books,
            None,
            0,
        ),
        (
            "authz (unknown key)",
            vec![
                "authz",
                "--subject",
                &reader,
                "--action",
                "books.book.read",
                "--attr",
                "serviceName=books",
            ],
            &as_unknown,
            None,
            2,
        ),
        (
            "authz --profile",
            vec![
                "authz",
                "--profile",
                "books",
                "--subject",
                &reader,
                "--action",
                "books.book.read",
                "--attr",
                "serviceName=books",
                "--attr",
                "accountId=5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e",
            ],
            &profile,
            None,
            0,
        ),
        ("demo", vec!["demo"], &[], None, 0),
    ];
    for (what, args, env, stdin, expect) in runs {
        let (code, out, err) = cli(&args, env, stdin);
        assert_eq!(code, expect, "ibm-iam {what}: {out}\n{err}");
        l.text(&format!("ibm-iam {what}: stdout"), out);
        l.text(&format!("ibm-iam {what}: stderr"), err);
    }
    let _ = emu.child.kill();
    let _ = emu.child.wait();
    std::thread::sleep(Duration::from_millis(200));
    l.text("ibm-iam emulator: stdout", emu.out.lock().unwrap().clone());
    let err = emu.err.lock().unwrap().clone();
    assert!(
        err.contains("TRACE") || err.contains("DEBUG"),
        "the emulator's trace logs are captured: {err}"
    );
    l.text("ibm-iam emulator: stderr", err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_at_trace_leaks_no_secret() {
    let capture = Capture::default();
    let sink = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber in this test binary");
    let dir = tempfile::tempdir().expect("dir");
    let mut l = Ledger::default();

    library(&mut l, dir.path()).await;
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    for needle in ["ibm_iam", "ibm_iam_emulator", "TRACE"] {
        assert!(logs.contains(needle), "the capture holds {needle} records");
    }
    l.text("TRACE logs of this process", logs);

    let ledger = tokio::task::spawn_blocking(move || {
        binary(&mut l);
        l
    })
    .await
    .expect("the binary's part");

    // The detector finds a token in running text (a sentence's full stop included).
    let (_, sample) = &ledger
        .secrets
        .iter()
        .find(|(w, _)| w.starts_with("access token"))
        .expect("a token");
    assert_eq!(
        jwts(&format!("token: {sample}.")),
        std::slice::from_ref(sample)
    );

    let mut leaks = Vec::new();
    for (source, text) in &ledger.texts {
        for (what, secret) in &ledger.secrets {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{what} in {source}"));
            }
        }
        for jwt in jwts(text) {
            leaks.push(format!("a token ({}…) in {source}", &jwt[..12]));
        }
    }
    let bytes: usize = ledger.texts.iter().map(|(_, t)| t.len()).sum();
    println!(
        "searched {} texts ({bytes} bytes) for {} secrets",
        ledger.texts.len(),
        ledger.secrets.len()
    );
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
