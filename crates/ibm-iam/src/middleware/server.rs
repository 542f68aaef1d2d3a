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
/// Answers, as RFC 6750 says and in IAM's API error shape (`errors[]`, `trace`,
/// `status_code`; never containing the token):
///
/// * 401 with `WWW-Authenticate: Bearer realm="…"` and no error code when the request
///   carries no bearer token (no `Authorization` header, or another scheme such as `Basic`);
/// * 400 `invalid_request` for a malformed one (`Bearer` with no token, characters a token
///   cannot have, more than one `Authorization` header);
/// * 401 `invalid_token` for an expired, forged or otherwise refused token, and for a
///   verified token that names no subject (no `iam_id`) on a route that authorizes;
/// * 403 `insufficient_scope` for a denied action;
/// * 503 when the keys or the PDP cannot be reached (fail closed).
///
/// Every refusal carries a `Transaction-Id` header, also in the body as `trace`: the
/// request's own `Transaction-Id` when it sent a sane one (up to 128 characters of
/// `A-Za-z0-9-_.:`), else a fresh random one.
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

/// The transaction id of a refusal: the caller's, when sane, else a fresh one.
fn transaction_id(parts: &Parts) -> String {
    let theirs = parts
        .headers
        .get("transaction-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match theirs {
        Some(t) => t.to_owned(),
        None => {
            let mut bytes = [0u8; 16];
            // A failing system RNG leaves zeros: an id that is not unique, never a panic.
            let _ = aws_lc_rs::rand::fill(&mut bytes);
            let mut id = String::with_capacity(40);
            id.push_str("ibm-iam-");
            for b in bytes {
                id.push_str(&format!("{b:02x}"));
            }
            id
        }
    }
}

/// A refusal: the status, IAM's error body and, for 400/401/403, the RFC 6750 challenge.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `error="…"` (and `error_description`) in the challenge; `None` for no error code.
    challenge_error: Option<&'static str>,
    /// `scope="…"` in the challenge.
    scope: Option<String>,
}

impl Refusal {
    /// 401 without an error code: the request has no bearer token (RFC 6750 §3.1).
    fn missing(message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "missing_token",
            message: message.to_owned(),
            challenge_error: None,
            scope: None,
        }
    }

    /// 400 `invalid_request`: the credentials are malformed.
    fn malformed(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            message: message.to_owned(),
            challenge_error: Some("invalid_request"),
            scope: None,
        }
    }

    /// 401 `invalid_token`.
    fn invalid_token(message: String) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_token",
            message,
            challenge_error: Some("invalid_token"),
            scope: None,
        }
    }

    /// 403 `insufficient_scope`.
    fn forbidden(action: &str) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!("not authorized to {action}"),
            challenge_error: Some("insufficient_scope"),
            scope: Some(action.to_owned()),
        }
    }

    /// No challenge: 5xx.
    fn server(status: StatusCode, code: &'static str, message: &str) -> Self {
        Self {
            status,
            code,
            message: message.to_owned(),
            challenge_error: None,
            scope: None,
        }
    }

    fn into_response(self, realm: &str, trace: String) -> Response<axum::body::Body> {
        let body = json!({
            "errors": [{ "code": self.code, "message": self.message }],
            "trace": trace,
            "status_code": self.status.as_u16(),
        });
        let mut resp = Response::new(axum::body::Body::from(body.to_string()));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&trace) {
            headers.insert("transaction-id", v);
        }
        // The challenge goes with the 4xx refusals, not with 5xx.
        if self.status.is_client_error() {
            let mut www = format!("Bearer realm=\"{}\"", quoted(realm));
            if let Some(error) = self.challenge_error {
                www.push_str(&format!(
                    ", error=\"{error}\", error_description=\"{}\"",
                    quoted(&self.message)
                ));
            }
            if let Some(scope) = &self.scope {
                www.push_str(&format!(", scope=\"{}\"", quoted(scope)));
            }
            if let Ok(v) = HeaderValue::from_str(&www) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Quotes a value for a `WWW-Authenticate` parameter.
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control() && c.is_ascii())
        .collect()
}

