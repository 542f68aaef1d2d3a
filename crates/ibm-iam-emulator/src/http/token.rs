//! `POST /identity/token` and `POST /oidc/token`: the grants of wire reference §1.3.
//!
//! Form-encoded; unknown parameters are ignored (ibmcloud-iam 0.1.7 sends `uaa_client_id`
//! and friends), a repeated parameter is refused. A Basic client header is optional; with
//! one the apikey, password and refresh grants also return a refresh token bound to that
//! client id, without one they return the literal `not_supported`, as IAM does (§1.4).
//! The emulator has no client registry: any client id and secret are accepted.
//!
//! The `iam-authz` grant (§1.3) mints a token for a CRN identity (§2.2) from a delegate's
//! access token and `desired_iam_id=crn-<CRN>`; see [`CRN_TOKEN_LIFETIME`] and the grant's
//! docs for the choices the wire reference leaves open.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::body::{self, require_content_type};
use super::context::Ctx;
use super::errors::{IamError, Shape};
use crate::claims::{self, Issue, Subject, grant};
use crate::identity::store::{Identity, Store};
use crate::identity::trust;
use crate::ids;
use crate::jwt::{self, JwtError};
use crate::keys::KeyRing;
use crate::state::EmulatorState;

/// Lifetime of refresh tokens: IAM's maximum session length, 3 days.
pub const REFRESH_LIFETIME: i64 = 3 * 86_400;
/// Default lifetime of delegated refresh tokens (§1.3).
pub const DELEGATED_REFRESH_LIFETIME: i64 = 518_400;
/// Longest life of a CRN-identity token (`iam-authz` grant): 30 minutes, the lifetime of
/// IAM's documented example (1796 s, wire reference §6), or the configured token lifetime
/// when that is shorter; never past the delegate's own token (INFERRED, as for `assume`).
pub const CRN_TOKEN_LIFETIME: i64 = 1800;
const DEFAULT_SCOPE: &str = "ibm openid";
const MAX_PARAMS: usize = 64;

/// The parsed form: each parameter once.
struct Form(BTreeMap<String, String>);

impl Form {
    fn parse(bytes: &[u8]) -> Result<Self, IamError> {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(bytes) {
            if map.len() >= MAX_PARAMS {
                return Err(IamError::bad_param(
                    "body",
                    format!("more than {MAX_PARAMS} parameters"),
                ));
            }
            if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                return Err(IamError::bad_param(
                    &k,
                    "the parameter is given more than once",
                ));
            }
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, IamError> {
        self.get(name)
            .ok_or_else(|| IamError::bad_param(name, "the parameter is missing or empty"))
    }
}

/// The Basic client credentials' client id.
fn client_id(headers: &HeaderMap) -> Result<Option<String>, IamError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        IamError::oidc(
            StatusCode::BAD_REQUEST,
            "BXNIM0106E",
            "The Authorization header must be Basic base64(client_id:client_secret)",
        )
    };
    let text = raw.to_str().map_err(|_| bad())?;
    let Some((scheme, b64)) = text.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    match decoded.split_once(':') {
        Some((id, _secret)) if !id.is_empty() => Ok(Some(id.to_owned())),
        _ => Err(bad()),
    }
}

fn validate_response_type(form: &Form) -> Result<bool, IamError> {
    let Some(rt) = form.get("response_type") else {
        return Ok(false);
    };
    let mut delegated = false;
    for part in rt.split([' ', ',']).filter(|s| !s.is_empty()) {
        match part {
            "cloud_iam" => {}
            "delegated_refresh_token" => delegated = true,
            _ => {
                return Err(IamError::bad_param(
                    "response_type",
                    format!(
                        "value '{rt}' is not valid. Valid values: 'cloud_iam, delegated_refresh_token'"
                    ),
                ));
            }
        }
    }
    Ok(delegated)
}

fn validate_scope(form: &Form) -> Result<Option<String>, IamError> {
    match form.get("scope") {
        None => Ok(None),
        Some(s) if s.len() <= 1024 && s.chars().all(|c| c == ' ' || c.is_ascii_graphic()) => {
            Ok(Some(s.split_whitespace().collect::<Vec<_>>().join(" ")))
        }
        Some(_) => Err(IamError::bad_param(
            "scope",
            "must be at most 1024 printable ASCII characters",
        )),
    }
}

