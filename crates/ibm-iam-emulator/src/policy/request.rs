//! Reading PDP requests (wire reference §4.3): subjects as `{"attributes": {"id", "scope"}}`
//! or `{"accessTokenBody": "<JWT payload segment>"}`, resources as `{"attributes": {…}}`,
//! `{"crn": "…"}` or `{"attributes": {"crn": "…"}}`, an optional environment and `requestId`.
//!
//! An `accessTokenBody` is only decoded (base64url, then JSON): nothing about it is verified,
//! not even a signature, since it has none. PDP trusts the service that calls it (whose own
//! bearer token *is* verified) to have validated the user's token before asking.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

use super::attrs::{Attrs, MAX_VALUE_LEN};

/// Most attributes in one subject, resource or environment.
pub const MAX_ATTRIBUTES: usize = 50;
/// Largest `accessTokenBody`, characters.
pub const MAX_TOKEN_BODY: usize = 16 * 1024;

/// A request item that cannot be decided: which part of it is wrong and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The field at fault (`subject`, `action`, `resource`, `environment`, `requestId`).
    pub target: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ItemError {
    fn new(target: &'static str, message: impl Into<String>) -> Self {
        Self {
            target,
            message: message.into(),
        }
    }
}

/// The subject of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The IAM id (`attributes.id`, or the token body's `iam_id`).
    pub id: String,
    /// The token scope (`attributes.scope`, or the token body's `scope`), if given.
    pub scope: Option<String>,
}

/// One parsed `/v2/authz` (or `/v2/authz/roles`) item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Who.
    pub subject: Subject,
    /// What (absent in `/v2/authz/roles` requests).
    pub action: Option<String>,
    /// On what.
    pub resource: Attrs,
    /// In which environment.
    pub environment: Attrs,
}

/// Whether an item must, or must not, carry an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionRule {
    /// `/v2/authz`: an action is required.
    Required,
    /// `/v2/authz/roles`: an action is refused.
    Forbidden,
}

