//! Building a [`TokenManager`]: every source and setting, validated at `build()`.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::cache::Lifecycle;
use super::refresh::{Control, RetryPolicy};
use super::source::{ContainerAuth, Profile, Source};
use super::{Inner, TokenManager};
use crate::clock::{Clock, SystemClock};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::http::HttpConfig;
use crate::secret::{AccessToken, SecretString};

enum SourceChoice {
    None,
    ApiKey(SecretString),
    RefreshToken(SecretString),
    Container(ContainerAuth),
    Assume(TokenManager, Profile),
    Static(AccessToken),
}

/// Configures a [`TokenManager`]. Nothing is checked or sent until [`build`](Self::build),
/// which returns an error (never panics) for an invalid combination.
///
/// ```
/// use ibm_iam::{Endpoint, TokenManager};
///
/// let tm = TokenManager::builder()
///     .api_key("my-api-key")
///     .endpoint(Endpoint::staging())
///     .scope("ibm openid")
///     .build()
///     .unwrap();
/// # drop(tm);
/// ```
pub struct TokenManagerBuilder {
    source: SourceChoice,
    endpoint: Result<Endpoint, Error>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    scope: Option<String>,
    headers: Vec<(String, String)>,
    http: HttpConfig,
    clock: Arc<dyn Clock>,
    lifecycle: Lifecycle,
    retry: RetryPolicy,
}

impl std::fmt::Debug for TokenManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .finish_non_exhaustive()
    }
}

impl Default for TokenManagerBuilder {
    fn default() -> Self {
        Self {
            source: SourceChoice::None,
            endpoint: Ok(Endpoint::production()),
            client_id: None,
            client_secret: None,
            scope: None,
            headers: Vec::new(),
            http: HttpConfig::default(),
            clock: Arc::new(SystemClock),
            lifecycle: Lifecycle::default(),
            retry: RetryPolicy::default(),
        }
    }
}

