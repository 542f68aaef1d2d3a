//! The key cache against the emulator: discovery, rotation, withdrawal, unknown-kid floods,
//! a keys endpoint that is down, refresh ahead, and the seed's one-call form. Request
//! counts are the emulator's own counters.

use std::sync::Arc;
use std::time::Duration;

use ibm_iam::endpoint::PRODUCTION_ISSUER;
use ibm_iam::verify::SubjectType;
use ibm_iam::{Endpoint, HttpConfig, TokenValidator, VerifyError};
use ibm_iam_emulator::control::faults::{FaultAction, FaultSpec};
use ibm_iam_emulator::{Emulator, RotationPolicy, RunningEmulator, Tls};

use crate::common::*;

fn fault(status: Option<u16>, action: Option<FaultAction>) -> FaultSpec {
    FaultSpec {
        path: "/identity/keys".into(),
        method: None,
        status,
        retry_after: None,
        latency_ms: None,
        action,
        count: None,
        probability: None,
    }
}

/// A token whose `kid` is invented: well formed, never verifiable.
fn invented_kid_token(i: usize) -> String {
    let h = format!(r#"{{"kid":"invented-{i}","alg":"RS256"}}"#);
    format!("{}.{}.{}", b64(h), b64(r#"{"exp":1}"#), b64([7u8; 256]))
}

#[tokio::test]
async fn verifies_emulator_tokens_with_the_discovered_issuer() {
    let emu = emulator().await;
    let (v, _clock) = emulator_validator(&emu, |b| b);
    let token = emulator_token(&emu).await;
    let c = v.validate(&token).await.expect("valid");
    assert_eq!(c.subject_type(), SubjectType::ServiceId);
    assert_eq!(c.account_id(), Some(ACCOUNT));
    assert_eq!(c.iss(), Some(PRODUCTION_ISSUER));
    let st = v.status();
    assert_eq!(st.discovered_issuer.as_deref(), Some(PRODUCTION_ISSUER));
    assert_eq!(st.kids, vec![kid_of(&token)]);
    for _ in 0..20 {
        let t = emulator_token(&emu).await;
        assert!(v.validate(&t).await.is_ok());
    }
    assert_eq!(key_fetches(&emu), 1, "the key set is fetched once");
    assert_eq!(
        emu.state()
            .counters()
            .get("/identity/.well-known/openid-configuration"),
        1
    );
    assert_eq!(v.status().cached_tokens, 21);
}

#[tokio::test]
async fn the_issuer_is_exact_whether_discovered_or_configured() {
    let emu = Emulator::builder()
        .apikey(APIKEY)
        .issuer("https://iam.emulator.example/identity")
        .start()
        .await
        .expect("emulator");
    let token = emulator_token(&emu).await;
    let (discovered, _) = emulator_validator(&emu, |b| b);
    assert!(discovered.validate(&token).await.is_ok());
    let (configured, _) = emulator_validator(&emu, |b| b.issuer(PRODUCTION_ISSUER));
    assert!(matches!(
        configured.validate(&token).await,
        Err(VerifyError::Issuer { found }) if found == "https://iam.emulator.example/identity"
    ));
    assert_eq!(
        emu.state()
            .counters()
            .get("/identity/.well-known/openid-configuration"),
        1,
        "no discovery when the issuer is configured"
    );
}

/// An emulator that rotates its keys only when told to, and keeps publishing a replaced
/// key for two minutes.
async fn rotating_emulator() -> RunningEmulator {
    Emulator::builder()
        .apikey(APIKEY)
        .rotation(RotationPolicy {
            every_seconds: None,
            overlap_seconds: 120,
        })
        .start()
        .await
        .expect("emulator")
}

#[tokio::test]
async fn rotation_new_key_after_one_refetch_withdrawn_key_fails_after_refresh() {
    let emu = rotating_emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b);
    let old = emulator_token(&emu).await;
    assert!(v.validate(&old).await.is_ok());
    assert_eq!(key_fetches(&emu), 1);

    emu.state().rotate_keys().await.expect("rotate");
    let new = emulator_token(&emu).await;
    assert_ne!(kid_of(&new), kid_of(&old));

    // Within the cooldown of the first fetch, an unknown kid fetches nothing.
    assert!(matches!(
        v.validate(&new).await,
        Err(VerifyError::UnknownKey { .. })
    ));
    assert_eq!(key_fetches(&emu), 1);

    // After it, exactly one refetch, and the new key verifies; the old one still does
    // (IAM keeps publishing it for the overlap).
    advance(&emu, &clock, 31);
    assert!(v.validate(&new).await.is_ok());
    assert_eq!(key_fetches(&emu), 2);
    let old_fresh_copy = old.clone();
    assert!(
        v.validate(&old_fresh_copy).await.is_ok(),
        "cached, key still published"
    );
    assert_eq!(v.status().kids.len(), 2);

    // The emulator withdraws the old key after the overlap; once the key set is past its
    // max age, the validator refetches and the old key's tokens fail, cached or not.
    advance(&emu, &clock, 121);
    assert!(
        v.validate(&old).await.is_ok(),
        "the set in use is still fresh"
    );
    advance(&emu, &clock, 600);
    match v.validate(&old).await {
        Err(VerifyError::UnknownKey { kid }) => assert_eq!(kid, kid_of(&old)),
        other => panic!("withdrawn key: {other:?}"),
    }
    assert_eq!(key_fetches(&emu), 3);
    assert_eq!(v.status().kids, vec![kid_of(&new)]);
    assert!(v.validate(&new).await.is_ok());
}

#[tokio::test]
async fn unknown_kid_flood_is_one_fetch_per_cooldown() {
    let emu = emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b);
    v.prefetch().await.expect("keys");
    assert_eq!(key_fetches(&emu), 1);

    for round in 0..3u64 {
        advance(&emu, &clock, 31);
        let before = key_fetches(&emu);
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let v = v.clone();
                tokio::spawn(async move { v.validate(&invented_kid_token(i)).await })
            })
            .collect();
        for t in tasks {
            assert!(matches!(
                t.await.expect("task"),
                Err(VerifyError::UnknownKey { .. })
            ));
        }
        // Another wave in the same cooldown: nothing more.
        for i in 0..300 {
            assert!(v.validate(&invented_kid_token(i)).await.is_err());
        }
        assert_eq!(
            key_fetches(&emu) - before,
            1,
            "round {round}: one fetch for 600 unknown kids"
        );
    }

    // With the keys endpoint failing, the flood still costs at most one fetch, and the
    // back-off holds the next.
    emu.state()
        .faults()
        .add(fault(Some(503), None))
        .expect("fault");
    advance(&emu, &clock, 31);
    let before = key_fetches(&emu);
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let v = v.clone();
            tokio::spawn(async move { v.validate(&invented_kid_token(i)).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.expect("task").is_err());
    }
    advance(&emu, &clock, 1);
    for i in 0..100 {
        assert!(v.validate(&invented_kid_token(i)).await.is_err());
    }
    assert_eq!(key_fetches(&emu) - before, 1);
    // Known kids keep verifying meanwhile.
    let t = emulator_token(&emu).await;
    assert!(v.validate(&t).await.is_ok());
}