/// The item's `requestId`, when it is a string (echoed even when the item is invalid).
pub fn request_id(item: &Value) -> Option<String> {
    item.get("requestId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Reads one item of a `/v2/authz` or `/v2/authz/roles` array.
pub fn parse_item(item: &Value, action: ActionRule) -> Result<Item, ItemError> {
    let obj = item
        .as_object()
        .ok_or_else(|| ItemError::new("request", "each request must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "subject" | "action" | "resource" | "environment" | "requestId"
        )
    }) {
        return Err(ItemError::new(
            "request",
            format!("a request has no field '{k}'"),
        ));
    }
    if obj.get("requestId").is_some_and(|r| !r.is_string()) {
        return Err(ItemError::new("requestId", "'requestId' must be a string"));
    }
    let subject = parse_subject(
        obj.get("subject")
            .ok_or_else(|| ItemError::new("subject", "the request has no 'subject'"))?,
    )?;
    let action = match (action, obj.get("action")) {
        (ActionRule::Required, None) => {
            return Err(ItemError::new("action", "the request has no 'action'"));
        }
        (ActionRule::Required, Some(a)) => Some(parse_action(a)?),
        (ActionRule::Forbidden, None) => None,
        (ActionRule::Forbidden, Some(_)) => {
            return Err(ItemError::new(
                "action",
                "a roles request takes no 'action'",
            ));
        }
    };
    let resource = parse_resource(
        obj.get("resource")
            .ok_or_else(|| ItemError::new("resource", "the request has no 'resource'"))?,
    )?;
    let environment = parse_environment(obj.get("environment"))?;
    Ok(Item {
        subject,
        action,
        resource,
        environment,
    })
}

/// Reads an action: a non-empty string without spaces.
pub fn parse_action(v: &Value) -> Result<String, ItemError> {
    v.as_str()
        .filter(|a| !a.is_empty() && a.len() <= MAX_VALUE_LEN && !a.contains(char::is_whitespace))
        .map(str::to_owned)
        .ok_or_else(|| {
            ItemError::new(
                "action",
                "'action' must be a non-empty string such as books.book.read",
            )
        })
}

fn string_attrs(v: &Value, target: &'static str) -> Result<Attrs, ItemError> {
    let obj = v.as_object().ok_or_else(|| {
        ItemError::new(target, format!("'{target}.attributes' must be an object"))
    })?;
    if obj.len() > MAX_ATTRIBUTES {
        return Err(ItemError::new(
            target,
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.len() <= MAX_VALUE_LEN => Ok((k.clone(), s.clone())),
            Value::String(_) => Err(ItemError::new(
                target,
                format!("attribute '{k}' is longer than {MAX_VALUE_LEN} characters"),
            )),
            other => Err(ItemError::new(
                target,
                format!("attribute '{k}' must be a string, not {other}"),
            )),
        })
        .collect()
}

/// Decodes the payload segment of a JWT (base64url, padded or not) into its claims.
pub fn decode_token_body(body: &str) -> Option<Map<String, Value>> {
    if body.len() > MAX_TOKEN_BODY {
        return None;
    }
    let trimmed = body.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| URL_SAFE.decode(body))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Reads a subject.
pub fn parse_subject(v: &Value) -> Result<Subject, ItemError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ItemError::new("subject", "'subject' must be an object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "attributes" | "accessTokenBody"))
    {
        return Err(ItemError::new(
            "subject",
            format!(
                "unknown subject form (field '{k}'); use {{\"attributes\": {{\"id\", \"scope\"}}}} or {{\"accessTokenBody\"}}"
            ),
        ));
    }
    let (mut id, mut scope) = (None, None);
    match obj.get("accessTokenBody") {
        None => {}
        Some(Value::String(body)) => {
            let claims = decode_token_body(body).ok_or_else(|| {
                ItemError::new(
                    "subject",
                    "'accessTokenBody' is not the base64url JSON payload of a JWT",
                )
            })?;
            id = claims
                .get("iam_id")
                .or_else(|| claims.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            scope = claims
                .get("scope")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if id.is_none() {
                return Err(ItemError::new(
                    "subject",
                    "the token body has no string 'iam_id'",
                ));
            }
        }
        Some(_) => {
            return Err(ItemError::new(
                "subject",
                "'accessTokenBody' must be a string",
            ));
        }
    }
    if let Some(attrs) = obj.get("attributes") {
        let attrs = string_attrs(attrs, "subject")?;
        if let Some(i) = attrs.get("id") {
            id = Some(i.clone());
        }
        if let Some(s) = attrs.get("scope") {
            scope = Some(s.clone());
        }
    }
    if obj.is_empty() {
        return Err(ItemError::new(
            "subject",
            "unknown subject form; use {\"attributes\": {\"id\", \"scope\"}} or {\"accessTokenBody\"}",
        ));
    }
    let id = id.filter(|i| !i.is_empty()).ok_or_else(|| {
        ItemError::new(
            "subject",
            "the subject has no 'id' (subjects named by CRN attributes are not emulated)",
        )
    })?;
    Ok(Subject { id, scope })
}

/// Splits a CRN (`crn:v1:<cname>:<ctype>:<service>:<region>:<scope>:<instance>:<type>:<resource>`)
/// into resource attributes: `serviceName`, `region`, `accountId` (from an `a/<id>` scope),
/// `serviceInstance`, `resourceType`, `resource`. Empty segments are left out.
pub fn parse_crn(crn: &str) -> Result<Attrs, String> {
    let mut attrs = Attrs::new();
    parse_crn_into(crn, &mut attrs)?;
    Ok(attrs)
}

/// [`parse_crn`] into existing attributes, which win over the CRN's.
fn parse_crn_into(crn: &str, attrs: &mut Attrs) -> Result<(), String> {
    let bad = |why: &str| Err(format!("'{crn}' is not a valid CRN: {why}"));
    if crn.len() > MAX_VALUE_LEN {
        return bad("too long");
    }
    if crn.chars().any(char::is_whitespace) {
        return bad("segments contain no whitespace");
    }
    let mut parts = [""; 10];
    let mut n = 0;
    for part in crn.splitn(10, ':') {
        parts[n] = part;
        n += 1;
    }
    if n != 10 {
        return bad("a CRN has 10 ':'-separated segments");
    }
    if parts[0] != "crn" || parts[1].is_empty() {
        return bad("it must start with crn:<version>:");
    }
    if parts[4].is_empty() {
        return bad("the service name segment is empty");
    }
    let account = match parts[6] {
        "" => "",
        scope => match scope.split_once('/') {
            Some(("a", acct)) if !acct.is_empty() => acct,
            Some(("o" | "s" | "p", v)) if !v.is_empty() => "",
            _ => return bad("the scope segment must be a/<account>, o/, s/ or p/<id>"),
        },
    };
    for (k, v) in [
        ("serviceName", parts[4]),
        ("region", parts[5]),
        ("accountId", account),
        ("serviceInstance", parts[7]),
        ("resourceType", parts[8]),
        ("resource", parts[9]),
    ] {
        if !v.is_empty() && !attrs.contains_key(k) {
            attrs.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(())
}

/// Reads a resource.
pub fn parse_resource(v: &Value) -> Result<Attrs, ItemError> {
    let obj = v
        .as_object()
        .ok_or_else(|| ItemError::new("resource", "'resource' must be an object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "attributes" | "crn"))
    {
        return Err(ItemError::new(
            "resource",
            format!("unknown resource form (field '{k}'); use {{\"attributes\"}} or {{\"crn\"}}"),
        ));
    }
    let mut attrs = match obj.get("attributes") {
        Some(a) => string_attrs(a, "resource")?,
        None => Attrs::new(),
    };
    let crn = match (obj.get("crn"), attrs.remove("crn")) {
        (Some(Value::String(c)), _) => Some(c.clone()),
        (Some(_), _) => return Err(ItemError::new("resource", "'crn' must be a string")),
        (None, c) => c,
    };
    if let Some(crn) = crn {
        parse_crn_into(&crn, &mut attrs).map_err(|m| ItemError::new("resource", m))?;
    }
    if attrs.is_empty() {
        return Err(ItemError::new(
            "resource",
            "the resource has no attributes and no CRN",
        ));
    }
    Ok(attrs)
}

/// Reads an optional environment: `{}` or `{"attributes": {…}}`. Numbers and booleans are
/// taken as strings.
pub fn parse_environment(v: Option<&Value>) -> Result<Attrs, ItemError> {
    let Some(v) = v else {
        return Ok(Attrs::new());
    };
    let obj = match v {
        Value::Null => return Ok(Attrs::new()),
        Value::Object(o) => o,
        _ => {
            return Err(ItemError::new(
                "environment",
                "'environment' must be an object",
            ));
        }
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "attributes") {
        return Err(ItemError::new(
            "environment",
            format!("the environment has no field '{k}'; put values under 'attributes'"),
        ));
    }
    let Some(attrs) = obj.get("attributes") else {
        return Ok(Attrs::new());
    };
    let attrs = attrs.as_object().ok_or_else(|| {
        ItemError::new("environment", "'environment.attributes' must be an object")
    })?;
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(ItemError::new(
            "environment",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    attrs
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.len() <= MAX_VALUE_LEN => Ok((k.clone(), s.clone())),
            Value::Number(n) => Ok((k.clone(), n.to_string())),
            Value::Bool(b) => Ok((k.clone(), b.to_string())),
            _ => Err(ItemError::new(
                "environment",
                format!("environment attribute '{k}' must be a string, number or boolean"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crns() {
        let a = parse_crn("crn:v1:bluemix:public:books:us-south:a/1111222233334444:9e38::")
            .expect("crn");
        assert_eq!(a.get("serviceName").map(String::as_str), Some("books"));
        assert_eq!(a.get("region").map(String::as_str), Some("us-south"));
        assert_eq!(
            a.get("accountId").map(String::as_str),
            Some("1111222233334444")
        );
        assert_eq!(a.get("serviceInstance").map(String::as_str), Some("9e38"));
        assert!(!a.contains_key("resourceType") && !a.contains_key("resource"));
        let b = parse_crn("crn:v1:bluemix:public:cloud-object-storage:global:a/acct:inst:object:dir/file:with:colons")
            .expect("crn");
        assert_eq!(
            b.get("resource").map(String::as_str),
            Some("dir/file:with:colons")
        );
        for bad in [
            "",
            "crn:v1:bluemix:public:books",
            "urn:v1:bluemix:public:books:us-south:a/x:::",
            "crn:v1:bluemix:public::us-south:a/x:::",
            "crn:v1:bluemix:public:books:us-south:acct:::",
            "crn:v1:bluemix:public:books:us-south:a/:::",
            "crn:v1:bluemix:public:bo oks:us-south:a/x:::",
        ] {
            assert!(parse_crn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects() {
        let s = parse_subject(&json!({"attributes": {"id": "IBMid-1", "scope": "ibm openid"}}))
            .expect("attributes");
        assert_eq!(s.id, "IBMid-1");
        assert_eq!(s.scope.as_deref(), Some("ibm openid"));
        let body =
            URL_SAFE_NO_PAD.encode(br#"{"iam_id":"iam-ServiceId-1","scope":"openid books"}"#);
        let s = parse_subject(&json!({ "accessTokenBody": body })).expect("token body");
        assert_eq!(s.id, "iam-ServiceId-1");
        assert_eq!(s.scope.as_deref(), Some("openid books"));
        // Both keys (as IAM's PEP sends them): attributes win.
        let s = parse_subject(&json!({ "accessTokenBody": body, "attributes": {"scope": "ibm"} }))
            .expect("both");
        assert_eq!(
            (s.id.as_str(), s.scope.as_deref()),
            ("iam-ServiceId-1", Some("ibm"))
        );
        for bad in [
            json!({}),
            json!({"crn": "x"}),
            json!({"attributes": {"id": 5}}),
            json!({"attributes": {"scope": "ibm"}}),
            json!({"accessTokenBody": "!!!"}),
            json!({"accessTokenBody": URL_SAFE_NO_PAD.encode(b"[1]")}),
            json!({"accessTokenBody": URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)}),
            json!("IBMid-1"),
        ] {
            assert!(parse_subject(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn items() {
        let ok = json!({"subject": {"attributes": {"id": "IBMid-1"}}, "action": "books.book.read",
            "resource": {"attributes": {"crn": "crn:v1:bluemix:public:books:eu-de:a/acct:i1::", "ctype": "public"}},
            "environment": {"attributes": {"n": 1}}, "requestId": "r1"});
        let item = parse_item(&ok, ActionRule::Required).expect("item");
        assert_eq!(
            item.resource.get("serviceInstance").map(String::as_str),
            Some("i1")
        );
        assert_eq!(
            item.resource.get("ctype").map(String::as_str),
            Some("public")
        );
        assert!(!item.resource.contains_key("crn"));
        assert_eq!(item.environment.get("n").map(String::as_str), Some("1"));
        assert_eq!(request_id(&ok).as_deref(), Some("r1"));
        assert!(parse_item(&ok, ActionRule::Forbidden).is_err());
        let mut no_action = ok.clone();
        no_action.as_object_mut().expect("o").remove("action");
        assert_eq!(
            parse_item(&no_action, ActionRule::Required).map_err(|e| e.target),
            Err("action")
        );
        assert!(parse_item(&no_action, ActionRule::Forbidden).is_ok());
        let bad_crn = json!({"subject": {"attributes": {"id": "x"}}, "action": "a.b.c", "resource": {"crn": "crn:nope"}});
        assert_eq!(
            parse_item(&bad_crn, ActionRule::Required).map_err(|e| e.target),
            Err("resource")
        );
        let non_string = json!({"subject": {"attributes": {"id": "x"}}, "action": "a.b.c", "resource": {"attributes": {"accountId": ["x"]}}});
        assert!(parse_item(&non_string, ActionRule::Required).is_err());
        assert!(parse_item(&json!([]), ActionRule::Required).is_err());
        let empty_action = json!({"subject": {"attributes": {"id": "x"}}, "action": "", "resource": {"crn": "crn:v1:bluemix:public:books::::"}});
        assert!(parse_item(&empty_action, ActionRule::Required).is_err());
    }
}
