//! Every token source against the emulator.

use std::sync::Arc;

use ibm_iam::clock::{Clock, ManualClock};
use ibm_iam::token::{ContainerAuth, Profile};
use ibm_iam::{Error, TokenManager};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn api_key() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let token = tm.get_token().await.expect("token");
    let c = claims(token.expose_secret());
    assert_eq!(c["sub"], "ServiceId-9b1c7d4e-0000-4000-8000-000000000001");
    assert_eq!(c["grant_type"], "urn:ibm:params:oauth:grant-type:apikey");
    assert!(
        tm.get_token().await.expect("cached").same_as(&token),
        "served from the cache"
    );
    assert_eq!(requests(&emu), 1);
    let status = tm.status();
    assert!(status.is_ready() && !status.refresh_due && status.last_error.is_none());
    assert_eq!(status.requests, 1);
}

#[tokio::test]
async fn scope_client_credentials_and_extra_headers_reach_iam() {
    let emu = emulator().await;
    let tm = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(&format!("{}/identity/token", emu.url()))
        .client_credentials("my-client", "my-secret")
        .scope("ibm openid books")
        .header("Transaction-Id", "trace-me")
        .build()
        .expect("manager");
    let c = claims(tm.get_token().await.expect("token").expose_secret());
    assert_eq!(c["client_id"], "my-client");
    assert_eq!(c["scope"], "ibm openid books");
}

#[tokio::test]
async fn refresh_token_source_keeps_the_newest_refresh_token() {
    let emu = emulator().await;
    // Get a refresh token as a client would.
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/identity/token", emu.url()))
        .basic_auth("cli", Some("cli-secret"))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", ALICE_KEY),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
    let clock = ManualClock::new();
    let tm = TokenManager::builder()
        .refresh_token(refresh)
        .client_credentials("cli", "cli-secret")
        .endpoint_url(emu.url())
        .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
        .build()
        .expect("manager");
    let first = tm.get_token().await.expect("token");
    assert_eq!(claims(first.expose_secret())["grant_type"], "refresh_token");
    // After expiry a second exchange uses the refresh token IAM returned the first time.
    advance(&clock, std::time::Duration::from_secs(3600)).await;
    let second = tm.get_token().await.expect("token again");
    assert!(!second.same_as(&first));
    assert_eq!(claims(second.expose_secret())["iam_id"], ALICE);
}

#[tokio::test]
async fn container_source_reads_the_cr_token_file_at_every_exchange() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("cr-token");
    std::fs::write(&file, cr_token(&emu, json!({"namespace": "books"})).await).expect("write");
    let clock = ManualClock::new();
    let tm = TokenManager::builder()
        .container(ContainerAuth::profile_name("books-workload").cr_token_file(&file))
        .endpoint_url(emu.url())
        .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
        .build()
        .expect("manager");
    let c = claims(tm.get_token().await.expect("token").expose_secret());
    assert_eq!(c["iam_id"], format!("iam-{PROFILE}"));
    assert_eq!(c["grant_type"], "urn:ibm:params:oauth:grant-type:cr-token");

    // The file rotates to a token the profile does not trust: the next exchange reads it.
    std::fs::write(&file, cr_token(&emu, json!({"namespace": "other"})).await).expect("write");
    advance(&clock, std::time::Duration::from_secs(3600)).await;
    let err = tm.get_token().await.expect_err("untrusted");
    assert_eq!(err.iam_code(), Some("IAMEMU0403E"), "{err}");

    std::fs::remove_file(&file).expect("rm");
    // A missing file is transient (it may appear); the waited exchange retries, so let its
    // back-off sleeps move the clock.
    clock.set_auto_advance(true);
    advance(&clock, std::time::Duration::from_secs(600)).await;
    let err = tm.get_token().await.expect_err("no file");
    assert!(matches!(err, Error::CredentialFile { .. }), "{err}");
}

#[tokio::test]
async fn container_source_by_profile_id_and_by_crn() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("cr-token");
    std::fs::write(&file, cr_token(&emu, json!({"namespace": "books"})).await).expect("write");
    let crn = format!("crn:v1:bluemix:public:iam-identity::a/{ACCOUNT}::profile:{PROFILE}");
    for auth in [
        ContainerAuth::profile_id(PROFILE),
        ContainerAuth::profile_crn(&crn),
        ContainerAuth {
            profile_id: Some(PROFILE.into()),
            profile_crn: Some(crn.clone()),
            ..ContainerAuth::default()
        },
    ] {
        let tm = TokenManager::builder()
            .container(auth.clone().cr_token_file(&file))
            .endpoint_url(emu.url())
            .build()
            .expect("manager");
        let c = claims(tm.get_token().await.expect("token").expose_secret());
        assert_eq!(c["iam_id"], format!("iam-{PROFILE}"), "{auth:?}");
        assert_eq!(c["grant_type"], "urn:ibm:params:oauth:grant-type:cr-token");
    }
    // A profile the CR token is not trusted by is IAM's error, typed.
    let tm = TokenManager::builder()
        .container(
            ContainerAuth::profile_id("Profile-00000000-0000-4000-8000-00000000dead")
                .cr_token_file(&file),
        )
        .endpoint_url(emu.url())
        .build()
        .expect("manager");
    let err = tm.get_token().await.expect_err("unknown profile");
    assert!(
        err.status().is_some_and(|s| (400..500).contains(&s)),
        "{err}"
    );
}

