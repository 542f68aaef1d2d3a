//! Decisions, the cache, coalescing and batching.

use std::time::Duration;

use ibm_iam::authz::{AuthzRequest, CacheConfig, CallOptions, DecisionSource, Resource};
use ibm_iam::clock::ManualClock;

use crate::common::*;

#[tokio::test]
async fn an_account_scope_permit_answers_other_actions_and_instances_from_the_cache() {
    let w = world().await;
    let reader = w.service_id("reader").await;
    w.policy(
        &reader,
        WRITER,
        &[("accountId", ACCOUNT), ("serviceName", "books")],
    )
    .await;
    let clock = ManualClock::new();
    let pdp = w.client(&clock, CacheConfig::default());

    let first = pdp
        .is_authorized(&subject(&reader), "books.book.read", &instance("shelf-1"))
        .await
        .expect("decision");
    assert!(first.permitted);
    assert_eq!(first.source, DecisionSource::Pdp);
    let ob = first.obligation.as_ref().expect("obligation");
    assert!(
        ob.actions.contains(&"books.book.create".to_owned()),
        "{:?}",
        ob.actions
    );
    let calls = w.pdp_calls();

    // Another action the role grants, on another instance: from the cache.
    let other = pdp
        .is_authorized(&subject(&reader), "books.book.create", &instance("shelf-2"))
        .await
        .expect("decision");
    assert!(other.permitted);
    assert_eq!(other.source, DecisionSource::Cache);
    assert_eq!(w.pdp_calls(), calls);

    // An action the role does not grant: asked, denied.
    let delete = pdp
        .is_authorized(&subject(&reader), "books.book.delete", &instance("shelf-2"))
        .await
        .expect("decision");
    assert!(!delete.permitted);
    assert_eq!(w.pdp_calls(), calls + 1);

    // maxCacheAgeSeconds (600) later, IAM is asked again.
    clock.advance(Duration::from_secs(600));
    let again = pdp
        .is_authorized(&subject(&reader), "books.book.create", &instance("shelf-2"))
        .await
        .expect("decision");
    assert_eq!(again.source, DecisionSource::Pdp);
}

#[tokio::test]
async fn a_deny_is_exact_and_short_lived() {
    let w = world().await;
    let nobody = w.service_id("nobody").await;
    let clock = ManualClock::new();
    let pdp = w.client(&clock, CacheConfig::default());
    let d1 = pdp
        .is_authorized(&subject(&nobody), "books.book.read", &instance("1"))
        .await
        .expect("decision");
    assert!(!d1.permitted);
    let calls = w.pdp_calls();
    assert_eq!(
        pdp.is_authorized(&subject(&nobody), "books.book.read", &instance("1"))
            .await
            .expect("d")
            .source,
        DecisionSource::Cache
    );
    assert_eq!(w.pdp_calls(), calls);
    // Instance 2 is not affected by the deny for instance 1.
    w.policy(
        &nobody,
        READER,
        &[
            ("accountId", ACCOUNT),
            ("serviceName", "books"),
            ("serviceInstance", "2"),
        ],
    )
    .await;
    assert!(
        pdp.is_authorized(&subject(&nobody), "books.book.read", &instance("2"))
            .await
            .expect("d")
            .permitted
    );
    // The cached deny for instance 1 lasts 120 s, then IAM is asked again.
    clock.advance(Duration::from_secs(119));
    assert_eq!(
        pdp.is_authorized(&subject(&nobody), "books.book.read", &instance("1"))
            .await
            .expect("d")
            .source,
        DecisionSource::Cache
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        pdp.is_authorized(&subject(&nobody), "books.book.read", &instance("1"))
            .await
            .expect("d")
            .source,
        DecisionSource::Pdp
    );
}

