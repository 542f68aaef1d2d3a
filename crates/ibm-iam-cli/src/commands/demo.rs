//! `ibm-iam demo`: the whole tour against an embedded emulator — tokens from an API key and
//! the cache at work, verification and claims, a permitted and a denied action with a
//! cached repeat, and the subject's roles — with timings.

use std::time::{Duration, Instant};

use clap::Args;
use ibm_iam::authz::{PdpClient, Resource, Subject};
use ibm_iam::{TokenManager, TokenValidator};
use ibm_iam_emulator::{Emulator, Seed};
use serde_json::{Value, json};

use crate::Failure;
use crate::output::{Format, Style, print_json};

const ACCOUNT: &str = "d3e0d3e0d3e0d3e0d3e0d3e0d3e0d3e0";
const ALICE: &str = "IBMid-310000DEMO";
const ALICE_KEY: &str = "demo-alice-apikey-0123456789abcdefghijklmn";
const SERVICE_KEY: &str = "demo-books-service-apikey-0123456789abcdef";
const READER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Reader";
const WRITER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Writer";
const MANAGER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Manager";
const VIEWER: &str = "crn:v1:bluemix:public:iam::::role:Viewer";

/// Options of `ibm-iam demo`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ibm-iam demo                     # readable, with timings
  ibm-iam demo --json | jq .verify # one JSON document for scripts
  NO_COLOR=1 ibm-iam demo          # no colours even on a terminal

Runs entirely on this machine: an in-process IAM emulator on a free loopback port.")]
pub struct DemoArgs {
    /// Print one JSON document instead of text (same as --output json).
    #[arg(long)]
    json: bool,
}

