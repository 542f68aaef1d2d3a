//! The key set and rotation: manual, scheduled, overlap, withdrawal.

use ibm_iam_emulator::RotationPolicy;
use serde_json::{Value, json};

use crate::common::*;

async fn jwks(c: &reqwest::Client, url: &str) -> Vec<Value> {
    let resp = c
        .get(format!("{url}/identity/keys"))
        .send()
        .await
        .expect("keys");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.expect("json");
    v["keys"].as_array().expect("keys array").clone()
}

#[tokio::test]
async fn key_set_has_iams_shape() {
    let (emu, c) = start().await;
    let keys = jwks(&c, emu.url()).await;
    assert_eq!(keys.len(), 1);
    let k = keys[0].as_object().expect("object");
    let mut members: Vec<&str> = k.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n"], "no `use`, as IAM");
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["alg"], "RS256");
    assert_eq!(k["e"], "AQAB");
    let kid = k["kid"].as_str().expect("kid");
    assert!(
        kid.len() == 12 && kid.chars().all(|c| c.is_ascii_digit()),
        "YYYYMMDDhhmm: {kid}"
    );
    let n = k["n"].as_str().expect("n");
    assert!(
        !n.contains('=') && !n.contains('+') && !n.contains('/'),
        "base64url without padding"
    );
}

#[tokio::test]
async fn manual_rotation_keeps_old_tokens_valid_until_the_overlap_ends() {
    let emu = builder()
        .rotation(RotationPolicy {
            every_seconds: None,
            overlap_seconds: 600,
        })
        .start()
        .await
        .expect("start");
    let c = client();
    let old_token = access_token(&c, emu.url(), BOOKS_KEY).await;
    let rotated = control(&c, emu.url(), "keys/rotate", json!({})).await;
    let new_kid = rotated["signing_kid"].as_str().expect("kid").to_owned();
    assert_ne!(header(&old_token)["kid"], new_kid.as_str());

    let keys = jwks(&c, emu.url()).await;
    assert_eq!(
        keys.len(),
        2,
        "old and new key are published across the rotation"
    );
    assert_eq!(keys[0]["kid"], new_kid.as_str(), "newest first");

    let new_token = access_token(&c, emu.url(), BOOKS_KEY).await;
    assert_eq!(
        header(&new_token)["kid"],
        new_kid.as_str(),
        "the new key signs"
    );
    assert!(verify_with_published_keys(&c, emu.url(), &old_token).await);
    assert!(verify_with_published_keys(&c, emu.url(), &new_token).await);

    control(&c, emu.url(), "clock", json!({"advance_seconds": 601})).await;
    let keys = jwks(&c, emu.url()).await;
    assert_eq!(
        keys.len(),
        1,
        "the retired key is withdrawn after the overlap"
    );
    assert!(!verify_with_published_keys(&c, emu.url(), &old_token).await);
}

#[tokio::test]
async fn scheduled_rotation_follows_the_emulators_clock() {
    let emu = builder()
        .rotation(RotationPolicy {
            every_seconds: Some(3600),
            overlap_seconds: 1800,
        })
        .start()
        .await
        .expect("start");
    let c = client();
    let first = jwks(&c, emu.url()).await[0]["kid"].clone();
    control(&c, emu.url(), "clock", json!({"advance_seconds": 3600})).await;
    let keys = jwks(&c, emu.url()).await;
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0]["kid"], first);
    assert_eq!(keys[1]["kid"], first);
    control(&c, emu.url(), "clock", json!({"advance_seconds": 1800})).await;
    let keys = jwks(&c, emu.url()).await;
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0]["kid"], first);

    // The policy can change at run time.
    let resp = c
        .put(format!("{}/_emulator/keys/rotation", emu.url()))
        .json(&json!({"every_seconds": 0, "overlap_seconds": 10}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn management_tokens_signed_by_a_withdrawn_key_are_refused() {
    let emu = builder()
        .rotation(RotationPolicy {
            every_seconds: None,
            overlap_seconds: 60,
        })
        .start()
        .await
        .expect("start");
    let c = client();
    let token = access_token(&c, emu.url(), CLI_KEY).await;
    control(&c, emu.url(), "keys/rotate", json!({})).await;
    let ok = c
        .get(format!("{}/v1/serviceids/", emu.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200, "still published during the overlap");
    control(&c, emu.url(), "clock", json!({"advance_seconds": 61})).await;
    let refused = c
        .get(format!("{}/v1/serviceids/", emu.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 401);
}
