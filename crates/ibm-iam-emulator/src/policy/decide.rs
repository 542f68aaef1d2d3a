//! The decision rule of the emulator's Policy Decision Point.
//!
//! IAM does not publish its PDP's algorithm. The wire reference (§5.6) records the model
//! below as **INFERRED** from IBM's documentation ("no deny policies … the system just
//! evaluates what resources you have policies for and what level of access is allowed by your
//! assigned roles") and from the obligations IAM's own PEP library consumes. The emulator
//! implements exactly this:
//!
//! 1. **Scope.** A subject whose token `scope` lacks `ibm` may act only on services named in
//!    its scope (`"openid books"` → `books` only); anything else is denied. A subject given
//!    without a scope is treated as having IAM's default `ibm openid`.
//! 2. **Candidates.** The active policies whose subject is the subject's IAM id, or an access
//!    group the subject is a member of, in the account named by the resource's `accountId`
//!    (policies are looked up through an index by subject, so the cost does not grow with
//!    the number of policies in the account).
//! 3. **Match.** A policy matches when every one of its resource attributes holds for the
//!    request: `stringEquals`, `stringMatch` (`*`, `?`), `stringExists`, and the `AnyOf`
//!    forms. Attributes the policy does not name are wildcards; an attribute the policy names
//!    but the request lacks fails (except `stringExists: false`). `serviceType` compares with
//!    the request's `serviceType` or, absent that, the type of the service named by
//!    `serviceName` (`service` for IAM-enabled services, `platform_service` for account
//!    management). A v2 `rule` must hold at the emulator clock's current time. A policy with
//!    tag conditions never matches (requests carry no tags: fail closed).
//! 4. **Grant.** The subject holds the union of the roles of all matching policies; a role
//!    grants the actions that the resource's service maps to it (all services' actions when
//!    the resource names no service). **Permitted iff the action is in that union.** There
//!    are no deny policies.
//!
//! The decision's obligation carries that union (`obligation.actions`: every action the
//! subject may perform at the matched scope), the subject's `{id, scope}`, and the broadest
//! resource scope for which *all* those actions hold: the request's values of the
//! `serviceName`, `accountId`, `serviceInstance`, `resourceType`, `resource` hierarchy down
//! to the deepest level any matching policy constrains (any other constraint, such as
//! `region`, `resourceGroupId` or a resource-attribute rule, narrows it to the request's full
//! attributes). `maxCacheAgeSeconds` is 600, or less when a time condition of a matching
//! policy can change its verdict sooner.

use super::attrs::{self, Attrs};
use super::model::{AttrCondition, Policy, PolicySubject, SERVICE_TYPE_SERVICE};
use super::request::Subject;
use super::rule::{Env, Rule, Test};
use super::store::PolicyStore;

/// How long PEPs may cache a permit (IAM's value in its PEP's mocks and defaults).
pub const MAX_CACHE_AGE_SECONDS: i64 = 600;

/// The resource attributes IAM's `cacheKeyPattern` builds keys from, broadest first.
pub const HIERARCHY: [&str; 5] = [
    "serviceName",
    "accountId",
    "serviceInstance",
    "resourceType",
    "resource",
];

/// Deny reason: the token's scope excludes the resource's service.
pub const REASON_SCOPE: &str = "The token scope does not include the resource's service";
/// Deny reason: no policy grants the action.
pub const REASON_NO_POLICY: &str = "No policy grants the action on the resource";
/// Deny reason: the resource names no account, so no policy can apply.
pub const REASON_NO_ACCOUNT: &str = "The resource has no accountId";

/// One decision question.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Who.
    pub subject: &'a Subject,
    /// The action asked about (`None` for a roles query).
    pub action: Option<&'a str>,
    /// Resource attributes.
    pub resource: &'a Attrs,
    /// Environment attributes.
    pub environment: &'a Attrs,
    /// The current time, Unix seconds.
    pub now: i64,
}

/// The answer. It borrows from the store and the query, so deciding allocates little.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Whether the action is permitted.
    pub permitted: bool,
    /// Empty for permits; why, for denies.
    pub reason: &'static str,
    /// Every action the subject holds on the resource (sorted).
    pub actions: Vec<&'a str>,
    /// The roles the subject holds on the resource (CRNs, in policy order).
    pub roles: Vec<&'a str>,
    /// Ids of the matching policies.
    pub policies: Vec<&'a str>,
    /// The resource scope the actions hold for (the obligation's resource attributes), as
    /// (name, value) pairs.
    pub scope: Vec<(&'a str, &'a str)>,
    /// How long the permit may be cached, seconds.
    pub max_cache_age: i64,
}