fn invalid_token(what: &str, err: JwtError) -> IamError {
    match err {
        JwtError::Expired if what == "refresh token" => IamError::oidc(
            StatusCode::BAD_REQUEST,
            "BXNIM0408E",
            "Provided refresh token is expired",
        ),
        _ => IamError::oidc(
            StatusCode::BAD_REQUEST,
            "BXNIM0407E",
            format!("Provided {what} is invalid"),
        )
        .details(err.to_string()),
    }
}

/// The `iam_id` claim of a verified token, or `""`.
fn caller_iam_id(claims: &Map<String, Value>) -> &str {
    claims
        .get("iam_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn not_trusted(message: String) -> IamError {
    IamError::oidc(StatusCode::BAD_REQUEST, "IAMEMU0403E", message)
}

/// What a grant decided: the access token's claims and what else to return.
struct Minted {
    claims: Value,
    exp: i64,
    refresh: Option<Value>,
    /// Send `refresh_token: "not_supported"` when no real one is issued.
    refresh_not_supported: bool,
}

/// The token response body, in IAM's field order.
#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delegated_refresh_token: Option<String>,
    token_type: &'static str,
    expires_in: i64,
    expiration: i64,
    scope: String,
}

/// The token endpoint.
pub async fn token(
    State(state): State<EmulatorState>,
    Extension(_ctx): Extension<Ctx>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, IamError> {
    require_content_type(&headers, "application/x-www-form-urlencoded", Shape::Oidc)?;
    let bytes = body::read(body, Shape::Oidc).await?;
    let form = Form::parse(&bytes)?;
    let client = client_id(&headers)?;
    let delegated = validate_response_type(&form)?;
    let scope = validate_scope(&form)?;
    let grant_type = form.required("grant_type")?.to_owned();
    let tenants = headers
        .get("ibm-cloud-tenant")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        });

    let ring = state.keys().await.map_err(|e| {
        IamError::oidc(
            StatusCode::INTERNAL_SERVER_ERROR,
            "IAMEMU0500E",
            e.to_string(),
        )
    })?;
    let now = state.clock().now();
    let g = Grant {
        form: &form,
        ring: &ring,
        now,
        now_ms: state.clock().now_ms(),
        lifetime: state.token_lifetime(),
        issuer: state.issuer(),
        client: client.as_deref(),
        scope: scope.as_deref(),
        tenants: tenants.as_deref(),
    };
    let minted = {
        let store = state.store();
        match grant_type.as_str() {
            grant::APIKEY => g.apikey(&store)?,
            grant::REFRESH_TOKEN => g.refresh(&store)?,
            grant::PASSWORD => g.password(&store)?,
            grant::CR_TOKEN => g.cr_token(&store)?,
            grant::ASSUME => g.assume(&store)?,
            grant::IAM_AUTHZ => g.iam_authz(&store)?,
            other => {
                return Err(IamError::bad_param(
                    "grant_type",
                    format!("'{other}' is not a grant type the emulator supports"),
                ));
            }
        }
    };
    let signer = ring.signing_key();
    let access_token = jwt::sign(signer, &minted.claims);
    let refresh_token = match &minted.refresh {
        Some(claims) => Some(jwt::sign(signer, claims)),
        None => minted
            .refresh_not_supported
            .then(|| "not_supported".to_owned()),
    };
    let delegated_refresh_token =
        (delegated && (minted.refresh.is_some() || minted.refresh_not_supported)).then(|| {
            let lifetime = form
                .get("delegated_refresh_token_expiry")
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| (1..=DELEGATED_REFRESH_LIFETIME * 4).contains(v))
                .unwrap_or(DELEGATED_REFRESH_LIFETIME);
            jwt::sign(
                signer,
                &json!({
                    "token_use": "delegated_refresh",
                    "iam_id": minted.claims.get("iam_id"),
                    "receiver_client_ids": form.get("receiver_client_ids").unwrap_or_default(),
                    "jti": ids::uuid(),
                    "iat": now,
                    "exp": now + lifetime,
                }),
            )
        });
    let scope_out = minted
        .claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_SCOPE)
        .to_owned();
    let body = TokenResponse {
        access_token,
        refresh_token,
        delegated_refresh_token,
        token_type: "Bearer",
        expires_in: minted.exp - now,
        expiration: minted.exp,
        scope: scope_out,
    };
    Ok(axum::Json(body).into_response())
}

