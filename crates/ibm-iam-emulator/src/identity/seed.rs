//! The seed file: identities to create when the emulator starts (`--config FILE`).
//!
//! A JSON document; every section is optional. Unknown fields are refused so that a typo
//! does not silently drop data. See `examples/seed.json` in this crate.
//!
//! ```json
//! {
//!   "token_lifetime_seconds": 3600,
//!   "accounts":    [{ "id": "<32 hex>", "name": "…" }],
//!   "users":       [{ "iam_id": "IBMid-…", "account_id": "…", "email": "…",
//!                     "given_name": "…", "family_name": "…", "password": "…",
//!                     "apikeys": [{ "name": "…", "apikey": "<value>" }] }],
//!   "service_ids": [{ "id": "ServiceId-…", "name": "…", "account_id": "…",
//!                     "apikeys": [{ "name": "…", "apikey": "<value>" }] }],
//!   "profiles":    [{ "id": "Profile-…", "name": "…", "account_id": "…",
//!                     "rules": [{ "type": "Profile-CR", "cr_type": "IKS_SA",
//!                                 "conditions": [{ "claim": "namespace", "operator": "EQUALS",
//!                                                  "value": "\"books\"" }] }],
//!                     "identities": [{ "iam_id": "IBMid-…", "type": "user" }] }],
//!   "crn_identities": [{ "crn": "crn:v1:bluemix:public:<service>::a/<account>::<type>:<id>",
//!                        "delegates": ["iam-ServiceId-…"] }],
//!   "services": […], "roles": […], "access_groups": […], "policies": […]
//! }
//! ```
//!
//! The last four sections (access management) are described in [`crate::policy::seed`].

use serde::Deserialize;

use super::model::{CrnIdentity, Meta, Profile, ProfileIdentity, ProfileRule, User};
use super::store::{NewApiKey, Store, StoreError};
use crate::ids;
use crate::policy::seed::{SeedGroup, SeedRole, SeedService};

/// The parsed seed file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Lifetime of issued access tokens, seconds.
    #[serde(default)]
    pub token_lifetime_seconds: Option<u64>,
    /// The `iss` claim and the discovery document's issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accounts.
    #[serde(default)]
    pub accounts: Vec<SeedAccount>,
    /// Users.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Service IDs.
    #[serde(default)]
    pub service_ids: Vec<SeedServiceId>,
    /// Trusted profiles.
    #[serde(default)]
    pub profiles: Vec<SeedProfile>,
    /// CRN identities, reached through the `iam-authz` grant.
    #[serde(default)]
    pub crn_identities: Vec<SeedCrnIdentity>,
    /// IAM-enabled services with their actions and the roles that grant them.
    #[serde(default)]
    pub services: Vec<SeedService>,
    /// Custom roles.
    #[serde(default)]
    pub roles: Vec<SeedRole>,
    /// Access groups.
    #[serde(default)]
    pub access_groups: Vec<SeedGroup>,
    /// Access policies, in the v1 or v2 shape of the API (with an optional `id`).
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
}

/// An account in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAccount {
    /// Account id (32 hex characters in real IAM).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// IAM id of the owner (full rights on the account's management APIs).
    #[serde(default)]
    pub owner_iam_id: Option<String>,
}

/// An API key in the seed file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApiKey {
    /// Display name.
    pub name: String,
    /// The secret value.
    pub apikey: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<String>,
}

impl std::fmt::Debug for SeedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedApiKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A user in the seed file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// `IBMid-…`.
    pub iam_id: String,
    /// The user's account.
    pub account_id: String,
    /// E-mail.
    pub email: String,
    /// Given name.
    #[serde(default)]
    pub given_name: String,
    /// Family name.
    #[serde(default)]
    pub family_name: String,
    /// Password for the password grant.
    #[serde(default)]
    pub password: Option<String>,
    /// API keys.
    #[serde(default)]
    pub apikeys: Vec<SeedApiKey>,
}