impl Decision<'_> {
    fn deny(reason: &'static str) -> Self {
        Self {
            permitted: false,
            reason,
            actions: Vec::new(),
            roles: Vec::new(),
            policies: Vec::new(),
            scope: Vec::new(),
            max_cache_age: MAX_CACHE_AGE_SECONDS,
        }
    }
}

/// Whether a token scope allows acting on `service`.
pub fn scope_allows(scope: Option<&str>, service: Option<&str>) -> bool {
    let Some(scope) = scope else {
        return true;
    };
    let mut tokens = scope.split_whitespace();
    if tokens.clone().any(|t| t == "ibm") {
        return true;
    }
    service.is_some_and(|s| tokens.any(|t| t == s))
}

fn condition_holds(c: &AttrCondition, resource: &Attrs, service_type: Option<&str>) -> bool {
    let actual = match (c.key.as_str(), resource.get(&c.key)) {
        (_, Some(v)) => Some(v.as_str()),
        ("serviceType", None) => service_type,
        _ => None,
    };
    attrs::string_test(c.operator, &c.value, actual)
}

/// Whether a policy's resource conditions, tags and rule hold for a request.
pub fn policy_matches(
    policy: &Policy,
    resource: &Attrs,
    service_type: Option<&str>,
    env: &Env<'_>,
) -> bool {
    policy.tags.is_empty()
        && policy
            .resource
            .iter()
            .all(|c| condition_holds(c, resource, service_type))
        && policy.rule.as_ref().is_none_or(|r| r.holds(env))
}

fn rule_narrows_resource(rule: &Rule) -> bool {
    match rule {
        Rule::All(rs) | Rule::Any(rs) => rs.iter().any(rule_narrows_resource),
        Rule::Condition { test, .. } => matches!(test, Test::Str { resource: true, .. }),
    }
}

/// How deep into [`HIERARCHY`] a policy constrains the resource; `None` when it constrains
/// something outside it (the obligation must then be the exact resource).
fn policy_depth(policy: &Policy) -> Option<usize> {
    if policy.rule.as_ref().is_some_and(rule_narrows_resource) {
        return None;
    }
    let mut depth = 0;
    for c in &policy.resource {
        let level = match c.key.as_str() {
            "serviceType" => 0,
            key => HIERARCHY.iter().position(|h| *h == key)?,
        };
        depth = depth.max(level);
    }
    Some(depth)
}

/// Decides with the subject index: the emulator's PDP.
pub fn decide<'a>(store: &'a PolicyStore, q: &Query<'a>) -> Decision<'a> {
    decide_over(store, q, store.policies_for(&q.subject.id))
}

/// Decides by scanning every policy in the store: the same rule without the index. Kept as
/// the reference the index is tested against, and as the baseline of the benchmark.
pub fn decide_by_scan<'a>(store: &'a PolicyStore, q: &Query<'a>) -> Decision<'a> {
    let groups = store.groups_of(&q.subject.id);
    decide_over(
        store,
        q,
        store
            .policies
            .values()
            .map(|p| &**p)
            .filter(|p| match &p.subject {
                PolicySubject::IamId(id) => *id == q.subject.id,
                PolicySubject::AccessGroupId(g) => groups.iter().any(|x| x == g),
            }),
    )
}

