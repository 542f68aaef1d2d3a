//! The PDP's JSON: `/v2/authz`, `/v2/authz/roles` and `/v2/authz/bulk` answers (wire
//! reference §4.4-4.6), read leniently where IAM varies and strictly where it matters.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::cache::KeyPattern;
use super::types::{Decision, DecisionSource, Obligation};
use crate::error::{Error, IamError};

/// A `/v2/authz` answer: the items, each still raw so that one unreadable item fails only
/// itself, and the `cacheKeyPattern` (an unreadable pattern is no pattern: nothing is
/// generalised).
pub(crate) struct AuthzResponse {
    pub responses: Vec<Value>,
    pub cache_key_pattern: Option<KeyPattern>,
}

impl AuthzResponse {
    /// Reads the answer's frame; `None` when `responses` is not an array.
    pub fn read(mut v: Value) -> Option<Self> {
        let pattern = pattern(v.get("cacheKeyPattern"));
        match v.get_mut("responses").map(Value::take) {
            Some(Value::Array(responses)) => Some(Self {
                responses,
                cache_key_pattern: pattern,
            }),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct WirePattern {
    #[serde(default)]
    subject: Vec<Vec<String>>,
    #[serde(default)]
    resource: Vec<Vec<String>>,
}

/// IAM's `cacheKeyPattern`, when readable.
pub(crate) fn pattern(v: Option<&Value>) -> Option<KeyPattern> {
    // Read from the borrowed value: no copy of it is made.
    let p = WirePattern::deserialize(v?).ok()?;
    Some(KeyPattern {
        subject: p.subject,
        resource: p.resource,
    })
}

/// String attributes only: a non-string value makes the set unusable for cache keys, as in
/// IBM's enforcement library.
fn strings(a: Option<&Value>) -> Option<BTreeMap<String, String>> {
    a?.get("attributes")?
        .as_object()?
        .iter()
        .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect()
}

/// `maxCacheAgeSeconds`: absent (or null) is `None` (the fallback lifetime applies). A
/// value that is not a non-negative whole number is read as 0, so the permit is not
/// cached: IAM said something about the lifetime that cannot be honoured, and not
/// caching is the choice that can never keep a permit longer than IAM allowed.
fn max_age(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Null => None,
        Value::Number(n) => Some(n.as_u64().unwrap_or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1e15)
                .map_or(0, |f| f as u64)
        })),
        _ => Some(0),
    }
}

/// An obligation, read leniently: what cannot be read is left out (and so not used for
/// caching).
fn obligation(v: &Value) -> Option<Obligation> {
    let o = v.as_object()?;
    Some(Obligation {
        actions: o
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        max_cache_age_seconds: max_age(o.get("maxCacheAgeSeconds")),
        subject: strings(o.get("subject")),
        resource: strings(o.get("resource")),
    })
}

/// A decision from its parts; `None` unless `permitted` is a boolean.
pub(crate) fn decision(
    permitted: Option<bool>,
    reason: Option<&Value>,
    ob: Option<&Value>,
) -> Option<Decision> {
    Some(Decision {
        permitted: permitted?,
        reason: reason
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
        obligation: ob.and_then(obligation).map(std::sync::Arc::new),
        source: DecisionSource::Pdp,
    })
}

fn status_code(v: Option<&Value>) -> Option<u16> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

