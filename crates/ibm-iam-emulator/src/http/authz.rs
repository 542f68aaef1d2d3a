//! The Policy Decision Point: `POST /v2/authz`, `PUT /v2/authz/bulk` and
//! `POST /v2/authz/roles` (wire reference §4). Decisions follow the rule documented in
//! [`crate::policy::decide`](mod@crate::policy::decide).
//!
//! Every call needs the caller's bearer token (with or without the `Bearer ` prefix), issued
//! by this emulator and unexpired: 401 otherwise. The *subjects* asked about are not
//! verified: a subject's `accessTokenBody` is only decoded, since PDP trusts the service
//! calling it to have validated the user's token.
//!
//! `/v2/authz` and `/v2/authz/roles` take 1 to 100 items; more (or fewer) is a 400. An item
//! that cannot be decided gets `status` `"400"` and an `error` object in IAM's item error
//! shape, and the others are still decided; when *every* item is invalid the whole request
//! is answered 400 in IAM's API error shape (INFERRED: IAM's behaviour for bad items is not
//! on record). Without `X-Accept-Advanced-Obligation: true` a decision is only
//! `{permitted, reason}` (INFERRED, §9.7); with it, permits carry the obligation and the
//! answer a `cacheKeyPattern`. `requestId` is echoed on each item (UNCONFIRMED for
//! `/v2/authz`, documented for `/v2/authz/roles`).

use std::sync::OnceLock;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::Serializer;
use serde_json::{Value, json};

use super::body;
use super::caller::Caller;
use super::context::Ctx;
use super::errors::IamError;
use crate::policy::PolicyStore;
use crate::policy::attrs::Attrs;
use crate::policy::decide::{Decision, Query, decide};
use crate::policy::model::{RoleKind, role_kind};
use crate::policy::request::{self, ActionRule, Item, ItemError, Subject};
use crate::state::EmulatorState;

/// Most items in one `/v2/authz` or `/v2/authz/roles` call.
pub const MAX_ITEMS: usize = 100;
/// Most resources in one `/v2/authz/bulk` call.
pub const MAX_BULK_RESOURCES: usize = 1000;
/// Largest PDP request body: 100 items with token bodies exceed the management APIs' 64 KiB.
pub const MAX_PDP_BODY: usize = 1024 * 1024;
/// The `businessCode` of item errors (the emulator's own; IAM's are not on record).
pub const ITEM_ERROR_CODE: &str = "IAMEMU2400E";

/// IAM's cache key pattern (wire reference §4.4).
pub fn cache_key_pattern() -> &'static Value {
    static PATTERN: OnceLock<Value> = OnceLock::new();
    PATTERN.get_or_init(|| {
        json!({
            "order": ["subject", "resource", "action"],
            "subject": [["id"], ["id", "scope"]],
            "resource": [
                [],
                ["serviceName"],
                ["serviceName", "accountId"],
                ["serviceName", "accountId", "serviceInstance"],
                ["serviceName", "accountId", "serviceInstance", "resourceType"],
                ["serviceName", "accountId", "serviceInstance", "resourceType", "resource"]
            ]
        })
    })
}

fn advanced(headers: &HeaderMap) -> bool {
    headers
        .get("x-accept-advanced-obligation")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

// The answers are written with typed serializers straight into the response body: building
// `serde_json::Value` trees for 100 decisions cost several times the decisions themselves.

/// `{"attributes": …}`.
#[derive(Serialize)]
struct Attributes<T> {
    attributes: T,
}

#[derive(Serialize)]
struct SubjectAttributes<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// (name, value) pairs as a JSON object.
struct Pairs<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// `{}` without environment attributes, `{"attributes": {…}}` with.
#[derive(Serialize)]
struct Environment<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a Attrs>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Obligation<'a> {
    actions: &'a [&'a str],
    max_cache_age_seconds: i64,
    subject: Attributes<SubjectAttributes<'a>>,
    resource: Attributes<Pairs<'a>>,
    environment: Environment<'a>,
}

