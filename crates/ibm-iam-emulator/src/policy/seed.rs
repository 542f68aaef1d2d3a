//! The access-management sections of the seed file: `services`, `roles` (custom roles),
//! `access_groups` and `policies`. Applied after the identities, in that order.
//!
//! ```json
//! {
//!   "services": [{ "name": "books", "display_name": "Books",
//!                  "actions": [{ "id": "books.book.read", "roles": ["Reader", "Writer"] }] }],
//!   "roles": [{ "name": "BookCurator", "display_name": "Book curator", "account_id": "…",
//!               "service_name": "books", "actions": ["books.book.read"] }],
//!   "access_groups": [{ "id": "AccessGroupId-…", "name": "librarians", "account_id": "…",
//!                       "members": [{ "iam_id": "iam-Profile-…", "type": "profile" }] }],
//!   "policies": [ <a v1 or v2 access policy as the API takes it, with an optional "id"> ]
//! }
//! ```
//!
//! Action roles are built-in short names (`Viewer`, `Operator`, `Editor`, `Administrator`,
//! `Reader`, `Writer`, `Manager`) or role CRNs (a service's own roles, such as
//! `crn:v1:bluemix:public:books::::serviceRole:Librarian`). Group members must be identities
//! of the group's account; `type` defaults from the IAM id's prefix.

use serde::Deserialize;
use serde_json::Value;

use super::model::{AccessGroup, CustomRole, Member, Service, ServiceAction, resolve_role_name};
use super::parse::{Origin, parse_any};
use crate::identity::model::Meta;
use crate::identity::store::{Identity, Store, StoreError};
use crate::ids;

/// A service in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedService {
    /// `serviceName`.
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// `service` (default) or `platform_service`.
    #[serde(default)]
    pub service_type: Option<String>,
    /// The service's actions.
    pub actions: Vec<SeedAction>,
}

/// An action in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAction {
    /// `<service>.<noun>.<verb>`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Roles granting it: built-in short names or CRNs.
    pub roles: Vec<String>,
}

/// A custom role in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRole {
    /// Fixed id; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// The name in the CRN (alphanumeric, capitalized).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Owning account.
    pub account_id: String,
    /// The service it is for.
    pub service_name: String,
    /// Its actions.
    pub actions: Vec<String>,
}

/// A group member in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMember {
    /// The member's IAM id.
    pub iam_id: String,
    /// `user`, `service` or `profile`; from the IAM id when absent.
    #[serde(default, rename = "type")]
    pub member_type: Option<String>,
}

/// An access group in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGroup {
    /// `AccessGroupId-…`; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Owning account.
    pub account_id: String,
    /// Members.
    #[serde(default)]
    pub members: Vec<SeedMember>,
}

/// The member type IAM's Access Groups API uses for an IAM id.
pub fn member_type_of(iam_id: &str) -> &'static str {
    if iam_id.starts_with("iam-ServiceId-") {
        "service"
    } else if iam_id.starts_with("iam-Profile-") {
        "profile"
    } else {
        "user"
    }
}

/// Checks that `iam_id` is an identity of `account_id` whose kind fits `member_type`.
pub fn check_member(
    store: &Store,
    account_id: &str,
    iam_id: &str,
    member_type: &str,
) -> Result<(), StoreError> {
    let identity = store.identity(iam_id).ok_or_else(|| StoreError::NotFound {
        kind: "Identity",
        id: iam_id.to_owned(),
    })?;
    if identity.account_id() != account_id {
        return Err(StoreError::Invalid(format!(
            "'{iam_id}' is not an identity of account {account_id}"
        )));
    }
    let fits = matches!(
        (member_type, identity),
        ("user", Identity::User(_))
            | ("service", Identity::ServiceId(_))
            | ("profile", Identity::Profile(_))
    );
    if !fits {
        return Err(StoreError::Invalid(format!(
            "'{iam_id}' is not of member type '{member_type}'"
        )));
    }
    Ok(())
}