impl std::fmt::Debug for SeedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedUser")
            .field("iam_id", &self.iam_id)
            .finish_non_exhaustive()
    }
}

/// A service ID in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedServiceId {
    /// `ServiceId-…`; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Owning account.
    pub account_id: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<String>,
    /// API keys.
    #[serde(default)]
    pub apikeys: Vec<SeedApiKey>,
}

/// A trusted profile in the seed file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProfile {
    /// `Profile-…`; generated when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// Owning account.
    pub account_id: String,
    /// Optional description.
    #[serde(default)]
    pub description: Option<String>,
    /// Compute-resource trust rules.
    #[serde(default)]
    pub rules: Vec<ProfileRule>,
    /// Identities that may assume the profile.
    #[serde(default)]
    pub identities: Vec<ProfileIdentity>,
}

/// A CRN identity in the seed file (see [`CrnIdentity`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedCrnIdentity {
    /// The resource's CRN, scoped to an account of the seed (`a/<account>`).
    pub crn: String,
    /// IAM ids (users, service IDs, profiles) that may obtain its tokens with the `iam-authz`
    /// grant.
    #[serde(default)]
    pub delegates: Vec<String>,
}

/// A seed file that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Not valid JSON of the seed shape.
    #[error("the seed file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// An entry conflicts with another or refers to something missing.
    #[error("the seed file's {entry} cannot be applied: {source}")]
    Apply {
        /// Which entry.
        entry: String,
        /// Why.
        source: StoreError,
    },
}

