//! Reading access policies in IAM's v1 and v2 JSON shapes (wire reference §5.5), for the
//! management APIs and the seed file alike, with IAM's documented validation: type `access`,
//! one subject (`iam_id` or `access_group_id`), at least one role, a resource with a
//! `stringEquals` `accountId` and one of `serviceType`, `serviceName`, `resourceGroupId` or
//! `service_group_id`, values of 1 to 1,000 characters, and a `pattern` with every `rule`.

use serde_json::{Map, Value};

use super::attrs::{self, MAX_VALUE_LEN};
use super::model::{ApiVersion, AttrCondition, Policy, PolicySubject, StringOp, StringValue};
use super::rule::Rule;
use crate::identity::model::Meta;

/// Longest description.
pub const MAX_DESCRIPTION: usize = 300;
/// Most roles in one policy.
pub const MAX_ROLES: usize = 20;
/// Most attributes in a policy's resource.
pub const MAX_ATTRIBUTES: usize = 20;

/// A parsed policy, before it gets an id and bookkeeping.
#[derive(Debug, Clone)]
pub struct PolicyDraft {
    /// Which shape it came in.
    pub api: ApiVersion,
    /// The id given in a seed file, if any.
    pub id: Option<String>,
    /// The account (the resource's `accountId`).
    pub account_id: String,
    /// Who it grants to.
    pub subject: PolicySubject,
    /// Role CRNs.
    pub roles: Vec<String>,
    /// Resource conditions.
    pub resource: Vec<AttrCondition>,
    /// Tag conditions.
    pub tags: Vec<AttrCondition>,
    /// v2 rule.
    pub rule: Option<Rule>,
    /// v2 pattern.
    pub pattern: Option<String>,
    /// Description.
    pub description: Option<String>,
}

impl PolicyDraft {
    /// The stored policy.
    pub fn into_policy(self, id: String, meta: Meta) -> Policy {
        Policy {
            id,
            api: self.api,
            policy_type: "access".into(),
            account_id: self.account_id,
            subject: self.subject,
            roles: self.roles,
            resource: self.resource,
            tags: self.tags,
            rule: self.rule,
            pattern: self.pattern,
            description: self.description,
            meta,
        }
    }
}

/// Where a policy comes from: the API (no `id`) or the seed file (an optional `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `POST /v1/policies` or `POST /v2/policies`.
    Api,
    /// The seed file.
    Seed,
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("'{what}' must be an object"))
}

fn array<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a Vec<Value>, String> {
    v.and_then(Value::as_array)
        .ok_or_else(|| format!("'{what}' must be an array"))
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} has no field '{k}'")),
        None => Ok(()),
    }
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, String> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what} needs a string '{key}'"))
}

fn common(
    obj: &Map<String, Value>,
    origin: Origin,
) -> Result<(Option<String>, Option<String>), String> {
    match obj.get("type").and_then(Value::as_str) {
        Some("access") => {}
        Some("authorization") => {
            return Err(
                "authorization (service-to-service) policies are not emulated; use type 'access'"
                    .into(),
            );
        }
        _ => return Err("'type' must be \"access\"".into()),
    }
    let description = match obj.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_DESCRIPTION => Some(s.clone()),
        Some(_) => {
            return Err(format!(
                "'description' must be a string of at most {MAX_DESCRIPTION} characters"
            ));
        }
    };
    let id = match (origin, obj.get("id")) {
        (_, None) => None,
        (Origin::Seed, Some(Value::String(s))) if !s.trim().is_empty() => Some(s.clone()),
        (Origin::Seed, Some(_)) => return Err("a policy 'id' must be a non-empty string".into()),
        (Origin::Api, Some(_)) => return Err("a new policy cannot choose its 'id'".into()),
    };
    Ok((id, description))
}

fn subject(name: &str, value: &Value) -> Result<PolicySubject, String> {
    let v = value
        .as_str()
        .filter(|s| !s.trim().is_empty() && s.len() <= MAX_VALUE_LEN)
        .ok_or_else(|| format!("subject attribute '{name}' needs a non-empty string value"))?
        .to_owned();
    match name {
        "iam_id" => Ok(PolicySubject::IamId(v)),
        "access_group_id" => Ok(PolicySubject::AccessGroupId(v)),
        other => Err(format!(
            "subject attribute '{other}' is not supported; use iam_id or access_group_id"
        )),
    }
}

