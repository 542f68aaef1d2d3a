//! What an authorization question is made of: subject, action, resource, environment; and
//! what the answer says.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::crn::Crn;
use crate::error::Error;

/// Who is asking: the seed's two forms.
#[derive(Clone, PartialEq, Eq)]
pub struct Subject {
    // Shared: a subject is immutable once built, and checks clone it freely.
    inner: std::sync::Arc<SubjectInner>,
}

#[derive(Clone, PartialEq, Eq)]
struct SubjectInner {
    form: SubjectForm,
    /// `id` and `scope` (and any extra attributes), used for cache keys.
    attrs: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, Eq)]
enum SubjectForm {
    Attributes,
    /// The base64url payload segment of the subject's access token.
    TokenBody(String),
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let form = match self.inner.form {
            SubjectForm::Attributes => "attributes",
            SubjectForm::TokenBody(_) => "token body",
        };
        f.debug_struct("Subject")
            .field("form", &form)
            .field("id", &self.id())
            .finish()
    }
}

impl Subject {
    /// `{"attributes": {"id": <iam_id>, "scope": <scope>}}`.
    ///
    /// ```
    /// let s = ibm_iam::authz::Subject::attributes("IBMid-123", "ibm openid");
    /// assert_eq!(s.id(), "IBMid-123");
    /// ```
    pub fn attributes(id: impl Into<String>, scope: impl Into<String>) -> Self {
        let mut attrs = BTreeMap::new();
        attrs.insert("id".to_owned(), id.into());
        attrs.insert("scope".to_owned(), scope.into());
        Self::make(SubjectForm::Attributes, attrs)
    }

    fn make(form: SubjectForm, attrs: BTreeMap<String, String>) -> Self {
        Self {
            inner: std::sync::Arc::new(SubjectInner { form, attrs }),
        }
    }

    /// Adds another subject attribute (e.g. `accountId`).
    #[must_use]
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        std::sync::Arc::make_mut(&mut self.inner)
            .attrs
            .insert(name.into(), value.into());
        self
    }

    /// `{"accessTokenBody": <payload segment>}` from the subject's access token (a verified
    /// one: PDP trusts the service that asks). Only the payload segment is kept; the
    /// signature is dropped.
    pub fn token_body(access_token: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Config(format!("the subject's access token {why}"));
        let payload = access_token
            .split('.')
            .nth(1)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("is not a JWT"))?;
        let raw = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| bad("payload is not base64url"))?;
        let claims: Value = serde_json::from_slice(&raw).map_err(|_| bad("payload is not JSON"))?;
        let id = claims
            .get("iam_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("has no iam_id"))?;
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        let mut attrs = BTreeMap::new();
        attrs.insert("id".to_owned(), id.to_owned());
        attrs.insert("scope".to_owned(), scope.to_owned());
        Ok(Self::make(
            SubjectForm::TokenBody(payload.to_owned()),
            attrs,
        ))
    }

    /// The attributes form (`id` and `scope`) from verified claims.
    pub fn from_claims(claims: &crate::verify::Claims) -> Result<Self, Error> {
        let id = claims
            .iam_id()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::Config("the token has no iam_id".into()))?;
        Ok(Self::attributes(id, claims.scope().unwrap_or("")))
    }

    /// The token-body form from verified claims (the payload segment IAM signed).
    pub fn token_body_from_claims(claims: &crate::verify::Claims) -> Result<Self, Error> {
        let id = claims
            .iam_id()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::Config("the token has no iam_id".into()))?;
        let mut attrs = BTreeMap::new();
        attrs.insert("id".to_owned(), id.to_owned());
        attrs.insert("scope".to_owned(), claims.scope().unwrap_or("").to_owned());
        Ok(Self::make(
            SubjectForm::TokenBody(claims.payload_segment().to_owned()),
            attrs,
        ))
    }

    /// The subject's IAM id.
    pub fn id(&self) -> &str {
        self.inner.attrs.get("id").map_or("", String::as_str)
    }

    /// The attributes used for caching (`id`, `scope`, and any added).
    pub fn cache_attributes(&self) -> &BTreeMap<String, String> {
        &self.inner.attrs
    }

    /// The JSON IAM expects.
    pub fn to_json(&self) -> Value {
        match &self.inner.form {
            SubjectForm::Attributes => json!({ "attributes": self.inner.attrs }),
            SubjectForm::TokenBody(body) => json!({ "accessTokenBody": body }),
        }
    }
}

