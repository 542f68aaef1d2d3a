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
//! * memory per cached decision at 10³ … 10⁶ entries (each size in a fresh child process,
//!   resident-set growth divided by entries), and the lookup latency at that size.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ibm_iam::TokenManager;
use ibm_iam::authz::internals::DecisionCache;
use ibm_iam::authz::{
    AuthzRequest, CacheConfig, Decision, DecisionSource, PdpClient, Resource, Subject,
};
use ibm_iam::clock::SystemClock;
use ibm_iam_emulator::{Emulator, Seed, Tls};
use serde_json::json;

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

/// In a child process: fill a cache with `n` decisions; print bytes per entry and ns per lookup.
fn memory_child(n: usize) {
    let cache = DecisionCache::new(
        CacheConfig {
            max_entries: n + 16,
            ..CacheConfig::default()
        },
        Arc::new(SystemClock),
    );
    let deny = Decision {
        permitted: false,
        reason: None,
        obligation: None,
        source: DecisionSource::Pdp,
    };
    let reqs: Vec<AuthzRequest> = (0..n).map(request).collect();
    let before = rss_kib();
    for r in &reqs {
        cache.store(r, &deny, None, cache.generation());
    }
    let after = rss_kib();
    let lookups = 200_000.min(n * 10);
    let start = Instant::now();
    for i in 0..lookups {
        std::hint::black_box(cache.lookup(&reqs[(i * 7919) % n]));
    }
    let ns = start.elapsed().as_nanos() as f64 / lookups as f64;
    println!(
        "{} {ns}",
        (after.saturating_sub(before) * 1024) as f64 / n as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-child") {
        memory_child(args[i + 1].parse().expect("n"));
        return;
    }
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
    let inst = |i: usize| {
        Resource::builder()
            .service_name("books")
            .account_id(ACCOUNT)
            .service_instance(format!("i{i}"))
            .build()
    };
    let calls = || emu.state().counters().get("/v2/authz");

    println!("PdpClient decisions (one run, loopback emulator over HTTPS)");
    println!("| what | figure |");
    println!("|---|---:|");

    // Cached latency.
    let pdp = pdp_with(CacheConfig::default());
    rt.block_on(async {
        assert!(
            pdp.is_authorized(&alice, "books.book.read", &inst(0))
                .await
                .expect("warm")
                .permitted
        );
        let n = 200_000;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(
                pdp.is_authorized(&alice, "books.book.read", &inst(0))
                    .await
                    .expect("hit"),
            );
        }
        let exact = start.elapsed().as_nanos() as f64 / f64::from(n);
        let resources: Vec<Resource> = (1..=1000).map(inst).collect();
        let start = Instant::now();
        for i in 0..n as usize {
            let d = pdp
                .is_authorized(&alice, "books.dashboard.view", &resources[i % 1000])
                .await
                .expect("hit");
            std::hint::black_box(d);
        }
        let general = start.elapsed().as_nanos() as f64 / f64::from(n);
        println!("| cached decision, exact key (ns, includes building the request) | {exact:.0} |");
        println!(
            "| cached decision, generalised key: other action and instance (ns) | {general:.0} |"
        );
    });

    // PDP calls under concurrency.
    rt.block_on(async {
        let pdp = pdp_with(CacheConfig::default());
        let before = calls();
        let start = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (pdp, s) = (pdp.clone(), alice.clone());
                tokio::spawn(
                    async move { pdp.is_authorized(&s, "books.book.create", &inst(7)).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("decision");
        }
        println!(
            "| 1,000 concurrent identical checks: PDP calls | {} ({:.1} ms) |",
            calls() - before,
            start.elapsed().as_secs_f64() * 1e3
        );
        let pdp = pdp_with(CacheConfig {
            permits: false,
            denies: false,
            ..CacheConfig::default()
        });
        let before = calls();
        let start = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let (pdp, s) = (pdp.clone(), alice.clone());
                tokio::spawn(async move {
                    pdp.is_authorized(&s, "books.book.read", &inst(10_000 + i))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("decision");
        }
        println!(
            "| 1,000 concurrent distinct checks (no cache): PDP calls | {} ({:.1} ms) |",
            calls() - before,
            start.elapsed().as_secs_f64() * 1e3
        );
    });

    // The seed.
    let python =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/compat-venvs/seed/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/seed_pdp.py");
    if python.exists() {
        let dir = std::env::temp_dir().join(format!("ibm-iam-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &ca).expect("ca");
        let before = calls();
        let out = Command::new(&python)
            .arg(&script)
            .args([url.as_str(), BOOKS_KEY, ALICE, ACCOUNT, "1000"])
            .env("REQUESTS_CA_BUNDLE", &ca_file)
            .env("SSL_CERT_FILE", &ca_file)
            .output()
            .expect("python");
        let rate = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        println!(
            "| seed PDPClient: 1,000 sequential checks: PDP calls | {} ({} checks/s) |",
            calls() - before,
            rate
        );
    }

    // Memory per cached decision, each size in a fresh process.
    let exe = std::env::current_exe().expect("exe");
    for n in [1_000usize, 10_000, 100_000, 1_000_000] {
        let out = Command::new(&exe)
            .args(["--memory-child", &n.to_string()])
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace();
        let bytes: f64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        let ns: f64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        println!("| {n} cached decisions: bytes per entry / lookup ns | {bytes:.0} / {ns:.0} |");
    }
    drop(pdp);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(10)).await });
}