#[tokio::test]
async fn keys_endpoint_down_known_kids_keep_verifying_for_a_bounded_time() {
    let emu = emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b.stale_keys_for(Duration::from_secs(900)));
    v.prefetch().await.expect("keys");
    emu.state()
        .faults()
        .add(fault(Some(503), None))
        .expect("fault");

    // Past the max age, the refresh fails and the last good keys serve.
    advance(&emu, &clock, 601);
    let t = emulator_token(&emu).await;
    assert!(v.validate(&t).await.is_ok(), "stale keys serve");
    assert_eq!(key_fetches(&emu), 2);
    let st = v.status();
    assert_eq!(st.consecutive_failures, 1);
    assert!(st.last_error.is_some());

    // While failing, callers do not wait; retries back off.
    for _ in 0..50 {
        let t = emulator_token(&emu).await;
        assert!(v.validate(&t).await.is_ok());
    }
    assert!(key_fetches(&emu) <= 3, "{}", key_fetches(&emu));

    // Other failure modes of the endpoint: the same.
    for action in [
        FaultAction::Malformed,
        FaultAction::Empty,
        FaultAction::Truncated,
        FaultAction::WrongContentType,
        FaultAction::Drop,
    ] {
        emu.state().faults().clear();
        emu.state()
            .faults()
            .add(fault(None, Some(action)))
            .expect("fault");
        advance(&emu, &clock, 121);
        let t = emulator_token(&emu).await;
        assert!(v.validate(&t).await.is_ok(), "{action:?}");
    }

    // Back to a known state: a good fetch now.
    emu.state().faults().clear();
    let mut refreshed = false;
    for _ in 0..3 {
        if v.refresh_keys().await.is_ok() {
            refreshed = true;
            break;
        }
    }
    assert!(refreshed);
    assert_eq!(v.status().consecutive_failures, 0);

    // Down again: stale keys serve until max age + stale bound, then tokens are refused
    // as transient failures.
    emu.state()
        .faults()
        .add(fault(Some(500), None))
        .expect("fault");
    advance(&emu, &clock, 601);
    let t = emulator_token(&emu).await;
    assert!(v.validate(&t).await.is_ok(), "stale keys serve");
    advance(&emu, &clock, 900);
    let t = emulator_token(&emu).await;
    let e = v.validate(&t).await.expect_err("no usable keys");
    assert!(matches!(e, VerifyError::KeysUnavailable(_)), "{e:?}");
    assert!(e.is_transient());
    assert_eq!(e.fetch_error().and_then(ibm_iam::Error::status), Some(500));

    // Recovery as soon as a fetch succeeds (after the back-off).
    emu.state().faults().clear();
    advance(&emu, &clock, 121);
    assert!(v.validate(&t).await.is_ok());
    assert_eq!(v.status().consecutive_failures, 0);
}

