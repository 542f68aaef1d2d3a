//! Access groups in the shape of IAM's Access Groups API: `POST/GET /v2/groups`,
//! `GET/DELETE /v2/groups/{id}`, `PUT/GET /v2/groups/{id}/members` (adding answers 207 with a
//! status per member), `HEAD/DELETE /v2/groups/{id}/members/{iam_id}`. Members must be
//! identities of the group's account. Policies whose subject is a group apply to its members
//! at once.

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{BaseUrl, limit_offset, require_permission, required, timestamp};
use super::body;
use super::caller::Caller;
use super::context::Ctx;
use super::errors::IamError;
use crate::identity::model::Meta;
use crate::identity::store::{Identity, Store};
use crate::ids;
use crate::policy::model::{AccessGroup, Member};
use crate::policy::seed::check_member;
use crate::policy::store::GROUPS_SERVICE;
use crate::state::EmulatorState;

/// The JSON of a group.
pub fn render(g: &AccessGroup, base: &str) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "account_id": g.account_id,
        "created_at": timestamp(g.meta.created_at),
        "created_by_id": g.meta.created_by,
        "last_modified_at": timestamp(g.meta.modified_at),
        "last_modified_by_id": g.meta.created_by,
        "href": format!("{base}/v2/groups/{}", g.id),
        "is_federated": false,
    });
    if let (Some(d), Some(obj)) = (&g.description, v.as_object_mut()) {
        obj.insert("description".into(), json!(d));
    }
    v
}

fn render_member(store: &Store, m: &Member, base: &str, group_id: &str) -> Value {
    let mut v = json!({
        "iam_id": m.iam_id,
        "type": m.member_type,
        "membership_type": "static",
        "href": format!("{base}/v2/groups/{group_id}/members/{}", m.iam_id),
        "created_at": timestamp(m.added_at),
        "created_by_id": m.added_by,
    });
    if let Some(obj) = v.as_object_mut() {
        match store.identity(&m.iam_id) {
            Some(Identity::User(u)) => {
                let name = format!("{} {}", u.given_name, u.family_name);
                obj.insert("name".into(), json!(name.trim()));
                obj.insert("email".into(), json!(u.email));
            }
            Some(Identity::ServiceId(s)) => {
                obj.insert("name".into(), json!(s.name));
                if let Some(d) = &s.description {
                    obj.insert("description".into(), json!(d));
                }
            }
            Some(Identity::Profile(p)) => {
                obj.insert("name".into(), json!(p.name));
                if let Some(d) = &p.description {
                    obj.insert("description".into(), json!(d));
                }
            }
            Some(Identity::Crn(_)) | None => {}
        }
    }
    v
}

/// Paging links of the Access Groups API: `first`, `last`, `previous`, `next`.
fn paged(mut v: Value, href: &str, limit: usize, offset: usize, total: usize) -> Value {
    let sep = if href.contains('?') { '&' } else { '?' };
    let link = |o: usize| json!({ "href": format!("{href}{sep}limit={limit}&offset={o}") });
    if let Some(obj) = v.as_object_mut() {
        obj.insert("limit".into(), json!(limit));
        obj.insert("offset".into(), json!(offset));
        obj.insert("total_count".into(), json!(total));
        obj.insert("first".into(), link(0));
        let last = total.saturating_sub(1) / limit * limit;
        obj.insert("last".into(), link(last));
        if offset > 0 {
            obj.insert("previous".into(), link(offset.saturating_sub(limit)));
        }
        if offset + limit < total {
            obj.insert("next".into(), link(offset + limit));
        }
    }
    v
}

/// Query of `POST /v2/groups` and `GET /v2/groups`.
#[derive(Debug, Deserialize)]
pub struct GroupsQuery {
    account_id: Option<String>,
    iam_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// The body of `POST /v2/groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /v2/groups?account_id=…` → 201 with the group.
pub async fn create(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Query(q): Query<GroupsQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let account = required(&q.account_id, "account_id")?.to_owned();
    let req: CreateGroup = body::json(&headers, body).await?;
    require_permission(
        &state,
        &caller,
        &account,
        GROUPS_SERVICE,
        "iam-groups.groups.create",
    )?;
    if req.description.as_ref().is_some_and(|d| d.len() > 250) {
        return Err(IamError::bad_request(
            "'description' must be at most 250 characters",
        ));
    }
    let created_by = caller.iam_id.clone();
    let group = state
        .change(move |store, now_ms| {
            store.policy.add_group(AccessGroup {
                id: format!("AccessGroupId-{}", ids::uuid()),
                name: req.name,
                description: req.description,
                account_id: account,
                members: Vec::new(),
                meta: Meta {
                    created_at: now_ms,
                    modified_at: now_ms,
                    created_by,
                    version: 1,
                },
            })
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(render(&group, &base))).into_response())
}

/// `GET /v2/groups?account_id=…` (`iam_id` lists the groups it belongs to; `limit` 1-100,
/// default 100; `offset`).
pub async fn list(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Query(q): Query<GroupsQuery>,
) -> Result<Response, IamError> {
    let account = required(&q.account_id, "account_id")?;
    require_permission(
        &state,
        &caller,
        account,
        GROUPS_SERVICE,
        "iam-groups.groups.read",
    )?;
    let (limit, offset) = limit_offset(q.limit.as_deref(), q.offset.as_deref(), 100, 100)?;
    let store = state.store();
    let groups: Vec<&AccessGroup> = store
        .policy
        .groups
        .values()
        .filter(|g| g.account_id == account)
        .filter(|g| {
            q.iam_id
                .as_deref()
                .is_none_or(|i| g.members.iter().any(|m| m.iam_id == i))
        })
        .collect();
    let total = groups.len();
    let page: Vec<Value> = groups
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|g| render(g, &base))
        .collect();
    let href = format!("{base}/v2/groups?account_id={account}");
    Ok(axum::Json(paged(
        json!({ "groups": page }),
        &href,
        limit,
        offset,
        total,
    ))
    .into_response())
}