/// What is asked about: a CRN, or attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    // Shared: immutable once built.
    inner: std::sync::Arc<ResourceInner>,
}

#[derive(Debug, PartialEq, Eq)]
struct ResourceInner {
    crn: Option<Crn>,
    attrs: BTreeMap<String, String>,
}

impl Resource {
    /// A resource by CRN (sent as `{"crn": …}`).
    pub fn crn(crn: &str) -> Result<Self, Error> {
        let crn: Crn = crn.parse()?;
        let attrs = crn.attributes();
        Ok(Self {
            inner: std::sync::Arc::new(ResourceInner {
                crn: Some(crn),
                attrs,
            }),
        })
    }

    /// A resource by attributes (sent as `{"attributes": {…}}`).
    ///
    /// ```
    /// use ibm_iam::authz::Resource;
    ///
    /// let r = Resource::builder()
    ///     .service_name("books")
    ///     .account_id("1111222233334444")
    ///     .service_instance("shelf-1")
    ///     .build();
    /// assert_eq!(r.attributes()["serviceName"], "books");
    /// ```
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder::default()
    }

    /// The attributes (parsed from the CRN for a CRN resource).
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.inner.attrs
    }

    /// The CRN, for a resource given by CRN.
    pub fn as_crn(&self) -> Option<&Crn> {
        self.inner.crn.as_ref()
    }

    /// The account the resource belongs to, when known.
    pub fn account_id(&self) -> Option<&str> {
        self.inner.attrs.get("accountId").map(String::as_str)
    }

    /// The JSON IAM expects.
    pub fn to_json(&self) -> Value {
        match &self.inner.crn {
            Some(c) => json!({ "crn": c.as_str() }),
            None => json!({ "attributes": self.inner.attrs }),
        }
    }
}

/// Builds an attribute resource.
#[derive(Debug, Clone, Default)]
pub struct ResourceBuilder {
    attrs: BTreeMap<String, String>,
}

impl ResourceBuilder {
    /// Any attribute.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.insert(name.into(), value.into());
        self
    }

    /// `serviceName`.
    #[must_use]
    pub fn service_name(self, v: impl Into<String>) -> Self {
        self.attribute("serviceName", v)
    }

    /// `accountId`.
    #[must_use]
    pub fn account_id(self, v: impl Into<String>) -> Self {
        self.attribute("accountId", v)
    }

    /// `serviceInstance`.
    #[must_use]
    pub fn service_instance(self, v: impl Into<String>) -> Self {
        self.attribute("serviceInstance", v)
    }

    /// `resourceType`.
    #[must_use]
    pub fn resource_type(self, v: impl Into<String>) -> Self {
        self.attribute("resourceType", v)
    }

    /// `resource`.
    #[must_use]
    pub fn resource(self, v: impl Into<String>) -> Self {
        self.attribute("resource", v)
    }

    /// `region`.
    #[must_use]
    pub fn region(self, v: impl Into<String>) -> Self {
        self.attribute("region", v)
    }

    /// The resource.
    pub fn build(self) -> Resource {
        Resource {
            inner: std::sync::Arc::new(ResourceInner {
                crn: None,
                attrs: self.attrs,
            }),
        }
    }
}

/// Environment attributes (time, network zone, …) for context-based decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    attrs: BTreeMap<String, String>,
}

impl Environment {
    /// No environment attributes.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds an attribute.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attrs.insert(name.into(), value.into());
        self
    }

    /// The attributes.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attrs
    }

    fn to_json(&self) -> Option<Value> {
        (!self.attrs.is_empty()).then(|| json!({ "attributes": self.attrs }))
    }
}

/// One authorization question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzRequest {
    /// Who.
    pub subject: Subject,
    /// What action (`<service>.<noun>.<verb>`).
    pub action: String,
    /// On what.
    pub resource: Resource,
    /// In what context.
    pub environment: Environment,
}

