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
use serde_json::json;

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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    println!("How cost grows");
    println!("| what | figure |");
    println!("|---|---:|");

    let pairs: Vec<KeyPair> = (0..100)
        .map(|_| KeyPair::generate(KeySize::Rsa2048).expect("key"))
        .collect();
    for n in [1usize, 10, 100] {
        let (jwks, token) = keys_and_token(&pairs[..n]);
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
        println!(
            "| key set of {n} keys: parse once (ms) / fresh verifications per second | {parse_ms:.2} / {rate:.0} |"
        );
    }

    let emu = rt
        .block_on(
            ibm_iam_emulator::Emulator::builder()
                .apikey("growth-key-0123456789abcdefghijklmn")
                .start(),
        )
        .expect("emulator");
    for callers in [1usize, 10, 100, 1_000, 10_000] {
        let tm = TokenManager::builder()
            .api_key("growth-key-0123456789abcdefghijklmn")
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
        let requests = emu.state().counters().get("/identity/token") - before;
        println!(
            "| {callers} concurrent callers on an empty cache: IAM requests / time until all served (ms) | {requests} / {:.1} |",
            took.as_secs_f64() * 1e3
        );
    }
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
}