impl Seed {
    /// Parses a seed document.
    pub fn from_json(text: &str) -> Result<Self, SeedError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Adds everything in the seed to `store`.
    pub fn apply(&self, store: &mut Store, now_ms: i64) -> Result<(), SeedError> {
        let meta = || Meta {
            created_at: now_ms,
            modified_at: now_ms,
            created_by: "emulator".into(),
            version: 1,
        };
        let at = |entry: String| move |source: StoreError| SeedError::Apply { entry, source };
        for a in &self.accounts {
            if a.id.trim().is_empty() {
                return Err(SeedError::Apply {
                    entry: "accounts".into(),
                    source: StoreError::Invalid("an account id must not be empty".into()),
                });
            }
            store.ensure_account(&a.id, &a.name);
            if let Some(acct) = store.accounts.get_mut(&a.id) {
                acct.owner_iam_id.clone_from(&a.owner_iam_id);
            }
        }
        let add_keys = |store: &mut Store, owner: &str, keys: &[SeedApiKey], entry: &str| {
            for k in keys {
                store
                    .add_apikey(
                        NewApiKey {
                            name: k.name.clone(),
                            description: k.description.clone(),
                            iam_id: owner.to_owned(),
                            value: Some(k.apikey.clone()),
                            created_by: "emulator".into(),
                            ..NewApiKey::default()
                        },
                        now_ms,
                    )
                    .map_err(at(format!("API key '{}' of {entry}", k.name)))?;
            }
            Ok::<(), SeedError>(())
        };
        for u in &self.users {
            store
                .add_user(User {
                    iam_id: u.iam_id.clone(),
                    account_id: u.account_id.clone(),
                    email: u.email.clone(),
                    given_name: u.given_name.clone(),
                    family_name: u.family_name.clone(),
                    password_digest: u.password.as_deref().map(ids::secret_digest),
                })
                .map_err(at(format!("user '{}'", u.iam_id)))?;
            add_keys(
                store,
                &u.iam_id,
                &u.apikeys,
                &format!("user '{}'", u.iam_id),
            )?;
        }
        for s in &self.service_ids {
            let sid = store
                .add_service_id(
                    s.id.clone(),
                    &s.name,
                    &s.account_id,
                    s.description.clone(),
                    meta(),
                )
                .map_err(at(format!("service ID '{}'", s.name)))?;
            add_keys(
                store,
                &sid.iam_id(),
                &s.apikeys,
                &format!("service ID '{}'", s.name),
            )?;
        }
        for p in &self.profiles {
            store
                .add_profile(Profile {
                    id: p.id.clone().unwrap_or_default(),
                    name: p.name.clone(),
                    account_id: p.account_id.clone(),
                    description: p.description.clone(),
                    rules: p.rules.clone(),
                    identities: p.identities.clone(),
                    meta: meta(),
                })
                .map_err(at(format!("profile '{}'", p.name)))?;
        }
        for c in &self.crn_identities {
            store
                .add_crn_identity(CrnIdentity {
                    crn: c.crn.clone(),
                    account_id: String::new(),
                    delegates: c.delegates.clone(),
                })
                .map_err(at(format!("CRN identity '{}'", c.crn)))?;
        }
        crate::policy::seed::apply(
            store,
            &self.services,
            &self.roles,
            &self.access_groups,
            &self.policies,
            now_ms,
        )
        .map_err(|(entry, source)| SeedError::Apply { entry, source })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_seed_applies() {
        let text = include_str!("../../examples/seed.json");
        let seed = Seed::from_json(text).expect("parse");
        let mut store = Store::default();
        seed.apply(&mut store, 0).expect("apply");
        assert!(
            store
                .apikey_by_value("alice-apikey-0123456789abcdefghijklmnop")
                .is_some()
        );
        assert!(store.profile_by_name("books-workload", None).is_some());
        assert_eq!(store.users.len(), 1);
        assert_eq!(store.crn_identities.len(), 1);
        assert!(store.policy.service("books").is_some());
        assert_eq!(store.policy.policies.len(), 2);
        assert_eq!(store.policy.groups.len(), 1);
        assert_eq!(store.policy.custom_roles.len(), 1);
        assert_eq!(
            store.accounts["5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"]
                .owner_iam_id
                .as_deref(),
            Some("IBMid-550000ED6J")
        );
    }

    #[test]
    fn access_management_sections_are_checked() {
        let base = r#""accounts":[{"id":"a"}],"users":[{"iam_id":"IBMid-1","account_id":"a","email":"x@y"}]"#;
        for (bad, why) in [
            (
                r#""services":[{"name":"s","actions":[{"id":"s.a","roles":["Boss"]}]}]"#,
                "Boss",
            ),
            (
                r#""services":[{"name":"s","actions":[{"id":"s.a","roles":["Reader"],"extra":1}]}]"#,
                "extra",
            ),
            (
                r#""access_groups":[{"name":"g","account_id":"a","members":[{"iam_id":"IBMid-2"}]}]"#,
                "IBMid-2",
            ),
            (
                r#""access_groups":[{"name":"g","account_id":"a","members":[{"iam_id":"IBMid-1","type":"service"}]}]"#,
                "member type",
            ),
            (
                r#""roles":[{"name":"R","display_name":"R","account_id":"a","service_name":"nope","actions":["x"]}]"#,
                "nope",
            ),
            (r#""policies":[{"type":"access"}]"#, "policy #1"),
            (
                r#""policies":[{"type":"access","subjects":[{"attributes":[{"name":"iam_id","value":"IBMid-1"}]}],"roles":[{"role_id":"crn:v1:bluemix:public:iam::::role:Viewer"}],"resources":[{"attributes":[{"name":"accountId","value":"zzz"},{"name":"serviceType","value":"service"}]}]}]"#,
                "zzz",
            ),
        ] {
            let text = format!("{{{base},{bad}}}");
            let err = match Seed::from_json(&text) {
                Err(e) => e,
                Ok(seed) => seed.apply(&mut Store::default(), 0).expect_err(bad),
            };
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_fields_and_dangling_references_are_errors() {
        assert!(matches!(
            Seed::from_json(r#"{"acounts": []}"#),
            Err(SeedError::Parse(_))
        ));
        let seed = Seed::from_json(r#"{"service_ids":[{"name":"x","account_id":"missing"}]}"#)
            .expect("parse");
        let err = seed.apply(&mut Store::default(), 0).expect_err("dangling");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
