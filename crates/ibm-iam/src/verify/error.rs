//! [`VerifyError`]: which check refused a token, or why no decision could be made.

use crate::error::Error;

/// The part of a compact token a format error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The token as a whole (length, number of segments).
    Token,
    /// The first segment: the protected header.
    Header,
    /// The second segment: the claims.
    Payload,
    /// The third segment: the signature.
    Signature,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Token => "token",
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a token was refused, naming the check that failed.
///
/// Every variant but [`KeysUnavailable`](Self::KeysUnavailable) and
/// [`Runtime`](Self::Runtime) is a verdict on the token: retrying with the same token
/// gives the same answer (see [`is_transient`](Self::is_transient)). No variant ever
/// carries the token itself or its signature.
///
/// ```
/// use ibm_iam::VerifyError;
///
/// let e = VerifyError::Expired { exp: 1_700_000_000, now: 1_700_000_100 };
/// assert_eq!(e.to_string(), "the token expired at 1700000000 (now 1700000100)");
/// assert!(!e.is_transient());
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is empty.
    #[error("the token is empty")]
    Empty,
    /// The token is longer than the configured limit.
    #[error("the token is {len} bytes long, more than the {max} accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not a well-formed compact JWS: the wrong number of segments, bad
    /// base64url, JSON that is not an object, a duplicate member, a missing `kid`, …
    #[error("malformed token {part}: {reason}")]
    Malformed {
        /// Where.
        part: Part,
        /// What was wrong.
        reason: &'static str,
    },
    /// The header names an algorithm other than RS256 (including `none`). The algorithm
    /// is pinned by the validator and never taken from the token.
    #[error("algorithm {alg:?} is not accepted (only RS256 is)")]
    Algorithm {
        /// The header's `alg`, cut to 32 characters.
        alg: String,
    },
    /// The header has a `crit` member: no critical extension is understood, so the token
    /// must be refused (RFC 7515 §4.1.11).
    #[error("the header lists critical extensions, and none is supported")]
    CriticalHeader,
    /// No key with the token's `kid` is in the key set, even after the refetch allowed by
    /// the cooldown. Only after a fetch that succeeded: while fetches fail, an unknown
    /// `kid` is [`KeysUnavailable`](Self::KeysUnavailable).
    #[error("no published key has the id {kid:?}")]
    UnknownKey {
        /// The `kid`, cut to 64 characters.
        kid: String,
    },
    /// The RS256 signature does not verify with the key named by `kid`.
    #[error("the signature is not valid")]
    Signature,
    /// A required claim is missing.
    #[error("the claim {0:?} is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type (say, `exp` as a string).
    #[error("the claim {claim:?} should be {expected}")]
    ClaimType {
        /// The claim, as a dotted path (`account.bss`).
        claim: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `exp` is past (leeway included).
    #[error("the token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The validator's clock, in Unix seconds.
        now: i64,
    },
    /// `nbf` is still ahead (leeway included).
    #[error("the token is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The validator's clock.
        now: i64,
    },
    /// `iat` is in the future (leeway included).
    #[error("the token claims to be issued at {iat}, in the future (now {now})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: i64,
        /// The validator's clock.
        now: i64,
    },
    /// `iss` is not one of the accepted issuers.
    #[error("the issuer {found:?} is not accepted")]
    Issuer {
        /// The token's `iss`, cut to 128 characters.
        found: String,
    },
    /// `client_id` is not one of the configured ones.
    #[error("the client id {found:?} is not accepted")]
    ClientId {
        /// The token's `client_id` (`None` when absent).
        found: Option<String>,
    },
    /// `aud` names none of the configured audiences.
    #[error("the token is not meant for this audience")]
    Audience,
    /// `scope` lacks a required scope.
    #[error("the token's scope lacks {missing:?}")]
    Scope {
        /// The first required scope that is missing.
        missing: String,
    },
    /// `account.bss` is not one of the configured accounts.
    #[error("the account {found:?} is not accepted")]
    Account {
        /// The token's `account.bss` (`None` when absent).
        found: Option<String>,
    },
    /// The subject type (user, service ID, profile, CRN) is not one of the configured.
    #[error("subject type {found} is not accepted")]
    SubjectType {
        /// The token's subject type.
        found: String,
    },
    /// No usable key set: fetching the keys (or the discovery document) failed and no
    /// earlier keys are fresh enough to use, or the earlier keys lack the token's `kid`
    /// while fetches are failing (it may be a key IAM has just published). Transient:
    /// middleware answers 503, not 401.
    #[error("no usable IAM keys: {0}")]
    KeysUnavailable(#[source] Error),
    /// A blocking call from inside an async runtime, an async call without a Tokio
    /// runtime, or a runtime that shut down.
    #[error("runtime: {0}")]
    Runtime(String),
}

impl VerifyError {
    /// Whether the same token may pass later: only when the keys could not be fetched
    /// (or the runtime was missing). Every other error is a verdict on the token.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            VerifyError::KeysUnavailable(_) | VerifyError::Runtime(_)
        )
    }

    /// The transport or IAM error behind [`KeysUnavailable`](Self::KeysUnavailable).
    pub fn fetch_error(&self) -> Option<&Error> {
        match self {
            VerifyError::KeysUnavailable(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn malformed(part: Part, reason: &'static str) -> Self {
        VerifyError::Malformed { part, reason }
    }
}

/// At most `max` characters of `s`, for error messages about attacker-chosen text.
pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_bounds_attacker_text_on_char_boundaries() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("ééééé", 2), "éé…");
        assert_eq!(cut(&"x".repeat(10_000), 64).chars().count(), 65);
    }

    #[test]
    fn only_key_fetch_failures_are_transient() {
        assert!(VerifyError::KeysUnavailable(Error::Config("x".into())).is_transient());
        assert!(!VerifyError::Signature.is_transient());
        assert!(
            VerifyError::KeysUnavailable(Error::Config("x".into()))
                .fetch_error()
                .is_some()
        );
    }
}
