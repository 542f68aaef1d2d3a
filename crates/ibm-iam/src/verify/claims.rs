//! Typed claims of an IAM access token, with every raw claim still at hand.
//!
//! The claims are checked for type once, when the token is verified: a claim IAM defines
//! that is present with the wrong JSON type (`"exp":"never"`, `"iss":7`, `account` as a
//! string) refuses the token rather than being read as absent (the lesson of
//! CVE-2026-25537). The typed claims are then read from the payload text where they
//! stand, without a copy; the full map of raw claims is built only if asked for.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::{Part, VerifyError};
use super::json::{Any, JsonProblem, Num, parse_borrowed};

/// What kind of identity a token is for.
///
/// ```
/// use ibm_iam::TokenValidator;
/// use ibm_iam::verify::SubjectType;
///
/// // Accept service IDs and trusted profiles, not users.
/// let validator = TokenValidator::builder()
///     .subject_type(SubjectType::ServiceId)
///     .subject_type(SubjectType::Profile)
///     .build()
///     .unwrap();
/// # drop(validator);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectType {
    /// A user (IBMid): IAM's user tokens carry no `sub_type`.
    User,
    /// `sub_type` `ServiceId`.
    ServiceId,
    /// `sub_type` `Profile` (a trusted profile).
    Profile,
    /// `sub_type` `CRN` (a service instance acting as itself).
    Crn,
    /// Any other `sub_type`, as written.
    Other(String),
}

impl SubjectType {
    fn from_claim(sub_type: Option<&str>) -> Self {
        match sub_type {
            None => SubjectType::User,
            Some("ServiceId") => SubjectType::ServiceId,
            Some("Profile") => SubjectType::Profile,
            Some("CRN") => SubjectType::Crn,
            Some(other) => SubjectType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for SubjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectType::User => f.write_str("user"),
            SubjectType::ServiceId => f.write_str("ServiceId"),
            SubjectType::Profile => f.write_str("Profile"),
            SubjectType::Crn => f.write_str("CRN"),
            SubjectType::Other(s) => f.write_str(s),
        }
    }
}

/// The `account` claim: the account the token acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account<'a> {
    /// The account id (`bss`, 32 hex digits).
    pub bss: Option<&'a str>,
    /// Whether the account is valid.
    pub valid: Option<bool>,
    /// Whether the account is frozen.
    pub frozen: Option<bool>,
    /// The classic infrastructure account, when linked.
    pub ims: Option<&'a str>,
    /// The classic infrastructure user, when linked.
    pub ims_user_id: Option<&'a str>,
}

/// The `authn` claim: who authenticated (for an assumed profile, the original identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authn<'a> {
    /// Its subject.
    pub sub: Option<&'a str>,
    /// Its IAM id.
    pub iam_id: Option<&'a str>,
    /// Its subject type.
    pub sub_type: Option<&'a str>,
    /// Its name.
    pub name: Option<&'a str>,
    /// Its given name.
    pub given_name: Option<&'a str>,
    /// Its family name.
    pub family_name: Option<&'a str>,
    /// Its e-mail address.
    pub email: Option<&'a str>,
}

/// The verified claims of an IAM access token. Cheap to clone (shared).
///
/// Typed accessors cover the claims IAM issues (wire reference §2.3); [`get`](Self::get),
/// [`raw`](Self::raw) and [`deserialize`](Self::deserialize) give every claim, known or
/// not. [`subject_as_attributes`](Self::subject_as_attributes) and
/// [`subject_as_token_body`](Self::subject_as_token_body) give the two subject forms the
/// Policy Decision Point accepts, as the seed package builds them.
///
/// ```
/// # async fn demo(validator: ibm_iam::TokenValidator, token: &str) -> Result<(), ibm_iam::VerifyError> {
/// let claims = validator.validate(token).await?;
/// println!("{} in account {:?}", claims.iam_id().unwrap_or("?"), claims.account_id());
/// if claims.has_scope("ibm") { /* … */ }
/// let subject = claims.subject_as_attributes()?; // {"attributes":{"id":…,"scope":…}}
/// # drop(subject); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Claims {
    inner: Arc<Inner>,
}

