//! Access policies: `POST/GET /v1/policies`, `GET/DELETE /v1/policies/{id}`, and the same
//! under `/v2/policies` in the v2 shape (wire reference §5.5). A policy created either way
//! changes decisions at once. `GET /v1/policies` shows v2 policies with IAM's placeholder
//! role `…role:UnsupportedVersion` and an `href` to `/v2/policies/<id>`; the v2 endpoints
//! show every policy in the v2 shape. Deleting a policy removes it (IAM keeps deleted
//! policies restorable for a while; the emulator does not).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{BaseUrl, limit_offset, require_permission, required, timestamp};
use super::body;
use super::caller::Caller;
use super::errors::IamError;
use crate::identity::model::{Meta, entity_tag};
use crate::ids;
use crate::policy::PolicyStore;
use crate::policy::attrs::string_value_json;
use crate::policy::model::{
    ApiVersion, AttrCondition, Policy, PolicySubject, StringOp, StringValue,
};
use crate::policy::parse::{self, Origin};
use crate::policy::store::ACCESS_MANAGEMENT_SERVICE;
use crate::state::EmulatorState;

/// The role IAM shows in v1 listings for policies that only v2 can express.
pub const UNSUPPORTED_VERSION_ROLE: &str = "crn:v1:bluemix:public:iam::::role:UnsupportedVersion";

fn bookkeeping(p: &Policy, href: String) -> Value {
    json!({
        "id": p.id,
        "type": p.policy_type,
        "href": href,
        "created_at": timestamp(p.meta.created_at),
        "created_by_id": p.meta.created_by,
        "last_modified_at": timestamp(p.meta.modified_at),
        "last_modified_by_id": p.meta.created_by,
        "state": "active",
    })
}

fn insert(v: &mut Value, key: &str, value: Value) {
    if let Some(obj) = v.as_object_mut() {
        obj.insert(key.to_owned(), value);
    }
}

fn v1_attributes(conds: &[AttrCondition]) -> Value {
    conds
        .iter()
        .map(|c| {
            json!({ "name": c.key, "value": string_value_json(&c.value), "operator": c.operator.as_str() })
        })
        .collect()
}

fn v2_attributes(conds: &[AttrCondition]) -> Value {
    conds
        .iter()
        .map(|c| {
            json!({ "key": c.key, "operator": c.operator.as_str(), "value": string_value_json(&c.value) })
        })
        .collect()
}

/// Whether the v1 shape can express a policy (no rule, only v1 operators and strings).
fn v1_expressible(p: &Policy) -> bool {
    p.rule.is_none()
        && p.resource
            .iter()
            .chain(&p.tags)
            .all(|c| matches!(c.operator, StringOp::StringEquals | StringOp::StringMatch))
}

/// A role with its display name and description, as policies show them.
fn role_json(store: &PolicyStore, account: &str, crn: &str) -> Value {
    let mut v = json!({ "role_id": crn });
    if let Some(info) = store.role_info(crn, Some(account)) {
        insert(&mut v, "display_name", json!(info.display_name));
        insert(&mut v, "description", json!(info.description));
    }
    v
}

/// The v1 shape of a policy.
pub fn render_v1(store: &PolicyStore, p: &Policy, base: &str) -> Value {
    let v2_only = p.api == ApiVersion::V2 && !v1_expressible(p);
    let href = if v2_only {
        format!("{base}/v2/policies/{}", p.id)
    } else {
        format!("{base}/v1/policies/{}", p.id)
    };
    let mut v = bookkeeping(p, href);
    let roles: Vec<Value> = if v2_only {
        vec![json!({ "role_id": UNSUPPORTED_VERSION_ROLE })]
    } else {
        p.roles
            .iter()
            .map(|r| role_json(store, &p.account_id, r))
            .collect()
    };
    let mut resource = json!({ "attributes": v1_attributes(&p.resource) });
    if !p.tags.is_empty() {
        insert(&mut resource, "tags", v1_attributes(&p.tags));
    }
    insert(
        &mut v,
        "subjects",
        json!([{ "attributes": [{ "name": p.subject.attribute_name(), "value": p.subject.value() }] }]),
    );
    insert(&mut v, "roles", Value::Array(roles));
    insert(&mut v, "resources", json!([resource]));
    if let Some(d) = &p.description {
        insert(&mut v, "description", json!(d));
    }
    v
}