/// Applies the access-management sections of a seed file.
pub fn apply(
    store: &mut Store,
    services: &[SeedService],
    roles: &[SeedRole],
    groups: &[SeedGroup],
    policies: &[Value],
    now_ms: i64,
) -> Result<(), (String, StoreError)> {
    let meta = || Meta {
        created_at: now_ms,
        modified_at: now_ms,
        created_by: "emulator".into(),
        version: 1,
    };
    for s in services {
        let at = |e| (format!("service '{}'", s.name), e);
        let mut actions = Vec::new();
        for a in &s.actions {
            let roles = a
                .roles
                .iter()
                .map(|r| {
                    resolve_role_name(r).ok_or_else(|| {
                        at(StoreError::Invalid(format!(
                            "action '{}': '{r}' is not a built-in role name or a role CRN",
                            a.id
                        )))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            actions.push(ServiceAction {
                id: a.id.clone(),
                display_name: a.display_name.clone(),
                description: a.description.clone(),
                roles,
            });
        }
        store
            .policy
            .add_service(Service {
                name: s.name.clone(),
                display_name: s.display_name.clone(),
                service_type: s.service_type.clone().unwrap_or_else(|| "service".into()),
                actions,
            })
            .map_err(at)?;
    }
    for r in roles {
        let at = |e| (format!("role '{}'", r.name), e);
        if !store.accounts.contains_key(&r.account_id) {
            return Err(at(StoreError::NotFound {
                kind: "Account",
                id: r.account_id.clone(),
            }));
        }
        store
            .policy
            .add_custom_role(CustomRole {
                id: r.id.clone().unwrap_or_else(ids::random_hex32),
                name: r.name.clone(),
                display_name: r.display_name.clone(),
                description: r.description.clone(),
                account_id: r.account_id.clone(),
                service_name: r.service_name.clone(),
                actions: r.actions.clone(),
                meta: meta(),
            })
            .map_err(at)?;
    }
    for g in groups {
        let at = |e| (format!("access group '{}'", g.name), e);
        if !store.accounts.contains_key(&g.account_id) {
            return Err(at(StoreError::NotFound {
                kind: "Account",
                id: g.account_id.clone(),
            }));
        }
        let mut members = Vec::new();
        for m in &g.members {
            let member_type = m
                .member_type
                .clone()
                .unwrap_or_else(|| member_type_of(&m.iam_id).to_owned());
            check_member(store, &g.account_id, &m.iam_id, &member_type).map_err(at)?;
            members.push(Member {
                iam_id: m.iam_id.clone(),
                member_type,
                added_at: now_ms,
                added_by: "emulator".into(),
            });
        }
        let id = match &g.id {
            Some(id) if id.starts_with("AccessGroupId-") => id.clone(),
            Some(id) => {
                return Err(at(StoreError::Invalid(format!(
                    "access group id '{id}' must start with 'AccessGroupId-'"
                ))));
            }
            None => format!("AccessGroupId-{}", ids::uuid()),
        };
        store
            .policy
            .add_group(AccessGroup {
                id,
                name: g.name.clone(),
                description: g.description.clone(),
                account_id: g.account_id.clone(),
                members,
                meta: meta(),
            })
            .map_err(at)?;
    }
    for (i, p) in policies.iter().enumerate() {
        let at = |e| (format!("policy #{}", i + 1), e);
        let draft = parse_any(p, Origin::Seed)
            .map_err(StoreError::Invalid)
            .map_err(at)?;
        if !store.accounts.contains_key(&draft.account_id) {
            return Err(at(StoreError::NotFound {
                kind: "Account",
                id: draft.account_id.clone(),
            }));
        }
        let id = draft.id.clone().unwrap_or_else(ids::uuid);
        store
            .policy
            .add_policy(draft.into_policy(id, meta()))
            .map_err(at)?;
    }
    Ok(())
}
