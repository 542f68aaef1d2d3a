//! PDP decisions per second on one core, and how the cost grows with the number of policies
//! in the account (10 to 10,000), side by side with the same rule evaluated by scanning every
//! policy, and with the JSON work that any `/v2/authz` server must do.
//!
//! ```text
//! cargo bench -p ibm-iam-emulator --bench decisions              # 5 rounds
//! cargo bench -p ibm-iam-emulator --bench decisions -- --rounds 3
//! ```
//!
//! The subject asked about holds four policies (Reader on the service, Writer on one
//! instance, Manager on `prod-*` through an access group, Viewer under a day-of-week rule);
//! the rest of the account's policies belong to other subjects, four each. The questions
//! rotate over two permits and a deny (each checked).
//!
//! Each round measures:
//! * `decide (index)`: [`decide`], the emulator's PDP, for N = 10, 100, 1,000, 10,000.
//! * `decide (scan)`: [`decide_by_scan`], the same rule over every policy: the baseline the
//!   subject index removes.
//! * at 1,000 policies, whole `POST /v2/authz` requests through the router on a
//!   single-threaded runtime (caller token verified, JSON in and out), with 1 and with 100
//!   items, and 100-item requests over loopback HTTP with the server on one core;
//! * the limits of those requests: `JSON floor`, parsing a 100-item request body and writing
//!   the answer's JSON, which no decision engine avoids; and `RS256 verify`, checking the
//!   caller's token signature, which every request needs (and which dominates 1-item ones).
//!
//! Rates are decisions per second: min / median / max over rounds; ratios compare medians.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../../ibm-iam/benches/support/report.rs"]
mod report;

use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use ibm_iam_emulator::identity::model::Meta;
use ibm_iam_emulator::policy::attrs::Attrs;
use ibm_iam_emulator::policy::decide::{Query, decide, decide_by_scan};
use ibm_iam_emulator::policy::model::{
    AccessGroup, ApiVersion, AttrCondition, Member, Policy, PolicySubject, StringOp, StringValue,
    platform_role_crn, service_role_crn,
};
use ibm_iam_emulator::policy::request::Subject;
use ibm_iam_emulator::policy::rule::Rule;
use ibm_iam_emulator::policy::store::PolicyStore;
use ibm_iam_emulator::{EmulatorOptions, EmulatorState, Seed, app};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const SUBJECT: &str = "IBMid-bench-subject";
const GROUP: &str = "AccessGroupId-bench";
const APIKEY: &str = "bench-apikey-0123456789abcdefghijklmnopqrstu";
const SIZES: [usize; 4] = [10, 100, 1000, 10_000];

fn meta() -> Meta {
    Meta {
        created_at: 0,
        modified_at: 0,
        created_by: "bench".into(),
        version: 1,
    }
}

fn cond(key: &str, op: StringOp, value: &str) -> AttrCondition {
    AttrCondition {
        key: key.into(),
        operator: op,
        value: StringValue::One(value.into()),
    }
}

fn policy(
    id: String,
    subject: PolicySubject,
    role: String,
    extra: Vec<AttrCondition>,
    rule: Option<Rule>,
) -> Policy {
    let mut resource = vec![
        cond("accountId", StringOp::StringEquals, ACCOUNT),
        cond("serviceName", StringOp::StringEquals, "books"),
    ];
    resource.extend(extra);
    Policy {
        id,
        api: ApiVersion::V2,
        policy_type: "access".into(),
        account_id: ACCOUNT.into(),
        subject,
        roles: vec![role],
        resource,
        tags: vec![],
        pattern: rule
            .as_ref()
            .map(|_| "time-based-conditions:weekly:all-day".into()),
        rule,
        description: None,
        meta: meta(),
    }
}

