//! Reading request bodies with a size cap and a content-type check, into IAM-shaped errors.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::errors::{IamError, Shape};

/// The largest request body the emulator reads.
pub const MAX_BODY: usize = 64 * 1024;

fn error(shape: Shape, status: StatusCode, api_code: &'static str, message: String) -> IamError {
    match shape {
        Shape::Oidc => IamError::oidc(status, "BXNIM0106E", message),
        Shape::Api => IamError::api(status, api_code, message),
    }
}

/// Checks that the request declares `expected` as its media type (parameters such as
/// `charset` allowed).
pub fn require_content_type(
    headers: &HeaderMap,
    expected: &str,
    shape: Shape,
) -> Result<(), IamError> {
    let got = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = got.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(error(
            shape,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type must be {expected}, not '{}'",
                if got.is_empty() { "(none)" } else { got }
            ),
        ))
    }
}

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes with 413.
pub async fn read(body: Body, shape: Shape) -> Result<Bytes, IamError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        error(
            shape,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("The request body is larger than {MAX_BODY} bytes"),
        )
    })
}

/// Reads and parses a JSON body of an API request.
pub async fn json<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, IamError> {
    require_content_type(headers, "application/json", Shape::Api)?;
    let bytes = read(body, Shape::Api).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| IamError::bad_request(format!("The request body is not valid: {e}")))
}

/// Reads a JSON body of up to `limit` bytes (413 beyond) whose `Content-Type` is
/// `application/json` or another `application/…+json` type (IAM's PDP clients send
/// `application/json` and accept `application/vnd.authz.v2+json`).
pub async fn json_value(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<serde_json::Value, IamError> {
    let got = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = got
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(media == "application/json"
        || media.starts_with("application/") && media.ends_with("+json"))
    {
        return Err(IamError::api(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type must be application/json, not '{}'",
                if got.is_empty() { "(none)" } else { got }
            ),
        ));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        IamError::api(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("The request body is larger than {limit} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| IamError::bad_request(format!("The request body is not valid JSON: {e}")))
}