/// A string claim: where it is in the payload, or its decoded text when it had escapes.
#[derive(Debug, Clone)]
enum Text {
    Span(usize, usize),
    Owned(Box<str>),
}

#[derive(Debug, Clone, Default)]
struct AccountFields {
    bss: Option<Text>,
    valid: Option<bool>,
    frozen: Option<bool>,
    ims: Option<Text>,
    ims_user_id: Option<Text>,
}

#[derive(Debug, Clone, Default)]
struct AuthnFields {
    sub: Option<Text>,
    iam_id: Option<Text>,
    sub_type: Option<Text>,
    name: Option<Text>,
    given_name: Option<Text>,
    family_name: Option<Text>,
    email: Option<Text>,
}

/// The claims IAM defines, type-checked, located in the payload.
#[derive(Debug, Clone, Default)]
struct Fields {
    /// How many members the payload object has.
    members: usize,
    exp: i64,
    iat: Option<i64>,
    nbf: Option<i64>,
    iss: Option<Text>,
    sub: Option<Text>,
    sub_type: Option<Text>,
    iam_id: Option<Text>,
    id: Option<Text>,
    realmid: Option<Text>,
    identifier: Option<Text>,
    scope: Option<Text>,
    grant_type: Option<Text>,
    client_id: Option<Text>,
    jti: Option<Text>,
    name: Option<Text>,
    given_name: Option<Text>,
    family_name: Option<Text>,
    email: Option<Text>,
    acr: Option<Num>,
    aud: Vec<Text>,
    amr: Vec<Text>,
    unique_instance_crns: Vec<Text>,
    account: Option<AccountFields>,
    authn: Option<AuthnFields>,
}

struct Inner {
    /// The payload's JSON text.
    json: String,
    /// The payload segment, re-encoded on first use: the segment was checked to be
    /// canonical base64url, so encoding the JSON again gives it back exactly.
    body: OnceLock<String>,
    fields: Fields,
    /// Every claim, built on first use.
    raw: OnceLock<Map<String, Value>>,
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("iam_id", &self.iam_id())
            .field("sub", &self.sub())
            .field("sub_type", &self.sub_type())
            .field("account", &self.account_id())
            .field("scope", &self.scope())
            .field("client_id", &self.client_id())
            .field("iss", &self.iss())
            .field("iat", &self.iat())
            .field("exp", &self.exp())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        self.raw() == other.raw()
    }
}

impl serde::Serialize for Claims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw().serialize(s)
    }
}

/// A NumericDate (RFC 7519 §2) as whole seconds. Fractions round toward the stricter
/// side for the check: `exp` down, `iat` and `nbf` up. Out-of-range values saturate.
fn numeric_date(v: &Any<'_>, claim: &'static str, round_up: bool) -> Result<i64, VerifyError> {
    match v {
        Any::Num(Num::I(i)) => Ok(*i),
        Any::Num(Num::U(u)) => Ok(i64::try_from(*u).unwrap_or(i64::MAX)),
        Any::Num(Num::F(f)) => {
            let f = if round_up { f.ceil() } else { f.floor() };
            // `as` saturates for floats out of range (and JSON has no NaN).
            #[allow(clippy::cast_possible_truncation)]
            Ok(f as i64)
        }
        _ => Err(VerifyError::ClaimType {
            claim,
            expected: "a number (NumericDate)",
        }),
    }
}

/// Locates strings in the payload text.
struct Locator<'a> {
    base: usize,
    len: usize,
    json: &'a str,
}

