//! Answers the emulator never gives, from a canned PDP.

use ibm_iam::authz::{CacheConfig, DecisionSource, PdpClient, Resource, Subject};
use ibm_iam::clock::ManualClock;
use serde_json::{Value, json};

use crate::canned::*;

fn alice() -> Subject {
    Subject::attributes("IBMid-alice", "ibm openid")
}

fn crn(cname: &str, scope: &str) -> Resource {
    Resource::crn(&format!(
        "crn:v1:{cname}:public:books:us-south:{scope}:shelf::"
    ))
    .expect("crn")
}

/// Permits only questions about `crn:…:o/org1:…` on bluemix, at the service's scope (the
/// obligation names no account); everything else is denied.
fn org1_only(_: &str, _: &str, body: &Value) -> (u16, String) {
    let answers = items(body)
        .iter()
        .map(|req| {
            let crn = req["resource"]["crn"].as_str().unwrap_or("");
            if crn.starts_with("crn:v1:bluemix:") && crn.contains(":o/org1:") {
                permit(
                    req,
                    &["books.book.read"],
                    json!({"serviceName": "books"}),
                    Some(json!(600)),
                )
            } else {
                deny("")
            }
        })
        .collect();
    (200, answer(answers, pattern()))
}

#[tokio::test]
async fn a_permit_for_one_org_never_answers_another() {
    let pdp_server = Canned::start(org1_only).await;
    let pdp = pdp_server.client(&ManualClock::new(), CacheConfig::default());
    let org1 = pdp
        .is_authorized(&alice(), "books.book.read", &crn("bluemix", "o/org1"))
        .await
        .expect("decision");
    assert!(org1.permitted);
    for other in [
        crn("bluemix", "o/org2"),
        crn("staging", "o/org1"),
        crn("bluemix", "s/org1"),
    ] {
        let d = pdp
            .is_authorized(&alice(), "books.book.read", &other)
            .await
            .expect("decision");
        assert!(!d.permitted, "{other:?} answered by org1's permit");
        assert_eq!(d.source, DecisionSource::Pdp);
    }
    assert_eq!(pdp_server.calls("/v2/authz"), 4);
    // Without a cacheKeyPattern only exact keys are written: still apart.
    pdp_server.set(|m, p, b| {
        let (s, a) = org1_only(m, p, b);
        let mut v: Value = serde_json::from_str(&a).expect("json");
        v.as_object_mut().expect("object").remove("cacheKeyPattern");
        (s, v.to_string())
    });
    let pdp = pdp_server.client(&ManualClock::new(), CacheConfig::default());
    assert!(
        pdp.is_authorized(&alice(), "books.book.read", &crn("bluemix", "o/org1"))
            .await
            .expect("d")
            .permitted
    );
    assert!(
        !pdp.is_authorized(&alice(), "books.book.read", &crn("bluemix", "o/org2"))
            .await
            .expect("d")
            .permitted
    );
}

fn inst(account: &str, i: &str) -> Resource {
    Resource::builder()
        .service_name("books")
        .account_id(account)
        .service_instance(i)
        .build()
}

/// Where alice's decision on `action` over instance `i` of account `acct` came from.
async fn source(pdp: &PdpClient, action: &str, i: &str) -> DecisionSource {
    pdp.is_authorized(&alice(), action, &inst("acct", i))
        .await
        .expect("decision")
        .source
}

/// Account-wide permits for read and write, with `pattern`.
fn account_wide(pattern: Value) -> impl FnMut(&str, &str, &Value) -> (u16, String) + Send {
    move |_, _, body| {
        let answers = items(body)
            .iter()
            .map(|req| {
                let account = req["resource"]["attributes"]["accountId"].clone();
                permit(
                    req,
                    &["books.book.read", "books.book.write"],
                    json!({"serviceName": "books", "accountId": account}),
                    Some(json!(600)),
                )
            })
            .collect();
        (200, answer(answers, pattern.clone()))
    }
}

