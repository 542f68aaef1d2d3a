//! Fault injection and counters through the control API.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

fn token_form() -> [(&'static str, &'static str); 2] {
    [("grant_type", APIKEY_GRANT), ("apikey", BOOKS_KEY)]
}

#[tokio::test]
async fn status_faults_for_the_next_n_requests_then_recovery() {
    let (emu, c) = start().await;
    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/token", "status": 429, "retry_after": 7, "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let resp = token_request(&c, emu.url(), &token_form()).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        let body: Value = resp.json().await.expect("IAM-shaped");
        assert!(
            body["errorCode"].is_string() && body["context"]["requestId"].is_string(),
            "{body}"
        );
    }
    let resp = token_request(&c, emu.url(), &token_form()).await;
    assert_eq!(resp.status(), 200, "the fault retires after two requests");
    assert_eq!(
        count(&c, emu.url(), "/identity/token").await,
        3,
        "faulted requests count too"
    );

    // Other endpoints were never affected; a 503 on the API routes uses the API shape.
    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/keys", "status": 503, "count": 1}),
    )
    .await;
    let resp = c
        .get(format!("{}/identity/keys", emu.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["status_code"], 503);
    assert!(body["errors"][0]["message"].is_string());
}

#[tokio::test]
async fn dropped_truncated_malformed_and_mislabelled_answers() {
    let (emu, c) = start().await;
    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/token", "action": "drop", "count": 1}),
    )
    .await;
    let err = c
        .post(format!("{}/identity/token", emu.url()))
        .form(&token_form())
        .send()
        .await
        .expect_err("the connection is closed without an answer");
    assert!(!err.is_status(), "{err}");

    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/token", "action": "truncated", "count": 1}),
    )
    .await;
    let resp = token_request(&c, emu.url(), &token_form()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "the body ends early");

    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/token", "action": "malformed", "count": 1}),
    )
    .await;
    let resp = token_request(&c, emu.url(), &token_form()).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.is_err(), "not valid JSON");

    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/token", "action": "wrong_content_type", "count": 1}),
    )
    .await;
    let resp = token_request(&c, emu.url(), &token_form()).await;
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");

    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/token", "action": "empty", "count": 1}),
    )
    .await;
    let resp = token_request(&c, emu.url(), &token_form()).await;
    assert!(resp.bytes().await.expect("body").is_empty());

    // All retired: a normal answer again.
    access_token(&c, emu.url(), BOOKS_KEY).await;
}

#[tokio::test]
async fn latency_and_listing_and_removal() {
    let (emu, c) = start().await;
    let fault = control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/keys", "latency_ms": 300}),
    )
    .await;
    let listed: Value = c
        .get(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["faults"][0]["id"], fault["id"]);
    let started = Instant::now();
    let resp = c
        .get(format!("{}/identity/keys", emu.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "latency alone still answers");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered no sooner than the delay"
    );
    let id = fault["id"].as_str().expect("id");
    let del = c
        .delete(format!("{}/_emulator/faults/{id}", emu.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(del.status(), 204);
    let del = c
        .delete(format!("{}/_emulator/faults/{id}", emu.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(del.status(), 404);

    let bad = c
        .post(format!("{}/_emulator/faults", emu.url()))
        .json(&json!({"status": 200}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
    let bad = c
        .post(format!("{}/_emulator/faults", emu.url()))
        .json(&json!({"statsu": 500}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn probability_faults_hit_a_fraction_and_counters_reset() {
    let (emu, c) = start().await;
    control(
        &c,
        emu.url(),
        "faults",
        json!({"path": "/identity/keys", "status": 500, "probability": 0.5}),
    )
    .await;
    let mut failed = 0;
    for _ in 0..200 {
        let resp = c
            .get(format!("{}/identity/keys", emu.url()))
            .send()
            .await
            .expect("send");
        if resp.status() == 500 {
            failed += 1;
        }
    }
    assert!((50..150).contains(&failed), "{failed} of 200");
    assert_eq!(count(&c, emu.url(), "/identity/keys").await, 200);
    let resp = c
        .delete(format!("{}/_emulator/counters", emu.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 204);
    assert_eq!(count(&c, emu.url(), "/identity/keys").await, 0);
    c.delete(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .expect("send");
    let resp = c
        .get(format!("{}/identity/keys", emu.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn app_behaves_like_the_server_under_axum_serve() {
    // The bare router, mounted in a server of the user's own.
    let state = ibm_iam_emulator::EmulatorState::new(ibm_iam_emulator::EmulatorOptions {
        seed: Some(seed()),
        ..ibm_iam_emulator::EmulatorOptions::default()
    })
    .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        axum::serve(listener, ibm_iam_emulator::app(state))
            .await
            .expect("serve");
    });
    let url = format!("http://{addr}");
    let c = client();

    // `//identity/token` (what IBM's Python SDK core sends for a base URL ending in `/`).
    let resp = c
        .post(format!("{url}//identity/token"))
        .form(&token_form())
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // A drop fault closes the connection without a byte of answer.
    control(
        &c,
        &url,
        "faults",
        json!({"path": "/identity/keys", "action": "drop", "count": 1}),
    )
    .await;
    // Every byte written before the connection closed, however it closed.
    let (answer, _) = raw_exchange(
        addr,
        b"GET /identity/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        usize::MAX,
    )
    .await;
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    // The fault is spent: an ordinary answer again.
    let resp = c
        .get(format!("{url}/identity/keys"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    server.abort();
}
