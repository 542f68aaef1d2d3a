//! A manager outlives the runtimes it is used on: a timer or an exchange that dies with its
//! runtime (or panics) never leaves the manager stuck or serving an expired token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ibm_iam::clock::{Clock, ManualClock, Sleep};
use serde_json::json;

use crate::common::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The emulator on a runtime of its own, which outlives the ones under test.
fn emulator_on_its_own_runtime() -> (tokio::runtime::Runtime, ibm_iam_emulator::RunningEmulator) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("emulator runtime");
    let emu = rt.block_on(emulator());
    (rt, emu)
}

#[test]
fn a_token_cached_on_a_dead_runtime_is_not_served_past_its_expiry() {
    let (emu_rt, emu) = emulator_on_its_own_runtime();
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);

    let first_rt = runtime();
    let first = first_rt.block_on(tm.get_token()).expect("token");
    // The token's freshness timer ran on this runtime; it goes away with it.
    drop(first_rt);
    clock.advance(Duration::from_secs(3600));

    let second_rt = runtime();
    let second = second_rt
        .block_on(tm.get_token())
        .expect("a token from the new runtime");
    assert!(!second.same_as(&first), "the expired token was served");
    assert_eq!(requests(&emu), 2);
    // And the new token is cached and refreshed as usual from here. (This machine's manual
    // clock is now far ahead of the emulator's: the server's Date decides expiry checks.)
    second_rt.block_on(async {
        assert!(tm.get_token().await.expect("cached").same_as(&second));
        advance(&clock, Duration::from_secs(2880)).await;
        assert!(tm.get_token().await.expect("due").same_as(&second));
        settle(&tm).await;
        let third = tm.get_token().await.expect("refreshed");
        assert!(!third.same_as(&second), "{:?}", tm.status());
    });
    assert_eq!(requests(&emu), 3);
    drop(second_rt);
    emu_rt.block_on(emu.shutdown());
}

#[test]
fn an_idle_current_thread_runtime_never_serves_a_token_past_its_expiry() {
    let (emu_rt, emu) = emulator_on_its_own_runtime();
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let rt = runtime();
    let first = rt.block_on(tm.get_token()).expect("token");
    // Nothing drives the runtime while the token's life passes: a program that sleeps
    // between calls. Its timers cannot run, so they cannot be what ends freshness.
    clock.advance(Duration::from_secs(3600));
    let second = rt.block_on(tm.get_token()).expect("a new token");
    assert!(!second.same_as(&first), "an expired token was served");
    assert_eq!(requests(&emu), 2);
    drop(rt);
    emu_rt.block_on(emu.shutdown());
}

#[test]
fn an_exchange_that_dies_with_its_runtime_is_started_again() {
    let (emu_rt, emu) = emulator_on_its_own_runtime();
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    emu_rt.block_on(fault(
        &emu,
        json!({"path": "/identity/token", "latency_ms": 3000, "count": 1}),
    ));

    let first_rt = runtime();
    first_rt.block_on(async {
        let waited = tokio::time::timeout(Duration::from_millis(300), tm.get_token()).await;
        assert!(
            waited.is_err(),
            "IAM is slow: the exchange is still in flight"
        );
    });
    assert!(tm.status().refreshing);
    drop(first_rt);
    assert!(
        !tm.status().refreshing,
        "the abandoned exchange is forgotten"
    );

    let second_rt = runtime();
    let token = second_rt
        .block_on(tm.get_token())
        .expect("a new exchange on the new runtime");
    assert!(tm.status().is_ready());
    assert!(
        second_rt
            .block_on(tm.get_token())
            .expect("cached")
            .same_as(&token)
    );
    drop(second_rt);
    emu_rt.block_on(emu.shutdown());
}

#[test]
fn a_background_refresh_that_dies_with_its_runtime_runs_again() {
    let (emu_rt, emu) = emulator_on_its_own_runtime();
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);

    let first_rt = runtime();
    let first = first_rt.block_on(async {
        let first = tm.get_token().await.expect("token");
        fault(
            &emu,
            json!({"path": "/identity/token", "latency_ms": 3000, "count": 1}),
        )
        .await;
        advance(&clock, Duration::from_secs(2880)).await;
        // Due: served at once, and a slow refresh starts in the background.
        assert!(tm.get_token().await.expect("due").same_as(&first));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(tm.status().refreshing);
        first
    });
    drop(first_rt);
    assert!(!tm.status().refreshing);

    let second_rt = runtime();
    second_rt.block_on(async {
        assert!(
            tm.get_token().await.expect("still valid").same_as(&first),
            "the valid token is still served"
        );
        settle(&tm).await;
        let second = tm.get_token().await.expect("refreshed");
        assert!(!second.same_as(&first), "the background refresh ran again");
    });
    drop(second_rt);
    emu_rt.block_on(emu.shutdown());
}

/// A clock whose sleeps panic on demand: a stand-in for a bug inside an exchange.
#[derive(Debug)]
struct PanickyClock {
    inner: ManualClock,
    armed: AtomicBool,
}

impl Clock for PanickyClock {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn system_now(&self) -> SystemTime {
        self.inner.system_now()
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        if self.armed.load(Ordering::SeqCst) {
            panic!("a bug in the middle of an exchange");
        }
        self.inner.sleep_until(deadline)
    }
}

#[tokio::test]
async fn an_exchange_that_panics_is_a_transient_failure_not_a_stuck_manager() {
    let emu = emulator().await;
    let manual = ManualClock::new();
    let clock = Arc::new(PanickyClock {
        inner: manual.clone(),
        armed: AtomicBool::new(true),
    });
    let tm = manager_builder(&emu, BOOKS_KEY, clock.clone())
        .build()
        .expect("manager");
    // The first attempt fails; the retry's sleep panics.
    fault(
        &emu,
        json!({"path": "/identity/token", "status": 503, "count": 1}),
    )
    .await;
    let err = tm.get_token().await.expect_err("the exchange panicked");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("panicked"), "{err}");
    let status = tm.status();
    assert!(!status.refreshing);
    assert_eq!(status.consecutive_failures, 1);

    clock.armed.store(false, Ordering::SeqCst);
    advance(&manual, status.next_attempt_in.expect("scheduled")).await;
    tm.get_token().await.expect("the manager works again");
    assert_eq!(tm.status().consecutive_failures, 0);
}
