//! The PDP's JSON: `/v2/authz`, `/v2/authz/roles` and `/v2/authz/bulk` answers (wire
//! reference §4.4-4.6), read leniently where IAM varies and strictly where it matters.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::cache::KeyPattern;
use super::types::{Decision, DecisionSource, Obligation};
use crate::error::{Error, IamError};

#[derive(Deserialize)]
pub(crate) struct AuthzResponse {
    pub responses: Vec<Item>,
    #[serde(rename = "cacheKeyPattern")]
    pub cache_key_pattern: Option<WirePattern>,
}

#[derive(Deserialize)]
pub(crate) struct Item {
    pub status: Option<Value>,
    #[serde(rename = "authorizationDecision")]
    pub decision: Option<WireDecision>,
    pub error: Option<Value>,
}

#[derive(Deserialize)]
pub(crate) struct WireDecision {
    pub permitted: bool,
    pub reason: Option<String>,
    pub obligation: Option<WireObligation>,
}

#[derive(Deserialize)]
pub(crate) struct WireObligation {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(rename = "maxCacheAgeSeconds")]
    pub max_cache_age_seconds: Option<u64>,
    pub subject: Option<Attrs>,
    pub resource: Option<Attrs>,
}

#[derive(Deserialize)]
pub(crate) struct Attrs {
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
pub(crate) struct WirePattern {
    #[serde(default)]
    pub subject: Vec<Vec<String>>,
    #[serde(default)]
    pub resource: Vec<Vec<String>>,
}

impl WirePattern {
    pub fn into_pattern(self) -> KeyPattern {
        KeyPattern {
            subject: self.subject,
            resource: self.resource,
        }
    }
}

/// String attributes only: a non-string value makes the set unusable for cache keys, as in
/// IBM's enforcement library.
fn strings(a: Option<Attrs>) -> Option<BTreeMap<String, String>> {
    a?.attributes
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect()
}

impl WireDecision {
    pub fn into_decision(self) -> Decision {
        Decision {
            permitted: self.permitted,
            reason: self.reason.filter(|r| !r.is_empty()),
            obligation: self.obligation.map(|o| {
                std::sync::Arc::new(Obligation {
                    actions: o.actions,
                    max_cache_age_seconds: o.max_cache_age_seconds,
                    subject: strings(o.subject),
                    resource: strings(o.resource),
                })
            }),
            source: DecisionSource::Pdp,
        }
    }
}

fn status_code(v: Option<&Value>) -> Option<u16> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

impl Item {
    /// This item's decision, or its own error (other items are unaffected).
    pub fn into_result(self, url: &str) -> Result<Decision, Error> {
        let status = status_code(self.status.as_ref()).unwrap_or(200);
        if status == 200
            && let Some(d) = self.decision
        {
            return Ok(d.into_decision());
        }
        let err = self.error.unwrap_or(Value::Null);
        let first = err.get("errors").and_then(|e| e.get(0));
        let s = |v: Option<&Value>, k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if status == 200 {
            return Err(Error::InvalidResponse {
                url: url.to_owned(),
                status,
                message: "an item has status 200 but no authorizationDecision".into(),
                transaction_id: s(Some(&err), "transactionId"),
            });
        }
        Err(Error::Iam(IamError {
            status,
            code: s(first, "code").or_else(|| s(first, "businessCode")),
            message: s(first, "message")
                .unwrap_or_else(|| format!("the PDP could not decide this item (status {status})")),
            details: s(first, "moreInfo"),
            transaction_id: s(Some(&err), "transactionId"),
            retry_after: None,
        }))
    }
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
pub(crate) fn roles_item(v: &Value, url: &str) -> Result<Roles, Error> {
    let status = status_code(v.get("status")).unwrap_or(200);
    if status != 200 {
        let item = Item {
            status: v.get("status").cloned(),
            decision: None,
            error: v.get("error").cloned(),
        };
        return Err(item
            .into_result(url)
            .err()
            .unwrap_or_else(|| Error::InvalidResponse {
                url: url.to_owned(),
                status,
                message: "the roles item failed".into(),
                transaction_id: None,
            }));
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
        let r: AuthzResponse = serde_json::from_value(body).expect("parse");
        assert!(r.cache_key_pattern.is_some());
        let mut items = r.responses.into_iter().map(|i| i.into_result("u"));
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
    fn roles_service_and_platform() {
        let v = serde_json::json!({"status": "200",
            "roleActions": [{"role": {"crn": "crn:v1:bluemix:public:iam::::serviceRole:Reader", "displayName": "Reader"}, "actions": [{"action": "books.book.read"}]}],
            "platformExtensions": {"roleActions": [{"role": {"crn": "crn:v1:bluemix:public:iam::::role:Viewer"}, "actions": [{"action": "books.dashboard.view"}, {"action": "books.book.read"}]}]}});
        let roles = roles_item(&v, "u").expect("roles");
        assert_eq!(
            roles.service[0].role_crn,
            "crn:v1:bluemix:public:iam::::serviceRole:Reader"
        );
        assert_eq!(roles.actions(), ["books.book.read", "books.dashboard.view"]);
    }
}