fn role_ids<'a>(items: impl Iterator<Item = &'a Value>) -> Result<Vec<String>, String> {
    let mut roles: Vec<String> = Vec::new();
    for r in items {
        let id = r
            .get("role_id")
            .and_then(Value::as_str)
            .filter(|s| s.starts_with("crn:"))
            .ok_or("every role needs a 'role_id' that is a role CRN")?;
        if !roles.iter().any(|x| x == id) {
            roles.push(id.to_owned());
        }
    }
    if roles.is_empty() || roles.len() > MAX_ROLES {
        return Err(format!("a policy grants 1 to {MAX_ROLES} roles"));
    }
    Ok(roles)
}

/// One resource or tag attribute; `name_key` is `name` (v1) or `key` (v2; `name` accepted).
fn attribute(v: &Value, v2: bool, what: &str) -> Result<AttrCondition, String> {
    let obj = object(v, what)?;
    only_keys(obj, &["name", "key", "value", "operator"], what)?;
    let key = obj
        .get(if v2 { "key" } else { "name" })
        .or_else(|| obj.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            format!(
                "{what} needs a string '{}'",
                if v2 { "key" } else { "name" }
            )
        })?;
    let operator = match obj.get("operator") {
        None if !v2 => StringOp::StringEquals,
        None => return Err(format!("{what} '{key}' needs an 'operator'")),
        Some(op) => op
            .as_str()
            .and_then(StringOp::parse)
            .filter(|op| v2 || matches!(op, StringOp::StringEquals | StringOp::StringMatch))
            .ok_or_else(|| {
                format!(
                    "{what} '{key}': operator {op} is not supported{}",
                    if v2 {
                        ""
                    } else {
                        " in v1 policies (stringEquals, stringMatch)"
                    }
                )
            })?,
    };
    let raw = obj
        .get("value")
        .ok_or_else(|| format!("{what} '{key}' needs a 'value'"))?;
    if !v2 && !raw.is_string() {
        return Err(format!("{what} '{key}' needs a string 'value'"));
    }
    let value =
        attrs::parse_string_value(operator, raw).map_err(|e| format!("{what} '{key}': {e}"))?;
    if let StringValue::One(s) = &value
        && s.is_empty()
    {
        return Err(format!("{what} '{key}' has an empty value"));
    }
    Ok(AttrCondition {
        key: key.to_owned(),
        operator,
        value,
    })
}

fn resource_attributes(items: &[Value], v2: bool) -> Result<(String, Vec<AttrCondition>), String> {
    if items.is_empty() || items.len() > MAX_ATTRIBUTES {
        return Err(format!(
            "a policy resource has 1 to {MAX_ATTRIBUTES} attributes"
        ));
    }
    let attrs = items
        .iter()
        .map(|a| attribute(a, v2, "resource attribute"))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, a) in attrs.iter().enumerate() {
        if attrs[..i].iter().any(|b| b.key == a.key) {
            return Err(format!("resource attribute '{}' is given twice", a.key));
        }
    }
    let account = match attrs.iter().find(|a| a.key == "accountId") {
        Some(AttrCondition {
            operator: StringOp::StringEquals,
            value: StringValue::One(v),
            ..
        }) => v.clone(),
        _ => {
            return Err(
                "a policy resource needs an 'accountId' attribute with operator stringEquals"
                    .into(),
            );
        }
    };
    if !attrs.iter().any(|a| {
        matches!(
            a.key.as_str(),
            "serviceType" | "serviceName" | "resourceGroupId" | "service_group_id"
        )
    }) {
        return Err(
            "a policy resource needs a serviceType, serviceName, resourceGroupId or service_group_id attribute"
                .into(),
        );
    }
    Ok((account, attrs))
}

fn tags(v: Option<&Value>, v2: bool) -> Result<Vec<AttrCondition>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|t| attribute(t, v2, "tag")).collect(),
        Some(_) => Err("'tags' must be an array".into()),
    }
}

