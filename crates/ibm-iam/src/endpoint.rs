//! IAM endpoints: production, staging, private, or any other base URL (the emulator).

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use crate::error::Error;

/// Which IAM an [`Endpoint`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointKind {
    /// `https://iam.cloud.ibm.com`.
    Production,
    /// `https://iam.test.cloud.ibm.com`.
    Staging,
    /// `https://private.iam.cloud.ibm.com` and the regional private hosts.
    Private,
    /// `https://private.iam.test.cloud.ibm.com`.
    PrivateStaging,
    /// Anything else: an emulator, a proxy, a future host.
    Custom,
}

/// An IAM base URL, normalised: no trailing `/`, no `/identity/token` or `/oidc/token`.
///
/// ```
/// use ibm_iam::Endpoint;
///
/// let e = Endpoint::parse("https://iam.cloud.ibm.com/identity/token").unwrap();
/// assert_eq!(e, Endpoint::production());
/// assert_eq!(e.token_url(), "https://iam.cloud.ibm.com/identity/token");
/// assert!(Endpoint::parse("http://iam.example.com").is_err(), "plain HTTP only to loopback");
/// assert!(Endpoint::parse("http://127.0.0.1:8999/").is_ok());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
    kind: EndpointKind,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.base)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl Default for Endpoint {
    fn default() -> Self {
        Self::production()
    }
}

/// Production's token issuer.
pub const PRODUCTION_ISSUER: &str = "https://iam.cloud.ibm.com/identity";
/// Staging's token issuer.
pub const STAGING_ISSUER: &str = "https://iam.test.cloud.ibm.com/identity";

impl Endpoint {
    /// Production IAM.
    pub fn production() -> Self {
        Self {
            base: "https://iam.cloud.ibm.com".into(),
            kind: EndpointKind::Production,
        }
    }

    /// Staging IAM.
    pub fn staging() -> Self {
        Self {
            base: "https://iam.test.cloud.ibm.com".into(),
            kind: EndpointKind::Staging,
        }
    }

    /// Production IAM over a private (VPC) endpoint.
    pub fn private() -> Self {
        Self {
            base: "https://private.iam.cloud.ibm.com".into(),
            kind: EndpointKind::Private,
        }
    }

    /// Staging IAM over a private endpoint.
    pub fn private_staging() -> Self {
        Self {
            base: "https://private.iam.test.cloud.ibm.com".into(),
            kind: EndpointKind::PrivateStaging,
        }
    }

    /// Parses and normalises a base URL. HTTPS is required except for loopback hosts
    /// (`127.0.0.1`, `::1`, `localhost`), where plain HTTP is allowed for the emulator.
    /// Credentials, queries and fragments in the URL are refused.
    pub fn parse(url: &str) -> Result<Self, Error> {
        // Errors show the URL without what may be a secret: credentials, query, fragment.
        let shown = redact(url);
        let bad = |why: &str| Error::Config(format!("IAM endpoint '{shown}' {why}"));
        let parsed = Url::parse(url.trim()).map_err(|e| bad(&format!("is not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| bad("has no host"))?
            .to_owned();
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&host) => {}
            "http" => {
                return Err(bad(
                    "must use https (plain http is allowed only for loopback hosts)",
                ));
            }
            other => return Err(bad(&format!("has unsupported scheme '{other}'"))),
        }
        let mut path = parsed.path().trim_end_matches('/').to_owned();
        for suffix in ["/identity/token", "/oidc/token", "/identity"] {
            if let Some(p) = path.strip_suffix(suffix) {
                path = p.trim_end_matches('/').to_owned();
                break;
            }
        }
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        let host_part = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let base = format!("{}://{}{}{}", parsed.scheme(), host_part, port, path);
        let kind = classify(parsed.scheme(), &host, parsed.port(), &path);
        Ok(Self { base, kind })
    }

    /// The normalised base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Which IAM this is.
    pub fn kind(&self) -> EndpointKind {
        self.kind
    }

    /// `{base}/identity/token`.
    pub fn token_url(&self) -> String {
        format!("{}/identity/token", self.base)
    }

    /// `{base}/identity/keys`.
    pub fn keys_url(&self) -> String {
        format!("{}/identity/keys", self.base)
    }

    /// `{base}/identity/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/identity/.well-known/openid-configuration", self.base)
    }

