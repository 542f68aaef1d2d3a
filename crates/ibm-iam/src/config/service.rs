//! `<SERVICE>_*` properties from the credentials file, the environment, or `VCAP_SERVICES`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::http::HttpConfig;
use crate::token::{ContainerAuth, Profile, TokenManager, TokenManagerBuilder};

/// The authentication types IBM's SDKs name in `<SERVICE>_AUTH_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthType {
    /// `iam`: an API key (or a refresh token).
    Iam,
    /// `container`: a compute-resource token file and a trusted profile.
    Container,
    /// `iamAssume`: an API key, then assume a trusted profile.
    IamAssume,
    /// `bearerToken`: a fixed token.
    BearerToken,
}

/// The properties of one service, without the prefix (`APIKEY`, `AUTH_URL`, …).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    service: String,
    source: String,
    props: BTreeMap<String, String>,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Property names only: values hold secrets.
        f.debug_struct("ServiceConfig")
            .field("service", &self.service)
            .field("source", &self.source)
            .field("keys", &self.props.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where to look, for tests and unusual setups; [`ServiceConfig::from_environment`] uses
/// the process's own.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// Environment variables.
    pub vars: Vec<(String, String)>,
    /// The working directory (for `./ibm-credentials.env`).
    pub cwd: Option<PathBuf>,
    /// The home directory (for `~/ibm-credentials.env`).
    pub home: Option<PathBuf>,
}