struct Grant<'a> {
    form: &'a Form,
    ring: &'a KeyRing,
    now: i64,
    now_ms: i64,
    lifetime: i64,
    issuer: &'a str,
    client: Option<&'a str>,
    scope: Option<&'a str>,
    tenants: Option<&'a [String]>,
}

impl Grant<'_> {
    fn issue<'b>(&'b self, grant_type: &'b str, scope: &'b str, exp: i64) -> Issue<'b> {
        Issue {
            issuer: self.issuer,
            grant_type,
            scope,
            client_id: self.client.unwrap_or("default"),
            iat: self.now,
            exp,
        }
    }

    fn check_tenant(&self, account: &str) -> Result<(), IamError> {
        match self.tenants {
            Some(list) if !list.iter().any(|t| t == account) => Err(IamError::oidc(
                StatusCode::BAD_REQUEST,
                "IAMEMU0412E",
                "The identity does not belong to an account named in the IBM-Cloud-Tenant header",
            )),
            _ => Ok(()),
        }
    }

    /// Access and refresh tokens for a user or service ID.
    fn for_identity(
        &self,
        identity: Identity<'_>,
        grant_type: &str,
        scope: &str,
    ) -> Result<Minted, IamError> {
        self.check_tenant(identity.account_id())?;
        let exp = self.now + self.lifetime;
        let issue = self.issue(grant_type, scope, exp);
        let claims = match identity {
            Identity::User(u) => claims::access_token(Subject::User(u), &issue),
            Identity::ServiceId(s) => claims::access_token(Subject::ServiceId(s), &issue),
            Identity::Profile(_) => {
                return Err(IamError::bad_param(
                    "grant_type",
                    "a trusted profile is reached through the cr-token or assume grant",
                ));
            }
            Identity::Crn(_) => {
                return Err(IamError::bad_param(
                    "grant_type",
                    "a CRN identity is reached through the iam-authz grant",
                ));
            }
        };
        let refresh = self.client.map(|client| {
            json!({
                "token_use": "refresh",
                "iam_id": claims.get("iam_id"),
                "client_id": client,
                "scope": scope,
                "jti": ids::uuid(),
                "iat": self.now,
                "exp": self.now + REFRESH_LIFETIME,
            })
        });
        Ok(Minted {
            claims,
            exp,
            refresh_not_supported: refresh.is_none(),
            refresh,
        })
    }

    fn apikey(&self, store: &Store) -> Result<Minted, IamError> {
        let value = self.form.required("apikey")?;
        let key = store.apikey_by_value(value).ok_or_else(|| {
            IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0415E",
                "Provided API key could not be found",
            )
            .details("BXNIM0102E: Unable to find Object. Object Type: 'ApiKey' with the provided value not found.")
        })?;
        if key.disabled {
            return Err(IamError::oidc(
                StatusCode::BAD_REQUEST,
                "IAMEMU0410E",
                "Provided API key is disabled",
            ));
        }
        if key.expires_at.is_some_and(|t| t <= self.now_ms) {
            return Err(IamError::oidc(
                StatusCode::BAD_REQUEST,
                "IAMEMU0411E",
                "Provided API key has expired",
            ));
        }
        let identity = store.identity(&key.iam_id).ok_or_else(|| {
            IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0415E",
                "Provided API key could not be found",
            )
        })?;
        self.for_identity(identity, grant::APIKEY, self.scope.unwrap_or(DEFAULT_SCOPE))
    }

    fn refresh(&self, store: &Store) -> Result<Minted, IamError> {
        let token = self.form.required("refresh_token")?;
        let Some(client) = self.client else {
            return Err(IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0407E",
                "Provided refresh token is invalid",
            )
            .details("Refresh tokens can be used only with the Basic client credentials they were issued to"));
        };
        let claims = jwt::verify(self.ring, token, self.now)
            .map_err(|e| invalid_token("refresh token", e))?;
        if claims.get("token_use").and_then(Value::as_str) != Some("refresh")
            || claims.get("client_id").and_then(Value::as_str) != Some(client)
        {
            return Err(invalid_token("refresh token", JwtError::Malformed));
        }
        let iam_id = claims
            .get("iam_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let identity = store
            .identity(iam_id)
            .ok_or_else(|| invalid_token("refresh token", JwtError::Signature))?;
        let scope = self
            .scope
            .or_else(|| claims.get("scope").and_then(Value::as_str))
            .unwrap_or(DEFAULT_SCOPE);
        self.for_identity(identity, grant::REFRESH_TOKEN, scope)
    }

    fn password(&self, store: &Store) -> Result<Minted, IamError> {
        if self.client.is_none() {
            return Err(IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0308E",
                "No authorization header found",
            ));
        }
        let username = self.form.required("username")?;
        let password = self.form.required("password")?;
        let wrong = || {
            IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0602E",
                "The credentials you provided are incorrect",
            )
        };
        let user = store
            .users
            .values()
            .find(|u| u.iam_id == username || u.email.eq_ignore_ascii_case(username))
            .ok_or_else(wrong)?;
        if user.password_digest.as_deref() != Some(ids::secret_digest(password).as_str()) {
            return Err(wrong());
        }
        if let Some(account) = self
            .form
            .get("account")
            .or_else(|| self.form.get("bss_account"))
            && account != user.account_id
        {
            return Err(IamError::bad_param(
                "account",
                format!("the user is not a member of account '{account}'"),
            ));
        }
        self.for_identity(
            Identity::User(user),
            grant::PASSWORD,
            self.scope.unwrap_or(DEFAULT_SCOPE),
        )
    }

    /// The profile named by `profile_id`, `profile_crn` and/or `profile_name` (+ `account`).
    fn profile<'s>(
        &self,
        store: &'s Store,
        name_needs_account: bool,
    ) -> Result<&'s crate::identity::model::Profile, IamError> {
        let by_id = self.form.get("profile_id");
        let by_crn = self.form.get("profile_crn");
        let by_name = self.form.get("profile_name");
        if by_id.is_none() && by_crn.is_none() && by_name.is_none() {
            return Err(IamError::bad_param(
                "profile_id",
                "one of profile_id, profile_crn or profile_name is required",
            ));
        }
        let missing = |what: &str, v: &str| {
            IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0102E",
                "Unable to find the trusted profile",
            )
            .details(format!(
                "Object type 'Profile' with {what} '{v}' not found."
            ))
        };
        let mut found: Option<&crate::identity::model::Profile> = None;
        let mut agree = |p: &'s crate::identity::model::Profile| -> Result<(), IamError> {
            match found {
                Some(q) if q.id != p.id => Err(IamError::bad_param(
                    "profile_id",
                    "profile_id, profile_crn and profile_name name different profiles",
                )),
                _ => {
                    found = Some(p);
                    Ok(())
                }
            }
        };
        if let Some(crn) = by_crn {
            agree(
                store
                    .profile_by_crn(crn)
                    .ok_or_else(|| missing("CRN", crn))?,
            )?;
        }
        if let Some(id) = by_id {
            agree(store.profiles.get(id).ok_or_else(|| missing("ID", id))?)?;
        }
        if let Some(name) = by_name {
            let account = self.form.get("account");
            if name_needs_account && account.is_none() && by_id.is_none() && by_crn.is_none() {
                return Err(IamError::bad_param(
                    "account",
                    "profile_name needs the account parameter",
                ));
            }
            agree(
                store
                    .profile_by_name(name, account)
                    .ok_or_else(|| missing("name", name))?,
            )?;
        }
        found.ok_or_else(|| IamError::bad_param("profile_id", "no profile named"))
    }

    fn cr_token(&self, store: &Store) -> Result<Minted, IamError> {
        let cr = self.form.required("cr_token")?;
        let profile = self.profile(store, false)?;
        let cr_claims = jwt::verify(self.ring, cr, self.now)
            .map_err(|e| invalid_token("compute resource token", e))?;
        if cr_claims.get("token_use").and_then(Value::as_str) != Some("cr") {
            return Err(invalid_token("compute resource token", JwtError::Malformed));
        }
        let rule = trust::matching_rule(profile, &cr_claims).ok_or_else(|| {
            not_trusted(format!(
                "Trusted profile '{}' has no rule that trusts this compute resource",
                profile.id
            ))
        })?;
        self.check_tenant(&profile.account_id)?;
        let lifetime = rule
            .expiration
            .map_or(self.lifetime, |e| e.clamp(60, self.lifetime));
        let exp = self.now + lifetime;
        let authn = json!({
            "sub": cr_claims.get("sub"),
            "iam_id": format!("crn-{}", cr_claims.get("sub").and_then(Value::as_str).unwrap_or("compute-resource")),
            "sub_type": "ComputeResource",
            "cr_type": cr_claims.get("cr_type").and_then(Value::as_str).or(rule.cr_type.as_deref()),
        });
        let scope = self.scope.unwrap_or(DEFAULT_SCOPE);
        let issue = self.issue(grant::CR_TOKEN, scope, exp);
        Ok(Minted {
            claims: claims::access_token(Subject::Profile(profile, &authn), &issue),
            exp,
            refresh: None,
            refresh_not_supported: false,
        })
    }

    /// Verifies a caller's own token, as the assume and iam-authz grants take it: `kind` is
    /// `"access token"` (which carries no `token_use`) or `"refresh token"` (`token_use:
    /// refresh`). Returns its claims and the identity of its `iam_id`; the token of an
    /// identity the emulator does not know is invalid.
    fn caller<'s>(
        &self,
        store: &'s Store,
        token: &str,
        kind: &str,
    ) -> Result<(Map<String, Value>, Identity<'s>), IamError> {
        let caller: Map<String, Value> =
            jwt::verify(self.ring, token, self.now).map_err(|e| invalid_token(kind, e))?;
        let token_use = caller.get("token_use").and_then(Value::as_str);
        if (kind == "access token" && token_use.is_some())
            || (kind == "refresh token" && token_use != Some("refresh"))
        {
            return Err(invalid_token(kind, JwtError::Malformed));
        }
        let identity = store
            .identity(caller_iam_id(&caller))
            .ok_or_else(|| invalid_token(kind, JwtError::Signature))?;
        Ok((caller, identity))
    }

    fn assume(&self, store: &Store) -> Result<Minted, IamError> {
        if self.form.get("cookie").is_some() {
            return Err(IamError::bad_param(
                "cookie",
                "the emulator does not support cookie credentials",
            ));
        }
        let (token, kind) = match (
            self.form.get("access_token"),
            self.form.get("refresh_token"),
        ) {
            (Some(t), None) => (t, "access token"),
            (None, Some(t)) => (t, "refresh token"),
            _ => {
                return Err(IamError::bad_param(
                    "access_token",
                    "exactly one of access_token or refresh_token is required",
                ));
            }
        };
        let (caller, caller_identity) = self.caller(store, token, kind)?;
        let caller_id = caller_iam_id(&caller);
        let profile = self.profile(store, true)?;
        if !profile.identities.iter().any(|i| i.iam_id == caller_id) {
            return Err(not_trusted(format!(
                "Trusted profile '{}' does not trust identity '{caller_id}'",
                profile.id
            )));
        }
        // An assumed token never outlives the access token it was exchanged from.
        let caller_exp = if kind == "access token" {
            caller
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or(self.now)
        } else {
            i64::MAX
        };
        let exp = (self.now + self.lifetime).min(caller_exp);
        let authn = match caller.get("authn") {
            Some(a) => a.clone(),
            None => match caller_identity {
                Identity::User(u) => claims::authn_of_user(u),
                Identity::ServiceId(s) => claims::authn_of_service_id(s),
                Identity::Profile(p) => json!({ "sub": p.id, "iam_id": p.iam_id() }),
                Identity::Crn(c) => claims::authn_of_crn(c),
            },
        };
        let issue = self.issue(grant::ASSUME, DEFAULT_SCOPE, exp);
        Ok(Minted {
            claims: claims::access_token(Subject::Profile(profile, &authn), &issue),
            exp,
            refresh: None,
            refresh_not_supported: false,
        })
    }
}