/// Whether `b` may appear in RFC 6750's `b64token` before its `=` padding. Branch-free, so
/// that the check over every byte of every request's token (a thousand and more) runs many
/// bytes at a time.
#[inline(always)]
const fn in_b64token(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter
        | digit
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

/// RFC 6750's `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(t: &[u8]) -> bool {
    let mut end = t.len();
    while end > 0 && t[end - 1] == b'=' {
        end -= 1;
    }
    let body = &t[..end];
    // A fold, not `all`: no early exit, so the compiler checks a chunk's bytes in parallel.
    !body.is_empty()
        && body
            .chunks(64)
            .all(|c| c.iter().fold(true, |ok, &b| ok & in_b64token(b)))
}

/// The bearer token of the request, or why there is none. Its alphabet is checked by
/// [`well_formed`], only when the validator does not already know the token.
fn bearer(parts: &Parts) -> Result<&str, Refusal> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Err(Refusal::missing("the request has no Authorization header"));
    };
    if values.next().is_some() {
        return Err(Refusal::malformed(
            "the request has more than one Authorization header",
        ));
    }
    let raw = first.as_bytes().trim_ascii();
    let (scheme, token) = match raw.iter().position(|&b| b == b' ') {
        Some(i) => (&raw[..i], raw[i + 1..].trim_ascii_start()),
        None => (raw, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        if first.to_str().is_err() {
            return Err(Refusal::malformed(
                "the Authorization header is not valid text",
            ));
        }
        // Another authentication method: no bearer credentials at all (RFC 6750 §3.1).
        return Err(Refusal::missing(
            "the Authorization header does not carry a bearer token",
        ));
    }
    if token.is_empty() {
        return Err(Refusal::malformed(
            "the Authorization header has no token after Bearer",
        ));
    }
    std::str::from_utf8(token)
        .map_err(|_| Refusal::malformed("the bearer token has characters a token cannot have"))
}

/// Refuses a token that is not RFC 6750's `b64token`.
fn well_formed(token: &str) -> Result<(), Refusal> {
    if is_b64token(token.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::malformed(
            "the bearer token has characters a token cannot have",
        ))
    }
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
            match check(&shared, &parts).await {
                Ok(claims) => {
                    parts.extensions.insert(VerifiedClaims(claims));
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(refusal.into_response(&shared.realm, transaction_id(&parts))),
            }
        })
    }
}