fn obligation<'a>(
    d: &'a Decision<'_>,
    subject: &'a Subject,
    environment: &'a Attrs,
) -> Obligation<'a> {
    Obligation {
        actions: &d.actions,
        max_cache_age_seconds: d.max_cache_age,
        subject: Attributes {
            attributes: SubjectAttributes {
                id: &subject.id,
                scope: subject.scope.as_deref(),
            },
        },
        resource: Attributes {
            attributes: Pairs(&d.scope),
        },
        environment: Environment {
            attributes: (!environment.is_empty()).then_some(environment),
        },
    }
}

#[derive(Serialize)]
struct AuthorizationDecision<'a> {
    permitted: bool,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    obligation: Option<Obligation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuthzAnswer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    status: &'static str,
    authorization_decision: AuthorizationDecision<'a>,
}

/// An item that could not be decided, in IAM's item error shape.
fn item_error(ctx: &Ctx, state: &EmulatorState, request_id: Option<&str>, e: &ItemError) -> Value {
    let mut v = json!({
        "status": "400",
        "error": {
            "transactionId": ctx.txid,
            "instanceId": state.instance_id(),
            "errors": [{
                "businessCode": ITEM_ERROR_CODE,
                "code": "invalid_request",
                "message": e.message,
                "moreInfo": "See docs/EMULATOR.md, section 'Policy Decision Point'",
                "target": { "type": "field", "name": e.target },
            }],
        },
    });
    if let (Some(id), Some(obj)) = (request_id, v.as_object_mut()) {
        obj.insert("requestId".into(), json!(id));
    }
    v
}

/// Reads the array of a `/v2/authz` or `/v2/authz/roles` call.
async fn items(headers: &HeaderMap, body: Body) -> Result<Vec<Value>, IamError> {
    let value = body::json_value(headers, body, MAX_PDP_BODY).await?;
    let Value::Array(items) = value else {
        return Err(IamError::bad_request(
            "The request body must be a JSON array of requests",
        ));
    };
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(IamError::bad_request(format!(
            "A request holds 1 to {MAX_ITEMS} items, not {}",
            items.len()
        )));
    }
    Ok(items)
}

fn internal(e: &serde_json::Error) -> IamError {
    IamError::api(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        e.to_string(),
    )
}

/// Decides every item and writes the answers, comma-separated, into `out`. Item errors are
/// isolated, unless every item is invalid (then 400).
fn each_item(
    ctx: &Ctx,
    state: &EmulatorState,
    items: &[Value],
    rule: ActionRule,
    out: &mut Vec<u8>,
    mut write: impl FnMut(
        &mut Vec<u8>,
        &PolicyStore,
        Option<&str>,
        &Item,
        &Decision<'_>,
    ) -> serde_json::Result<()>,
) -> Result<(), IamError> {
    let store = state.store();
    let now = state.clock().now();
    let mut first_error = None;
    let mut decided = 0usize;
    for (i, raw) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let request_id = raw.get("requestId").and_then(Value::as_str);
        match request::parse_item(raw, rule) {
            Ok(item) => {
                let d = decide(
                    &store.policy,
                    &Query {
                        subject: &item.subject,
                        action: item.action.as_deref(),
                        resource: &item.resource,
                        environment: &item.environment,
                        now,
                    },
                );
                write(out, &store.policy, request_id, &item, &d).map_err(|e| internal(&e))?;
                decided += 1;
            }
            Err(e) => {
                if first_error.is_none() {
                    first_error = Some(format!("item {i}: {}: {}", e.target, e.message));
                }
                serde_json::to_writer(&mut *out, &item_error(ctx, state, request_id, &e))
                    .map_err(|e| internal(&e))?;
            }
        }
    }
    match first_error {
        Some(message) if decided == 0 => Err(IamError::bad_request(message)),
        _ => Ok(()),
    }
}