#[tokio::test]
async fn a_new_cache_key_pattern_drops_generalised_keys_and_their_aliases() {
    let server = Canned::start(account_wide(pattern())).await;
    let pdp = server.client(&ManualClock::new(), CacheConfig::default());
    let check = |action: &'static str, i: &'static str| source(&pdp, action, i);
    assert_eq!(check("books.book.read", "i1").await, DecisionSource::Pdp);
    assert_eq!(check("books.book.write", "i2").await, DecisionSource::Cache);
    // Once more: now from the exact-key alias the generalised hit wrote.
    assert_eq!(check("books.book.write", "i2").await, DecisionSource::Cache);
    assert_eq!(server.calls("/v2/authz"), 1);

    // IAM's next answer comes with another pattern.
    let mut p2 = pattern();
    p2["resource"] = json!([["serviceName", "accountId", "serviceInstance"]]);
    server.set(account_wide(p2));
    let elsewhere = pdp
        .is_authorized(&alice(), "books.book.read", &inst("acct2", "x"))
        .await
        .expect("decision");
    assert_eq!(elsewhere.source, DecisionSource::Pdp);
    assert_eq!(server.calls("/v2/authz"), 2);
    assert_eq!(
        check("books.book.write", "i2").await,
        DecisionSource::Pdp,
        "the alias went with the generalised key"
    );
    assert_eq!(check("books.book.write", "i3").await, DecisionSource::Pdp);
    assert_eq!(
        check("books.book.read", "i1").await,
        DecisionSource::Cache,
        "IAM's exact answers stay"
    );
    assert_eq!(server.calls("/v2/authz"), 4);
}

#[tokio::test]
async fn a_malformed_item_fails_only_itself_and_an_unreadable_lifetime_is_not_cached() {
    let server = Canned::start(|_, _, body| {
        let answers = items(body)
            .iter()
            .map(
                |req| match req["resource"]["attributes"]["serviceInstance"].as_str() {
                    Some("good") => permit(req, &[], json!({}), Some(json!(600))),
                    Some("bad-age") => permit(req, &[], json!({}), Some(json!("600"))),
                    _ => json!({"status": "200", "authorizationDecision": {"permitted": "yes"}}),
                },
            )
            .collect();
        (200, answer(answers, Value::Null))
    })
    .await;
    let pdp = server.client(&ManualClock::new(), CacheConfig::default());
    let reqs = || {
        ["good", "malformed", "bad-age"]
            .iter()
            .map(|i| ibm_iam::authz::AuthzRequest::new(alice(), "books.book.read", inst("acct", i)))
            .collect::<Vec<_>>()
    };
    let results = pdp.authorize_many(reqs()).await;
    assert_eq!(server.calls("/v2/authz"), 1, "one call for the three");
    assert!(results[0].as_ref().expect("good").permitted);
    let err = results[1].as_ref().expect_err("the malformed item fails");
    assert!(!err.to_string().is_empty());
    assert!(
        results[2]
            .as_ref()
            .expect("bad age still decides")
            .permitted
    );

    let again = pdp.authorize_many(reqs()).await;
    assert_eq!(
        again[0].as_ref().expect("good").source,
        DecisionSource::Cache
    );
    assert!(
        again[1].is_err(),
        "an unreadable item is never cached as a deny"
    );
    assert_eq!(
        again[2].as_ref().expect("bad age").source,
        DecisionSource::Pdp,
        "a permit with an unreadable maxCacheAgeSeconds is not cached"
    );
}

#[tokio::test]
async fn an_unreadable_bulk_decision_is_an_error_not_a_cached_deny() {
    let server = Canned::start(|_, path, body| {
        if path != "/v2/authz/bulk" {
            return (500, "{}".into());
        }
        let decisions: Vec<Value> = body["resources"]["uniqueAttributes"]
            .as_array()
            .expect("unique")
            .iter()
            .map(|u| match u["serviceInstance"].as_str() {
                Some("p") => json!({"decision": "Permit", "obligation": {"actions": ["books.book.read"], "maxCacheAgeSeconds": 600}}),
                Some("d") => json!({"decision": "Deny"}),
                _ => json!({"decision": "Perhaps"}),
            })
            .collect();
        (200, json!({"decisions": decisions}).to_string())
    })
    .await;
    let pdp = server.client(&ManualClock::new(), CacheConfig::default());
    let resources: Vec<Resource> = ["p", "odd", "d"].iter().map(|i| inst("acct", i)).collect();
    let r = pdp
        .authorize_resources(&alice(), "books.book.read", &resources)
        .await;
    assert!(r[0].as_ref().expect("permit").permitted);
    assert!(r[1].is_err(), "neither Permit nor Deny: an error");
    assert!(!r[2].as_ref().expect("deny").permitted);
    let again = pdp
        .authorize_resources(&alice(), "books.book.read", &resources)
        .await;
    assert_eq!(again[0].as_ref().expect("p").source, DecisionSource::Cache);
    assert_eq!(again[2].as_ref().expect("d").source, DecisionSource::Cache);
    assert!(again[1].is_err(), "not cached as a deny: asked again");
    assert_eq!(server.calls("/v2/authz/bulk"), 2);
    assert_eq!(
        server.bodies("/v2/authz/bulk")[1]["resources"]["uniqueAttributes"],
        json!([{"serviceInstance": "odd"}])
    );
}

