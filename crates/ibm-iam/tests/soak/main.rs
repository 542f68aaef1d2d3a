//! Soak: the emulator and the library under sustained concurrent load on loopback.
//!
//! Token managers for every grant the library sends (API key, API key with a client,
//! refresh token, compute-resource token, assume) on a clock that runs twelve times faster
//! than real time, so that their one-minute tokens are refreshed every few seconds; a
//! validator checks every token they hand out while the emulator rotates its signing key;
//! PDP clients ask for decisions (cached, forced past the cache, roles, bulk) and check
//! that each is the right one; writers create, read, use and delete API keys and policies.
//!
//! The run is bounded in time and in operations and stops by itself. It passes when no
//! operation failed or got a wrong answer, memory stayed flat (RSS from `/proc/self/status`
//! after warm-up against the end), and every request the clients counted is one the
//! emulator counted, route by route.
//!
//! `soak_short` (40 s) runs with the test suite. The long run:
//!
//! ```sh
//! SOAK_SECONDS=300 cargo test -p ibm-iam --release --test soak -- --ignored --nocapture
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ibm_iam::authz::{AuthzRequest, CacheConfig, CallOptions, PdpClient, Resource, Subject};
use ibm_iam::clock::{Clock, Sleep};
use ibm_iam::token::{ContainerAuth, Profile};
use ibm_iam::{TokenManager, TokenValidator};
use ibm_iam_emulator::{Emulator, RotationPolicy, RunningEmulator, Seed};
use serde_json::{Value, json};

const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";
const PROFILE: &str = "Profile-3f0e2a9c-0000-4000-8000-000000000001";
const READER: &str = "crn:v1:bluemix:public:iam::::serviceRole:Reader";
/// How much faster than real time the clients' clock runs.
const WARP: u32 = 12;

/// A clock whose monotonic time runs `WARP` times faster than real time. Wall-clock time
/// stays real: the emulator stamps real `iat`/`exp`, which the clients compare with it.
#[derive(Debug)]
struct Warp {
    base: Instant,
}

impl Clock for Warp {
    fn now(&self) -> Instant {
        self.base + self.base.elapsed() * WARP
    }

    fn system_now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        let left = deadline.saturating_duration_since(self.now()) / WARP;
        Box::pin(tokio::time::sleep(left))
    }
}

struct Config {
    duration: Duration,
    max_ops: u64,
    token_tasks: usize,
    pdp_tasks: usize,
    writer_tasks: usize,
    /// A pause between operations, so that the short run leaves room for the tests that
    /// run beside it.
    pause: Duration,
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// What the clients did, for the comparison with the emulator's counters.
#[derive(Default)]
struct Tally {
    ops: BTreeMap<&'static str, AtomicU64>,
    /// Requests the writers sent themselves, by route as the emulator declares it.
    sent: BTreeMap<&'static str, AtomicU64>,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Tally {
    fn new() -> Self {
        let mut t = Self::default();
        for k in [
            "get_token",
            "validate",
            "authorize",
            "authorize_uncached",
            "roles",
            "bulk",
            "apikey_cycle",
            "policy_cycle",
        ] {
            t.ops.insert(k, AtomicU64::new(0));
        }
        for k in [
            "/identity/token",
            "/v1/apikeys",
            "/v1/apikeys/{id}",
            "/v1/policies",
            "/v1/policies/{id}",
        ] {
            t.sent.insert(k, AtomicU64::new(0));
        }
        t
    }

    fn op(&self, k: &str) {
        self.ops[k].fetch_add(1, Ordering::Relaxed);
    }

    fn sent(&self, k: &str) {
        self.sent[k].fetch_add(1, Ordering::Relaxed);
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut f = self.first_errors.lock().unwrap();
        if f.len() < 20 {
            f.push(what);
        }
    }

