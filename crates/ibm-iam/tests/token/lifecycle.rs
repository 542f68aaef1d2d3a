//! Fresh, refresh due, expired: one request to IAM however many callers ask.

use std::future::Future as _;
use std::time::Duration;

use ibm_iam::clock::ManualClock;
use ibm_iam::token::MAX_TOKEN_LIFETIME;
use ibm_iam::{AccessToken, Error, TokenManager};
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_callers_on_an_empty_cache_make_one_request() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let tm = tm.clone();
            tokio::spawn(async move { tm.get_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("task").expect("token"));
    }
    assert_eq!(requests(&emu), 1, "exactly one token request");
    assert!(
        tokens.iter().all(|t| t.same_as(&tokens[0])),
        "everyone got the same token"
    );
}

#[tokio::test]
async fn refresh_ahead_serves_the_cached_token_while_one_refresh_runs() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");

    // Just before 80% of the life: still fresh, no request.
    advance(&clock, Duration::from_secs(2879)).await;
    settle(&tm).await;
    assert!(tm.get_token().await.expect("fresh").same_as(&first));
    assert_eq!(requests(&emu), 1);

    // At 80%: callers get the cached token at once; exactly one refresh runs.
    advance(&clock, Duration::from_secs(1)).await;
    settle(&tm).await;
    for _ in 0..50 {
        assert!(
            tm.get_token().await.expect("due").same_as(&first),
            "served immediately"
        );
    }
    settle(&tm).await;
    assert_eq!(requests(&emu), 2, "one background refresh");
    let second = tm.get_token().await.expect("refreshed");
    assert!(!second.same_as(&first), "the refreshed token is served");
    assert!(!tm.status().refresh_due);
}

#[tokio::test]
async fn the_exchange_survives_the_caller_that_started_it() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    advance(&clock, Duration::from_secs(3600)).await;
    // A caller starts the exchange (the token has expired) and is dropped after one poll.
    {
        let mut call = std::pin::pin!(tm.get_token());
        let polled =
            std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
        assert!(polled.is_pending(), "the caller waits for IAM");
    }
    settle(&tm).await;
    assert_eq!(requests(&emu), 2, "the exchange ran to the end");
    assert!(tm.status().is_ready(), "and its token was cached");
    let second = tm.get_token().await.expect("cached");
    assert!(!second.same_as(&first));
    assert_eq!(requests(&emu), 2);
}

#[tokio::test]
async fn expired_tokens_are_never_served_and_callers_share_one_request() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    // 10 s before expiry the token counts as expired.
    advance(&clock, Duration::from_secs(3590)).await;
    settle(&tm).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let tm = tm.clone();
            tokio::spawn(async move { tm.get_token().await })
        })
        .collect();
    for t in tasks {
        let token = t.await.expect("task").expect("token");
        assert!(!token.same_as(&first));
    }
    assert_eq!(requests(&emu), 2);
}

#[tokio::test]
async fn invalidate_drops_only_the_rejected_token() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    assert!(tm.invalidate(&first));
    let second = tm.get_token().await.expect("new token");
    assert!(!second.same_as(&first));
    assert_eq!(requests(&emu), 2);
    // A late 401 for the old token does not drop the new one.
    assert!(!tm.invalidate(&first));
    assert!(tm.get_token().await.expect("still cached").same_as(&second));
    assert_eq!(requests(&emu), 2);
}

