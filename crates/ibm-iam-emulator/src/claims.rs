//! The claims of the access tokens the emulator issues, per identity type, shaped like the
//! real IAM tokens recorded in the wire reference (§2.2).

use serde_json::{Map, Value, json};

use crate::identity::model::{CrnIdentity, Profile, ServiceId, User};
use crate::ids;

/// The grant type URNs, as they appear in the `grant_type` claim.
pub mod grant {
    /// API key.
    pub const APIKEY: &str = "urn:ibm:params:oauth:grant-type:apikey";
    /// Refresh token.
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// Password.
    pub const PASSWORD: &str = "password";
    /// Compute-resource token for a trusted profile.
    pub const CR_TOKEN: &str = "urn:ibm:params:oauth:grant-type:cr-token";
    /// Assume a trusted profile.
    pub const ASSUME: &str = "urn:ibm:params:oauth:grant-type:assume";
    /// A token for a CRN identity, obtained by a delegate with its own access token.
    pub const IAM_AUTHZ: &str = "urn:ibm:params:oauth:grant-type:iam-authz";
}

/// Who the token is for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A user.
    User(&'a User),
    /// A service ID.
    ServiceId(&'a ServiceId),
    /// A trusted profile; `authn` is the claims object of whoever authenticated (the assuming
    /// identity, or the compute resource).
    Profile(&'a Profile, &'a Value),
    /// A CRN identity (the `iam-authz` grant).
    Crn(&'a CrnIdentity),
}

/// The parts of a token that do not depend on the identity.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// The grant's URN or name.
    pub grant_type: &'a str,
    /// Space-separated scope.
    pub scope: &'a str,
    /// `default` without a Basic client header, else the client id.
    pub client_id: &'a str,
    /// `iat`.
    pub iat: i64,
    /// `exp`.
    pub exp: i64,
}

/// The `authn` object naming an identity, for profile tokens and for the identity's own token.
pub fn authn_of_user(user: &User) -> Value {
    json!({
        "sub": user.email,
        "iam_id": user.iam_id,
        "name": full_name(user),
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
    })
}

/// The `authn` object of a service ID.
pub fn authn_of_service_id(sid: &ServiceId) -> Value {
    json!({ "sub": sid.id, "iam_id": sid.iam_id(), "sub_type": "ServiceId", "name": sid.name })
}

/// The `authn` object of a CRN identity: `{sub, iam_id, sub_type: "CRN"}` (§2.2).
pub fn authn_of_crn(ident: &CrnIdentity) -> Value {
    json!({ "sub": ident.crn, "iam_id": ident.iam_id(), "sub_type": "CRN" })
}

fn full_name(user: &User) -> String {
    match (user.given_name.is_empty(), user.family_name.is_empty()) {
        (false, false) => format!("{} {}", user.given_name, user.family_name),
        (false, true) => user.given_name.clone(),
        (true, false) => user.family_name.clone(),
        (true, true) => user.email.clone(),
    }
}

/// Builds the claims of an access token: those of the real tokens of §2.2.
///
/// User, service-ID and profile tokens carry `acr: 1, amr: ["pwd"]`; CRN-identity tokens
/// `acr: 0, amr: []`, as in IAM's documented `iam-authz` example.
pub fn access_token(subject: Subject<'_>, issue: &Issue<'_>) -> Value {
    let mut c = Map::with_capacity(20);
    let mut put = |k: &str, v: Value| {
        c.insert(k.to_owned(), v);
    };
    let account = |bss: &str| json!({ "valid": true, "bss": bss, "frozen": true });
    match subject {
        Subject::User(u) => {
            let identifier = u.iam_id.strip_prefix("IBMid-").unwrap_or(&u.iam_id);
            put("iam_id", json!(u.iam_id));
            put("id", json!(u.iam_id));
            put("realmid", json!("IBMid"));
            put("jti", json!(ids::uuid()));
            put("identifier", json!(identifier));
            put("given_name", json!(u.given_name));
            put("family_name", json!(u.family_name));
            put("name", json!(full_name(u)));
            put("email", json!(u.email));
            put("sub", json!(u.email));
            put("authn", authn_of_user(u));
            put("account", account(&u.account_id));
        }
        Subject::ServiceId(s) => {
            put("iam_id", json!(s.iam_id()));
            put("id", json!(s.iam_id()));
            put("realmid", json!("iam"));
            put("jti", json!(ids::uuid()));
            put("identifier", json!(s.id));
            put("name", json!(s.name));
            put("sub", json!(s.id));
            put("sub_type", json!("ServiceId"));
            if !s.unique_instance_crns.is_empty() {
                put("unique_instance_crns", json!(s.unique_instance_crns));
            }
            put("authn", authn_of_service_id(s));
            put("account", account(&s.account_id));
        }
        Subject::Profile(p, authn) => {
            put("iam_id", json!(p.iam_id()));
            put("id", json!(p.iam_id()));
            put("realmid", json!("iam"));
            put("jti", json!(ids::uuid()));
            put("identifier", json!(p.id));
            put("name", json!(p.name));
            put("sub", json!(p.id));
            put("sub_type", json!("Profile"));
            put("authn", authn.clone());
            put("account", account(&p.account_id));
        }
        Subject::Crn(ident) => {
            put("iam_id", json!(ident.iam_id()));
            put("id", json!(ident.iam_id()));
            put("realmid", json!("crn"));
            put("jti", json!(ids::uuid()));
            put("identifier", json!(ident.crn));
            put("sub", json!(ident.crn));
            put("sub_type", json!("CRN"));
            put("authn", authn_of_crn(ident));
            put("account", account(&ident.account_id));
        }
    }
    put("iat", json!(issue.iat));
    put("exp", json!(issue.exp));
    put("iss", json!(issue.issuer));
    put("grant_type", json!(issue.grant_type));
    put("scope", json!(issue.scope));
    put("client_id", json!(issue.client_id));
    if matches!(subject, Subject::Crn(_)) {
        put("acr", json!(0));
        put("amr", json!([]));
    } else {
        put("acr", json!(1));
        put("amr", json!(["pwd"]));
    }
    Value::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::Meta;

    #[test]
    fn service_id_token_has_the_documented_shape() {
        let sid = ServiceId {
            id: "ServiceId-c1e45eff".into(),
            name: "My Service ID".into(),
            account_id: "f71446b6474d45bf81196da45de13940".into(),
            description: None,
            unique_instance_crns: vec![],
            locked: false,
            meta: Meta {
                created_at: 0,
                modified_at: 0,
                created_by: "t".into(),
                version: 1,
            },
        };
        let issue = Issue {
            issuer: "https://iam.cloud.ibm.com/identity",
            grant_type: grant::APIKEY,
            scope: "ibm openid",
            client_id: "default",
            iat: 100,
            exp: 3700,
        };
        let c = access_token(Subject::ServiceId(&sid), &issue);
        assert_eq!(c["iam_id"], "iam-ServiceId-c1e45eff");
        assert_eq!(c["sub"], "ServiceId-c1e45eff");
        assert_eq!(c["sub_type"], "ServiceId");
        assert_eq!(c["realmid"], "iam");
        assert_eq!(c["account"]["bss"], "f71446b6474d45bf81196da45de13940");
        assert_eq!(c["exp"], 3700);
        assert_eq!(c["authn"]["iam_id"], "iam-ServiceId-c1e45eff");
        assert!(c.get("unique_instance_crns").is_none());
    }

    #[test]
    fn crn_identity_token_has_the_documented_shape() {
        let crn = "crn:v1:bluemix:public:resource-controller::a/f71446b6474d45bf81196da45de13940::resource-broker:1f4a9711";
        let ident = CrnIdentity {
            crn: crn.into(),
            account_id: "f71446b6474d45bf81196da45de13940".into(),
            delegates: vec![],
        };
        assert_eq!(ident.service_name(), "resource-controller");
        let issue = Issue {
            issuer: "https://iam.cloud.ibm.com/identity",
            grant_type: grant::IAM_AUTHZ,
            scope: "ibm openid resource-controller",
            client_id: "resource-controller",
            iat: 100,
            exp: 1900,
        };
        let c = access_token(Subject::Crn(&ident), &issue);
        let mut keys: Vec<&str> = c
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut expected = [
            "iam_id",
            "id",
            "realmid",
            "jti",
            "identifier",
            "sub",
            "sub_type",
            "authn",
            "account",
            "iat",
            "exp",
            "iss",
            "grant_type",
            "scope",
            "client_id",
            "acr",
            "amr",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected, "exactly the claims of IAM's example");
        assert_eq!(c["iam_id"], format!("crn-{crn}"));
        assert_eq!(c["id"], c["iam_id"]);
        assert_eq!(c["realmid"], "crn");
        assert_eq!(c["identifier"], crn);
        assert_eq!(c["sub"], crn);
        assert_eq!(c["sub_type"], "CRN");
        assert_eq!(
            c["authn"],
            json!({"sub": crn, "iam_id": format!("crn-{crn}"), "sub_type": "CRN"})
        );
        assert_eq!(
            c["account"],
            json!({"valid": true, "bss": "f71446b6474d45bf81196da45de13940", "frozen": true})
        );
        assert_eq!(c["acr"], 0);
        assert_eq!(c["amr"], json!([]));
    }

    #[test]
    fn user_token_has_no_sub_type() {
        let u = User {
            iam_id: "IBMid-550000ED6J".into(),
            account_id: "a".into(),
            email: "phil@example.com".into(),
            given_name: "Phil".into(),
            family_name: "Adams".into(),
            password_digest: None,
        };
        let issue = Issue {
            issuer: "i",
            grant_type: grant::PASSWORD,
            scope: "ibm openid",
            client_id: "bx",
            iat: 0,
            exp: 1,
        };
        let c = access_token(Subject::User(&u), &issue);
        assert_eq!(c["identifier"], "550000ED6J");
        assert_eq!(c["name"], "Phil Adams");
        assert_eq!(c["realmid"], "IBMid");
        assert!(c.get("sub_type").is_none());
        assert_eq!(c["client_id"], "bx");
    }
}
