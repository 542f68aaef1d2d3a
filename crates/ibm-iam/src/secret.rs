//! Secrets as types: API keys, client secrets, access and refresh tokens.
//!
//! None of them implements `Display`; `Debug` prints a redaction marker; the bytes are
//! zeroed when the last owner drops them. Read the value with `expose_secret()` at the one
//! place that must send it.

use std::fmt;
use std::sync::Arc;

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
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Box<str>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into_boxed_str())
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

struct Zeroed(String);

impl Drop for Zeroed {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// An IAM access token: cheap to clone (shared), redacted in `Debug`, zeroed when the last
/// clone drops.
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
        Self(Arc::new(Zeroed(value.into())))
    }

    /// The token itself.
    pub fn expose_secret(&self) -> &str {
        &self.0.0
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
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.same_as(other) || self.expose_secret() == other.expose_secret()
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
    fn a_token_with_bad_header_characters_gives_an_empty_header() {
        assert_eq!(AccessToken::new("bad\ntoken").bearer_header(), "");
    }
}
