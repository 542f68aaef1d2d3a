//! IAM's two error shapes: the token endpoint's (`errorCode`, `errorMessage`, `context`, wire
//! reference §1.5) and the management APIs' (`errors[]`, `trace`, `status_code`, §5.4).
//!
//! Handlers return an [`IamError`]; the request-context middleware renders it with the
//! request's transaction id and timings.
//!
//! Codes: `BXNIM0415E` (unknown API key), `BXNIM0106E` (parameter validation), `BXNIM0308E`
//! (no Basic header on the password grant), `BXNIM0602E` (wrong credentials), `BXNIM0407E`
//! (invalid token), `BXNIM0408E` (expired refresh token) and `BXNIM0102E` (object not found)
//! are IAM's. Where the reference records no code for a case (trust refused, key disabled or
//! expired, an injected fault), the emulator uses codes of its own prefixed `IAMEMU`, so
//! nobody mistakes them for IAM's.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::context::Ctx;
use crate::civil;

/// Which error shape an endpoint uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The token endpoint's.
    Oidc,
    /// The management and PDP APIs'.
    Api,
}

/// An error answer in IAM's shape.
#[derive(Debug, Clone)]
pub struct IamError {
    /// HTTP status.
    pub status: StatusCode,
    /// Which shape.
    pub shape: Shape,
    /// `errorCode` (token endpoint) or `message_code` (APIs).
    pub code: Option<String>,
    /// The APIs' short `code` (`not_found`, `invalid_access_token`, …).
    pub api_code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// More detail.
    pub details: Option<String>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

impl IamError {
    /// A token-endpoint error.
    pub fn oidc(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            shape: Shape::Oidc,
            code: Some(code.to_owned()),
            api_code: "",
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// A management/PDP API error.
    pub fn api(status: StatusCode, api_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            shape: Shape::Api,
            code: None,
            api_code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Adds details (`errorDetails` / `details`).
    #[must_use]
    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Adds a message code (`message_code`) to an API error.
    #[must_use]
    pub fn message_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    /// Token endpoint: a form parameter failed validation (`BXNIM0106E`, 400).
    pub fn bad_param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::oidc(
            StatusCode::BAD_REQUEST,
            "BXNIM0106E",
            format!("Validation of property '{name}' failed: {why}"),
        )
    }

    /// API: the request is invalid (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::api(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// API: the object does not exist (404, `BXNIM0102E`).
    pub fn not_found(kind: &str, id: &str) -> Self {
        Self::api(StatusCode::NOT_FOUND, "not_found", "Unable to find object")
            .message_code("BXNIM0102E")
            .details(format!("Object type '{kind}' with ID '{id}' not found."))
    }

    /// An error with the shape of `route`'s endpoint, for injected faults.
    pub fn injected(status: u16, retry_after: Option<u64>, route: &str) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = format!(
            "Injected fault: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        );
        let mut e = if is_token_route(route) {
            Self::oidc(status, &format!("IAMEMU{:04}E", status.as_u16()), message)
        } else {
            Self::api(status, "injected_fault", message)
        };
        e.retry_after = retry_after;
        e
    }

    /// An error answer that was produced without IAM's shape (one of axum's rejections: a
    /// duplicate query parameter, a path that is not valid UTF-8, a method the path does not
    /// serve, …), re-expressed in the shape of `route`'s endpoint with the same status and
    /// message.
    pub fn wrapped(status: StatusCode, route: &str, message: String) -> Self {
        if is_token_route(route) {
            let code = match status.as_u16() {
                400 | 413 | 415 => "BXNIM0106E".to_owned(),
                other => format!("IAMEMU{other:04}E"),
            };
            Self::oidc(status, &code, message)
        } else {
            let api_code = match status.as_u16() {
                400 | 422 => "bad_request",
                401 => "invalid_access_token",
                403 => "forbidden",
                404 => "not_found",
                405 => "method_not_allowed",
                409 => "conflict",
                413 => "request_too_large",
                415 => "unsupported_media_type",
                429 => "too_many_requests",
                s if s >= 500 => "internal_error",
                _ => "bad_request",
            };
            Self::api(status, api_code, message)
        }
    }

    /// Renders the body for a request.
    pub fn body(&self, ctx: &Ctx, now_ms: i64, instance_id: &str) -> Value {
        match self.shape {
            Shape::Oidc => {
                let mut v = json!({
                    "errorCode": self.code.clone().unwrap_or_default(),
                    "errorMessage": self.message,
                    "context": {
                        "requestId": ctx.txid,
                        "requestType": if ctx.route == "/oidc/token" {
                            "incoming.OIDC_Token"
                        } else {
                            "incoming.Identity_Token"
                        },
                        "userAgent": ctx.user_agent,
                        "clientIp": ctx.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                        "url": ctx.url,
                        "instanceId": instance_id,
                        "threadId": "1",
                        "host": "ibm-iam-emulator",
                        "startTime": civil::context_time(ctx.start_ms),
                        "endTime": civil::context_time(now_ms),
                        "elapsedTime": (now_ms - ctx.start_ms).max(0).to_string(),
                        "locale": "en_US",
                    }
                });
                if let (Some(d), Some(obj)) = (&self.details, v.as_object_mut()) {
                    obj.insert("errorDetails".into(), json!(d));
                }
                v
            }
            Shape::Api => {
                let mut item = json!({ "code": self.api_code, "message": self.message });
                if let Some(obj) = item.as_object_mut() {
                    if let Some(c) = &self.code {
                        obj.insert("message_code".into(), json!(c));
                    }
                    if let Some(d) = &self.details {
                        obj.insert("details".into(), json!(d));
                    }
                }
                json!({ "errors": [item], "trace": ctx.txid, "status_code": self.status.as_u16() })
            }
        }
    }
}

/// The token routes, which use the OIDC error shape.
pub fn is_token_route(route: &str) -> bool {
    route == "/identity/token" || route == "/oidc/token"
}

impl IntoResponse for IamError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<crate::identity::store::StoreError> for IamError {
    fn from(e: crate::identity::store::StoreError) -> Self {
        use crate::identity::store::StoreError as E;
        match &e {
            E::NotFound { kind, id } => Self::not_found(kind, id),
            E::Invalid(_) => Self::bad_request(e.to_string()),
            E::Conflict(_) => Self::api(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::Limit(_) => Self::api(StatusCode::BAD_REQUEST, "limit_exceeded", e.to_string()),
        }
    }
}

impl From<crate::state::CommitError> for IamError {
    fn from(e: crate::state::CommitError) -> Self {
        match e {
            crate::state::CommitError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "a change could not be saved");
                Self::api(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    other.to_string(),
                )
            }
        }
    }
}
