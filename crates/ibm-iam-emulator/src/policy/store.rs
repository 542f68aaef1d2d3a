//! The access-management store: services, custom roles, access groups and policies, with
//! the indexes decisions need: policies by subject (so a decision costs the same with 10 or
//! 10,000 policies in the account), groups by member, and actions by role and service.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::model::{
    AccessGroup, CustomRole, Member, PLATFORM_ROLES, Policy, PolicySubject, RoleKind,
    SERVICE_ROLES, SERVICE_TYPE_PLATFORM, Service, ServiceAction, builtin_role_description,
    platform_role_crn, role_kind, role_short_name, service_role_crn,
};
use crate::identity::store::StoreError;

/// At most this many custom roles per account (IAM's documented limit).
pub const MAX_CUSTOM_ROLES_PER_ACCOUNT: usize = 40;
/// At most this many access groups per account (IAM's documented limit).
pub const MAX_GROUPS_PER_ACCOUNT: usize = 500;
/// At most this many access groups per member (IAM's documented limit).
pub const MAX_GROUPS_PER_MEMBER: usize = 50;

/// The service whose actions guard the policy and role management APIs.
pub const ACCESS_MANAGEMENT_SERVICE: &str = "iam-access-management";
/// The service whose actions guard the access group APIs.
pub const GROUPS_SERVICE: &str = "iam-groups";

/// The account-management services the emulator defines itself, so that "an Administrator
/// policy" is an ordinary policy: `iam-access-management` (policies and roles) and
/// `iam-groups` (access groups). Reading needs any platform role; changing needs
/// Administrator. The action names follow IAM's `iam.policy.read` style (the §4.4 example);
/// the `iam-groups` ones are INFERRED.
pub fn builtin_services() -> &'static [Service] {
    static BUILTIN: OnceLock<Vec<Service>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let readers: Vec<String> = PLATFORM_ROLES
            .iter()
            .map(|r| platform_role_crn(r))
            .collect();
        let admins = vec![platform_role_crn("Administrator")];
        let action = |id: &str, roles: &Vec<String>| ServiceAction {
            id: id.to_owned(),
            display_name: String::new(),
            description: String::new(),
            roles: roles.clone(),
        };
        vec![
            Service {
                name: ACCESS_MANAGEMENT_SERVICE.into(),
                display_name: "IAM Access Management".into(),
                service_type: SERVICE_TYPE_PLATFORM.into(),
                actions: vec![
                    action("iam.policy.read", &readers),
                    action("iam.policy.create", &admins),
                    action("iam.policy.update", &admins),
                    action("iam.policy.delete", &admins),
                    action("iam.role.read", &readers),
                    action("iam.role.create", &admins),
                    action("iam.role.update", &admins),
                    action("iam.role.delete", &admins),
                ],
            },
            Service {
                name: GROUPS_SERVICE.into(),
                display_name: "IAM Access Groups".into(),
                service_type: SERVICE_TYPE_PLATFORM.into(),
                actions: vec![
                    action("iam-groups.groups.read", &readers),
                    action("iam-groups.groups.create", &admins),
                    action("iam-groups.groups.update", &admins),
                    action("iam-groups.groups.delete", &admins),
                    action("iam-groups.members.read", &readers),
                    action("iam-groups.members.add", &admins),
                    action("iam-groups.members.remove", &admins),
                ],
            },
        ]
    })
}

/// What is known about a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// The role's CRN.
    pub crn: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Family.
    pub kind: RoleKind,
}

#[derive(Debug, Default, Clone)]
struct Index {
    /// Subject (IAM id or access group id) → the policies granting to it (shared with
    /// `policies`, so a decision follows no id lookups).
    by_subject: HashMap<String, Vec<Arc<Policy>>>,
    /// Member IAM id → ids of the groups it belongs to.
    groups_of: HashMap<String, Vec<String>>,
    /// Role CRN → service → actions of that service the role grants (sorted).
    grants: HashMap<String, BTreeMap<String, Vec<String>>>,
    /// Action → the service that defines it.
    action_service: HashMap<String, String>,
    /// Service name → service type.
    service_types: HashMap<String, String>,
    /// Custom role CRN → custom role id.
    custom_by_crn: HashMap<String, String>,
}