impl Locator<'_> {
    /// A span when `s` lies in the payload text (a string without escapes, borrowed by
    /// the parser), else a copy.
    fn text(&self, s: &str) -> Text {
        let start = (s.as_ptr() as usize).wrapping_sub(self.base);
        let end = start.wrapping_add(s.len());
        if start <= end && end <= self.len && self.json.get(start..end) == Some(s) {
            return Text::Span(start, end);
        }
        Text::Owned(s.into())
    }

    fn string(&self, v: &Any<'_>, claim: &'static str) -> Result<Text, VerifyError> {
        match v {
            Any::Str(s) => Ok(self.text(s)),
            _ => Err(VerifyError::ClaimType {
                claim,
                expected: "a string",
            }),
        }
    }

    fn strings(&self, v: &Any<'_>, claim: &'static str) -> Result<Vec<Text>, VerifyError> {
        let wrong = || VerifyError::ClaimType {
            claim,
            expected: "an array of strings",
        };
        match v {
            Any::Array(items) => items
                .iter()
                .map(|i| i.as_str().map(|s| self.text(s)).ok_or_else(wrong))
                .collect(),
            _ => Err(wrong()),
        }
    }

    fn boolean(v: &Any<'_>, claim: &'static str) -> Result<bool, VerifyError> {
        match v {
            Any::Bool(b) => Ok(*b),
            _ => Err(VerifyError::ClaimType {
                claim,
                expected: "a boolean",
            }),
        }
    }

    fn account(&self, v: &Any<'_>) -> Result<AccountFields, VerifyError> {
        let Any::Object(members) = v else {
            return Err(VerifyError::ClaimType {
                claim: "account",
                expected: "an object",
            });
        };
        let mut a = AccountFields::default();
        for (k, v) in members {
            match k.as_ref() {
                "bss" => a.bss = Some(self.string(v, "account.bss")?),
                "ims" => a.ims = Some(self.string(v, "account.ims")?),
                "ims_user_id" => a.ims_user_id = Some(self.string(v, "account.ims_user_id")?),
                "valid" => a.valid = Some(Self::boolean(v, "account.valid")?),
                "frozen" => a.frozen = Some(Self::boolean(v, "account.frozen")?),
                _ => {}
            }
        }
        Ok(a)
    }

    fn authn(&self, v: &Any<'_>) -> Result<AuthnFields, VerifyError> {
        let Any::Object(members) = v else {
            return Err(VerifyError::ClaimType {
                claim: "authn",
                expected: "an object",
            });
        };
        let mut a = AuthnFields::default();
        for (k, v) in members {
            let slot = match k.as_ref() {
                "sub" => (&mut a.sub, "authn.sub"),
                "iam_id" => (&mut a.iam_id, "authn.iam_id"),
                "sub_type" => (&mut a.sub_type, "authn.sub_type"),
                "name" => (&mut a.name, "authn.name"),
                "given_name" => (&mut a.given_name, "authn.given_name"),
                "family_name" => (&mut a.family_name, "authn.family_name"),
                "email" => (&mut a.email, "authn.email"),
                _ => continue,
            };
            *slot.0 = Some(self.string(v, slot.1)?);
        }
        Ok(a)
    }
}

