//! What the access-management APIs share: who may call them, the base URL for `href`s,
//! `limit`/`offset` paging, and timestamps.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::caller::Caller;
use super::discovery::{Scheme, base_url};
use super::errors::IamError;
use crate::civil;
use crate::policy::attrs::Attrs;
use crate::policy::decide::{Query, decide};
use crate::policy::request::Subject;
use crate::state::EmulatorState;

/// The base URL the client used (`https://127.0.0.1:41234`), for `href` fields.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let scheme = parts.extensions.get::<Scheme>().map_or("http", |s| s.0);
        Ok(BaseUrl(base_url(&parts.headers, scheme)))
    }
}

/// Management authorization: the caller's token must be for `account_id`, and the caller
/// must be the account's owner (`owner_iam_id`) or be permitted `action` on
/// `{accountId, serviceName: service}` by the account's policies (the same decision rule
/// as `/v2/authz`; the built-in services `iam-access-management` and `iam-groups` grant reads
/// to every platform role and changes to Administrator). Otherwise 403.
pub fn require_permission(
    state: &EmulatorState,
    caller: &Caller,
    account_id: &str,
    service: &str,
    action: &str,
) -> Result<(), IamError> {
    caller.require_account(account_id)?;
    let store = state.store();
    let owner = store
        .accounts
        .get(account_id)
        .and_then(|a| a.owner_iam_id.as_deref());
    if owner == Some(caller.iam_id.as_str()) {
        return Ok(());
    }
    let subject = Subject {
        id: caller.iam_id.clone(),
        scope: None,
    };
    let resource: Attrs = [
        ("accountId".to_owned(), account_id.to_owned()),
        ("serviceName".to_owned(), service.to_owned()),
    ]
    .into();
    let environment = Attrs::new();
    let decision = decide(
        &store.policy,
        &Query {
            subject: &subject,
            action: Some(action),
            resource: &resource,
            environment: &environment,
            now: state.clock().now(),
        },
    );
    if decision.permitted {
        Ok(())
    } else {
        Err(IamError::api(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "The caller {} is not authorized to perform {action} in account {account_id}: it needs an Administrator policy there, or to be the account owner",
                caller.iam_id
            ),
        ))
    }
}

/// A required query parameter, or 400.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, IamError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| IamError::bad_request(format!("the query parameter '{name}' is required")))
}

/// `limit` (1 to `max`, default `default`) and `offset` query parameters.
pub fn limit_offset(
    limit: Option<&str>,
    offset: Option<&str>,
    default: usize,
    max: usize,
) -> Result<(usize, usize), IamError> {
    let limit = match limit {
        None => default,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                IamError::bad_request(format!("'limit' must be a number from 1 to {max}"))
            })?,
    };
    let offset = match offset {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| IamError::bad_request("'offset' must be a non-negative number"))?,
    };
    Ok((limit, offset))
}

/// IAM's management timestamp format.
pub fn timestamp(unix_ms: i64) -> String {
    civil::rfc3339_ms(unix_ms)
}
