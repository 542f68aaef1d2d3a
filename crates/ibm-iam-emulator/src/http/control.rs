//! The control API under `/_emulator`, a prefix real IAM does not have: fault injection,
//! request counters, key rotation, the clock, the token lifetime, and compute-resource
//! tokens for the cr-token grant. It has no authentication: keep the emulator on loopback.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::body;
use super::errors::IamError;
use crate::control::faults::FaultSpec;
use crate::ids;
use crate::jwt;
use crate::keys::RotationPolicy;
use crate::state::EmulatorState;

fn internal(e: impl std::fmt::Display) -> IamError {
    IamError::api(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        e.to_string(),
    )
}

/// `GET /_emulator/health`.
pub async fn health(State(state): State<EmulatorState>) -> Response {
    let ring = state.key_ring();
    axum::Json(json!({
        "status": "ok",
        "issuer": state.issuer(),
        "token_lifetime_seconds": state.token_lifetime(),
        "clock_offset_seconds": state.clock().offset_seconds(),
        "signing_kid": ring.signing_key().kid(),
    }))
    .into_response()
}

/// `GET /_emulator/faults`.
pub async fn list_faults(State(state): State<EmulatorState>) -> Response {
    axum::Json(json!({ "faults": state.faults().list() })).into_response()
}

/// `POST /_emulator/faults` → 201 with the installed rule.
pub async fn add_fault(
    State(state): State<EmulatorState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let spec: FaultSpec = body::json(&headers, body).await?;
    let installed = state.faults().add(spec).map_err(IamError::bad_request)?;
    Ok((StatusCode::CREATED, axum::Json(installed)).into_response())
}

/// `DELETE /_emulator/faults` → 204.
pub async fn clear_faults(State(state): State<EmulatorState>) -> Response {
    state.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_emulator/faults/{id}` → 204, or 404.
pub async fn remove_fault(
    State(state): State<EmulatorState>,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    if state.faults().remove(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(IamError::not_found("Fault", &id))
    }
}

/// `GET /_emulator/counters`: requests per route.
pub async fn counters(State(state): State<EmulatorState>) -> Response {
    let snap = state.counters().snapshot();
    let total: u64 = snap.values().sum();
    axum::Json(json!({ "counters": snap, "total": total })).into_response()
}

/// `DELETE /_emulator/counters` → 204.
pub async fn reset_counters(State(state): State<EmulatorState>) -> Response {
    state.counters().reset();
    StatusCode::NO_CONTENT.into_response()
}

fn keys_body(state: &EmulatorState) -> Value {
    let ring = state.key_ring();
    let rotation = state.rotation();
    json!({
        "signing_kid": ring.signing_key().kid(),
        "rotation": rotation,
        "keys": ring.keys().iter().rev().map(|k| json!({
            "kid": k.kid(),
            "created_at": k.created_at(),
            "retired_at": k.retired_at(),
            "withdrawn_at": k.retired_at().map(|r| r + rotation.overlap_seconds),
            "public_key_pem": k.public_pem(),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /_emulator/keys`.
pub async fn keys(State(state): State<EmulatorState>) -> Result<Response, IamError> {
    state.keys().await.map_err(internal)?;
    Ok(axum::Json(keys_body(&state)).into_response())
}

/// `POST /_emulator/keys/rotate`: a new key signs from now on; the old one stays published
/// for the overlap window.
pub async fn rotate(State(state): State<EmulatorState>) -> Result<Response, IamError> {
    state.rotate_keys().await.map_err(internal)?;
    Ok(axum::Json(keys_body(&state)).into_response())
}

/// `PUT /_emulator/keys/rotation` with `{"every_seconds": N|null, "overlap_seconds": N}`.
pub async fn set_rotation(
    State(state): State<EmulatorState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let policy: RotationPolicy = body::json(&headers, body).await?;
    if policy.every_seconds.is_some_and(|e| e < 1) || policy.overlap_seconds < 0 {
        return Err(IamError::bad_request(
            "'every_seconds' must be at least 1 (or null) and 'overlap_seconds' at least 0",
        ));
    }
    state.set_rotation(policy).await?;
    state.keys().await.map_err(internal)?;
    Ok(axum::Json(keys_body(&state)).into_response())
}

/// The body of `POST /_emulator/clock`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    #[serde(default)]
    advance_seconds: Option<i64>,
    #[serde(default)]
    offset_seconds: Option<i64>,
}

fn clock_body(state: &EmulatorState) -> Value {
    json!({ "now": state.clock().now(), "offset_seconds": state.clock().offset_seconds() })
}

/// `GET /_emulator/clock`.
pub async fn clock(State(state): State<EmulatorState>) -> Response {
    axum::Json(clock_body(&state)).into_response()
}

/// `POST /_emulator/clock`: `{"advance_seconds": N}` moves the clock by N seconds,
/// `{"offset_seconds": N}` sets its offset from the system clock.
pub async fn shift_clock(
    State(state): State<EmulatorState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let change: ClockChange = body::json(&headers, body).await?;
    match (change.advance_seconds, change.offset_seconds) {
        (Some(a), None) if a.abs() <= 10 * 365 * 86_400 => state.clock().advance(a),
        (None, Some(o)) if o.abs() <= 10 * 365 * 86_400 => state.clock().set_offset_seconds(o),
        _ => {
            return Err(IamError::bad_request(
                "give exactly one of 'advance_seconds' or 'offset_seconds', at most ten years",
            ));
        }
    }
    Ok(axum::Json(clock_body(&state)).into_response())
}

/// The body of `PUT /_emulator/token-lifetime`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetime {
    seconds: i64,
}

/// `PUT /_emulator/token-lifetime` with `{"seconds": N}` (60 to 86400).
pub async fn set_token_lifetime(
    State(state): State<EmulatorState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let l: Lifetime = body::json(&headers, body).await?;
    state.set_token_lifetime(l.seconds).await?;
    Ok(axum::Json(json!({ "token_lifetime_seconds": state.token_lifetime() })).into_response())
}

/// The body of `POST /_emulator/cr-tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrTokenRequest {
    #[serde(default)]
    claims: Map<String, Value>,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// `POST /_emulator/cr-tokens`: a compute-resource token (as a Kubernetes service account
/// or a VSI would hold) signed by the emulator, carrying the given claims, for the cr-token
/// grant. Defaults: `sub` `system:serviceaccount:default:default`, `cr_type` `IKS_SA`,
/// one hour.
pub async fn cr_token(
    State(state): State<EmulatorState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: CrTokenRequest = body::json(&headers, body).await?;
    let lifetime = req.expires_in.unwrap_or(3600);
    if !(1..=86_400).contains(&lifetime) {
        return Err(IamError::bad_request(
            "'expires_in' must be 1 to 86400 seconds",
        ));
    }
    let now = state.clock().now();
    let mut claims = req.claims;
    claims
        .entry("sub")
        .or_insert_with(|| json!("system:serviceaccount:default:default"));
    claims.entry("cr_type").or_insert_with(|| json!("IKS_SA"));
    claims.entry("jti").or_insert_with(|| json!(ids::uuid()));
    claims.insert(
        "iss".into(),
        json!(format!("{}/compute-resource", state.issuer())),
    );
    claims.insert("token_use".into(), json!("cr"));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + lifetime));
    let ring = state.keys().await.map_err(internal)?;
    let token = jwt::sign(ring.signing_key(), &Value::Object(claims));
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "cr_token": token, "expires_in": lifetime })),
    )
        .into_response())
}