/// Verifies the request's token and, when the layer authorizes, its action.
async fn check(shared: &Shared, parts: &Parts) -> Result<Claims, Refusal> {
    let token = bearer(parts)?;
    let validator = &shared.validator;
    let probe = validator.probe(token);
    // A token the validator remembers is byte for byte one that verified, so one of
    // base64url segments and dots: a `b64token` already. Only a new one is checked.
    let verified = match validator.cached(probe, token, None) {
        Some(claims) => Ok(claims),
        None => {
            well_formed(token)?;
            validator.validate_uncached(token, probe).await
        }
    };
    let claims = match verified {
        Ok(c) => c,
        Err(e) if e.is_transient() => {
            return Err(Refusal::server(
                StatusCode::SERVICE_UNAVAILABLE,
                "keys_unavailable",
                "the token cannot be verified now; retry later",
            ));
        }
        Err(e) => return Err(Refusal::invalid_token(e.to_string())),
    };
    if let Some((pdp, route)) = &shared.authz
        && let Some((action, resource)) = route.route(parts)
    {
        // A verified token with no subject cannot be authorized: the token is unusable here.
        let subject =
            Subject::from_claims(&claims).map_err(|e| Refusal::invalid_token(e.to_string()))?;
        match pdp
            .authorize(AuthzRequest::new(subject, &action, resource))
            .await
        {
            Ok(d) if d.permitted => {}
            Ok(_) => return Err(Refusal::forbidden(&action)),
            Err(e) => {
                tracing::warn!(error = %e, %action, "authorization could not be decided; refusing");
                return Err(Refusal::server(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "authorization_unavailable",
                    "authorization cannot be decided now; retry later",
                ));
            }
        }
    }
    Ok(claims)
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

/// Without [`IamAuthLayer`] in front, nothing was verified: that is the server's mistake,
/// not the caller's, so the answer is 500 (and an error in the log), never a 401 that
/// would send clients looking for a better token.
impl<S: Send + Sync> FromRequestParts<S> for VerifiedClaims {
    type Rejection = Response<axum::body::Body>;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<VerifiedClaims>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!(
                    path = parts.uri.path(),
                    "VerifiedClaims used on a route that is not behind IamAuthLayer"
                );
                Refusal::server(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_misconfigured",
                    "the server is misconfigured: this route is not protected by IAM",
                )
                .into_response("IBM Cloud IAM", transaction_id(parts))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_b64token_alphabet_is_rfc_6750s() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(in_b64token(b), expected, "byte {b}");
        }
        assert!(is_b64token(b"eyJ.a-b_c~d+e/f=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a b"));
        assert!(!is_b64token(b"a=b"));
        // A bad byte anywhere in a long token, in any chunk.
        let long = vec![b'a'; 200];
        assert!(is_b64token(&long));
        for at in [0, 63, 64, 127, 199] {
            let mut bad = long.clone();
            bad[at] = b'\xff';
            assert!(!is_b64token(&bad), "bad byte at {at}");
        }
    }

    fn parts(values: &[&[u8]]) -> Parts {
        let mut b = Request::builder();
        for v in values {
            b = b.header(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(v).expect("value"),
            );
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn no_bearer_credentials_is_401_without_an_error_code() {
        let cases: [&[&[u8]]; 3] = [
            &[],
            &[b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"],
            &[b"Negotiate abc"],
        ];
        for v in cases {
            let r = bearer(&parts(v)).expect_err("refused");
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert_eq!(r.challenge_error, None);
        }
    }

    #[test]
    fn malformed_bearer_credentials_are_400_invalid_request() {
        let cases: [&[&[u8]]; 7] = [
            &[b"Bearer"],
            &[b"Basic tok\xc3\xa9n"],
            &[b"Bearer   "],
            &[b"bearer a b"],
            &[b"Bearer tok\xc3\xa9n"],
            &[b"Bearer ab=cd"],
            &[b"Bearer a.b.c", b"Bearer d.e.f"],
        ];
        for v in cases {
            let r = bearer(&parts(v))
                .and_then(well_formed)
                .expect_err("refused");
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{v:?}");
            assert_eq!(r.challenge_error, Some("invalid_request"));
        }
    }

    #[test]
    fn a_well_formed_bearer_token_is_taken_whatever_the_scheme_case() {
        assert_eq!(bearer(&parts(&[b"Bearer a.b.c"])).ok(), Some("a.b.c"));
        assert_eq!(
            bearer(&parts(&[b"bEaReR  x-y_z~+/=="])).ok(),
            Some("x-y_z~+/==")
        );
    }

    #[test]
    fn transaction_ids_are_echoed_only_when_sane() {
        let with = |v: &str| {
            let p = Request::builder()
                .header("transaction-id", v)
                .body(())
                .expect("request")
                .into_parts()
                .0;
            transaction_id(&p)
        };
        assert_eq!(with("abc-123_x.y:z"), "abc-123_x.y:z");
        for bad in ["has space", "<script>", &"x".repeat(129)] {
            let id = with(bad);
            assert!(id.starts_with("ibm-iam-") && id.len() == 40, "{bad}: {id}");
        }
        assert_ne!(transaction_id(&parts(&[])), transaction_id(&parts(&[])));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let www = |r: Refusal| {
            r.into_response("IBM Cloud IAM", "t".into())
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.to_str().expect("ascii").to_owned())
        };
        assert_eq!(
            www(Refusal::missing("m")).as_deref(),
            Some("Bearer realm=\"IBM Cloud IAM\"")
        );
        assert_eq!(
            www(Refusal::malformed("no \"token\"")).as_deref(),
            Some(
                "Bearer realm=\"IBM Cloud IAM\", error=\"invalid_request\", error_description=\"no token\""
            )
        );
        assert!(
            www(Refusal::forbidden("books.book.read"))
                .expect("www")
                .ends_with("scope=\"books.book.read\"")
        );
        assert_eq!(
            www(Refusal::server(StatusCode::SERVICE_UNAVAILABLE, "x", "y")),
            None
        );
    }
}