#[tokio::test]
async fn identical_concurrent_checks_make_one_call_and_distinct_ones_are_batched() {
    let (w, reader) = world_with_reader().await;
    let clock = ManualClock::new();
    // Denies and permits not cached, so every distinct check needs IAM: only batching helps.
    let pdp = w.client(
        &clock,
        CacheConfig {
            permits: false,
            denies: false,
            ..CacheConfig::default()
        },
    );
    let before = w.pdp_calls();
    let same: Vec<_> = (0..100)
        .map(|_| tokio::spawn(read_check(&pdp, &reader, "x")))
        .collect();
    for t in same {
        assert!(t.await.expect("task").expect("decision").permitted);
    }
    assert_eq!(
        w.pdp_calls() - before,
        1,
        "100 identical concurrent checks: one call"
    );

    let before = w.pdp_calls();
    let reqs: Vec<AuthzRequest> = (0..150)
        .map(|i| {
            AuthzRequest::new(
                subject(&reader),
                "books.book.read",
                instance(&format!("i{i}")),
            )
        })
        .collect();
    let results = pdp.authorize_many(reqs).await;
    assert_eq!(results.len(), 150);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|d| d.permitted))
    );
    assert_eq!(w.pdp_calls() - before, 2, "150 distinct checks: 100 + 50");
}

#[tokio::test]
async fn bypass_sees_a_policy_change_at_once_and_invalidation_works() {
    let w = world().await;
    let sid = w.service_id("late").await;
    let clock = ManualClock::new();
    let pdp = w.client(&clock, CacheConfig::default());
    let req = AuthzRequest::new(subject(&sid), "books.book.read", instance("a"));
    assert!(!pdp.authorize(req.clone()).await.expect("d").permitted);
    w.policy(
        &sid,
        READER,
        &[("accountId", ACCOUNT), ("serviceName", "books")],
    )
    .await;
    assert!(
        !pdp.authorize(req.clone()).await.expect("d").permitted,
        "the cached deny still answers"
    );
    let fresh = pdp
        .authorize_with(req.clone(), CallOptions { bypass_cache: true })
        .await
        .expect("d");
    assert!(fresh.permitted && fresh.source == DecisionSource::Pdp);
    pdp.invalidate_subject(&sid);
    let after = pdp.authorize(req).await.expect("d");
    assert!(after.permitted);
    assert_eq!(
        after.source,
        DecisionSource::Pdp,
        "invalidated: asked again"
    );
}

#[tokio::test]
async fn roles_match_the_policies_and_crn_resources_work() {
    let w = world().await;
    let sid = w.service_id("roles").await;
    w.policy(
        &sid,
        READER,
        &[("accountId", ACCOUNT), ("serviceName", "books")],
    )
    .await;
    let clock = ManualClock::new();
    let pdp = w.client(&clock, CacheConfig::default());
    let crn = Resource::crn(&format!(
        "crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-9::"
    ))
    .expect("crn");
    let roles = pdp.roles(&subject(&sid), &crn).await.expect("roles");
    assert_eq!(roles.service.len(), 1, "{roles:?}");
    assert_eq!(roles.service[0].role_crn, READER);
    assert!(roles.actions().contains(&"books.book.read".to_owned()));
    assert!(!roles.actions().contains(&"books.book.create".to_owned()));
    assert!(
        pdp.is_authorized(&subject(&sid), "books.book.read", &crn)
            .await
            .expect("d")
            .permitted
    );

    // Bulk: one subject and action over many instances, in one call.
    let resources: Vec<Resource> = (0..30).map(|i| instance(&format!("b{i}"))).collect();
    let before = w.bulk_calls();
    let results = pdp
        .authorize_resources(&subject(&sid), "books.book.read", &resources)
        .await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|d| d.permitted))
    );
    assert_eq!(w.bulk_calls() - before, 1);
}

#[tokio::test]
async fn a_failing_item_fails_alone_in_its_batch() {
    let (w, reader) = world_with_reader().await;
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    let before = w.pdp_calls();
    let results = pdp
        .authorize_many(vec![
            AuthzRequest::new(subject(&reader), "books.book.read", instance("p1")),
            // No attributes and no CRN: IAM refuses this item only.
            AuthzRequest::new(
                subject(&reader),
                "books.book.read",
                Resource::builder().build(),
            ),
            AuthzRequest::new(subject(&reader), "books.book.read", instance("p2")),
        ])
        .await;
    assert_eq!(w.pdp_calls() - before, 1, "one call for the three");
    assert!(results[0].as_ref().expect("item 0").permitted);
    let err = results[1].as_ref().expect_err("item 1 fails");
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(results[2].as_ref().expect("item 2").permitted);
}

