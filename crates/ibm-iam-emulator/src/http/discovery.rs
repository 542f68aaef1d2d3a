//! `GET /identity/keys` and `GET /identity/.well-known/openid-configuration` (§3).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::IamError;
use crate::state::EmulatorState;

/// The public keys, IAM's shape: `{"keys":[{"kty","n","e","alg","kid"}]}`, newest first.
pub async fn keys(State(state): State<EmulatorState>) -> Result<Response, IamError> {
    let ring = state.keys().await.map_err(|e| {
        IamError::api(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
    })?;
    let mut resp = ring.jwks().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// The base URL the client used, from `Host` (and the scheme the server runs).
pub(crate) fn base_url(headers: &HeaderMap, scheme: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// Which scheme the server answers on; set by the runner.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The OpenID Connect discovery document. `issuer` is the configured issuer (production's by
/// default); the endpoint URLs point at this emulator.
pub async fn openid_configuration(
    State(state): State<EmulatorState>,
    scheme: Option<axum::Extension<Scheme>>,
    headers: HeaderMap,
) -> Response {
    let scheme = scheme.map_or("http", |s| s.0.0);
    let base = base_url(&headers, scheme);
    axum::Json(json!({
        "issuer": state.issuer(),
        "authorization_endpoint": format!("{base}/identity/authorize"),
        "token_endpoint": format!("{base}/identity/token"),
        "passcode_endpoint": format!("{base}/identity/passcode"),
        "userinfo_endpoint": format!("{base}/identity/userinfo"),
        "jwks_uri": format!("{base}/identity/keys"),
        "response_types_supported": ["code", "token", "id_token token"],
        "grant_types_supported": [
            "authorization_code",
            "password",
            "refresh_token",
            "urn:ibm:params:oauth:grant-type:apikey",
            "urn:ibm:params:oauth:grant-type:cr-token",
            "urn:ibm:params:oauth:grant-type:assume",
            "urn:ibm:params:oauth:grant-type:iam-authz"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": ["openid", "ibm"],
        "claims_supported": ["iss", "sub", "exp", "iat", "iam_id", "account", "scope"]
    }))
    .into_response()
}