    fn total(&self) -> u64 {
        self.ops.values().map(|v| v.load(Ordering::Relaxed)).sum()
    }
}

struct World {
    emu: RunningEmulator,
    http: reqwest::Client,
    reader: String,
    writer: String,
    dir: tempfile::TempDir,
}

async fn post(w: &World, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = w.http.post(format!("{}{path}", w.emu.url())).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn setup() -> World {
    let emu = Emulator::builder()
        .seed(
            Seed::from_json(include_str!("../../../ibm-iam-emulator/examples/seed.json"))
                .expect("seed"),
        )
        .token_lifetime(60)
        .rotation(RotationPolicy {
            every_seconds: Some(20),
            overlap_seconds: 120,
        })
        .start()
        .await
        .expect("emulator");
    let http = reqwest::Client::new();
    let mut w = World {
        emu,
        http,
        reader: String::new(),
        writer: String::new(),
        dir: tempfile::tempdir().expect("dir"),
    };
    let admin = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(w.emu.url())
        .build()
        .expect("admin");
    let admin = admin.get_token().await.expect("admin token");
    for (name, slot) in [("soak-reader", 0), ("soak-writer", 1)] {
        let (status, v) = post(
            &w,
            "/v1/serviceids/",
            Some(admin.expose_secret()),
            json!({"account_id": ACCOUNT, "name": name}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let iam_id = v["iam_id"].as_str().expect("iam_id").to_owned();
        if slot == 0 {
            w.reader = iam_id;
        } else {
            w.writer = iam_id;
        }
    }
    let (status, v) = post(
        &w,
        "/v1/policies",
        Some(admin.expose_secret()),
        policy_body(&w.reader),
    )
    .await;
    assert!(
        (200..300).contains(&status),
        "the emulator's PDP must be there: {status} {v}"
    );
    w
}

fn policy_body(iam_id: &str) -> Value {
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

/// Every grant the token manager sends, each on the warped clock.
async fn managers(w: &World, clock: &Arc<dyn Clock>) -> Vec<(&'static str, TokenManager)> {
    let base = |b: ibm_iam::TokenManagerBuilder| {
        b.endpoint_url(w.emu.url())
            .clock(clock.clone())
            .build()
            .expect("manager")
    };
    // A refresh token issued to the `bx` client, and a compute-resource token on disk.
    let resp = w
        .http
        .post(format!("{}/identity/token", w.emu.url()))
        .basic_auth("bx", Some("bx"))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", ALICE_KEY),
        ])
        .send()
        .await
        .expect("send");
    let v: Value = resp.json().await.expect("json");
    let refresh = v["refresh_token"].as_str().expect("refresh").to_owned();
    write_cr_token(w).await.expect("a CR token");
    let cr_file = w.dir.path().join("cr-token");

    let delegate = base(TokenManager::builder().api_key(ALICE_KEY));
    vec![
        ("apikey", base(TokenManager::builder().api_key(BOOKS_KEY))),
        (
            "apikey+client",
            base(
                TokenManager::builder()
                    .api_key(ALICE_KEY)
                    .client_credentials("bx", "bx"),
            ),
        ),
        (
            "refresh_token",
            base(
                TokenManager::builder()
                    .refresh_token(refresh)
                    .client_credentials("bx", "bx"),
            ),
        ),
        (
            "cr_token",
            base(TokenManager::builder().container(ContainerAuth {
                cr_token_file: Some(cr_file),
                profile_id: Some(PROFILE.into()),
                profile_name: None,
                profile_crn: None,
            })),
        ),
        (
            "assume",
            base(TokenManager::builder().assume(
                delegate.clone(),
                Profile::Name {
                    name: "books-workload".into(),
                    account_id: ACCOUNT.into(),
                },
            )),
        ),
        ("assume's delegate", delegate),
    ]
}

fn instance(i: u64) -> Resource {
    Resource::builder()
        .service_name("books")
        .account_id(ACCOUNT)
        .service_instance(format!("shelf-{}", i % 64))
        .build()
}

struct Run {
    deadline: Instant,
    max_ops: u64,
    pause: Duration,
    stop: AtomicBool,
    tally: Tally,
}

impl Run {
    fn go_on(&self) -> bool {
        if self.stop.load(Ordering::Relaxed)
            || Instant::now() >= self.deadline
            || self.tally.total() >= self.max_ops
        {
            self.stop.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    async fn pause(&self) {
        if self.pause.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(self.pause).await;
        }
    }
}

async fn token_task(
    run: Arc<Run>,
    managers: Arc<Vec<(&'static str, TokenManager)>>,
    validator: TokenValidator,
    seed: usize,
) {
    let mut n = seed;
    while run.go_on() {
        let (name, tm) = &managers[n % managers.len()];
        n += 1;
        let token = match tm.get_token().await {
            Ok(t) => t,
            Err(e) => {
                run.tally.error(format!("get_token ({name}): {e}"));
                continue;
            }
        };
        run.tally.op("get_token");
        match validator.validate(token.expose_secret()).await {
            Ok(c) if c.iam_id().is_some_and(|i| !i.is_empty()) => run.tally.op("validate"),
            Ok(_) => run.tally.error(format!("validate ({name}): no iam_id")),
            Err(e) => run.tally.error(format!("validate ({name}): {e}")),
        }
        run.pause().await;
    }
}

async fn pdp_task(run: Arc<Run>, pdp: PdpClient, reader: String, seed: u64) {
    let subject = Subject::attributes(reader, "ibm openid");
    let mut n = seed;
    while run.go_on() {
        n += 1;
        // Reader grants read, not delete.
        let (action, permitted) = if n.is_multiple_of(3) {
            ("books.book.delete", false)
        } else {
            ("books.book.read", true)
        };
        let req = AuthzRequest::new(subject.clone(), action, instance(n));
        let uncached = n.is_multiple_of(5);
        let opts = CallOptions {
            bypass_cache: uncached,
        };
        match pdp.authorize_with(req, opts).await {
            Ok(d) if d.permitted == permitted => run.tally.op(if uncached {
                "authorize_uncached"
            } else {
                "authorize"
            }),
            Ok(d) => run.tally.error(format!(
                "{action}: permitted {} (source {:?})",
                d.permitted, d.source
            )),
            Err(e) => run.tally.error(format!("authorize {action}: {e}")),
        }
        if n.is_multiple_of(50) {
            match pdp.roles(&subject, &instance(n)).await {
                Ok(r) if r.service.iter().any(|a| a.role_crn == READER) => run.tally.op("roles"),
                Ok(r) => run.tally.error(format!("roles: no Reader in {r:?}")),
                Err(e) => run.tally.error(format!("roles: {e}")),
            }
        }
        if n.is_multiple_of(100) {
            let resources: Vec<Resource> = (n..n + 5).map(instance).collect();
            // Every other bulk check past the cache, so that /v2/authz/bulk itself is asked
            // (the others are answered from the permits the cache already holds).
            let opts = CallOptions {
                bypass_cache: n.is_multiple_of(200),
            };
            let results = pdp
                .authorize_resources_with(&subject, "books.book.read", &resources, opts)
                .await;
            if results
                .iter()
                .all(|r| r.as_ref().is_ok_and(|d| d.permitted))
            {
                run.tally.op("bulk");
            } else {
                run.tally.error(format!("bulk: {results:?}"));
            }
        }
        run.pause().await;
    }
}

/// Writes a fresh compute-resource token to the file every 15 s, as the kubelet rotates a
/// projected service-account token: the emulator's key rotation retires the key that
/// signed the old one.
async fn cr_rotator(run: Arc<Run>, w: Arc<World>) {
    let mut last = Instant::now();
    while run.go_on() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if last.elapsed() < Duration::from_secs(15) {
            continue;
        }
        last = Instant::now();
        if let Err(e) = write_cr_token(&w).await {
            run.tally.error(format!("rotating the CR token: {e}"));
        }
    }
}

async fn write_cr_token(w: &World) -> Result<(), String> {
    let (status, cr) = post(
        w,
        "/_emulator/cr-tokens",
        None,
        json!({"claims": {"namespace": "books"}, "expires_in": 3600}),
    )
    .await;
    let token = cr["cr_token"].as_str().ok_or(format!("{status} {cr}"))?;
    let tmp = w.dir.path().join("cr-token.tmp");
    std::fs::write(&tmp, token).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, w.dir.path().join("cr-token")).map_err(|e| e.to_string())
}

/// Creates an API key, reads it, exchanges it (every 8th), deletes it; every 10th round
/// also creates and deletes a policy.
async fn writer_task(run: Arc<Run>, w: Arc<World>, admin: TokenManager, seed: u64) {
    let url = w.emu.url().to_owned();
    let mut n = seed;
    while run.go_on() {
        n += 1;
        let result: Result<(), String> = async {
            let token = admin.get_token().await.map_err(|e| e.to_string())?;
            let t = token.expose_secret();
            run.tally.sent("/v1/apikeys");
            let r = w
                .http
                .post(format!("{url}/v1/apikeys"))
                .bearer_auth(t)
                .json(&json!({"name": format!("soak-{n}"), "iam_id": w.writer, "account_id": ACCOUNT}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if r.status() != 201 {
                return Err(format!("create key: {}", r.status()));
            }
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            let id = v["id"].as_str().ok_or("no id")?.to_owned();
            let value = v["apikey"].as_str().ok_or("no value")?.to_owned();
            run.tally.sent("/v1/apikeys/{id}");
            let g = w
                .http
                .get(format!("{url}/v1/apikeys/{id}"))
                .bearer_auth(t)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if g.status() != 200 {
                return Err(format!("read key: {}", g.status()));
            }
            if n.is_multiple_of(8) {
                run.tally.sent("/identity/token");
                let x = w
                    .http
                    .post(format!("{url}/identity/token"))
                    .form(&[
                        ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                        ("apikey", value.as_str()),
                    ])
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if x.status() != 200 {
                    return Err(format!("exchange the new key: {}", x.status()));
                }
            }
            run.tally.sent("/v1/apikeys/{id}");
            let d = w
                .http
                .delete(format!("{url}/v1/apikeys/{id}"))
                .bearer_auth(t)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if d.status() != 204 {
                return Err(format!("delete key: {}", d.status()));
            }
            run.tally.op("apikey_cycle");
            if n.is_multiple_of(10) {
                run.tally.sent("/v1/policies");
                let p = w
                    .http
                    .post(format!("{url}/v1/policies"))
                    .bearer_auth(t)
                    .json(&policy_body(&w.writer))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !p.status().is_success() {
                    return Err(format!("create policy: {}", p.status()));
                }
                let v: Value = p.json().await.map_err(|e| e.to_string())?;
                let id = v["id"].as_str().ok_or("no policy id")?.to_owned();
                run.tally.sent("/v1/policies/{id}");
                let d = w
                    .http
                    .delete(format!("{url}/v1/policies/{id}"))
                    .bearer_auth(t)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !d.status().is_success() {
                    return Err(format!("delete policy: {}", d.status()));
                }
                run.tally.op("policy_cycle");
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            run.tally.error(format!("writer: {e}"));
        }
        run.pause().await;
    }
}

async fn soak(cfg: Config) {
    let w = Arc::new(setup().await);
    let clock: Arc<dyn Clock> = Arc::new(Warp {
        base: Instant::now(),
    });
    let managers = Arc::new(managers(&w, &clock).await);
    // Count from here: setup's requests are not the load's.
    let reset = w
        .http
        .delete(format!("{}/_emulator/counters", w.emu.url()))
        .send()
        .await
        .expect("reset counters");
    assert!(reset.status().is_success());

    let admin = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(w.emu.url())
        .clock(clock.clone())
        .build()
        .expect("admin");
    let validator = TokenValidator::builder()
        .endpoint_url(w.emu.url())
        .clock(clock.clone())
        .build()
        .expect("validator");
    // The PDP clients' own token managers, kept to count their requests.
    let pdp_tokens: Vec<TokenManager> = (0..2)
        .map(|_| {
            TokenManager::builder()
                .api_key(BOOKS_KEY)
                .endpoint_url(w.emu.url())
                .clock(clock.clone())
                .build()
                .expect("pdp tokens")
        })
        .collect();
    let pdps: Vec<PdpClient> = pdp_tokens
        .iter()
        .map(|tokens| {
            PdpClient::builder(tokens.clone())
                .clock(clock.clone())
                // The decision cache's eviction queue keeps a stale key for every re-insert
                // until it holds twice `max_entries` (200,000 keys, ~50 MB, with the default
                // 100,000) however few entries are live; a smaller cache reaches that bound
                // in seconds, so that any growth left is a leak. See docs/RELIABILITY.md.
                .cache(CacheConfig {
                    max_entries: 4096,
                    ..CacheConfig::default()
                })
                .build()
                .expect("pdp")
        })
        .collect();

    let started = Instant::now();
    let run = Arc::new(Run {
        deadline: started + cfg.duration,
        max_ops: cfg.max_ops,
        pause: cfg.pause,
        stop: AtomicBool::new(false),
        tally: Tally::new(),
    });
    let rss_start = rss_kib();
    let samples: Arc<Mutex<Vec<(Duration, u64)>>> = Arc::default();
    let sampler = {
        let (run, samples) = (run.clone(), samples.clone());
        tokio::spawn(async move {
            while !run.stop.load(Ordering::Relaxed) {
                samples.lock().unwrap().push((started.elapsed(), rss_kib()));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..cfg.token_tasks {
        tasks.push(tokio::spawn(token_task(
            run.clone(),
            managers.clone(),
            validator.clone(),
            i,
        )));
    }
    for i in 0..cfg.pdp_tasks {
        tasks.push(tokio::spawn(pdp_task(
            run.clone(),
            pdps[i % pdps.len()].clone(),
            w.reader.clone(),
            i as u64 * 1_000_003,
        )));
    }
    tasks.push(tokio::spawn(cr_rotator(run.clone(), w.clone())));
    for i in 0..cfg.writer_tasks {
        tasks.push(tokio::spawn(writer_task(
            run.clone(),
            w.clone(),
            admin.clone(),
            i as u64 * 1_000_003,
        )));
    }
    for t in tasks {
        t.await.expect("a load task panicked");
    }
    sampler.await.expect("sampler");
    let elapsed = started.elapsed();
    let rss_end = rss_kib();

    // Let background refreshes that were started finish before counting.
    for _ in 0..500 {
        let busy = managers
            .iter()
            .map(|(_, m)| m)
            .chain(&pdp_tokens)
            .chain([&admin])
            .any(|m| m.status().refreshing);
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let t = &run.tally;
    let counters = w.emu.state().counters().snapshot();
    let emu = |route: &str| counters.get(route).copied().unwrap_or(0);
    let mut refreshes = BTreeMap::new();
    let mut token_requests = admin.status().requests;
    for (name, m) in managers.iter() {
        let s = m.status();
        refreshes.insert(*name, s.requests);
        token_requests += s.requests;
    }
    for m in &pdp_tokens {
        token_requests += m.status().requests;
    }
    let pdp_calls: u64 = pdps.iter().map(PdpClient::pdp_calls).sum();
    let emu_pdp = emu("/v2/authz") + emu("/v2/authz/roles") + emu("/v2/authz/bulk");
    let sent = |k: &str| t.sent[k].load(Ordering::Relaxed);

    let samples = samples.lock().unwrap().clone();
    let window = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|(at, _)| {
                let f = at.as_secs_f64() / elapsed.as_secs_f64();
                f >= from && f <= to
            })
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(0)
    };
    let (warm, late) = (window(0.25, 0.5), window(0.75, 1.0));

    println!(
        "soak: {:.1} s, {} operations",
        elapsed.as_secs_f64(),
        t.total()
    );
    for (k, v) in &t.ops {
        println!("  {k:<20} {:>10}", v.load(Ordering::Relaxed));
    }
    println!(
        "  errors               {:>10}",
        t.errors.load(Ordering::Relaxed)
    );
    println!("  token requests by grant: {refreshes:?}");
    println!(
        "  emulator: {counters:?}; pdp calls (clients) {pdp_calls}; key fetches (validator) {}",
        validator.status().key_fetches
    );
    for p in &pdps {
        println!("  decision cache: {:?}", p.cache_stats());
    }
    println!(
        "  RSS KiB: start {rss_start}, max of 25-50% {warm}, max of 75-100% {late}, end {rss_end}, samples {}",
        samples.len()
    );

    let step = (samples.len() / 20).max(1);
    let series: Vec<String> = samples
        .iter()
        .step_by(step)
        .map(|(at, r)| format!("{}s:{}M", at.as_secs(), r / 1024))
        .collect();
    println!("  RSS over time: {}", series.join(" "));
    let errors = t.first_errors.lock().unwrap().clone();
    assert_eq!(t.errors.load(Ordering::Relaxed), 0, "errors: {errors:#?}");
    for (name, requests) in &refreshes {
        let min = (elapsed.as_secs() * u64::from(WARP) / 60)
            .saturating_sub(2)
            .max(1);
        assert!(
            *requests >= min,
            "{name}: {requests} token requests in {elapsed:?}, expected at least {min} (one per token life)"
        );
    }
    // Route by route, what the clients sent is what the emulator saw.
    assert_eq!(
        pdp_calls, emu_pdp,
        "PDP calls: clients {pdp_calls}, emulator {emu_pdp}"
    );
    assert_eq!(
        validator.status().key_fetches,
        emu("/identity/keys"),
        "key-set fetches"
    );
    for route in [
        "/v1/apikeys",
        "/v1/apikeys/{id}",
        "/v1/policies",
        "/v1/policies/{id}",
    ] {
        assert_eq!(sent(route), emu(route), "{route}");
    }
    // Token requests: every manager's (the PDP clients' too) and the writers' exchanges.
    assert_eq!(
        token_requests + sent("/identity/token"),
        emu("/identity/token"),
        "token requests"
    );
    // Memory: flat after warm-up.
    assert!(
        late <= warm + warm / 10 + 16 * 1024,
        "RSS grew from {warm} KiB (after warm-up) to {late} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_short() {
    soak(Config {
        duration: Duration::from_secs(40),
        max_ops: 2_000_000,
        token_tasks: 4,
        pdp_tasks: 3,
        writer_tasks: 2,
        pause: Duration::from_millis(1),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: SOAK_SECONDS=300 cargo test -p ibm-iam --release --test soak -- --ignored --nocapture"]
async fn soak_long() {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // SOAK_TASKS=token,pdp,writer (default 8,6,3) reshapes the load, e.g. to find which
    // part a regression is in.
    let tasks: Vec<usize> = std::env::var("SOAK_TASKS")
        .unwrap_or_else(|_| "8,6,3".into())
        .split(',')
        .map(|n| n.trim().parse().expect("SOAK_TASKS=token,pdp,writer"))
        .collect();
    soak(Config {
        duration: Duration::from_secs(seconds),
        max_ops: 200_000_000,
        token_tasks: tasks[0],
        pdp_tasks: tasks[1],
        writer_tasks: tasks[2],
        pause: Duration::ZERO,
    })
    .await;
}
