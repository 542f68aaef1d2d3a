//! Cached `get_token`, side by side in one run with the physical limit and the seeds.
//!
//! ```text
//! bench/token-cache.sh                       # builds the seed crate, then runs this
//! cargo bench -p ibm-iam --bench token_cache # ours and the limit only
//! ```
//!
//! Every figure is CPU time per call in nanoseconds: wall time × min(threads, cores) /
//! (threads × calls), so one and eight threads compare on the same footing on any machine.
//! Rows: the limit (an atomic pointer read of a cached token, the least a shared cache can
//! cost), this crate's `TokenManager::get_token`, the seed crate `ibmcloud-iam` 0.2.0's
//! `TokenManager::token()` (when `bench/seed-rs` is built), and the Python seed
//! `ibmcloud_iam` 0.1.7's `get_token()` (when `target/compat-venvs/seed` exists). All ask
//! the same in-process emulator once, then hit their cache.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support {
    pub mod report;
    pub mod seeds;
}
use support::{report, seeds};

use std::process::Command;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use ibm_iam::TokenManager;

const APIKEY: &str = "bench-apikey-0123456789abcdefghijklmnopqrstu";

fn cores(threads: usize) -> f64 {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(threads) as f64
}

/// Runs `f` `calls` times on each of `threads` threads; CPU ns per call.
fn measure<F: Fn() + Sync>(threads: usize, calls: usize, f: F) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..calls {
                    f();
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 * cores(threads) / (threads * calls) as f64
}

fn ours(tm: &TokenManager, threads: usize, calls: usize) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("rt");
                rt.block_on(async {
                    for _ in 0..calls {
                        std::hint::black_box(tm.get_token().await.expect("token"));
                    }
                });
            });
        }
    });
    start.elapsed().as_nanos() as f64 * cores(threads) / (threads * calls) as f64
}

/// The cached token behind one atomic pointer, as a lock-free cache at its barest.
fn limit(ptr: &AtomicPtr<String>, threads: usize, calls: usize) -> f64 {
    measure(threads, calls, || {
        std::hint::black_box(ptr.load(Ordering::Acquire));
    })
}

/// A seed's rate, or nothing (and why, on stderr) when its program fails.
fn external(cmd: &mut Command) -> Option<f64> {
    seeds::rate(cmd).map_err(|e| eprintln!("{e}")).ok()
}

fn main() {
    let rounds = report::rounds(5);
    // The emulator on its own runtime thread.
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
            url_tx.send(emu.url().to_owned()).expect("url");
            let _ = stop_rx.await;
            emu.shutdown().await;
        });
    });
    let url = url_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("emulator url");

    // Our manager lives on a background runtime (its refresh timer runs there).
    let background = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let tm = TokenManager::builder()
        .api_key(APIKEY)
        .endpoint_url(&url)
        .build()
        .expect("manager");
    background
        .block_on(tm.prefetch(Duration::from_secs(10)))
        .expect("first token");

    // Leaked once on purpose: the pointer's target must outlive every reader.
    let cached: &'static mut String = Box::leak(Box::new("x".repeat(1000)));
    let ptr = AtomicPtr::new(std::ptr::from_mut(cached));

    let seed_rs = seeds::rust_seed();
    let seed_py = seeds::python_seed("seed_token.py");

    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    let mut push = |name: String, v: Option<f64>| {
        if let Some(v) = v {
            match rows.iter_mut().find(|(n, _)| *n == name) {
                Some((_, vs)) => vs.push(v),
                None => rows.push((name, vec![v])),
            }
        }
    };
    for _ in 0..rounds {
        for threads in [1usize, 8] {
            let calls = if threads == 1 { 20_000_000 } else { 4_000_000 };
            push(
                format!("limit: atomic pointer read, {threads} thread(s)"),
                Some(limit(&ptr, threads, calls)),
            );
            push(
                format!("ibm-iam get_token, {threads} thread(s)"),
                Some(ours(&tm, threads, calls)),
            );
            if let Some(seed_rs) = &seed_rs {
                let n = if threads == 1 { 2_000_000 } else { 500_000 };
                push(
                    format!("ibmcloud-iam 0.2.0 token(), {threads} thread(s)"),
                    external(Command::new(seed_rs).args([
                        url.as_str(),
                        APIKEY,
                        &threads.to_string(),
                        &n.to_string(),
                    ])),
                );
            }
            if let Some((python, script)) = &seed_py {
                let n = if threads == 1 { 200_000 } else { 25_000 };
                push(
                    format!("ibmcloud_iam 0.1.7 get_token(), {threads} thread(s)"),
                    external(Command::new(python).arg(script).args([
                        url.as_str(),
                        APIKEY,
                        &threads.to_string(),
                        &n.to_string(),
                    ])),
                );
            }
        }
    }
    let _ = stop_tx.send(());
    let _ = server.join();

    let median = |name: &str| {
        rows.iter().find(|(n, _)| n == name).map(|(_, v)| {
            let mut v = v.clone();
            report::stats(&mut v).1
        })
    };
    const SECTION: &str = "TokenManager: cached get_token";
    for (name, values) in &rows {
        report::figures(SECTION, name, "ns", values);
    }
    for threads in [1, 8] {
        let ours = format!("ibm-iam get_token, {threads} thread(s)");
        for (peer, label) in [
            ("limit: atomic pointer read", "vs limit"),
            ("ibmcloud-iam 0.2.0 token()", "vs ibmcloud-iam 0.2.0"),
            ("ibmcloud_iam 0.1.7 get_token()", "vs ibmcloud_iam 0.1.7"),
        ] {
            report::compare(
                SECTION,
                &ours,
                &format!("{peer}, {threads} thread(s)"),
                label,
            );
        }
    }
    println!("cached get_token, {rounds} rounds: CPU ns per call (min / median / max)");
    println!("| what | min | median | max | vs ibm-iam |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values) in &rows {
        let mut v = values.clone();
        let (lo, med, hi) = report::stats(&mut v);
        let threads = if name.contains("8 thread") { 8 } else { 1 };
        let ours = median(&format!("ibm-iam get_token, {threads} thread(s)")).unwrap_or(f64::NAN);
        println!(
            "| {name} | {lo:.1} | {med:.1} | {hi:.1} | {:.2}x |",
            med / ours
        );
    }
}