/// Services, custom roles, access groups and policies.
///
/// A deserialized store must be [`reindex`](Self::reindex)ed before use; a default one is
/// ready (the built-in services are indexed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyStore {
    /// Services defined by the seed file, by name (the built-in ones are not stored).
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Custom roles by id.
    #[serde(default)]
    pub custom_roles: BTreeMap<String, CustomRole>,
    /// Access groups by id.
    #[serde(default)]
    pub groups: BTreeMap<String, AccessGroup>,
    /// Policies by id.
    #[serde(default, with = "shared_policies")]
    pub policies: BTreeMap<String, Arc<Policy>>,
    #[serde(skip)]
    index: Index,
}

impl Default for PolicyStore {
    fn default() -> Self {
        let mut s = Self {
            services: BTreeMap::new(),
            custom_roles: BTreeMap::new(),
            groups: BTreeMap::new(),
            policies: BTreeMap::new(),
            index: Index::default(),
        };
        s.reindex_catalog();
        s
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

fn remove_from(map: &mut HashMap<String, Vec<String>>, key: &str, value: &str) {
    if let Some(v) = map.get_mut(key) {
        v.retain(|x| x != value);
        if v.is_empty() {
            map.remove(key);
        }
    }
}

impl PolicyStore {
    /// Rebuilds every index (after deserialization or a rollback).
    pub fn reindex(&mut self) {
        self.reindex_catalog();
        self.index.by_subject.clear();
        for p in self.policies.values() {
            self.index
                .by_subject
                .entry(p.subject.value().to_owned())
                .or_default()
                .push(p.clone());
        }
        self.index.groups_of.clear();
        for g in self.groups.values() {
            for m in &g.members {
                self.index
                    .groups_of
                    .entry(m.iam_id.clone())
                    .or_default()
                    .push(g.id.clone());
            }
        }
    }

    fn reindex_catalog(&mut self) {
        let mut grants: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
        let mut action_service = HashMap::new();
        let mut service_types = HashMap::new();
        for s in builtin_services().iter().chain(self.services.values()) {
            service_types.insert(s.name.clone(), s.service_type.clone());
            for a in &s.actions {
                action_service.insert(a.id.clone(), s.name.clone());
                for r in &a.roles {
                    push_unique(
                        grants
                            .entry(r.clone())
                            .or_default()
                            .entry(s.name.clone())
                            .or_default(),
                        &a.id,
                    );
                }
            }
        }
        let mut custom_by_crn = HashMap::new();
        for c in self.custom_roles.values() {
            custom_by_crn.insert(c.crn(), c.id.clone());
            let by_service = grants.entry(c.crn()).or_default();
            for a in &c.actions {
                if let Some(svc) = action_service.get(a) {
                    push_unique(by_service.entry(svc.clone()).or_default(), a);
                }
            }
        }
        for by_service in grants.values_mut() {
            for actions in by_service.values_mut() {
                actions.sort();
            }
        }
        self.index.grants = grants;
        self.index.action_service = action_service;
        self.index.service_types = service_types;
        self.index.custom_by_crn = custom_by_crn;
    }

    // ---------------------------------------------------------------- catalog

    /// Every service: the built-in account-management ones, then the seeded ones.
    pub fn all_services(&self) -> impl Iterator<Item = &Service> {
        builtin_services().iter().chain(self.services.values())
    }

    /// A service by name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.all_services().find(|s| s.name == name)
    }

    /// The type (`service` or `platform_service`) of a known service.
    pub fn service_type(&self, name: &str) -> Option<&str> {
        self.index.service_types.get(name).map(String::as_str)
    }

    /// The service that defines an action.
    pub fn action_service(&self, action: &str) -> Option<&str> {
        self.index.action_service.get(action).map(String::as_str)
    }

    /// An action's definition.
    pub fn action(&self, id: &str) -> Option<&ServiceAction> {
        self.service(self.action_service(id)?)?
            .actions
            .iter()
            .find(|a| a.id == id)
    }

    /// An action's display name (its id when it has none).
    pub fn action_display_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.action(id)
            .map(|a| a.display_name.as_str())
            .filter(|d| !d.is_empty())
            .unwrap_or(id)
    }