/// Parses a v1 policy (`type`, `subjects`, `roles`, `resources`, `description`).
pub fn parse_v1(body: &Value, origin: Origin) -> Result<PolicyDraft, String> {
    let obj = object(body, "policy")?;
    only_keys(
        obj,
        &[
            "id",
            "type",
            "subjects",
            "roles",
            "resources",
            "description",
        ],
        "a v1 policy",
    )?;
    let (id, description) = common(obj, origin)?;
    let subjects = array(obj.get("subjects"), "subjects")?;
    let [subj] = subjects.as_slice() else {
        return Err("'subjects' must hold exactly one subject".into());
    };
    let subj = object(subj, "subjects[0]")?;
    let sattrs = array(subj.get("attributes"), "subjects[0].attributes")?;
    let [sattr] = sattrs.as_slice() else {
        return Err("a subject must have exactly one attribute (iam_id or access_group_id)".into());
    };
    let sattr = object(sattr, "subject attribute")?;
    let subject = subject(
        string(sattr, "name", "a subject attribute")?,
        sattr.get("value").unwrap_or(&Value::Null),
    )?;
    let roles = role_ids(array(obj.get("roles"), "roles")?.iter())?;
    let resources = array(obj.get("resources"), "resources")?;
    let [res] = resources.as_slice() else {
        return Err("'resources' must hold exactly one resource".into());
    };
    let res = object(res, "resources[0]")?;
    only_keys(res, &["attributes", "tags"], "a policy resource")?;
    let (account_id, resource) = resource_attributes(
        array(res.get("attributes"), "resources[0].attributes")?,
        false,
    )?;
    Ok(PolicyDraft {
        api: ApiVersion::V1,
        id,
        account_id,
        subject,
        roles,
        resource,
        tags: tags(res.get("tags"), false)?,
        rule: None,
        pattern: None,
        description,
    })
}

/// Parses a v2 policy (`type`, `control.grant.roles`, `subject`, `resource`, `rule`,
/// `pattern`, `description`).
pub fn parse_v2(body: &Value, origin: Origin) -> Result<PolicyDraft, String> {
    let obj = object(body, "policy")?;
    only_keys(
        obj,
        &[
            "id",
            "type",
            "control",
            "subject",
            "resource",
            "rule",
            "pattern",
            "description",
        ],
        "a v2 policy",
    )?;
    let (id, description) = common(obj, origin)?;
    let grant = obj
        .get("control")
        .and_then(|c| c.get("grant"))
        .ok_or("a v2 policy needs 'control.grant.roles'")?;
    let roles = role_ids(array(grant.get("roles"), "control.grant.roles")?.iter())?;
    let subj = object(
        obj.get("subject")
            .ok_or("a v2 access policy needs a 'subject'")?,
        "subject",
    )?;
    let sattrs = array(subj.get("attributes"), "subject.attributes")?;
    let [sattr] = sattrs.as_slice() else {
        return Err("a subject must have exactly one attribute (iam_id or access_group_id)".into());
    };
    let sattr = object(sattr, "subject attribute")?;
    only_keys(sattr, &["key", "operator", "value"], "a subject attribute")?;
    if sattr.get("operator").and_then(Value::as_str) != Some("stringEquals") {
        return Err("a subject attribute needs operator stringEquals".into());
    }
    let subject = subject(
        string(sattr, "key", "a subject attribute")?,
        sattr.get("value").unwrap_or(&Value::Null),
    )?;
    let res = object(
        obj.get("resource")
            .ok_or("a v2 access policy needs a 'resource'")?,
        "resource",
    )?;
    only_keys(res, &["attributes", "tags"], "a policy resource")?;
    let (account_id, resource) =
        resource_attributes(array(res.get("attributes"), "resource.attributes")?, true)?;
    let rule = match obj.get("rule") {
        None | Some(Value::Null) => None,
        Some(r) => Some(Rule::parse(r).map_err(|e| format!("rule: {e}"))?),
    };
    let pattern = match obj.get("pattern") {
        None | Some(Value::Null) => None,
        Some(Value::String(p))
            if p.starts_with("time-based-conditions:")
                || p.starts_with("attribute-based-condition:") =>
        {
            Some(p.clone())
        }
        Some(p) => {
            return Err(format!(
                "pattern {p} is not a time-based-conditions:… or attribute-based-condition:… pattern"
            ));
        }
    };
    if rule.is_some() && pattern.is_none() {
        return Err("a policy with a 'rule' needs the 'pattern' that matches it".into());
    }
    Ok(PolicyDraft {
        api: ApiVersion::V2,
        id,
        account_id,
        subject,
        roles,
        resource,
        tags: tags(res.get("tags"), true)?,
        rule,
        pattern,
        description,
    })
}