/// `n` policies in the account: the subject's four, the rest four per other subject.
fn populate(store: &mut PolicyStore, n: usize) {
    store
        .add_group(AccessGroup {
            id: GROUP.into(),
            name: "bench".into(),
            description: None,
            account_id: ACCOUNT.into(),
            members: vec![Member {
                iam_id: SUBJECT.into(),
                member_type: "user".into(),
                added_at: 0,
                added_by: "bench".into(),
            }],
            meta: meta(),
        })
        .expect("group");
    let every_day = Rule::parse(&json!({"key": "{{environment.attributes.day_of_week}}",
        "operator": "dayOfWeekAnyOf", "value": [1, 2, 3, 4, 5, 6, 7]}))
    .expect("rule");
    let own = [
        policy(
            "p-own-1".into(),
            PolicySubject::IamId(SUBJECT.into()),
            service_role_crn("Reader"),
            vec![],
            None,
        ),
        policy(
            "p-own-2".into(),
            PolicySubject::IamId(SUBJECT.into()),
            service_role_crn("Writer"),
            vec![cond("serviceInstance", StringOp::StringEquals, "shelf-1")],
            None,
        ),
        policy(
            "p-own-3".into(),
            PolicySubject::AccessGroupId(GROUP.into()),
            service_role_crn("Manager"),
            vec![cond("serviceInstance", StringOp::StringMatch, "prod-*")],
            None,
        ),
        policy(
            "p-own-4".into(),
            PolicySubject::IamId(SUBJECT.into()),
            platform_role_crn("Viewer"),
            vec![],
            Some(every_day),
        ),
    ];
    let roles = ["Reader", "Writer", "Manager"];
    for p in own.into_iter().take(n) {
        store.add_policy(p).expect("own policy");
    }
    for i in 0..n.saturating_sub(4) {
        store
            .add_policy(policy(
                format!("p-{i}"),
                PolicySubject::IamId(format!("IBMid-user-{}", i / 4)),
                service_role_crn(roles[i % 3]),
                vec![cond(
                    "serviceInstance",
                    StringOp::StringEquals,
                    &format!("shelf-{i}"),
                )],
                None,
            ))
            .expect("policy");
    }
}

fn store_with(n: usize) -> PolicyStore {
    let seed = Seed::from_json(include_str!("../examples/seed.json")).expect("seed");
    let mut identities = ibm_iam_emulator::identity::store::Store::default();
    seed.apply(&mut identities, 0).expect("apply");
    let mut store = identities.policy;
    // Only the benchmark's policies: drop the seed's two.
    for id in store.policies.keys().cloned().collect::<Vec<_>>() {
        store.delete_policy(&id).expect("delete");
    }
    populate(&mut store, n);
    assert_eq!(store.policies.len(), n);
    store
}

/// The rotating questions: (action, instance, expected).
const QUESTIONS: [(&str, &str, bool); 3] = [
    ("books.book.create", "shelf-1", true),
    ("books.book.delete", "prod-eu", true),
    ("books.book.delete", "shelf-2", false),
];

fn resources() -> Vec<Attrs> {
    QUESTIONS
        .iter()
        .map(|(_, instance, _)| {
            [
                ("serviceName", "books"),
                ("accountId", ACCOUNT),
                ("serviceInstance", instance),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
        })
        .collect()
}

/// Runs `f` (which does `per_call` decisions) for about `budget`; decisions per second.
fn rate(budget: Duration, per_call: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        calls += 16;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

fn engine(store: &PolicyStore, scan: bool, budget: Duration) -> f64 {
    let subject = Subject {
        id: SUBJECT.into(),
        scope: Some("ibm openid".into()),
    };
    let resources = resources();
    let env = Attrs::new();
    let now = 1_700_000_000;
    let mut i = 0usize;
    rate(budget, 1, || {
        let (action, _, expected) = QUESTIONS[i % 3];
        let q = Query {
            subject: &subject,
            action: Some(action),
            resource: &resources[i % 3],
            environment: &env,
            now,
        };
        let d = if scan {
            decide_by_scan(store, &q)
        } else {
            decide(store, &q)
        };
        assert_eq!(d.permitted, expected);
        std::hint::black_box(d);
        i += 1;
    })
}

fn items(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                let (action, instance, _) = QUESTIONS[i % 3];
                json!({
                    "subject": {"attributes": {"id": SUBJECT, "scope": "ibm openid"}},
                    "action": action,
                    "resource": {"crn": format!("crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:{instance}::")},
                })
            })
            .collect(),
    )
}

async fn state_with(n: usize) -> EmulatorState {
    let state = EmulatorState::new(EmulatorOptions {
        seed: Some(Seed::from_json(include_str!("../examples/seed.json")).expect("seed")),
        apikeys: vec![APIKEY.to_owned()],
        ..EmulatorOptions::default()
    })
    .expect("state");
    state
        .change(move |store, _| {
            for id in store.policy.policies.keys().cloned().collect::<Vec<_>>() {
                if store.policy.policies[&id].account_id == ACCOUNT {
                    store.policy.delete_policy(&id)?;
                }
            }
            populate(&mut store.policy, n);
            Ok(())
        })
        .await
        .expect("populate");
    state
}