    /// An action's description (empty when it has none).
    pub fn action_description(&self, id: &str) -> &str {
        self.action(id).map_or("", |a| a.description.as_str())
    }

    /// The actions `role` grants on `service` (every service's when `None`), sorted per
    /// service.
    pub fn role_actions<'a>(
        &'a self,
        role: &str,
        service: Option<&str>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let by_service = self.index.grants.get(role);
        let one = match (by_service, service) {
            (Some(b), Some(s)) => b.get(s),
            _ => None,
        };
        let all = match (by_service, service) {
            (Some(b), None) => Some(b.values().flatten()),
            _ => None,
        };
        one.into_iter()
            .flatten()
            .chain(all.into_iter().flatten())
            .map(String::as_str)
    }

    /// Role CRNs that `service`'s action table mentions (service-specific and generic service
    /// roles, and platform roles), in the order first seen.
    pub fn roles_of_service(&self, service: &Service) -> Vec<String> {
        let mut out = Vec::new();
        for a in &service.actions {
            for r in &a.roles {
                push_unique(&mut out, r);
            }
        }
        out
    }

    /// A custom role by CRN.
    pub fn custom_role_by_crn(&self, crn: &str) -> Option<&CustomRole> {
        self.custom_roles
            .get(self.index.custom_by_crn.get(crn)?.as_str())
    }

    /// Describes a role usable in `account_id`'s policies: a built-in role, a role a service's
    /// action table mentions, or one of the account's custom roles. `None` for unknown roles.
    pub fn role_info(&self, crn: &str, account_id: Option<&str>) -> Option<RoleInfo> {
        match role_kind(crn) {
            RoleKind::Custom => {
                let c = self.custom_role_by_crn(crn)?;
                if account_id.is_some_and(|a| a != c.account_id) {
                    return None;
                }
                Some(RoleInfo {
                    crn: crn.to_owned(),
                    display_name: c.display_name.clone(),
                    description: c.description.clone().unwrap_or_default(),
                    kind: RoleKind::Custom,
                })
            }
            kind => {
                let name = role_short_name(crn);
                let builtin = PLATFORM_ROLES.iter().any(|r| platform_role_crn(r) == crn)
                    || SERVICE_ROLES.iter().any(|r| service_role_crn(r) == crn);
                if !builtin && !self.index.grants.contains_key(crn) {
                    return None;
                }
                Some(RoleInfo {
                    crn: crn.to_owned(),
                    display_name: name.to_owned(),
                    description: builtin_role_description(if builtin { name } else { "" })
                        .to_owned(),
                    kind,
                })
            }
        }
    }

    /// Adds a service (from the seed file). Role references must be CRNs.
    pub fn add_service(&mut self, service: Service) -> Result<(), StoreError> {
        let invalid = |m: String| Err(StoreError::Invalid(m));
        if service.name.trim().is_empty() || service.name.contains([':', ' ']) {
            return invalid(format!(
                "service name '{}' must be non-empty, without ':' or spaces",
                service.name
            ));
        }
        if self.service(&service.name).is_some() {
            return Err(StoreError::Conflict(format!(
                "service '{}' exists already",
                service.name
            )));
        }
        if !matches!(
            service.service_type.as_str(),
            "service" | "platform_service"
        ) {
            return invalid(format!(
                "service '{}': service_type must be 'service' or 'platform_service'",
                service.name
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for a in &service.actions {
            if a.id.trim().is_empty() || a.id.contains(' ') {
                return invalid(format!(
                    "service '{}': action ids must be non-empty, without spaces",
                    service.name
                ));
            }
            if !seen.insert(a.id.as_str()) || self.action_service(&a.id).is_some() {
                return Err(StoreError::Conflict(format!(
                    "action '{}' is defined twice",
                    a.id
                )));
            }
            if a.roles.is_empty() {
                return invalid(format!("action '{}' is granted by no role", a.id));
            }
            for r in &a.roles {
                if !r.starts_with("crn:v1:") || role_kind(r) == RoleKind::Custom {
                    return invalid(format!(
                        "action '{}': '{r}' is not a built-in role name or a service role CRN",
                        a.id
                    ));
                }
            }
        }
        self.services.insert(service.name.clone(), service);
        self.reindex_catalog();
        Ok(())
    }

    /// Adds a custom role after validating it (name, actions, the per-account limit, a
    /// unique name in the account).
    pub fn add_custom_role(&mut self, role: CustomRole) -> Result<CustomRole, StoreError> {
        let invalid = |m: String| Err(StoreError::Invalid(m));
        let mut chars = role.name.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_uppercase())
            || !chars.all(|c| c.is_ascii_alphanumeric())
            || role.name.len() > 30
        {
            return invalid(format!(
                "role name '{}' must be alphanumeric, start with a capital letter, and be at most 30 characters",
                role.name
            ));
        }
        if role.display_name.trim().is_empty() || role.display_name.len() > 50 {
            return invalid("'display_name' must be 1 to 50 characters".into());
        }
        if self.service(&role.service_name).is_none() {
            return invalid(format!("service '{}' is not known", role.service_name));
        }
        if role.actions.is_empty() {
            return invalid("a custom role needs at least one action".into());
        }
        for a in &role.actions {
            if self.action_service(a).is_none() {
                return invalid(format!("action '{a}' is not defined by any service"));
            }
        }
        let in_account = self
            .custom_roles
            .values()
            .filter(|c| c.account_id == role.account_id)
            .count();
        if in_account >= MAX_CUSTOM_ROLES_PER_ACCOUNT {
            return Err(StoreError::Limit(format!(
                "account {} has {MAX_CUSTOM_ROLES_PER_ACCOUNT} custom roles, the most IAM allows",
                role.account_id
            )));
        }
        if self.custom_role_by_crn(&role.crn()).is_some() {
            return Err(StoreError::Conflict(format!(
                "This role name has already been used: a custom role named '{}' exists in account {}",
                role.name, role.account_id
            )));
        }
        self.custom_roles.insert(role.id.clone(), role.clone());
        self.reindex_catalog();
        Ok(role)
    }

    /// Deletes a custom role. Policies naming it stay, and grant nothing through it.
    pub fn delete_custom_role(&mut self, id: &str) -> Result<CustomRole, StoreError> {
        let role = self
            .custom_roles
            .remove(id)
            .ok_or_else(|| StoreError::NotFound {
                kind: "Role",
                id: id.to_owned(),
            })?;
        self.reindex_catalog();
        Ok(role)
    }

    // ---------------------------------------------------------------- groups

    /// Adds an access group.
    pub fn add_group(&mut self, group: AccessGroup) -> Result<AccessGroup, StoreError> {
        if group.name.trim().is_empty() || group.name.len() > 100 {
            return Err(StoreError::Invalid(
                "an access group's 'name' must be 1 to 100 characters".into(),
            ));
        }
        if self.groups.contains_key(&group.id) {
            return Err(StoreError::Conflict(format!(
                "access group '{}' exists already",
                group.id
            )));
        }
        let in_account = self
            .groups
            .values()
            .filter(|g| g.account_id == group.account_id)
            .count();
        if in_account >= MAX_GROUPS_PER_ACCOUNT {
            return Err(StoreError::Limit(format!(
                "account {} has {MAX_GROUPS_PER_ACCOUNT} access groups, the most IAM allows",
                group.account_id
            )));
        }
        // Validate every member before changing anything.
        for m in &group.members {
            self.check_new_member(m)?;
        }
        let members = group.members.clone();
        let mut stored = group;
        stored.members.clear();
        self.groups.insert(stored.id.clone(), stored.clone());
        for m in members {
            self.add_member(&stored.id, m)?;
        }
        Ok(self.groups.get(&stored.id).cloned().unwrap_or(stored))
    }

    fn check_new_member(&self, member: &Member) -> Result<(), StoreError> {
        if !matches!(member.member_type.as_str(), "user" | "service" | "profile") {
            return Err(StoreError::Invalid(format!(
                "member type '{}' must be user, service or profile",
                member.member_type
            )));
        }
        if self.groups_of(&member.iam_id).len() >= MAX_GROUPS_PER_MEMBER {
            return Err(StoreError::Limit(format!(
                "'{}' is a member of {MAX_GROUPS_PER_MEMBER} access groups, the most IAM allows",
                member.iam_id
            )));
        }
        Ok(())
    }

    fn group_mut(&mut self, id: &str) -> Result<&mut AccessGroup, StoreError> {
        self.groups.get_mut(id).ok_or_else(|| StoreError::NotFound {
            kind: "AccessGroup",
            id: id.to_owned(),
        })
    }

    /// Adds a member to a group; adding an existing member again is a no-op that returns
    /// the existing membership.
    pub fn add_member(&mut self, group_id: &str, member: Member) -> Result<Member, StoreError> {
        if let Some(existing) = self
            .group_mut(group_id)?
            .members
            .iter()
            .find(|m| m.iam_id == member.iam_id)
        {
            return Ok(existing.clone());
        }
        self.check_new_member(&member)?;
        let group = self.group_mut(group_id)?;
        group.members.push(member.clone());
        group.meta.version += 1;
        self.index
            .groups_of
            .entry(member.iam_id.clone())
            .or_default()
            .push(group_id.to_owned());
        Ok(member)
    }

    /// Removes a member from a group.
    pub fn remove_member(&mut self, group_id: &str, iam_id: &str) -> Result<(), StoreError> {
        let group = self.group_mut(group_id)?;
        let before = group.members.len();
        group.members.retain(|m| m.iam_id != iam_id);
        if group.members.len() == before {
            return Err(StoreError::NotFound {
                kind: "Member",
                id: iam_id.to_owned(),
            });
        }
        group.meta.version += 1;
        remove_from(&mut self.index.groups_of, iam_id, group_id);
        Ok(())
    }

    /// Deletes a group. With policies granting to it, refused unless `force`, which deletes
    /// those policies too (as IAM's `force=true` does).
    pub fn delete_group(&mut self, id: &str, force: bool) -> Result<AccessGroup, StoreError> {
        if !self.groups.contains_key(id) {
            return Err(StoreError::NotFound {
                kind: "AccessGroup",
                id: id.to_owned(),
            });
        }
        let policies = self.index.by_subject.get(id).cloned().unwrap_or_default();
        if !policies.is_empty() && !force {
            return Err(StoreError::Conflict(format!(
                "access group '{id}' has {} policies; delete them first or pass force=true",
                policies.len()
            )));
        }
        for p in policies {
            self.delete_policy(&p.id)?;
        }
        let group = self.groups.remove(id).ok_or_else(|| StoreError::NotFound {
            kind: "AccessGroup",
            id: id.to_owned(),
        })?;
        for m in &group.members {
            remove_from(&mut self.index.groups_of, &m.iam_id, id);
        }
        Ok(group)
    }

    /// The ids of the groups `iam_id` belongs to.
    pub fn groups_of(&self, iam_id: &str) -> &[String] {
        self.index.groups_of.get(iam_id).map_or(&[], Vec::as_slice)
    }

    // ---------------------------------------------------------------- policies

    /// Adds a policy after checking its roles exist for its account and a group subject
    /// exists in that account.
    pub fn add_policy(&mut self, policy: Policy) -> Result<Policy, StoreError> {
        if self.policies.contains_key(&policy.id) {
            return Err(StoreError::Conflict(format!(
                "policy '{}' exists already",
                policy.id
            )));
        }
        for r in &policy.roles {
            if self.role_info(r, Some(&policy.account_id)).is_none() {
                return Err(StoreError::Invalid(format!(
                    "role '{r}' does not exist for account {}",
                    policy.account_id
                )));
            }
        }
        if let PolicySubject::AccessGroupId(g) = &policy.subject {
            match self.groups.get(g) {
                Some(group) if group.account_id == policy.account_id => {}
                _ => {
                    return Err(StoreError::Invalid(format!(
                        "access group '{g}' does not exist in account {}",
                        policy.account_id
                    )));
                }
            }
        }
        let shared = Arc::new(policy.clone());
        self.index
            .by_subject
            .entry(policy.subject.value().to_owned())
            .or_default()
            .push(shared.clone());
        self.policies.insert(policy.id.clone(), shared);
        Ok(policy)
    }

    /// Deletes a policy.
    pub fn delete_policy(&mut self, id: &str) -> Result<Policy, StoreError> {
        let policy = self
            .policies
            .remove(id)
            .ok_or_else(|| StoreError::NotFound {
                kind: "Policy",
                id: id.to_owned(),
            })?;
        let subject = policy.subject.value();
        if let Some(v) = self.index.by_subject.get_mut(subject) {
            v.retain(|p| p.id != id);
            if v.is_empty() {
                self.index.by_subject.remove(subject);
            }
        }
        Ok(Arc::unwrap_or_clone(policy))
    }

    /// The policies granting to `subject` itself (an IAM id or a group id).
    pub fn policies_of(&self, subject: &str) -> impl Iterator<Item = &Policy> {
        self.index
            .by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .map(|p| &**p)
    }

    /// The policies that apply to `iam_id`: its own and its groups'.
    pub fn policies_for(&self, iam_id: &str) -> impl Iterator<Item = &Policy> {
        self.policies_of(iam_id).chain(
            self.groups_of(iam_id)
                .iter()
                .flat_map(|g| self.policies_of(g)),
        )
    }
}

/// (De)serializes the shared policies as a plain map of policies.
mod shared_policies {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Policy;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Arc<Policy>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, &**v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Arc<Policy>>, D::Error> {
        Ok(BTreeMap::<String, Policy>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::Meta;
    use crate::policy::model::{ApiVersion, AttrCondition, StringOp, StringValue};

    fn meta() -> Meta {
        Meta {
            created_at: 0,
            modified_at: 0,
            created_by: "test".into(),
            version: 1,
        }
    }

    fn books() -> Service {
        Service {
            name: "books".into(),
            display_name: "Books".into(),
            service_type: "service".into(),
            actions: vec![
                ServiceAction {
                    id: "books.book.read".into(),
                    display_name: String::new(),
                    description: String::new(),
                    roles: vec![service_role_crn("Reader"), service_role_crn("Writer")],
                },
                ServiceAction {
                    id: "books.book.create".into(),
                    display_name: String::new(),
                    description: String::new(),
                    roles: vec![service_role_crn("Writer")],
                },
            ],
        }
    }

    fn policy(id: &str, subject: PolicySubject, role: &str) -> Policy {
        Policy {
            id: id.into(),
            api: ApiVersion::V1,
            policy_type: "access".into(),
            account_id: "acct".into(),
            subject,
            roles: vec![role.into()],
            resource: vec![AttrCondition {
                key: "accountId".into(),
                operator: StringOp::StringEquals,
                value: StringValue::One("acct".into()),
            }],
            tags: vec![],
            rule: None,
            pattern: None,
            description: None,
            meta: meta(),
        }
    }

    #[test]
    fn catalog_grants_and_custom_roles() {
        let mut s = PolicyStore::default();
        s.reindex();
        s.add_service(books()).expect("service");
        assert!(s.add_service(books()).is_err(), "duplicate");
        let reader = service_role_crn("Reader");
        assert_eq!(
            s.role_actions(&reader, Some("books")).collect::<Vec<_>>(),
            ["books.book.read"]
        );
        assert_eq!(
            s.role_actions(&service_role_crn("Writer"), None)
                .collect::<Vec<_>>(),
            ["books.book.create", "books.book.read"]
        );
        assert_eq!(
            s.role_actions(&platform_role_crn("Administrator"), Some(GROUPS_SERVICE))
                .count(),
            7
        );
        assert!(s.role_info(&reader, None).is_some());
        assert!(
            s.role_info("crn:v1:bluemix:public:books::::role:Nope", None)
                .is_none()
        );

        let role = CustomRole {
            id: "r1".into(),
            name: "Creator".into(),
            display_name: "Creator".into(),
            description: None,
            account_id: "acct".into(),
            service_name: "books".into(),
            actions: vec!["books.book.create".into()],
            meta: meta(),
        };
        s.add_custom_role(role.clone()).expect("custom");
        assert!(matches!(
            s.add_custom_role(CustomRole {
                id: "r2".into(),
                ..role.clone()
            }),
            Err(StoreError::Conflict(_))
        ));
        assert!(
            s.add_custom_role(CustomRole {
                id: "r3".into(),
                name: "lower".into(),
                ..role.clone()
            })
            .is_err()
        );
        assert!(
            s.add_custom_role(CustomRole {
                id: "r4".into(),
                name: "Other".into(),
                actions: vec!["books.nope".into()],
                ..role.clone()
            })
            .is_err()
        );
        assert_eq!(
            s.role_actions(&role.crn(), Some("books"))
                .collect::<Vec<_>>(),
            ["books.book.create"]
        );
        assert!(s.role_info(&role.crn(), Some("acct")).is_some());
        assert!(s.role_info(&role.crn(), Some("other")).is_none());
    }

    #[test]
    fn indexes_follow_changes_and_survive_serde() {
        let mut s = PolicyStore::default();
        s.reindex();
        s.add_service(books()).expect("service");
        s.add_group(AccessGroup {
            id: "AccessGroupId-1".into(),
            name: "g".into(),
            description: None,
            account_id: "acct".into(),
            members: vec![],
            meta: meta(),
        })
        .expect("group");
        let member = Member {
            iam_id: "IBMid-x".into(),
            member_type: "user".into(),
            added_at: 0,
            added_by: "t".into(),
        };
        s.add_member("AccessGroupId-1", member.clone())
            .expect("member");
        s.add_member("AccessGroupId-1", member).expect("idempotent");
        assert_eq!(s.groups["AccessGroupId-1"].members.len(), 1);
        let reader = service_role_crn("Reader");
        s.add_policy(policy(
            "p1",
            PolicySubject::IamId("IBMid-x".into()),
            &reader,
        ))
        .expect("direct");
        s.add_policy(policy(
            "p2",
            PolicySubject::AccessGroupId("AccessGroupId-1".into()),
            &reader,
        ))
        .expect("group");
        assert!(
            s.add_policy(policy(
                "p3",
                PolicySubject::AccessGroupId("AccessGroupId-missing".into()),
                &reader
            ))
            .is_err()
        );
        assert!(
            s.add_policy(policy(
                "p4",
                PolicySubject::IamId("IBMid-x".into()),
                "crn:v1:bluemix:public:iam::::role:Nope"
            ))
            .is_err()
        );
        assert_eq!(s.policies_for("IBMid-x").count(), 2);

        let json = serde_json::to_string(&s).expect("serialize");
        let mut back: PolicyStore = serde_json::from_str(&json).expect("deserialize");
        back.reindex();
        assert_eq!(back.policies_for("IBMid-x").count(), 2);

        assert!(matches!(
            back.delete_group("AccessGroupId-1", false),
            Err(StoreError::Conflict(_))
        ));
        back.remove_member("AccessGroupId-1", "IBMid-x")
            .expect("remove");
        assert_eq!(back.policies_for("IBMid-x").count(), 1);
        back.delete_group("AccessGroupId-1", true).expect("force");
        assert!(!back.policies.contains_key("p2"));
        back.delete_policy("p1").expect("delete");
        assert_eq!(back.policies_for("IBMid-x").count(), 0);
    }
}
