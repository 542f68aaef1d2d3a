//! Every error answer is in IAM's shape, including axum's own rejections, and faults apply
//! to error answers too.

use serde_json::{Value, json};

use crate::common::*;

async fn iam_error(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json",
        "status {status}"
    );
    assert!(resp.headers().contains_key("transaction-id"));
    let text = resp.text().await.expect("text");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    (status, body)
}

fn api_shaped(body: &Value, status: u16) {
    assert_eq!(body["status_code"], status, "{body}");
    assert!(body["trace"].is_string(), "{body}");
    assert!(body["errors"][0]["code"].is_string(), "{body}");
    assert!(
        !body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
}

#[tokio::test]
async fn a_wrong_method_is_an_iam_shaped_405_with_allow() {
    let (emu, c) = start().await;
    let url = emu.url();
    let resp = c
        .get(format!("{url}/identity/token"))
        .send()
        .await
        .expect("send");
    let allow = resp.headers()["allow"].to_str().expect("allow").to_owned();
    assert!(allow.contains("POST"), "{allow}");
    let (status, body) = iam_error(resp).await;
    assert_eq!(status, 405);
    assert_eq!(body["errorCode"], "IAMEMU0405E", "{body}");
    assert_eq!(body["context"]["url"], "/identity/token", "{body}");

    for (method, path) in [
        (reqwest::Method::DELETE, "/identity/keys"),
        (reqwest::Method::PUT, "/v2/authz"),
        (reqwest::Method::PATCH, "/v1/apikeys/ApiKey-1"),
        (reqwest::Method::POST, "/_emulator/counters"),
    ] {
        let resp = c
            .request(method.clone(), format!("{url}{path}"))
            .send()
            .await
            .expect("send");
        assert!(resp.headers().contains_key("allow"), "{method} {path}");
        let (status, body) = iam_error(resp).await;
        assert_eq!(status, 405, "{method} {path}");
        api_shaped(&body, 405);
        assert_eq!(body["errors"][0]["code"], "method_not_allowed");
    }
}

#[tokio::test]
async fn axums_query_and_path_rejections_are_iam_shaped() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, CLI_KEY).await;
    for path in [
        // A repeated query parameter.
        format!("/v1/apikeys?account_id={DEFAULT_ACCOUNT}&account_id={DEFAULT_ACCOUNT}"),
        format!("/v1/policies?account_id={DEFAULT_ACCOUNT}&account_id=x"),
        format!("/v2/groups?account_id={DEFAULT_ACCOUNT}&account_id=x"),
        // A path parameter that is not UTF-8 once decoded.
        "/v1/apikeys/%FF%FE".to_owned(),
        "/v2/policies/%C3%28".to_owned(),
        "/v1/serviceids/%80".to_owned(),
    ] {
        let resp = c
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        let (status, body) = iam_error(resp).await;
        assert_eq!(status, 400, "{path}: {body}");
        api_shaped(&body, 400);
        assert_eq!(body["errors"][0]["code"], "bad_request", "{path}");
    }
    // A repeated query parameter on a route with a path parameter too.
    let resp = c
        .delete(format!(
            "{url}/v2/groups/{LIBRARIANS}?force=true&force=false"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    let (status, body) = iam_error(resp).await;
    assert_eq!(status, 400, "{body}");
    api_shaped(&body, 400);
}

#[tokio::test]
async fn truncated_and_mislabelled_faults_apply_to_error_answers_too() {
    let (emu, c) = start().await;
    let url = emu.url();
    let unknown_key = [
        ("grant_type", APIKEY_GRANT),
        ("apikey", "no-such-key-0000000000"),
    ];

    control(
        &c,
        url,
        "faults",
        json!({"path": "/identity/token", "action": "truncated", "count": 1}),
    )
    .await;
    let resp = token_request(&c, url, &unknown_key).await;
    assert_eq!(resp.status(), 400);
    assert!(
        resp.bytes().await.is_err(),
        "the error answer is cut short like any other"
    );

    control(
        &c,
        url,
        "faults",
        json!({"path": "/identity/token", "action": "wrong_content_type", "count": 1}),
    )
    .await;
    let resp = token_request(&c, url, &unknown_key).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    assert_eq!(
        body["errorCode"], "BXNIM0415E",
        "the real answer, mislabelled"
    );

    // An API endpoint's error answer (401 without a token) is truncated as well.
    control(
        &c,
        url,
        "faults",
        json!({"path": "/v2/authz", "action": "truncated", "count": 1}),
    )
    .await;
    let resp = c
        .post(format!("{url}/v2/authz"))
        .json(&json!([]))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert!(resp.bytes().await.is_err());

    // Retired: the error answer is whole again.
    let resp = token_request(&c, url, &unknown_key).await;
    let (status, body) = iam_error(resp).await;
    assert_eq!(status, 400);
    assert_eq!(body["errorCode"], "BXNIM0415E");
}