    /// `{base}{path}` for another IAM API path (starting with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The issuer IAM puts in tokens from this endpoint, when it is known without asking:
    /// production's for production and private production, staging's for staging.
    pub fn known_issuer(&self) -> Option<&'static str> {
        match self.kind {
            EndpointKind::Production | EndpointKind::Private => Some(PRODUCTION_ISSUER),
            EndpointKind::Staging | EndpointKind::PrivateStaging => Some(STAGING_ISSUER),
            EndpointKind::Custom => None,
        }
    }

    /// Whether the host is a loopback address (`localhost`, `127.0.0.0/8`, `::1`).
    pub fn is_loopback(&self) -> bool {
        Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(is_loopback))
            .unwrap_or(false)
    }
}

/// Which IAM a normalised URL is, by its host alone: one of IBM's, over HTTPS on the default
/// port with no path prefix; anything else is [`EndpointKind::Custom`] (and gets no known
/// issuer). The regional private hosts are `private.<region>.iam[.test].cloud.ibm.com`.
fn classify(scheme: &str, host: &str, port: Option<u16>, path: &str) -> EndpointKind {
    if scheme != "https" || port.is_some() || !path.is_empty() {
        return EndpointKind::Custom;
    }
    let host = host.to_ascii_lowercase();
    let private_under = |domain: &str| {
        host == format!("private.{domain}")
            || (host.starts_with("private.") && host.ends_with(&format!(".{domain}")))
    };
    match host.as_str() {
        "iam.cloud.ibm.com" => EndpointKind::Production,
        "iam.test.cloud.ibm.com" => EndpointKind::Staging,
        _ if private_under("iam.test.cloud.ibm.com") => EndpointKind::PrivateStaging,
        _ if private_under("iam.cloud.ibm.com") => EndpointKind::Private,
        _ => EndpointKind::Custom,
    }
}

