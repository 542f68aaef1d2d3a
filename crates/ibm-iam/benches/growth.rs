//! How cost grows: verification with key sets of 1 to 100 keys, and the token manager with
//! 1 to 10,000 concurrent callers on an empty cache.
//!
//! ```text
//! cargo bench -p ibm-iam --bench growth
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ibm_iam::verify::KeySet;
use ibm_iam::{TokenManager, TokenValidator};
use ibm_iam_emulator::{Emulator, RunningEmulator};
use serde_json::json;

mod support {
    pub mod report;
}
use support::report;

const APIKEY: &str = "growth-key-0123456789abcdefghijklmn";

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A JWKS of `n` keys and a token signed by the last one.
fn keys_and_token(pairs: &[KeyPair]) -> (Vec<u8>, String) {
    let keys: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let p = k.public_key();
            json!({"kty": "RSA", "alg": "RS256", "kid": format!("k{i}"),
                   "n": b64(p.modulus().big_endian_without_leading_zero()),
                   "e": b64(p.exponent().big_endian_without_leading_zero())})
        })
        .collect();
    let jwks = serde_json::to_vec(&json!({ "keys": keys })).expect("json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let header = b64(format!(r#"{{"kid":"k{}","alg":"RS256"}}"#, pairs.len() - 1).as_bytes());
    let claims = b64(json!({"iam_id": "IBMid-1", "id": "IBMid-1", "sub": "a@b.c", "iss": "https://iam.cloud.ibm.com/identity",
        "iat": now, "exp": now + 3600, "scope": "ibm openid", "account": {"bss": "a", "valid": true}}).to_string().as_bytes());
    let signing_input = format!("{header}.{claims}");
    let last = pairs.last().expect("a key");
    let mut sig = vec![0u8; last.public_modulus_len()];
    last.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    (jwks, format!("{signing_input}.{}", b64(&sig)))
}

/// Fresh verifications per second with a key set of `n` keys, and the time to parse it.
fn verification(rt: &tokio::runtime::Runtime, pairs: &[KeyPair]) -> (f64, f64) {
    let (jwks, token) = keys_and_token(pairs);
    let t = Instant::now();
    let set = KeySet::from_jwks(&jwks).expect("set");
    let parse_ms = t.elapsed().as_secs_f64() * 1e3;
    let validator = TokenValidator::builder()
        .keys(set)
        .cache_capacity(0)
        .build()
        .expect("validator");
    let rate = rt.block_on(async {
        validator.validate(&token).await.expect("valid");
        let calls = 3000;
        let t = Instant::now();
        for _ in 0..calls {
            std::hint::black_box(validator.validate(&token).await.expect("valid"));
        }
        f64::from(calls) / t.elapsed().as_secs_f64()
    });
    (parse_ms, rate)
}

/// `callers` tasks asking a new token manager at once: IAM requests made, and the time
/// until every caller has its token.
fn storm(rt: &tokio::runtime::Runtime, emu: &RunningEmulator, callers: usize) -> (u64, Duration) {
    let tm = TokenManager::builder()
        .api_key(APIKEY)
        .endpoint_url(emu.url())
        .build()
        .expect("tm");
    let before = emu.state().counters().get("/identity/token");
    let took = rt.block_on(async {
        let t = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let tm = tm.clone();
                tokio::spawn(async move { tm.get_token().await })
            })
            .collect();
        for task in tasks {
            task.await.expect("task").expect("token");
        }
        t.elapsed()
    });
    (emu.state().counters().get("/identity/token") - before, took)
}

fn main() {
    let rounds = report::rounds(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let pairs: Vec<KeyPair> = (0..100)
        .map(|_| KeyPair::generate(KeySize::Rsa2048).expect("key"))
        .collect();
    let emu = rt
        .block_on(Emulator::builder().apikey(APIKEY).start())
        .expect("emulator");

    const KEYS: [usize; 3] = [1, 10, 100];
    const CALLERS: [usize; 5] = [1, 10, 100, 1_000, 10_000];
    let mut parse = vec![Vec::new(); KEYS.len()];
    let mut verify = vec![Vec::new(); KEYS.len()];
    let mut requests = vec![Vec::new(); CALLERS.len()];
    let mut served = vec![Vec::new(); CALLERS.len()];
    for _ in 0..rounds {
        for (i, n) in KEYS.iter().enumerate() {
            let (ms, rate) = verification(&rt, &pairs[..*n]);
            parse[i].push(ms);
            verify[i].push(rate);
        }
        for (i, callers) in CALLERS.iter().enumerate() {
            let (n, took) = storm(&rt, &emu, *callers);
            requests[i].push(n as f64);
            served[i].push(took.as_secs_f64() * 1e3);
        }
    }

    const SECTION: &str = "How cost grows";
    for (i, n) in KEYS.iter().enumerate() {
        report::figures(
            SECTION,
            &format!("key set of {n} key(s): parse once"),
            "ms",
            &parse[i],
        );
        let what = format!("key set of {n} key(s): fresh verifications");
        report::figures(SECTION, &what, "verifications/s", &verify[i]);
        report::compare(
            SECTION,
            &what,
            "key set of 1 key(s): fresh verifications",
            "vs 1 key",
        );
    }
    for (i, c) in CALLERS.iter().enumerate() {
        let what = format!("{c} callers on an empty cache");
        report::figures(
            SECTION,
            &format!("{what}: IAM requests"),
            "requests",
            &requests[i],
        );
        report::figures(SECTION, &format!("{what}: all served"), "ms", &served[i]);
    }

    println!("How cost grows, {rounds} rounds (min / median / max)");
    println!("| what | min | median | max |");
    println!("|---|---:|---:|---:|");
    let row = |what: String, v: &mut Vec<f64>, digits: usize| {
        let (a, b, c) = report::stats(v);
        println!("| {what} | {a:.digits$} | {b:.digits$} | {c:.digits$} |");
    };
    for (i, n) in KEYS.iter().enumerate() {
        row(
            format!("key set of {n} key(s): parse once (ms)"),
            &mut parse[i],
            2,
        );
        row(
            format!("key set of {n} key(s): fresh verifications per second"),
            &mut verify[i],
            0,
        );
    }
    for (i, c) in CALLERS.iter().enumerate() {
        row(
            format!("{c} concurrent callers on an empty cache: IAM requests"),
            &mut requests[i],
            0,
        );
        row(
            format!("{c} concurrent callers on an empty cache: time until all served (ms)"),
            &mut served[i],
            1,
        );
    }
    drop(emu);
}