async fn caller_token(router: &axum::Router) -> String {
    let req = Request::post("/identity/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey={APIKEY}"
        )))
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&body).expect("json");
    v["access_token"].as_str().expect("token").to_owned()
}

fn check(body: &[u8], n: usize) {
    let v: Value = serde_json::from_slice(body).expect("json");
    let responses = v["responses"].as_array().expect("responses");
    assert_eq!(responses.len(), n);
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(
            r["authorizationDecision"]["permitted"],
            QUESTIONS[i % 3].2,
            "{r}"
        );
    }
}

fn router_rate(
    rt: &tokio::runtime::Runtime,
    router: &axum::Router,
    token: &str,
    batch: usize,
    budget: Duration,
) -> f64 {
    let body = serde_json::to_vec(&items(batch)).expect("json");
    rt.block_on(async {
        let send = || {
            let req = Request::post("/v2/authz")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .header("x-accept-advanced-obligation", "true")
                .body(Body::from(body.clone()))
                .expect("request");
            router.clone().oneshot(req)
        };
        let first = send().await.expect("infallible");
        assert_eq!(first.status(), 200);
        check(
            &axum::body::to_bytes(first.into_body(), usize::MAX)
                .await
                .expect("body"),
            batch,
        );
        let start = Instant::now();
        let mut calls = 0usize;
        while start.elapsed() < budget {
            let resp = send().await.expect("infallible");
            std::hint::black_box(
                axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .expect("body"),
            );
            calls += 1;
        }
        (calls * batch) as f64 / start.elapsed().as_secs_f64()
    })
}