impl AuthzRequest {
    /// A request without environment attributes.
    pub fn new(subject: Subject, action: impl Into<String>, resource: Resource) -> Self {
        Self {
            subject,
            action: action.into(),
            resource,
            environment: Environment::none(),
        }
    }

    /// With environment attributes.
    #[must_use]
    pub fn environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let a = &self.action;
        if a.is_empty() || a.len() > 256 || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Config(format!("'{a}' is not a valid action")));
        }
        if self.subject.id().is_empty() {
            return Err(Error::Config("the subject has no id".into()));
        }
        Ok(())
    }

    /// The element of a `/v2/authz` body.
    pub(crate) fn to_json(&self, request_id: Option<&str>) -> Value {
        let mut v = json!({
            "subject": self.subject.to_json(),
            "action": self.action,
            "resource": self.resource.to_json(),
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(env) = self.environment.to_json() {
                obj.insert("environment".into(), env);
            }
            if let Some(id) = request_id {
                obj.insert("requestId".into(), json!(id));
            }
        }
        v
    }
}

/// IAM's obligation: how far a permit reaches and how long it may be cached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Obligation {
    /// Every action the subject holds at the obligation's scope.
    pub actions: Vec<String>,
    /// How long the decision may be cached, seconds; `None` when IAM gave no lifetime (the
    /// fallback, 600 s by default, applies). A value that is not a non-negative whole
    /// number is read as `Some(0)`: not cached (the safe reading).
    pub max_cache_age_seconds: Option<u64>,
    /// The subject attributes the decision holds for.
    pub subject: Option<BTreeMap<String, String>>,
    /// The (broadest) resource attributes the decision holds for.
    pub resource: Option<BTreeMap<String, String>>,
}

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionSource {
    /// IAM answered this request.
    Pdp,
    /// A cached answer that is still within its lifetime.
    Cache,
    /// An expired cached answer, served because IAM could not be reached and stale answers
    /// were opted into.
    StaleCache,
}

/// IAM's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Permitted or not.
    pub permitted: bool,
    /// IAM's reason (`Network`, `Context` for context-based restrictions), when given.
    pub reason: Option<String>,
    /// The obligation, when IAM gave one (shared with the cache entry it came from).
    pub obligation: Option<std::sync::Arc<Obligation>>,
    /// Whether it came from IAM or the cache.
    pub source: DecisionSource,
}

impl Decision {
    /// Whether it came from the cache (fresh or stale).
    pub fn from_cache(&self) -> bool {
        self.source != DecisionSource::Pdp
    }

    /// Whether the deny comes from a context-based restriction.
    pub fn is_context_deny(&self) -> bool {
        !self.permitted && matches!(self.reason.as_deref(), Some("Network" | "Context"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_forms_and_request_json() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iam_id":"IBMid-1","scope":"ibm openid"}"#);
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl");
        let s = Subject::token_body(&token).expect("token body");
        assert_eq!(s.id(), "IBMid-1");
        assert_eq!(s.to_json(), json!({"accessTokenBody": payload}));
        assert!(!format!("{s:?}").contains(&payload));
        assert!(Subject::token_body("nope").is_err());
        assert!(Subject::token_body("a.bm90IGpzb24.c").is_err());

        let r = Resource::crn("crn:v1:bluemix:public:books:us-south:a/acct:inst::").expect("crn");
        let req = AuthzRequest::new(
            Subject::attributes("IBMid-1", "ibm openid"),
            "books.book.read",
            r,
        )
        .environment(Environment::none().with("networkZone", "corp"));
        let v = req.to_json(Some("r1"));
        assert_eq!(
            v["resource"],
            json!({"crn": "crn:v1:bluemix:public:books:us-south:a/acct:inst::"})
        );
        assert_eq!(v["environment"]["attributes"]["networkZone"], "corp");
        assert_eq!(v["requestId"], "r1");
        assert!(req.validate().is_ok());
        let bad = AuthzRequest::new(
            Subject::attributes("", ""),
            "a b",
            Resource::builder().build(),
        );
        assert!(bad.validate().is_err());
    }
}