/// Parses either shape: v2 when the body has `control`, v1 otherwise.
pub fn parse_any(body: &Value, origin: Origin) -> Result<PolicyDraft, String> {
    if body.get("control").is_some() {
        parse_v2(body, origin)
    } else {
        parse_v1(body, origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1() -> Value {
        json!({
            "type": "access",
            "subjects": [{"attributes": [{"name": "iam_id", "value": "IBMid-1"}]}],
            "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
            "resources": [{"attributes": [
                {"name": "accountId", "value": "acct"},
                {"name": "serviceName", "value": "books", "operator": "stringEquals"},
                {"name": "serviceInstance", "value": "prod-*", "operator": "stringMatch"}]}],
            "description": "d"
        })
    }

    fn v2() -> Value {
        json!({
            "type": "access",
            "control": {"grant": {"roles": [{"role_id": "crn:v1:bluemix:public:iam::::role:Editor"}]}},
            "subject": {"attributes": [{"key": "access_group_id", "operator": "stringEquals", "value": "AccessGroupId-1"}]},
            "resource": {"attributes": [
                {"key": "accountId", "operator": "stringEquals", "value": "acct"},
                {"key": "serviceType", "operator": "stringEquals", "value": "service"}]},
            "rule": {"key": "{{environment.attributes.day_of_week}}", "operator": "dayOfWeekAnyOf", "value": [1, 2]},
            "pattern": "time-based-conditions:weekly:all-day"
        })
    }

    #[test]
    fn valid_shapes() {
        let p = parse_v1(&v1(), Origin::Api).expect("v1");
        assert_eq!(p.account_id, "acct");
        assert_eq!(p.subject, PolicySubject::IamId("IBMid-1".into()));
        assert_eq!(p.resource[2].operator, StringOp::StringMatch);
        assert_eq!(p.description.as_deref(), Some("d"));
        let p = parse_any(&v2(), Origin::Api).expect("v2");
        assert_eq!(p.api, ApiVersion::V2);
        assert!(p.rule.is_some());
        assert_eq!(
            p.subject,
            PolicySubject::AccessGroupId("AccessGroupId-1".into())
        );
    }

    #[test]
    fn invalid_shapes() {
        let mutate = |base: Value, f: &dyn Fn(&mut Value)| {
            let mut v = base;
            f(&mut v);
            v
        };
        let bad_v1 = [
            mutate(v1(), &|v| v["type"] = json!("authorization")),
            mutate(v1(), &|v| v["subjects"] = json!([])),
            mutate(v1(), &|v| {
                v["subjects"][0]["attributes"][0]["name"] = json!("email")
            }),
            mutate(v1(), &|v| v["roles"] = json!([])),
            mutate(v1(), &|v| v["roles"][0]["role_id"] = json!("Reader")),
            mutate(v1(), &|v| {
                v["resources"][0]["attributes"][0]["name"] = json!("accountid")
            }),
            mutate(v1(), &|v| {
                v["resources"][0]["attributes"]
                    .as_array_mut()
                    .expect("a")
                    .truncate(1)
            }),
            mutate(v1(), &|v| {
                v["resources"][0]["attributes"][1]["operator"] = json!("stringExists")
            }),
            mutate(v1(), &|v| {
                v["resources"][0]["attributes"][1]["value"] = json!(5)
            }),
            mutate(v1(), &|v| {
                v["resources"][0]["attributes"][1]["value"] = json!("")
            }),
            mutate(v1(), &|v| v["id"] = json!("x")),
            mutate(v1(), &|v| v["surprise"] = json!(1)),
            json!([]),
        ];
        for b in bad_v1 {
            assert!(parse_v1(&b, Origin::Api).is_err(), "{b}");
        }
        assert!(parse_v1(&mutate(v1(), &|v| v["id"] = json!("seeded")), Origin::Seed).is_ok());
        let bad_v2 = [
            mutate(v2(), &|v| v["pattern"] = Value::Null),
            mutate(v2(), &|v| v["pattern"] = json!("sometimes")),
            mutate(v2(), &|v| v["rule"] = json!({"key": "x"})),
            mutate(v2(), &|v| v["control"] = json!({})),
            mutate(v2(), &|v| {
                v["subject"]["attributes"][0]["operator"] = json!("stringMatch")
            }),
            mutate(v2(), &|v| {
                v["resource"]["attributes"][1]["operator"] = json!("regex")
            }),
        ];
        for b in bad_v2 {
            assert!(parse_v2(&b, Origin::Api).is_err(), "{b}");
        }
    }
}