fn find(
    state: &EmulatorState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<AccessGroup, IamError> {
    let group = state
        .store()
        .policy
        .groups
        .get(id)
        .cloned()
        .ok_or_else(|| IamError::not_found("AccessGroup", id))?;
    require_permission(state, caller, &group.account_id, GROUPS_SERVICE, action)?;
    Ok(group)
}

/// `GET /v2/groups/{id}`.
pub async fn get(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, IamError> {
    let group = find(&state, &caller, &id, "iam-groups.groups.read")?;
    Ok(axum::Json(render(&group, &base)).into_response())
}

/// Query of `DELETE /v2/groups/{id}`.
#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    force: Option<String>,
}

/// `DELETE /v2/groups/{id}` → 204; 409 while policies grant to the group, unless
/// `force=true` (which deletes them too).
pub async fn delete(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, IamError> {
    find(&state, &caller, &id, "iam-groups.groups.delete")?;
    let force = q.force.as_deref() == Some("true");
    state
        .change(move |store, _| store.policy.delete_group(&id, force).map(|_| ()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One member to add.
#[derive(Debug, Deserialize)]
pub struct NewMember {
    iam_id: String,
    #[serde(rename = "type")]
    member_type: String,
}

/// The body of `PUT /v2/groups/{id}/members`.
#[derive(Debug, Deserialize)]
pub struct AddMembers {
    members: Vec<NewMember>,
}

/// `PUT /v2/groups/{id}/members` → 207 with one status per member: 200 when added (or
/// already a member), 404 for an unknown identity, 400 for one of another account or the
/// wrong `type`.
pub async fn add_members(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let group = find(&state, &caller, &id, "iam-groups.members.add")?;
    let req: AddMembers = body::json(&headers, body).await?;
    if req.members.is_empty() || req.members.len() > 50 {
        return Err(IamError::bad_request("'members' must list 1 to 50 members"));
    }
    let added_by = caller.iam_id.clone();
    let results = state
        .change(move |store, now_ms| {
            let mut out = Vec::new();
            for m in req.members {
                let checked = check_member(store, &group.account_id, &m.iam_id, &m.member_type)
                    .and_then(|()| {
                        store.policy.add_member(
                            &group.id,
                            Member {
                                iam_id: m.iam_id.clone(),
                                member_type: m.member_type.clone(),
                                added_at: now_ms,
                                added_by: added_by.clone(),
                            },
                        )
                    });
                out.push((m, checked));
            }
            Ok(out)
        })
        .await?;
    let members: Vec<Value> = results
        .into_iter()
        .map(|(m, r)| match r {
            Ok(member) => json!({
                "iam_id": member.iam_id,
                "type": member.member_type,
                "created_at": timestamp(member.added_at),
                "created_by_id": member.added_by,
                "status_code": 200,
            }),
            Err(e) => {
                let err = IamError::from(e);
                json!({
                    "iam_id": m.iam_id,
                    "type": m.member_type,
                    "status_code": err.status.as_u16(),
                    "trace": ctx.txid,
                    "errors": [{ "code": err.api_code, "message": err.message }],
                })
            }
        })
        .collect();
    Ok((
        StatusCode::MULTI_STATUS,
        axum::Json(json!({ "members": members })),
    )
        .into_response())
}

/// Query of `GET /v2/groups/{id}/members`.
#[derive(Debug, Deserialize)]
pub struct MembersQuery {
    limit: Option<String>,
    offset: Option<String>,
    #[serde(rename = "type")]
    member_type: Option<String>,
}

/// `GET /v2/groups/{id}/members` (`type` filters; `limit` 1-100, default 50; `offset`).
pub async fn list_members(
    State(state): State<EmulatorState>,
    BaseUrl(base): BaseUrl,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<MembersQuery>,
) -> Result<Response, IamError> {
    let group = find(&state, &caller, &id, "iam-groups.members.read")?;
    let (limit, offset) = limit_offset(q.limit.as_deref(), q.offset.as_deref(), 50, 100)?;
    let store = state.store();
    let members: Vec<&Member> = group
        .members
        .iter()
        .filter(|m| q.member_type.as_deref().is_none_or(|t| t == m.member_type))
        .collect();
    let total = members.len();
    let page: Vec<Value> = members
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|m| render_member(&store, m, &base, &group.id))
        .collect();
    let href = format!("{base}/v2/groups/{}/members", group.id);
    Ok(axum::Json(paged(
        json!({ "members": page }),
        &href,
        limit,
        offset,
        total,
    ))
    .into_response())
}

/// `HEAD /v2/groups/{id}/members/{iam_id}` → 204 for a member, 404 otherwise.
pub async fn is_member(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path((id, iam_id)): Path<(String, String)>,
) -> Result<Response, IamError> {
    let group = find(&state, &caller, &id, "iam-groups.members.read")?;
    if group.members.iter().any(|m| m.iam_id == iam_id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(IamError::not_found("Member", &iam_id))
    }
}

/// `DELETE /v2/groups/{id}/members/{iam_id}` → 204; the member's access through the group
/// ends at once.
pub async fn remove_member(
    State(state): State<EmulatorState>,
    caller: Caller,
    Path((id, iam_id)): Path<(String, String)>,
) -> Result<Response, IamError> {
    find(&state, &caller, &id, "iam-groups.members.remove")?;
    state
        .change(move |store, _| store.policy.remove_member(&id, &iam_id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
