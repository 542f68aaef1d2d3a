//! PdpClient: cached decision latency, PDP calls under concurrency, memory per cached
//! decision, side by side with the seed's PDPClient, in one run.
//!
//! ```text
//! cargo bench -p ibm-iam --features internals --bench decisions
//! ```
//!
//! * cached decision: `is_authorized` answered from the cache, exact key and generalised
//!   key (another instance, covered by an account-wide permit's obligation);
//! * PDP calls for 1,000 concurrent checks, identical and distinct (counted by the
//!   emulator);
//! * the seed's `PDPClient.is_authorized` (Python, when `target/compat-venvs/seed` exists):
//!   one `/v2/authz` call per check;
//! * memory per cached decision at 10³ … 10⁶ decisions, denies (one exact entry each) and
//!   permits with a three-action obligation (an exact entry and one generalised entry per
//!   action), each size in a fresh child process: resident-set growth divided by
//!   decisions and by entries, and the lookup latency at that size.
//!
//! `--rounds N` (default 5) repeats everything but the memory figures.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ibm_iam::TokenManager;
use ibm_iam::authz::internals::DecisionCache;
use ibm_iam::authz::{
    AuthzRequest, CacheConfig, Decision, DecisionSource, KeyPattern, Obligation, PdpClient,
    Resource, Subject,
};
use ibm_iam::clock::SystemClock;
use ibm_iam_emulator::{Emulator, Seed, Tls};
use serde_json::json;

mod support {
    pub mod report;
    pub mod seeds;
}
use support::{report, seeds};

const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const ALICE: &str = "IBMid-550000ED6J";
const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn request(i: usize) -> AuthzRequest {
    AuthzRequest::new(
        Subject::attributes(format!("iam-ServiceId-{:08}", i % 1000), "ibm openid"),
        "books.book.read",
        Resource::builder()
            .service_name("books")
            .account_id(ACCOUNT)
            .service_instance(format!("instance-{i}"))
            .build(),
    )
}

/// In a child process: fill a cache with `n` decisions of one kind (`deny`: exact key only;
/// `permit`: an instance-scoped permit whose obligation lists three actions, stored under
/// its exact key and one generalised key per action); print bytes per decision, bytes per
/// entry and ns per lookup.
fn memory_child(n: usize, kind: &str) {
    let cache = DecisionCache::new(
        CacheConfig {
            max_entries: n * 8 + 1024,
            ..CacheConfig::default()
        },
        Arc::new(SystemClock),
    );
    let reqs: Vec<AuthzRequest> = (0..n).map(request).collect();
    let decision = |r: &AuthzRequest| Decision {
        permitted: kind == "permit",
        reason: None,
        obligation: (kind == "permit").then(|| {
            Arc::new(Obligation {
                actions: [
                    "books.book.read",
                    "books.book.create",
                    "books.dashboard.view",
                ]
                .map(String::from)
                .to_vec(),
                max_cache_age_seconds: Some(600),
                subject: Some([("id".to_owned(), r.subject.id().to_owned())].into()),
                resource: Some(
                    [
                        ("accountId", ACCOUNT.to_owned()),
                        ("serviceName", "books".to_owned()),
                        (
                            "serviceInstance",
                            r.resource.attributes()["serviceInstance"].clone(),
                        ),
                    ]
                    .map(|(k, v)| (k.to_owned(), v))
                    .into(),
                ),
            })
        }),
        source: DecisionSource::Pdp,
    };
    let decisions: Vec<Decision> = reqs.iter().map(decision).collect();
    // IAM's pattern for a service: the generalised keys of an instance-scoped permit.
    let pattern = KeyPattern {
        subject: vec![vec!["id".to_owned()]],
        resource: vec![
            ["accountId", "serviceName", "serviceInstance"]
                .map(String::from)
                .to_vec(),
        ],
    };
    let pattern = (kind == "permit").then_some(&pattern);
    let before = rss_kib();
    for (r, d) in reqs.iter().zip(&decisions) {
        cache.store(r, d, pattern, cache.generation());
    }
    let after = rss_kib();
    drop(decisions);
    let entries = cache.stats().entries.max(1) as f64;
    let lookups = 200_000.min(n * 10);
    let start = Instant::now();
    for i in 0..lookups {
        std::hint::black_box(cache.lookup(&reqs[(i * 7919) % n]));
    }
    let ns = start.elapsed().as_nanos() as f64 / lookups as f64;
    let bytes = (after.saturating_sub(before) * 1024) as f64;
    println!("{} {} {ns}", bytes / n as f64, bytes / entries);
}

