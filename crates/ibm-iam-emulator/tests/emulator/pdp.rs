//! The Policy Decision Point: `/v2/authz`, `/v2/authz/bulk`, `/v2/authz/roles`, decided
//! from the seed's and the API's policies.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn seeded_policies_decide_and_the_answer_has_iams_shape() {
    let (emu, c) = start().await;
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let books = books_iam_id();

    // Without the advanced-obligation header: only permitted and reason.
    let (status, body) = send_json(c.post(format!("{url}/v2/authz")).bearer_auth(&caller).json(
        &json!([{
            "subject": {"attributes": {"id": books, "scope": "ibm openid"}},
            "action": "books.book.read",
            "resource": {"crn": books_crn("shelf-1")},
            "requestId": "req-1",
        }]),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let r = &body["responses"][0];
    assert_eq!(r["status"], "200", "status is the string \"200\"");
    assert_eq!(r["requestId"], "req-1");
    assert_eq!(
        r["authorizationDecision"],
        json!({"permitted": true, "reason": ""})
    );
    assert!(body.get("cacheKeyPattern").is_none());

    // With it: the obligation and the cache key pattern.
    let (status, body) = authz(
        &c,
        url,
        &caller,
        json!([item(&books, "books.book.read", &books_crn("shelf-1"))]),
    )
    .await;
    assert_eq!(status, 200);
    let ob = &body["responses"][0]["authorizationDecision"]["obligation"];
    assert_eq!(
        ob["actions"],
        json!(["books.book.read", "books.dashboard.view"])
    );
    assert_eq!(ob["maxCacheAgeSeconds"], 600);
    assert_eq!(
        ob["subject"],
        json!({"attributes": {"id": books, "scope": "ibm openid"}})
    );
    assert_eq!(
        ob["resource"],
        json!({"attributes": {"serviceName": "books", "accountId": ACCOUNT}}),
        "the Reader policy is on the whole service, so the permit holds service-wide"
    );
    assert_eq!(ob["environment"], json!({}));
    assert_eq!(
        body["cacheKeyPattern"]["order"],
        json!(["subject", "resource", "action"])
    );
    assert_eq!(
        body["cacheKeyPattern"]["resource"].as_array().map(Vec::len),
        Some(6)
    );

    // Reader does not create; Alice (the owner) holds no books policy; nobody acts elsewhere.
    assert!(
        !permitted(
            &c,
            url,
            &caller,
            &books,
            "books.book.create",
            &books_crn("s")
        )
        .await
    );
    assert!(!permitted(&c, url, &caller, ALICE, "books.book.read", &books_crn("s")).await);
    let other_account =
        "crn:v1:bluemix:public:books:us-south:a/0000aaaa0000aaaa0000aaaa0000aaaa:s::";
    assert!(!permitted(&c, url, &caller, &books, "books.book.read", other_account).await);
    let deny = &authz(
        &c,
        url,
        &caller,
        json!([item(ALICE, "books.book.read", &books_crn("s"))]),
    )
    .await
    .1["responses"][0]["authorizationDecision"];
    assert_eq!(deny["permitted"], false);
    assert!(deny["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(
        deny.get("obligation").is_none(),
        "denies carry no obligation"
    );

    // The seeded group: the profile is a librarian (Writer).
    let profile = profile_iam_id();
    assert!(
        permitted(
            &c,
            url,
            &caller,
            &profile,
            "books.book.create",
            &books_crn("s")
        )
        .await
    );
    assert!(
        !permitted(
            &c,
            url,
            &caller,
            &profile,
            "books.book.delete",
            &books_crn("s")
        )
        .await
    );
}

#[tokio::test]
async fn a_policy_created_through_the_api_changes_decisions_at_once() {
    let (emu, c) = start().await;
    let url = emu.url();
    let alice = access_token(&c, url, ALICE_KEY).await;
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let shelf1 = books_crn("shelf-1");
    assert!(!permitted(&c, url, &caller, ALICE, "books.book.delete", &shelf1).await);

    // Alice, the account owner, makes herself Manager of one instance and Reader of all.
    let (status, manager) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            ALICE,
            &service_role("Manager"),
            &[
                ("serviceName", "stringEquals", "books"),
                ("serviceInstance", "stringEquals", "shelf-1"),
            ],
        ),
    )
    .await;
    assert_eq!(status, 201, "{manager}");
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            ALICE,
            &service_role("Reader"),
            &[("serviceName", "stringEquals", "books")],
        ),
    )
    .await;
    assert_eq!(status, 201);

    assert!(permitted(&c, url, &caller, ALICE, "books.book.delete", &shelf1).await);
    assert!(
        !permitted(
            &c,
            url,
            &caller,
            ALICE,
            "books.book.delete",
            &books_crn("shelf-2")
        )
        .await
    );
    assert!(
        permitted(
            &c,
            url,
            &caller,
            ALICE,
            "books.book.read",
            &books_crn("shelf-2")
        )
        .await
    );

    // obligation.actions: every action the roles grant at the matched scope.
    let (_, body) = authz(
        &c,
        url,
        &caller,
        json!([
            item(ALICE, "books.book.read", &shelf1),
            item(ALICE, "books.book.read", &books_crn("shelf-2"))
        ]),
    )
    .await;
    let on1 = &body["responses"][0]["authorizationDecision"]["obligation"];
    assert_eq!(
        on1["actions"],
        json!([
            "books.book.create",
            "books.book.delete",
            "books.book.read",
            "books.dashboard.view"
        ])
    );
    assert_eq!(
        on1["resource"]["attributes"],
        json!({"serviceName": "books", "accountId": ACCOUNT, "serviceInstance": "shelf-1"}),
        "the Manager grant holds for shelf-1 only, so the scope narrows to it"
    );
    let on2 = &body["responses"][1]["authorizationDecision"]["obligation"];
    assert_eq!(
        on2["actions"],
        json!(["books.book.read", "books.dashboard.view"])
    );

    // Deleting the policy takes the access away at once.
    let id = manager["id"].as_str().expect("id");
    let (status, _) = send_json(
        c.delete(format!("{url}/v1/policies/{id}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 204);
    assert!(!permitted(&c, url, &caller, ALICE, "books.book.delete", &shelf1).await);
}

#[tokio::test]
async fn group_membership_and_wildcards() {
    let (emu, c) = start().await;
    let url = emu.url();
    let alice = access_token(&c, url, ALICE_KEY).await;
    let caller = access_token(&c, url, BOOKS_KEY).await;

    let (status, group) = send_json(
        c.post(format!("{url}/v2/groups?account_id={ACCOUNT}"))
            .bearer_auth(&alice)
            .json(&json!({"name": "prod-editors", "description": "edit production shelves"})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().expect("id").to_owned();
    assert!(gid.starts_with("AccessGroupId-"));

    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        json!({
            "type": "access",
            "control": {"grant": {"roles": [{"role_id": service_role("Writer")}]}},
            "subject": {"attributes": [{"key": "access_group_id", "operator": "stringEquals", "value": gid}]},
            "resource": {"attributes": [
                {"key": "accountId", "operator": "stringEquals", "value": ACCOUNT},
                {"key": "serviceName", "operator": "stringEquals", "value": "books"},
                {"key": "serviceInstance", "operator": "stringMatch", "value": "prod-*"}]},
        }),
    )
    .await;
    assert_eq!(status, 201);
    let prod = books_crn("prod-eu");
    assert!(
        !permitted(&c, url, &caller, ALICE, "books.book.create", &prod).await,
        "not a member yet"
    );

    let (status, added) = send_json(
        c.put(format!("{url}/v2/groups/{gid}/members"))
            .bearer_auth(&alice)
            .json(&json!({"members": [{"iam_id": ALICE, "type": "user"}]})),
    )
    .await;
    assert_eq!(status, 207, "{added}");
    assert_eq!(added["members"][0]["status_code"], 200);
    assert!(permitted(&c, url, &caller, ALICE, "books.book.create", &prod).await);
    assert!(
        !permitted(
            &c,
            url,
            &caller,
            ALICE,
            "books.book.create",
            &books_crn("dev-eu")
        )
        .await,
        "wildcard"
    );
    assert!(
        !permitted(
            &c,
            url,
            &caller,
            ALICE,
            "books.book.create",
            &books_crn("prod")
        )
        .await,
        "prod-* needs the dash"
    );

    let (status, _) = send_json(
        c.delete(format!("{url}/v2/groups/{gid}/members/{ALICE}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 204);
    assert!(!permitted(&c, url, &caller, ALICE, "books.book.create", &prod).await);
}

#[tokio::test]
async fn time_conditions_follow_the_emulator_clock() {
    let (emu, c) = start().await;
    let url = emu.url();
    let now = emu.state().clock().now();
    let rfc3339 = |t: i64| {
        let ms = ibm_iam_emulator::civil::rfc3339_ms(t * 1000);
        format!("{}+00:00", &ms[..19])
    };
    let alice = access_token(&c, url, ALICE_KEY).await;
    let (status, body) = create_policy(
        &c,
        url,
        &alice,
        json!({
            "type": "access",
            "control": {"grant": {"roles": [{"role_id": platform_role("Viewer")}]}},
            "subject": {"attributes": [{"key": "iam_id", "operator": "stringEquals", "value": ALICE}]},
            "resource": {"attributes": [
                {"key": "accountId", "operator": "stringEquals", "value": ACCOUNT},
                {"key": "serviceName", "operator": "stringEquals", "value": "books"}]},
            "rule": {"operator": "and", "conditions": [
                {"key": "{{environment.attributes.current_date_time}}", "operator": "dateTimeGreaterThanOrEquals", "value": rfc3339(now + 3600)},
                {"key": "{{environment.attributes.current_date_time}}", "operator": "dateTimeLessThanOrEquals", "value": rfc3339(now + 7200)}]},
            "pattern": "time-based-conditions:once",
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["rule"]["conditions"][0]["operator"],
        "dateTimeGreaterThanOrEquals"
    );
    let crn = books_crn("s");
    let caller = access_token(&c, url, BOOKS_KEY).await;
    assert!(
        !permitted(&c, url, &caller, ALICE, "books.dashboard.view", &crn).await,
        "not yet"
    );

    control(&c, url, "clock", json!({"advance_seconds": 3600 + 3000})).await;
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let (_, body) = authz(
        &c,
        url,
        &caller,
        json!([item(ALICE, "books.dashboard.view", &crn)]),
    )
    .await;
    let d = &body["responses"][0]["authorizationDecision"];
    assert_eq!(d["permitted"], true, "{body}");
    let age = d["obligation"]["maxCacheAgeSeconds"].as_i64().expect("age");
    assert!(
        (590..=601).contains(&age),
        "the window has ~600 s left: {age}"
    );
    control(&c, url, "clock", json!({"advance_seconds": 500})).await;
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let (_, body) = authz(
        &c,
        url,
        &caller,
        json!([item(ALICE, "books.dashboard.view", &crn)]),
    )
    .await;
    let age = body["responses"][0]["authorizationDecision"]["obligation"]["maxCacheAgeSeconds"]
        .as_i64()
        .expect("age");
    assert!(
        age <= 101,
        "a permit is not cached past the end of its window: {age}"
    );

    control(&c, url, "clock", json!({"advance_seconds": 200})).await;
    let caller = access_token(&c, url, BOOKS_KEY).await;
    assert!(
        !permitted(&c, url, &caller, ALICE, "books.dashboard.view", &crn).await,
        "over"
    );
}

#[tokio::test]
async fn token_body_subjects_and_scope_restriction() {
    let (emu, c) = start().await;
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let token_with_scope = |scope: &'static str| {
        let c = c.clone();
        async move {
            let resp = token_request(
                &c,
                url,
                &[
                    ("grant_type", APIKEY_GRANT),
                    ("apikey", BOOKS_KEY),
                    ("scope", scope),
                ],
            )
            .await;
            let v: Value = resp.json().await.expect("json");
            v["access_token"].as_str().expect("token").to_owned()
        }
    };
    let body_of = |t: &str| t.split('.').nth(1).expect("payload").to_owned();
    let ask = |token_body: String, crn: String| json!([{"subject": {"accessTokenBody": token_body}, "action": "books.book.read", "resource": {"crn": crn}}]);

    let full = token_with_scope("ibm openid").await;
    let (_, body) = authz(&c, url, &caller, ask(body_of(&full), books_crn("s"))).await;
    let d = &body["responses"][0]["authorizationDecision"];
    assert_eq!(d["permitted"], true, "{body}");
    assert_eq!(
        d["obligation"]["subject"]["attributes"]["id"],
        books_iam_id()
    );
    assert_eq!(
        d["obligation"]["subject"]["attributes"]["scope"],
        "ibm openid"
    );

    let narrow = token_with_scope("openid books").await;
    let (_, body) = authz(&c, url, &caller, ask(body_of(&narrow), books_crn("s"))).await;
    assert_eq!(
        body["responses"][0]["authorizationDecision"]["permitted"], true,
        "{body}"
    );
    let elsewhere = token_with_scope("openid films").await;
    let (_, body) = authz(&c, url, &caller, ask(body_of(&elsewhere), books_crn("s"))).await;
    let d = &body["responses"][0]["authorizationDecision"];
    assert_eq!(
        d["permitted"], false,
        "a token scoped to films cannot act on books"
    );
    assert!(d["reason"].as_str().expect("reason").contains("scope"));

    // The body is only decoded, never verified: a hand-made one works (PDP trusts its caller).
    let forged =
        URL_SAFE_NO_PAD.encode(json!({"iam_id": books_iam_id(), "scope": "ibm"}).to_string());
    let (_, body) = authz(&c, url, &caller, ask(forged, books_crn("s"))).await;
    assert_eq!(
        body["responses"][0]["authorizationDecision"]["permitted"],
        true
    );
}

#[tokio::test]
async fn roles_endpoint_matches_policies() {
    let (emu, c) = start().await;
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let alice = access_token(&c, url, ALICE_KEY).await;
    let books = books_iam_id();
    let roles_of = |subject: String| {
        json!([{"subject": {"attributes": {"id": subject, "scope": "ibm openid"}},
                "resource": {"crn": books_crn("s")}, "requestId": "r-1"}])
    };
    let (status, body) = send_json(
        c.post(format!("{url}/v2/authz/roles"))
            .bearer_auth(&caller)
            .header("Transaction-Id", "roles-trace-1")
            .json(&roles_of(books.clone())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // §4.6: the answer names the transaction and the instance at the top level.
    assert_eq!(body["transactionId"], "roles-trace-1", "{body}");
    assert!(
        body["instanceId"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    let r = &body["responses"][0];
    assert_eq!(r["status"], "200");
    assert_eq!(r["requestId"], "r-1");
    assert_eq!(r["subjectId"], json!({"serviceId": books}));
    assert_eq!(r["attributes"]["serviceInstance"], "s");
    assert_eq!(r["roleActions"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["roleActions"][0]["role"]["crn"], service_role("Reader"));
    assert_eq!(r["roleActions"][0]["role"]["displayName"], "Reader");
    let actions: Vec<&str> = r["roleActions"][0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(actions, ["books.book.read", "books.dashboard.view"]);
    assert_eq!(
        r["roleActions"][0]["actions"][0]["displayName"],
        "Read books"
    );
    assert_eq!(r["platformExtensions"]["roleActions"], json!([]));

    // The same actions as GET /v2/roles lists for Reader on books, and as /v2/authz grants.
    let (_, listed) = send_json(
        c.get(format!("{url}/v2/roles?service_name=books"))
            .bearer_auth(&alice),
    )
    .await;
    let reader = listed["service_roles"]
        .as_array()
        .expect("service roles")
        .iter()
        .find(|r| r["crn"] == service_role("Reader"))
        .expect("Reader")
        .clone();
    assert_eq!(reader["actions"], json!(actions));
    let (_, decided) = authz(
        &c,
        url,
        &caller,
        json!([item(&books, "books.book.read", &books_crn("s"))]),
    )
    .await;
    assert_eq!(
        decided["responses"][0]["authorizationDecision"]["obligation"]["actions"],
        json!(actions)
    );

    // A platform role shows under platformExtensions.
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            &books,
            &platform_role("Viewer"),
            &[("serviceName", "stringEquals", "books")],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (_, body) = send_json(
        c.post(format!("{url}/v2/authz/roles"))
            .bearer_auth(&caller)
            .json(&roles_of(books.clone())),
    )
    .await;
    let platform = &body["responses"][0]["platformExtensions"]["roleActions"];
    assert_eq!(platform[0]["role"]["crn"], platform_role("Viewer"));
    assert_eq!(platform[0]["actions"][0]["action"], "books.dashboard.view");

    // Nobody's roles: empty lists. An action in a roles request: 400.
    let (_, body) = send_json(
        c.post(format!("{url}/v2/authz/roles"))
            .bearer_auth(&caller)
            .json(&roles_of("IBMid-nobody".into())),
    )
    .await;
    assert_eq!(
        body["responses"][0]["subjectId"],
        json!({"userId": "IBMid-nobody"})
    );
    assert_eq!(body["responses"][0]["roleActions"], json!([]));
    let (status, body) = send_json(
        c.post(format!("{url}/v2/authz/roles"))
            .bearer_auth(&caller)
            .json(&json!([item(&books, "books.book.read", &books_crn("s"))])),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn bulk_decides_one_subject_over_many_resources() {
    let (emu, c) = start().await;
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let profile = profile_iam_id();
    let alice = access_token(&c, url, ALICE_KEY).await;
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            &profile,
            &service_role("Manager"),
            &[
                ("serviceName", "stringEquals", "books"),
                ("serviceInstance", "stringEquals", "b"),
            ],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send_json(
        c.put(format!("{url}/v2/authz/bulk"))
            .bearer_auth(&caller)
            .json(&json!({
                "subject": {"attributes": {"id": profile, "scope": "ibm openid"}},
                "action": "books.book.delete",
                "resources": {
                    "sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT},
                    "uniqueAttributes": [{"serviceInstance": "a"}, {"serviceInstance": "b"}, {"serviceInstance": "c"}],
                },
                "environment": {"attributes": {}},
            })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let decisions: Vec<&str> = body["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter_map(|d| d["decision"].as_str())
        .collect();
    assert_eq!(decisions, ["Deny", "Permit", "Deny"]);
    assert_eq!(
        body["decisions"][1]["obligation"]["resource"]["attributes"]["serviceInstance"],
        "b"
    );
    assert!(body["cacheKeyPattern"].is_object());

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"serviceInstance": format!("i{i}")}))
        .collect();
    let (status, body) = send_json(
        c.put(format!("{url}/v2/authz/bulk"))
            .bearer_auth(&caller)
            .json(&json!({
                "subject": {"attributes": {"id": profile}},
                "action": "books.book.read",
                "resources": {"sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT}, "uniqueAttributes": too_many},
            })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status_code"], 400);

    // §4.5: one serviceName and one accountId, given once in sharedAttributes, and at most
    // one resourceType.
    for (resources, why) in [
        (
            json!({"sharedAttributes": {"accountId": ACCOUNT}, "uniqueAttributes": [{"serviceName": "books"}]}),
            "serviceName",
        ),
        (
            json!({"sharedAttributes": {"serviceName": "books"}, "uniqueAttributes": [{"serviceInstance": "a"}]}),
            "accountId",
        ),
        (
            json!({"uniqueAttributes": [{"serviceInstance": "a"}]}),
            "serviceName",
        ),
        (
            json!({"sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT},
                   "uniqueAttributes": [{"serviceInstance": "a"}, {"accountId": "other"}]}),
            "uniqueAttributes[1].accountId",
        ),
        (
            json!({"sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT},
                   "uniqueAttributes": [{"resourceType": "shelf"}, {"resourceType": "book"}]}),
            "resourceType",
        ),
    ] {
        let (status, body) = send_json(
            c.put(format!("{url}/v2/authz/bulk"))
                .bearer_auth(&caller)
                .json(&json!({
                    "subject": {"attributes": {"id": profile}},
                    "action": "books.book.read",
                    "resources": resources,
                })),
        )
        .await;
        assert_eq!(status, 400, "{resources}: {body}");
        assert_eq!(body["status_code"], 400);
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{why}: {message}");
    }
    // One resourceType, shared or repeated, is fine.
    for resources in [
        json!({"sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT},
               "uniqueAttributes": [{"resourceType": "shelf", "serviceInstance": "a"},
                                    {"resourceType": "shelf", "serviceInstance": "b"}]}),
        json!({"sharedAttributes": {"serviceName": "books", "accountId": ACCOUNT,
                                    "resourceType": "shelf"},
               "uniqueAttributes": [{"serviceInstance": "a"}, {"serviceInstance": "b"}]}),
    ] {
        let (status, body) = send_json(
            c.put(format!("{url}/v2/authz/bulk"))
                .bearer_auth(&caller)
                .json(&json!({
                    "subject": {"attributes": {"id": profile}},
                    "action": "books.book.read",
                    "resources": resources,
                })),
        )
        .await;
        assert_eq!(status, 200, "{resources}: {body}");
    }
}

#[tokio::test]
async fn the_caller_needs_a_valid_token_with_or_without_bearer() {
    let (emu, c) = start().await;
    let url = emu.url();
    let token = access_token(&c, url, BOOKS_KEY).await;
    let one = json!([item(&books_iam_id(), "books.book.read", &books_crn("s"))]);
    let post = |auth: Option<String>| {
        let mut req = c.post(format!("{url}/v2/authz")).json(&one);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        send_json(req)
    };
    assert_eq!(post(Some(format!("Bearer {token}"))).await.0, 200);
    assert_eq!(
        post(Some(token.clone())).await.0,
        200,
        "IAM accepts a bare token"
    );
    let (status, body) = post(None).await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["code"], "invalid_access_token");
    assert_eq!(body["status_code"], 401);
    assert!(body["trace"].is_string());
    assert_eq!(post(Some("Bearer not-a-jwt".into())).await.0, 401);
    assert_eq!(post(Some("Basic Yng6Yng=".into())).await.0, 401);
    control(&c, url, "clock", json!({"advance_seconds": 7200})).await;
    assert_eq!(
        post(Some(format!("Bearer {token}"))).await.0,
        401,
        "expired"
    );
    for path in ["/v2/authz/roles"] {
        let (status, _) = send_json(c.post(format!("{url}{path}")).json(&one)).await;
        assert_eq!(status, 401);
    }
    let (status, _) = send_json(c.put(format!("{url}/v2/authz/bulk")).json(&json!({}))).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn bad_input_is_a_400_in_iams_shape_and_bad_items_are_isolated() {
    let (emu, c) = start().await;
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    let good = item(&books_iam_id(), "books.book.read", &books_crn("s"));
    let bad_items = [
        json!({"subject": {"crn": "crn:v1:bluemix:public:books::::"}, "action": "books.book.read", "resource": {"crn": books_crn("s")}}),
        json!({"subject": {"attributes": {"id": "x"}}, "resource": {"crn": books_crn("s")}}),
        json!({"subject": {"attributes": {"id": "x"}}, "action": "books.book.read", "resource": {"crn": "crn:v1:bluemix:public:books:us-south"}}),
        json!({"subject": {"attributes": {"id": "x"}}, "action": "books.book.read", "resource": {"attributes": {"accountId": 5}}}),
        json!({"subject": {"attributes": {"id": ["x"]}}, "action": "books.book.read", "resource": {"crn": books_crn("s")}}),
        json!({"subject": {"accessTokenBody": "%%%"}, "action": "books.book.read", "resource": {"crn": books_crn("s")}}),
        json!({"subject": {"attributes": {"id": "x"}}, "action": 7, "resource": {"crn": books_crn("s")}}),
        json!("not an object"),
    ];
    for bad in &bad_items {
        let (status, body) = authz(&c, url, &caller, json!([bad])).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status_code"], 400);
        assert!(body["errors"][0]["message"].is_string(), "{body}");
        assert!(body["trace"].is_string());
    }
    for whole in [
        json!({}),
        json!([]),
        json!("x"),
        json!(vec![good.clone(); 101]),
    ] {
        let (status, body) = authz(&c, url, &caller, whole).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["errors"][0]["code"], "bad_request");
    }
    let (status, _) = authz(&c, url, &caller, json!(vec![good.clone(); 100])).await;
    assert_eq!(status, 200, "100 items are fine");
    let (status, _) = send_json(
        c.post(format!("{url}/v2/authz"))
            .bearer_auth(&caller)
            .header("content-type", "text/plain")
            .body("[]"),
    )
    .await;
    assert_eq!(status, 415);

    // A bad item among good ones is answered in place; the others are decided.
    let mut mixed = bad_items[2].clone();
    mixed["requestId"] = json!("bad-one");
    let (status, body) = authz(&c, url, &caller, json!([good, mixed])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["responses"][0]["authorizationDecision"]["permitted"],
        true
    );
    let err = &body["responses"][1];
    assert_eq!(err["status"], "400");
    assert_eq!(err["requestId"], "bad-one");
    assert!(err.get("authorizationDecision").is_none());
    let e = &err["error"];
    assert!(
        e["transactionId"].is_string() && e["instanceId"].is_string(),
        "{e}"
    );
    assert_eq!(
        e["errors"][0]["target"],
        json!({"type": "field", "name": "resource"})
    );
    for k in ["businessCode", "code", "message", "moreInfo"] {
        assert!(e["errors"][0][k].is_string(), "{k}: {e}");
    }
    // Still serving.
    assert!(
        permitted(
            &c,
            url,
            &caller,
            &books_iam_id(),
            "books.book.read",
            &books_crn("s")
        )
        .await
    );
}

#[tokio::test]
async fn faults_and_counters_cover_the_pdp() {
    let (emu, c) = start().await;
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    control(
        &c,
        url,
        "faults",
        json!({"path": "/v2/authz", "status": 429, "retry_after": 7, "count": 1}),
    )
    .await;
    let one = json!([item(&books_iam_id(), "books.book.read", &books_crn("s"))]);
    let resp = c
        .post(format!("{url}/v2/authz"))
        .bearer_auth(&caller)
        .json(&one)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "injected_fault");
    assert_eq!(authz(&c, url, &caller, one).await.0, 200, "one fault only");
    assert_eq!(count(&c, url, "/v2/authz").await, 2);
    let (_, _) = send_json(c.get(format!("{url}/v2/roles")).bearer_auth(&caller)).await;
    assert_eq!(count(&c, url, "/v2/roles").await, 1);
}
