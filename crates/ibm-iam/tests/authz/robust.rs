//! The batcher across runtimes, dying tasks, and its bounds.

use std::time::Duration;

use ibm_iam::authz::{AuthzRequest, CacheConfig, CallOptions};
use ibm_iam::clock::ManualClock;
use serde_json::json;

use crate::common::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_client_outlives_the_runtime_it_was_first_used_on() {
    let emu_rt = runtime();
    let (w, reader) = emu_rt.block_on(world_with_reader());
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    let ask = |pdp: ibm_iam::authz::PdpClient, i: &'static str| {
        let s = subject(&reader);
        async move {
            pdp.authorize_with(
                AuthzRequest::new(s, "books.book.read", instance(i)),
                CallOptions { bypass_cache: true },
            )
            .await
        }
    };
    for round in ["first", "second", "third"] {
        let rt = runtime();
        let d = rt
            .block_on(ask(pdp.clone(), round))
            .unwrap_or_else(|e| panic!("{round} runtime: {e}"));
        assert!(d.permitted, "{round}");
        drop(rt);
    }
    drop(w);
}

#[test]
fn callers_waiting_on_a_call_whose_task_dies_are_released() {
    let emu_rt = runtime();
    let (w, reader) = emu_rt.block_on(world_with_reader());
    // Permits not cached, so the question below must reach IAM.
    let pdp = w.client(
        &ManualClock::new(),
        CacheConfig {
            permits: false,
            ..CacheConfig::default()
        },
    );
    // Runtime A is used first (warming the token), then asks: its tasks carry the call.
    let a = runtime();
    a.block_on(pdp.is_authorized(&subject(&reader), "books.book.read", &instance("warm")))
        .expect("warm");
    emu_rt.block_on(w.fault(json!({"path": "/v2/authz", "latency_ms": 3000, "count": 1})));
    let before = w.pdp_calls();
    let leader = a.spawn(read_check(&pdp, &reader, "q"));
    // The emulator counts the call before it applies the latency: once counted, the
    // leader's call is the one in flight, however loaded the machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while w.pdp_calls() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader's call never reached the PDP"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Another runtime asks the same: it joins the call in flight.
    let joiner = {
        let ask = read_check(&pdp, &reader, "q");
        emu_rt.spawn(async move { tokio::time::timeout(Duration::from_secs(10), ask).await })
    };
    std::thread::sleep(Duration::from_millis(300));
    // A goes away with the call.
    a.shutdown_background();
    let started = std::time::Instant::now();
    let joined = emu_rt
        .block_on(joiner)
        .expect("task")
        .expect("released, not left hanging");
    assert!(
        joined.is_err(),
        "an abandoned call is an error, never a permit"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(leader);
    // The same question again works.
    let again = emu_rt
        .block_on(pdp.is_authorized(&subject(&reader), "books.book.read", &instance("q")))
        .expect("asked again");
    assert!(again.permitted);
}

#[tokio::test]
async fn the_in_flight_bound_applies_backpressure_not_failure() {
    let (w, reader) = world_with_reader().await;
    let no_cache = CacheConfig {
        permits: false,
        denies: false,
        ..CacheConfig::default()
    };
    let pdp = w.client_with(&ManualClock::new(), no_cache, |b| b.max_in_flight(1));
    // Warm the token.
    pdp.is_authorized(&subject(&reader), "books.book.read", &instance("warm"))
        .await
        .expect("warm");
    let before = w.pdp_calls();
    let tasks: Vec<_> = (0..5)
        .map(|i| tokio::spawn(read_check(&pdp, &reader, &format!("d{i}"))))
        .collect();
    for t in tasks {
        assert!(
            t.await
                .expect("task")
                .expect("waited, then answered")
                .permitted
        );
    }
    assert_eq!(
        w.pdp_calls() - before,
        5,
        "one distinct question in flight at a time: no batch of five"
    );
    // Identical questions need no slot of their own: they still share one call.
    let before = w.pdp_calls();
    let tasks: Vec<_> = (0..20)
        .map(|_| tokio::spawn(read_check(&pdp, &reader, "same")))
        .collect();
    for t in tasks {
        assert!(t.await.expect("task").expect("d").permitted);
    }
    assert_eq!(w.pdp_calls() - before, 1);
    assert!(
        ibm_iam::authz::PdpClient::builder(ibm_iam::TokenManager::new(BOOKS_KEY).expect("tm"))
            .max_in_flight(0)
            .build()
            .is_err()
    );
}

#[test]
fn a_call_from_a_runtime_that_is_shutting_down_fails_and_leaves_the_client_working() {
    let emu_rt = runtime();
    let (w, reader) = emu_rt.block_on(world_with_reader());
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    // A runtime already shut down: whatever it is asked to spawn is dropped unpolled.
    let dead = runtime();
    let handle = dead.handle().clone();
    dead.shutdown_background();
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let (pdp, s) = (pdp.clone(), subject(&reader));
        std::thread::spawn(move || {
            let r = handle.block_on(pdp.is_authorized(&s, "books.book.read", &instance("x")));
            let _ = tx.send(r);
        });
    }
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("answered, not left hanging");
    assert!(r.is_err(), "no permit without a call");
    // The client still works from a live runtime.
    let d = emu_rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                pdp.is_authorized(&subject(&reader), "books.book.read", &instance("x")),
            )
            .await
        })
        .expect("not hanging")
        .expect("decision");
    assert!(d.permitted);
}
