//! Answers the emulator never gives, from a canned PDP.

use ibm_iam::authz::{CacheConfig, DecisionSource, Resource, Subject};
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
