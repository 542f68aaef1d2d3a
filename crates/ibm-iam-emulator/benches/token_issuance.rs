//! Tokens issued per second per core, side by side with the raw RSA-2048 signing rate of
//! the same machine in the same run.
//!
//! ```text
//! cargo bench -p ibm-iam-emulator --bench token_issuance            # 7 rounds
//! cargo bench -p ibm-iam-emulator --bench token_issuance -- --rounds 3
//! ```
//!
//! Each round measures, one after the other:
//! * `raw sign`: `aws_lc_rs::rsa::KeyPair::sign` (RSASSA-PKCS1-v1_5, SHA-256) over a
//!   realistic JWT signing input, one thread: the physical limit.
//! * `in-process`: a whole `POST /identity/token` (apikey grant) through the emulator's
//!   router on a single-threaded runtime: form parsing, key lookup, claims, signing, JSON.
//! * `loopback HTTP`: the same over TCP, the server on one single-threaded runtime (one
//!   core), eight keep-alive clients on another thread.
//!
//! Rates are min / median / max over rounds; ratios compare medians.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../../ibm-iam/benches/support/report.rs"]
mod report;

use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use axum::body::Body;
use http::Request;
use ibm_iam_emulator::{EmulatorOptions, EmulatorState, app};
use tower::ServiceExt as _;

const APIKEY: &str = "bench-apikey-0123456789abcdefghijklmnopqrstu";
const FORM: &str = "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=bench-apikey-0123456789abcdefghijklmnopqrstu&response_type=cloud_iam";

fn raw_sign(n: usize) -> f64 {
    let key = KeyPair::generate(KeySize::Rsa2048).expect("key");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    // About the size of an IAM access token's header and payload.
    let input = vec![b'e'; 720];
    let mut sig = vec![0u8; key.public_modulus_len()];
    let start = Instant::now();
    for _ in 0..n {
        key.sign(&RSA_PKCS1_SHA256, &rng, &input, &mut sig)
            .expect("sign");
        std::hint::black_box(&sig);
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn state() -> EmulatorState {
    EmulatorState::new(EmulatorOptions {
        apikeys: vec![APIKEY.to_owned()],
        ..EmulatorOptions::default()
    })
    .expect("state")
}

fn in_process(rt: &tokio::runtime::Runtime, router: &axum::Router, n: usize) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let req = Request::post("/identity/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(FORM))
                .expect("request");
            let resp = router.clone().oneshot(req).await.expect("infallible");
            assert_eq!(resp.status(), 200);
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            std::hint::black_box(body);
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
}

fn loopback(client_rt: &tokio::runtime::Runtime, url: &str, n: usize) -> f64 {
    client_rt.block_on(async {
        let client = reqwest::Client::builder().build().expect("client");
        let per_task = n / 8;
        let start = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                let url = format!("{url}/identity/token");
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        let resp = client
                            .post(&url)
                            .header("content-type", "application/x-www-form-urlencoded")
                            .body(FORM)
                            .send()
                            .await
                            .expect("send");
                        assert_eq!(resp.status(), 200);
                        std::hint::black_box(resp.bytes().await.expect("body"));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        (per_task * 8) as f64 / start.elapsed().as_secs_f64()
    })
}

fn main() {
    let rounds = report::rounds(7);
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let router = app(state());

    // The HTTP server: one core (a current-thread runtime on its own OS thread).
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
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");

    // Warm up all three paths.
    raw_sign(50);
    in_process(&single, &router, 50);
    loopback(&client_rt, &url, 80);

    let (mut sign, mut inproc, mut http) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        sign.push(raw_sign(600));
        inproc.push(in_process(&single, &router, 600));
        http.push(loopback(&client_rt, &url, 800));
    }
    let _ = stop_tx.send(());
    let _ = server.join();

    const SECTION: &str = "emulator: tokens issued";
    const LIMIT: &str = "limit: raw RSA-2048 sign";
    report::figures(SECTION, LIMIT, "tokens/s", &sign);
    for (what, values) in [
        ("POST /identity/token, router in-process", &inproc),
        (
            "POST /identity/token, loopback HTTP, server on 1 core",
            &http,
        ),
    ] {
        report::figures(SECTION, what, "tokens/s", values);
        report::compare(SECTION, what, LIMIT, "vs limit");
    }
    let (s_min, s_med, s_max) = report::stats(&mut sign);
    let (i_min, i_med, i_max) = report::stats(&mut inproc);
    let (h_min, h_med, h_max) = report::stats(&mut http);
    println!("token issuance, {rounds} rounds, per core (ops/s: min / median / max)");
    println!("| what | min | median | max | vs raw sign |");
    println!("|---|---:|---:|---:|---:|");
    println!("| raw RSA-2048 sign (aws-lc-rs) | {s_min:.0} | {s_med:.0} | {s_max:.0} | 100% |");
    println!(
        "| token via router, in-process | {i_min:.0} | {i_med:.0} | {i_max:.0} | {:.1}% |",
        100.0 * i_med / s_med
    );
    println!(
        "| token via loopback HTTP (server on 1 core) | {h_min:.0} | {h_med:.0} | {h_max:.0} | {:.1}% |",
        100.0 * h_med / s_med
    );
}
