//! Token verifications per second per core, side by side with the raw RSA-2048 verify of
//! the same machine in the same run, and with the seed package.
//!
//! ```text
//! cargo bench -p ibm-iam --bench verify            # 7 rounds
//! cargo bench -p ibm-iam --bench verify -- --rounds 3
//! cargo bench -p ibm-iam --bench verify -- --only fresh   # one path, for a profiler
//! ```
//!
//! Each round measures on one thread, the first three interleaved in short slices (raw,
//! fresh, cache on, raw, fresh, …) so that a noisy neighbour slows them alike; their
//! ratios are also taken within each round, and the median of those is reported:
//! * `raw verify`: `aws_lc_rs::signature::ParsedPublicKey::verify_sig` (RSASSA-PKCS1-v1_5,
//!   SHA-256) with a key parsed beforehand, over the decoded signing input and signature
//!   of real emulator tokens: the physical limit of a fresh token.
//! * `fresh token`: `TokenValidator::validate` with the verified-token cache off, cycling
//!   over 64 distinct tokens: format checks, base64url, header, key lookup, the RSA
//!   verify, claims JSON and types, issuer and time checks.
//! * `fresh token, cache on`: the same with the default validator, whose cache is
//!   emptied before each pass over the 64 tokens: every token is verified, then
//!   remembered (the cost of the insertion).
//! * `repeated token`: `TokenValidator::validate` of one token already verified (the
//!   cache), which must stay above 1,000,000 per second per core.
//! * `seed validate_token` (when the venv made by `compat/python/run.sh --setup` exists):
//!   the Python `ibmcloud_iam.token.validate_token` against the same emulator, which
//!   fetches the key set over HTTP at every call.
//! * `seed-rs validate_token` (when `bench/seed-rs` is built: `cd bench/seed-rs && cargo
//!   build --release`, or `SEED_RS_BIN`): the seed crate `ibmcloud-iam` 0.2.0's
//!   `jwt::validate_token` against the same emulator, which also fetches the key set (a
//!   new blocking reqwest client each time) and builds the OpenSSL key at every call.
//!
//! Keys come from an in-process emulator (its own thread and runtime) over loopback HTTP,
//! fetched once by the validator. Rates are per core: calls over this thread's CPU time
//! where Linux reports it (`/proc/thread-self/schedstat`), so that a busy machine that
//! takes the CPU away mid-measurement does not count; else wall time. The seeds time
//! themselves in wall time (they wait for HTTP at every call). Rates are min / median /
//! max over rounds; ratios compare medians, and for the fresh paths also the median of
//! the ratios within each round.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ibm_iam::TokenValidator;

mod support {
    pub mod report;
    pub mod seeds;
}
use support::{report, seeds};

const APIKEY: &str = "bench-apikey-0123456789abcdefghijklmnopqrstu";
const TOKENS: usize = 64;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

struct Signed {
    input: Vec<u8>,
    sig: Vec<u8>,
}

/// This thread's CPU time in nanoseconds, from Linux's `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Times a measurement in this thread's CPU time where Linux reports it (a shared
/// machine then slows a path only by contention for caches, not by taking the CPU away
/// mid-measurement), else in wall time. The CPU time of a running thread can lag by a
/// scheduler tick, so measurements here last a few hundred milliseconds.
struct Timer {
    cpu: Option<u64>,
    wall: Instant,
}