#[tokio::test]
async fn the_key_set_refreshes_ahead_in_the_background() {
    let emu = emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b);
    let t = emulator_token(&emu).await;
    assert!(v.validate(&t).await.is_ok());
    advance(&emu, &clock, 7 * 60);
    assert!(v.validate(&t).await.is_ok());
    assert_eq!(key_fetches(&emu), 1, "fresh: no refresh yet");
    advance(&emu, &clock, 90);
    // A cache hit answers at once and starts the refresh in the background.
    assert!(v.validate(&t).await.is_ok());
    eventually("a background refresh", || {
        v.status().key_set_age == Some(Duration::ZERO)
    })
    .await;
    assert_eq!(key_fetches(&emu), 2);
}

#[tokio::test]
async fn a_first_fetch_that_fails_is_an_error_and_backs_off() {
    let emu = emulator().await;
    emu.state()
        .faults()
        .add(fault(Some(503), None))
        .expect("fault");
    let (v, clock) = emulator_validator(&emu, |b| b.issuer(PRODUCTION_ISSUER));
    let t = emulator_token(&emu).await;
    for _ in 0..20 {
        assert!(matches!(
            v.validate(&t).await,
            Err(VerifyError::KeysUnavailable(_))
        ));
    }
    assert_eq!(key_fetches(&emu), 1, "the back-off holds the retries");
    emu.state().faults().clear();
    advance(&emu, &clock, 200);
    assert!(v.validate(&t).await.is_ok());
    assert_eq!(key_fetches(&emu), 2);
}

#[tokio::test]
async fn the_seed_one_call_form_caches_keys_per_endpoint() {
    let emu = emulator().await;
    let endpoint = Endpoint::parse(emu.url()).expect("endpoint");
    for _ in 0..5 {
        let t = emulator_token(&emu).await;
        let c = ibm_iam::validate_token(&t, &endpoint).await.expect("valid");
        assert_eq!(c.account_id(), Some(ACCOUNT));
    }
    assert_eq!(key_fetches(&emu), 1, "unlike the seed, one fetch");
    assert!(matches!(
        ibm_iam::validate_token("a.b.c", &endpoint).await,
        Err(VerifyError::Malformed { .. })
    ));
}

#[test]
fn the_blocking_one_call_form_and_validator() {
    // The emulator runs on its own runtime thread; the test thread has none.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("rt");
        rt.block_on(async move {
            let emu = emulator().await;
            let token = emulator_token(&emu).await;
            url_tx.send((emu.url().to_owned(), token)).expect("send");
            let _ = stop_rx.await;
            emu.shutdown().await;
        });
    });
    let (url, token) = url_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("emulator");
    let endpoint = Endpoint::parse(&url).expect("endpoint");
    let c = ibm_iam::verify::blocking::validate_token(&token, &endpoint).expect("valid");
    assert_eq!(c.account_id(), Some(ACCOUNT));
    let v = ibm_iam::verify::blocking::TokenValidator::new(endpoint).expect("validator");
    v.prefetch().expect("keys");
    assert!(v.validate(&token).is_ok());
    assert!(v.validate(&token).is_ok());
    v.refresh_keys().expect("refresh");
    assert!(v.as_async().status().key_fetches >= 2);
    let _ = stop_tx.send(());
    server.join().expect("server");
}

