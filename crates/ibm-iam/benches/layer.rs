//! Requests per second through `IamAuthLayer` (verification and authorization with warm
//! caches) against the same trivial service without the layer, side by side in one run.
//!
//! ```text
//! cargo bench -p ibm-iam --features axum --bench layer
//! ```
//!
//! Two measurements, each with and without the layer: in-process (`tower::ServiceExt`,
//! one thread: the layer's CPU cost against the router's own), and over loopback HTTP (a
//! server on one core, eight keep-alive clients: what a service sees).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support {
    pub mod report;
}
use support::report;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use ibm_iam::authz::{PdpClient, Resource};
use ibm_iam::middleware::{IamAuthLayer, VerifiedClaims};
use ibm_iam::{TokenManager, TokenValidator};
use ibm_iam_emulator::{Emulator, Seed};
use tower::ServiceExt as _;

const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";

async fn with_claims(VerifiedClaims(c): VerifiedClaims) -> String {
    format!("{{\"reader\":\"{}\"}}", c.iam_id().unwrap_or(""))
}

async fn plain() -> String {
    "{\"reader\":\"IBMid-550000ED6J\"}".to_owned()
}

/// The issue's target: the layer costs at most 20% of a trivial handler's throughput.
const TARGET_COST: f64 = 0.20;

/// Whether a with/without throughput ratio meets the target, for the table.
fn target(ratio: f64) -> String {
    let cost = 1.0 - ratio;
    let verdict = if cost <= TARGET_COST {
        "met"
    } else {
        "NOT met"
    };
    format!("{verdict} (costs {:.1}%)", 100.0 * cost.max(0.0))
}

async fn in_process(app: &Router, auth: &str, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        let req = Request::get("/books")
            .header("authorization", auth)
            .body(Body::empty())
            .expect("req");
        let resp = app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), 200);
        std::hint::black_box(
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body"),
        );
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Serves `app` on one core (its own current-thread runtime) and returns its URL.
fn serve_on_one_core(app: Router) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(format!("http://{}", listener.local_addr().expect("addr")))
                .expect("url");
            let _ = axum::serve(listener, app).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("url")
}

async fn over_http(url: &str, auth: &str, n: usize) -> f64 {
    let client = reqwest::Client::new();
    let per = n / 8;
    let start = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, auth) = (client.clone(), format!("{url}/books"), auth.to_owned());
            tokio::spawn(async move {
                for _ in 0..per {
                    let r = client
                        .get(&url)
                        .header("authorization", &auth)
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(r.status(), 200);
                    std::hint::black_box(r.bytes().await.expect("body"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    (per * 8) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rounds = report::rounds(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
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
                .start(),
        )
        .expect("emulator");
    let validator = TokenValidator::builder()
        .endpoint_url(emu.url())
        .build()
        .expect("validator");
    let service = TokenManager::builder()
        .api_key(BOOKS_KEY)
        .endpoint_url(emu.url())
        .build()
        .expect("tm");
    let pdp = PdpClient::new(service).expect("pdp");
    let route = |_: &http::request::Parts| {
        Some((
            "books.book.read".to_owned(),
            Resource::builder()
                .service_name("books")
                .account_id(ACCOUNT)
                .build(),
        ))
    };
    let protected = Router::new()
        .route("/books", get(with_claims))
        .layer(IamAuthLayer::new(validator).authorize(pdp, route));
    let bare = Router::new().route("/books", get(plain));
    // The caller: the seed's books-backend service ID, which holds Reader on books.
    let caller = TokenManager::builder()
        .api_key(BOOKS_KEY)
        .endpoint_url(emu.url())
        .build()
        .expect("tm");
    let auth = format!(
        "Bearer {}",
        rt.block_on(caller.get_token())
            .expect("token")
            .expose_secret()
    );

    let one = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    // Warm: keys fetched, token verified, decision cached.
    one.block_on(in_process(&protected, &auth, 100));
    one.block_on(in_process(&bare, &auth, 100));
    let protected_url = serve_on_one_core(protected.clone());
    let bare_url = serve_on_one_core(bare.clone());
    let clients = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    clients.block_on(over_http(&protected_url, &auth, 400));

    let (mut ip_on, mut ip_off, mut h_on, mut h_off) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        ip_on.push(one.block_on(in_process(&protected, &auth, 50_000)));
        ip_off.push(one.block_on(in_process(&bare, &auth, 50_000)));
        h_on.push(clients.block_on(over_http(&protected_url, &auth, 8_000)));
        h_off.push(clients.block_on(over_http(&bare_url, &auth, 8_000)));
    }
    const SECTION: &str = "IamAuthLayer: requests through a trivial handler";
    for (name, on, off) in [
        ("in-process, one thread", &ip_on, &ip_off),
        ("loopback HTTP, server on one core", &h_on, &h_off),
    ] {
        let bare = format!("{name}, without the layer");
        let layered = format!("{name}, with the layer (verify + authorize, caches warm)");
        report::figures(SECTION, &bare, "requests/s", off);
        report::figures(SECTION, &layered, "requests/s", on);
        report::compare(SECTION, &layered, &bare, "vs without");
    }
    println!("IamAuthLayer, {rounds} rounds: requests/s (min / median / max)");
    println!(
        "| what | min | median | max | vs without the layer | target: the layer costs <= {:.0}% |",
        100.0 * TARGET_COST
    );
    println!("|---|---:|---:|---:|---:|---|");
    for (name, on, off) in [
        ("in-process, one thread", &mut ip_on, &mut ip_off),
        ("loopback HTTP, server on one core", &mut h_on, &mut h_off),
    ] {
        let (a, b, c) = report::stats(off);
        let (d, e, f) = report::stats(on);
        println!("| {name}, without the layer | {a:.0} | {b:.0} | {c:.0} | 100% | |");
        println!(
            "| {name}, with the layer | {d:.0} | {e:.0} | {f:.0} | {:.1}% | {} |",
            100.0 * e / b,
            target(e / b)
        );
    }
    drop(emu);
}