impl Timer {
    fn start() -> Self {
        Self {
            cpu: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    fn rate(&self, n: usize) -> f64 {
        let secs = match (self.cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => self.wall.elapsed().as_secs_f64(),
        };
        n as f64 / secs
    }
}

fn raw_verify(key: &ParsedPublicKey, signed: &[Signed], n: usize) -> f64 {
    let start = Timer::start();
    for i in 0..n {
        let s = &signed[i % signed.len()];
        key.verify_sig(&s.input, &s.sig).expect("verifies");
    }
    start.rate(n)
}

fn validate_all(
    rt: &tokio::runtime::Runtime,
    v: &TokenValidator,
    tokens: &[String],
    n: usize,
) -> f64 {
    rt.block_on(async {
        let start = Timer::start();
        for i in 0..n {
            let c = v.validate(&tokens[i % tokens.len()]).await.expect("valid");
            std::hint::black_box(c);
        }
        start.rate(n)
    })
}

fn validate_first_sight(
    rt: &tokio::runtime::Runtime,
    v: &TokenValidator,
    tokens: &[String],
    n: usize,
) -> f64 {
    rt.block_on(async {
        let start = Timer::start();
        for i in 0..n {
            if i % tokens.len() == 0 {
                v.clear_cache();
            }
            let c = v.validate(&tokens[i % tokens.len()]).await.expect("valid");
            std::hint::black_box(c);
        }
        start.rate(n)
    })
}

/// The three paths a fresh token is measured on, interleaved in four slices for `n` calls
/// each: (raw, fresh, first sight) in verifications per second.
fn interleaved(
    rt: &tokio::runtime::Runtime,
    key: &ParsedPublicKey,
    signed: &[Signed],
    fresh: &TokenValidator,
    cached: &TokenValidator,
    tokens: &[String],
    n: usize,
) -> (f64, f64, f64) {
    let slice = (n / 4).max(tokens.len());
    let (mut raw, mut fr, mut first) = (0.0, 0.0, 0.0);
    let mut done = 0;
    while done < n {
        raw += slice as f64 / raw_verify(key, signed, slice);
        fr += slice as f64 / validate_all(rt, fresh, tokens, slice);
        first += slice as f64 / validate_first_sight(rt, cached, tokens, slice);
        done += slice;
    }
    (done as f64 / raw, done as f64 / fr, done as f64 / first)
}

fn main() {
    let rounds = report::rounds(7);

    // The emulator: its own OS thread and single-threaded runtime.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let emu = ibm_iam_emulator::Emulator::builder()
                .apikey(APIKEY)
                .start()
                .await
                .expect("start");
            url_tx.send(emu.url().to_owned()).expect("send url");
            let _ = stop_rx.await;
            emu.shutdown().await;
        });
    });
    let url = url_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server url");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (tokens, jwks) = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut tokens = Vec::new();
        for _ in 0..TOKENS {
            let body: serde_json::Value = client
                .post(format!("{url}/identity/token"))
                .form(&[
                    ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                    ("apikey", APIKEY),
                ])
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("json");
            tokens.push(body["access_token"].as_str().expect("token").to_owned());
        }
        let jwks: serde_json::Value = client
            .get(format!("{url}/identity/keys"))
            .send()
            .await
            .expect("keys")
            .json()
            .await
            .expect("json");
        (tokens, jwks)
    });

    // The raw limit: the key parsed once, the inputs decoded beforehand.
    let jwk = &jwks["keys"][0];
    let n = URL_SAFE_NO_PAD
        .decode(jwk["n"].as_str().expect("n"))
        .expect("n");
    let e = URL_SAFE_NO_PAD
        .decode(jwk["e"].as_str().expect("e"))
        .expect("e");
    let key = RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .expect("key");
    let signed: Vec<Signed> = tokens
        .iter()
        .map(|t| {
            let (input, sig) = t.rsplit_once('.').expect("parts");
            Signed {
                input: input.as_bytes().to_vec(),
                sig: URL_SAFE_NO_PAD.decode(sig).expect("sig"),
            }
        })
        .collect();

    let fresh = TokenValidator::builder()
        .endpoint_url(&url)
        .cache_capacity(0)
        .build()
        .expect("validator");
    let cached = TokenValidator::builder()
        .endpoint_url(&url)
        .build()
        .expect("validator");
    rt.block_on(async {
        fresh.prefetch().await.expect("keys");
        cached.prefetch().await.expect("keys");
    });
    let one = std::slice::from_ref(&tokens[0]);
    let seed = seeds::python_seed("seed_validate.py");
    let seed_rust = seeds::rust_seed();

    // Warm up every path.
    raw_verify(&key, &signed, 500);
    validate_all(&rt, &fresh, &tokens, 500);
    validate_all(&rt, &cached, one, 100_000);

    if let Some(only) = arg("--only") {
        for _ in 0..rounds {
            let rate = match only.as_str() {
                "raw" => raw_verify(&key, &signed, 200_000),
                "fresh" => validate_all(&rt, &fresh, &tokens, 200_000),
                "first-sight" => validate_first_sight(&rt, &cached, &tokens, 200_000),
                "repeated" => validate_all(&rt, &cached, one, 20_000_000),
                other => panic!("--only raw|fresh|first-sight|repeated, not {other}"),
            };
            println!("{only}: {rate:.0}/s");
        }
        let _ = stop_tx.send(());
        let _ = server.join();
        return;
    }

    let (mut raw, mut fr, mut first, mut rep, mut py, mut rs) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut fr_ratio, mut first_ratio, mut remember) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (r, f, s) = interleaved(&rt, &key, &signed, &fresh, &cached, &tokens, 20_000);
        raw.push(r);
        fr.push(f);
        first.push(s);
        fr_ratio.push(f / r);
        first_ratio.push(s / r);
        remember.push(s / f);
        rep.push(validate_all(&rt, &cached, one, 2_000_000));
        if let Some((python, script)) = &seed {
            py.push(
                seeds::rate(
                    Command::new(python)
                        .arg(script)
                        .args([&url, &tokens[0], "200"]),
                )
                .expect("the Python seed's rate"),
            );
        }
        if let Some(bin) = &seed_rust {
            rs.push(
                seeds::rate(Command::new(bin).args(["validate", &url, &tokens[0], "40"]))
                    .expect("the Rust seed's rate"),
            );
        }
    }
    assert_eq!(
        fresh.status().key_fetches,
        1,
        "the fresh path never fetched keys again"
    );
    let _ = stop_tx.send(());
    let _ = server.join();

    const SECTION: &str = "TokenValidator: verifications, one thread";
    const RAW: &str = "limit: raw RSA-2048 verify, pre-parsed key";
    const FRESH: &str = "fresh token, cache off";
    const FIRST: &str = "fresh token, default validator (verified, then remembered)";
    const REPEATED: &str = "repeated token (verified-token cache)";
    report::figures(SECTION, RAW, "verifications/s", &raw);
    report::figures(SECTION, FRESH, "verifications/s", &fr);
    report::figures(SECTION, FIRST, "verifications/s", &first);
    report::figures(SECTION, REPEATED, "verifications/s", &rep);
    let percent = |v: &[f64]| v.iter().map(|r| 100.0 * r).collect::<Vec<_>>();
    let same_round = "as a share of the raw verify of the same round";
    report::figures(
        SECTION,
        &format!("{FRESH}, {same_round}"),
        "%",
        &percent(&fr_ratio),
    );
    report::figures(
        SECTION,
        &format!("{FIRST}, {same_round}"),
        "%",
        &percent(&first_ratio),
    );
    let seeds = [
        (
            "seed validate_token (Python 0.1.7, keys fetched per call)",
            &py,
        ),
        (
            "seed-rs validate_token (ibmcloud-iam 0.2.0, keys fetched per call)",
            &rs,
        ),
    ];
    for (seed, values) in seeds {
        if !values.is_empty() {
            report::figures(SECTION, seed, "verifications/s", values);
        }
    }
    for what in [FRESH, FIRST, REPEATED] {
        report::compare(SECTION, what, RAW, "vs limit");
        for (seed, values) in seeds {
            if !values.is_empty() {
                report::compare(
                    SECTION,
                    what,
                    seed,
                    &format!("vs {}", &seed[..seed.find(" (").unwrap_or(seed.len())]),
                );
            }
        }
    }
    let (r_min, r_med, r_max) = report::stats(&mut raw);
    let (f_min, f_med, f_max) = report::stats(&mut fr);
    let (s_min, s_med, s_max) = report::stats(&mut first);
    let (c_min, c_med, c_max) = report::stats(&mut rep);
    let (fr_ratio, first_ratio) = (
        report::stats(&mut fr_ratio).1,
        report::stats(&mut first_ratio).1,
    );
    let remember = report::stats(&mut remember).1;
    println!(
        "token verification, {rounds} rounds, one thread (verifications/s: min / median / max)"
    );
    println!("| what | min | median | max | vs raw verify |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| raw RSA-2048 verify (aws-lc-rs, pre-parsed key) | {r_min:.0} | {r_med:.0} | {r_max:.0} | 100% |"
    );
    println!(
        "| fresh token, `TokenValidator::validate`, cache off | {f_min:.0} | {f_med:.0} | {f_max:.0} | {:.1}% (per round: {:.1}%) |",
        100.0 * f_med / r_med,
        100.0 * fr_ratio
    );
    println!(
        "| fresh token, default validator (verified, then cached) | {s_min:.0} | {s_med:.0} | {s_max:.0} | {:.1}% (per round: {:.1}%) |",
        100.0 * s_med / r_med,
        100.0 * first_ratio
    );
    println!(
        "| (cache on vs cache off, per round: {:.1}%) | | | | |",
        100.0 * remember
    );
    println!(
        "| repeated token, `TokenValidator::validate` (cache) | {c_min:.0} | {c_med:.0} | {c_max:.0} | {:.0}× |",
        c_med / r_med
    );
    if py.is_empty() {
        println!(
            "| seed `validate_token` (Python) | skipped: run `compat/python/run.sh --setup` first | | | |"
        );
    } else {
        let (p_min, p_med, p_max) = report::stats(&mut py);
        println!(
            "| seed `validate_token` (Python, key fetch per call) | {p_min:.0} | {p_med:.0} | {p_max:.0} | {:.1}% |",
            100.0 * p_med / r_med
        );
        println!(
            "fresh token vs seed: {:.0}×; repeated token vs seed: {:.0}×",
            f_med / p_med,
            c_med / p_med
        );
    }
    if rs.is_empty() {
        println!(
            "| seed-rs `jwt::validate_token` (ibmcloud-iam 0.2.0) | skipped: build bench/seed-rs first (`cd bench/seed-rs && cargo build --release`) | | | |"
        );
    } else {
        let (p_min, p_med, p_max) = report::stats(&mut rs);
        println!(
            "| seed-rs `jwt::validate_token` (ibmcloud-iam 0.2.0, key fetch per call) | {p_min:.1} | {p_med:.1} | {p_max:.1} | {:.3}% |",
            100.0 * p_med / r_med
        );
        println!(
            "fresh token vs seed-rs: {:.0}×; repeated token vs seed-rs: {:.0}×",
            f_med / p_med,
            c_med / p_med
        );
    }
}
