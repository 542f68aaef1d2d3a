//! The access-management APIs: policies (v1 and v2), roles, access groups; who may call
//! them; and persistence.

use serde_json::{Value, json};

use crate::common::*;

fn books_reader(subject: &str) -> Value {
    v1_policy(
        "iam_id",
        subject,
        &service_role("Reader"),
        &[("serviceName", "stringEquals", "books")],
    )
}

#[tokio::test]
async fn management_needs_the_owner_or_an_administrator_of_the_account() {
    let (emu, c) = start().await;
    let url = emu.url();
    let alice = access_token(&c, url, ALICE_KEY).await;
    let books = access_token(&c, url, BOOKS_KEY).await;
    let cli = access_token(&c, url, CLI_KEY).await;

    let (status, body) = send_json(
        c.post(format!("{url}/v1/policies"))
            .json(&books_reader(ALICE)),
    )
    .await;
    assert_eq!(
        (status, body["status_code"].as_u64()),
        (401, Some(401)),
        "{body}"
    );
    let (status, body) = create_policy(&c, url, &books, books_reader(ALICE)).await;
    assert_eq!(status, 403, "a Reader of books is no administrator: {body}");
    assert_eq!(body["errors"][0]["code"], "forbidden");
    let (status, _) = create_policy(&c, url, &cli, books_reader(ALICE)).await;
    assert_eq!(status, 403, "an identity of another account");
    for path in ["v1/policies", "v2/policies"] {
        let (status, _) = send_json(
            c.get(format!("{url}/{path}?account_id={ACCOUNT}"))
                .bearer_auth(&books),
        )
        .await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, _) = send_json(
        c.get(format!("{url}/v2/groups?account_id={ACCOUNT}"))
            .bearer_auth(&books),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send_json(
        c.get(format!("{url}/v2/roles?account_id={ACCOUNT}"))
            .bearer_auth(&books),
    )
    .await;
    assert_eq!(status, 403);

    // The account owner may.
    let (status, body) = create_policy(&c, url, &alice, books_reader(ALICE)).await;
    assert_eq!(status, 201, "{body}");

    // An --apikey identity administers its default account from the start.
    let mut own = books_reader("iam-ServiceId-someone");
    own["resources"][0]["attributes"][0]["value"] = json!(DEFAULT_ACCOUNT);
    let (status, body) = create_policy(&c, url, &cli, own).await;
    assert_eq!(status, 201, "{body}");
    let (status, listed) = send_json(
        c.get(format!("{url}/v2/policies?account_id={DEFAULT_ACCOUNT}"))
            .bearer_auth(&cli),
    )
    .await;
    assert_eq!(status, 200);
    let bootstrap = listed["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["control"]["grant"]["roles"][0]["role_id"] == platform_role("Administrator"))
        .expect("the bootstrap Administrator policy is listed")
        .clone();
    assert_eq!(
        bootstrap["resource"]["attributes"][1]["value"],
        "platform_service"
    );

    // A Viewer of access management may read policies, not change them.
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            &books_iam_id(),
            &platform_role("Viewer"),
            &[("serviceName", "stringEquals", "iam-access-management")],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = send_json(
        c.get(format!("{url}/v1/policies?account_id={ACCOUNT}"))
            .bearer_auth(&books),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = create_policy(&c, url, &books, books_reader("IBMid-0000000001")).await;
    assert_eq!(status, 403);

    // An Administrator policy on account management makes books-backend an administrator.
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            &books_iam_id(),
            &platform_role("Administrator"),
            &[("serviceType", "stringEquals", "platform_service")],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = create_policy(&c, url, &books, books_reader("IBMid-0000000001")).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn v1_and_v2_policies_round_trip_and_list() {
    let (emu, c) = start().await;
    let url = emu.url();
    let alice = access_token(&c, url, ALICE_KEY).await;

    let mut v1 = books_reader(ALICE);
    v1["description"] = json!("Alice reads books");
    let (status, created) = create_policy(&c, url, &alice, v1).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["type"], "access");
    assert_eq!(created["state"], "active");
    assert_eq!(created["description"], "Alice reads books");
    assert_eq!(created["created_by_id"], ALICE);
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert_eq!(created["href"], format!("{url}/v1/policies/{id}"));
    assert_eq!(created["roles"][0]["display_name"], "Reader");
    assert_eq!(
        created["subjects"][0]["attributes"][0],
        json!({"name": "iam_id", "value": ALICE})
    );
    assert_eq!(
        created["resources"][0]["attributes"][1]["operator"],
        "stringEquals"
    );

    let (status, got) =
        send_json(c.get(format!("{url}/v1/policies/{id}")).bearer_auth(&alice)).await;
    assert_eq!(status, 200);
    assert_eq!(got, created);
    let (status, as_v2) = send_json(
        c.get(format!("{url}/v2/policies/{id}?format=display"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        as_v2["subject"]["attributes"][0],
        json!({"key": "iam_id", "operator": "stringEquals", "value": ALICE})
    );
    assert_eq!(
        as_v2["control"]["grant"]["roles"][0]["role_id"],
        service_role("Reader")
    );
    assert_eq!(
        as_v2["control"]["grant"]["roles"][0]["actions"][0],
        json!({"id": "books.book.read", "display_name": "Read books", "description": ""})
    );

    // The seeded policies are there, with the ids the seed file gives them.
    let (status, seeded) = send_json(
        c.get(format!("{url}/v1/policies/{BOOKS_READER_POLICY}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 200, "{seeded}");
    assert_eq!(
        seeded["subjects"][0]["attributes"][0]["value"],
        books_iam_id()
    );
    assert_eq!(seeded["created_by_id"], "emulator");

    // A v2 policy with a rule shows in v1 listings as IAM's placeholder.
    let (status, v2) = create_policy(
        &c,
        url,
        &alice,
        json!({
            "type": "access",
            "description": "weekdays",
            "control": {"grant": {"roles": [{"role_id": service_role("Writer")}]}},
            "subject": {"attributes": [{"key": "iam_id", "operator": "stringEquals", "value": ALICE}]},
            "resource": {"attributes": [
                {"key": "accountId", "operator": "stringEquals", "value": ACCOUNT},
                {"key": "serviceName", "operator": "stringEquals", "value": "books"}]},
            "rule": {"key": "{{environment.attributes.day_of_week}}", "operator": "dayOfWeekAnyOf", "value": ["1+00:00", "2+00:00", "3+00:00", "4+00:00", "5+00:00"]},
            "pattern": "time-based-conditions:weekly:all-day",
        }),
    )
    .await;
    assert_eq!(status, 201, "{v2}");
    let v2_id = v2["id"].as_str().expect("id").to_owned();
    assert_eq!(v2["pattern"], "time-based-conditions:weekly:all-day");
    assert_eq!(v2["rule"]["value"][4], "5+00:00");
    assert_eq!(v2["href"], format!("{url}/v2/policies/{v2_id}"));

    let (_, list) = send_json(
        c.get(format!(
            "{url}/v1/policies?account_id={ACCOUNT}&iam_id={ALICE}"
        ))
        .bearer_auth(&alice),
    )
    .await;
    let policies = list["policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 2, "{list}");
    let placeholder = policies
        .iter()
        .find(|p| p["id"] == v2_id.as_str())
        .expect("v2 in v1");
    assert_eq!(
        placeholder["roles"],
        json!([{"role_id": "crn:v1:bluemix:public:iam::::role:UnsupportedVersion"}])
    );
    assert_eq!(placeholder["href"], format!("{url}/v2/policies/{v2_id}"));
    let (_, all) = send_json(
        c.get(format!("{url}/v2/policies?account_id={ACCOUNT}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(
        all["policies"].as_array().map(Vec::len),
        Some(4),
        "2 seeded + 2 new: {all}"
    );
    let (_, by_group) = send_json(
        c.get(format!(
            "{url}/v2/policies?account_id={ACCOUNT}&access_group_id={LIBRARIANS}"
        ))
        .bearer_auth(&alice),
    )
    .await;
    assert_eq!(by_group["policies"].as_array().map(Vec::len), Some(1));
    let (_, paged) = send_json(
        c.get(format!("{url}/v1/policies?account_id={ACCOUNT}&limit=3"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(paged["policies"].as_array().map(Vec::len), Some(3));
    let next = paged["next"]["href"].as_str().expect("next").to_owned();
    let (_, rest) = send_json(c.get(next).bearer_auth(&alice)).await;
    assert_eq!(rest["policies"].as_array().map(Vec::len), Some(1));

    // Validation: 400 in IAM's shape.
    let (status, body) = send_json(c.get(format!("{url}/v1/policies")).bearer_auth(&alice)).await;
    assert_eq!(status, 400, "account_id is required: {body}");
    let mut bad_role = books_reader(ALICE);
    bad_role["roles"][0]["role_id"] = json!("crn:v1:bluemix:public:iam::::role:Emperor");
    let mut no_account = books_reader(ALICE);
    no_account["resources"][0]["attributes"]
        .as_array_mut()
        .expect("a")
        .remove(0);
    let mut no_service = books_reader(ALICE);
    no_service["resources"][0]["attributes"]
        .as_array_mut()
        .expect("a")
        .remove(1);
    let mut unknown_group = books_reader("AccessGroupId-nope");
    unknown_group["subjects"][0]["attributes"][0]["name"] = json!("access_group_id");
    for bad in [
        bad_role,
        no_account,
        no_service,
        unknown_group,
        json!({"type": "access"}),
        json!([]),
    ] {
        let (status, body) = create_policy(&c, url, &alice, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status_code"], 400);
        assert!(body["errors"][0]["message"].is_string());
    }
    let (status, _) = send_json(
        c.post(format!("{url}/v2/policies"))
            .bearer_auth(&alice)
            .json(&json!({"type": "access", "control": {"grant": {"roles": [{"role_id": service_role("Reader")}]}},
                "subject": {"attributes": [{"key": "iam_id", "operator": "stringEquals", "value": ALICE}]},
                "resource": {"attributes": [{"key": "accountId", "operator": "stringEquals", "value": ACCOUNT},
                                            {"key": "serviceName", "operator": "stringEquals", "value": "books"}]},
                "rule": {"key": "{{environment.attributes.current_time}}", "operator": "timeLessThan", "value": "17:00:00+00:00"}})),
    )
    .await;
    assert_eq!(status, 400, "a rule needs its pattern");

    // Delete: 204, then 404 everywhere.
    let (status, _) = send_json(
        c.delete(format!("{url}/v2/policies/{v2_id}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = send_json(
        c.get(format!("{url}/v1/policies/{v2_id}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["message_code"], "BXNIM0102E");
    let (status, _) = send_json(
        c.delete(format!("{url}/v1/policies/{v2_id}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn roles_builtin_service_and_custom() {
    let (emu, c) = start().await;
    let url = emu.url();
    let alice = access_token(&c, url, ALICE_KEY).await;
    let caller = access_token(&c, url, BOOKS_KEY).await;

    let (status, roles) = send_json(
        c.get(format!(
            "{url}/v2/roles?account_id={ACCOUNT}&service_name=books"
        ))
        .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 200, "{roles}");
    let system: Vec<&str> = roles["system_roles"]
        .as_array()
        .expect("system")
        .iter()
        .filter_map(|r| r["display_name"].as_str())
        .collect();
    assert_eq!(system, ["Viewer", "Operator", "Editor", "Administrator"]);
    assert_eq!(roles["system_roles"][0]["crn"], platform_role("Viewer"));
    assert_eq!(
        roles["system_roles"][0]["actions"],
        json!(["books.dashboard.view"])
    );
    let manager = roles["service_roles"]
        .as_array()
        .expect("service")
        .iter()
        .find(|r| r["display_name"] == "Manager")
        .expect("Manager");
    assert_eq!(manager["actions"].as_array().map(Vec::len), Some(4));
    assert_eq!(roles["custom_roles"][0]["name"], "BookCurator");
    assert_eq!(
        roles["custom_roles"][0]["crn"],
        format!(
            "crn:v1:ibmcloud:public:iam-access-management::a/{ACCOUNT}::customRole:BookCurator"
        )
    );
    let (status, _) = send_json(
        c.get(format!("{url}/v2/roles?service_name=nope"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 400);
    let (status, all) = send_json(c.get(format!("{url}/v2/roles")).bearer_auth(&caller)).await;
    assert_eq!(
        status, 200,
        "without account_id any valid token lists the built-in roles"
    );
    assert_eq!(all["custom_roles"], json!([]));

    let new_role = json!({"name": "Shredder", "display_name": "Shredder", "account_id": ACCOUNT,
        "service_name": "books", "actions": ["books.book.delete"], "description": "deletes"});
    let (status, created) = send_json(
        c.post(format!("{url}/v2/roles"))
            .bearer_auth(&alice)
            .json(&new_role),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let rid = created["id"].as_str().expect("id").to_owned();
    let crn = created["crn"].as_str().expect("crn").to_owned();
    assert_eq!(created["href"], format!("{url}/v2/roles/{rid}"));
    let (status, _) = send_json(
        c.post(format!("{url}/v2/roles"))
            .bearer_auth(&alice)
            .json(&new_role),
    )
    .await;
    assert_eq!(status, 409, "names are unique in an account");
    let (status, _) = send_json(
        c.post(format!("{url}/v2/roles"))
            .bearer_auth(&caller)
            .json(&new_role),
    )
    .await;
    assert_eq!(status, 403);
    for (field, value) in [
        ("name", json!("lowercase")),
        ("actions", json!(["books.nope"])),
        ("service_name", json!("nope")),
        ("actions", json!([])),
    ] {
        let mut bad = new_role.clone();
        bad[field] = value;
        bad["name"] = if field == "name" {
            bad["name"].clone()
        } else {
            json!("Other")
        };
        let (status, body) = send_json(
            c.post(format!("{url}/v2/roles"))
                .bearer_auth(&alice)
                .json(&bad),
        )
        .await;
        assert_eq!(status, 400, "{field}: {body}");
    }

    // A policy with the custom role grants exactly its actions.
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "iam_id",
            ALICE,
            &crn,
            &[("serviceName", "stringEquals", "books")],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (_, body) = authz(
        &c,
        url,
        &caller,
        json!([item(ALICE, "books.book.delete", &books_crn("s"))]),
    )
    .await;
    let d = &body["responses"][0]["authorizationDecision"];
    assert_eq!(d["permitted"], true, "{body}");
    assert_eq!(d["obligation"]["actions"], json!(["books.book.delete"]));

    let (status, got) = send_json(c.get(format!("{url}/v2/roles/{rid}")).bearer_auth(&alice)).await;
    assert_eq!((status, got["name"].as_str()), (200, Some("Shredder")));
    let (status, _) = send_json(
        c.delete(format!("{url}/v2/roles/{rid}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        !permitted(
            &c,
            url,
            &caller,
            ALICE,
            "books.book.delete",
            &books_crn("s")
        )
        .await
    );
}

#[tokio::test]
async fn access_groups_api() {
    let (emu, c) = start().await;
    let url = emu.url();
    let alice = access_token(&c, url, ALICE_KEY).await;
    let (status, group) = send_json(
        c.post(format!("{url}/v2/groups?account_id={ACCOUNT}"))
            .bearer_auth(&alice)
            .json(&json!({"name": "auditors"})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().expect("id").to_owned();
    assert_eq!(group["account_id"], ACCOUNT);
    assert_eq!(group["created_by_id"], ALICE);
    assert_eq!(group["href"], format!("{url}/v2/groups/{gid}"));
    let (status, _) = send_json(
        c.post(format!("{url}/v2/groups"))
            .bearer_auth(&alice)
            .json(&json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 400, "account_id is required");

    let cli_sid = emu
        .state()
        .store()
        .service_ids
        .values()
        .find(|s| s.account_id == DEFAULT_ACCOUNT)
        .map(|s| s.iam_id())
        .expect("the --apikey service ID");
    let (status, added) = send_json(
        c.put(format!("{url}/v2/groups/{gid}/members"))
            .bearer_auth(&alice)
            .json(&json!({"members": [
                {"iam_id": ALICE, "type": "user"},
                {"iam_id": books_iam_id(), "type": "service"},
                {"iam_id": "IBMid-unknown", "type": "user"},
                {"iam_id": cli_sid, "type": "service"},
                {"iam_id": books_iam_id(), "type": "user"}]})),
    )
    .await;
    assert_eq!(status, 207, "{added}");
    let codes: Vec<u64> = added["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["status_code"].as_u64())
        .collect();
    assert_eq!(codes, [200, 200, 404, 400, 400], "{added}");
    assert!(added["members"][2]["errors"][0]["message"].is_string());

    let (_, members) = send_json(
        c.get(format!("{url}/v2/groups/{gid}/members"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(members["total_count"], 2, "{members}");
    assert_eq!(members["members"][0]["name"], "Alice Example");
    assert_eq!(members["members"][0]["email"], "alice@example.com");
    assert_eq!(members["members"][1]["name"], "books-backend");
    assert_eq!(members["members"][1]["membership_type"], "static");
    let head = c
        .head(format!("{url}/v2/groups/{gid}/members/{ALICE}"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 204);

    let (_, mine) = send_json(
        c.get(format!(
            "{url}/v2/groups?account_id={ACCOUNT}&iam_id={ALICE}"
        ))
        .bearer_auth(&alice),
    )
    .await;
    assert_eq!(mine["total_count"], 1);
    assert_eq!(mine["groups"][0]["id"], gid.as_str());
    let (_, all) = send_json(
        c.get(format!("{url}/v2/groups?account_id={ACCOUNT}&limit=1"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(
        (all["total_count"].as_u64(), all["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(all["next"]["href"].is_string());

    // A group with policies is deleted only with force=true, and takes them along.
    let (status, _) = create_policy(
        &c,
        url,
        &alice,
        v1_policy(
            "access_group_id",
            &gid,
            &service_role("Reader"),
            &[("serviceName", "stringEquals", "books")],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = send_json(
        c.delete(format!("{url}/v2/groups/{gid}"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = send_json(
        c.delete(format!("{url}/v2/groups/{gid}?force=true"))
            .bearer_auth(&alice),
    )
    .await;
    assert_eq!(status, 204);
    let (_, by_group) = send_json(
        c.get(format!(
            "{url}/v2/policies?account_id={ACCOUNT}&access_group_id={gid}"
        ))
        .bearer_auth(&alice),
    )
    .await;
    assert_eq!(by_group["policies"], json!([]));
    let (status, _) = send_json(c.get(format!("{url}/v2/groups/{gid}")).bearer_auth(&alice)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn policies_groups_and_roles_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let (policy_id, group_id) = {
        let emu = builder().state_file(&state).start().await.expect("start");
        let c = client();
        let url = emu.url();
        let alice = access_token(&c, url, ALICE_KEY).await;
        let (_, group) = send_json(
            c.post(format!("{url}/v2/groups?account_id={ACCOUNT}"))
                .bearer_auth(&alice)
                .json(&json!({"name": "persisted"})),
        )
        .await;
        let gid = group["id"].as_str().expect("id").to_owned();
        let (status, _) = send_json(
            c.put(format!("{url}/v2/groups/{gid}/members"))
                .bearer_auth(&alice)
                .json(&json!({"members": [{"iam_id": ALICE, "type": "user"}]})),
        )
        .await;
        assert_eq!(status, 207);
        let (status, _) = send_json(c.post(format!("{url}/v2/roles")).bearer_auth(&alice).json(
            &json!({"name": "Keeper", "display_name": "Keeper", "account_id": ACCOUNT,
                    "service_name": "books", "actions": ["books.book.delete"]}),
        ))
        .await;
        assert_eq!(status, 201);
        let crn =
            format!("crn:v1:ibmcloud:public:iam-access-management::a/{ACCOUNT}::customRole:Keeper");
        let (status, p) = create_policy(
            &c,
            url,
            &alice,
            v1_policy(
                "access_group_id",
                &gid,
                &crn,
                &[("serviceName", "stringEquals", "books")],
            ),
        )
        .await;
        assert_eq!(status, 201, "{p}");
        emu.shutdown().await;
        (p["id"].as_str().expect("id").to_owned(), gid)
    };
    let emu = builder().state_file(&state).start().await.expect("restart");
    let c = client();
    let url = emu.url();
    let caller = access_token(&c, url, BOOKS_KEY).await;
    assert!(
        permitted(
            &c,
            url,
            &caller,
            ALICE,
            "books.book.delete",
            &books_crn("s")
        )
        .await,
        "group + custom role + policy reloaded"
    );
    assert!(
        permitted(
            &c,
            url,
            &caller,
            &books_iam_id(),
            "books.book.read",
            &books_crn("s")
        )
        .await,
        "seeded policy kept, not duplicated"
    );
    let store = emu.state().store();
    assert!(store.policy.policies.contains_key(&policy_id));
    assert!(store.policy.groups.contains_key(&group_id));
    assert_eq!(
        store.policy.policies.len(),
        4,
        "2 seeded + 1 bootstrap + 1 new"
    );
}