#[tokio::test]
async fn without_max_cache_age_a_permit_lives_the_600_s_fallback() {
    let server = Canned::start(|_, _, body| {
        let answers = items(body)
            .iter()
            .map(|req| {
                permit(
                    req,
                    &["books.book.read", "books.book.write"],
                    json!({"serviceName": "books", "accountId": "acct"}),
                    None,
                )
            })
            .collect();
        (200, answer(answers, pattern()))
    })
    .await;
    let clock = ManualClock::new();
    let pdp = server.client(&clock, CacheConfig::default());
    let check = |action: &'static str, i: &'static str| source(&pdp, action, i);
    assert_eq!(check("books.book.read", "i1").await, DecisionSource::Pdp);
    clock.advance(std::time::Duration::from_secs(599));
    assert_eq!(check("books.book.read", "i1").await, DecisionSource::Cache);
    assert_eq!(
        check("books.book.write", "i2").await,
        DecisionSource::Cache,
        "generalised too"
    );
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(check("books.book.read", "i1").await, DecisionSource::Pdp);
    assert_eq!(server.calls("/v2/authz"), 2);
}

#[tokio::test]
async fn context_denies_are_cached_by_environment_with_their_own_lifetime_and_switch() {
    use ibm_iam::authz::{AuthzRequest, Environment};
    // Denied from outside the corporate network, permitted from inside.
    let server = Canned::start(|_, _, body| {
        let answers = items(body)
            .iter()
            .map(
                |req| match req["environment"]["attributes"]["networkZone"].as_str() {
                    Some("corp") => permit(req, &[], json!({}), Some(json!(600))),
                    _ => deny("Network"),
                },
            )
            .collect();
        (200, answer(answers, Value::Null))
    })
    .await;
    let from = |zone: &str| {
        AuthzRequest::new(alice(), "books.book.read", inst("acct", "i1"))
            .environment(Environment::none().with("networkZone", zone))
    };
    let clock = ManualClock::new();
    let pdp = server.client(
        &clock,
        CacheConfig {
            context_deny_ttl: std::time::Duration::from_secs(30),
            ..CacheConfig::default()
        },
    );
    let outside = pdp.authorize(from("outside")).await.expect("d");
    assert!(outside.is_context_deny());
    let cached = pdp.authorize(from("outside")).await.expect("d");
    assert!(cached.is_context_deny() && cached.source == DecisionSource::Cache);
    let inside = pdp.authorize(from("corp")).await.expect("d");
    assert!(inside.permitted, "another environment is another question");
    assert_eq!(inside.source, DecisionSource::Pdp);
    clock.advance(std::time::Duration::from_secs(30));
    assert_eq!(
        pdp.authorize(from("outside")).await.expect("d").source,
        DecisionSource::Pdp,
        "context_deny_ttl honoured"
    );
    assert_eq!(server.calls("/v2/authz"), 3);

    // Switched off: every context deny is asked again; ordinary caching is unaffected.
    let pdp = server.client(
        &clock,
        CacheConfig {
            context_denies: false,
            ..CacheConfig::default()
        },
    );
    for _ in 0..2 {
        let d = pdp.authorize(from("outside")).await.expect("d");
        assert_eq!(d.source, DecisionSource::Pdp);
    }
    pdp.authorize(from("corp")).await.expect("d");
    assert_eq!(
        pdp.authorize(from("corp")).await.expect("d").source,
        DecisionSource::Cache
    );
}

#[tokio::test]
async fn a_wrong_number_of_answers_fails_the_whole_call_closed() {
    // Always one permit, however many were asked.
    let server = Canned::start(|_, _, body| {
        let first = items(body).first().cloned().unwrap_or(Value::Null);
        (
            200,
            answer(
                vec![permit(
                    &first,
                    &["books.book.read"],
                    json!({}),
                    Some(json!(600)),
                )],
                pattern(),
            ),
        )
    })
    .await;
    let pdp = server.client(&ManualClock::new(), CacheConfig::default());
    let reqs = || {
        ["i1", "i2"]
            .iter()
            .map(|i| ibm_iam::authz::AuthzRequest::new(alice(), "books.book.read", inst("acct", i)))
            .collect::<Vec<_>>()
    };
    let r = pdp.authorize_many(reqs()).await;
    assert_eq!(server.calls("/v2/authz"), 1);
    for item in &r {
        let e = item
            .as_ref()
            .expect_err("no permit from a mismatched answer");
        assert!(e.to_string().contains("1 answers for 2 requests"), "{e}");
    }
    // Nothing was cached from it.
    let r = pdp.authorize_many(reqs()).await;
    assert!(r.iter().all(Result::is_err));
    assert_eq!(server.calls("/v2/authz"), 2);
}
