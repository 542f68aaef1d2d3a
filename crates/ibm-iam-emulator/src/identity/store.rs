//! The identity store: every account, user, service ID, trusted profile and API key, with
//! the lookups the token endpoint needs and the changes the management APIs make.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::model::{Account, ApiKey, CrnIdentity, Meta, Profile, ServiceId, User};
use crate::ids;
use crate::policy::PolicyStore;

/// At most this many API keys per identity (IAM's documented limit).
pub const MAX_APIKEYS_PER_IDENTITY: usize = 20;

/// Why a change to the store was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{kind} '{id}' not found")]
    NotFound {
        /// What kind of object.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A field is missing or invalid.
    #[error("{0}")]
    Invalid(String),
    /// The object exists already or is in the way.
    #[error("{0}")]
    Conflict(String),
    /// A documented IAM limit would be exceeded.
    #[error("{0}")]
    Limit(String),
}

/// A resolved identity.
#[derive(Debug, Clone, Copy)]
pub enum Identity<'a> {
    /// A user.
    User(&'a User),
    /// A service ID.
    ServiceId(&'a ServiceId),
    /// A trusted profile.
    Profile(&'a Profile),
    /// A CRN identity.
    Crn(&'a CrnIdentity),
}

impl Identity<'_> {
    /// The identity's account.
    pub fn account_id(&self) -> &str {
        match self {
            Identity::User(u) => &u.account_id,
            Identity::ServiceId(s) => &s.account_id,
            Identity::Profile(p) => &p.account_id,
            Identity::Crn(c) => &c.account_id,
        }
    }
}

/// Everything the emulator knows about identities.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Store {
    /// Accounts by id.
    pub accounts: BTreeMap<String, Account>,
    /// Users by IAM id.
    pub users: BTreeMap<String, User>,
    /// Service IDs by id (`ServiceId-…`).
    pub service_ids: BTreeMap<String, ServiceId>,
    /// Trusted profiles by id (`Profile-…`).
    pub profiles: BTreeMap<String, Profile>,
    /// API keys by id (`ApiKey-…`).
    pub apikeys: BTreeMap<String, ApiKey>,
    /// CRN identities by CRN (absent from state files written before they existed).
    #[serde(default)]
    pub crn_identities: BTreeMap<String, CrnIdentity>,
    /// Services, roles, access groups and policies (absent from state files written before
    /// they existed).
    #[serde(default)]
    pub policy: PolicyStore,
    #[serde(skip)]
    by_digest: HashMap<String, String>,
}

/// What a new API key is made from.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Owner.
    pub iam_id: String,
    /// Bring-your-own value; a fresh one is generated when `None`.
    pub value: Option<String>,
    /// Keep the value retrievable.
    pub store_value: bool,
    /// `none`, `disable` or `delete`.
    pub action_when_leaked: Option<String>,
    /// Expiry, Unix milliseconds.
    pub expires_at: Option<i64>,
    /// Who creates it.
    pub created_by: String,
}

impl Store {
    /// Rebuilds the indexes (API-key digests, policies by subject, …) after deserialization.
    pub fn reindex(&mut self) {
        self.by_digest = self
            .apikeys
            .values()
            .map(|k| (k.digest.clone(), k.id.clone()))
            .collect();
        self.policy.reindex();
    }

    /// Looks an API key up by its secret value.
    pub fn apikey_by_value(&self, value: &str) -> Option<&ApiKey> {
        let id = self.by_digest.get(&ids::secret_digest(value))?;
        self.apikeys.get(id)
    }

