//! The seed author's Rust crate `ibmcloud-iam` 0.2.0, timed for the benchmarks.
//!
//! * `seed-rs-bench URL APIKEY THREADS CALLS` times `ibmcloud_iam::token::TokenManager::token()`
//!   on a cached token and prints CPU time per call in nanoseconds: wall time x
//!   min(threads, cores) / (threads x calls). Run by `crates/ibm-iam/benches/token_cache.rs`.
//! * `seed-rs-bench validate URL TOKEN CALLS` calls `ibmcloud_iam::jwt::validate_token`
//!   (which fetches `URL/identity/keys` at every call) CALLS times on one thread and prints
//!   validations per second. Run by `crates/ibm-iam/benches/verify.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("validate") if args.len() == 5 => validate(&args[2], &args[3], &args[4]),
        _ if args.len() == 5 => token(&args[1], &args[2], &args[3], &args[4]),
        _ => {
            eprintln!("usage: seed-rs-bench URL APIKEY THREADS CALLS");
            eprintln!("       seed-rs-bench validate URL TOKEN CALLS");
            std::process::exit(2);
        }
    }
}

fn validate(url: &str, access_token: &str, calls: &str) {
    let calls: usize = calls.parse().unwrap_or(200);
    let token = ibmcloud_iam::token::Token {
        access_token: access_token.to_owned(),
        token_type: "Bearer".to_owned(),
        refresh_token: String::new(),
        expiry: Instant::now() + Duration::from_secs(3600),
    };
    if let Err(e) = ibmcloud_iam::jwt::validate_token(&token, url) {
        eprintln!("the seed refuses the token: {e}");
        std::process::exit(1);
    }
    let start = Instant::now();
    for _ in 0..calls {
        std::hint::black_box(ibmcloud_iam::jwt::validate_token(&token, url).ok());
    }
    println!("{}", calls as f64 / start.elapsed().as_secs_f64());
}

fn token(url: &str, apikey: &str, threads: &str, calls: &str) {
    let threads: usize = threads.parse().unwrap_or(1);
    let calls: usize = calls.parse().unwrap_or(100_000);
    let tm = Arc::new(ibmcloud_iam::token::TokenManager::new(apikey, url));
    if let Err(e) = tm.token() {
        eprintln!("the first token request failed: {e}");
        std::process::exit(1);
    }
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let tm = tm.clone();
            std::thread::spawn(move || {
                for _ in 0..calls {
                    std::hint::black_box(tm.token().ok());
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(threads);
    println!("{}", elapsed * cores as f64 / (threads * calls) as f64);
}
