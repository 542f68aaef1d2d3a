//! Times `ibmcloud_iam::token::TokenManager::token()` (the seed crate 0.2.0) on a cached
//! token.
//!
//! `seed-rs-bench URL APIKEY THREADS CALLS` prints CPU-time per call in nanoseconds:
//! wall time x min(threads, cores) / (threads x calls).

use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: seed-rs-bench URL APIKEY THREADS CALLS");
        std::process::exit(2);
    }
    let threads: usize = args[3].parse().unwrap_or(1);
    let calls: usize = args[4].parse().unwrap_or(100_000);
    let tm = Arc::new(ibmcloud_iam::token::TokenManager::new(&args[2], &args[1]));
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(threads);
    println!("{}", elapsed * cores as f64 / (threads * calls) as f64);
}
