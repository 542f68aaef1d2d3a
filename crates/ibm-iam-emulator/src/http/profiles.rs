//! `/v1/profiles`: trusted profiles, their claim rules and trusted identities (§5.3).

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
use crate::identity::model::{Meta, Profile, ProfileIdentity, ProfileRule, RuleCondition};
use crate::identity::store::StoreError;
use crate::ids;
use crate::state::EmulatorState;

fn render(p: &Profile) -> Value {
    let mut v = merge(
        json!({
            "id": p.id,
            "iam_id": p.iam_id(),
            "crn": p.crn(),
            "name": p.name,
            "account_id": p.account_id,
        }),
        listing::meta_fields(&p.meta, &p.id),
    );
    if let (Some(obj), Some(d)) = (v.as_object_mut(), &p.description) {
        obj.insert("description".into(), json!(d));
    }
    v
}

fn render_rule(r: &ProfileRule, meta: &Meta) -> Value {
    let mut v = json!({
        "id": r.id,
        "entity_tag": crate::identity::model::entity_tag(meta, &r.id),
        "created_at": crate::civil::rfc3339_ms(meta.created_at),
        "modified_at": crate::civil::rfc3339_ms(meta.modified_at),
        "name": r.name,
        "type": r.rule_type,
        "expiration": r.expiration.unwrap_or(3600),
        "conditions": r.conditions.iter().map(|c| json!({"claim": c.claim, "operator": c.operator, "value": c.value})).collect::<Vec<_>>(),
    });
    if let (Some(obj), Some(t)) = (v.as_object_mut(), &r.cr_type) {
        obj.insert("cr_type".into(), json!(t));
    }
    v
}

fn with_context(ctx: &Ctx, op: &str, state: &EmulatorState, v: Value) -> Value {
    merge(
        json!({ "context": listing::context(ctx, op, state.clock().now_ms()) }),
        v,
    )
}

