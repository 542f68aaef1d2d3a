//! Roles: `GET /v2/roles` (`system_roles`, `service_roles`, an account's `custom_roles`,
//! each with the actions it grants), `POST /v2/roles` (custom roles), and
//! `GET/DELETE /v2/roles/{id}` (wire reference §5.6).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{BaseUrl, require_permission, timestamp};
use super::body;
use super::caller::Caller;
use super::errors::IamError;
use crate::identity::model::{Meta, entity_tag};
use crate::ids;
use crate::policy::PolicyStore;
use crate::policy::model::{
    CustomRole, PLATFORM_ROLES, RoleKind, SERVICE_ROLES, platform_role_crn, role_kind,
    service_role_crn,
};
use crate::policy::store::ACCESS_MANAGEMENT_SERVICE;
use crate::state::EmulatorState;

fn role(store: &PolicyStore, crn: &str, service: Option<&str>) -> Value {
    let info = store.role_info(crn, None);
    json!({
        "display_name": info.as_ref().map_or("", |i| i.display_name.as_str()),
        "description": info.as_ref().map_or("", |i| i.description.as_str()),
        "actions": store.role_actions(crn, service).collect::<Vec<_>>(),
        "crn": crn,
    })
}

/// The JSON of a custom role.
pub fn render_custom(r: &CustomRole, base: &str) -> Value {
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "display_name": r.display_name,
        "account_id": r.account_id,
        "service_name": r.service_name,
        "actions": r.actions,
        "crn": r.crn(),
        "href": format!("{base}/v2/roles/{}", r.id),
        "created_at": timestamp(r.meta.created_at),
        "created_by_id": r.meta.created_by,
        "last_modified_at": timestamp(r.meta.modified_at),
        "last_modified_by_id": r.meta.created_by,
    });
    if let (Some(d), Some(obj)) = (&r.description, v.as_object_mut()) {
        obj.insert("description".into(), json!(d));
    }
    v
}

/// Query of `GET /v2/roles`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    service_name: Option<String>,
}

/// `GET /v2/roles`: the platform roles (`system_roles`) and service roles (`service_roles`)
/// with the actions each grants (for `service_name`, or across services), and, with
/// `account_id`, that account's custom roles.
pub async fn list(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, IamError> {
    let account = q.account_id.as_deref().filter(|a| !a.is_empty());
    if let Some(account) = account {
        require_permission(
            &state,
            &caller,
            account,
            ACCESS_MANAGEMENT_SERVICE,
            "iam.role.read",
        )?;
    }
    let store = state.store();
    let store = &store.policy;
    let service = q.service_name.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = service
        && store.service(s).is_none()
    {
        return Err(IamError::bad_request(format!("service '{s}' is not known")));
    }
    let system: Vec<Value> = PLATFORM_ROLES
        .iter()
        .map(|r| role(store, &platform_role_crn(r), service))
        .collect();
    let mut service_crns: Vec<String> = SERVICE_ROLES.iter().map(|r| service_role_crn(r)).collect();
    let services: Vec<_> = match service {
        Some(s) => store.service(s).into_iter().collect(),
        None => store.all_services().collect(),
    };
    for s in services {
        for crn in store.roles_of_service(s) {
            if role_kind(&crn) == RoleKind::Service && !service_crns.contains(&crn) {
                service_crns.push(crn);
            }
        }
    }
    let service_roles: Vec<Value> = service_crns
        .iter()
        .filter(|crn| service.is_none() || store.role_actions(crn, service).next().is_some())
        .map(|crn| role(store, crn, service))
        .collect();
    let custom: Vec<Value> = store
        .custom_roles
        .values()
        .filter(|r| Some(r.account_id.as_str()) == account)
        .filter(|r| service.is_none_or(|s| s == r.service_name))
        .map(|r| render_custom(r, &base))
        .collect();
    Ok(axum::Json(json!({
        "custom_roles": custom,
        "service_roles": service_roles,
        "system_roles": system,
    }))
    .into_response())
}

/// The body of `POST /v2/roles`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    display_name: String,
    actions: Vec<String>,
    name: String,
    account_id: String,
    service_name: String,
    #[serde(default)]
    description: Option<String>,
}

fn with_etag(status: StatusCode, r: &CustomRole, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&entity_tag(&r.meta, &r.id)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// `POST /v2/roles` → 201 with the custom role; 409 when the account has a role of that name.
pub async fn create(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let req: CreateRole = body::json(&headers, body).await?;
    require_permission(
        &state,
        &caller,
        &req.account_id,
        ACCESS_MANAGEMENT_SERVICE,
        "iam.role.create",
    )?;
    if req.description.as_ref().is_some_and(|d| d.len() > 250) {
        return Err(IamError::bad_request(
            "'description' must be at most 250 characters",
        ));
    }
    let created_by = caller.iam_id.clone();
    let role = state
        .change(move |store, now_ms| {
            store.policy.add_custom_role(CustomRole {
                id: ids::random_hex32(),
                name: req.name,
                display_name: req.display_name,
                description: req.description,
                account_id: req.account_id,
                service_name: req.service_name,
                actions: req.actions,
                meta: Meta {
                    created_at: now_ms,
                    modified_at: now_ms,
                    created_by,
                    version: 1,
                },
            })
        })
        .await?;
    let body = render_custom(&role, &base);
    Ok(with_etag(StatusCode::CREATED, &role, body))
}

fn find(
    state: &EmulatorState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<CustomRole, IamError> {
    let role = state
        .store()
        .policy
        .custom_roles
        .get(id)
        .cloned()
        .ok_or_else(|| IamError::not_found("Role", id))?;
    require_permission(
        state,
        caller,
        &role.account_id,
        ACCESS_MANAGEMENT_SERVICE,
        action,
    )?;
    Ok(role)
}

/// `GET /v2/roles/{id}`: a custom role.
pub async fn get(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let role = find(&state, &caller, &id, "iam.role.read")?;
    let body = render_custom(&role, &base);
    Ok(with_etag(StatusCode::OK, &role, body))
}

/// `DELETE /v2/roles/{id}` → 204. Policies naming the role stay and grant nothing through it.
pub async fn delete(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    find(&state, &caller, &id, "iam.role.delete")?;
    state
        .change(move |store, _| store.policy.delete_custom_role(&id).map(|_| ()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
