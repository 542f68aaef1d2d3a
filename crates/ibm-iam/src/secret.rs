//! Secrets as types: API keys, client secrets, access and refresh tokens.
//!
//! None of them implements `Display`; `Debug` prints a redaction marker; the bytes are
//! zeroed when the last owner drops them. Read the value with `expose_secret()` at the one
//! place that must send it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroize;

/// A secret string: an API key, a client secret, a password, a refresh token.
///
/// ```
/// use ibm_iam::SecretString;
///
/// let key = SecretString::new("my-api-key");
/// assert_eq!(format!("{key:?}"), "SecretString(\"***\")");
/// assert_eq!(key.expose_secret(), "my-api-key");
/// ```
///
/// Equality takes the same time whatever the contents (for secrets of the same length).
#[derive(Clone)]
pub struct SecretString(Box<str>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        let mut s: String = value.into();
        if s.len() == s.capacity() {
            return Self(s.into_boxed_str());
        }
        // Shrinking would reallocate and free the old bytes unzeroed: copy, then zero.
        let exact: Box<str> = s.as_str().into();
        s.zeroize();
        Self(exact)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for SecretString {}

/// Compares two byte strings in a time that depends on their lengths only, not on where
/// they differ (aws-lc's `CRYPTO_memcmp`).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(\"***\")")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        // Clear the bytes before the allocation is freed (no reallocation on the way).
        let mut s = std::mem::take(&mut self.0).into_string();
        s.zeroize();
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// A token's text (zeroed on drop) and its issuance: a number unique to the
/// [`AccessToken::new`] it came from, shared by its clones and by the per-thread copies a
/// token manager hands out, so that [`AccessToken::same_as`] holds across them.
struct Zeroed {
    text: String,
    issue: u64,
}

impl Drop for Zeroed {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

static ISSUES: AtomicU64 = AtomicU64::new(0);

/// An IAM access token: cheap to clone (shared), redacted in `Debug`, zeroed when the last
/// clone drops. A [`crate::TokenManager`] hands each thread that reads it its own copy of
/// the cached token (so that readers on many threads do not contend on one reference
/// count); the copies are the same token for [`AccessToken::same_as`] and `==`.
///
/// ```
/// use ibm_iam::AccessToken;
///
/// let token = AccessToken::new("eyJhbGciOi...");
/// assert_eq!(format!("{token:?}"), "AccessToken(\"***\")");
/// assert_eq!(token.bearer_header().to_str().ok(), Some("Bearer eyJhbGciOi..."));
/// assert!(token.bearer_header().is_sensitive());
/// ```
#[derive(Clone)]
pub struct AccessToken(Arc<Zeroed>);

impl AccessToken {
    /// Wraps a token.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::new(Zeroed {
            text: value.into(),
            issue: ISSUES.fetch_add(1, Ordering::Relaxed),
        }))
    }

    /// A copy of the token in memory of its own (its own reference count), the same token
    /// for [`Self::same_as`].
    pub(crate) fn copy_for_thread(&self) -> Self {
        Self(Arc::new(Zeroed {
            text: self.0.text.clone(),
            issue: self.0.issue,
        }))
    }

    /// The token itself.
    pub fn expose_secret(&self) -> &str {
        &self.0.text
    }

    /// `Bearer <token>` as a header value marked sensitive (so HTTP stacks do not log it).
    /// A token with characters not allowed in a header yields an empty value.
    pub fn bearer_header(&self) -> http::HeaderValue {
        let mut v = http::HeaderValue::from_str(&format!("Bearer {}", self.expose_secret()))
            .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        v.set_sensitive(true);
        v
    }

    /// Whether two handles share the same token (same issuance, not just equal text).
    pub fn same_as(&self, other: &AccessToken) -> bool {
        self.0.issue == other.0.issue
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other)
            || constant_time_eq(
                self.expose_secret().as_bytes(),
                other.expose_secret().as_bytes(),
            )
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(\"***\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = SecretString::new("hunter2-api-key");
        let t = AccessToken::new("eyJsecret.payload.sig");
        let shown = format!("{s:?} {t:?} {:#?} {:#?}", s, t);
        assert!(
            !shown.contains("hunter2") && !shown.contains("eyJsecret"),
            "{shown}"
        );
        assert_eq!(t.clone(), t);
        assert!(t.same_as(&t.clone()));
        assert!(!t.same_as(&AccessToken::new("eyJsecret.payload.sig")));
        assert_eq!(t, AccessToken::new("eyJsecret.payload.sig"));
    }

    #[test]
    fn equality_compares_every_byte_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert_eq!(SecretString::new("k"), SecretString::new(String::from("k")));
        assert_ne!(SecretString::new("k1"), SecretString::new("k2"));
        let mut spare = String::with_capacity(64);
        spare.push_str("spare-capacity");
        let s = SecretString::new(spare);
        assert_eq!(s.expose_secret(), "spare-capacity");
        assert_eq!(s, SecretString::new("spare-capacity"));
    }

    #[test]
    fn a_token_with_bad_header_characters_gives_an_empty_header() {
        assert_eq!(AccessToken::new("bad\ntoken").bearer_header(), "");
    }
}