fn loopback_rate(
    rt: &tokio::runtime::Runtime,
    url: &str,
    token: &str,
    batch: usize,
    budget: Duration,
) -> f64 {
    let body = serde_json::to_vec(&items(batch)).expect("json");
    rt.block_on(async {
        let client = reqwest::Client::builder().build().expect("client");
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let client = client.clone();
                let (url, token, body) =
                    (format!("{url}/v2/authz"), token.to_owned(), body.clone());
                tokio::spawn(async move {
                    let mut calls = 0usize;
                    while start.elapsed() < budget {
                        let resp = client
                            .post(&url)
                            .bearer_auth(&token)
                            .header("content-type", "application/json")
                            .header("x-accept-advanced-obligation", "true")
                            .body(body.clone())
                            .send()
                            .await
                            .expect("send");
                        assert_eq!(resp.status(), 200);
                        std::hint::black_box(resp.bytes().await.expect("body"));
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        let mut calls = 0;
        for t in tasks {
            calls += t.await.expect("task");
        }
        (calls * batch) as f64 / start.elapsed().as_secs_f64()
    })
}

/// RSA-2048 PKCS#1 v1.5 SHA-256 verifications per second of a token-sized input.
fn raw_verify(budget: Duration) -> f64 {
    use aws_lc_rs::signature::{
        KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
    };
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("key");
    let input = vec![b'e'; 900];
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        &input,
        &mut sig,
    )
    .expect("sign");
    let public = UnparsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref().to_vec(),
    );
    rate(budget, 1, || {
        public.verify(&input, &sig).expect("verify");
    })
}

/// Parsing a 100-item request and writing an answer of the same shape: the JSON floor.
fn json_floor(
    rt: &tokio::runtime::Runtime,
    router: &axum::Router,
    token: &str,
    budget: Duration,
) -> f64 {
    let request = serde_json::to_vec(&items(100)).expect("json");
    let answer: Value = rt.block_on(async {
        let req = Request::post("/v2/authz")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .header("x-accept-advanced-obligation", "true")
            .body(Body::from(request.clone()))
            .expect("request");
        let resp = router.clone().oneshot(req).await.expect("infallible");
        serde_json::from_slice(
            &axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body"),
        )
        .expect("json")
    });
    rate(budget, 100, || {
        let parsed: Value = serde_json::from_slice(&request).expect("json");
        std::hint::black_box(parsed);
        std::hint::black_box(serde_json::to_vec(&answer).expect("json"));
    })
}

fn main() {
    let rounds = report::rounds(5);
    let budget = Duration::from_millis(300);
    let stores: Vec<PolicyStore> = SIZES.iter().map(|&n| store_with(n)).collect();

    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let state = single.block_on(state_with(1000));
    let router = app(state.clone());
    let token = single.block_on(caller_token(&router));

    // The HTTP server: one core (a current-thread runtime on its own OS thread).
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_state = state.clone();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let emu = ibm_iam_emulator::serve(server_state, addr, None)
                .await
                .expect("serve");
            url_tx.send(emu.url().to_owned()).expect("send url");
            let _ = stop_rx.await;
            emu.shutdown().await;
        });
    });
    let url = url_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server url");
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");

    // Warm up every path.
    for s in &stores {
        engine(s, false, Duration::from_millis(30));
    }
    router_rate(&single, &router, &token, 100, Duration::from_millis(50));
    loopback_rate(&client_rt, &url, &token, 100, Duration::from_millis(50));

    let mut indexed = vec![Vec::new(); SIZES.len()];
    let mut scanned = vec![Vec::new(); SIZES.len()];
    let (mut one, mut hundred, mut http, mut floor, mut verify) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (i, s) in stores.iter().enumerate() {
            indexed[i].push(engine(s, false, budget));
            scanned[i].push(engine(s, true, budget));
        }
        one.push(router_rate(&single, &router, &token, 1, budget));
        hundred.push(router_rate(&single, &router, &token, 100, budget));
        http.push(loopback_rate(&client_rt, &url, &token, 100, budget));
        floor.push(json_floor(&single, &router, &token, budget));
        verify.push(raw_verify(budget));
    }
    let _ = stop_tx.send(());
    let _ = server.join();

    const SECTION: &str = "emulator: PDP decisions";
    for (i, n) in SIZES.iter().enumerate() {
        let what = format!("decide, {n} policies, by subject index");
        report::figures(SECTION, &what, "decisions/s", &indexed[i]);
        let scan = format!("decide, {n} policies, scanning every policy");
        report::figures(SECTION, &scan, "decisions/s", &scanned[i]);
        report::compare(SECTION, &what, &scan, "vs scan");
    }
    // Rates of whole requests count their decisions (items), like the engine's.
    const VERIFY: &str = "limit: RS256 verify of the caller's token (once a request)";
    const FLOOR: &str = "limit: JSON floor of a 100-item request and its answer";
    report::figures(SECTION, VERIFY, "decisions/s", &verify);
    report::figures(SECTION, FLOOR, "decisions/s", &floor);
    for (what, values, limit) in [
        (
            "POST /v2/authz, 1 item, 1,000 policies, in-process",
            &one,
            VERIFY,
        ),
        (
            "POST /v2/authz, 100 items, 1,000 policies, in-process",
            &hundred,
            FLOOR,
        ),
        (
            "POST /v2/authz, 100 items, 1,000 policies, loopback HTTP",
            &http,
            FLOOR,
        ),
    ] {
        report::figures(SECTION, what, "decisions/s", values);
        report::compare(SECTION, what, limit, "vs limit");
    }
    println!("PDP decisions per second, one core, {rounds} rounds (min / median / max)");
    println!();
    println!("| policies in the account | decide (index) | decide (scan) | index vs scan |");
    println!("|---:|---:|---:|---:|");
    let base = report::stats(&mut indexed[0].clone()).1;
    for (i, n) in SIZES.iter().enumerate() {
        let (a, b, c) = report::stats(&mut indexed[i]);
        let (d, e, f) = report::stats(&mut scanned[i]);
        println!(
            "| {n} | {a:.0} / **{b:.0}** / {c:.0} ({:.0}% of N=10) | {d:.0} / {e:.0} / {f:.0} | {:.1}x |",
            100.0 * b / base,
            b / e
        );
    }
    println!();
    println!("| at 1,000 policies | min | median | max | vs its limit |");
    println!("|---|---:|---:|---:|---:|");
    let (va, vb, vc) = report::stats(&mut verify);
    let (fa, fb, fc) = report::stats(&mut floor);
    let (a, b, c) = report::stats(&mut one);
    println!(
        "| POST /v2/authz, 1 item, router in-process | {a:.0} | {b:.0} | {c:.0} | {:.1}% of RS256 verify |",
        100.0 * b / vb
    );
    println!(
        "| limit: RS256 verify of the caller's token (every request) | {va:.0} | {vb:.0} | {vc:.0} | 100% |"
    );
    for (what, v) in [
        ("POST /v2/authz, 100 items, router in-process", &mut hundred),
        (
            "POST /v2/authz, 100 items, loopback HTTP (server on 1 core)",
            &mut http,
        ),
    ] {
        let (a, b, c) = report::stats(v);
        println!(
            "| {what} | {a:.0} | {b:.0} | {c:.0} | {:.1}% of JSON floor |",
            100.0 * b / fb
        );
    }
    println!(
        "| limit: JSON floor, parse a 100-item request and write its answer | {fa:.0} | {fb:.0} | {fc:.0} | 100% |"
    );
}