/// The v2 shape of a policy; with `display`, each role lists its actions
/// (`format=display`).
pub fn render_v2(store: &PolicyStore, p: &Policy, base: &str, display: bool) -> Value {
    let mut v = bookkeeping(p, format!("{base}/v2/policies/{}", p.id));
    let service = p
        .resource_condition("serviceName")
        .and_then(|c| match &c.value {
            StringValue::One(s) => Some(s.as_str()),
            _ => None,
        });
    let roles: Vec<Value> = p
        .roles
        .iter()
        .map(|r| {
            let mut role = role_json(store, &p.account_id, r);
            if display {
                let actions: Vec<Value> = store
                    .role_actions(r, service)
                    .map(|a| {
                        json!({
                            "id": a,
                            "display_name": store.action_display_name(a),
                            "description": store.action_description(a),
                        })
                    })
                    .collect();
                insert(&mut role, "actions", Value::Array(actions));
            }
            role
        })
        .collect();
    let mut resource = json!({ "attributes": v2_attributes(&p.resource) });
    if !p.tags.is_empty() {
        insert(&mut resource, "tags", v2_attributes(&p.tags));
    }
    insert(&mut v, "control", json!({ "grant": { "roles": roles } }));
    insert(
        &mut v,
        "subject",
        json!({ "attributes": [{ "key": p.subject.attribute_name(), "operator": "stringEquals", "value": p.subject.value() }] }),
    );
    insert(&mut v, "resource", resource);
    if let Some(rule) = &p.rule {
        insert(&mut v, "rule", rule.to_json());
    }
    if let Some(pattern) = &p.pattern {
        insert(&mut v, "pattern", json!(pattern));
    }
    if let Some(d) = &p.description {
        insert(&mut v, "description", json!(d));
    }
    v
}

fn with_etag(status: StatusCode, p: &Policy, body: Value) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&entity_tag(&p.meta, &p.id)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

async fn create(
    state: &EmulatorState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
    api: ApiVersion,
) -> Result<Policy, IamError> {
    let value: Value = body::json(headers, body).await?;
    let draft = match api {
        ApiVersion::V1 => parse::parse_v1(&value, Origin::Api),
        ApiVersion::V2 => parse::parse_v2(&value, Origin::Api),
    }
    .map_err(IamError::bad_request)?;
    require_permission(
        state,
        caller,
        &draft.account_id,
        ACCESS_MANAGEMENT_SERVICE,
        "iam.policy.create",
    )?;
    let created_by = caller.iam_id.clone();
    let policy = state
        .change(move |store, now_ms| {
            let meta = Meta {
                created_at: now_ms,
                modified_at: now_ms,
                created_by,
                version: 1,
            };
            store
                .policy
                .add_policy(draft.into_policy(ids::uuid(), meta))
        })
        .await?;
    Ok(policy)
}

/// `POST /v1/policies` → 201 with the policy.
pub async fn create_v1(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let p = create(&state, &caller, &headers, body, ApiVersion::V1).await?;
    let v = render_v1(&state.store().policy, &p, &base);
    Ok(with_etag(StatusCode::CREATED, &p, v))
}

/// `POST /v2/policies` → 201 with the policy.
pub async fn create_v2(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let p = create(&state, &caller, &headers, body, ApiVersion::V2).await?;
    let v = render_v2(&state.store().policy, &p, &base, false);
    Ok(with_etag(StatusCode::CREATED, &p, v))
}

/// Query of `GET /v1/policies` and `GET /v2/policies`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    account_id: Option<String>,
    iam_id: Option<String>,
    access_group_id: Option<String>,
    #[serde(rename = "type")]
    policy_type: Option<String>,
    service_type: Option<String>,
    service_name: Option<String>,
    state: Option<String>,
    format: Option<String>,
    limit: Option<String>,
    start: Option<String>,
}

fn attr_is(p: &Policy, key: &str, want: Option<&str>) -> bool {
    want.is_none_or(|w| {
        p.resource_condition(key)
            .is_some_and(|c| c.value == StringValue::One(w.to_owned()))
    })
}

