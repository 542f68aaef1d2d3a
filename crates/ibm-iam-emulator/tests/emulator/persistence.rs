//! The state file and HTTPS.

use serde_json::{Value, json};

use crate::common::*;
use ibm_iam_emulator::{Emulator, ServeError, StartError, Tls};

#[tokio::test]
async fn changes_survive_a_restart_and_keys_stay_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("iam-state.json");
    let (value, old_token) = {
        let emu = builder().state_file(&state).start().await.expect("start");
        let c = client();
        let token = access_token(&c, emu.url(), BOOKS_KEY).await;
        let created: Value = c
            .post(format!("{}/v1/apikeys", emu.url()))
            .bearer_auth(&token)
            .json(&json!({"name": "persisted", "iam_id": format!("iam-{BOOKS_SID}")}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        emu.shutdown().await;
        (created["apikey"].as_str().expect("value").to_owned(), token)
    };
    let text = std::fs::read_to_string(&state).expect("state file");
    assert!(
        !text.contains(&value),
        "API key values are stored as digests"
    );
    assert!(!text.contains(BOOKS_KEY));

    // Restart with the same seed and --apikey: no conflict, nothing duplicated.
    let emu = builder().state_file(&state).start().await.expect("restart");
    let c = client();
    access_token(&c, emu.url(), &value).await;
    assert!(
        verify_with_published_keys(&c, emu.url(), &old_token).await,
        "same signing keys after restart"
    );
    let store = emu.state().store();
    assert_eq!(store.service_ids.len(), 2, "seeded + --apikey, once each");
}

#[tokio::test]
async fn a_corrupt_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("broken.json");
    let broken = b"{\"format\": \"ibm-iam-emulator-state\", \"version\": 1, \"store\": [";
    std::fs::write(&state, broken).expect("write");
    let err = Emulator::builder()
        .state_file(&state)
        .start()
        .await
        .expect_err("corrupt");
    assert!(
        matches!(err, ServeError::Start(StartError::Persist(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(
        std::fs::read(&state).expect("still there"),
        broken,
        "the file is left alone"
    );
}

#[tokio::test]
async fn https_with_the_generated_certificate_verifies() {
    let emu = builder().tls(Tls::SelfSigned).start().await.expect("start");
    assert!(emu.url().starts_with("https://127.0.0.1:"));
    let pem = emu.cert_pem().expect("cert");
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).expect("pem")])
        .build()
        .expect("client");
    let token = access_token(&trusting, emu.url(), BOOKS_KEY).await;
    assert_eq!(claims(&token)["sub"], BOOKS_SID);
    let localhost = emu.url().replace("127.0.0.1", "localhost");
    access_token(&trusting, &localhost, BOOKS_KEY).await;

    // A client that does not trust the certificate is refused.
    let stranger = reqwest::Client::builder().build().expect("client");
    assert!(
        stranger
            .get(format!("{}/identity/keys", emu.url()))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn double_slashes_reach_the_route() {
    let (emu, c) = start().await;
    let resp = c
        .post(format!("{}//identity/token", emu.url()))
        .form(&[("grant_type", APIKEY_GRANT), ("apikey", BOOKS_KEY)])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
}
