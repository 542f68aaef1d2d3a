//! `/v1/serviceids/`: create (optionally with an API key), list, get, delete (§5.2).

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::apikeys;
use super::body;
use super::caller::Caller;
use super::context::Ctx;
use super::errors::IamError;
use super::listing::{self, Page, merge};
use crate::identity::model::{Meta, ServiceId};
use crate::identity::store::NewApiKey;
use crate::state::EmulatorState;

fn render(s: &ServiceId) -> Value {
    let mut v = merge(
        json!({
            "id": s.id,
            "iam_id": s.iam_id(),
            "crn": s.crn(),
            "locked": s.locked,
            "account_id": s.account_id,
            "name": s.name,
            "unique_instance_crns": s.unique_instance_crns,
        }),
        listing::meta_fields(&s.meta, &s.id),
    );
    if let (Some(obj), Some(d)) = (v.as_object_mut(), &s.description) {
        obj.insert("description".into(), json!(d));
    }
    v
}

/// The inline API key of `POST /v1/serviceids/`.
#[derive(Deserialize)]
pub struct InlineKey {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    apikey: Option<String>,
    #[serde(default)]
    store_value: Option<bool>,
}

/// The body of `POST /v1/serviceids/`.
#[derive(Deserialize)]
pub struct CreateServiceId {
    account_id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    unique_instance_crns: Option<Vec<String>>,
    #[serde(default)]
    apikey: Option<InlineKey>,
}

/// `POST /v1/serviceids/` → 201.
pub async fn create(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: CreateServiceId = body::json(&headers, body).await?;
    caller.require_account(&req.account_id)?;
    let created_by = caller.iam_id.clone();
    let (sid, key) = state
        .change(move |store, now_ms| {
            let meta = Meta {
                created_at: now_ms,
                modified_at: now_ms,
                created_by: created_by.clone(),
                version: 1,
            };
            let mut sid =
                store.add_service_id(None, &req.name, &req.account_id, req.description, meta)?;
            if let Some(crns) = req.unique_instance_crns
                && let Some(s) = store.service_ids.get_mut(&sid.id)
            {
                s.unique_instance_crns = crns;
                sid = s.clone();
            }
            let key = match req.apikey {
                None => None,
                Some(k) => Some(store.add_apikey(
                    NewApiKey {
                        name: k.name,
                        description: k.description,
                        iam_id: sid.iam_id(),
                        value: k.apikey,
                        store_value: k.store_value.unwrap_or(false),
                        created_by,
                        ..NewApiKey::default()
                    },
                    now_ms,
                )?),
            };
            Ok((sid, key))
        })
        .await?;
    let mut body = render(&sid);
    if let (Some(obj), Some((k, value))) = (body.as_object_mut(), &key) {
        obj.insert("apikey".into(), apikeys::render(k, Some(value)));
    }
    let body = merge(
        json!({ "context": listing::context(&ctx, "create_service_id", state.clock().now_ms()) }),
        body,
    );
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// Query of `GET /v1/serviceids/`.
#[derive(Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    name: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `GET /v1/serviceids/`.
pub async fn list(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, IamError> {
    let (offset, limit) = q.page.bounds()?;
    let account = q.account_id.unwrap_or_else(|| caller.account_id.clone());
    caller.require_account(&account)?;
    let items: Vec<Value> = state
        .store()
        .service_ids
        .values()
        .filter(|s| s.account_id == account && q.name.as_deref().is_none_or(|n| n == s.name))
        .map(render)
        .collect();
    let body = listing::page(
        &ctx,
        "list_service_ids",
        state.clock().now_ms(),
        "serviceids",
        items,
        offset,
        limit,
    );
    Ok(axum::Json(body).into_response())
}

fn find(state: &EmulatorState, caller: &Caller, id: &str) -> Result<ServiceId, IamError> {
    let sid = state
        .store()
        .service_ids
        .get(id)
        .cloned()
        .ok_or_else(|| IamError::not_found("ServiceId", id))?;
    caller.require_account(&sid.account_id)?;
    Ok(sid)
}

/// `GET /v1/serviceids/{id}`.
pub async fn get(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let sid = find(&state, &caller, &id)?;
    let body = merge(
        json!({ "context": listing::context(&ctx, "get_service_id", state.clock().now_ms()) }),
        render(&sid),
    );
    Ok(axum::Json(body).into_response())
}

/// `DELETE /v1/serviceids/{id}` → 204; the service ID's API keys go with it.
pub async fn delete(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let sid = find(&state, &caller, &id)?;
    if sid.locked {
        return Err(IamError::api(
            StatusCode::CONFLICT,
            "conflict",
            format!("service ID '{id}' is locked"),
        ));
    }
    state
        .change(move |store, _| {
            let iam_id = sid.iam_id();
            let keys: Vec<String> = store
                .apikeys
                .values()
                .filter(|k| k.iam_id == iam_id)
                .map(|k| k.id.clone())
                .collect();
            for k in keys {
                if let Some(key) = store.apikeys.get_mut(&k) {
                    key.locked = false;
                }
                store.delete_apikey(&k)?;
            }
            store.service_ids.remove(&sid.id);
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