fn seed() -> Result<Seed, Failure> {
    let doc = json!({
        "accounts": [{ "id": ACCOUNT, "name": "Demo account", "owner_iam_id": ALICE }],
        "users": [{
            "iam_id": ALICE, "account_id": ACCOUNT, "email": "alice@demo.example",
            "given_name": "Alice", "family_name": "Demo",
            "apikeys": [{ "name": "alice-laptop", "apikey": ALICE_KEY }]
        }],
        "service_ids": [{
            "name": "books-service", "account_id": ACCOUNT,
            "apikeys": [{ "name": "books-service-key", "apikey": SERVICE_KEY }]
        }],
        "services": [{
            "name": "books", "display_name": "Books",
            "actions": [
                { "id": "books.dashboard.view", "roles": [READER, VIEWER] },
                { "id": "books.book.read", "roles": [READER, WRITER, MANAGER] },
                { "id": "books.book.create", "roles": [WRITER, MANAGER] },
                { "id": "books.book.delete", "roles": [MANAGER] }
            ]
        }]
    });
    Seed::from_json(&doc.to_string())
        .map_err(|e| Failure::error(format!("the demo's seed is invalid: {e}")))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the demo.
pub async fn run(args: DemoArgs, out: Format) -> Result<(), Failure> {
    let json_out = args.json || out == Format::Json;
    let style = Style::detect();
    let started = Instant::now();
    let mut report = serde_json::Map::new();
    let say = |line: String| {
        if !json_out {
            println!("{line}");
        }
    };
    let step =
        |n: u32, title: &str| format!("{} {}", style.strong(&format!("{n}.")), style.strong(title));

    say(style.strong("ibm-iam demo: IBM Cloud IAM end to end, against an embedded emulator"));

    // 1. The emulator.
    let t = Instant::now();
    let emu = Emulator::builder()
        .seed(seed()?)
        .start()
        .await
        .map_err(|e| Failure::error(e.to_string()))?;
    let url = emu.url().to_owned();
    say(format!(
        "{} {url}  issuer {}  ({:.1} ms)",
        step(1, "Emulator"),
        emu.state().issuer(),
        ms(t.elapsed())
    ));
    report.insert(
        "emulator".into(),
        json!({ "url": url, "issuer": emu.state().issuer(), "start_ms": ms(t.elapsed()) }),
    );

    // 2. Set-up: a policy through IAM's own API, as an administrator would.
    let alice_tm = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(&url)
        .build()?;
    let owner_token = alice_tm.get_token().await?;
    let policy = json!({
        "type": "access",
        "subjects": [{ "attributes": [{ "name": "iam_id", "value": ALICE }] }],
        "roles": [{ "role_id": READER }],
        "resources": [{ "attributes": [
            { "name": "accountId", "value": ACCOUNT },
            { "name": "serviceName", "value": "books" }
        ] }]
    });
    let resp = reqwest_post(&url, "/v1/policies", owner_token.expose_secret(), &policy).await?;
    let policy_id = resp
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned();
    say(format!(
        "{} account {ACCOUNT}; service books (4 actions); user Alice with an API key; service ID books-service with an API key; policy {policy_id}: Alice is Reader on books",
        step(2, "Set-up")
    ));
    report.insert(
        "setup".into(),
        json!({ "account": ACCOUNT, "service": "books", "user": ALICE, "policy": policy_id }),
    );

    // 3. Tokens: one request to IAM, then the cache.
    let tm = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(&url)
        .build()?;
    let requests = || emu.state().counters().get("/identity/token");
    let before = requests();
    let t = Instant::now();
    let token = tm.get_token().await?;
    let first_ms = ms(t.elapsed());
    let n = 100_000u32;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(tm.get_token().await?);
    }
    let cached_ns = t.elapsed().as_nanos() as f64 / f64::from(n);
    tm.invalidate(&token);
    let storm: Vec<_> = (0..1000)
        .map(|_| {
            let tm = tm.clone();
            tokio::spawn(async move { tm.get_token().await })
        })
        .collect();
    for s in storm {
        s.await.map_err(|e| Failure::error(e.to_string()))??;
    }
    let used = requests() - before;
    say(format!(
        "{} first get_token {first_ms:.1} ms; {n} cached calls at {cached_ns:.0} ns each; 1,000 concurrent callers after an invalidation; IAM saw {used} token requests in all",
        step(3, "Tokens")
    ));
    report.insert("tokens".into(), json!({ "first_ms": first_ms, "cached_ns": cached_ns, "cached_calls": n, "storm_callers": 1000, "iam_requests": used }));

    // 4. Verification.
    let validator = TokenValidator::builder().endpoint_url(&url).build()?;
    let token = tm.get_token().await?;
    let t = Instant::now();
    let claims = validator
        .validate(token.expose_secret())
        .await
        .map_err(|e| Failure::error(e.to_string()))?;
    let first_verify_ms = ms(t.elapsed());
    let m = 10_000u32;
    let t = Instant::now();
    for _ in 0..m {
        std::hint::black_box(
            validator
                .validate(token.expose_secret())
                .await
                .map_err(|e| Failure::error(e.to_string()))?,
        );
    }
    let repeat_ns = t.elapsed().as_nanos() as f64 / f64::from(m);
    say(format!(
        "{} iam_id {}, account {}, scope \"{}\", issuer {}; first validate {first_verify_ms:.1} ms (key set fetched once), repeated {repeat_ns:.0} ns",
        step(4, "Verify"),
        claims.iam_id().unwrap_or("?"),
        claims.account_id().unwrap_or("?"),
        claims.scope().unwrap_or(""),
        claims.iss().unwrap_or("?"),
    ));
    report.insert(
        "verify".into(),
        json!({
            "iam_id": claims.iam_id(), "account_id": claims.account_id(), "scope": claims.scope(),
            "first_ms": first_verify_ms, "repeated_ns": repeat_ns,
            "key_fetches": emu.state().counters().get("/identity/keys"),
        }),
    );

    // 5. Authorization, with the service's own credentials.
    let service_tm = TokenManager::builder()
        .api_key(SERVICE_KEY)
        .endpoint_url(&url)
        .build()?;
    let pdp = PdpClient::new(service_tm)?;
    let subject = Subject::from_claims(&claims)?;
    let shelf = Resource::crn(&format!(
        "crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-1::"
    ))?;
    let other = Resource::crn(&format!(
        "crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-2::"
    ))?;
    say(format!(
        "{} with the service's own credentials; Alice is the subject",
        step(5, "Authorize")
    ));
    let mut checks = Vec::new();
    for (action, resource, label) in [
        ("books.book.read", &shelf, "shelf-1"),
        ("books.book.delete", &shelf, "shelf-1"),
        ("books.book.read", &shelf, "shelf-1"),
        ("books.dashboard.view", &other, "shelf-2"),
    ] {
        let t = Instant::now();
        let d = pdp.is_authorized(&subject, action, resource).await?;
        let took = t.elapsed();
        let verdict = if d.permitted {
            style.ok("permitted")
        } else {
            style.bad("denied")
        };
        let source = if d.from_cache() { "cache" } else { "PDP" };
        say(format!(
            "   Alice {action} on {label}: {verdict} ({source}, {:.3} ms)",
            ms(took)
        ));
        checks.push(json!({ "action": action, "resource": label, "permitted": d.permitted, "from_cache": d.from_cache(), "ms": ms(took) }));
    }
    let pdp_calls = emu.state().counters().get("/v2/authz");
    say(format!(
        "   4 checks, {pdp_calls} PDP calls: the first permit's obligation covers Alice's other Reader actions on any shelf"
    ));
    report.insert(
        "authorize".into(),
        json!({ "checks": checks, "pdp_calls": pdp_calls }),
    );

    // 6. Roles.
    let roles = pdp.roles(&subject, &shelf).await?;
    let names: Vec<String> = roles
        .service
        .iter()
        .chain(&roles.platform)
        .map(|r| r.display_name.clone().unwrap_or_else(|| r.role_crn.clone()))
        .collect();
    say(format!(
        "{} Alice on shelf-1: {} → {}",
        step(6, "Roles"),
        names.join(", "),
        roles.actions().join(", ")
    ));
    report.insert(
        "roles".into(),
        json!({ "roles": names, "actions": roles.actions() }),
    );

    let total = ms(started.elapsed());
    say(format!("{} in {total:.0} ms", style.ok("done")));
    report.insert("total_ms".into(), json!(total));
    if json_out {
        print_json(&Value::Object(report));
    }
    emu.shutdown().await;
    Ok(())
}

async fn reqwest_post(url: &str, path: &str, bearer: &str, body: &Value) -> Result<Value, Failure> {
    let resp = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(bearer)
        .json(body)
        .send()
        .await
        .map_err(|e| Failure::error(format!("POST {path}: {e}")))?;
    let status = resp.status();
    let v: Value = resp
        .json()
        .await
        .map_err(|e| Failure::error(format!("POST {path}: {e}")))?;
    if !status.is_success() {
        return Err(Failure::error(format!(
            "POST {path} answered {status}: {v}"
        )));
    }
    Ok(v)
}
