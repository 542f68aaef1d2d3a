//! Micro-benchmarks of the hot paths, with divan: `cargo bench -p ibm-iam --features internals --bench micro`.
//!
//! Each path in isolation, without I/O: a cached token read, a cached verification, a cached
//! decision, a cache key, a CRN parse. The side-by-side comparisons with the seeds and the
//! limits are in the other benches (`bench/run-all.sh`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, OnceLock};

use ibm_iam::authz::internals::DecisionCache;
use ibm_iam::authz::{AuthzRequest, CacheConfig, Crn, Decision, DecisionSource, Resource, Subject};
use ibm_iam::clock::SystemClock;

fn main() {
    divan::main();
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("rt")
    })
}

const CRN: &str =
    "crn:v1:bluemix:public:books:us-south:a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e:shelf-1:book:dune";

fn request() -> AuthzRequest {
    AuthzRequest::new(
        Subject::attributes(
            "iam-ServiceId-9b1c7d4e-0000-4000-8000-000000000001",
            "ibm openid",
        ),
        "books.book.read",
        Resource::crn(CRN).expect("crn"),
    )
}

#[divan::bench]
fn crn_parse() -> Crn {
    divan::black_box(CRN).parse().expect("crn")
}

#[divan::bench]
fn decision_cache_hit(bencher: divan::Bencher) {
    let cache = DecisionCache::new(CacheConfig::default(), Arc::new(SystemClock));
    let req = request();
    let deny = Decision {
        permitted: false,
        reason: None,
        obligation: None,
        source: DecisionSource::Pdp,
    };
    cache.store(&req, &deny, None, cache.generation());
    bencher.bench(|| cache.lookup(divan::black_box(&req)));
}

#[divan::bench]
fn decision_cache_miss(bencher: divan::Bencher) {
    let cache = DecisionCache::new(CacheConfig::default(), Arc::new(SystemClock));
    let req = request();
    bencher.bench(|| cache.lookup(divan::black_box(&req)));
}

#[divan::bench]
fn cached_get_token(bencher: divan::Bencher) {
    let rt = runtime();
    let emu = rt
        .block_on(
            ibm_iam_emulator::Emulator::builder()
                .apikey("micro-key-0123456789abcdefghijklmnop")
                .start(),
        )
        .expect("emulator");
    let tm = ibm_iam::TokenManager::builder()
        .api_key("micro-key-0123456789abcdefghijklmnop")
        .endpoint_url(emu.url())
        .build()
        .expect("tm");
    rt.block_on(tm.get_token()).expect("token");
    let local = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    bencher.bench(|| local.block_on(tm.get_token()).expect("cached"));
    drop(emu);
}
