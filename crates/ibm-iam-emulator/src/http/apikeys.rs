//! `/v1/apikeys`: create, list, get, get by value (`/details`), delete, lock and disable
//! (wire reference §5.1). The key's value is returned only on create, or later when it was
//! created with `store_value: true`.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body;
use super::caller::Caller;
use super::context::Ctx;
use super::errors::IamError;
use super::listing::{self, Page, merge};
use crate::identity::model::ApiKey;
use crate::identity::store::NewApiKey;
use crate::state::EmulatorState;

/// The JSON of an API key.
pub fn render(k: &ApiKey, value: Option<&str>) -> Value {
    let mut v = merge(
        json!({
            "id": k.id,
            "crn": k.crn(),
            "locked": k.locked,
            "disabled": k.disabled,
            "name": k.name,
            "support_sessions": false,
            "action_when_leaked": k.action_when_leaked,
            "iam_id": k.iam_id,
            "account_id": k.account_id,
            "apikey": value.or(k.stored_value.as_deref()).unwrap_or(""),
        }),
        listing::meta_fields(&k.meta, &k.id),
    );
    if let Some(obj) = v.as_object_mut() {
        if let Some(d) = &k.description {
            obj.insert("description".into(), json!(d));
        }
        if let Some(e) = k.expires_at {
            obj.insert("expires_at".into(), json!(crate::civil::rfc3339_ms(e)));
        }
    }
    v
}

fn with_context(ctx: &Ctx, op: &str, state: &EmulatorState, v: Value) -> Value {
    merge(
        json!({ "context": listing::context(ctx, op, state.clock().now_ms()) }),
        v,
    )
}

/// The body of `POST /v1/apikeys`.
#[derive(Deserialize)]
pub struct CreateApiKey {
    name: String,
    iam_id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    apikey: Option<String>,
    #[serde(default)]
    store_value: Option<bool>,
    #[serde(default)]
    action_when_leaked: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    support_sessions: Option<bool>,
}

