//! IAM misbehaving while a token is due, or while none is left.

use std::sync::Arc;
use std::time::Duration;

use ibm_iam::clock::ManualClock;
use ibm_iam::error::TransportKind;
use ibm_iam::token::RetryPolicy;
use ibm_iam::{Error, HttpConfig, TokenManager};
use serde_json::json;

use crate::common::*;

/// Drives the manager through its refresh window with IAM failing on every request.
async fn failing_through_the_window(rule: serde_json::Value) -> (u64, u64) {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager_builder(&emu, BOOKS_KEY, Arc::new(clock.clone()))
        .http(HttpConfig::default().request_timeout(Duration::from_millis(400)))
        .build()
        .expect("manager");
    let first = tm.get_token().await.expect("token");
    fault(&emu, rule).await;
    let before = requests(&emu);
    advance(&clock, Duration::from_secs(2880)).await;
    // Every 5 s until the hard expiry, 20 callers ask: all get the valid token.
    let mut served = 0;
    while tm
        .status()
        .valid_for
        .is_some_and(|v| v > Duration::from_secs(5))
    {
        for _ in 0..20 {
            let t = tm
                .get_token()
                .await
                .expect("a valid token is never an error");
            assert!(t.same_as(&first));
            served += 1;
        }
        settle(&tm).await;
        advance(&clock, Duration::from_secs(5)).await;
    }
    let attempts = requests(&emu) - before;
    let status = tm.status();
    assert!(status.last_error.is_some());
    assert!(status.consecutive_failures as u64 >= attempts.saturating_sub(1));
    // Recovery on the first good answer.
    clear_faults(&emu).await;
    let wait = tm
        .status()
        .next_attempt_in
        .unwrap_or_default()
        .max(Duration::from_secs(5));
    advance(&clock, wait).await;
    let fresh = tm.get_token().await.expect("recovered");
    assert!(!fresh.same_as(&first));
    assert_eq!(tm.status().consecutive_failures, 0);
    (attempts, served)
}

