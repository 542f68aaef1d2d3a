//! Verification and authorization of incoming requests, as a tower layer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode, header};
use serde_json::json;

use crate::authz::{AuthzRequest, PdpClient, Resource, Subject};
use crate::verify::{Claims, TokenValidator};

/// Derives the action and resource a request needs, or `None` when the route needs only a
/// verified token.
pub trait RouteAuthz: Send + Sync + 'static {
    /// The action and resource for this request.
    fn route(&self, parts: &Parts) -> Option<(String, Resource)>;
}

impl<F> RouteAuthz for F
where
    F: Fn(&Parts) -> Option<(String, Resource)> + Send + Sync + 'static,
{
    fn route(&self, parts: &Parts) -> Option<(String, Resource)> {
        self(parts)
    }
}

struct Shared {
    validator: TokenValidator,
    authz: Option<(PdpClient, Box<dyn RouteAuthz>)>,
    realm: String,
}

/// A tower [`Layer`](tower::Layer) that verifies bearer tokens and, when given a
/// [`PdpClient`] and a [`RouteAuthz`], authorizes each request.
///
/// Answers (IAM's API error shape, never containing the token): 401 with
/// `WWW-Authenticate: Bearer …` for a missing, malformed, expired or forged token; 403 for a
/// denied action; 503 when the keys or the PDP cannot be reached (fail closed).
///
/// ```no_run
/// # fn demo(validator: ibm_iam::TokenValidator, pdp: ibm_iam::authz::PdpClient) {
/// use axum::{Router, routing::get};
/// use ibm_iam::authz::Resource;
/// use ibm_iam::middleware::{IamAuthLayer, VerifiedClaims};
///
/// async fn list(VerifiedClaims(claims): VerifiedClaims) -> String {
///     format!("hello {}", claims.iam_id().unwrap_or("?"))
/// }
///
/// let layer = IamAuthLayer::new(validator).authorize(pdp, |_parts: &http::request::Parts| {
///     Some(("books.book.read".to_owned(), Resource::builder().service_name("books").account_id("1234").build()))
/// });
/// let app: Router = Router::new().route("/books", get(list)).layer(layer);
/// # drop(app); }
/// ```
#[derive(Clone)]
pub struct IamAuthLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for IamAuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuthLayer")
            .field("authorizes", &self.shared.authz.is_some())
            .finish_non_exhaustive()
    }
}

impl IamAuthLayer {
    /// Verification only.
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            shared: Arc::new(Shared {
                validator,
                authz: None,
                realm: "IBM Cloud IAM".into(),
            }),
        }
    }

    /// Also authorize: `route` maps a request to the action and resource to check.
    #[must_use]
    pub fn authorize(self, pdp: PdpClient, route: impl RouteAuthz) -> Self {
        let realm = self.shared.realm.clone();
        let validator = self.shared.validator.clone();
        Self {
            shared: Arc::new(Shared {
                validator,
                authz: Some((pdp, Box::new(route))),
                realm,
            }),
        }
    }
}

impl<S> tower::Layer<S> for IamAuthLayer {
    type Service = IamAuth<S>;

    fn layer(&self, inner: S) -> IamAuth<S> {
        IamAuth {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`IamAuthLayer`] wraps around yours.
#[derive(Clone)]
pub struct IamAuth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for IamAuth<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamAuth").finish_non_exhaustive()
    }
}

fn refuse(
    status: StatusCode,
    code: &str,
    message: &str,
    www: Option<String>,
) -> Response<axum::body::Body> {
    let body = json!({
        "errors": [{ "code": code, "message": message }],
        "status_code": status.as_u16(),
    });
    let mut resp = Response::new(axum::body::Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = www.and_then(|w| HeaderValue::from_str(&w).ok()) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Quotes a value for a `WWW-Authenticate` parameter.
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

fn bearer(parts: &Parts) -> Result<&str, &'static str> {
    let raw = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or("the request has no Authorization header")?
        .to_str()
        .map_err(|_| "the Authorization header is not valid text")?;
    let (scheme, token) = raw
        .trim()
        .split_once(' ')
        .ok_or("the Authorization header is not a bearer token")?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err("the Authorization header is not a bearer token");
    }
    Ok(token.trim())
}

impl<S, B> tower::Service<Request<B>> for IamAuth<S>
where
    S: tower::Service<Request<B>, Response = Response<axum::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The service that was polled ready handles this request; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let realm = quoted(&shared.realm);
            let token = match bearer(&parts) {
                Ok(t) => t.to_owned(),
                Err(why) => {
                    return Ok(refuse(
                        StatusCode::UNAUTHORIZED,
                        "missing_token",
                        why,
                        Some(format!("Bearer realm=\"{realm}\"")),
                    ));
                }
            };
            let claims = match shared.validator.validate(&token).await {
                Ok(c) => c,
                Err(e) if e.is_transient() => {
                    return Ok(refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "keys_unavailable",
                        "the token cannot be verified now; retry later",
                        None,
                    ));
                }
                Err(e) => {
                    let msg = e.to_string();
                    let www = format!(
                        "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                        quoted(&msg)
                    );
                    return Ok(refuse(
                        StatusCode::UNAUTHORIZED,
                        "invalid_token",
                        &msg,
                        Some(www),
                    ));
                }
            };
            if let Some((pdp, route)) = &shared.authz
                && let Some((action, resource)) = route.route(&parts)
            {
                let subject = match Subject::from_claims(&claims) {
                    Ok(s) => s,
                    Err(e) => {
                        return Ok(refuse(
                            StatusCode::UNAUTHORIZED,
                            "invalid_token",
                            &e.to_string(),
                            None,
                        ));
                    }
                };
                match pdp
                    .authorize(AuthzRequest::new(subject, &action, resource))
                    .await
                {
                    Ok(d) if d.permitted => {}
                    Ok(_) => {
                        let www = format!(
                            "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{}\"",
                            quoted(&action)
                        );
                        return Ok(refuse(
                            StatusCode::FORBIDDEN,
                            "forbidden",
                            &format!("not authorized to {action}"),
                            Some(www),
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, %action, "authorization could not be decided; refusing");
                        return Ok(refuse(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "authorization_unavailable",
                            "authorization cannot be decided now; retry later",
                            None,
                        ));
                    }
                }
            }
            parts.extensions.insert(VerifiedClaims(claims));
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// The verified claims of the request's bearer token, for handlers behind
/// [`IamAuthLayer`].
#[derive(Clone)]
pub struct VerifiedClaims(pub Claims);

impl std::fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VerifiedClaims")
            .field(&self.0.iam_id())
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
    type Rejection = Response<axum::body::Body>;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedClaims>()
            .cloned()
            .ok_or_else(|| {
                refuse(
                    StatusCode::UNAUTHORIZED,
                    "missing_token",
                    "this route is not behind IamAuthLayer",
                    Some("Bearer realm=\"IBM Cloud IAM\"".into()),
                )
            })
    }
}