/// The body of `POST /v1/profiles`.
#[derive(Deserialize)]
pub struct CreateProfile {
    name: String,
    account_id: String,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /v1/profiles` → 201.
pub async fn create(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: CreateProfile = body::json(&headers, body).await?;
    caller.require_account(&req.account_id)?;
    let created_by = caller.iam_id.clone();
    let profile = state
        .change(move |store, now_ms| {
            store.add_profile(Profile {
                id: String::new(),
                name: req.name,
                account_id: req.account_id,
                description: req.description,
                rules: Vec::new(),
                identities: Vec::new(),
                meta: Meta {
                    created_at: now_ms,
                    modified_at: now_ms,
                    created_by,
                    version: 1,
                },
            })
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(with_context(
            &ctx,
            "create_profile",
            &state,
            render(&profile),
        )),
    )
        .into_response())
}

/// Query of `GET /v1/profiles`.
#[derive(Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    name: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `GET /v1/profiles`.
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
        .profiles
        .values()
        .filter(|p| p.account_id == account && q.name.as_deref().is_none_or(|n| n == p.name))
        .map(render)
        .collect();
    let body = listing::page(
        &ctx,
        "list_profiles",
        state.clock().now_ms(),
        "profiles",
        items,
        offset,
        limit,
    );
    Ok(axum::Json(body).into_response())
}

fn find(state: &EmulatorState, caller: &Caller, id: &str) -> Result<Profile, IamError> {
    let p = state
        .store()
        .profiles
        .get(id)
        .cloned()
        .ok_or_else(|| IamError::not_found("Profile", id))?;
    caller.require_account(&p.account_id)?;
    Ok(p)
}

/// `GET /v1/profiles/{id}`.
pub async fn get(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let p = find(&state, &caller, &id)?;
    Ok(axum::Json(with_context(&ctx, "get_profile", &state, render(&p))).into_response())
}

/// `DELETE /v1/profiles/{id}` → 204.
pub async fn delete(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    find(&state, &caller, &id)?;
    state
        .change(move |store, _| {
            store
                .profiles
                .remove(&id)
                .map(|_| ())
                .ok_or(StoreError::NotFound {
                    kind: "Profile",
                    id,
                })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The body of `POST /v1/profiles/{id}/rules`.
#[derive(Deserialize)]
pub struct CreateRule {
    #[serde(rename = "type")]
    rule_type: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cr_type: Option<String>,
    conditions: Vec<RuleCondition>,
    #[serde(default)]
    expiration: Option<i64>,
}

/// `POST /v1/profiles/{id}/rules` → 201.
pub async fn create_rule(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: CreateRule = body::json(&headers, body).await?;
    find(&state, &caller, &id)?;
    if !matches!(req.rule_type.as_str(), "Profile-CR" | "Profile-SAML") {
        return Err(IamError::bad_request(
            "'type' must be Profile-CR or Profile-SAML",
        ));
    }
    if req.conditions.is_empty() {
        return Err(IamError::bad_request("a rule needs at least one condition"));
    }
    let (rule, meta) = state
        .change(move |store, now_ms| {
            let p = store
                .profiles
                .get_mut(&id)
                .ok_or_else(|| StoreError::NotFound {
                    kind: "Profile",
                    id: id.clone(),
                })?;
            let rule = ProfileRule {
                id: format!("ClaimRule-{}", ids::uuid()),
                name: req.name.unwrap_or_default(),
                rule_type: req.rule_type,
                cr_type: req.cr_type,
                conditions: req.conditions,
                expiration: req.expiration,
            };
            p.rules.push(rule.clone());
            p.meta.modified_at = now_ms;
            p.meta.version += 1;
            Ok((rule, p.meta.clone()))
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(render_rule(&rule, &meta))).into_response())
}

/// `GET /v1/profiles/{id}/rules`.
pub async fn list_rules(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let p = find(&state, &caller, &id)?;
    let rules: Vec<Value> = p.rules.iter().map(|r| render_rule(r, &p.meta)).collect();
    Ok(axum::Json(json!({ "rules": rules })).into_response())
}

fn render_identities(p: &Profile) -> Value {
    json!({
        "entity_tag": crate::identity::model::entity_tag(&p.meta, &p.id),
        "identities": p.identities.iter().map(|i| json!({
            "iam_id": i.iam_id,
            "identifier": i.iam_id,
            "type": i.identity_type,
            "accounts": [p.account_id],
        })).collect::<Vec<_>>(),
    })
}

/// `GET /v1/profiles/{id}/identities`.
pub async fn get_identities(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let p = find(&state, &caller, &id)?;
    Ok(axum::Json(render_identities(&p)).into_response())
}

/// The body of `PUT /v1/profiles/{id}/identities`.
#[derive(Deserialize)]
pub struct SetIdentities {
    #[serde(default)]
    if_match: Option<String>,
    identities: Vec<ProfileIdentity>,
}

/// `PUT /v1/profiles/{id}/identities`: replaces who may assume the profile.
pub async fn set_identities(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: SetIdentities = body::json(&headers, body).await?;
    let current = find(&state, &caller, &id)?;
    let tag = crate::identity::model::entity_tag(&current.meta, &current.id);
    if let Some(m) = req.if_match.as_deref().filter(|m| *m != "*")
        && m != tag
    {
        return Err(IamError::api(
            StatusCode::CONFLICT,
            "conflict",
            "'if_match' does not match the current entity tag",
        ));
    }
    for i in &req.identities {
        if !matches!(i.identity_type.as_str(), "user" | "serviceid" | "crn") {
            return Err(IamError::bad_request(
                "identity 'type' must be user, serviceid or crn",
            ));
        }
    }
    let p = state
        .change(move |store, now_ms| {
            let p = store
                .profiles
                .get_mut(&id)
                .ok_or_else(|| StoreError::NotFound {
                    kind: "Profile",
                    id: id.clone(),
                })?;
            p.identities = req.identities;
            p.meta.modified_at = now_ms;
            p.meta.version += 1;
            Ok(p.clone())
        })
        .await?;
    Ok(axum::Json(render_identities(&p)).into_response())
}
