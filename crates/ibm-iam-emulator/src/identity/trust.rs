//! Compute-resource trust: whether a CR token's claims satisfy a trusted profile's rules.

use serde_json::{Map, Value};

use super::model::{Profile, ProfileRule, RuleCondition};

/// The first `Profile-CR` rule of `profile` that `claims` satisfy.
pub fn matching_rule<'p>(
    profile: &'p Profile,
    claims: &Map<String, Value>,
) -> Option<&'p ProfileRule> {
    profile.rules.iter().find(|rule| rule_matches(rule, claims))
}

fn rule_matches(rule: &ProfileRule, claims: &Map<String, Value>) -> bool {
    if rule.rule_type != "Profile-CR" {
        return false;
    }
    if let (Some(want), Some(got)) = (&rule.cr_type, claims.get("cr_type").and_then(Value::as_str))
        && want != got
    {
        return false;
    }
    !rule.conditions.is_empty() && rule.conditions.iter().all(|c| condition_holds(c, claims))
}

/// IAM's API carries condition values JSON-encoded (`"\"default\""`, `"[\"a\",\"b\"]"`); a
/// plain string is taken literally.
fn expected_values(value: &str) -> Vec<String> {
    match serde_json::from_str::<Value>(value) {
        Ok(Value::String(s)) => vec![s],
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => value.split(',').map(|s| s.trim().to_owned()).collect(),
    }
}

fn condition_holds(cond: &RuleCondition, claims: &Map<String, Value>) -> bool {
    let Some(actual) = claims.get(&cond.claim).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }) else {
        return false;
    };
    let expected = expected_values(&cond.value);
    let first = expected.first().map(String::as_str).unwrap_or_default();
    match cond.operator.as_str() {
        "EQUALS" => actual == first,
        "NOT_EQUALS" => actual != first,
        "EQUALS_IGNORE_CASE" => actual.eq_ignore_ascii_case(first),
        "NOT_EQUALS_IGNORE_CASE" => !actual.eq_ignore_ascii_case(first),
        "CONTAINS" => actual.contains(first),
        "IN" => expected.contains(&actual),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::Meta;

    fn profile(conditions: Vec<RuleCondition>) -> Profile {
        Profile {
            id: "Profile-1".into(),
            name: "p".into(),
            account_id: "a".into(),
            description: None,
            rules: vec![ProfileRule {
                id: "r".into(),
                name: "r".into(),
                rule_type: "Profile-CR".into(),
                cr_type: Some("IKS_SA".into()),
                conditions,
                expiration: None,
            }],
            identities: vec![],
            meta: Meta {
                created_at: 0,
                modified_at: 0,
                created_by: "t".into(),
                version: 1,
            },
        }
    }

    fn cond(claim: &str, op: &str, value: &str) -> RuleCondition {
        RuleCondition {
            claim: claim.into(),
            operator: op.into(),
            value: value.into(),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn operators() {
        let c = claims(
            serde_json::json!({"namespace": "books", "sub": "system:serviceaccount:books:default"}),
        );
        assert!(
            matching_rule(&profile(vec![cond("namespace", "EQUALS", "\"books\"")]), &c).is_some()
        );
        assert!(matching_rule(&profile(vec![cond("namespace", "EQUALS", "books")]), &c).is_some());
        assert!(
            matching_rule(&profile(vec![cond("namespace", "EQUALS", "\"other\"")]), &c).is_none()
        );
        assert!(
            matching_rule(
                &profile(vec![cond("namespace", "NOT_EQUALS", "\"other\"")]),
                &c
            )
            .is_some()
        );
        assert!(
            matching_rule(
                &profile(vec![cond("namespace", "EQUALS_IGNORE_CASE", "\"BOOKS\"")]),
                &c
            )
            .is_some()
        );
        assert!(
            matching_rule(&profile(vec![cond("sub", "CONTAINS", "\":books:\"")]), &c).is_some()
        );
        assert!(
            matching_rule(
                &profile(vec![cond("namespace", "IN", "[\"a\",\"books\"]")]),
                &c
            )
            .is_some()
        );
        assert!(
            matching_rule(&profile(vec![cond("missing", "NOT_EQUALS", "\"x\"")]), &c).is_none()
        );
        assert!(
            matching_rule(&profile(vec![cond("namespace", "BOGUS", "\"books\"")]), &c).is_none()
        );
        assert!(
            matching_rule(&profile(vec![]), &c).is_none(),
            "a rule without conditions trusts nobody"
        );
        let vsi = claims(serde_json::json!({"namespace": "books", "cr_type": "VSI"}));
        assert!(
            matching_rule(
                &profile(vec![cond("namespace", "EQUALS", "\"books\"")]),
                &vsi
            )
            .is_none()
        );
    }
}