impl TokenManagerBuilder {
    /// Exchange an API key (`urn:ibm:params:oauth:grant-type:apikey`).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.source = SourceChoice::ApiKey(SecretString::new(key));
        self
    }

    /// Exchange a refresh token (needs the client credentials it was issued to). IAM may
    /// return a new refresh token each time; the newest is kept.
    #[must_use]
    pub fn refresh_token(mut self, token: impl Into<String>) -> Self {
        self.source = SourceChoice::RefreshToken(SecretString::new(token));
        self
    }

    /// Log in as a trusted profile with a compute-resource token read from a file at every
    /// exchange (it rotates).
    #[must_use]
    pub fn container(mut self, auth: ContainerAuth) -> Self {
        self.source = SourceChoice::Container(auth);
        self
    }

    /// Assume a trusted profile with the tokens of another manager (IBM's "iamAssume").
    #[must_use]
    pub fn assume(mut self, delegate: TokenManager, profile: Profile) -> Self {
        self.source = SourceChoice::Assume(delegate, profile);
        self
    }

    /// Serve a fixed bearer token (no exchange, no refresh).
    #[must_use]
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.source = SourceChoice::Static(AccessToken::new(token));
        self
    }

    /// The IAM endpoint (production by default).
    #[must_use]
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Ok(endpoint);
        self
    }

    /// The IAM endpoint as a URL; a trailing `/` or `/identity/token` is removed.
    #[must_use]
    pub fn endpoint_url(mut self, url: &str) -> Self {
        self.endpoint = Endpoint::parse(url);
        self
    }

    /// Client credentials, sent as Basic authentication (both or neither).
    #[must_use]
    pub fn client_credentials(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self.client_secret = Some(SecretString::new(secret));
        self
    }

    /// The `scope` form parameter (space-separated).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// An extra header on every token request.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// HTTP settings (timeouts, CA bundle, a client of your own).
    #[must_use]
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }

    /// The clock (tests use [`crate::clock::ManualClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// When to refresh and when to stop serving a token.
    #[must_use]
    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    /// How to retry.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Validates everything and builds the manager. Sends nothing and needs no runtime.
    pub fn build(self) -> Result<TokenManager, Error> {
        let endpoint = self.endpoint?;
        let source = match self.source {
            SourceChoice::None => {
                return Err(Error::Config(
                    "no credentials: call api_key, refresh_token, container, assume or bearer_token".into(),
                ));
            }
            SourceChoice::ApiKey(k) => {
                check_secret("API key", k.expose_secret())?;
                Source::ApiKey(SecretString::new(k.expose_secret().trim()))
            }
            SourceChoice::RefreshToken(t) => {
                check_secret("refresh token", t.expose_secret())?;
                if self.client_id.is_none() {
                    return Err(Error::Config(
                        "a refresh token can be used only with the client credentials it was issued to: set client_credentials".into(),
                    ));
                }
                Source::RefreshToken(Mutex::new(t))
            }
            SourceChoice::Container(c) => {
                if c.profile_id.is_none() && c.profile_name.is_none() && c.profile_crn.is_none() {
                    return Err(Error::Config(
                        "the container source needs a trusted profile: profile_id, profile_name or profile_crn".into(),
                    ));
                }
                Source::Container(c)
            }
            SourceChoice::Assume(d, p) => {
                if let Profile::Name { name, account_id } = &p
                    && (name.is_empty() || account_id.is_empty())
                {
                    return Err(Error::Config(
                        "assuming a profile by name needs the name and its account id".into(),
                    ));
                }
                Source::Assume {
                    delegate: d,
                    profile: p,
                }
            }
            SourceChoice::Static(t) => {
                check_secret("bearer token", t.expose_secret())?;
                Source::Static(t)
            }
        };
        let client_credentials = match (self.client_id, self.client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some((id, secret)),
            (None, None) => None,
            _ => {
                return Err(Error::Config(
                    "client id and client secret go together: set both or neither".into(),
                ));
            }
        };
        if let Some(s) = &self.scope
            && (s.trim().is_empty() || s.chars().any(char::is_control))
        {
            return Err(Error::Config(
                "the scope must be non-empty printable text".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::Config(format!("'{k}' is not a valid header name")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| Error::Config(format!("the value of header '{k}' is not valid")))?;
            headers.append(name, value);
        }
        let lc = self.lifecycle;
        if !(lc.refresh_fraction > 0.0
            && lc.refresh_fraction <= 1.0
            && (0.0..=0.5).contains(&lc.jitter_fraction))
        {
            return Err(Error::Config(
                "refresh_fraction must be in (0, 1] and jitter_fraction in [0, 0.5]".into(),
            ));
        }
        if lc.expiry_window >= super::MAX_TOKEN_LIFETIME {
            return Err(Error::Config(
                "expiry_window must be shorter than MAX_TOKEN_LIFETIME".into(),
            ));
        }
        self.retry.validate()?;
        Ok(TokenManager {
            inner: Arc::new(Inner {
                source,
                endpoint,
                http: self.http.build_client()?,
                request_timeout: self.http.get_request_timeout(),
                client_credentials,
                scope: self.scope,
                headers,
                clock: self.clock,
                lifecycle: lc,
                retry: self.retry,
                cache: ArcSwapOption::empty(),
                generation: AtomicU64::new(super::local::next_generation()),
                control: Mutex::new(Control::default()),
            }),
        })
    }
}

/// IBM's SDKs refuse secrets wrapped in braces or quotes (a copy-paste accident).
fn check_secret(what: &str, value: &str) -> Result<(), Error> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::Config(format!("the {what} is empty")));
    }
    let bad = |c: char| matches!(c, '{' | '}' | '"');
    if v.starts_with(bad) || v.ends_with(bad) {
        return Err(Error::Config(format!(
            "the {what} starts or ends with a brace or quote; remove them (copied from JSON?)"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "the {what} contains control characters"
        )));
    }
    Ok(())
}

impl ContainerAuth {
    /// A container source for a profile id.
    pub fn profile_id(id: impl Into<String>) -> Self {
        Self {
            profile_id: Some(id.into()),
            ..Self::default()
        }
    }

