//! How the client talks HTTP: timeouts, trust, proxies, user agent.

use std::time::Duration;

use crate::error::Error;

/// HTTP settings for IAM calls.
///
/// Defaults: 10 s to connect, 30 s per request, the system's trusted roots, proxies from
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`, no redirects (a redirect could carry a form with
/// an API key to another host), TLS verification on.
///
/// ```
/// use std::time::Duration;
/// use ibm_iam::HttpConfig;
///
/// let http = HttpConfig::default().request_timeout(Duration::from_secs(5));
/// let client = http.build_client().unwrap();
/// # drop(client);
/// ```
#[derive(Clone)]
pub struct HttpConfig {
    connect_timeout: Duration,
    request_timeout: Duration,
    extra_roots_pem: Vec<Vec<u8>>,
    danger_accept_invalid_certs: bool,
    user_agent: String,
    client: Option<reqwest::Client>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("extra_roots", &self.extra_roots_pem.len())
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("user_agent", &self.user_agent)
            .field("custom_client", &self.client.is_some())
            .finish()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            extra_roots_pem: Vec::new(),
            danger_accept_invalid_certs: false,
            user_agent: format!("ibm-iam-rust/{}", env!("CARGO_PKG_VERSION")),
            client: None,
        }
    }
}

impl HttpConfig {
    /// Time allowed to establish a connection.
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Time allowed for one request, from sending to the end of the answer.
    #[must_use]
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// The per-request timeout.
    pub fn get_request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Also trust the CA certificates in this PEM bundle (e.g. a corporate proxy's, or the
    /// emulator's).
    #[must_use]
    pub fn add_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Turns TLS certificate verification off. Anyone on the network path can then read
    /// and change the traffic, API keys included; a warning is logged when the client is
    /// built. Only for test setups that cannot install a CA.
    #[must_use]
    pub fn danger_accept_invalid_certs(mut self, on: bool) -> Self {
        self.danger_accept_invalid_certs = on;
        self
    }

    /// Appends a product token to the `User-Agent` (`ibm-iam-rust/<version> <yours>`).
    #[must_use]
    pub fn user_agent_suffix(mut self, suffix: &str) -> Self {
        self.user_agent = format!("ibm-iam-rust/{} {suffix}", env!("CARGO_PKG_VERSION"));
        self
    }

    /// Uses this client as is (its own timeouts, trust and proxies); the other settings
    /// except `request_timeout` are then ignored. The token manager sets `request_timeout`
    /// on each of its requests, so it bounds them even on a client built without a timeout.
    #[must_use]
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the client.
    pub fn build_client(&self) -> Result<reqwest::Client, Error> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(self.user_agent.clone())
            .https_only(false);
        if !self.extra_roots_pem.is_empty() {
            let mut certs = Vec::new();
            for pem in &self.extra_roots_pem {
                let found = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| Error::Config(format!("the CA bundle is not valid PEM: {e}")))?;
                if found.is_empty() {
                    return Err(Error::Config("the CA bundle holds no certificate".into()));
                }
                certs.extend(found);
            }
            b = b.tls_certs_merge(certs);
        }
        if self.danger_accept_invalid_certs {
            tracing::warn!(
                "TLS certificate verification is OFF for IAM calls: anyone on the network path can read and change them"
            );
            b = b.tls_danger_accept_invalid_certs(true);
        }
        b.build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
    }
}
