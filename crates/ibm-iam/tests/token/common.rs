//! Shared helpers.

use std::sync::Arc;
use std::time::Duration;

use ibm_iam::TokenManager;
use ibm_iam::clock::{Clock, ManualClock};
use ibm_iam::token::TokenManagerBuilder;
use ibm_iam::token::{Lifecycle, RetryPolicy};
use ibm_iam_emulator::{Emulator, RunningEmulator, Seed};
use serde_json::{Value, json};

pub const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
pub const ALICE: &str = "IBMid-550000ED6J";
pub const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";
pub const PROFILE: &str = "Profile-3f0e2a9c-0000-4000-8000-000000000001";
pub const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

pub async fn emulator() -> RunningEmulator {
    Emulator::builder()
        .seed(
            Seed::from_json(include_str!("../../../ibm-iam-emulator/examples/seed.json"))
                .expect("seed"),
        )
        .start()
        .await
        .expect("emulator")
}

/// A manager for `key` on the emulator, with a manual clock and no refresh jitter.
pub fn manager(emu: &RunningEmulator, key: &str, clock: &ManualClock) -> TokenManager {
    manager_builder(emu, key, Arc::new(clock.clone()))
        .build()
        .expect("manager")
}

/// [`manager`]'s builder, on any clock, for a test to change a setting before `build()`.
pub fn manager_builder(
    emu: &RunningEmulator,
    key: &str,
    clock: Arc<dyn Clock>,
) -> TokenManagerBuilder {
    TokenManager::builder()
        .api_key(key)
        .endpoint_url(emu.url())
        .clock(clock)
        .lifecycle(Lifecycle {
            jitter_fraction: 0.0,
            ..Lifecycle::default()
        })
        .retry(RetryPolicy::default())
}

pub fn requests(emu: &RunningEmulator) -> u64 {
    emu.state().counters().get("/identity/token")
}

/// Moves the manual clock and lets the runtime run the timers that fall due, as a real
/// clock's passing time would.
pub async fn advance(clock: &ManualClock, by: Duration) {
    clock.advance(by);
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// Waits (for real, bounded) until no exchange is in flight and the timer tasks ran.
pub async fn settle(tm: &TokenManager) {
    for _ in 0..2000 {
        tokio::task::yield_now().await;
        if !tm.status().refreshing {
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the exchange did not finish");
}

/// Installs a fault rule through the emulator's control API.
pub async fn fault(emu: &RunningEmulator, rule: Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_emulator/faults", emu.url()))
        .json(&rule)
        .send()
        .await
        .expect("fault");
    assert_eq!(resp.status(), 201, "{rule}");
}

pub async fn clear_faults(emu: &RunningEmulator) {
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .expect("clear");
}

/// The claims of a JWT, unverified.
pub fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("payload");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("b64");
    serde_json::from_slice(&raw).expect("json")
}

pub async fn cr_token(emu: &RunningEmulator, claims: Value) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{}/_emulator/cr-tokens", emu.url()))
        .json(&json!({ "claims": claims }))
        .send()
        .await
        .expect("cr")
        .json()
        .await
        .expect("json");
    v["cr_token"].as_str().expect("cr_token").to_owned()
}
