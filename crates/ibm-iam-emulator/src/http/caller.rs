//! Who is calling a management API: the bearer token, verified against the emulator's keys.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header;
use axum::http::request::Parts;
use serde_json::Value;

use super::errors::IamError;
use crate::jwt;
use crate::state::EmulatorState;

/// The verified caller of a management API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's IAM id.
    pub iam_id: String,
    /// The account the caller's token is for (`account.bss`).
    pub account_id: String,
}

impl Caller {
    /// Refuses with 403 unless the caller's token is for `account_id`.
    pub fn require_account(&self, account_id: &str) -> Result<(), IamError> {
        if self.account_id == account_id {
            Ok(())
        } else {
            Err(IamError::api(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "The caller {} is not authorized to act in account {account_id}",
                    self.iam_id
                ),
            ))
        }
    }
}

fn unauthorized(message: &str) -> IamError {
    IamError::api(StatusCode::UNAUTHORIZED, "invalid_access_token", message)
        .message_code("BXNIM0407E")
}

impl FromRequestParts<EmulatorState> for Caller {
    type Rejection = IamError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &EmulatorState,
    ) -> Result<Self, IamError> {
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("The Authorization header with a bearer token is missing"))?
            .to_str()
            .map_err(|_| unauthorized("The Authorization header is not valid"))?
            .trim();
        // IAM accepts the token with and without the `Bearer ` prefix (§4.2).
        let token = match raw.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            Some(_) => {
                return Err(unauthorized(
                    "The Authorization header must carry a bearer token",
                ));
            }
            None => raw,
        };
        let ring = state.keys().await.map_err(|e| {
            IamError::api(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                e.to_string(),
            )
        })?;
        let claims = jwt::verify(&ring, token, state.clock().now())
            .map_err(|e| unauthorized(&format!("The access token is not valid: {e}")))?;
        if claims.contains_key("token_use") {
            return Err(unauthorized("The token is not an access token"));
        }
        let iam_id = claims
            .get("iam_id")
            .and_then(Value::as_str)
            .ok_or_else(|| unauthorized("The access token has no iam_id"))?
            .to_owned();
        let account_id = claims
            .get("account")
            .and_then(|a| a.get("bss"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if state.store().identity(&iam_id).is_none() {
            return Err(unauthorized(
                "The identity of the access token no longer exists",
            ));
        }
        Ok(Caller { iam_id, account_id })
    }
}
