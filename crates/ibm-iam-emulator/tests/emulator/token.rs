//! The token endpoint: every grant, IAM's success and error shapes, hostile forms.

use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn apikey_grant_returns_iams_body_and_a_verifiable_token() {
    let (emu, c) = start().await;
    let resp = c
        .post(format!("{}/identity/token", emu.url()))
        .header("Transaction-Id", "my-trace-123")
        .form(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", BOOKS_KEY),
            ("response_type", "cloud_iam"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["transaction-id"], "my-trace-123");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.expect("json");
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "access_token",
            "expiration",
            "expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "ibm openid");
    assert_eq!(
        body["refresh_token"], "not_supported",
        "no client header, no refresh token"
    );

    let token = body["access_token"].as_str().expect("token");
    let h = header(token);
    assert_eq!(
        h.as_object().expect("header").len(),
        2,
        "header is exactly kid and alg: {h}"
    );
    assert_eq!(h["alg"], "RS256");
    let c2 = claims(token);
    assert_eq!(c2["iam_id"], format!("iam-{BOOKS_SID}"));
    assert_eq!(c2["sub"], BOOKS_SID);
    assert_eq!(c2["sub_type"], "ServiceId");
    assert_eq!(c2["realmid"], "iam");
    assert_eq!(c2["account"]["bss"], ACCOUNT);
    assert_eq!(c2["iss"], "https://iam.cloud.ibm.com/identity");
    assert_eq!(c2["grant_type"], APIKEY_GRANT);
    assert_eq!(c2["client_id"], "default");
    assert_eq!(c2["exp"], body["expiration"]);
    assert_eq!(
        c2["exp"].as_i64().expect("exp") - c2["iat"].as_i64().expect("iat"),
        3600
    );
    assert!(c2.get("aud").is_none());
    assert!(verify_with_published_keys(&c, emu.url(), token).await);
}

#[tokio::test]
async fn legacy_oidc_path_and_the_seed_clients_form() {
    let (emu, c) = start().await;
    // Exactly what ibmcloud-iam 0.1.7 (redstone) sends.
    let resp = c
        .post(format!("{}/oidc/token", emu.url()))
        .header("Authorization", "Basic Yng6Yng=")
        .header("Accept", "application/json")
        .form(&[
            ("response_type", "cloud_iam"),
            ("uaa_client_id", "cf"),
            ("uaa_client_secret", ""),
            ("grant_type", APIKEY_GRANT),
            ("apikey", ALICE_KEY),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    let token = claims(body["access_token"].as_str().expect("token"));
    assert_eq!(token["iam_id"], ALICE);
    assert_eq!(token["realmid"], "IBMid");
    assert_eq!(token["sub"], "alice@example.com");
    assert!(token.get("sub_type").is_none());
    assert_eq!(token["client_id"], "bx");
    assert_ne!(
        body["refresh_token"], "not_supported",
        "a client header yields a refresh token"
    );
}

#[tokio::test]
async fn unknown_apikey_is_bxnim0415e_with_context_and_no_echo() {
    let (emu, c) = start().await;
    let secret = "not-a-key-but-should-never-be-echoed-0123";
    let resp = token_request(
        &c,
        emu.url(),
        &[("grant_type", APIKEY_GRANT), ("apikey", secret)],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let txid = resp.headers()["transaction-id"]
        .to_str()
        .expect("txid")
        .to_owned();
    let text = resp.text().await.expect("text");
    assert!(
        !text.contains(secret),
        "the API key must not be echoed: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["errorCode"], "BXNIM0415E");
    assert_eq!(body["errorMessage"], "Provided API key could not be found");
    assert_eq!(body["context"]["requestId"], txid);
    assert_eq!(body["context"]["requestType"], "incoming.Identity_Token");
    assert_eq!(
        body["context"]["clientIp"], "127.0.0.1",
        "§1.5 lists clientIp"
    );
    for field in [
        "userAgent",
        "clientIp",
        "instanceId",
        "threadId",
        "host",
        "startTime",
        "endTime",
        "elapsedTime",
        "locale",
    ] {
        assert!(
            body["context"][field].is_string(),
            "context.{field} must be a string: {body}"
        );
    }
}

#[tokio::test]
async fn hostile_and_malformed_forms_get_iam_shaped_4xx() {
    let (emu, c) = start().await;
    let url = format!("{}/identity/token", emu.url());
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(&url).form(&[("apikey", BOOKS_KEY)]),
            400,
            "grant_type",
        ),
        (
            c.post(&url).form(&[("grant_type", APIKEY_GRANT)]),
            400,
            "apikey",
        ),
        (
            c.post(&url).form(&[("grant_type", "client_credentials")]),
            400,
            "grant_type",
        ),
        (
            c.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type={APIKEY_GRANT}&apikey=a&apikey=b")),
            400,
            "apikey",
        ),
        (
            c.post(&url).form(&[
                ("grant_type", APIKEY_GRANT),
                ("apikey", BOOKS_KEY),
                ("response_type", "uaa"),
            ]),
            400,
            "response_type",
        ),
        (
            c.post(&url).json(&json!({"grant_type": APIKEY_GRANT})),
            415,
            "Content-Type",
        ),
        (c.post(&url).body("grant_type=x"), 415, "Content-Type"),
        (
            c.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![b'a'; 70 * 1024]),
            413,
            "larger",
        ),
        (
            c.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![0xff, 0xfe, b'=', 0x00, b'&', b'%', b'z']),
            400,
            "grant_type",
        ),
        (
            c.post(&url)
                .header("Authorization", "Basic not-base64!")
                .form(&[("grant_type", APIKEY_GRANT), ("apikey", BOOKS_KEY)]),
            400,
            "Basic",
        ),
    ];
    for (req, status, needle) in cases {
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.expect("IAM-shaped JSON");
        let message = body["errorMessage"].as_str().expect("errorMessage");
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
        assert!(
            body["errorCode"]
                .as_str()
                .expect("code")
                .starts_with("BXNIM"),
            "{body}"
        );
    }
    // The emulator is still healthy afterwards.
    access_token(&c, emu.url(), BOOKS_KEY).await;
}

/// Sends `head` (a request head without its final blank line) over a raw connection, in
/// writes of `chunk` bytes, and returns the whole answer.
async fn raw_request(addr: std::net::SocketAddr, head: &[u8], chunk: usize) -> String {
    let mut req = head.to_vec();
    req.extend_from_slice(b"Connection: close\r\nContent-Length: 0\r\n\r\n");
    let (answer, read) = raw_exchange(addr, &req, chunk).await;
    read.expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn huge_headers_are_refused_without_harm() {
    let (emu, c) = start().await;
    let big = |kib: usize| {
        let mut h = b"POST /identity/token HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        h.extend(std::iter::repeat_n(b'a', kib * 1024));
        h.extend_from_slice(b"\r\n");
        h
    };
    let many = {
        let mut h = b"POST /identity/token HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..150 {
            h.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        h
    };
    // Sizes on both sides of the HTTP layer's old 64 KiB buffer, written at once and in small
    // pieces (which used to get hyper's bodiless 431), and many small header fields.
    for (what, head, chunk) in [
        ("40 KiB at once", big(40), usize::MAX),
        ("100 KiB at once", big(100), usize::MAX),
        ("100 KiB in 1 KiB writes", big(100), 1024),
        ("400 KiB in 4 KiB writes", big(400), 4096),
        ("150 header fields", many, 512),
    ] {
        let answer = raw_request(emu.addr(), &head, chunk).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{what}: {answer:.200}");
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let body: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{what}: not IAM-shaped ({e}): {answer:.300}"));
        assert_eq!(body["status_code"], 431, "{what}");
        assert_eq!(
            body["errors"][0]["code"], "request_header_fields_too_large",
            "{what}"
        );
    }
    // reqwest too, and the emulator is unharmed.
    let resp = c
        .post(format!("{}/identity/token", emu.url()))
        .header("x-big", "a".repeat(100 * 1024))
        .form(&[("grant_type", APIKEY_GRANT), ("apikey", BOOKS_KEY)])
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status(), 431);
    let body: Value = resp.json().await.expect("IAM-shaped");
    assert_eq!(body["status_code"], 431);
    access_token(&c, emu.url(), BOOKS_KEY).await;
}

#[tokio::test]
async fn refresh_tokens_need_the_client_that_got_them() {
    let (emu, c) = start().await;
    let url = format!("{}/identity/token", emu.url());
    let first: Value = c
        .post(&url)
        .basic_auth("my-client", Some("my-secret"))
        .form(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", ALICE_KEY),
            ("scope", "ibm openid books"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    assert_eq!(
        claims(first["access_token"].as_str().expect("at"))["client_id"],
        "my-client"
    );

    let refreshed = c
        .post(&url)
        .basic_auth("my-client", Some("my-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(refreshed.status(), 200);
    let body: Value = refreshed.json().await.expect("json");
    let at = claims(body["access_token"].as_str().expect("at"));
    assert_eq!(at["grant_type"], "refresh_token");
    assert_eq!(at["iam_id"], ALICE);
    assert_eq!(at["scope"], "ibm openid books", "scope carries over");

    for (client, code) in [(None, "BXNIM0407E"), (Some("other-client"), "BXNIM0407E")] {
        let mut req = c.post(&url);
        if let Some(id) = client {
            req = req.basic_auth(id, Some("x"));
        }
        let resp = req
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ])
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["errorCode"], code, "{body}");
    }
    // "not_supported" is not a refresh token.
    let resp = c
        .post(&url)
        .basic_auth("bx", Some("bx"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not_supported"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    // An access token is not a refresh token either.
    let at = access_token(&c, emu.url(), ALICE_KEY).await;
    let resp = c
        .post(&url)
        .basic_auth("my-client", Some("my-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", at.as_str()),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);

    // Three days later the refresh token has expired.
    control(
        &c,
        emu.url(),
        "clock",
        json!({"advance_seconds": 3 * 86_400 + 1}),
    )
    .await;
    let resp = c
        .post(&url)
        .basic_auth("my-client", Some("my-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("send");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errorCode"], "BXNIM0408E", "{body}");
}

#[tokio::test]
async fn password_grant_needs_a_client_and_the_right_password() {
    let (emu, c) = start().await;
    let url = format!("{}/identity/token", emu.url());
    let form = |pw: &'static str| {
        vec![
            ("grant_type", "password"),
            ("username", "alice@example.com"),
            ("password", pw),
        ]
    };
    let no_client: Value = c
        .post(&url)
        .form(&form("alice-password-change-me"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(no_client["errorCode"], "BXNIM0308E");
    let wrong: Value = c
        .post(&url)
        .basic_auth("bx", Some("bx"))
        .form(&form("nope"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(wrong["errorCode"], "BXNIM0602E");
    let ok: Value = c
        .post(&url)
        .basic_auth("bx", Some("bx"))
        .form(&form("alice-password-change-me"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let at = claims(ok["access_token"].as_str().expect("token"));
    assert_eq!(at["iam_id"], ALICE);
    assert_eq!(at["grant_type"], "password");
}

#[tokio::test]
async fn cr_token_grant_checks_the_profiles_trust_rules() {
    let (emu, c) = start().await;
    let books = control(
        &c,
        emu.url(),
        "cr-tokens",
        json!({"claims": {"namespace": "books"}}),
    )
    .await;
    let other = control(
        &c,
        emu.url(),
        "cr-tokens",
        json!({"claims": {"namespace": "other"}}),
    )
    .await;
    let grant = "urn:ibm:params:oauth:grant-type:cr-token";

    for selector in [("profile_id", PROFILE), ("profile_name", "books-workload")] {
        let resp = token_request(
            &c,
            emu.url(),
            &[
                ("grant_type", grant),
                ("cr_token", books["cr_token"].as_str().expect("cr")),
                selector,
            ],
        )
        .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        assert!(
            body.get("refresh_token").is_none(),
            "no refresh token for cr-token: {body}"
        );
        let at = claims(body["access_token"].as_str().expect("at"));
        assert_eq!(at["iam_id"], format!("iam-{PROFILE}"));
        assert_eq!(at["sub_type"], "Profile");
        assert_eq!(at["grant_type"], grant);
    }
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("cr_token", other["cr_token"].as_str().expect("cr")),
            ("profile_id", PROFILE),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errorCode"], "IAMEMU0403E");

    // A forged CR token (payload swapped) is refused.
    let good = books["cr_token"].as_str().expect("cr");
    let bad_payload = other["cr_token"]
        .as_str()
        .expect("cr")
        .split('.')
        .nth(1)
        .expect("payload");
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], bad_payload, parts[2]);
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("cr_token", &forged),
            ("profile_id", PROFILE),
        ],
    )
    .await;
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errorCode"], "BXNIM0407E");

    // Selectors that disagree, or name nothing.
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("cr_token", good),
            ("profile_id", PROFILE),
            ("profile_name", "nope"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = token_request(&c, emu.url(), &[("grant_type", grant), ("cr_token", good)]).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn assume_grant_honours_trusted_identities_and_never_outlives_the_source() {
    let (emu, c) = start().await;
    let grant = "urn:ibm:params:oauth:grant-type:assume";
    let alice = access_token(&c, emu.url(), ALICE_KEY).await;
    control(&c, emu.url(), "clock", json!({"advance_seconds": 600})).await;
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("access_token", &alice),
            ("profile_id", PROFILE),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    let at = claims(body["access_token"].as_str().expect("at"));
    assert_eq!(at["iam_id"], format!("iam-{PROFILE}"));
    assert_eq!(at["authn"]["iam_id"], ALICE, "authn names who assumed");
    assert_eq!(
        at["exp"],
        claims(&alice)["exp"],
        "bounded by the source token"
    );
    assert!(body.get("refresh_token").is_none());

    // profile_name needs the account.
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("access_token", &alice),
            ("profile_name", "books-workload"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("access_token", &alice),
            ("profile_name", "books-workload"),
            ("account", ACCOUNT),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);

    // The service ID is not a trusted identity of the profile.
    let books = access_token(&c, emu.url(), BOOKS_KEY).await;
    let resp = token_request(
        &c,
        emu.url(),
        &[
            ("grant_type", grant),
            ("access_token", &books),
            ("profile_id", PROFILE),
        ],
    )
    .await;
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errorCode"], "IAMEMU0403E");
}

#[tokio::test]
async fn concurrent_requests_are_all_served_and_counted() {
    let (emu, c) = start().await;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let c = c.clone();
            let url = emu.url().to_owned();
            tokio::spawn(async move {
                let key = if i % 2 == 0 { BOOKS_KEY } else { ALICE_KEY };
                access_token(&c, &url, key).await
            })
        })
        .collect();
    let mut jtis = std::collections::HashSet::new();
    for t in tasks {
        let token = t.await.expect("task");
        jtis.insert(claims(&token)["jti"].as_str().expect("jti").to_owned());
    }
    assert_eq!(jtis.len(), 100, "every token is distinct");
    assert_eq!(count(&c, emu.url(), "/identity/token").await, 100);
}

#[tokio::test]
async fn token_lifetime_and_clock_are_controllable() {
    let (emu, c) = start().await;
    let resp = c
        .put(format!("{}/_emulator/token-lifetime", emu.url()))
        .json(&json!({"seconds": 300}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let before = claims(&access_token(&c, emu.url(), BOOKS_KEY).await);
    assert_eq!(
        before["exp"].as_i64().expect("exp") - before["iat"].as_i64().expect("iat"),
        300
    );
    control(&c, emu.url(), "clock", json!({"advance_seconds": 7200})).await;
    let after = claims(&access_token(&c, emu.url(), BOOKS_KEY).await);
    assert!(after["iat"].as_i64().expect("iat") >= before["iat"].as_i64().expect("iat") + 7200);
    let bad = c
        .put(format!("{}/_emulator/token-lifetime", emu.url()))
        .json(&json!({"seconds": 5}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn issuer_is_configurable_and_announced() {
    let emu = builder()
        .issuer("https://iam.example.test/identity")
        .start()
        .await
        .expect("start");
    let c = client();
    let at = claims(&access_token(&c, emu.url(), BOOKS_KEY).await);
    assert_eq!(at["iss"], "https://iam.example.test/identity");
    let doc: Value = c
        .get(format!(
            "{}/identity/.well-known/openid-configuration",
            emu.url()
        ))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["issuer"], "https://iam.example.test/identity");
    assert_eq!(doc["jwks_uri"], format!("{}/identity/keys", emu.url()));
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/identity/token", emu.url())
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
}

#[tokio::test]
async fn iam_authz_grant_mints_crn_identity_tokens_for_delegates() {
    let (emu, c) = start().await;
    let url = emu.url();
    let delegate = access_token(&c, url, BOOKS_KEY).await;
    let desired = format!("crn-{BROKER_CRN}");
    let resp = token_request(
        &c,
        url,
        &[
            ("grant_type", IAM_AUTHZ_GRANT),
            ("access_token", delegate.as_str()),
            ("desired_iam_id", desired.as_str()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().expect("access_token");
    assert!(verify_with_published_keys(&c, url, token).await);
    assert_eq!(
        header(token),
        json!({"kid": header(token)["kid"], "alg": "RS256"})
    );
    let cl = claims(token);
    // The claims of IAM's documented iam-authz example (wire reference §2.2).
    let mut names: Vec<&str> = cl
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    let mut expected = [
        "iam_id",
        "id",
        "realmid",
        "jti",
        "identifier",
        "sub",
        "sub_type",
        "authn",
        "account",
        "iat",
        "exp",
        "iss",
        "grant_type",
        "scope",
        "client_id",
        "acr",
        "amr",
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(cl["iam_id"], desired);
    assert_eq!(cl["id"], desired);
    assert_eq!(cl["realmid"], "crn");
    assert_eq!(cl["identifier"], BROKER_CRN);
    assert_eq!(cl["sub"], BROKER_CRN);
    assert_eq!(cl["sub_type"], "CRN");
    assert_eq!(
        cl["authn"],
        json!({"sub": BROKER_CRN, "iam_id": desired, "sub_type": "CRN"})
    );
    assert_eq!(
        cl["account"],
        json!({"valid": true, "bss": ACCOUNT, "frozen": true})
    );
    assert_eq!(cl["iss"], "https://iam.cloud.ibm.com/identity");
    assert_eq!(cl["grant_type"], IAM_AUTHZ_GRANT);
    assert_eq!(cl["scope"], "ibm openid resource-controller");
    assert_eq!(cl["client_id"], "resource-controller");
    assert_eq!(cl["acr"], 0);
    assert_eq!(cl["amr"], json!([]));
    let lifetime = cl["exp"].as_i64().expect("exp") - cl["iat"].as_i64().expect("iat");
    assert!((1..=1800).contains(&lifetime), "{lifetime}");
    assert_eq!(body["expires_in"], lifetime);

    // The CRN identity's token is a valid caller of the PDP.
    let (status, answer) = authz(
        &c,
        url,
        token,
        json!([item(
            &books_iam_id(),
            "books.book.read",
            &books_crn("shelf-1")
        )]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    // A scope parameter and a Basic client are honoured.
    let resp = c
        .post(format!("{url}/identity/token"))
        .basic_auth("my-broker-client", Some("s"))
        .form(&[
            ("grant_type", IAM_AUTHZ_GRANT),
            ("access_token", delegate.as_str()),
            ("desired_iam_id", desired.as_str()),
            ("scope", "ibm openid books"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let cl = claims(
        resp.json::<Value>().await.expect("json")["access_token"]
            .as_str()
            .expect("at"),
    );
    assert_eq!(cl["scope"], "ibm openid books");
    assert_eq!(cl["client_id"], "my-broker-client");

    // Refusals, each in IAM's token error shape.
    let alice = access_token(&c, url, ALICE_KEY).await;
    for (form, code) in [
        (
            vec![
                ("access_token", alice.as_str()),
                ("desired_iam_id", desired.as_str()),
            ],
            "IAMEMU0403E",
        ),
        (
            vec![
                ("access_token", delegate.as_str()),
                ("desired_iam_id", BROKER_CRN),
            ],
            "BXNIM0106E",
        ),
        (
            vec![
                ("access_token", delegate.as_str()),
                (
                    "desired_iam_id",
                    "crn-crn:v1:bluemix:public:books::a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e::x:y",
                ),
            ],
            "BXNIM0102E",
        ),
        (
            vec![
                ("access_token", "not.a.token"),
                ("desired_iam_id", desired.as_str()),
            ],
            "BXNIM0407E",
        ),
        (vec![("desired_iam_id", desired.as_str())], "BXNIM0106E"),
        (vec![("access_token", delegate.as_str())], "BXNIM0106E"),
    ] {
        let mut form = form;
        form.push(("grant_type", IAM_AUTHZ_GRANT));
        let resp = token_request(&c, url, &form).await;
        assert_eq!(resp.status(), 400, "{form:?}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["errorCode"], code, "{body}");
        assert!(body["context"]["requestId"].is_string(), "{body}");
    }
}