fn list(
    state: &EmulatorState,
    caller: &Caller,
    q: &ListQuery,
    base: &str,
    api: ApiVersion,
) -> Result<Value, IamError> {
    let account = required(&q.account_id, "account_id")?;
    require_permission(
        state,
        caller,
        account,
        ACCESS_MANAGEMENT_SERVICE,
        "iam.policy.read",
    )?;
    if let Some(s) = &q.state
        && !matches!(s.as_str(), "active" | "deleted")
    {
        return Err(IamError::bad_request("'state' must be active or deleted"));
    }
    let (limit, offset) = limit_offset(q.limit.as_deref(), q.start.as_deref(), 50, 100)?;
    let display = q.format.as_deref() == Some("display");
    let store = state.store();
    let matching: Vec<&Policy> = store
        .policy
        .policies
        .values()
        .map(|p| &**p)
        .filter(|p| {
            p.account_id == account
                && q.state.as_deref() != Some("deleted")
                && q.iam_id
                    .as_deref()
                    .is_none_or(|i| p.subject == PolicySubject::IamId(i.to_owned()))
                && q.access_group_id
                    .as_deref()
                    .is_none_or(|g| p.subject == PolicySubject::AccessGroupId(g.to_owned()))
                && q.policy_type.as_deref().is_none_or(|t| t == p.policy_type)
                && attr_is(p, "serviceType", q.service_type.as_deref())
                && attr_is(p, "serviceName", q.service_name.as_deref())
        })
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|p| match api {
            ApiVersion::V1 => render_v1(&store.policy, p, base),
            ApiVersion::V2 => render_v2(&store.policy, p, base, display),
        })
        .collect();
    let path = match api {
        ApiVersion::V1 => "v1",
        ApiVersion::V2 => "v2",
    };
    let link = |start: usize| {
        format!("{base}/{path}/policies?account_id={account}&limit={limit}&start={start}")
    };
    let mut v = json!({ "limit": limit, "first": { "href": link(0) }, "policies": page });
    if offset + limit < total {
        insert(
            &mut v,
            "next",
            json!({ "href": link(offset + limit), "start": (offset + limit).to_string() }),
        );
    }
    if offset > 0 {
        let prev = offset.saturating_sub(limit);
        insert(
            &mut v,
            "previous",
            json!({ "href": link(prev), "start": prev.to_string() }),
        );
    }
    Ok(v)
}

/// `GET /v1/policies?account_id=…` (also `iam_id`, `access_group_id`, `type`, `service_type`,
/// `state`, `limit`, `start`).
pub async fn list_v1(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, IamError> {
    Ok(axum::Json(list(&state, &caller, &q, &base, ApiVersion::V1)?).into_response())
}

/// `GET /v2/policies?account_id=…` (also `service_name`, `format=display`).
pub async fn list_v2(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, IamError> {
    Ok(axum::Json(list(&state, &caller, &q, &base, ApiVersion::V2)?).into_response())
}

fn find(
    state: &EmulatorState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<Policy, IamError> {
    let policy = state
        .store()
        .policy
        .policies
        .get(id)
        .map(|p| Policy::clone(p))
        .ok_or_else(|| IamError::not_found("Policy", id))?;
    require_permission(
        state,
        caller,
        &policy.account_id,
        ACCESS_MANAGEMENT_SERVICE,
        action,
    )?;
    Ok(policy)
}

/// `GET /v1/policies/{id}`.
pub async fn get_v1(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let p = find(&state, &caller, &id, "iam.policy.read")?;
    let v = render_v1(&state.store().policy, &p, &base);
    Ok(with_etag(StatusCode::OK, &p, v))
}

/// Query of `GET /v2/policies/{id}`.
#[derive(Debug, Deserialize)]
pub struct GetQuery {
    format: Option<String>,
}

/// `GET /v2/policies/{id}` (`format=display` lists each role's actions).
pub async fn get_v2(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> Result<Response, IamError> {
    let p = find(&state, &caller, &id, "iam.policy.read")?;
    let display = q.format.as_deref() == Some("display");
    let v = render_v2(&state.store().policy, &p, &base, display);
    Ok(with_etag(StatusCode::OK, &p, v))
}

/// `DELETE /v1/policies/{id}` and `DELETE /v2/policies/{id}` → 204.
pub async fn delete(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    find(&state, &caller, &id, "iam.policy.delete")?;
    state
        .change(move |store, _| store.policy.delete_policy(&id).map(|_| ()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