#[tokio::test]
async fn over_https_with_the_emulators_ca() {
    let emu = Emulator::builder()
        .apikey(APIKEY)
        .tls(Tls::SelfSigned)
        .start()
        .await
        .expect("emulator");
    let pem = emu.cert_pem().expect("pem").to_owned();
    assert!(emu.url().starts_with("https://"));
    let client = reqwest::Client::builder()
        .tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let resp = client
        .post(format!("{}/identity/token", emu.url()))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", APIKEY),
        ])
        .send()
        .await
        .expect("token");
    let token = resp.json::<serde_json::Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let v = TokenValidator::builder()
        .endpoint_url(emu.url())
        .http(HttpConfig::default().add_root_pem(pem))
        .build()
        .expect("validator");
    assert!(v.validate(&token).await.is_ok());
    // Without the CA, the fetch fails closed.
    let untrusting = TokenValidator::builder()
        .endpoint_url(emu.url())
        .build()
        .expect("validator");
    assert!(matches!(
        untrusting.validate(&token).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
}

#[tokio::test]
async fn the_async_validator_without_pinned_keys_needs_a_tokio_runtime_only_to_fetch() {
    // Built outside a runtime without panicking; nothing is spawned in the constructor.
    let v = std::thread::spawn(|| TokenValidator::new(Endpoint::production()))
        .join()
        .expect("thread")
        .expect("validator");
    assert_eq!(v.status().key_fetches, 0);
    let clock = Arc::new(ibm_iam::clock::ManualClock::new());
    let b = TokenValidator::builder()
        .clock(clock)
        .key_max_age(Duration::ZERO);
    assert!(b.build().is_err(), "invalid settings are errors");
}

/// The status of the fetch error behind a transient refusal.
fn fetch_status(r: Result<ibm_iam::verify::Claims, VerifyError>) -> Option<u16> {
    match r {
        Err(e @ VerifyError::KeysUnavailable(_)) => {
            e.fetch_error().and_then(ibm_iam::Error::status)
        }
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_kid_while_fetches_fail_is_transient_not_a_verdict() {
    let emu = emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b);
    v.prefetch().await.expect("keys");
    let mut down = fault(Some(503), None);
    down.retry_after = Some(60);
    emu.state().faults().add(down).expect("fault");

    // Past the cooldown, the unknown kid's refetch fails: transient.
    advance(&emu, &clock, 31);
    assert_eq!(
        fetch_status(v.validate(&invented_kid_token(1)).await),
        Some(503)
    );
    assert_eq!(key_fetches(&emu), 2);
    // In the cooldown after that failed fetch: transient, with the last error, no fetch.
    assert_eq!(
        fetch_status(v.validate(&invented_kid_token(2)).await),
        Some(503)
    );
    // Past the cooldown, inside the back-off (IAM asked for 60 s): still transient.
    advance(&emu, &clock, 31);
    assert_eq!(
        fetch_status(v.validate(&invented_kid_token(3)).await),
        Some(503)
    );
    assert_eq!(key_fetches(&emu), 2, "the back-off holds the fetch");
    // Known kids keep verifying meanwhile.
    assert!(v.validate(&emulator_token(&emu).await).await.is_ok());

    // The keys past their max age, fetches failing: the old keys serve known kids, and a
    // kid they lack is transient too.
    advance(&emu, &clock, 600);
    assert!(v.validate(&emulator_token(&emu).await).await.is_ok());
    assert_eq!(
        fetch_status(v.validate(&invented_kid_token(4)).await),
        Some(503)
    );

    // IAM answers again: after the back-off, one refetch that lacks the kid is a verdict,
    // and so is the same kid within the cooldown after that successful fetch.
    emu.state().faults().clear();
    advance(&emu, &clock, 121);
    let before = key_fetches(&emu);
    assert!(matches!(
        v.validate(&invented_kid_token(5)).await,
        Err(VerifyError::UnknownKey { .. })
    ));
    assert_eq!(key_fetches(&emu), before + 1);
    assert!(matches!(
        v.validate(&invented_kid_token(6)).await,
        Err(VerifyError::UnknownKey { .. })
    ));
    assert_eq!(key_fetches(&emu), before + 1);

    // Down again once the keys are past their max age: the refresh the caller waits for
    // fails, the old keys serve, and a kid they lack is transient.
    emu.state()
        .faults()
        .add(fault(Some(503), None))
        .expect("fault");
    advance(&emu, &clock, 601);
    assert_eq!(
        fetch_status(v.validate(&invented_kid_token(7)).await),
        Some(503)
    );
    assert_eq!(key_fetches(&emu), before + 2);
    assert!(v.validate(&emulator_token(&emu).await).await.is_ok());
}

#[test]
fn the_blocking_validator_refreshes_ahead_on_its_own_runtime() {
    // The emulator on its own runtime thread; the test thread has no runtime, as a
    // synchronous caller has none.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("rt");
        rt.block_on(async move {
            let emu = emulator().await;
            let token = emulator_token(&emu).await;
            tx.send((emu.url().to_owned(), token, emu.state().clone()))
                .expect("send");
            let _ = stop_rx.await;
            emu.shutdown().await;
        });
    });
    let (url, token, state) = rx.recv_timeout(Duration::from_secs(30)).expect("emulator");
    let fetches = || state.counters().get("/identity/keys");
    let clock = ibm_iam::clock::ManualClock::new();
    let v = ibm_iam::verify::blocking::TokenValidator::from_async(
        TokenValidator::builder()
            .endpoint_url(&url)
            .clock(Arc::new(clock.clone()))
            .build()
            .expect("validator"),
    )
    .expect("blocking validator");
    assert!(v.validate(&token).is_ok());
    assert_eq!(fetches(), 1);
    clock.advance(Duration::from_secs(7 * 60));
    assert!(v.validate(&token).is_ok(), "a cache hit");
    assert_eq!(fetches(), 1, "fresh: no refresh yet");

    // Inside the refresh-ahead window, a cache hit answers at once on this thread and
    // starts the refresh on the validator's runtime.
    clock.advance(Duration::from_secs(90));
    assert!(v.validate(&token).is_ok());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while v.as_async().status().key_set_age != Some(Duration::ZERO) {
        assert!(
            std::time::Instant::now() < deadline,
            "no background refresh in blocking mode"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fetches(), 2, "one background fetch");
    assert_eq!(v.as_async().status().key_fetches, 2);
    assert!(v.validate(&token).is_ok());
    assert_eq!(fetches(), 2);
    let _ = stop_tx.send(());
    server.join().expect("server");
}

#[tokio::test]
async fn a_background_refresh_that_withdraws_a_key_drops_its_cached_tokens() {
    let emu = rotating_emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b);
    let old = emulator_token(&emu).await;
    assert!(v.validate(&old).await.is_ok());
    assert_eq!(v.status().cached_tokens, 1);

    // IAM rotates and, after the overlap, withdraws the old key; the validator's set is
    // still fresh, so the cached token still passes.
    emu.state().rotate_keys().await.expect("rotate");
    advance(&emu, &clock, 7 * 60);
    assert!(v.validate(&old).await.is_ok(), "fresh set, key still in it");
    assert_eq!(key_fetches(&emu), 1);

    // In the refresh-ahead window a cache hit answers at once and refreshes in the
    // background; that refresh withdraws the key, and the cached token goes with it.
    advance(&emu, &clock, 90);
    assert!(
        v.validate(&old).await.is_ok(),
        "answered before the refresh lands"
    );
    eventually("the background refresh", || {
        v.status().key_set_age == Some(Duration::ZERO)
    })
    .await;
    assert_eq!(key_fetches(&emu), 2, "one background fetch, nothing forced");
    assert_eq!(v.status().cached_tokens, 0, "dropped, not just distrusted");
    assert!(!v.status().kids.contains(&kid_of(&old)));
    assert!(matches!(
        v.validate(&old).await,
        Err(VerifyError::UnknownKey { .. })
    ));
    assert!(v.validate(&emulator_token(&emu).await).await.is_ok());
}