impl Grant<'_> {
    /// `urn:ibm:params:oauth:grant-type:iam-authz`: a token for the CRN identity named by
    /// `desired_iam_id` (`crn-<CRN>`), for a caller whose `access_token` (emulator-issued,
    /// unexpired, an access token) belongs to one of that identity's `delegates`.
    ///
    /// Choices where the wire reference is silent (INFERRED):
    /// - `desired_iam_id` must carry the `crn-` realm prefix (IAM's own token library adds it
    ///   because callers forget it); a bare CRN is a `BXNIM0106E` telling you so.
    /// - Who may delegate: the CRN identity's `delegates` list stands in for IAM's `Delegate`
    ///   role; anyone else gets `IAMEMU0403E`, an unknown CRN identity `BXNIM0102E`.
    /// - `scope`: the `scope` parameter, else `ibm openid <the CRN's service name>`, and
    ///   `client_id`: the Basic client id, else the CRN's service name, both as in IAM's
    ///   example (`resource-controller` for a resource-controller CRN).
    /// - Lifetime: [`CRN_TOKEN_LIFETIME`]; no refresh token.
    fn iam_authz(&self, store: &Store) -> Result<Minted, IamError> {
        let token = self.form.required("access_token")?;
        let desired = self.form.required("desired_iam_id")?;
        let (caller, _) = self.caller(store, token, "access token")?;
        let caller_id = caller_iam_id(&caller);
        let Some(crn) = desired.strip_prefix("crn-") else {
            return Err(IamError::bad_param(
                "desired_iam_id",
                "must be the IAM id of a CRN identity: 'crn-' followed by the CRN",
            ));
        };
        let ident = store.crn_identities.get(crn).ok_or_else(|| {
            IamError::oidc(
                StatusCode::BAD_REQUEST,
                "BXNIM0102E",
                "Unable to find the CRN identity",
            )
            .details(format!(
                "Object type 'CRN' with IAM ID '{desired}' not found."
            ))
        })?;
        if !ident.delegates.iter().any(|d| d == caller_id) {
            return Err(not_trusted(format!(
                "Identity '{caller_id}' may not obtain tokens for '{desired}': it is not one of its delegates"
            )));
        }
        self.check_tenant(&ident.account_id)?;
        let caller_exp = caller
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or(self.now);
        let exp = (self.now + self.lifetime.min(CRN_TOKEN_LIFETIME)).min(caller_exp);
        let service = ident.service_name();
        let default_scope = format!("{DEFAULT_SCOPE} {service}");
        let issue = Issue {
            issuer: self.issuer,
            grant_type: grant::IAM_AUTHZ,
            scope: self.scope.unwrap_or(&default_scope),
            client_id: self.client.unwrap_or(service),
            iat: self.now,
            exp,
        };
        Ok(Minted {
            claims: claims::access_token(Subject::Crn(ident), &issue),
            exp,
            refresh: None,
            refresh_not_supported: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_refuses_duplicates_and_reads_values() {
        let f = Form::parse(b"grant_type=a&apikey=x%20y&empty=").expect("parse");
        assert_eq!(f.get("apikey"), Some("x y"));
        assert_eq!(f.get("empty"), None);
        assert!(f.required("missing").is_err());
        assert!(Form::parse(b"a=1&a=2").is_err());
        let many: String = (0..=MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert!(Form::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn basic_client_header() {
        let mut h = HeaderMap::new();
        assert_eq!(client_id(&h).expect("none"), None);
        h.insert(header::AUTHORIZATION, "Basic Yng6Yng=".parse().expect("hv"));
        assert_eq!(client_id(&h).expect("bx"), Some("bx".to_owned()));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().expect("hv"));
        assert!(client_id(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("hv"));
        assert!(client_id(&h).is_err());
    }

    #[test]
    fn response_type_values() {
        assert_eq!(
            validate_response_type(&Form::parse(b"response_type=cloud_iam").expect("f")).ok(),
            Some(false)
        );
        assert_eq!(
            validate_response_type(
                &Form::parse(b"response_type=cloud_iam%20delegated_refresh_token").expect("f")
            )
            .ok(),
            Some(true)
        );
        assert!(validate_response_type(&Form::parse(b"response_type=uaa").expect("f")).is_err());
    }
}