/// Reads the token `times` times on each of `threads` threads of their own (each keeps its
/// own copy of the cached token) and returns what each read last.
async fn read_on_threads(tm: &TokenManager, threads: usize, times: usize) -> Vec<AccessToken> {
    let tasks: Vec<_> = (0..threads)
        .map(|_| {
            let (tm, rt) = (tm.clone(), tokio::runtime::Handle::current());
            tokio::task::spawn_blocking(move || {
                rt.block_on(async {
                    let mut last = None;
                    for _ in 0..times {
                        last = Some(tm.get_token().await.expect("token"));
                    }
                    last.expect("read")
                })
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("thread"));
    }
    out
}

// Multi-threaded, so that reads take the lock-free path and its per-thread copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_threads_copy_follows_invalidation_and_refresh() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    assert!(
        read_on_threads(&tm, 4, 100)
            .await
            .iter()
            .all(|t| t.same_as(&first))
    );

    // Invalidated: no thread's copy of it is handed out again.
    assert!(tm.invalidate(&first));
    let after = read_on_threads(&tm, 4, 100).await;
    let second = after[0].clone();
    assert!(!second.same_as(&first));
    assert!(
        after.iter().all(|t| t.same_as(&second)),
        "every thread reads the new token"
    );
    assert_eq!(requests(&emu), 2);

    // Refreshed (in the background, once the refresh point passes): every thread moves on.
    advance(&clock, Duration::from_secs(2880)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let third = loop {
        let t = tm.get_token().await.expect("token");
        if !t.same_as(&second) {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh: {:?}",
            tm.status()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let later = read_on_threads(&tm, 4, 100).await;
    assert!(
        later.iter().all(|t| t.same_as(&third)),
        "every thread reads the refreshed token"
    );
    assert_eq!(requests(&emu), 3);
}

#[tokio::test]
async fn get_token_valid_for_long_operations() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let first = tm.get_token().await.expect("token");
    advance(&clock, Duration::from_secs(2000)).await;
    // 1590 s left: enough for 20 minutes, not for 30.
    assert!(
        tm.get_token_valid_for(Duration::from_secs(1200))
            .await
            .expect("ok")
            .same_as(&first)
    );
    let longer = tm
        .get_token_valid_for(Duration::from_secs(1800))
        .await
        .expect("new");
    assert!(!longer.same_as(&first));
    let err = tm
        .get_token_valid_for(Duration::from_secs(7200))
        .await
        .expect_err("too long");
    assert!(matches!(err, Error::InsufficientValidity { .. }), "{err}");
    // Longer than any token lives (or than the clock can count): refused at once, no panic,
    // no request.
    let before = requests(&emu);
    for wanted in [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 2),
        MAX_TOKEN_LIFETIME * 2,
    ] {
        let err = tm
            .get_token_valid_for(wanted)
            .await
            .expect_err("longer than any token");
        assert!(matches!(err, Error::InsufficientValidity { .. }), "{err}");
    }
    assert_eq!(requests(&emu), before);
}

#[tokio::test]
async fn prefetch_warms_the_cache() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    assert!(!tm.status().is_ready());
    tm.prefetch(Duration::from_secs(10))
        .await
        .expect("prefetch");
    assert!(tm.status().is_ready());
    assert_eq!(requests(&emu), 1);

    let unreachable = ibm_iam::TokenManager::builder()
        .api_key("k")
        .endpoint_url("http://127.0.0.1:9")
        .build()
        .expect("manager");
    let err = unreachable
        .prefetch(Duration::from_secs(20))
        .await
        .expect_err("refused");
    assert!(err.is_transient(), "{err}");
}

// Multi-threaded: only there is a token's freshness a timer (see `Cached::arm`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_ends_with_the_last_handle() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let clone = tm.clone();
    let first = tm.get_token().await.expect("token");
    settle(&tm).await;
    // The timer task starts its sleep on a worker thread: wait (a bounded while) to see it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while clock.pending_sleeps() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(clock.pending_sleeps(), 1, "the token's freshness timer");
    drop(tm);
    settle(&clone).await;
    assert_eq!(clock.pending_sleeps(), 1, "a clone still holds the cache");

    // The last handle goes while a (slow) background refresh is in flight: the refresh runs
    // to its end, then everything stops.
    fault(
        &emu,
        json!({"path": "/identity/token", "latency_ms": 300, "count": 1}),
    )
    .await;
    advance(&clock, Duration::from_secs(2880)).await;
    // The freshness timer ends the fast path on a worker thread: until it has, a read is
    // still answered there without looking at the clock.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert!(clone.get_token().await.expect("due").same_as(&first));
        if clone.status().refreshing {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no refresh started");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(clone);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while requests(&emu) < 2 || clock.pending_sleeps() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "background work still running: {} sleeps",
            clock.pending_sleeps()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nothing is left to ask IAM for anything, however much time passes.
    for _ in 0..5 {
        advance(&clock, Duration::from_secs(3600)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(requests(&emu), 2);
    assert_eq!(clock.pending_sleeps(), 0);
}
