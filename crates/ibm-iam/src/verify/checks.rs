//! The claim checks a validator applies after the signature verifies, strict by default.
//!
//! * Time, read from the injected clock: `exp` required and not past, `iat` required and
//!   not in the future, `nbf` honoured when present, each with the same leeway (default
//!   60 s, as jsonwebtoken and go-jose use; the seed used 5 s).
//! * Issuer: an exact allow-list. Production's issuer for production and its private
//!   endpoints, staging's for staging; for any other endpoint (the emulator, a proxy) the
//!   issuers configured, or else the one its discovery document announces. The seed's
//!   `iss.startswith("https://iam")`, which accepts `https://iam.attacker.example`, only
//!   through [`super::TokenValidatorBuilder::danger_accept_any_iam_issuer`].
//! * Optional: `client_id`, `aud`, required scopes, accounts (`account.bss`), subject types.

use super::claims::{Claims, SubjectType};
use super::error::{VerifyError, cut};

/// How `iss` is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IssuerRule {
    /// Exactly one of these.
    Exact(Vec<String>),
    /// Exactly the one the endpoint's discovery document announces.
    Discovered,
    /// The seed's rule: any `iss` starting with `https://iam`. Unsafe; opt-in only.
    SeedPrefix,
}

/// Everything a token must satisfy besides its signature.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub leeway: i64,
    pub issuer: IssuerRule,
    pub client_ids: Vec<String>,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    pub accounts: Vec<String>,
    pub subject_types: Vec<SubjectType>,
}

impl Policy {
    /// Applies every check to verified claims at `now` (Unix seconds). `discovered` is the
    /// issuer announced by the endpoint, when the rule is [`IssuerRule::Discovered`].
    pub fn check(
        &self,
        claims: &Claims,
        now: i64,
        discovered: Option<&str>,
    ) -> Result<(), VerifyError> {
        self.check_time(claims, now)?;
        self.check_issuer(claims.iss(), discovered)?;
        if !self.client_ids.is_empty()
            && !claims
                .client_id()
                .is_some_and(|c| self.client_ids.iter().any(|a| a == c))
        {
            return Err(VerifyError::ClientId {
                found: claims.client_id().map(|c| cut(c, 128)),
            });
        }
        if !self.audiences.is_empty() {
            let aud = claims.audience();
            if !aud.iter().any(|a| self.audiences.iter().any(|w| w == a)) {
                return Err(VerifyError::Audience);
            }
        }
        if let Some(missing) = self.scopes.iter().find(|s| !claims.has_scope(s)) {
            return Err(VerifyError::Scope {
                missing: missing.clone(),
            });
        }
        if !self.accounts.is_empty()
            && !claims
                .account_id()
                .is_some_and(|a| self.accounts.iter().any(|w| w == a))
        {
            return Err(VerifyError::Account {
                found: claims.account_id().map(|a| cut(a, 128)),
            });
        }
        if !self.subject_types.is_empty() {
            let st = claims.subject_type();
            if !self.subject_types.contains(&st) {
                return Err(VerifyError::SubjectType {
                    found: cut(&st.to_string(), 64),
                });
            }
        }
        Ok(())
    }

    /// `exp`, `iat`, `nbf` against `now`, with the leeway.
    pub fn check_time(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        let exp = claims.exp();
        if now >= exp.saturating_add(self.leeway) {
            return Err(VerifyError::Expired { exp, now });
        }
        let iat = claims.iat().ok_or(VerifyError::MissingClaim("iat"))?;
        if iat > now.saturating_add(self.leeway) {
            return Err(VerifyError::IssuedInFuture { iat, now });
        }
        if let Some(nbf) = claims.nbf()
            && nbf > now.saturating_add(self.leeway)
        {
            return Err(VerifyError::NotYetValid { nbf, now });
        }
        Ok(())
    }

    /// Whether a cached token is still in date at `now`.
    #[inline]
    pub fn still_in_date(&self, exp: i64, now: i64) -> bool {
        now < exp.saturating_add(self.leeway)
    }