/// `n` calls of `is_authorized` answered from the cache: ns per call. `other` asks another
/// action on another instance each time, covered by the account-wide permit's obligation.
async fn cached_ns(pdp: &PdpClient, alice: &Subject, resources: &[Resource], other: bool) -> f64 {
    let n = 200_000;
    let start = Instant::now();
    for i in 0..n {
        let (action, resource) = if other {
            ("books.dashboard.view", &resources[i % resources.len()])
        } else {
            ("books.book.read", &resources[0])
        };
        let d = pdp
            .is_authorized(alice, action, resource)
            .await
            .expect("hit");
        assert_eq!(d.source, DecisionSource::Cache);
        std::hint::black_box(d);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// 1,000 concurrent checks on a new client, identical (one instance, with the default
/// cache) or distinct (1,000 instances from `first`, with the cache off so that no answer
/// covers another): PDP calls made (the emulator's counter) and ms until all are answered.
async fn storm(
    pdp: PdpClient,
    alice: &Subject,
    calls: &(dyn Fn() -> u64 + Sync),
    first: usize,
    distinct: bool,
) -> (f64, f64) {
    let before = calls();
    let start = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (pdp, s) = (pdp.clone(), alice.clone());
            let r = instance(if distinct { first + i } else { first });
            tokio::spawn(async move { pdp.is_authorized(&s, "books.book.read", &r).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("decision");
    }
    let took = start.elapsed().as_secs_f64() * 1e3;
    ((calls() - before) as f64, took)
}

fn instance(i: usize) -> Resource {
    Resource::builder()
        .service_name("books")
        .account_id(ACCOUNT)
        .service_instance(format!("i{i}"))
        .build()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        memory_child(args[i + 1].parse().expect("n"), &args[i + 2]);
        return;
    }
    let rounds = report::rounds(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let emu = rt
        .block_on(
            Emulator::builder()
                .seed(
                    Seed::from_json(include_str!("../../ibm-iam-emulator/examples/seed.json"))
                        .expect("seed"),
                )
                .tls(Tls::SelfSigned)
                .start(),
        )
        .expect("emulator");
    let url = emu.url().to_owned();
    let ca = emu.cert_pem().expect("ca").to_owned();
    let http = ibm_iam::HttpConfig::default().add_root_pem(ca.clone().into_bytes());
    let tokens = |key: &str| {
        TokenManager::builder()
            .api_key(key)
            .endpoint_url(&url)
            .http(http.clone())
            .build()
            .expect("tm")
    };

    // A Reader policy for Alice on every books instance of the account.
    rt.block_on(async {
        let admin = tokens(ALICE_KEY).get_token().await.expect("admin");
        let resp = reqwest::Client::builder()
            .tls_certs_merge([reqwest::Certificate::from_pem(ca.as_bytes()).expect("pem")])
            .build()
            .expect("client")
            .post(format!("{url}/v1/policies"))
            .header("Authorization", admin.bearer_header())
            .json(&json!({
                "type": "access",
                "subjects": [{"attributes": [{"name": "iam_id", "value": ALICE}]}],
                "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
                "resources": [{"attributes": [{"name": "accountId", "value": ACCOUNT}, {"name": "serviceName", "value": "books"}]}],
            }))
            .send()
            .await
            .expect("policy");
        assert!(resp.status().is_success(), "policy: {}", resp.status());
    });
    let pdp_with = |cache: CacheConfig| {
        PdpClient::builder(tokens(BOOKS_KEY))
            .http(http.clone())
            .cache(cache)
            .build()
            .expect("pdp")
    };
    let alice = Subject::attributes(ALICE, "ibm openid");
    let calls = || emu.state().counters().get("/v2/authz");
    let resources: Vec<Resource> = (0..1000).map(instance).collect();

    // The seed, when its virtual environment exists (bench/run-all.sh makes it).
    let seed = seeds::python_seed("seed_pdp.py");
    let dir = std::env::temp_dir().join(format!("ibm-iam-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca).expect("ca");

    let (mut exact, mut general) = (Vec::new(), Vec::new());
    let (mut same_calls, mut same_ms, mut distinct_calls, mut distinct_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut seed_rate, mut seed_calls) = (Vec::new(), Vec::new());
    let no_cache = CacheConfig {
        permits: false,
        denies: false,
        ..CacheConfig::default()
    };
    for round in 0..rounds {
        let pdp = pdp_with(CacheConfig::default());
        rt.block_on(async {
            let warm = pdp
                .is_authorized(&alice, "books.book.read", &resources[0])
                .await;
            assert!(warm.expect("warm").permitted);
            exact.push(cached_ns(&pdp, &alice, &resources, false).await);
            general.push(cached_ns(&pdp, &alice, &resources, true).await);
            let (c, ms) = storm(pdp_with(CacheConfig::default()), &alice, &calls, 7, false).await;
            same_calls.push(c);
            same_ms.push(ms);
            let first = 10_000 + round * 1000;
            let (c, ms) = storm(pdp_with(no_cache.clone()), &alice, &calls, first, true).await;
            distinct_calls.push(c);
            distinct_ms.push(ms);
        });
        if let Some((python, script)) = &seed {
            let checks = 300;
            let before = calls();
            let rate = seeds::rate(
                Command::new(python)
                    .arg(script)
                    .args([url.as_str(), BOOKS_KEY, ALICE, ACCOUNT, &checks.to_string()])
                    .env("REQUESTS_CA_BUNDLE", &ca_file)
                    .env("SSL_CERT_FILE", &ca_file),
            )
            .expect("the Python seed's rate");
            seed_rate.push(1e9 / rate);
            // The warm-up check included, as the seed makes it.
            seed_calls.push((calls() - before) as f64 / f64::from(checks + 1));
        }
    }

    // Memory per cached decision, each size and kind in a fresh process.
    let exe = std::env::current_exe().expect("exe");
    let mut memory = Vec::new();
    for kind in ["deny", "permit"] {
        for n in [1_000usize, 10_000, 100_000, 1_000_000] {
            let out = Command::new(&exe)
                .args(["--memory-child", &n.to_string(), kind])
                .output()
                .expect("child");
            let text = String::from_utf8_lossy(&out.stdout);
            let v: Vec<f64> = text
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            assert_eq!(v.len(), 3, "memory child: {text}");
            memory.push((kind, n, v[0], v[1], v[2]));
        }
    }

    const SECTION: &str = "PdpClient: decisions";
    const EXACT: &str = "cached decision, exact key";
    const SEED: &str = "seed PDPClient.is_authorized (Python), one check";
    report::figures(SECTION, EXACT, "ns", &exact);
    let other = "cached decision, generalised key (other action and instance)";
    report::figures(SECTION, other, "ns", &general);
    report::figures(
        SECTION,
        "1,000 concurrent identical checks: PDP calls",
        "calls",
        &same_calls,
    );
    report::figures(
        SECTION,
        "1,000 concurrent identical checks: all answered",
        "ms",
        &same_ms,
    );
    let distinct = "1,000 concurrent distinct checks: PDP calls";
    report::figures(SECTION, distinct, "calls", &distinct_calls);
    let all = "1,000 concurrent distinct checks: all answered";
    report::figures(SECTION, all, "ms", &distinct_ms);
    if !seed_rate.is_empty() {
        report::figures(SECTION, SEED, "ns", &seed_rate);
        report::figures(
            SECTION,
            "seed PDPClient: PDP calls per check",
            "calls",
            &seed_calls,
        );
        report::compare(SECTION, EXACT, SEED, "vs seed");
        report::compare(SECTION, other, SEED, "vs seed");
    }
    for (kind, n, per_decision, per_entry, ns) in &memory {
        let what = format!("{n} cached {kind}s");
        report::figures(
            SECTION,
            &format!("{what}: bytes per decision"),
            "B",
            &[*per_decision],
        );
        report::figures(
            SECTION,
            &format!("{what}: bytes per entry"),
            "B",
            &[*per_entry],
        );
        report::figures(SECTION, &format!("{what}: lookup"), "ns", &[*ns]);
    }

    println!(
        "PdpClient decisions, {rounds} rounds (min / median / max), loopback emulator over HTTPS"
    );
    println!("| what | min | median | max |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, v: &mut Vec<f64>| {
        if !v.is_empty() {
            let (a, b, c) = report::stats(v);
            println!("| {what} | {a:.1} | {b:.1} | {c:.1} |");
        }
    };
    row(
        "cached decision, exact key (ns, building the request included)",
        &mut exact,
    );
    row(&format!("{other} (ns)"), &mut general);
    row(
        "1,000 concurrent identical checks: PDP calls",
        &mut same_calls,
    );
    row(
        "1,000 concurrent identical checks: ms until all answered",
        &mut same_ms,
    );
    row(distinct, &mut distinct_calls);
    row(
        "1,000 concurrent distinct checks: ms until all answered",
        &mut distinct_ms,
    );
    row("seed PDPClient.is_authorized: ns per check", &mut seed_rate);
    row("seed PDPClient: PDP calls per check", &mut seed_calls);
    if seed.is_some() {
        println!();
    } else {
        println!("(the seed was not measured: run compat/python/run.sh --setup first)");
    }
    println!("| cached decisions | bytes per decision | bytes per entry | lookup ns |");
    println!("|---|---:|---:|---:|");
    for (kind, n, per_decision, per_entry, ns) in &memory {
        println!("| {n} {kind}s | {per_decision:.0} | {per_entry:.0} | {ns:.0} |");
    }
    let _ = std::fs::remove_dir_all(&dir);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(10)).await });
}