#[tokio::test]
async fn bulk_checks_read_the_cache_first_share_attributes_and_split_long_lists() {
    let w = world().await;
    let sid = w.service_id("bulk").await;
    w.policy(
        &sid,
        READER,
        &[("accountId", ACCOUNT), ("serviceName", "books")],
    )
    .await;
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    let resources: Vec<Resource> = (0..30).map(|i| instance(&format!("b{i}"))).collect();
    let first = pdp
        .authorize_resources(&subject(&sid), "books.book.read", &resources)
        .await;
    assert!(first.iter().all(|r| r.as_ref().is_ok_and(|d| d.permitted)));
    assert_eq!(w.bulk_calls(), 1);

    // Asked again: all from the cache, no call.
    let (b, a) = (w.bulk_calls(), w.pdp_calls());
    let again = pdp
        .authorize_resources(&subject(&sid), "books.book.read", &resources)
        .await;
    assert!(
        again
            .iter()
            .all(|r| r.as_ref().is_ok_and(|d| d.source == DecisionSource::Cache))
    );
    assert_eq!((w.bulk_calls(), w.pdp_calls()), (b, a));
    // Unless the cache is bypassed.
    let fresh = pdp
        .authorize_resources_with(
            &subject(&sid),
            "books.book.read",
            &resources,
            CallOptions { bypass_cache: true },
        )
        .await;
    assert!(
        fresh
            .iter()
            .all(|r| r.as_ref().is_ok_and(|d| d.source == DecisionSource::Pdp))
    );
    assert_eq!(w.bulk_calls(), b + 1);

    // Different resource types cannot share one bulk call: /v2/authz instead.
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    let mixed: Vec<Resource> = ["shelf", "book"]
        .iter()
        .map(|t| {
            Resource::builder()
                .service_name("books")
                .account_id(ACCOUNT)
                .service_instance("m")
                .resource_type(*t)
                .build()
        })
        .collect();
    let (b, a) = (w.bulk_calls(), w.pdp_calls());
    let r = pdp
        .authorize_resources(&subject(&sid), "books.book.read", &mixed)
        .await;
    assert!(r.iter().all(|r| r.as_ref().is_ok_and(|d| d.permitted)));
    assert_eq!(w.bulk_calls(), b, "no bulk call");
    assert_eq!(w.pdp_calls(), a + 1);

    // More than IAM's 1,000 per bulk call: split.
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    let many: Vec<Resource> = (0..1500).map(|i| instance(&format!("m{i}"))).collect();
    let b = w.bulk_calls();
    let r = pdp
        .authorize_resources(&subject(&sid), "books.book.read", &many)
        .await;
    assert_eq!(r.len(), 1500);
    assert!(r.iter().all(|r| r.as_ref().is_ok_and(|d| d.permitted)));
    assert_eq!(w.bulk_calls() - b, 2, "1,000 + 500");
}

#[tokio::test]
async fn roles_lists_platform_roles_apart_from_service_roles() {
    let w = world().await;
    let sid = w.service_id("viewer").await;
    w.policy(
        &sid,
        "crn:v1:bluemix:public:iam::::role:Viewer",
        &[("accountId", ACCOUNT), ("serviceName", "books")],
    )
    .await;
    w.policy(
        &sid,
        WRITER,
        &[
            ("accountId", ACCOUNT),
            ("serviceName", "books"),
            ("serviceInstance", "shelf-1"),
        ],
    )
    .await;
    let pdp = w.client(&ManualClock::new(), CacheConfig::default());
    let on_shelf_1 = pdp
        .roles(&subject(&sid), &instance("shelf-1"))
        .await
        .expect("roles");
    assert_eq!(on_shelf_1.platform.len(), 1, "{on_shelf_1:?}");
    assert_eq!(
        on_shelf_1.platform[0].role_crn,
        "crn:v1:bluemix:public:iam::::role:Viewer"
    );
    assert_eq!(on_shelf_1.platform[0].actions, ["books.dashboard.view"]);
    assert_eq!(on_shelf_1.service.len(), 1);
    assert_eq!(on_shelf_1.service[0].role_crn, WRITER);
    assert!(
        on_shelf_1
            .actions()
            .contains(&"books.book.create".to_owned())
    );
    assert!(
        on_shelf_1
            .actions()
            .contains(&"books.dashboard.view".to_owned())
    );

    // On another instance only the account-wide platform role holds.
    let elsewhere = pdp
        .roles(&subject(&sid), &instance("shelf-2"))
        .await
        .expect("roles");
    assert!(elsewhere.service.is_empty(), "{elsewhere:?}");
    assert_eq!(elsewhere.actions(), ["books.dashboard.view"]);
}
