//! The access-management data model: services with their actions and the roles that grant
//! them, roles (IBM's built-in platform and service roles, service-defined roles, custom
//! roles), access groups, and access policies in the form they are stored.

use serde::{Deserialize, Serialize};

use super::rule::Rule;
use crate::identity::model::Meta;

/// The CRN prefix of IBM's platform roles (`Viewer`, `Operator`, `Editor`, `Administrator`).
pub const PLATFORM_ROLE_PREFIX: &str = "crn:v1:bluemix:public:iam::::role:";
/// The CRN prefix of IBM's generic service roles (`Reader`, `Writer`, `Manager`).
pub const SERVICE_ROLE_PREFIX: &str = "crn:v1:bluemix:public:iam::::serviceRole:";
/// IBM's platform roles, least to most privileged.
pub const PLATFORM_ROLES: [&str; 4] = ["Viewer", "Operator", "Editor", "Administrator"];
/// IBM's generic service roles, least to most privileged.
pub const SERVICE_ROLES: [&str; 3] = ["Reader", "Writer", "Manager"];

/// `serviceType` of IAM-enabled services ("All Identity and Access enabled services").
pub const SERVICE_TYPE_SERVICE: &str = "service";
/// `serviceType` of account-management services ("All Account Management services").
pub const SERVICE_TYPE_PLATFORM: &str = "platform_service";

/// The platform role CRN for a name (`Viewer` → `crn:v1:bluemix:public:iam::::role:Viewer`).
pub fn platform_role_crn(name: &str) -> String {
    format!("{PLATFORM_ROLE_PREFIX}{name}")
}

/// The service role CRN for a name (`Reader` → `crn:v1:bluemix:public:iam::::serviceRole:Reader`).
pub fn service_role_crn(name: &str) -> String {
    format!("{SERVICE_ROLE_PREFIX}{name}")
}

/// Resolves a role reference as written in a seed file: a built-in role's short name
/// (`Reader`, `Viewer`, …) or a full CRN. `None` for anything else.
pub fn resolve_role_name(name: &str) -> Option<String> {
    if name.starts_with("crn:") {
        return Some(name.to_owned());
    }
    if PLATFORM_ROLES.contains(&name) {
        return Some(platform_role_crn(name));
    }
    if SERVICE_ROLES.contains(&name) {
        return Some(service_role_crn(name));
    }
    None
}

/// Which family a role belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// One of IBM's platform roles (`…iam::::role:…`): `system_roles`, and
    /// `platformExtensions.roleActions` in `/v2/authz/roles`.
    Platform,
    /// A generic service role (`…iam::::serviceRole:…`) or a role a service defines itself
    /// (`crn:v1:bluemix:public:<service>::::role:…`): `service_roles`, `roleActions`.
    Service,
    /// An account's custom role (`…::customRole:…`).
    Custom,
}

/// The family of a role CRN.
pub fn role_kind(crn: &str) -> RoleKind {
    if crn.starts_with(PLATFORM_ROLE_PREFIX) {
        RoleKind::Platform
    } else if crn.contains("::customRole:") {
        RoleKind::Custom
    } else {
        RoleKind::Service
    }
}

/// The last segment of a role CRN, used as the display name of roles that have none.
pub fn role_short_name(crn: &str) -> &str {
    crn.rsplit(':').next().unwrap_or(crn)
}

/// The description IAM gives its built-in roles (short versions).
pub fn builtin_role_description(name: &str) -> &'static str {
    match name {
        "Viewer" => "As a viewer, you can view service instances, but you can't modify them.",
        "Operator" => {
            "As an operator, you can perform platform actions required to configure and operate service instances."
        }
        "Editor" => {
            "As an editor, you can perform all platform actions except for managing the account and assigning access policies."
        }
        "Administrator" => {
            "As an administrator, you can perform all platform actions based on the resource this role is being assigned, including assigning access policies to other users."
        }
        "Reader" => "As a reader, you can perform read-only actions within a service.",
        "Writer" => {
            "As a writer, you have permissions beyond the reader role, including creating and editing service-specific resources."
        }
        "Manager" => {
            "As a manager, you have permissions beyond the writer role to complete privileged actions as defined by the service."
        }
        _ => "",
    }
}

/// An IAM-enabled service: the actions it defines and the roles that grant each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Service {
    /// `serviceName` in resources and CRNs (`books`).
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// [`SERVICE_TYPE_SERVICE`] or [`SERVICE_TYPE_PLATFORM`]; what a policy's `serviceType`
    /// attribute matches.
    #[serde(default = "default_service_type")]
    pub service_type: String,
    /// The service's actions.
    pub actions: Vec<ServiceAction>,
}

fn default_service_type() -> String {
    SERVICE_TYPE_SERVICE.into()
}

/// One action of a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceAction {
    /// `<service>.<noun>.<verb>`, e.g. `books.book.read`; unique across services.
    pub id: String,
    /// Display name (the id when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// CRNs of the roles that grant the action.
    pub roles: Vec<String>,
}

/// An account's custom role: a named set of actions of one service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustomRole {
    /// Opaque id (32 hex characters).
    pub id: String,
    /// The name used in the CRN: alphanumeric, starting with a capital letter.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owning account.
    pub account_id: String,
    /// The service whose resources the role is meant for.
    pub service_name: String,
    /// The actions the role grants.
    pub actions: Vec<String>,
    /// Bookkeeping.
    pub meta: Meta,
}

impl CustomRole {
    /// `crn:v1:ibmcloud:public:iam-access-management::a/<account>::customRole:<name>`, the form
    /// IAM's API documents and returns.
    pub fn crn(&self) -> String {
        custom_role_crn(&self.account_id, &self.name)
    }
}