fn json_response(bytes: Vec<u8>) -> Response {
    let mut resp = Body::from(bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// `POST /v2/authz`: a decision per item.
pub async fn authz(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    _caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let items = items(&headers, body).await?;
    let advanced = advanced(&headers);
    let mut out = Vec::with_capacity(256 + items.len() * if advanced { 400 } else { 110 });
    out.extend_from_slice(b"{\"responses\":[");
    each_item(
        &ctx,
        &state,
        &items,
        ActionRule::Required,
        &mut out,
        |out, _, request_id, item, d| {
            let answer = AuthzAnswer {
                request_id,
                status: "200",
                authorization_decision: AuthorizationDecision {
                    permitted: d.permitted,
                    reason: d.reason,
                    obligation: (advanced && d.permitted)
                        .then(|| obligation(d, &item.subject, &item.environment)),
                },
            };
            serde_json::to_writer(out, &answer)
        },
    )?;
    out.push(b']');
    if advanced {
        out.extend_from_slice(b",\"cacheKeyPattern\":");
        serde_json::to_writer(&mut out, cache_key_pattern()).map_err(|e| internal(&e))?;
    }
    out.push(b'}');
    Ok(json_response(out))
}

fn subject_id(id: &str) -> Value {
    if id.starts_with("iam-ServiceId-") {
        json!({ "serviceId": id })
    } else if id.starts_with("IBMid-") {
        json!({ "userId": id })
    } else {
        json!({ "id": id })
    }
}

fn role_actions(store: &PolicyStore, roles: &[&str], service: Option<&str>) -> Value {
    roles
        .iter()
        .map(|crn| {
            let info = store.role_info(crn, None);
            json!({
                "role": {
                    "crn": crn,
                    "displayName": info.as_ref().map_or("", |i| i.display_name.as_str()),
                    "description": info.as_ref().map_or("", |i| i.description.as_str()),
                },
                "actions": store
                    .role_actions(crn, service)
                    .map(|a| json!({ "action": a, "displayName": store.action_display_name(a) }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// `POST /v2/authz/roles`: the roles (and their actions) each subject holds on each
/// resource; service and custom roles in `roleActions`, platform roles in
/// `platformExtensions.roleActions`. `subjectId` is `{"userId"}` for users, `{"serviceId"}`
/// for service IDs, `{"id"}` otherwise (INFERRED). The answer carries the request's
/// `transactionId` and the emulator's `instanceId` at the top level, as §4.6 shows; item
/// errors stay in their items (no top-level `errors`).
pub async fn roles(
    State(state): State<EmulatorState>,
    Extension(ctx): Extension<Ctx>,
    _caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let items = items(&headers, body).await?;
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"responses\":[");
    each_item(
        &ctx,
        &state,
        &items,
        ActionRule::Forbidden,
        &mut out,
        |out, store, request_id, item, d| {
            let service = item.resource.get("serviceName").map(String::as_str);
            let (platform, other): (Vec<&str>, Vec<&str>) = d
                .roles
                .iter()
                .partition(|r| role_kind(r) == RoleKind::Platform);
            let mut v = json!({
                "status": "200",
                "attributes": item.resource,
                "subjectId": subject_id(&item.subject.id),
                "roleActions": role_actions(store, &other, service),
                "platformExtensions": { "roleActions": role_actions(store, &platform, service) },
            });
            if let (Some(id), Some(obj)) = (request_id, v.as_object_mut()) {
                obj.insert("requestId".into(), json!(id));
            }
            serde_json::to_writer(out, &v)
        },
    )?;
    // §4.6 shows the transaction and instance ids at the top level of the answer.
    out.extend_from_slice(b"],\"transactionId\":");
    serde_json::to_writer(&mut out, &ctx.txid).map_err(|e| internal(&e))?;
    out.extend_from_slice(b",\"instanceId\":");
    serde_json::to_writer(&mut out, state.instance_id()).map_err(|e| internal(&e))?;
    out.push(b'}');
    Ok(json_response(out))
}

fn bulk_error(e: &ItemError) -> IamError {
    IamError::bad_request(format!("{}: {}", e.target, e.message))
}

fn string_map(v: Option<&Value>, what: &str) -> Result<Attrs, IamError> {
    let Some(v) = v else {
        return Ok(Attrs::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| IamError::bad_request(format!("'{what}' must be an object")))?;
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(IamError::bad_request(format!(
                "'{what}.{k}' must be a string"
            ))),
        })
        .collect()
}

#[derive(Serialize)]
struct BulkDecision<'a> {
    decision: &'static str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    obligation: Option<Obligation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BulkAnswer<'a> {
    decisions: Vec<BulkDecision<'a>>,
    cache_key_pattern: &'static Value,
}

/// The attributes every resource of a bulk request shares, given once in
/// `sharedAttributes` (§4.5: one `serviceName`, one `accountId`).
const BULK_SHARED: [&str; 2] = ["serviceName", "accountId"];

/// `PUT /v2/authz/bulk`: one subject and one action over many resources
/// (`sharedAttributes` merged with each of up to 1,000 `uniqueAttributes`).
///
/// As §4.5 requires, the resources are of one service in one account: `serviceName` and
/// `accountId` must be in `sharedAttributes` (and not in any `uniqueAttributes`), and at most
/// one `resourceType` occurs (the reference's example has none); otherwise 400. Answers
/// `{"decisions": [{"decision": "Permit"|"Deny", "reason", "obligation"?}], "cacheKeyPattern"}`
/// in the order of `uniqueAttributes`; permits always carry their obligation.
pub async fn bulk(
    State(state): State<EmulatorState>,
    _caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    let value = body::json_value(&headers, body, MAX_PDP_BODY).await?;
    let obj = value
        .as_object()
        .ok_or_else(|| IamError::bad_request("The request body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "subject" | "action" | "resources" | "environment"
        )
    }) {
        return Err(IamError::bad_request(format!(
            "a bulk request has no field '{k}'"
        )));
    }
    let subject = request::parse_subject(
        obj.get("subject")
            .ok_or_else(|| IamError::bad_request("the request has no 'subject'"))?,
    )
    .map_err(|e| bulk_error(&e))?;
    let action = request::parse_action(
        obj.get("action")
            .ok_or_else(|| IamError::bad_request("the request has no 'action'"))?,
    )
    .map_err(|e| bulk_error(&e))?;
    let environment =
        request::parse_environment(obj.get("environment")).map_err(|e| bulk_error(&e))?;
    let resources = obj
        .get("resources")
        .and_then(Value::as_object)
        .ok_or_else(|| IamError::bad_request("'resources' must be an object"))?;
    let shared = string_map(
        resources.get("sharedAttributes"),
        "resources.sharedAttributes",
    )?;
    let unique = resources
        .get("uniqueAttributes")
        .and_then(Value::as_array)
        .ok_or_else(|| IamError::bad_request("'resources.uniqueAttributes' must be an array"))?;
    if unique.is_empty() || unique.len() > MAX_BULK_RESOURCES {
        return Err(IamError::bad_request(format!(
            "'resources.uniqueAttributes' holds 1 to {MAX_BULK_RESOURCES} items, not {}",
            unique.len()
        )));
    }
    for key in BULK_SHARED {
        if shared.get(key).is_none_or(String::is_empty) {
            return Err(IamError::bad_request(format!(
                "'resources.sharedAttributes.{key}' is required: every resource of a bulk request is of one service in one account"
            )));
        }
    }
    let resources: Vec<Attrs> = unique
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let own = string_map(Some(u), "resources.uniqueAttributes[]")?;
            if let Some(key) = BULK_SHARED.iter().find(|k| own.contains_key(**k)) {
                return Err(IamError::bad_request(format!(
                    "'resources.uniqueAttributes[{i}].{key}': {key} is shared by every resource of a bulk request; give it in sharedAttributes only"
                )));
            }
            let mut r = shared.clone();
            r.extend(own);
            Ok(r)
        })
        .collect::<Result<_, IamError>>()?;
    let mut types = resources.iter().filter_map(|r| r.get("resourceType"));
    if let Some(first) = types.next()
        && let Some(other) = types.find(|t| *t != first)
    {
        return Err(IamError::bad_request(format!(
            "a bulk request is about one resourceType, not both '{first}' and '{other}'"
        )));
    }
    let store = state.store();
    let now = state.clock().now();
    let decisions: Vec<Decision<'_>> = resources
        .iter()
        .map(|resource| {
            decide(
                &store.policy,
                &Query {
                    subject: &subject,
                    action: Some(&action),
                    resource,
                    environment: &environment,
                    now,
                },
            )
        })
        .collect();
    let answer = BulkAnswer {
        decisions: decisions
            .iter()
            .map(|d| BulkDecision {
                decision: if d.permitted { "Permit" } else { "Deny" },
                reason: d.reason,
                obligation: d.permitted.then(|| obligation(d, &subject, &environment)),
            })
            .collect(),
        cache_key_pattern: cache_key_pattern(),
    };
    let out = serde_json::to_vec(&answer).map_err(|e| internal(&e))?;
    Ok(json_response(out))
}
