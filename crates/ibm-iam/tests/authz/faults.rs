//! The PDP failing: fail closed, stale answers only when opted in, retries, races.

use std::time::Duration;

use ibm_iam::authz::{CacheConfig, DecisionSource};
use ibm_iam::clock::ManualClock;
use ibm_iam::http::retry::Backoff;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn pdp_down_fails_closed_unless_stale_answers_are_opted_in() {
    let (w, reader) = world_with_reader().await;
    let clock = ManualClock::new();
    let strict = w.client(&clock, CacheConfig::default());
    let lenient = w.client(
        &clock,
        CacheConfig {
            serve_stale_for: Some(Duration::from_secs(3600)),
            ..CacheConfig::default()
        },
    );
    for pdp in [&strict, &lenient] {
        assert!(
            pdp.is_authorized(&subject(&reader), "books.book.read", &instance("s"))
                .await
                .expect("d")
                .permitted
        );
    }
    clock.advance(Duration::from_secs(601));
    w.fault(json!({"path": "/v2/authz", "status": 503})).await;
    let err = strict
        .is_authorized(&subject(&reader), "books.book.read", &instance("s"))
        .await
        .expect_err("fail closed");
    assert_eq!(err.status(), Some(503));
    let stale = lenient
        .is_authorized(&subject(&reader), "books.book.read", &instance("s"))
        .await
        .expect("stale");
    assert!(stale.permitted);
    assert_eq!(stale.source, DecisionSource::StaleCache, "flagged");
    let stranger = w.service_id("stranger").await;
    // Never seen before: an error even for the lenient client.
    assert!(
        lenient
            .is_authorized(&subject(&stranger), "books.book.read", &instance("never"))
            .await
            .is_err()
    );
    w.clear_faults().await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_429_honours_retry_after() {
    let (w, reader) = world_with_reader().await;
    // No permit caching: every check below reaches the PDP.
    let pdp = w.client(
        &ManualClock::new(),
        CacheConfig {
            permits: false,
            ..CacheConfig::default()
        },
    );
    w.fault(json!({"path": "/v2/authz", "status": 502, "count": 1}))
        .await;
    w.fault(json!({"path": "/v2/authz", "action": "drop", "count": 1}))
        .await;
    let before = w.pdp_calls();
    assert!(
        pdp.is_authorized(&subject(&reader), "books.book.read", &instance("r"))
            .await
            .expect("third try")
            .permitted
    );
    assert_eq!(w.pdp_calls() - before, 3);

    w.fault(json!({"path": "/v2/authz", "status": 429, "retry_after": 1, "count": 1}))
        .await;
    let started = std::time::Instant::now();
    assert!(
        pdp.is_authorized(&subject(&reader), "books.book.read", &instance("q"))
            .await
            .expect("after 429")
            .permitted
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as IAM asked"
    );
}

#[tokio::test]
async fn an_invalidation_during_a_call_keeps_its_answer_out_of_the_cache() {
    let (w, reader) = world_with_reader().await;
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    w.fault(json!({"path": "/v2/authz", "latency_ms": 300, "count": 1}))
        .await;
    let call = tokio::spawn(read_check(&pdp, &reader, "race"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    pdp.invalidate_subject(&reader);
    assert!(
        call.await.expect("task").expect("decision").permitted,
        "the caller still gets IAM's answer"
    );
    let before = w.pdp_calls();
    let next = pdp
        .is_authorized(&subject(&reader), "books.book.read", &instance("race"))
        .await
        .expect("d");
    assert_eq!(
        next.source,
        ibm_iam::authz::DecisionSource::Pdp,
        "not repopulated by the older answer"
    );
    assert_eq!(w.pdp_calls() - before, 1);
}

#[tokio::test]
async fn stale_answers_stand_in_only_for_transient_failures() {
    let (w, reader) = world_with_reader().await;
    let clock = ManualClock::new();
    let lenient = w.client(
        &clock,
        CacheConfig {
            serve_stale_for: Some(Duration::from_secs(3600)),
            ..CacheConfig::default()
        },
    );
    let (who, what) = (subject(&reader), instance("s"));
    let check = || lenient.is_authorized(&who, "books.book.read", &what);
    assert!(check().await.expect("d").permitted);
    clock.advance(Duration::from_secs(601));

    // IAM answers, with an error or with something unreadable: that is the answer.
    w.fault(json!({"path": "/v2/authz", "status": 400, "count": 1}))
        .await;
    let err = check()
        .await
        .expect_err("a 4xx is not hidden by a stale permit");
    assert_eq!(err.status(), Some(400));
    w.fault(json!({"path": "/v2/authz", "action": "malformed", "count": 3}))
        .await;
    assert!(
        check().await.is_err(),
        "an unreadable answer is not hidden by a stale permit"
    );
    w.clear_faults().await;

    // IAM unreachable or failing: the stale permit, flagged.
    for fault in [
        json!({"path": "/v2/authz", "status": 503}),
        json!({"path": "/v2/authz", "status": 429}),
        json!({"path": "/v2/authz", "action": "drop"}),
    ] {
        w.fault(fault.clone()).await;
        let d = check().await.unwrap_or_else(|e| panic!("{fault}: {e}"));
        assert_eq!(d.source, DecisionSource::StaleCache, "{fault}");
        w.clear_faults().await;
    }
}

#[tokio::test]
async fn a_pdp_that_never_answers_fails_at_the_deadline() {
    let w = world().await;
    let reader = w.service_id("reader").await;
    let clock = ManualClock::new();
    // The cache clock stands still (a manual clock): the deadline must run on real time.
    let pdp = w.client_with(&clock, CacheConfig::default(), |b| {
        b.retries(
            3,
            Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_millis(100),
            },
            Duration::from_millis(1500),
        )
    });
    // Warm the service's token so the hang is the PDP's.
    assert!(
        !pdp.is_authorized(&subject(&reader), "books.book.read", &instance("warm"))
            .await
            .expect("d")
            .permitted
    );
    w.fault(json!({"path": "/v2/authz", "latency_ms": 60_000}))
        .await;
    let started = std::time::Instant::now();
    let err = pdp
        .is_authorized(&subject(&reader), "books.book.read", &instance("hang"))
        .await
        .expect_err("no answer is no permit");
    let took = started.elapsed();
    assert!(err.is_transient(), "{err}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "ended after {took:?}, the deadline is 1.5 s"
    );
    w.clear_faults().await;
}