    fn check_issuer(&self, iss: Option<&str>, discovered: Option<&str>) -> Result<(), VerifyError> {
        let Some(i) = iss else {
            return Err(VerifyError::MissingClaim("iss"));
        };
        let ok = match &self.issuer {
            IssuerRule::Exact(allowed) => allowed.iter().any(|a| a == i),
            IssuerRule::Discovered => discovered == Some(i),
            IssuerRule::SeedPrefix => i.starts_with("https://iam"),
        };
        if ok {
            Ok(())
        } else {
            Err(VerifyError::Issuer { found: cut(i, 128) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(issuer: IssuerRule) -> Policy {
        Policy {
            leeway: 5,
            issuer,
            client_ids: vec![],
            audiences: vec![],
            scopes: vec![],
            accounts: vec![],
            subject_types: vec![],
        }
    }

    fn claims(json: &str) -> Claims {
        Claims::parse(json.as_bytes().to_vec()).expect("claims")
    }

    const PROD: &str = "https://iam.cloud.ibm.com/identity";

    #[test]
    fn time_edges_with_leeway() {
        let p = policy(IssuerRule::Exact(vec![PROD.into()]));
        let c = claims(r#"{"iat":1000,"exp":2000}"#);
        assert!(p.check_time(&c, 1000).is_ok());
        assert!(p.check_time(&c, 2004).is_ok(), "inside the leeway");
        assert!(matches!(
            p.check_time(&c, 2005),
            Err(VerifyError::Expired {
                exp: 2000,
                now: 2005
            })
        ));
        assert!(p.check_time(&c, 995).is_ok(), "iat within the leeway ahead");
        assert!(matches!(
            p.check_time(&c, 994),
            Err(VerifyError::IssuedInFuture { .. })
        ));
        let c = claims(r#"{"iat":1000,"exp":2000,"nbf":1500}"#);
        assert!(matches!(
            p.check_time(&c, 1494),
            Err(VerifyError::NotYetValid { .. })
        ));
        assert!(p.check_time(&c, 1495).is_ok());
        let c = claims(r#"{"exp":2000}"#);
        assert!(matches!(
            p.check_time(&c, 1000),
            Err(VerifyError::MissingClaim("iat"))
        ));
        let c = claims(r#"{"iat":0,"exp":9223372036854775807}"#);
        assert!(p.check_time(&c, i64::MAX - 1).is_ok(), "no overflow");
        assert!(p.still_in_date(2000, 2004) && !p.still_in_date(2000, 2005));
    }

    #[test]
    fn issuer_rules() {
        let exact = policy(IssuerRule::Exact(vec![PROD.into()]));
        let seed = policy(IssuerRule::SeedPrefix);
        let disc = policy(IssuerRule::Discovered);
        for (iss, exact_ok, seed_ok) in [
            (PROD, true, true),
            ("https://iam.cloud.ibm.com/identity/", false, true),
            ("https://iam.test.cloud.ibm.com/identity", false, true),
            ("https://iam.attacker.example", false, true),
            ("https://iam.cloud.ibm.com.evil.com/identity", false, true),
            ("https://IAM.cloud.ibm.com/identity", false, false),
            ("http://iam.cloud.ibm.com/identity", false, false),
            ("", false, false),
        ] {
            assert_eq!(
                exact.check_issuer(Some(iss), None).is_ok(),
                exact_ok,
                "{iss}"
            );
            assert_eq!(seed.check_issuer(Some(iss), None).is_ok(), seed_ok, "{iss}");
        }
        for rule in [&exact, &seed, &disc] {
            assert!(matches!(
                rule.check_issuer(None, Some(PROD)),
                Err(VerifyError::MissingClaim("iss"))
            ));
        }
        assert!(matches!(
            exact.check_issuer(Some(""), None),
            Err(VerifyError::Issuer { found }) if found.is_empty()
        ));
        assert!(disc.check_issuer(Some(PROD), Some(PROD)).is_ok());
        assert!(
            disc.check_issuer(Some(PROD), None).is_err(),
            "nothing discovered"
        );
        assert!(
            disc.check_issuer(Some("https://iam.x"), Some(PROD))
                .is_err()
        );
    }

    #[test]
    fn optional_checks() {
        let c = claims(
            r#"{"iat":1,"exp":9,"iss":"i","client_id":"bx","scope":"ibm openid svc","account":{"bss":"acc1"},"sub_type":"ServiceId","aud":["a1","a2"]}"#,
        );
        let mut p = policy(IssuerRule::Exact(vec!["i".into()]));
        assert!(p.check(&c, 2, None).is_ok());
        p.client_ids = vec!["default".into()];
        assert!(matches!(
            p.check(&c, 2, None),
            Err(VerifyError::ClientId { .. })
        ));
        p.client_ids.push("bx".into());
        p.audiences = vec!["a3".into()];
        assert!(matches!(p.check(&c, 2, None), Err(VerifyError::Audience)));
        p.audiences.push("a2".into());
        p.scopes = vec!["svc".into(), "admin".into()];
        assert!(
            matches!(p.check(&c, 2, None), Err(VerifyError::Scope { missing }) if missing == "admin")
        );
        p.scopes.pop();
        p.accounts = vec!["acc2".into()];
        assert!(matches!(
            p.check(&c, 2, None),
            Err(VerifyError::Account { .. })
        ));
        p.accounts.push("acc1".into());
        p.subject_types = vec![SubjectType::User, SubjectType::Profile];
        assert!(matches!(
            p.check(&c, 2, None),
            Err(VerifyError::SubjectType { .. })
        ));
        p.subject_types.push(SubjectType::ServiceId);
        assert!(p.check(&c, 2, None).is_ok());
    }
}