impl Lookup {
    /// The process's environment, working directory and home.
    pub fn process() -> Self {
        Self {
            vars: std::env::vars().collect(),
            cwd: std::env::current_dir().ok(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn prefix_of(service: &str) -> String {
    format!("{}_", service.trim().to_ascii_uppercase().replace('-', "_"))
}

fn properties<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    prefix: &str,
) -> BTreeMap<String, String> {
    pairs
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(prefix)?;
            (!rest.is_empty()).then(|| (rest.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// `KEY=VALUE` lines; blank lines and `#` comments skipped; the value is everything after
/// the first `=`, trimmed.
fn parse_credentials_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn vcap(json: &str, service: &str) -> BTreeMap<String, String> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return BTreeMap::new();
    };
    let Some(map) = v.as_object() else {
        return BTreeMap::new();
    };
    // An entry under the service's key, else any entry whose `name` is the service.
    let entries = map
        .get(service)
        .and_then(|e| e.as_array())
        .and_then(|a| a.first())
        .or_else(|| {
            map.values()
                .filter_map(|e| e.as_array())
                .flatten()
                .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(service))
        });
    let Some(creds) = entries.and_then(|e| e.get("credentials")) else {
        return BTreeMap::new();
    };
    let s = |k: &str| creds.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut props = BTreeMap::new();
    if let Some(key) = s("apikey").or_else(|| s("iam_apikey")) {
        props.insert("APIKEY".into(), key);
        props.insert("AUTH_TYPE".into(), "iam".into());
    }
    if let Some(url) = s("url") {
        props.insert("URL".into(), url);
    }
    props
}

impl ServiceConfig {
    /// The service's properties from the process's environment; `Ok(None)` when no source
    /// has any.
    pub fn from_environment(service: &str) -> Result<Option<Self>, Error> {
        Self::load(service, &Lookup::process())
    }

    /// The same from an explicit [`Lookup`].
    pub fn load(service: &str, lookup: &Lookup) -> Result<Option<Self>, Error> {
        if service.trim().is_empty() {
            return Err(Error::Config("the service name is empty".into()));
        }
        let prefix = prefix_of(service);
        let file = match lookup.var("IBM_CREDENTIALS_FILE").filter(|v| !v.is_empty()) {
            Some(p) => Some(PathBuf::from(p)),
            None => [lookup.cwd.as_deref(), lookup.home.as_deref()]
                .into_iter()
                .flatten()
                .map(|d| d.join("ibm-credentials.env"))
                .find(|p| p.is_file()),
        };
        let file = match file {
            Some(path) => Some((path.display().to_string(), read(&path)?)),
            None => None,
        };
        Ok(Self::resolve(service, &prefix, file, lookup))
    }

    /// The first source that has properties for `prefix`: the credentials file's text (with
    /// its path), then the variables, then `VCAP_SERVICES`.
    fn resolve(
        service: &str,
        prefix: &str,
        file: Option<(String, String)>,
        lookup: &Lookup,
    ) -> Option<Self> {
        if let Some((path, text)) = file {
            let pairs = parse_credentials_file(&text);
            let props = properties(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), prefix);
            if !props.is_empty() {
                return Some(Self {
                    service: service.into(),
                    source: path,
                    props,
                });
            }
        }
        let props = properties(
            lookup.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            prefix,
        );
        if !props.is_empty() {
            return Some(Self {
                service: service.into(),
                source: "environment".into(),
                props,
            });
        }
        let props = vcap(lookup.var("VCAP_SERVICES")?, service);
        (!props.is_empty()).then(|| Self {
            service: service.into(),
            source: "VCAP_SERVICES".into(),
            props,
        })
    }

    /// A property (without the prefix), e.g. `get("APIKEY")`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Where the properties came from (a file path, `environment` or `VCAP_SERVICES`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `AUTH_TYPE` (or `AUTHTYPE`), case-insensitive; when absent, `iam` if an API key is
    /// set, else `container`, as IBM's SDKs decide.
    pub fn auth_type(&self) -> Result<AuthType, Error> {
        let raw = self.get("AUTH_TYPE").or_else(|| self.get("AUTHTYPE"));
        match raw.map(str::to_ascii_lowercase).as_deref() {
            None if self.get("APIKEY").is_some() => Ok(AuthType::Iam),
            None => Ok(AuthType::Container),
            Some("iam") => Ok(AuthType::Iam),
            Some("container") => Ok(AuthType::Container),
            Some("iamassume") => Ok(AuthType::IamAssume),
            Some("bearertoken") => Ok(AuthType::BearerToken),
            Some(other) => Err(Error::Config(format!(
                "{}AUTH_TYPE '{other}' is not supported here (iam, container, iamAssume, bearerToken are)",
                prefix_of(&self.service)
            ))),
        }
    }

    fn require(&self, key: &str) -> Result<&str, Error> {
        self.get(key).ok_or_else(|| {
            Error::Config(format!(
                "{}{key} is not set (read from {})",
                prefix_of(&self.service),
                self.source
            ))
        })
    }

    fn common(&self, mut b: TokenManagerBuilder) -> Result<TokenManagerBuilder, Error> {
        if let Some(url) = self.get("AUTH_URL") {
            b = b.endpoint_url(url);
        }
        match (self.get("CLIENT_ID"), self.get("CLIENT_SECRET")) {
            (Some(id), Some(secret)) => b = b.client_credentials(id, secret),
            (None, None) => {}
            _ => {
                return Err(Error::Config(format!(
                    "{p}CLIENT_ID and {p}CLIENT_SECRET go together",
                    p = prefix_of(&self.service)
                )));
            }
        }
        if let Some(scope) = self.get("SCOPE") {
            b = b.scope(scope);
        }
        if self.disable_ssl() {
            b = b.http(HttpConfig::default().danger_accept_invalid_certs(true));
        }
        Ok(b)
    }

    /// `AUTH_DISABLE_SSL`, read as IBM's Go core reads it (`strconv.ParseBool`): `1`, `t`,
    /// `T`, `TRUE`, `true` and `True` turn verification off; anything else (`false`, `yes`,
    /// `tRuE`, …) leaves it on. The token manager built from these properties follows it;
    /// other clients of the same endpoint should too.
    ///
    /// ```
    /// use ibm_iam::config::{Lookup, ServiceConfig};
    /// let env = Lookup {
    ///     vars: vec![
    ///         ("BOOKS_APIKEY".into(), "k".into()),
    ///         ("BOOKS_AUTH_DISABLE_SSL".into(), "1".into()),
    ///     ],
    ///     ..Lookup::default()
    /// };
    /// let cfg = ServiceConfig::load("books", &env)?.expect("configured");
    /// assert!(cfg.disable_ssl());
    /// # Ok::<(), ibm_iam::Error>(())
    /// ```
    pub fn disable_ssl(&self) -> bool {
        self.get("AUTH_DISABLE_SSL").is_some_and(parse_bool_like_go)
    }

    /// A token-manager builder for these properties (further settings can be added).
    pub fn token_manager_builder(&self) -> Result<TokenManagerBuilder, Error> {
        match self.auth_type()? {
            AuthType::Iam => {
                let b = if let Some(key) = self.get("APIKEY") {
                    TokenManager::builder().api_key(key)
                } else {
                    TokenManager::builder().refresh_token(self.require("REFRESH_TOKEN")?)
                };
                self.common(b)
            }
            AuthType::Container => {
                let auth = ContainerAuth {
                    cr_token_file: self.get("CR_TOKEN_FILENAME").map(PathBuf::from),
                    profile_id: self.get("IAM_PROFILE_ID").map(str::to_owned),
                    profile_name: self.get("IAM_PROFILE_NAME").map(str::to_owned),
                    profile_crn: self.get("IAM_PROFILE_CRN").map(str::to_owned),
                };
                self.common(TokenManager::builder().container(auth))
            }
            AuthType::IamAssume => {
                let delegate = self
                    .common(TokenManager::builder().api_key(self.require("APIKEY")?))?
                    .build()?;
                let profile = match (
                    self.get("IAM_PROFILE_ID"),
                    self.get("IAM_PROFILE_CRN"),
                    self.get("IAM_PROFILE_NAME"),
                ) {
                    (Some(id), None, None) => Profile::Id(id.into()),
                    (None, Some(crn), None) => Profile::Crn(crn.into()),
                    (None, None, Some(name)) => Profile::Name {
                        name: name.into(),
                        account_id: self.require("IAM_ACCOUNT_ID")?.into(),
                    },
                    _ => {
                        return Err(Error::Config(format!(
                            "iamAssume needs exactly one of {p}IAM_PROFILE_ID, {p}IAM_PROFILE_CRN or {p}IAM_PROFILE_NAME",
                            p = prefix_of(&self.service)
                        )));
                    }
                };
                let mut b = TokenManager::builder().assume(delegate, profile);
                if let Some(url) = self.get("AUTH_URL") {
                    b = b.endpoint_url(url);
                }
                if self.disable_ssl() {
                    b = b.http(HttpConfig::default().danger_accept_invalid_certs(true));
                }
                Ok(b)
            }
            AuthType::BearerToken => {
                Ok(TokenManager::builder().bearer_token(self.require("BEARER_TOKEN")?))
            }
        }
    }

    /// A token manager for these properties.
    pub fn token_manager(&self) -> Result<TokenManager, Error> {
        self.token_manager_builder()?.build()
    }
}

/// Entry points for the fuzz targets in `fuzz/`: not a stable API.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::{Lookup, ServiceConfig, prefix_of};

    /// The properties of `service` from a credentials file's text, environment variables
    /// and `VCAP_SERVICES` (among `vars`), in IBM's order, exactly as
    /// [`ServiceConfig::load`] reads them once the file is read.
    pub fn resolve(
        service: &str,
        file_text: Option<&str>,
        vars: Vec<(String, String)>,
    ) -> Option<ServiceConfig> {
        if service.trim().is_empty() {
            return None;
        }
        let lookup = Lookup {
            vars,
            cwd: None,
            home: None,
        };
        let file = file_text.map(|t| ("ibm-credentials.env".to_owned(), t.to_owned()));
        ServiceConfig::resolve(service, &prefix_of(service), file, &lookup)
    }
}

/// Go's `strconv.ParseBool` true values; everything else (its false values and its errors)
/// is false, as IBM's Go core treats a value it cannot parse.
fn parse_bool_like_go(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::CredentialFile {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn booleans_are_read_as_gos_parse_bool_reads_them() {
        for v in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(parse_bool_like_go(v), "{v}");
        }
        for v in [
            "0", "f", "F", "FALSE", "false", "False", "", "yes", "on", "tRuE", "2",
        ] {
            assert!(!parse_bool_like_go(v), "{v}");
        }
    }

    #[test]
    fn prefix_is_matched_on_its_underscore_boundary() {
        let lookup = Lookup {
            vars: vars(&[
                ("MY_SERVICE_APIKEY", "right"),
                ("MY_SERVICEX_APIKEY", "wrong"),
                ("MY_SERVICE_AUTH_URL", "http://127.0.0.1:9/identity/token"),
            ]),
            ..Lookup::default()
        };
        let c = ServiceConfig::load("my-service", &lookup)
            .expect("ok")
            .expect("found");
        assert_eq!(c.get("APIKEY"), Some("right"));
        assert_eq!(c.source(), "environment");
        assert_eq!(c.auth_type().expect("type"), AuthType::Iam);
        let tm = c.token_manager().expect("manager");
        assert_eq!(tm.endpoint().base(), "http://127.0.0.1:9");
        assert!(
            !format!("{c:?}").contains("right"),
            "values stay out of Debug"
        );
    }

    #[test]
    fn the_credentials_file_comes_first_then_env_then_vcap() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("ibm-credentials.env");
        std::fs::write(
            &file,
            "# comment\n\nBOOKS_APIKEY = from=file \nBOOKS_AUTH_TYPE=IAM\nOTHER_APIKEY=x\n",
        )
        .expect("write");
        let env = vars(&[("BOOKS_APIKEY", "from-env")]);
        let lookup = Lookup {
            vars: env.clone(),
            cwd: Some(dir.path().to_owned()),
            home: None,
        };
        let c = ServiceConfig::load("books", &lookup)
            .expect("ok")
            .expect("found");
        assert_eq!(c.get("APIKEY"), Some("from=file"));
        assert_eq!(c.auth_type().expect("type"), AuthType::Iam);

        // IBM_CREDENTIALS_FILE wins over ./ibm-credentials.env; a file without the service
        // falls through to the environment.
        let other = dir.path().join("other.env");
        std::fs::write(&other, "UNRELATED_APIKEY=x\n").expect("write");
        let mut env2 = env.clone();
        env2.push(("IBM_CREDENTIALS_FILE".into(), other.display().to_string()));
        let lookup = Lookup {
            vars: env2,
            cwd: Some(dir.path().to_owned()),
            home: None,
        };
        let c = ServiceConfig::load("books", &lookup)
            .expect("ok")
            .expect("found");
        assert_eq!(c.get("APIKEY"), Some("from-env"));

        let vcap = r#"{"user-provided":[{"name":"books","credentials":{"apikey":"from-vcap","url":"https://books.example"}}]}"#;
        let lookup = Lookup {
            vars: vars(&[("VCAP_SERVICES", vcap)]),
            ..Lookup::default()
        };
        let c = ServiceConfig::load("books", &lookup)
            .expect("ok")
            .expect("found");
        assert_eq!(c.get("APIKEY"), Some("from-vcap"));
        assert_eq!(c.source(), "VCAP_SERVICES");
        assert!(
            ServiceConfig::load("nothing", &Lookup::default())
                .expect("ok")
                .is_none()
        );

        let missing = Lookup {
            vars: vars(&[("IBM_CREDENTIALS_FILE", "/nonexistent/creds.env")]),
            ..Lookup::default()
        };
        assert!(matches!(
            ServiceConfig::load("books", &missing),
            Err(Error::CredentialFile { .. })
        ));
    }