    /// Resolves an IAM id to an identity.
    pub fn identity(&self, iam_id: &str) -> Option<Identity<'_>> {
        if let Some(id) = iam_id.strip_prefix("iam-") {
            if id.starts_with("ServiceId-") {
                return self.service_ids.get(id).map(Identity::ServiceId);
            }
            if id.starts_with("Profile-") {
                return self.profiles.get(id).map(Identity::Profile);
            }
        }
        if let Some(crn) = iam_id.strip_prefix("crn-") {
            return self.crn_identities.get(crn).map(Identity::Crn);
        }
        self.users.get(iam_id).map(Identity::User)
    }

    /// A profile by name within an account (or in any account when `account` is `None` and the
    /// name is unique).
    pub fn profile_by_name(&self, name: &str, account: Option<&str>) -> Option<&Profile> {
        let mut found = self
            .profiles
            .values()
            .filter(|p| p.name == name && account.is_none_or(|a| a == p.account_id));
        let first = found.next()?;
        if account.is_none() && found.next().is_some() {
            return None;
        }
        Some(first)
    }

    /// A profile by its CRN.
    pub fn profile_by_crn(&self, crn: &str) -> Option<&Profile> {
        let id = crn.rsplit_once("::profile:")?.1;
        self.profiles.get(id).filter(|p| p.crn() == crn)
    }

    fn require_account(&self, account_id: &str) -> Result<(), StoreError> {
        if self.accounts.contains_key(account_id) {
            Ok(())
        } else {
            Err(StoreError::NotFound {
                kind: "Account",
                id: account_id.to_owned(),
            })
        }
    }

    /// Adds an account, or leaves an existing one with that id alone.
    pub fn ensure_account(&mut self, id: &str, name: &str) {
        self.accounts
            .entry(id.to_owned())
            .or_insert_with(|| Account {
                id: id.to_owned(),
                name: name.to_owned(),
                owner_iam_id: None,
            });
    }

    /// Adds a user.
    pub fn add_user(&mut self, user: User) -> Result<(), StoreError> {
        self.require_account(&user.account_id)?;
        if !user.iam_id.starts_with("IBMid-") && !user.iam_id.contains('-') {
            return Err(StoreError::Invalid(format!(
                "user iam_id '{}' must look like 'IBMid-<id>'",
                user.iam_id
            )));
        }
        if self.users.contains_key(&user.iam_id) {
            return Err(StoreError::Conflict(format!(
                "user '{}' exists already",
                user.iam_id
            )));
        }
        self.users.insert(user.iam_id.clone(), user);
        Ok(())
    }

    /// Adds a service ID; a fresh `ServiceId-<uuid>` id when `id` is `None`.
    pub fn add_service_id(
        &mut self,
        id: Option<String>,
        name: &str,
        account_id: &str,
        description: Option<String>,
        meta: Meta,
    ) -> Result<ServiceId, StoreError> {
        self.require_account(account_id)?;
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("'name' must not be empty".into()));
        }
        let id = id.unwrap_or_else(|| format!("ServiceId-{}", ids::uuid()));
        if !id.starts_with("ServiceId-") {
            return Err(StoreError::Invalid(format!(
                "service ID id '{id}' must start with 'ServiceId-'"
            )));
        }
        if self.service_ids.contains_key(&id) {
            return Err(StoreError::Conflict(format!(
                "service ID '{id}' exists already"
            )));
        }
        let sid = ServiceId {
            id: id.clone(),
            name: name.to_owned(),
            account_id: account_id.to_owned(),
            description,
            unique_instance_crns: Vec::new(),
            locked: false,
            meta,
        };
        self.service_ids.insert(id, sid.clone());
        Ok(sid)
    }

    /// Adds a trusted profile; a fresh `Profile-<uuid>` id when `profile.id` is empty.
    pub fn add_profile(&mut self, mut profile: Profile) -> Result<Profile, StoreError> {
        self.require_account(&profile.account_id)?;
        if profile.name.trim().is_empty() {
            return Err(StoreError::Invalid("'name' must not be empty".into()));
        }
        if profile.id.is_empty() {
            profile.id = format!("Profile-{}", ids::uuid());
        }
        if !profile.id.starts_with("Profile-") {
            return Err(StoreError::Invalid(format!(
                "profile id '{}' must start with 'Profile-'",
                profile.id
            )));
        }
        if self.profiles.contains_key(&profile.id) {
            return Err(StoreError::Conflict(format!(
                "profile '{}' exists already",
                profile.id
            )));
        }
        if self
            .profiles
            .values()
            .any(|p| p.account_id == profile.account_id && p.name == profile.name)
        {
            return Err(StoreError::Conflict(format!(
                "a profile named '{}' exists already in account {}",
                profile.name, profile.account_id
            )));
        }
        for rule in &mut profile.rules {
            if rule.id.is_empty() {
                rule.id = format!("ClaimRule-{}", ids::uuid());
            }
        }
        self.profiles.insert(profile.id.clone(), profile.clone());
        Ok(profile)
    }

    /// Adds a CRN identity. The CRN must be valid and scoped to an existing account
    /// (`a/<account>`); `account_id`, when not empty, must be that account; every delegate
    /// must be an existing identity.
    pub fn add_crn_identity(&mut self, mut ident: CrnIdentity) -> Result<CrnIdentity, StoreError> {
        let attrs = crate::policy::request::parse_crn(&ident.crn).map_err(StoreError::Invalid)?;
        let Some(account) = attrs.get("accountId") else {
            return Err(StoreError::Invalid(format!(
                "the CRN '{}' has no account scope (a/<account>); a CRN identity's tokens need one",
                ident.crn
            )));
        };
        if ident.account_id.is_empty() {
            ident.account_id.clone_from(account);
        } else if ident.account_id != *account {
            return Err(StoreError::Invalid(format!(
                "'account_id' {} is not the account of the CRN '{}'",
                ident.account_id, ident.crn
            )));
        }
        self.require_account(&ident.account_id)?;
        if self.crn_identities.contains_key(&ident.crn) {
            return Err(StoreError::Conflict(format!(
                "CRN identity '{}' exists already",
                ident.crn
            )));
        }
        for d in &ident.delegates {
            if self.identity(d).is_none() {
                return Err(StoreError::NotFound {
                    kind: "Identity",
                    id: d.clone(),
                });
            }
        }
        self.crn_identities.insert(ident.crn.clone(), ident.clone());
        Ok(ident)
    }

    /// Creates an API key for a user or service ID. Returns the record and the value.
    pub fn add_apikey(
        &mut self,
        new: NewApiKey,
        now_ms: i64,
    ) -> Result<(ApiKey, String), StoreError> {
        let account_id = match self.identity(&new.iam_id) {
            Some(Identity::User(u)) => u.account_id.clone(),
            Some(Identity::ServiceId(s)) => s.account_id.clone(),
            Some(Identity::Profile(_) | Identity::Crn(_)) => {
                return Err(StoreError::Invalid(
                    "API keys can be created for users and service IDs, not trusted profiles or CRN identities"
                        .into(),
                ));
            }
            None => {
                return Err(StoreError::NotFound {
                    kind: "Identity",
                    id: new.iam_id,
                });
            }
        };
        if new.name.trim().is_empty() {
            return Err(StoreError::Invalid("'name' must not be empty".into()));
        }
        let owned = self
            .apikeys
            .values()
            .filter(|k| k.iam_id == new.iam_id)
            .count();
        if owned >= MAX_APIKEYS_PER_IDENTITY {
            return Err(StoreError::Limit(format!(
                "identity '{}' has {MAX_APIKEYS_PER_IDENTITY} API keys, the most IAM allows",
                new.iam_id
            )));
        }
        if let Some(action) = &new.action_when_leaked
            && !matches!(action.as_str(), "none" | "disable" | "delete")
        {
            return Err(StoreError::Invalid(format!(
                "'action_when_leaked' must be none, disable or delete, not '{action}'"
            )));
        }
        let value = new.value.unwrap_or_else(ids::apikey_value);
        if value.is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "'apikey' must be 1 to 1024 printable characters".into(),
            ));
        }
        let digest = ids::secret_digest(&value);
        if self.by_digest.contains_key(&digest) {
            return Err(StoreError::Conflict(
                "this API key value is in use already".into(),
            ));
        }
        let key = ApiKey {
            id: format!("ApiKey-{}", ids::uuid()),
            name: new.name,
            description: new.description,
            iam_id: new.iam_id,
            account_id,
            digest: digest.clone(),
            stored_value: new.store_value.then(|| value.clone()),
            locked: false,
            disabled: false,
            action_when_leaked: new.action_when_leaked.unwrap_or_else(|| "none".into()),
            expires_at: new.expires_at,
            meta: Meta {
                created_at: now_ms,
                modified_at: now_ms,
                created_by: new.created_by,
                version: 1,
            },
        };
        self.by_digest.insert(digest, key.id.clone());
        self.apikeys.insert(key.id.clone(), key.clone());
        Ok((key, value))
    }

    /// Deletes an API key.
    pub fn delete_apikey(&mut self, id: &str) -> Result<ApiKey, StoreError> {
        let key = self.apikeys.get(id).ok_or_else(|| StoreError::NotFound {
            kind: "ApiKey",
            id: id.to_owned(),
        })?;
        if key.locked {
            return Err(StoreError::Conflict(format!(
                "API key '{id}' is locked; unlock it first"
            )));
        }
        let key = self
            .apikeys
            .remove(id)
            .ok_or_else(|| StoreError::NotFound {
                kind: "ApiKey",
                id: id.to_owned(),
            })?;
        self.by_digest.remove(&key.digest);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            created_at: 0,
            modified_at: 0,
            created_by: "test".into(),
            version: 1,
        }
    }

    fn store() -> Store {
        let mut s = Store::default();
        s.ensure_account("acct", "Account");
        s
    }

    #[test]
    fn apikeys_resolve_by_value_and_survive_reindex() {
        let mut s = store();
        let sid = s
            .add_service_id(None, "svc", "acct", None, meta())
            .expect("service id");
        let (key, value) = s
            .add_apikey(
                NewApiKey {
                    name: "k".into(),
                    iam_id: sid.iam_id(),
                    ..NewApiKey::default()
                },
                0,
            )
            .expect("key");
        assert_eq!(s.apikey_by_value(&value).map(|k| &k.id), Some(&key.id));
        assert!(key.stored_value.is_none());

        let json = serde_json::to_string(&s).expect("serialize");
        assert!(!json.contains(&value), "the raw API key must not be stored");
        let mut back: Store = serde_json::from_str(&json).expect("deserialize");
        back.reindex();
        assert!(back.apikey_by_value(&value).is_some());

        back.delete_apikey(&key.id).expect("delete");
        assert!(back.apikey_by_value(&value).is_none());
        assert!(matches!(
            back.delete_apikey(&key.id),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn refuses_bad_changes() {
        let mut s = store();
        assert!(matches!(
            s.add_service_id(None, "svc", "nope", None, meta()),
            Err(StoreError::NotFound { .. })
        ));
        let sid = s
            .add_service_id(None, "svc", "acct", None, meta())
            .expect("service id");
        let new = |v: &str| NewApiKey {
            name: "k".into(),
            iam_id: sid.iam_id(),
            value: Some(v.into()),
            ..NewApiKey::default()
        };
        s.add_apikey(new("same-value"), 0).expect("first");
        assert!(matches!(
            s.add_apikey(new("same-value"), 0),
            Err(StoreError::Conflict(_))
        ));
        for i in 1..MAX_APIKEYS_PER_IDENTITY {
            s.add_apikey(new(&format!("value-{i}")), 0)
                .expect("within limit");
        }
        assert!(matches!(
            s.add_apikey(new("one-too-many"), 0),
            Err(StoreError::Limit(_))
        ));
        assert!(s.identity("iam-ServiceId-unknown").is_none());
        assert!(s.identity(&sid.iam_id()).is_some());
    }

    #[test]
    fn profiles_by_name_and_crn() {
        let mut s = store();
        let p = s
            .add_profile(Profile {
                id: String::new(),
                name: "workload".into(),
                account_id: "acct".into(),
                description: None,
                rules: vec![],
                identities: vec![],
                meta: meta(),
            })
            .expect("profile");
        assert_eq!(
            s.profile_by_name("workload", None).map(|x| &x.id),
            Some(&p.id)
        );
        assert_eq!(s.profile_by_crn(&p.crn()).map(|x| &x.id), Some(&p.id));
        assert!(s.profile_by_crn("crn:v1:x::profile:nope").is_none());
        let dup = Profile {
            id: String::new(),
            ..p
        };
        assert!(matches!(s.add_profile(dup), Err(StoreError::Conflict(_))));
    }

    #[test]
    fn crn_identities_need_an_account_scope_and_real_delegates() {
        let mut s = store();
        let sid = s
            .add_service_id(None, "svc", "acct", None, meta())
            .expect("service id");
        let new = |crn: &str, delegates: Vec<String>| CrnIdentity {
            crn: crn.into(),
            account_id: String::new(),
            delegates,
        };
        let crn = "crn:v1:bluemix:public:books:us-south:a/acct:inst::";
        let ident = s
            .add_crn_identity(new(crn, vec![sid.iam_id()]))
            .expect("added");
        assert_eq!(ident.account_id, "acct");
        assert!(matches!(
            s.identity(&format!("crn-{crn}")),
            Some(Identity::Crn(c)) if c.crn == crn
        ));
        assert!(
            s.identity(crn).is_none(),
            "the iam_id carries the crn- prefix"
        );
        for (bad, delegates) in [
            (crn, vec![]),
            (
                "crn:v1:bluemix:public:books:us-south:a/other:inst::",
                vec![],
            ),
            ("crn:v1:bluemix:public:books:us-south::inst::", vec![]),
            ("not-a-crn", vec![]),
            (
                "crn:v1:bluemix:public:books:us-south:a/acct:inst2::",
                vec!["iam-ServiceId-nobody".to_owned()],
            ),
        ] {
            assert!(s.add_crn_identity(new(bad, delegates)).is_err(), "{bad}");
        }
        let wrong_account = CrnIdentity {
            account_id: "other".into(),
            ..new(
                "crn:v1:bluemix:public:books:us-south:a/acct:inst3::",
                vec![],
            )
        };
        assert!(s.add_crn_identity(wrong_account).is_err());
        let key = NewApiKey {
            name: "k".into(),
            iam_id: format!("crn-{crn}"),
            ..NewApiKey::default()
        };
        assert!(matches!(s.add_apikey(key, 0), Err(StoreError::Invalid(_))));
    }
}