#[tokio::test]
async fn service_unavailable_while_due() {
    let (attempts, served) =
        failing_through_the_window(json!({"path": "/identity/token", "status": 503})).await;
    assert!(served > 1000);
    // 710 s of window; attempts back off and spread: far fewer than callers.
    assert!((3..=40).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn rate_limited_with_retry_after_while_due() {
    let (attempts, _) = failing_through_the_window(
        json!({"path": "/identity/token", "status": 429, "retry_after": 120}),
    )
    .await;
    // Retry-After 120 s honoured across a 710 s window: at most 6 attempts.
    assert!((2..=7).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn dropped_connections_while_due() {
    let (attempts, _) =
        failing_through_the_window(json!({"path": "/identity/token", "action": "drop"})).await;
    assert!((3..=40).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn timeouts_while_due() {
    let (attempts, _) =
        failing_through_the_window(json!({"path": "/identity/token", "latency_ms": 2000})).await;
    assert!((3..=40).contains(&attempts), "{attempts} attempts");
}

#[tokio::test]
async fn a_permanent_error_while_due_is_not_raised_either() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    fault(&emu, json!({"path": "/identity/token", "status": 400})).await;
    advance(&clock, Duration::from_secs(3000)).await;
    assert!(tm.get_token().await.expect("still valid").same_as(&first));
    settle(&tm).await;
    assert!(tm.get_token().await.expect("still valid").same_as(&first));
    settle(&tm).await;
    let status = tm.status();
    assert_eq!(
        status.last_error.as_ref().and_then(Error::status),
        Some(400)
    );
    // Once the token is gone, the error reaches callers.
    advance(&clock, Duration::from_secs(600)).await;
    let err = tm.get_token().await.expect_err("expired and failing");
    assert_eq!(err.status(), Some(400));
}

#[tokio::test]
async fn transient_failures_on_an_empty_cache_are_retried_within_one_flight() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    clock.set_auto_advance(true);
    let tm = manager(&emu, BOOKS_KEY, &clock);
    fault(
        &emu,
        json!({"path": "/identity/token", "status": 503, "count": 2}),
    )
    .await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let tm = tm.clone();
            tokio::spawn(async move { tm.get_token().await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("third attempt succeeds");
    }
    assert_eq!(
        requests(&emu),
        3,
        "two failures and a success, shared by all callers"
    );
}

#[tokio::test]
async fn errors_reach_every_waiter_and_bad_answers_are_not_cached() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    clock.set_auto_advance(true);
    let tm = manager(&emu, BOOKS_KEY, &clock);
    for action in ["malformed", "wrong_content_type", "empty", "truncated"] {
        fault(&emu, json!({"path": "/identity/token", "action": action})).await;
        let before = requests(&emu);
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let tm = tm.clone();
                tokio::spawn(async move { tm.get_token().await })
            })
            .collect();
        for t in tasks {
            let err = t.await.expect("task").expect_err(action);
            assert!(err.is_transient(), "{action}: {err}");
        }
        assert_eq!(
            requests(&emu) - before,
            3,
            "{action}: one flight, three attempts"
        );
        assert!(!tm.status().is_ready(), "{action}: nothing cached");
        clear_faults(&emu).await;
        let wait = tm.status().next_attempt_in.unwrap_or_default();
        advance(&clock, wait).await;
    }
    tm.get_token().await.expect("a good answer again");
}

#[tokio::test]
async fn the_request_timeout_holds_for_a_custom_client_too() {
    let emu = emulator().await;
    let tm = TokenManager::builder()
        .api_key(BOOKS_KEY)
        .endpoint_url(emu.url())
        .http(
            HttpConfig::default()
                .client(reqwest::Client::new())
                .request_timeout(Duration::from_millis(300)),
        )
        .retry(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .build()
        .expect("manager");
    fault(
        &emu,
        json!({"path": "/identity/token", "latency_ms": 3000, "count": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    let err = tm.get_token().await.expect_err("timed out");
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn callers_wait_no_longer_than_the_deadline() {
    let emu = emulator().await;
    // The deadline is shorter than the request timeout; IAM is slower than both.
    let tm = TokenManager::builder()
        .api_key(BOOKS_KEY)
        .endpoint_url(emu.url())
        .http(HttpConfig::default().request_timeout(Duration::from_secs(30)))
        .retry(RetryPolicy {
            deadline: Duration::from_millis(700),
            ..RetryPolicy::default()
        })
        .build()
        .expect("manager");
    fault(&emu, json!({"path": "/identity/token", "latency_ms": 5000})).await;
    let started = std::time::Instant::now();
    let err = tm.get_token().await.expect_err("past the deadline");
    let waited = started.elapsed();
    assert!(err.is_transient(), "{err}");
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}");
    assert_eq!(requests(&emu), 1, "no retry would fit in the deadline");
}

#[tokio::test]
async fn a_200_with_an_already_expired_token_is_a_failure() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    clock.set_auto_advance(true);
    let tm = manager(&emu, BOOKS_KEY, &clock);
    // The emulator's clock runs two hours behind: its tokens have expired when issued.
    emu.state().clock().advance(-2 * 3600);
    let err = tm.get_token().await.expect_err("expired on arrival");
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");
    assert!(err.to_string().contains("exp"), "{err}");
    assert!(!tm.status().is_ready(), "nothing cached");
    emu.state().clock().advance(2 * 3600);
    let wait = tm.status().next_attempt_in.unwrap_or_default();
    advance(&clock, wait).await;
    tm.get_token().await.expect("a good token again");
}

#[tokio::test]
async fn with_no_token_the_cool_down_stays_short_so_recovery_is_quick() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager_builder(&emu, BOOKS_KEY, Arc::new(clock.clone()))
        .retry(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .build()
        .expect("manager");
    fault(&emu, json!({"path": "/identity/token", "status": 503})).await;
    for n in 1..=15 {
        tm.get_token().await.expect_err("IAM is down");
        let status = tm.status();
        assert_eq!(status.consecutive_failures, n);
        let wait = status.next_attempt_in.expect("scheduled");
        assert!(
            wait <= Duration::from_secs(30),
            "failure {n}: next attempt in {wait:?}"
        );
        advance(&clock, wait).await;
    }
    assert_eq!(requests(&emu), 15);
    // IAM is back: the next attempt is at most 30 s away.
    clear_faults(&emu).await;
    tm.get_token().await.expect("recovered at once");

    // Retry-After is still honoured with no token.
    assert!(tm.invalidate(&tm.get_token().await.expect("cached")));
    fault(
        &emu,
        json!({"path": "/identity/token", "status": 429, "retry_after": 120}),
    )
    .await;
    tm.get_token().await.expect_err("rate limited");
    let wait = tm.status().next_attempt_in.expect("scheduled");
    assert!(wait >= Duration::from_secs(120), "{wait:?}");
}

#[tokio::test]
async fn retry_after_never_schedules_past_the_cached_tokens_expiry() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    fault(
        &emu,
        json!({"path": "/identity/token", "status": 429, "retry_after": 7200}),
    )
    .await;
    advance(&clock, Duration::from_secs(2880)).await;
    assert!(tm.get_token().await.expect("due").same_as(&first));
    settle(&tm).await;
    let status = tm.status();
    let (wait, valid) = (
        status.next_attempt_in.expect("scheduled"),
        status.valid_for.expect("still valid"),
    );
    assert!(
        wait <= valid,
        "next attempt in {wait:?}, token valid for {valid:?}"
    );
    // When the token stops being served, an attempt is due: IAM is back, callers get a token.
    clear_faults(&emu).await;
    advance(&clock, valid).await;
    let fresh = tm.get_token().await.expect("a new token, no wait");
    assert!(!fresh.same_as(&first));
}