/// The CRN of a custom role.
pub fn custom_role_crn(account_id: &str, name: &str) -> String {
    format!("crn:v1:ibmcloud:public:iam-access-management::a/{account_id}::customRole:{name}")
}

/// A member of an access group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// The member's IAM id.
    pub iam_id: String,
    /// `user`, `service` or `profile`.
    #[serde(rename = "type")]
    pub member_type: String,
    /// When it was added, Unix ms.
    pub added_at: i64,
    /// Who added it.
    pub added_by: String,
}

/// An access group: a subject of policies whose grants apply to every member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessGroup {
    /// `AccessGroupId-<uuid>`.
    pub id: String,
    /// Display name (not unique).
    pub name: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owning account.
    pub account_id: String,
    /// Static members.
    #[serde(default)]
    pub members: Vec<Member>,
    /// Bookkeeping.
    pub meta: Meta,
}

/// How a string attribute of a policy is compared with the request's.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum StringOp {
    /// Equal, case-sensitive.
    StringEquals,
    /// Glob: `*` any run of characters, `?` one character; `{{*}}` and `{{?}}` are literal.
    StringMatch,
    /// `true`: the attribute is present; `false`: it is absent.
    StringExists,
    /// Equal to one of up to 10 values.
    StringEqualsAnyOf,
    /// Glob-matches one of up to 10 patterns.
    StringMatchAnyOf,
}

impl StringOp {
    /// The operator's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            StringOp::StringEquals => "stringEquals",
            StringOp::StringMatch => "stringMatch",
            StringOp::StringExists => "stringExists",
            StringOp::StringEqualsAnyOf => "stringEqualsAnyOf",
            StringOp::StringMatchAnyOf => "stringMatchAnyOf",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "stringEquals" => StringOp::StringEquals,
            "stringMatch" => StringOp::StringMatch,
            "stringExists" => StringOp::StringExists,
            "stringEqualsAnyOf" => StringOp::StringEqualsAnyOf,
            "stringMatchAnyOf" => StringOp::StringMatchAnyOf,
            _ => return None,
        })
    }
}

/// The value side of a string comparison, consistent with its operator.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum StringValue {
    /// For `stringEquals` and `stringMatch`.
    One(String),
    /// For `stringEqualsAnyOf` and `stringMatchAnyOf`.
    Many(Vec<String>),
    /// For `stringExists`.
    Exists(bool),
}

/// One attribute condition of a policy's resource (or tags): `key operator value`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttrCondition {
    /// Attribute name (`accountId`, `serviceName`, …).
    pub key: String,
    /// Comparison.
    pub operator: StringOp,
    /// Operand.
    pub value: StringValue,
}

/// Who a policy is for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum PolicySubject {
    /// A user, service ID or trusted profile (`iam_id`).
    IamId(String),
    /// An access group (`access_group_id`); applies to its members.
    AccessGroupId(String),
}

impl PolicySubject {
    /// The subject attribute's name on the wire.
    pub fn attribute_name(&self) -> &'static str {
        match self {
            PolicySubject::IamId(_) => "iam_id",
            PolicySubject::AccessGroupId(_) => "access_group_id",
        }
    }

    /// The id (an IAM id or an access group id), the key of the subject index.
    pub fn value(&self) -> &str {
        match self {
            PolicySubject::IamId(v) | PolicySubject::AccessGroupId(v) => v,
        }
    }
}

/// Which API shape a policy was created in (and is shown in by `GET /v1/policies`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// `/v1/policies`.
    V1,
    /// `/v2/policies`.
    V2,
}

/// An access policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Policy {
    /// A UUID.
    pub id: String,
    /// The API it was created through.
    pub api: ApiVersion,
    /// Always `access` (authorization policies are not emulated).
    #[serde(rename = "type")]
    pub policy_type: String,
    /// The account: the value of the resource's `accountId` attribute.
    pub account_id: String,
    /// Who it grants to.
    pub subject: PolicySubject,
    /// Role CRNs it grants.
    pub roles: Vec<String>,
    /// Resource attribute conditions; all must hold.
    pub resource: Vec<AttrCondition>,
    /// Resource tag conditions (stored and shown; a policy with tags never matches, since
    /// PDP requests carry no tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<AttrCondition>,
    /// v2 rule (time-based or resource-attribute conditions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// v2 pattern of the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Bookkeeping.
    pub meta: Meta,
}

impl Policy {
    /// The resource condition on `key`, if the policy has one.
    pub fn resource_condition(&self, key: &str) -> Option<&AttrCondition> {
        self.resource.iter().find(|c| c.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_and_kinds() {
        assert_eq!(
            resolve_role_name("Reader").as_deref(),
            Some("crn:v1:bluemix:public:iam::::serviceRole:Reader")
        );
        assert_eq!(
            resolve_role_name("Viewer").as_deref(),
            Some("crn:v1:bluemix:public:iam::::role:Viewer")
        );
        assert!(resolve_role_name("Librarian").is_none());
        assert_eq!(role_kind(&platform_role_crn("Editor")), RoleKind::Platform);
        assert_eq!(role_kind(&service_role_crn("Writer")), RoleKind::Service);
        assert_eq!(
            role_kind("crn:v1:bluemix:public:cloud-object-storage::::role:ListFolder"),
            RoleKind::Service
        );
        assert_eq!(
            role_kind(&custom_role_crn("acct", "Auditor")),
            RoleKind::Custom
        );
        assert_eq!(
            role_short_name(&custom_role_crn("acct", "Auditor")),
            "Auditor"
        );
    }
}