/// `POST /v1/apikeys` → 201.
pub async fn create(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: CreateApiKey = body::json(&headers, body).await?;
    let owner_account = state
        .store()
        .identity(&req.iam_id)
        .map(|i| i.account_id().to_owned())
        .ok_or_else(|| IamError::not_found("Identity", &req.iam_id))?;
    caller.require_account(&owner_account)?;
    if let Some(a) = &req.account_id
        && *a != owner_account
    {
        return Err(IamError::bad_request(format!(
            "'account_id' {a} is not the account of '{}'",
            req.iam_id
        )));
    }
    if req.expires_at.is_some() {
        return Err(IamError::bad_request(
            "'expires_at' is not supported by the emulator; omit it",
        ));
    }
    if let Some(v) = &req.apikey
        && v.len() < 32
    {
        return Err(IamError::bad_request(
            "a bring-your-own 'apikey' must be at least 32 characters",
        ));
    }
    let lock = header_flag(&headers, "entity-lock");
    let disable = header_flag(&headers, "entity-disable");
    let created_by = caller.iam_id.clone();
    let (key, value) = state
        .change(move |store, now_ms| {
            let (mut key, value) = store.add_apikey(
                NewApiKey {
                    name: req.name,
                    description: req.description,
                    iam_id: req.iam_id,
                    value: req.apikey,
                    store_value: req.store_value.unwrap_or(false),
                    action_when_leaked: req.action_when_leaked,
                    expires_at: None,
                    created_by,
                },
                now_ms,
            )?;
            if (lock || disable)
                && let Some(k) = store.apikeys.get_mut(&key.id)
            {
                k.locked = lock;
                k.disabled = disable;
                key = k.clone();
            }
            Ok((key, value))
        })
        .await?;
    let body = with_context(&ctx, "create_api_key", &state, render(&key, Some(&value)));
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn header_flag(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Query of `GET /v1/apikeys`.
#[derive(Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    iam_id: Option<String>,
    scope: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `GET /v1/apikeys`: `scope=entity` (default) lists one identity's keys (`iam_id`, or the
/// caller's own), `scope=account` every key of the account.
pub async fn list(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, IamError> {
    let (offset, limit) = q.page.bounds()?;
    let account = q.account_id.unwrap_or_else(|| caller.account_id.clone());
    caller.require_account(&account)?;
    let whole_account = match q.scope.as_deref() {
        None | Some("entity") => false,
        Some("account") => true,
        Some(other) => {
            return Err(IamError::bad_request(format!(
                "'scope' must be entity or account, not '{other}'"
            )));
        }
    };
    let iam_id = q.iam_id.unwrap_or_else(|| caller.iam_id.clone());
    let items: Vec<Value> = state
        .store()
        .apikeys
        .values()
        .filter(|k| k.account_id == account)
        .filter(|k| whole_account || k.iam_id == iam_id)
        .filter(|k| match q.kind.as_deref() {
            Some("user") => k.iam_id.starts_with("IBMid-"),
            Some("serviceid") => k.iam_id.starts_with("iam-ServiceId-"),
            _ => true,
        })
        .map(|k| render(k, None))
        .collect();
    let body = listing::page(
        &ctx,
        "list_api_keys",
        state.clock().now_ms(),
        "apikeys",
        items,
        offset,
        limit,
    );
    Ok(axum::Json(body).into_response())
}

fn find(state: &EmulatorState, caller: &Caller, id: &str) -> Result<ApiKey, IamError> {
    let key = state
        .store()
        .apikeys
        .get(id)
        .cloned()
        .ok_or_else(|| IamError::not_found("ApiKey", id))?;
    caller.require_account(&key.account_id)?;
    Ok(key)
}

/// `GET /v1/apikeys/{id}`.
pub async fn get(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let key = find(&state, &caller, &id)?;
    Ok(axum::Json(with_context(
        &ctx,
        "get_api_key",
        &state,
        render(&key, None),
    ))
    .into_response())
}

/// `GET /v1/apikeys/details` with the key in the `IAM-ApiKey` header.
pub async fn details(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, IamError> {
    let value = headers
        .get("iam-apikey")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| IamError::bad_request("the IAM-ApiKey header is missing"))?;
    let key = state
        .store()
        .apikey_by_value(value)
        .cloned()
        .ok_or_else(|| IamError::not_found("ApiKey", "(the value in IAM-ApiKey)"))?;
    caller.require_account(&key.account_id)?;
    Ok(axum::Json(with_context(
        &ctx,
        "get_api_keys_details",
        &state,
        render(&key, None),
    ))
    .into_response())
}

/// `DELETE /v1/apikeys/{id}` → 204.
pub async fn delete(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    find(&state, &caller, &id)?;
    state
        .change(move |store, _| store.delete_apikey(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_flag(
    state: &EmulatorState,
    caller: &Caller,
    id: String,
    f: fn(&mut ApiKey),
) -> Result<Response, IamError> {
    find(state, caller, &id)?;
    state
        .change(move |store, now_ms| {
            let k = store.apikeys.get_mut(&id).ok_or_else(|| {
                crate::identity::store::StoreError::NotFound {
                    kind: "ApiKey",
                    id: id.clone(),
                }
            })?;
            f(k);
            k.meta.modified_at = now_ms;
            k.meta.version += 1;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/apikeys/{id}/lock`.
pub async fn lock(
    State(s): State<EmulatorState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    set_flag(&s, &c, id, |k| k.locked = true).await
}

/// `DELETE /v1/apikeys/{id}/lock`.
pub async fn unlock(
    State(s): State<EmulatorState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    set_flag(&s, &c, id, |k| k.locked = false).await
}

/// `POST /v1/apikeys/{id}/disable`.
pub async fn disable(
    State(s): State<EmulatorState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    set_flag(&s, &c, id, |k| k.disabled = true).await
}

/// `DELETE /v1/apikeys/{id}/disable`.
pub async fn enable(
    State(s): State<EmulatorState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    set_flag(&s, &c, id, |k| k.disabled = false).await
}