/// `url` as text fit for an error message: anything before an `@` in it (user name and
/// password) and everything from the first `?` or `#` on (query and fragment, where an API
/// key might be) become `***`. Works on text that does not parse as a URL too.
fn redact(url: &str) -> String {
    let url = url.trim();
    let (head, tail) = match url.find(['?', '#']) {
        Some(i) => (&url[..i], "?***"),
        None => (url, ""),
    };
    let (scheme, rest) = match head.find("://") {
        Some(i) => head.split_at(i + 3),
        None => ("", head),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***@{}{tail}", &rest[at + 1..]),
        None => format!("{head}{tail}"),
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_suffixes_and_classifies() {
        for raw in [
            "https://iam.cloud.ibm.com",
            "https://iam.cloud.ibm.com/",
            "https://iam.cloud.ibm.com/identity/token",
            "https://iam.cloud.ibm.com/identity/token/",
            "https://iam.cloud.ibm.com/oidc/token",
            "https://iam.cloud.ibm.com/identity",
            " https://IAM.cloud.ibm.com ",
        ] {
            assert_eq!(
                Endpoint::parse(raw).expect(raw),
                Endpoint::production(),
                "{raw}"
            );
        }
        assert_eq!(
            Endpoint::parse("https://iam.test.cloud.ibm.com")
                .expect("staging")
                .kind(),
            EndpointKind::Staging
        );
        assert_eq!(
            Endpoint::parse("https://private.us-south.iam.cloud.ibm.com")
                .expect("private")
                .kind(),
            EndpointKind::Private
        );
        let emu = Endpoint::parse("http://127.0.0.1:8999/prefix/identity/token").expect("emulator");
        assert_eq!(emu.base(), "http://127.0.0.1:8999/prefix");
        assert_eq!(emu.kind(), EndpointKind::Custom);
        assert!(emu.is_loopback());
        assert_eq!(emu.known_issuer(), None);
        assert!(
            Endpoint::parse("http://[::1]:80")
                .expect("v6")
                .is_loopback()
        );
        assert!(Endpoint::parse("http://localhost:1").is_ok());
    }

    #[test]
    fn refuses_unsafe_urls() {
        for bad in [
            "http://iam.cloud.ibm.com",
            "ftp://iam.cloud.ibm.com",
            "https://user:pw@iam.cloud.ibm.com",
            "https://iam.cloud.ibm.com/?apikey=x",
            "not a url",
            "",
            "http://127.0.0.1.example.com",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn known_kinds_are_told_by_host_alone() {
        for (raw, kind) in [
            ("https://private.iam.cloud.ibm.com", EndpointKind::Private),
            (
                "https://private.eu-de.iam.cloud.ibm.com/",
                EndpointKind::Private,
            ),
            (
                "https://private.iam.test.cloud.ibm.com",
                EndpointKind::PrivateStaging,
            ),
            (
                "https://private.us-south.iam.test.cloud.ibm.com",
                EndpointKind::PrivateStaging,
            ),
            // The IBM host name in a path, a look-alike host, a port, a prefix: custom.
            (
                "https://private.evil.example/iam.cloud.ibm.com",
                EndpointKind::Custom,
            ),
            (
                "https://private.evil.example/x/iam.cloud.ibm.com/identity/token",
                EndpointKind::Custom,
            ),
            (
                "https://private.evil-iam.cloud.ibm.com",
                EndpointKind::Custom,
            ),
            ("https://privateiam.cloud.ibm.com", EndpointKind::Custom),
            (
                "https://evil.example/iam.cloud.ibm.com",
                EndpointKind::Custom,
            ),
            ("https://iam.cloud.ibm.com:8443", EndpointKind::Custom),
            (
                "https://private.iam.cloud.ibm.com/proxy",
                EndpointKind::Custom,
            ),
            (
                "https://iam.cloud.ibm.com.evil.example",
                EndpointKind::Custom,
            ),
        ] {
            let e = Endpoint::parse(raw).expect(raw);
            assert_eq!(e.kind(), kind, "{raw}");
            if kind == EndpointKind::Custom {
                assert_eq!(e.known_issuer(), None, "{raw}");
            }
        }
        assert_eq!(
            Endpoint::parse("https://private.evil.example/iam.cloud.ibm.com")
                .expect("parses")
                .known_issuer(),
            None,
            "no production issuer for a look-alike"
        );
    }

    #[test]
    fn errors_never_echo_credentials_or_queries() {
        for (raw, secret) in [
            ("https://user:hunter2@iam.cloud.ibm.com", "hunter2"),
            (
                "https://apikey-hunter2@iam.cloud.ibm.com/identity",
                "hunter2",
            ),
            ("http://u:hunter2@iam.example.com", "hunter2"),
            ("https://iam.cloud.ibm.com/?apikey=hunter2", "hunter2"),
            (
                "https://iam.cloud.ibm.com/identity/token#hunter2",
                "hunter2",
            ),
            ("ftp://iam.cloud.ibm.com/?apikey=hunter2", "hunter2"),
            ("https://u:hunt/er2@host", "hunt/er2"),
            ("not a url?apikey=hunter2", "hunter2"),
            ("user:hunter2@iam.cloud.ibm.com", "hunter2"),
        ] {
            let err = Endpoint::parse(raw).expect_err(raw).to_string();
            assert!(!err.contains(secret), "{raw}: {err}");
        }
        assert_eq!(
            redact("https://u:p@iam.cloud.ibm.com/x?apikey=k#f"),
            "https://***@iam.cloud.ibm.com/x?***"
        );
        assert_eq!(redact("http://127.0.0.1:9/a"), "http://127.0.0.1:9/a");
    }
}
