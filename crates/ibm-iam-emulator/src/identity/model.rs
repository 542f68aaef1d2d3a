//! The identities the emulator knows: accounts, users, service IDs, trusted profiles and
//! API keys, in the form they are stored.

use serde::{Deserialize, Serialize};

/// An IBM Cloud account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    /// 32 hex characters, as `account.bss` in tokens.
    pub id: String,
    /// A display name.
    #[serde(default)]
    pub name: String,
    /// The account owner's IAM id, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_iam_id: Option<String>,
}

/// A user (an IBMid).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// `IBMid-…`.
    pub iam_id: String,
    /// The account the user's tokens are scoped to.
    pub account_id: String,
    /// E-mail address; the token's `sub`.
    pub email: String,
    /// Given name.
    #[serde(default)]
    pub given_name: String,
    /// Family name.
    #[serde(default)]
    pub family_name: String,
    /// SHA-256 of the password for the password grant, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_digest: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("iam_id", &self.iam_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// Common bookkeeping of management-API objects.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// Creation time, Unix milliseconds on the emulator clock.
    pub created_at: i64,
    /// Last modification time, Unix milliseconds.
    pub modified_at: i64,
    /// Who created it (an IAM id, or `emulator` for seeded objects).
    pub created_by: String,
    /// Incremented on every change; `entity_tag` is `"<version>-<id digest>"`.
    pub version: u64,
}

/// A service ID.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceId {
    /// `ServiceId-<uuid>`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owning account.
    pub account_id: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Service instances whose CRNs this ID is bound to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_instance_crns: Vec<String>,
    /// Locked against changes.
    #[serde(default)]
    pub locked: bool,
    /// Bookkeeping.
    pub meta: Meta,
}

impl ServiceId {
    /// `iam-ServiceId-<uuid>`.
    pub fn iam_id(&self) -> String {
        format!("iam-{}", self.id)
    }
}

/// A condition of a trusted-profile claim rule: `claim <operator> value`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleCondition {
    /// The compute-resource token claim to test.
    pub claim: String,
    /// `EQUALS`, `NOT_EQUALS`, `EQUALS_IGNORE_CASE`, `NOT_EQUALS_IGNORE_CASE`, `CONTAINS`, `IN`.
    pub operator: String,
    /// The value; IAM's API sends it JSON-encoded (`"\"default\""`), a plain string works too.
    pub value: String,
}

/// A trusted-profile claim rule: compute resources whose token satisfies every condition may
/// assume the profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileRule {
    /// `ClaimRule-<uuid>`.
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `Profile-CR` for compute resources (`Profile-SAML` rules are stored but never match).
    #[serde(rename = "type")]
    pub rule_type: String,
    /// `IKS_SA`, `ROKS_SA`, `VSI`, `CE`, …; when set, the CR token's `cr_type` claim must equal it
    /// if that claim is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cr_type: Option<String>,
    /// All must hold.
    #[serde(default)]
    pub conditions: Vec<RuleCondition>,
    /// Lifetime of tokens minted through this rule, seconds (IAM's default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<i64>,
}

/// An identity trusted to assume a profile (the `assume` grant).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileIdentity {
    /// The trusted identity's IAM id.
    pub iam_id: String,
    /// `user`, `serviceid` or `crn`.
    #[serde(rename = "type", default = "default_identity_type")]
    pub identity_type: String,
}

fn default_identity_type() -> String {
    "user".into()
}

/// A trusted profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// `Profile-<uuid>`.
    pub id: String,
    /// Display name, unique in its account (used by `profile_name`).
    pub name: String,
    /// Owning account.
    pub account_id: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Compute-resource trust rules.
    #[serde(default)]
    pub rules: Vec<ProfileRule>,
    /// Identities that may assume the profile.
    #[serde(default)]
    pub identities: Vec<ProfileIdentity>,
    /// Bookkeeping.
    pub meta: Meta,
}

impl Profile {
    /// `iam-Profile-<uuid>`.
    pub fn iam_id(&self) -> String {
        format!("iam-{}", self.id)
    }

    /// `crn:v1:bluemix:public:iam-identity::a/<account>::profile:<id>`.
    pub fn crn(&self) -> String {
        format!(
            "crn:v1:bluemix:public:iam-identity::a/{}::profile:{}",
            self.account_id, self.id
        )
    }
}

/// A CRN identity: a resource (a service instance, a resource broker, …) that acts in its own
/// name, with access tokens whose `iam_id` is `crn-<CRN>` (wire reference §2.2). Such tokens
/// come from the `iam-authz` grant, which an identity listed in `delegates` calls with its own
/// access token.
///
/// Real IAM lets identities holding the `Delegate` role
/// (`crn:v1:bluemix:public:iam-identity-platform::::role:Delegate`) mint these tokens; the
/// emulator has no such role and stands it in with the `delegates` list (INFERRED model).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CrnIdentity {
    /// The resource's CRN.
    pub crn: String,
    /// The account of its tokens (`account.bss`): the CRN's `a/<account>` scope.
    pub account_id: String,
    /// IAM ids that may obtain this identity's tokens through the `iam-authz` grant.
    #[serde(default)]
    pub delegates: Vec<String>,
}

impl CrnIdentity {
    /// `crn-<CRN>`.
    pub fn iam_id(&self) -> String {
        format!("crn-{}", self.crn)
    }

    /// The CRN's service-name segment (`resource-controller` in
    /// `crn:v1:bluemix:public:resource-controller::a/…::resource-broker:…`).
    pub fn service_name(&self) -> &str {
        self.crn.split(':').nth(4).unwrap_or_default()
    }
}

/// An API key. The value itself is kept only as a digest unless `store_value` was asked for.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiKey {
    /// `ApiKey-<uuid>`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The owner's IAM id (a user or a service ID).
    pub iam_id: String,
    /// The owner's account.
    pub account_id: String,
    /// SHA-256 of the value.
    pub digest: String,
    /// The value, only when created with `store_value: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_value: Option<String>,
    /// Locked against changes.
    #[serde(default)]
    pub locked: bool,
    /// Disabled keys cannot log in.
    #[serde(default)]
    pub disabled: bool,
    /// `none`, `disable` or `delete`.
    #[serde(default = "default_leaked")]
    pub action_when_leaked: String,
    /// Expiry, Unix milliseconds, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Bookkeeping.
    pub meta: Meta,
}

fn default_leaked() -> String {
    "none".into()
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("iam_id", &self.iam_id)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// `crn:v1:bluemix:public:iam-identity::a/<account>::apikey:<id>` (by analogy with service IDs).
    pub fn crn(&self) -> String {
        format!(
            "crn:v1:bluemix:public:iam-identity::a/{}::apikey:{}",
            self.account_id, self.id
        )
    }
}

impl ServiceId {
    /// `crn:v1:bluemix:public:iam-identity::a/<account>::serviceid:<id>`.
    pub fn crn(&self) -> String {
        format!(
            "crn:v1:bluemix:public:iam-identity::a/{}::serviceid:{}",
            self.account_id, self.id
        )
    }
}

/// Formats an entity tag as IAM does: `<version>-<opaque>`.
pub fn entity_tag(meta: &Meta, id: &str) -> String {
    let digest = crate::ids::secret_digest(id);
    format!("{}-{}", meta.version, &digest[..24])
}