fn decide_over<'a>(
    store: &'a PolicyStore,
    q: &Query<'a>,
    candidates: impl Iterator<Item = &'a Policy>,
) -> Decision<'a> {
    let service = q.resource.get("serviceName").map(String::as_str);
    if !scope_allows(q.subject.scope.as_deref(), service) {
        return Decision::deny(REASON_SCOPE);
    }
    let Some(account) = q.resource.get("accountId") else {
        return Decision::deny(REASON_NO_ACCOUNT);
    };
    let service_type = q
        .resource
        .get("serviceType")
        .map(String::as_str)
        .or_else(|| service.map(|s| store.service_type(s).unwrap_or(SERVICE_TYPE_SERVICE)));
    let env = Env {
        now: q.now,
        resource: q.resource,
        environment: q.environment,
    };
    let mut roles: Vec<&'a str> = Vec::new();
    let mut policies = Vec::new();
    let mut depth = Some(0usize);
    let mut max_age = MAX_CACHE_AGE_SECONDS;
    for p in candidates {
        if p.account_id != *account || !policy_matches(p, q.resource, service_type, &env) {
            continue;
        }
        policies.push(p.id.as_str());
        for r in &p.roles {
            if !roles.contains(&r.as_str()) {
                roles.push(r);
            }
        }
        depth = match (depth, policy_depth(p)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        if let Some(secs) = p.rule.as_ref().and_then(|r| r.seconds_until_change(q.now)) {
            max_age = max_age.min(secs.max(1));
        }
    }
    let mut actions: Vec<&'a str> = roles
        .iter()
        .flat_map(|r| store.role_actions(r, service))
        .collect();
    actions.sort_unstable();
    actions.dedup();
    let permitted = q.action.is_some_and(|a| actions.binary_search(&a).is_ok());
    let scope = match depth {
        Some(d) => HIERARCHY[..=d]
            .iter()
            .filter_map(|k| q.resource.get_key_value(*k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        None => q
            .resource
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
    };
    Decision {
        permitted,
        reason: if permitted { "" } else { REASON_NO_POLICY },
        actions,
        roles,
        policies,
        scope,
        max_cache_age: max_age,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::Meta;
    use crate::policy::model::{
        AccessGroup, ApiVersion, Member, Service, ServiceAction, StringOp, StringValue,
        platform_role_crn, service_role_crn,
    };
    use crate::policy::rule::Rule;
    use serde_json::json;

    fn meta() -> Meta {
        Meta {
            created_at: 0,
            modified_at: 0,
            created_by: "t".into(),
            version: 1,
        }
    }

    fn cond(key: &str, op: StringOp, v: &str) -> AttrCondition {
        AttrCondition {
            key: key.into(),
            operator: op,
            value: StringValue::One(v.into()),
        }
    }

    fn store() -> PolicyStore {
        let mut s = PolicyStore::default();
        s.reindex();
        let action = |id: &str, roles: &[&str]| ServiceAction {
            id: id.into(),
            display_name: String::new(),
            description: String::new(),
            roles: roles
                .iter()
                .map(|r| crate::policy::model::resolve_role_name(r).expect("role"))
                .collect(),
        };
        s.add_service(Service {
            name: "books".into(),
            display_name: String::new(),
            service_type: "service".into(),
            actions: vec![
                action(
                    "books.dashboard.view",
                    &["Reader", "Writer", "Manager", "Viewer"],
                ),
                action("books.book.read", &["Reader", "Writer", "Manager"]),
                action("books.book.create", &["Writer", "Manager"]),
                action("books.book.delete", &["Manager"]),
            ],
        })
        .expect("service");
        s.add_service(Service {
            name: "films".into(),
            display_name: String::new(),
            service_type: "service".into(),
            actions: vec![action("films.film.read", &["Reader"])],
        })
        .expect("service");
        s
    }

    fn add(
        s: &mut PolicyStore,
        id: &str,
        subject: PolicySubject,
        role: &str,
        resource: Vec<AttrCondition>,
        rule: Option<Rule>,
    ) {
        s.add_policy(Policy {
            id: id.into(),
            api: ApiVersion::V2,
            policy_type: "access".into(),
            account_id: "acct".into(),
            subject,
            roles: vec![role.into()],
            resource,
            tags: vec![],
            rule,
            pattern: None,
            description: None,
            meta: meta(),
        })
        .expect("policy");
    }

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The owned parts of a decision, for assertions.
    #[derive(Debug)]
    struct Answer {
        permitted: bool,
        reason: &'static str,
        actions: Vec<String>,
        policies: Vec<String>,
        scope: Attrs,
        max_cache_age: i64,
    }

    fn ask(
        s: &PolicyStore,
        id: &str,
        scope: Option<&str>,
        action: &str,
        res: &Attrs,
        now: i64,
    ) -> Answer {
        let subject = Subject {
            id: id.into(),
            scope: scope.map(str::to_owned),
        };
        let env = Attrs::new();
        let q = Query {
            subject: &subject,
            action: Some(action),
            resource: res,
            environment: &env,
            now,
        };
        let d = decide(s, &q);
        assert_eq!(d, decide_by_scan(s, &q), "index and scan agree");
        Answer {
            permitted: d.permitted,
            reason: d.reason,
            actions: d.actions.iter().map(|a| (*a).to_owned()).collect(),
            policies: d.policies.iter().map(|a| (*a).to_owned()).collect(),
            scope: d
                .scope
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            max_cache_age: d.max_cache_age,
        }
    }

    const ALICE: &str = "IBMid-alice";

    #[test]
    fn union_of_roles_scope_and_obligation() {
        let mut s = store();
        let base = vec![
            cond("accountId", StringOp::StringEquals, "acct"),
            cond("serviceName", StringOp::StringEquals, "books"),
        ];
        add(
            &mut s,
            "p1",
            PolicySubject::IamId(ALICE.into()),
            &service_role_crn("Reader"),
            base.clone(),
            None,
        );
        let mut inst = base.clone();
        inst.push(cond("serviceInstance", StringOp::StringEquals, "i1"));
        add(
            &mut s,
            "p2",
            PolicySubject::IamId(ALICE.into()),
            &service_role_crn("Manager"),
            inst,
            None,
        );

        let on_i2 = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "books"),
            ("serviceInstance", "i2"),
        ]);
        let d = ask(&s, ALICE, Some("ibm openid"), "books.book.read", &on_i2, 0);
        assert!(d.permitted);
        assert_eq!(d.reason, "");
        assert_eq!(d.actions, ["books.book.read", "books.dashboard.view"]);
        assert_eq!(
            d.scope,
            attrs(&[("accountId", "acct"), ("serviceName", "books")])
        );
        assert_eq!(d.max_cache_age, 600);
        assert!(!ask(&s, ALICE, None, "books.book.delete", &on_i2, 0).permitted);

        let on_i1 = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "books"),
            ("serviceInstance", "i1"),
            ("resourceType", "book"),
        ]);
        let d = ask(&s, ALICE, None, "books.book.delete", &on_i1, 0);
        assert!(d.permitted);
        assert_eq!(d.actions.len(), 4);
        assert_eq!(d.policies, ["p1", "p2"]);
        assert_eq!(
            d.scope,
            attrs(&[
                ("accountId", "acct"),
                ("serviceName", "books"),
                ("serviceInstance", "i1")
            ]),
            "narrowed to the deepest level a matching policy constrains"
        );

        // Another account, another service, another subject: denied.
        let other = attrs(&[("accountId", "other"), ("serviceName", "books")]);
        assert_eq!(
            ask(&s, ALICE, None, "books.book.read", &other, 0).reason,
            REASON_NO_POLICY
        );
        let films = attrs(&[("accountId", "acct"), ("serviceName", "films")]);
        assert!(!ask(&s, ALICE, None, "films.film.read", &films, 0).permitted);
        assert!(!ask(&s, "IBMid-bob", None, "books.book.read", &on_i1, 0).permitted);
        // An action of another service is not granted on a books resource.
        assert!(!ask(&s, ALICE, None, "films.film.read", &on_i1, 0).permitted);
        // No accountId: nothing can apply.
        let no_account = attrs(&[("serviceName", "books")]);
        assert_eq!(
            ask(&s, ALICE, None, "books.book.read", &no_account, 0).reason,
            REASON_NO_ACCOUNT
        );
    }

    #[test]
    fn token_scope_restricts_to_named_services() {
        let mut s = store();
        add(
            &mut s,
            "p1",
            PolicySubject::IamId(ALICE.into()),
            &service_role_crn("Reader"),
            vec![
                cond("accountId", StringOp::StringEquals, "acct"),
                cond("serviceType", StringOp::StringEquals, "service"),
            ],
            None,
        );
        let books = attrs(&[("accountId", "acct"), ("serviceName", "books")]);
        let films = attrs(&[("accountId", "acct"), ("serviceName", "films")]);
        assert!(ask(&s, ALICE, Some("ibm openid"), "books.book.read", &books, 0).permitted);
        assert!(
            ask(
                &s,
                ALICE,
                Some("openid books"),
                "books.book.read",
                &books,
                0
            )
            .permitted
        );
        let d = ask(
            &s,
            ALICE,
            Some("openid books"),
            "films.film.read",
            &films,
            0,
        );
        assert_eq!((d.permitted, d.reason), (false, REASON_SCOPE));
        assert!(d.actions.is_empty());
        assert!(
            ask(
                &s,
                ALICE,
                Some("openid films"),
                "films.film.read",
                &films,
                0
            )
            .permitted
        );
        // serviceType=service does not cover account management.
        let iam = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "iam-access-management"),
        ]);
        assert!(!ask(&s, ALICE, None, "iam.policy.read", &iam, 0).permitted);
    }

    #[test]
    fn groups_wildcards_and_exact_scopes() {
        let mut s = store();
        s.add_group(AccessGroup {
            id: "AccessGroupId-g".into(),
            name: "g".into(),
            description: None,
            account_id: "acct".into(),
            members: vec![Member {
                iam_id: ALICE.into(),
                member_type: "user".into(),
                added_at: 0,
                added_by: "t".into(),
            }],
            meta: meta(),
        })
        .expect("group");
        add(
            &mut s,
            "pg",
            PolicySubject::AccessGroupId("AccessGroupId-g".into()),
            &service_role_crn("Writer"),
            vec![
                cond("accountId", StringOp::StringEquals, "acct"),
                cond("serviceName", StringOp::StringEquals, "books"),
                cond("serviceInstance", StringOp::StringMatch, "prod-*"),
                cond("region", StringOp::StringEquals, "eu-de"),
            ],
            None,
        );
        let prod = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "books"),
            ("serviceInstance", "prod-7"),
            ("region", "eu-de"),
        ]);
        let d = ask(&s, ALICE, None, "books.book.create", &prod, 0);
        assert!(d.permitted);
        assert_eq!(
            d.scope, prod,
            "a region constraint narrows the obligation to the exact resource"
        );
        let dev = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "books"),
            ("serviceInstance", "dev-7"),
            ("region", "eu-de"),
        ]);
        assert!(!ask(&s, ALICE, None, "books.book.create", &dev, 0).permitted);
        let no_region = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "books"),
            ("serviceInstance", "prod-7"),
        ]);
        assert!(!ask(&s, ALICE, None, "books.book.create", &no_region, 0).permitted);
        s.remove_member("AccessGroupId-g", ALICE).expect("remove");
        assert!(!ask(&s, ALICE, None, "books.book.create", &prod, 0).permitted);
    }

    #[test]
    fn time_conditions_and_cache_age() {
        let mut s = store();
        let rule = Rule::parse(&json!({"operator": "and", "conditions": [
            {"key": "{{environment.attributes.current_date_time}}", "operator": "dateTimeGreaterThanOrEquals", "value": "2023-01-02T00:00:00Z"},
            {"key": "{{environment.attributes.current_date_time}}", "operator": "dateTimeLessThanOrEquals", "value": "2023-01-02T01:00:00Z"}]}))
        .expect("rule");
        add(
            &mut s,
            "pt",
            PolicySubject::IamId(ALICE.into()),
            &platform_role_crn("Viewer"),
            vec![
                cond("accountId", StringOp::StringEquals, "acct"),
                cond("serviceName", StringOp::StringEquals, "books"),
            ],
            Some(rule),
        );
        let books = attrs(&[("accountId", "acct"), ("serviceName", "books")]);
        let start = 1_672_617_600;
        assert!(!ask(&s, ALICE, None, "books.dashboard.view", &books, start - 1).permitted);
        let d = ask(&s, ALICE, None, "books.dashboard.view", &books, start);
        assert!(d.permitted);
        assert_eq!(d.max_cache_age, 600);
        let d = ask(
            &s,
            ALICE,
            None,
            "books.dashboard.view",
            &books,
            start + 3600 - 100,
        );
        assert_eq!(
            d.max_cache_age, 101,
            "cached no longer than the window lasts"
        );
        assert!(
            !ask(
                &s,
                ALICE,
                None,
                "books.dashboard.view",
                &books,
                start + 3601
            )
            .permitted
        );
    }

    #[test]
    fn tagged_policies_never_match() {
        let mut s = store();
        s.add_policy(Policy {
            id: "tagged".into(),
            api: ApiVersion::V1,
            policy_type: "access".into(),
            account_id: "acct".into(),
            subject: PolicySubject::IamId(ALICE.into()),
            roles: vec![service_role_crn("Reader")],
            resource: vec![cond("accountId", StringOp::StringEquals, "acct")],
            tags: vec![cond("project", StringOp::StringEquals, "x")],
            rule: None,
            pattern: None,
            description: None,
            meta: meta(),
        })
        .expect("policy");
        let books = attrs(&[
            ("accountId", "acct"),
            ("serviceName", "books"),
            ("project", "x"),
        ]);
        assert!(!ask(&s, ALICE, None, "books.book.read", &books, 0).permitted);
    }
}