fn fields(json: &str, members: &[(Cow<'_, str>, Any<'_>)]) -> Result<Fields, VerifyError> {
    let loc = Locator {
        base: json.as_ptr() as usize,
        len: json.len(),
        json,
    };
    let mut f = Fields::default();
    let mut exp = None;
    for (k, v) in members {
        let text_slot = match k.as_ref() {
            "exp" => {
                exp = Some(numeric_date(v, "exp", false)?);
                continue;
            }
            "iat" => {
                f.iat = Some(numeric_date(v, "iat", true)?);
                continue;
            }
            "nbf" => {
                f.nbf = Some(numeric_date(v, "nbf", true)?);
                continue;
            }
            "aud" => {
                f.aud = match v {
                    Any::Str(s) => vec![loc.text(s)],
                    Any::Array(_) => loc.strings(v, "aud").map_err(|_| VerifyError::ClaimType {
                        claim: "aud",
                        expected: "a string or an array of strings",
                    })?,
                    _ => {
                        return Err(VerifyError::ClaimType {
                            claim: "aud",
                            expected: "a string or an array of strings",
                        });
                    }
                };
                continue;
            }
            "amr" => {
                f.amr = loc.strings(v, "amr")?;
                continue;
            }
            "unique_instance_crns" => {
                f.unique_instance_crns = loc.strings(v, "unique_instance_crns")?;
                continue;
            }
            "acr" => {
                match v {
                    Any::Num(n) => f.acr = Some(*n),
                    _ => {
                        return Err(VerifyError::ClaimType {
                            claim: "acr",
                            expected: "a number",
                        });
                    }
                }
                continue;
            }
            "account" => {
                f.account = Some(loc.account(v)?);
                continue;
            }
            "authn" => {
                f.authn = Some(loc.authn(v)?);
                continue;
            }
            "iss" => (&mut f.iss, "iss"),
            "sub" => (&mut f.sub, "sub"),
            "sub_type" => (&mut f.sub_type, "sub_type"),
            "iam_id" => (&mut f.iam_id, "iam_id"),
            "id" => (&mut f.id, "id"),
            "realmid" => (&mut f.realmid, "realmid"),
            "identifier" => (&mut f.identifier, "identifier"),
            "scope" => (&mut f.scope, "scope"),
            "grant_type" => (&mut f.grant_type, "grant_type"),
            "client_id" => (&mut f.client_id, "client_id"),
            "jti" => (&mut f.jti, "jti"),
            "name" => (&mut f.name, "name"),
            "given_name" => (&mut f.given_name, "given_name"),
            "family_name" => (&mut f.family_name, "family_name"),
            "email" => (&mut f.email, "email"),
            _ => continue,
        };
        *text_slot.0 = Some(loc.string(v, text_slot.1)?);
    }
    f.exp = exp.ok_or(VerifyError::MissingClaim("exp"))?;
    f.members = members.len();
    Ok(f)
}

impl Claims {
    /// Parses and type-checks a verified, decoded payload.
    pub(crate) fn parse(payload: Vec<u8>) -> Result<Self, VerifyError> {
        let json = String::from_utf8(payload)
            .map_err(|_| VerifyError::malformed(Part::Payload, "not JSON"))?;
        let members = parse_borrowed(&json).map_err(|p| {
            VerifyError::malformed(
                Part::Payload,
                match p {
                    JsonProblem::Syntax => "not JSON",
                    JsonProblem::NotObject => "not a JSON object",
                    JsonProblem::Duplicate => "a member appears twice",
                },
            )
        })?;
        let fields = fields(&json, &members)?;
        drop(members);
        Ok(Self {
            inner: Arc::new(Inner {
                json,
                body: OnceLock::new(),
                fields,
                raw: OnceLock::new(),
            }),
        })
    }

    #[inline]
    fn text<'a>(&'a self, t: &'a Option<Text>) -> Option<&'a str> {
        match t.as_ref()? {
            Text::Span(a, b) => self.inner.json.get(*a..*b),
            Text::Owned(s) => Some(s),
        }
    }

    fn texts<'a>(&'a self, v: &'a [Text]) -> Vec<&'a str> {
        v.iter()
            .filter_map(|t| match t {
                Text::Span(a, b) => self.inner.json.get(*a..*b),
                Text::Owned(s) => Some(&**s),
            })
            .collect()
    }

