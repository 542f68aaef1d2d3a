//! The Identity management APIs: API keys, service IDs, trusted profiles.

use serde_json::{Value, json};

use crate::common::*;

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("text");
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        },
    )
}

#[tokio::test]
async fn apikey_lifecycle() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, BOOKS_KEY).await;
    let sid = format!("iam-{BOOKS_SID}");

    let (status, created) = send(
        c.post(format!("{url}/v1/apikeys"))
            .bearer_auth(&token)
            .json(&json!({"name": "ci-key", "iam_id": sid, "description": "for CI"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let value = created["apikey"].as_str().expect("value").to_owned();
    assert!(value.len() >= 32);
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("ApiKey-"));
    assert_eq!(created["account_id"], ACCOUNT);
    assert_eq!(
        created["crn"],
        format!("crn:v1:bluemix:public:iam-identity::a/{ACCOUNT}::apikey:{id}")
    );
    assert!(created["context"]["transaction_id"].is_string());

    // The new key works at the token endpoint.
    let t = claims(&access_token(&c, url, &value).await);
    assert_eq!(t["iam_id"], sid);

    // Listed, fetched by id and by value, without the value.
    let (status, list) = send(
        c.get(format!(
            "{url}/v1/apikeys?account_id={ACCOUNT}&iam_id={sid}"
        ))
        .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["apikeys"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(
        names.contains(&"ci-key") && names.contains(&"books-backend-key"),
        "{names:?}"
    );
    assert!(
        list["apikeys"]
            .as_array()
            .expect("list")
            .iter()
            .all(|k| k["apikey"] == ""),
        "values are not listed"
    );
    let (status, one) = send(c.get(format!("{url}/v1/apikeys/{id}")).bearer_auth(&token)).await;
    assert_eq!((status, one["name"].as_str()), (200, Some("ci-key")));
    let (status, details) = send(
        c.get(format!("{url}/v1/apikeys/details"))
            .bearer_auth(&token)
            .header("IAM-ApiKey", &value),
    )
    .await;
    assert_eq!((status, details["id"].as_str()), (200, Some(id.as_str())));

    // Lock blocks deletion; disable blocks login.
    assert_eq!(
        send(
            c.post(format!("{url}/v1/apikeys/{id}/lock"))
                .bearer_auth(&token)
        )
        .await
        .0,
        204
    );
    let (status, err) = send(
        c.delete(format!("{url}/v1/apikeys/{id}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(
        send(
            c.delete(format!("{url}/v1/apikeys/{id}/lock"))
                .bearer_auth(&token)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        send(
            c.post(format!("{url}/v1/apikeys/{id}/disable"))
                .bearer_auth(&token)
        )
        .await
        .0,
        204
    );
    let resp = token_request(&c, url, &[("grant_type", APIKEY_GRANT), ("apikey", &value)]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        send(
            c.delete(format!("{url}/v1/apikeys/{id}/disable"))
                .bearer_auth(&token)
        )
        .await
        .0,
        204
    );

    // Delete: 204, then the key is gone everywhere.
    let (status, body) = send(
        c.delete(format!("{url}/v1/apikeys/{id}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let resp = token_request(&c, url, &[("grant_type", APIKEY_GRANT), ("apikey", &value)]).await;
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["errorCode"], "BXNIM0415E");
    let (status, err) = send(c.get(format!("{url}/v1/apikeys/{id}")).bearer_auth(&token)).await;
    assert_eq!(status, 404);
    assert_eq!(err["errors"][0]["code"], "not_found");
    assert_eq!(err["errors"][0]["message_code"], "BXNIM0102E");
    assert_eq!(err["status_code"], 404);
    assert!(err["trace"].is_string());
}

#[tokio::test]
async fn callers_are_authenticated_and_confined_to_their_account() {
    let (emu, c) = start().await;
    let url = emu.url();
    let (status, err) = send(c.get(format!("{url}/v1/serviceids/"))).await;
    assert_eq!(status, 401);
    assert_eq!(err["errors"][0]["code"], "invalid_access_token");
    assert_eq!(
        send(
            c.get(format!("{url}/v1/serviceids/"))
                .bearer_auth("not.a.token")
        )
        .await
        .0,
        401
    );

    // The default-account service ID cannot act in the seeded account.
    let other = access_token(&c, url, CLI_KEY).await;
    let (status, err) = send(
        c.get(format!("{url}/v1/serviceids/?account_id={ACCOUNT}"))
            .bearer_auth(&other),
    )
    .await;
    assert_eq!(status, 403, "{err}");
    let (status, _) = send(
        c.post(format!("{url}/v1/apikeys"))
            .bearer_auth(&other)
            .json(&json!({"name": "x", "iam_id": format!("iam-{BOOKS_SID}")})),
    )
    .await;
    assert_eq!(status, 403);

    // The token may come without the Bearer prefix (IAM accepts both).
    let own = access_token(&c, url, BOOKS_KEY).await;
    let (status, _) = send(
        c.get(format!("{url}/v1/serviceids/"))
            .header("Authorization", own),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_bodies_get_iam_shaped_errors() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, BOOKS_KEY).await;
    let cases = [
        (
            c.post(format!("{url}/v1/apikeys"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{nope"),
            400,
        ),
        (
            c.post(format!("{url}/v1/apikeys"))
                .bearer_auth(&token)
                .json(&json!({"name": 5, "iam_id": "x"})),
            400,
        ),
        (
            c.post(format!("{url}/v1/apikeys"))
                .bearer_auth(&token)
                .json(&json!({"name": "x"})),
            400,
        ),
        (
            c.post(format!("{url}/v1/apikeys"))
                .bearer_auth(&token)
                .body("name=x"),
            415,
        ),
        (
            c.post(format!("{url}/v1/apikeys"))
                .bearer_auth(&token)
                .json(&json!({"name": "x", "iam_id": "iam-ServiceId-none"})),
            404,
        ),
        (
            c.post(format!("{url}/v1/apikeys"))
                .bearer_auth(&token)
                .json(
                    &json!({"name": "x", "iam_id": format!("iam-{BOOKS_SID}"), "apikey": "short"}),
                ),
            400,
        ),
        (
            c.post(format!("{url}/v1/serviceids/"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(vec![b' '; 80 * 1024]),
            413,
        ),
        (
            c.get(format!("{url}/v1/apikeys?pagesize=1000"))
                .bearer_auth(&token),
            400,
        ),
        (
            c.get(format!("{url}/v1/nothing-here")).bearer_auth(&token),
            404,
        ),
    ];
    for (req, want) in cases {
        let (status, body) = send(req).await;
        assert_eq!(status, want, "{body}");
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        assert_eq!(body["status_code"], want);
    }
}

#[tokio::test]
async fn service_ids_with_inline_keys_and_pagination() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, BOOKS_KEY).await;
    let (status, sid) = send(
        c.post(format!("{url}/v1/serviceids/"))
            .bearer_auth(&token)
            .json(
                &json!({"account_id": ACCOUNT, "name": "worker", "apikey": {"name": "worker-key"}}),
            ),
    )
    .await;
    assert_eq!(status, 201, "{sid}");
    let id = sid["id"].as_str().expect("id");
    assert_eq!(sid["iam_id"], format!("iam-{id}"));
    let value = sid["apikey"]["apikey"].as_str().expect("inline key value");
    let t = claims(&access_token(&c, url, value).await);
    assert_eq!(t["sub"], id);

    for i in 0..3 {
        let (status, _) = send(
            c.post(format!("{url}/v1/serviceids"))
                .bearer_auth(&token)
                .json(&json!({"account_id": ACCOUNT, "name": format!("extra-{i}")})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (_, page1) = send(
        c.get(format!(
            "{url}/v1/serviceids/?account_id={ACCOUNT}&pagesize=2"
        ))
        .bearer_auth(&token),
    )
    .await;
    assert_eq!(page1["serviceids"].as_array().expect("list").len(), 2);
    let next = page1["next"].as_str().expect("next link");
    let token_param = next
        .split("pagetoken=")
        .nth(1)
        .expect("pagetoken")
        .split('&')
        .next()
        .expect("value");
    let (_, page2) = send(
        c.get(format!(
            "{url}/v1/serviceids/?account_id={ACCOUNT}&pagesize=2&pagetoken={token_param}"
        ))
        .bearer_auth(&token),
    )
    .await;
    assert_eq!(page2["serviceids"].as_array().expect("list").len(), 2);
    let (_, page3) = send(
        c.get(format!(
            "{url}/v1/serviceids/?account_id={ACCOUNT}&pagesize=2&pagetoken=4"
        ))
        .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        page3["serviceids"].as_array().expect("list").len(),
        1,
        "5 service IDs in all"
    );
    assert!(page3.get("next").is_none());

    // Deleting a service ID deletes its keys.
    assert_eq!(
        send(
            c.delete(format!("{url}/v1/serviceids/{id}"))
                .bearer_auth(&token)
        )
        .await
        .0,
        204
    );
    let resp = token_request(&c, url, &[("grant_type", APIKEY_GRANT), ("apikey", value)]).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn profiles_rules_and_identities_drive_the_grants() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, BOOKS_KEY).await;
    let (status, p) = send(
        c.post(format!("{url}/v1/profiles"))
            .bearer_auth(&token)
            .json(&json!({"name": "vsi-workload", "account_id": ACCOUNT})),
    )
    .await;
    assert_eq!(status, 201, "{p}");
    let id = p["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("Profile-"));
    let (status, _) = send(
        c.post(format!("{url}/v1/profiles"))
            .bearer_auth(&token)
            .json(&json!({"name": "vsi-workload", "account_id": ACCOUNT})),
    )
    .await;
    assert_eq!(status, 409, "names are unique in an account");

    let cr = control(
        &c,
        url,
        "cr-tokens",
        json!({"claims": {"instance_id": "vsi-1", "cr_type": "VSI"}}),
    )
    .await;
    let cr = cr["cr_token"].as_str().expect("cr").to_owned();
    let grant = [
        ("grant_type", "urn:ibm:params:oauth:grant-type:cr-token"),
        ("cr_token", cr.as_str()),
        ("profile_id", id.as_str()),
    ];
    assert_eq!(
        token_request(&c, url, &grant).await.status(),
        400,
        "no rule yet"
    );

    let (status, rule) = send(
        c.post(format!("{url}/v1/profiles/{id}/rules"))
            .bearer_auth(&token)
            .json(&json!({"type": "Profile-CR", "cr_type": "VSI", "conditions": [{"claim": "instance_id", "operator": "EQUALS", "value": "\"vsi-1\""}]})),
    )
    .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(
        token_request(&c, url, &grant).await.status(),
        200,
        "the rule now trusts the VSI"
    );
    let (_, rules) = send(
        c.get(format!("{url}/v1/profiles/{id}/rules"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(rules["rules"].as_array().expect("rules").len(), 1);

    // Trusted identities for the assume grant.
    let alice = access_token(&c, url, ALICE_KEY).await;
    let assume = [
        ("grant_type", "urn:ibm:params:oauth:grant-type:assume"),
        ("access_token", alice.as_str()),
        ("profile_id", id.as_str()),
    ];
    assert_eq!(token_request(&c, url, &assume).await.status(), 400);
    let (status, ids) = send(
        c.put(format!("{url}/v1/profiles/{id}/identities"))
            .bearer_auth(&token)
            .json(&json!({"identities": [{"iam_id": ALICE, "type": "user"}]})),
    )
    .await;
    assert_eq!(status, 200, "{ids}");
    assert_eq!(token_request(&c, url, &assume).await.status(), 200);

    let (_, list) = send(
        c.get(format!("{url}/v1/profiles?account_id={ACCOUNT}"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(list["profiles"].as_array().expect("profiles").len(), 2);
    assert_eq!(
        send(
            c.delete(format!("{url}/v1/profiles/{id}"))
                .bearer_auth(&token)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        send(c.get(format!("{url}/v1/profiles/{id}")).bearer_auth(&token))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_service_id_whose_inline_key_is_refused_is_not_created() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, BOOKS_KEY).await;
    let names = |list: &Value| -> Vec<String> {
        list["serviceids"]
            .as_array()
            .expect("list")
            .iter()
            .map(|s| s["name"].as_str().expect("name").to_owned())
            .collect()
    };
    let list = format!("{url}/v1/serviceids/?account_id={ACCOUNT}&pagesize=100");
    let (_, before) = send(c.get(&list).bearer_auth(&token)).await;
    // The inline key reuses a value in use: the service ID is made first, then the key is
    // refused, and the whole change must be undone.
    let (status, err) = send(
        c.post(format!("{url}/v1/serviceids/"))
            .bearer_auth(&token)
            .json(&json!({
                "account_id": ACCOUNT,
                "name": "half-made",
                "apikey": {"name": "dup", "apikey": BOOKS_KEY},
            })),
    )
    .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["status_code"], 409);
    let (_, after) = send(c.get(&list).bearer_auth(&token)).await;
    assert!(!names(&after).contains(&"half-made".to_owned()), "{after}");
    assert_eq!(names(&after), names(&before));
}