    #[test]
    fn auth_types_and_their_requirements() {
        let cfg = |pairs: &[(&str, &str)]| {
            ServiceConfig::load(
                "svc",
                &Lookup {
                    vars: vars(pairs),
                    ..Lookup::default()
                },
            )
            .expect("ok")
            .expect("found")
        };
        let c = cfg(&[
            ("SVC_IAM_PROFILE_NAME", "workload"),
            ("SVC_CR_TOKEN_FILENAME", "/tmp/cr"),
        ]);
        assert_eq!(
            c.auth_type().expect("t"),
            AuthType::Container,
            "no API key: container"
        );
        assert!(c.token_manager().is_ok());
        let c = cfg(&[
            ("SVC_AUTH_TYPE", "iamAssume"),
            ("SVC_APIKEY", "k"),
            ("SVC_IAM_PROFILE_NAME", "p"),
        ]);
        assert!(
            c.token_manager()
                .expect_err("account")
                .to_string()
                .contains("SVC_IAM_ACCOUNT_ID")
        );
        let c = cfg(&[
            ("SVC_AUTH_TYPE", "iamAssume"),
            ("SVC_APIKEY", "k"),
            ("SVC_IAM_PROFILE_ID", "Profile-1"),
        ]);
        assert!(c.token_manager().is_ok());
        let c = cfg(&[
            ("SVC_AUTHTYPE", "bearerToken"),
            ("SVC_BEARER_TOKEN", "t.t.t"),
        ]);
        assert_eq!(c.auth_type().expect("t"), AuthType::BearerToken);
        let c = cfg(&[("SVC_AUTH_TYPE", "cp4d")]);
        assert!(c.auth_type().is_err());
        let c = cfg(&[("SVC_APIKEY", "k"), ("SVC_CLIENT_ID", "id")]);
        assert!(
            c.token_manager()
                .expect_err("pair")
                .to_string()
                .contains("go together")
        );
        let c = cfg(&[
            ("SVC_AUTH_TYPE", "iam"),
            ("SVC_REFRESH_TOKEN", "rt"),
            ("SVC_CLIENT_ID", "id"),
            ("SVC_CLIENT_SECRET", "s"),
        ]);
        assert!(c.token_manager().is_ok());
    }
}