    /// Any claim, raw.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.raw().get(name)
    }

    /// Every claim, raw (parsed from the payload on first use).
    ///
    /// Always complete: the payload was accepted, when the token was verified, by the same
    /// JSON reader (serde_json's tokenizer with its depth limit; numbers, strings and
    /// escapes read alike) and holds no duplicate member, so reading it again into a map
    /// cannot fail and keeps every member. That is what the fuzz target for the claims
    /// parser checks; should it ever not hold, the failure is logged as an error and the
    /// map is empty rather than partial ([`json`](Self::json) is the payload as signed).
    pub fn raw(&self) -> &Map<String, Value> {
        self.inner.raw.get_or_init(|| {
            match serde_json::from_str::<Map<String, Value>>(&self.inner.json) {
                Ok(m) if m.len() == self.inner.fields.members => m,
                other => {
                    tracing::error!(
                        parsed = other.is_ok(),
                        "verified claims could not be read back into a map; please report this"
                    );
                    Map::new()
                }
            }
        })
    }

    /// How many members the payload has (what [`raw`](Self::raw) must hold).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn members(&self) -> usize {
        self.inner.fields.members
    }

    /// The claims as your own type.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.inner.json)
    }

    /// The payload's JSON text, as signed.
    pub fn json(&self) -> &str {
        &self.inner.json
    }

    /// The payload segment as it was sent (base64url of [`json`](Self::json)).
    pub fn payload_segment(&self) -> &str {
        self.inner
            .body
            .get_or_init(|| URL_SAFE_NO_PAD.encode(self.inner.json.as_bytes()))
    }

    /// `exp`: when the token expires (Unix seconds).
    pub fn exp(&self) -> i64 {
        self.inner.fields.exp
    }

    /// `iat`: when the token was issued (Unix seconds). IAM always sets it and the
    /// validator requires it, so `None` only for claims of other issuers.
    pub fn iat(&self) -> Option<i64> {
        self.inner.fields.iat
    }

    /// `nbf`, when present (IAM does not set it).
    pub fn nbf(&self) -> Option<i64> {
        self.inner.fields.nbf
    }

    /// `iss`: the issuer.
    pub fn iss(&self) -> Option<&str> {
        self.text(&self.inner.fields.iss)
    }

    /// `sub`: the subject (an e-mail for users, `ServiceId-…`, `Profile-…` or a CRN).
    pub fn sub(&self) -> Option<&str> {
        self.text(&self.inner.fields.sub)
    }

    /// `sub_type` as written (absent for users).
    pub fn sub_type(&self) -> Option<&str> {
        self.text(&self.inner.fields.sub_type)
    }

    /// The kind of identity; a token without `sub_type` is a user's.
    pub fn subject_type(&self) -> SubjectType {
        SubjectType::from_claim(self.sub_type())
    }

    /// `iam_id`: the identity's IAM id (`IBMid-…`, `iam-ServiceId-…`, `iam-Profile-…`,
    /// `crn-…`). This is what policies name.
    pub fn iam_id(&self) -> Option<&str> {
        self.text(&self.inner.fields.iam_id)
    }

    /// `id` (the same as `iam_id` in every token IAM issues).
    pub fn id(&self) -> Option<&str> {
        self.text(&self.inner.fields.id)
    }

    /// `realmid`: `IBMid`, `iam` or `crn`.
    pub fn realm_id(&self) -> Option<&str> {
        self.text(&self.inner.fields.realmid)
    }

    /// `identifier`: the IAM id without its realm prefix.
    pub fn identifier(&self) -> Option<&str> {
        self.text(&self.inner.fields.identifier)
    }

    /// The `account` claim.
    pub fn account(&self) -> Option<Account<'_>> {
        let a = self.inner.fields.account.as_ref()?;
        Some(Account {
            bss: self.text(&a.bss),
            valid: a.valid,
            frozen: a.frozen,
            ims: self.text(&a.ims),
            ims_user_id: self.text(&a.ims_user_id),
        })
    }

    /// `account.bss`: the account id.
    pub fn account_id(&self) -> Option<&str> {
        self.text(&self.inner.fields.account.as_ref()?.bss)
    }

    /// The `authn` claim.
    pub fn authn(&self) -> Option<Authn<'_>> {
        let a = self.inner.fields.authn.as_ref()?;
        Some(Authn {
            sub: self.text(&a.sub),
            iam_id: self.text(&a.iam_id),
            sub_type: self.text(&a.sub_type),
            name: self.text(&a.name),
            given_name: self.text(&a.given_name),
            family_name: self.text(&a.family_name),
            email: self.text(&a.email),
        })
    }

    /// `scope`, space-separated (IAM's default is `ibm openid`).
    pub fn scope(&self) -> Option<&str> {
        self.text(&self.inner.fields.scope)
    }

    /// The scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope().unwrap_or("").split_ascii_whitespace()
    }

    /// Whether `scope` lists `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// `grant_type`: how the token was obtained.
    pub fn grant_type(&self) -> Option<&str> {
        self.text(&self.inner.fields.grant_type)
    }

    /// `client_id` (`default`, `bx`, or a service's client).
    pub fn client_id(&self) -> Option<&str> {
        self.text(&self.inner.fields.client_id)
    }

    /// `aud` as a list (IAM does not set it).
    pub fn audience(&self) -> Vec<&str> {
        self.texts(&self.inner.fields.aud)
    }

    /// `jti`: the token's unique id.
    pub fn jti(&self) -> Option<&str> {
        self.text(&self.inner.fields.jti)
    }

    /// `name`.
    pub fn name(&self) -> Option<&str> {
        self.text(&self.inner.fields.name)
    }

    /// `given_name`.
    pub fn given_name(&self) -> Option<&str> {
        self.text(&self.inner.fields.given_name)
    }

    /// `family_name`.
    pub fn family_name(&self) -> Option<&str> {
        self.text(&self.inner.fields.family_name)
    }

    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.text(&self.inner.fields.email)
    }

    /// `acr`, as an integer when it is one.
    pub fn acr(&self) -> Option<i64> {
        match self.inner.fields.acr? {
            Num::I(i) => Some(i),
            Num::U(u) => i64::try_from(u).ok(),
            Num::F(_) => None,
        }
    }

    /// `amr`: the authentication methods.
    pub fn amr(&self) -> Vec<&str> {
        self.texts(&self.inner.fields.amr)
    }

    /// `unique_instance_crns` (service IDs bound to service instances).
    pub fn unique_instance_crns(&self) -> Vec<&str> {
        self.texts(&self.inner.fields.unique_instance_crns)
    }

    /// The subject in the Policy Decision Point's attribute form, as the seed's
    /// `PDPClient.subject_as_attributes` builds it:
    /// `{"attributes": {"id": <iam_id>, "scope": <scope>}}`. Fails if either claim is
    /// missing.
    ///
    /// ```
    /// # fn demo(claims: &ibm_iam::Claims) -> Result<(), ibm_iam::VerifyError> {
    /// let subject = claims.subject_as_attributes()?;
    /// assert_eq!(subject["attributes"]["id"], claims.iam_id().unwrap_or_default());
    /// # Ok(()) }
    /// ```
    pub fn subject_as_attributes(&self) -> Result<Value, VerifyError> {
        let id = self.iam_id().ok_or(VerifyError::MissingClaim("iam_id"))?;
        let scope = self.scope().ok_or(VerifyError::MissingClaim("scope"))?;
        Ok(serde_json::json!({ "attributes": { "id": id, "scope": scope } }))
    }

    /// The subject in the Policy Decision Point's token-body form, as the seed's
    /// `PDPClient.subject_as_token_body` builds it: `{"accessTokenBody": <payload
    /// segment>}`, the token's second segment exactly as sent.
    pub fn subject_as_token_body(&self) -> Value {
        serde_json::json!({ "accessTokenBody": self.payload_segment() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"{
      "iam_id": "IBMid-550000ED6J", "id": "IBMid-550000ED6J", "realmid": "IBMid",
      "jti": "bf6a0444-d97a-49f1-9358-fad0df86b6db", "identifier": "550000ED6J",
      "given_name": "Phil", "family_name": "Adams", "name": "Phil Adams",
      "email": "phil_adams@us.ibm.com", "sub": "phil_adams@us.ibm.com",
      "authn": {"sub": "phil_adams@us.ibm.com", "iam_id": "IBMid-550000ED6J", "name": "Phil Adams",
                "given_name": "Phil", "family_name": "Adams", "email": "phil_adams@us.ibm.com"},
      "account": {"valid": true, "bss": "8b4da373c6f8494888986fcc4992ea2d", "frozen": true},
      "iat": 1727301564, "exp": 1727305164,
      "iss": "https://iam.cloud.ibm.com/identity",
      "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
      "scope": "ibm openid", "client_id": "default", "acr": 1, "amr": ["pwd"]
    }"#;

    #[test]
    fn raw_holds_every_member_of_whatever_the_parser_accepts() {
        let nest = |d: usize| format!("{}1{}", "[".repeat(d), "]".repeat(d));
        let mut payloads: Vec<String> = [
            r#"{"exp":1}"#,
            r#"{"exp":1.5,"iat":-0,"nbf":1e2}"#,
            r#"{"exp":1,"n":123456789012345678901234567890,"f":1e308,"t":1e-400,"z":-0.0}"#,
            r#"{"exp":1,"u":"\ud83d\ude00","nul":"\u0000","\u00e9t\u00e9":"x","e":""}"#,
            r#"{"exp":1,"lone":"\ud800"}"#,
            r#"{"exp":1,"o":{"a":{"b":{"c":[null,true,false,{}]}}},"a":[]}"#,
            r#"{"exp":1,"exp2":1,"k":"v"}"#,
            r#"{"exp":1,"k":"v","k":"w"}"#,
            r#"  {"exp":1}  "#,
            USER,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for depth in [100, 125, 126, 127, 128, 129, 200] {
            payloads.push(format!(r#"{{"exp":1,"deep":{}}}"#, nest(depth)));
        }
        let mut accepted = 0;
        for p in &payloads {
            if let Ok(c) = Claims::parse(p.clone().into_bytes()) {
                accepted += 1;
                assert_eq!(c.raw().len(), c.members(), "{p}");
                assert!(c.get("exp").is_some(), "{p}");
                let serialized = serde_json::to_value(&c).expect("serializes");
                assert_eq!(serialized.as_object(), Some(c.raw()), "{p}");
            }
        }
        assert!(accepted >= 9, "{accepted}");
    }

    #[test]
    fn reads_a_real_user_token() {
        let c = Claims::parse(USER.as_bytes().to_vec()).expect("claims");
        assert_eq!(c.iam_id(), Some("IBMid-550000ED6J"));
        assert_eq!(c.subject_type(), SubjectType::User);
        assert_eq!(c.account_id(), Some("8b4da373c6f8494888986fcc4992ea2d"));
        assert_eq!(c.account().and_then(|a| a.valid), Some(true));
        assert_eq!(c.authn().and_then(|a| a.name), Some("Phil Adams"));
        assert_eq!(
            (c.iat(), c.exp(), c.nbf()),
            (Some(1727301564), 1727305164, None)
        );
        assert!(c.has_scope("openid") && !c.has_scope("open"));
        assert_eq!(c.amr(), vec!["pwd"]);
        assert_eq!(c.acr(), Some(1));
        assert_eq!(c.realm_id(), Some("IBMid"));
        assert_eq!(c.get("given_name"), Some(&Value::from("Phil")));
        assert_eq!(
            c.subject_as_attributes().expect("subject"),
            serde_json::json!({"attributes": {"id": "IBMid-550000ED6J", "scope": "ibm openid"}})
        );
        let segment = URL_SAFE_NO_PAD.encode(USER);
        assert_eq!(c.payload_segment(), segment);
        assert_eq!(
            c.subject_as_token_body(),
            serde_json::json!({ "accessTokenBody": segment })
        );
        #[derive(serde::Deserialize)]
        struct Mine {
            email: String,
        }
        assert_eq!(
            c.deserialize::<Mine>().expect("mine").email,
            "phil_adams@us.ibm.com"
        );
        assert!(format!("{c:?}").contains("IBMid-550000ED6J"));
        assert_eq!(
            serde_json::to_value(&c).expect("ser")["sub"],
            "phil_adams@us.ibm.com"
        );
    }

    #[test]
    fn refuses_wrongly_typed_claims() {
        let base: Value = serde_json::from_str(USER).expect("json");
        for (claim, value, expected_claim) in [
            ("exp", serde_json::json!("never"), "exp"),
            ("exp", serde_json::json!("9999999999"), "exp"),
            ("exp", serde_json::json!([1]), "exp"),
            ("exp", Value::Null, "exp"),
            ("iat", serde_json::json!("1"), "iat"),
            ("nbf", serde_json::json!("9999999999"), "nbf"),
            ("iss", serde_json::json!(7), "iss"),
            (
                "iss",
                serde_json::json!(["https://iam.cloud.ibm.com/identity"]),
                "iss",
            ),
            ("sub", serde_json::json!({}), "sub"),
            ("scope", serde_json::json!(["ibm"]), "scope"),
            ("aud", serde_json::json!({"a": 1}), "aud"),
            ("aud", serde_json::json!([1]), "aud"),
            ("account", serde_json::json!("8b4d"), "account"),
            ("account", serde_json::json!({"bss": 1}), "account.bss"),
            (
                "account",
                serde_json::json!({"valid": "true"}),
                "account.valid",
            ),
            (
                "authn",
                serde_json::json!({"iam_id": false}),
                "authn.iam_id",
            ),
            ("amr", serde_json::json!("pwd"), "amr"),
            ("acr", serde_json::json!("1"), "acr"),
        ] {
            let mut v = base.clone();
            v[claim] = value.clone();
            let bytes = serde_json::to_vec(&v).expect("ser");
            match Claims::parse(bytes) {
                Err(VerifyError::ClaimType { claim: c, .. }) => {
                    assert_eq!(c, expected_claim, "{claim}={value}");
                }
                other => panic!("{claim}={value}: {other:?}"),
            }
        }
        let mut v = base.clone();
        v.as_object_mut().expect("obj").remove("exp");
        assert!(matches!(
            Claims::parse(serde_json::to_vec(&v).expect("ser")),
            Err(VerifyError::MissingClaim("exp"))
        ));
        assert!(matches!(
            Claims::parse(br#"{"exp":1,"exp":2}"#.to_vec()),
            Err(VerifyError::Malformed {
                part: Part::Payload,
                ..
            })
        ));
        assert!(matches!(
            Claims::parse(b"[]".to_vec()),
            Err(VerifyError::Malformed {
                part: Part::Payload,
                ..
            })
        ));
    }

    #[test]
    fn numeric_dates_round_toward_the_strict_side_and_saturate() {
        let c = Claims::parse(br#"{"exp":100.9,"iat":50.1,"nbf":-3.5}"#.to_vec()).expect("c");
        assert_eq!((c.exp(), c.iat(), c.nbf()), (100, Some(51), Some(-3)));
        let c = Claims::parse(br#"{"exp":18446744073709551615,"iat":1e300}"#.to_vec()).expect("c");
        assert_eq!((c.exp(), c.iat()), (i64::MAX, Some(i64::MAX)));
        let c = Claims::parse(br#"{"exp":-1e300}"#.to_vec()).expect("c");
        assert_eq!(c.exp(), i64::MIN);
        assert!(
            Claims::parse(br#"{"exp":1e400}"#.to_vec()).is_err(),
            "not finite"
        );
    }

    #[test]
    fn subject_types() {
        for (st, want) in [
            (r#""ServiceId""#, SubjectType::ServiceId),
            (r#""Profile""#, SubjectType::Profile),
            (r#""CRN""#, SubjectType::Crn),
            (r#""Robot""#, SubjectType::Other("Robot".into())),
        ] {
            let c =
                Claims::parse(format!(r#"{{"exp":1,"sub_type":{st}}}"#).into_bytes()).expect("c");
            assert_eq!(c.subject_type(), want);
        }
        assert_eq!(SubjectType::User.to_string(), "user");
        let c = Claims::parse(br#"{"exp":1}"#.to_vec()).expect("c");
        assert!(matches!(
            c.subject_as_attributes(),
            Err(VerifyError::MissingClaim("iam_id"))
        ));
    }
}