    /// A container source for a profile name.
    pub fn profile_name(name: impl Into<String>) -> Self {
        Self {
            profile_name: Some(name.into()),
            ..Self::default()
        }
    }

    /// A container source for a profile CRN.
    pub fn profile_crn(crn: impl Into<String>) -> Self {
        Self {
            profile_crn: Some(crn.into()),
            ..Self::default()
        }
    }

    /// Reads the CR token from this file instead of IBM's default paths.
    #[must_use]
    pub fn cr_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cr_token_file = Some(path.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::retry::Backoff;
    use std::time::Duration;

    #[test]
    fn invalid_combinations_are_errors_not_panics() {
        let cases: Vec<(TokenManagerBuilder, &str)> = vec![
            (TokenManager::builder(), "no credentials"),
            (TokenManager::builder().api_key(""), "empty"),
            (TokenManager::builder().api_key("\"quoted-key\""), "quote"),
            (
                TokenManager::builder()
                    .api_key("k")
                    .endpoint_url("http://iam.example.com"),
                "https",
            ),
            (
                TokenManager::builder().refresh_token("rt"),
                "client credentials",
            ),
            (
                TokenManager::builder()
                    .api_key("k")
                    .client_credentials("id", ""),
                "both or neither",
            ),
            (
                TokenManager::builder().container(ContainerAuth::default()),
                "trusted profile",
            ),
            (
                TokenManager::builder()
                    .api_key("k")
                    .header("bad header", "v"),
                "header name",
            ),
            (TokenManager::builder().api_key("k").scope(" "), "scope"),
            (
                TokenManager::builder().api_key("k").lifecycle(Lifecycle {
                    refresh_fraction: 1.5,
                    ..Lifecycle::default()
                }),
                "refresh_fraction",
            ),
        ];
        let retry = |r: RetryPolicy| TokenManager::builder().api_key("k").retry(r);
        let d = RetryPolicy::default();
        let huge = Duration::MAX;
        let more: Vec<(TokenManagerBuilder, &str)> = vec![
            (
                retry(RetryPolicy {
                    max_attempts: 0,
                    ..d
                }),
                "max_attempts",
            ),
            (
                retry(RetryPolicy {
                    spread_fraction: f64::NAN,
                    ..d
                }),
                "spread_fraction",
            ),
            (
                retry(RetryPolicy {
                    spread_fraction: -0.5,
                    ..d
                }),
                "spread_fraction",
            ),
            (
                retry(RetryPolicy {
                    spread_fraction: f64::INFINITY,
                    ..d
                }),
                "spread_fraction",
            ),
            (
                retry(RetryPolicy {
                    min_interval: huge,
                    ..d
                }),
                "min_interval",
            ),
            (
                retry(RetryPolicy {
                    deadline: huge,
                    ..d
                }),
                "deadline",
            ),
            (
                retry(RetryPolicy {
                    deadline: Duration::ZERO,
                    ..d
                }),
                "deadline",
            ),
            (
                retry(RetryPolicy {
                    failure_backoff: Backoff {
                        base: huge,
                        max: huge,
                    },
                    ..d
                }),
                "failure_backoff",
            ),
            (
                retry(RetryPolicy {
                    retry_backoff: Backoff {
                        base: Duration::from_secs(10),
                        max: Duration::from_secs(1),
                    },
                    ..d
                }),
                "retry_backoff",
            ),
            (
                TokenManager::builder().api_key("k").lifecycle(Lifecycle {
                    expiry_window: huge,
                    ..Lifecycle::default()
                }),
                "expiry_window",
            ),
        ];
        for (b, needle) in cases.into_iter().chain(more) {
            let err = b.build().expect_err(needle).to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert!(TokenManager::new("  my-key  ").is_ok());
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let tm = TokenManager::builder()
            .api_key("super-secret-api-key")
            .client_credentials("id", "super-secret-client")
            .build()
            .expect("build");
        let text = format!("{tm:?}");
        assert!(!text.contains("super-secret"), "{text}");
    }
}