/// One item of a `/v2/authz` answer: its decision, or its own error (other items are
/// unaffected). An item that cannot be read is an error, never a decision.
pub(crate) fn authz_item(v: &Value, url: &str) -> Result<Decision, Error> {
    let status = status_code(v.get("status")).unwrap_or(200);
    let unreadable = |message: &str| Error::InvalidResponse {
        url: url.to_owned(),
        status,
        message: message.to_owned(),
        transaction_id: v
            .get("error")
            .and_then(|e| e.get("transactionId"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    if status == 200 {
        let Some(d) = v.get("authorizationDecision") else {
            return Err(unreadable(
                "an item has status 200 but no authorizationDecision",
            ));
        };
        return decision(
            d.get("permitted").and_then(Value::as_bool),
            d.get("reason"),
            d.get("obligation"),
        )
        .ok_or_else(|| unreadable("an item's authorizationDecision has no boolean 'permitted'"));
    }
    Err(item_error(v, status))
}

/// The error of an item whose status is not 200.
fn item_error(v: &Value, status: u16) -> Error {
    let err = v.get("error").unwrap_or(&Value::Null);
    let first = err.get("errors").and_then(|e| e.get(0));
    let s = |v: Option<&Value>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Error::Iam(IamError {
        status,
        code: s(first, "code").or_else(|| s(first, "businessCode")),
        message: s(first, "message")
            .unwrap_or_else(|| format!("the PDP could not decide this item (status {status})")),
        details: s(first, "moreInfo"),
        transaction_id: s(Some(err), "transactionId"),
        retry_after: None,
    })
}

/// One decision of a `/v2/authz/bulk` answer: `decision` must be `Permit` or `Deny`;
/// anything else is this item's error (never a cached deny).
pub(crate) fn bulk_item(v: &Value, url: &str) -> Result<Decision, Error> {
    let permitted = match v.get("decision").and_then(Value::as_str) {
        Some("Permit") => Some(true),
        Some("Deny") => Some(false),
        _ => None,
    };
    decision(permitted, v.get("reason"), v.get("obligation")).ok_or_else(|| {
        Error::InvalidResponse {
            url: url.to_owned(),
            status: 200,
            message: "a bulk decision is neither 'Permit' nor 'Deny'".into(),
            transaction_id: None,
        }
    })
}

/// One role and the actions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleActions {
    /// The role's CRN (`crn:v1:bluemix:public:iam::::serviceRole:Reader`).
    pub role_crn: String,
    /// Its display name.
    pub display_name: Option<String>,
    /// The actions it grants on the resource.
    pub actions: Vec<String>,
}

/// A subject's roles on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roles {
    /// Service roles (`roleActions`).
    pub service: Vec<RoleActions>,
    /// Platform roles (`platformExtensions.roleActions`).
    pub platform: Vec<RoleActions>,
}

impl Roles {
    /// Every action any of the roles grants, sorted, without duplicates.
    pub fn actions(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .service
            .iter()
            .chain(&self.platform)
            .flat_map(|r| r.actions.clone())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

fn role_actions(v: Option<&Value>) -> Vec<RoleActions> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|ra| {
                    let role = ra.get("role")?;
                    Some(RoleActions {
                        role_crn: role.get("crn")?.as_str()?.to_owned(),
                        display_name: role
                            .get("displayName")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        actions: ra
                            .get("actions")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| {
                                        x.get("action")
                                            .and_then(Value::as_str)
                                            .or_else(|| x.as_str())
                                    })
                                    .map(str::to_owned)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one item of a `/v2/authz/roles` answer.
pub(crate) fn roles_item(v: &Value) -> Result<Roles, Error> {
    let status = status_code(v.get("status")).unwrap_or(200);
    if status != 200 {
        return Err(item_error(v, status));
    }
    Ok(Roles {
        service: role_actions(v.get("roleActions")),
        platform: role_actions(
            v.get("platformExtensions")
                .and_then(|p| p.get("roleActions")),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_status_as_string_or_number_and_item_errors() {
        let body = serde_json::json!({
            "responses": [
                {"status": "200", "authorizationDecision": {"permitted": true, "obligation": {"actions": ["a.b.c"], "maxCacheAgeSeconds": 600,
                    "subject": {"attributes": {"id": "IBMid-1", "scope": "ibm openid"}}, "resource": {"attributes": {"serviceName": "a", "n": 5}}}}},
                {"status": 200, "authorizationDecision": {"permitted": false, "reason": "Network"}},
                {"status": "400", "error": {"transactionId": "t1", "errors": [{"code": "bad_subject", "message": "Unknown subject"}]}},
                {"status": "200"}
            ],
            "cacheKeyPattern": {"order": ["subject", "resource", "action"], "subject": [["id"]], "resource": [[]]}
        });
        let r = AuthzResponse::read(body).expect("parse");
        assert!(r.cache_key_pattern.is_some());
        let mut items = r.responses.iter().map(|i| authz_item(i, "u"));
        let first = items.next().expect("1").expect("permit");
        let o = first.obligation.expect("obligation");
        assert!(o.subject.is_some());
        assert!(
            o.resource.is_none(),
            "a non-string attribute makes the set unusable"
        );
        assert!(items.next().expect("2").expect("deny").is_context_deny());
        let err = items.next().expect("3").expect_err("item error");
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.iam_code(), Some("bad_subject"));
        assert_eq!(err.transaction_id(), Some("t1"));
        assert!(items.next().expect("4").is_err());
    }

    #[test]
    fn a_malformed_item_fails_alone_and_an_unreadable_lifetime_is_not_cached() {
        let ob = |max: Value| {
            serde_json::json!({"status": "200", "authorizationDecision": {"permitted": true,
                "obligation": {"actions": ["a.b.c", 7], "maxCacheAgeSeconds": max}}})
        };
        let body = serde_json::json!({
            "responses": [
                {"status": "200", "authorizationDecision": {"permitted": "yes"}},
                {"status": "200", "authorizationDecision": {"permitted": true, "reason": 5}},
                ob(serde_json::json!(300)),
                ob(serde_json::json!(300.5)),
                ob(serde_json::json!("300")),
                ob(serde_json::json!(-1)),
                ob(serde_json::json!(120.0)),
                ob(Value::Null),
                {"status": "200", "authorizationDecision": {"permitted": false, "obligation": "x"}},
                {"status": "oops"},
                17
            ],
            "cacheKeyPattern": {"subject": "not a list"}
        });
        let r = AuthzResponse::read(body).expect("frame");
        assert!(
            r.cache_key_pattern.is_none(),
            "an unreadable pattern is none"
        );
        let items: Vec<Result<Decision, Error>> =
            r.responses.iter().map(|i| authz_item(i, "u")).collect();
        assert!(items[0].is_err(), "permitted must be a boolean");
        let d = items[1].as_ref().expect("a bad reason is no reason");
        assert!(d.permitted && d.reason.is_none());
        let age = |i: usize| {
            items[i]
                .as_ref()
                .expect("decision")
                .obligation
                .as_ref()
                .expect("obligation")
                .max_cache_age_seconds
        };
        assert_eq!(age(2), Some(300));
        assert_eq!(age(3), Some(0), "fractional: not cached");
        assert_eq!(age(4), Some(0), "a string: not cached");
        assert_eq!(age(5), Some(0), "negative: not cached");
        assert_eq!(age(6), Some(120));
        assert_eq!(age(7), None, "null is absent: the fallback applies");
        assert_eq!(
            items[2]
                .as_ref()
                .expect("d")
                .obligation
                .as_ref()
                .expect("o")
                .actions,
            ["a.b.c"]
        );
        assert!(items[8].as_ref().expect("deny").obligation.is_none());
        assert!(items[9].is_err());
        assert!(items[10].is_err());
        assert!(AuthzResponse::read(serde_json::json!({"responses": {}})).is_none());
        for (v, ok) in [
            (serde_json::json!({"decision": "Permit"}), Some(true)),
            (
                serde_json::json!({"decision": "Deny", "reason": "Context"}),
                Some(false),
            ),
            (serde_json::json!({"decision": "Maybe"}), None),
            (serde_json::json!({"decision": true}), None),
            (serde_json::json!(null), None),
        ] {
            assert_eq!(bulk_item(&v, "u").ok().map(|d| d.permitted), ok, "{v}");
        }
    }

    #[test]
    fn roles_service_and_platform() {
        let v = serde_json::json!({"status": "200",
            "roleActions": [{"role": {"crn": "crn:v1:bluemix:public:iam::::serviceRole:Reader", "displayName": "Reader"}, "actions": [{"action": "books.book.read"}]}],
            "platformExtensions": {"roleActions": [{"role": {"crn": "crn:v1:bluemix:public:iam::::role:Viewer"}, "actions": [{"action": "books.dashboard.view"}, {"action": "books.book.read"}]}]}});
        let roles = roles_item(&v).expect("roles");
        assert_eq!(
            roles.service[0].role_crn,
            "crn:v1:bluemix:public:iam::::serviceRole:Reader"
        );
        assert_eq!(roles.actions(), ["books.book.read", "books.dashboard.view"]);
    }
}