#[tokio::test]
async fn assume_source_uses_the_delegates_token() {
    let emu = emulator().await;
    let delegate = TokenManager::builder()
        .api_key(ALICE_KEY)
        .endpoint_url(emu.url())
        .build()
        .expect("delegate");
    for profile in [
        Profile::Id(PROFILE.into()),
        Profile::Name {
            name: "books-workload".into(),
            account_id: ACCOUNT.into(),
        },
        Profile::Crn(format!(
            "crn:v1:bluemix:public:iam-identity::a/{ACCOUNT}::profile:{PROFILE}"
        )),
    ] {
        let tm = TokenManager::builder()
            .assume(delegate.clone(), profile.clone())
            .endpoint_url(emu.url())
            .build()
            .expect("manager");
        let c = claims(tm.get_token().await.expect("token").expose_secret());
        assert_eq!(c["iam_id"], format!("iam-{PROFILE}"), "{profile:?}");
        assert_eq!(c["authn"]["iam_id"], ALICE);
    }
    // One delegate token served all three exchanges.
    assert_eq!(requests(&emu), 4);
}

#[tokio::test]
async fn static_bearer_token_is_served_as_is() {
    let tm = TokenManager::builder()
        .bearer_token("a.b.c")
        .build()
        .expect("manager");
    // Ready from the start, even before the first call.
    let status = tm.status();
    assert!(status.is_ready(), "{status:?}");
    assert_eq!(
        status.valid_for,
        Some(std::time::Duration::MAX),
        "no exp: for ever"
    );
    assert_eq!(
        tm.get_token().await.expect("token").expose_secret(),
        "a.b.c"
    );
}

#[test]
fn a_static_jwts_validity_runs_to_its_exp() {
    use base64::Engine as _;
    let clock = ManualClock::new();
    let now = clock
        .system_now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    let jwt = |exp: u64| {
        let claims =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
        format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2ln")
    };
    let status = |token: String| {
        TokenManager::builder()
            .bearer_token(token)
            .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
            .build()
            .expect("manager")
            .status()
    };
    let s = status(jwt(now + 600));
    assert!(s.is_ready());
    assert_eq!(s.valid_for, Some(std::time::Duration::from_secs(590)));
    let s = status(jwt(now + 5));
    assert!(!s.is_ready(), "inside the expiry window: {s:?}");
    let s = status(jwt(now - 60));
    assert!(!s.is_ready(), "expired: {s:?}");
}

#[tokio::test]
async fn unknown_api_key_is_a_typed_permanent_error_that_fails_fast_then_recovers() {
    let emu = emulator().await;
    let clock = ManualClock::new();
    let value = "bring-your-own-key-0123456789abcdefghijklmn";
    let tm = manager(&emu, value, &clock);
    let err = tm.get_token().await.expect_err("unknown");
    assert_eq!(err.iam_code(), Some("BXNIM0415E"));
    assert_eq!(err.status(), Some(400));
    assert!(err.transaction_id().is_some());
    assert!(!err.is_transient());
    assert!(
        !err.to_string().contains(value),
        "the key is never echoed: {err}"
    );
    assert_eq!(requests(&emu), 1, "a permanent error is not retried");

    // Fails fast while backing off: no new request.
    let again = tm.get_token().await.expect_err("still failing");
    assert_eq!(again.iam_code(), Some("BXNIM0415E"));
    assert_eq!(requests(&emu), 1);
    let status = tm.status();
    assert_eq!(status.consecutive_failures, 1);
    assert!(status.next_attempt_in.is_some());

    // The key is created in IAM; after the back-off the manager recovers.
    let admin = manager(&emu, BOOKS_KEY, &clock)
        .get_token()
        .await
        .expect("admin");
    let created = reqwest::Client::new()
        .post(format!("{}/v1/apikeys", emu.url()))
        .header("Authorization", admin.bearer_header())
        .json(&json!({"name": "byo", "iam_id": "iam-ServiceId-9b1c7d4e-0000-4000-8000-000000000001", "apikey": value}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    advance(&clock, status.next_attempt_in.expect("scheduled")).await;
    tm.get_token().await.expect("recovered");
    assert_eq!(tm.status().consecutive_failures, 0);
}

#[test]
fn blocking_facade_works_without_a_runtime() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let emu = rt.block_on(emulator());
    let tm = ibm_iam::blocking::TokenManager::from_async(
        TokenManager::builder()
            .api_key(BOOKS_KEY)
            .endpoint_url(emu.url())
            .build()
            .expect("manager"),
    )
    .expect("blocking");
    let a = tm.get_token().expect("token");
    let b = tm.get_token().expect("cached");
    assert!(a.same_as(&b));
    assert!(tm.status().is_ready());
    // From inside a runtime it refuses instead of deadlocking.
    let inside = rt.block_on(async { tm.get_token() });
    assert!(matches!(inside, Err(Error::Runtime(_))));
    drop(tm);
    rt.block_on(emu.shutdown());
}

#[test]
fn async_api_without_a_runtime_is_an_error_not_a_panic() {
    let tm = TokenManager::builder()
        .api_key("k")
        .endpoint_url("http://127.0.0.1:9")
        .build()
        .expect("manager");
    let fut = tm.get_token();
    // Poll it on a runtime-less executor.
    let r = futures_lite_block_on(fut);
    assert!(matches!(r, Err(Error::Runtime(_))), "{r:?}");
}

/// A minimal executor without Tokio, to show the async API's behaviour there.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
