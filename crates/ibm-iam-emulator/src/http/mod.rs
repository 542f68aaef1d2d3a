//! The HTTP surface: IAM's routes, the control API, and the middleware around them.

pub mod access;
pub mod apikeys;
pub mod authz;
pub mod body;
pub mod caller;
pub mod context;
pub mod control;
pub mod discovery;
pub mod errors;
pub mod groups;
pub mod listing;
pub mod policies;
pub mod profiles;
pub mod roles;
pub mod serviceids;
pub mod token;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{delete, get, head, post, put};

use crate::state::EmulatorState;
use errors::IamError;

async fn not_found() -> IamError {
    IamError::api(
        StatusCode::NOT_FOUND,
        "not_found",
        "No such endpoint on the IAM emulator",
    )
}

/// A known path with a method it does not serve: 405 in the endpoint's IAM error shape
/// (axum adds the `Allow` header).
async fn method_not_allowed(method: Method, uri: Uri) -> IamError {
    IamError::wrapped(
        StatusCode::METHOD_NOT_ALLOWED,
        uri.path(),
        format!("The method {method} is not allowed on this endpoint"),
    )
}

/// The emulator's routes over `state`.
pub fn router(state: EmulatorState) -> Router {
    Router::new()
        .route("/identity/token", post(token::token))
        .route("/oidc/token", post(token::token))
        .route("/identity/keys", get(discovery::keys))
        .route(
            "/identity/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/v1/apikeys", post(apikeys::create).get(apikeys::list))
        .route("/v1/apikeys/details", get(apikeys::details))
        .route(
            "/v1/apikeys/{id}",
            get(apikeys::get).delete(apikeys::delete),
        )
        .route(
            "/v1/apikeys/{id}/lock",
            post(apikeys::lock).delete(apikeys::unlock),
        )
        .route(
            "/v1/apikeys/{id}/disable",
            post(apikeys::disable).delete(apikeys::enable),
        )
        .route(
            "/v1/serviceids/",
            post(serviceids::create).get(serviceids::list),
        )
        .route(
            "/v1/serviceids",
            post(serviceids::create).get(serviceids::list),
        )
        .route(
            "/v1/serviceids/{id}",
            get(serviceids::get).delete(serviceids::delete),
        )
        .route("/v1/profiles", post(profiles::create).get(profiles::list))
        .route(
            "/v1/profiles/{id}",
            get(profiles::get).delete(profiles::delete),
        )
        .route(
            "/v1/profiles/{id}/rules",
            post(profiles::create_rule).get(profiles::list_rules),
        )
        .route(
            "/v1/profiles/{id}/identities",
            get(profiles::get_identities).put(profiles::set_identities),
        )
        .route(
            "/v1/policies",
            post(policies::create_v1).get(policies::list_v1),
        )
        .route(
            "/v1/policies/{id}",
            get(policies::get_v1).delete(policies::delete),
        )
        .route(
            "/v2/policies",
            post(policies::create_v2).get(policies::list_v2),
        )
        .route(
            "/v2/policies/{id}",
            get(policies::get_v2).delete(policies::delete),
        )
        .route("/v2/roles", get(roles::list).post(roles::create))
        .route("/v2/roles/{id}", get(roles::get).delete(roles::delete))
        .route("/v2/groups", post(groups::create).get(groups::list))
        .route("/v2/groups/{id}", get(groups::get).delete(groups::delete))
        .route(
            "/v2/groups/{id}/members",
            put(groups::add_members).get(groups::list_members),
        )
        .route(
            "/v2/groups/{id}/members/{iam_id}",
            head(groups::is_member).delete(groups::remove_member),
        )
        .route("/v2/authz", post(authz::authz))
        .route("/v2/authz/bulk", put(authz::bulk))
        .route("/v2/authz/roles", post(authz::roles))
        .route("/_emulator/health", get(control::health))
        .route(
            "/_emulator/faults",
            get(control::list_faults)
                .post(control::add_fault)
                .delete(control::clear_faults),
        )
        .route("/_emulator/faults/{id}", delete(control::remove_fault))
        .route(
            "/_emulator/counters",
            get(control::counters).delete(control::reset_counters),
        )
        .route("/_emulator/keys", get(control::keys))
        .route("/_emulator/keys/rotate", post(control::rotate))
        .route("/_emulator/keys/rotation", put(control::set_rotation))
        .route(
            "/_emulator/clock",
            get(control::clock).post(control::shift_clock),
        )
        .route(
            "/_emulator/token-lifetime",
            put(control::set_token_lifetime),
        )
        .route("/_emulator/cr-tokens", post(control::cr_token))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            context::faults,
        ))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            context::context,
        ))
        .with_state(state)
}

/// `//identity/token` → `/identity/token`: IBM's Python SDK core builds that path from a
/// base URL with a trailing slash, and real IAM answers it. Runs before routing (see
/// [`crate::app`]).
pub(crate) fn collapse_slashes(mut req: axum::extract::Request) -> axum::extract::Request {
    let Some(pq) = req.uri().path_and_query() else {
        return req;
    };
    if !pq.path().contains("//") {
        return req;
    }
    let mut path = String::with_capacity(pq.path().len());
    for c in pq.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let rebuilt = match pq.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    if let Ok(uri) = rebuilt.parse() {
        *req.uri_mut() = uri;
    }
    req
}
