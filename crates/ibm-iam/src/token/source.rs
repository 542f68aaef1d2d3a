//! Where tokens come from: the grant each source sends to IAM's token endpoint.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Error;
use crate::secret::{AccessToken, SecretString};

/// The compute-resource token files IBM's SDKs look for, in order, when none is named.
pub const DEFAULT_CR_TOKEN_FILES: [&str; 3] = [
    "/var/run/secrets/tokens/vault-token",
    "/var/run/secrets/tokens/sa-token",
    "/var/run/secrets/codeengine.cloud.ibm.com/compute-resource-token/token",
];

/// A trusted profile, by id, CRN, or name within an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// `Profile-…`.
    Id(String),
    /// `crn:v1:bluemix:public:iam-identity::a/<account>::profile:Profile-…`.
    Crn(String),
    /// A name, unique within its account.
    Name {
        /// The profile's name.
        name: String,
        /// The account it belongs to.
        account_id: String,
    },
}

/// How a compute resource logs in as a trusted profile (IBM's "container" authenticator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerAuth {
    /// The CR token file; [`DEFAULT_CR_TOKEN_FILES`] are tried when `None`.
    pub cr_token_file: Option<PathBuf>,
    /// `profile_id`.
    pub profile_id: Option<String>,
    /// `profile_name`.
    pub profile_name: Option<String>,
    /// `profile_crn`.
    pub profile_crn: Option<String>,
}

pub(crate) enum Source {
    ApiKey(SecretString),
    RefreshToken(Mutex<SecretString>),
    Container(ContainerAuth),
    Assume {
        delegate: super::TokenManager,
        profile: Profile,
    },
    Static(AccessToken),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A form parameter whose value may be a secret (kept out of logs by type).
pub(crate) type Param = (&'static str, SecretString);

impl Source {
    pub fn describe(&self) -> &'static str {
        match self {
            Source::ApiKey(_) => "API key",
            Source::RefreshToken(_) => "refresh token",
            Source::Container(_) => "compute-resource token",
            Source::Assume { .. } => "trusted profile (assume)",
            Source::Static(_) => "static bearer token",
        }
    }

    /// The grant's form parameters. Reads the CR token file (every time: it rotates) or
    /// gets the delegate's token as needed.
    pub async fn params(&self, scope: Option<&str>) -> Result<Vec<Param>, Error> {
        let s = SecretString::new;
        let mut p: Vec<Param> = match self {
            Source::ApiKey(key) => vec![
                ("grant_type", s("urn:ibm:params:oauth:grant-type:apikey")),
                ("apikey", key.clone()),
                ("response_type", s("cloud_iam")),
            ],
            Source::RefreshToken(rt) => vec![
                ("grant_type", s("refresh_token")),
                (
                    "refresh_token",
                    rt.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone(),
                ),
                ("response_type", s("cloud_iam")),
            ],
            Source::Container(c) => {
                let token = read_cr_token(&cr_token_candidates(c.cr_token_file.as_deref())).await?;
                let mut v = vec![
                    ("grant_type", s("urn:ibm:params:oauth:grant-type:cr-token")),
                    ("cr_token", token),
                ];
                if let Some(id) = &c.profile_id {
                    v.push(("profile_id", s(id)));
                }
                if let Some(name) = &c.profile_name {
                    v.push(("profile_name", s(name)));
                }
                if let Some(crn) = &c.profile_crn {
                    v.push(("profile_crn", s(crn)));
                }
                v
            }
            Source::Assume { delegate, profile } => {
                let token = Box::pin(delegate.get_token()).await?;
                let mut v = vec![
                    ("grant_type", s("urn:ibm:params:oauth:grant-type:assume")),
                    ("access_token", s(token.expose_secret())),
                ];
                match profile {
                    Profile::Id(id) => v.push(("profile_id", s(id))),
                    Profile::Crn(crn) => v.push(("profile_crn", s(crn))),
                    Profile::Name { name, account_id } => {
                        v.push(("profile_name", s(name)));
                        v.push(("account", s(account_id)));
                    }
                }
                // IBM's SDKs send no scope on the assume grant.
                return Ok(v);
            }
            Source::Static(_) => {
                return Err(Error::Config("a static token is not exchanged".into()));
            }
        };
        if let Some(scope) = scope {
            p.push(("scope", s(scope)));
        }
        Ok(p)
    }

    /// Keeps the newest refresh token IAM returned (refresh tokens rotate).
    pub fn remember_refresh_token(&self, newer: Option<&SecretString>) {
        if let (Source::RefreshToken(rt), Some(newer)) = (self, newer)
            && !newer.is_empty()
            && newer.expose_secret() != "not_supported"
        {
            *rt.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = newer.clone();
        }
    }
}

/// The files to try, in order: the one named, else IBM's defaults.
fn cr_token_candidates(path: Option<&Path>) -> Vec<PathBuf> {
    match path {
        Some(p) => vec![p.to_owned()],
        None => DEFAULT_CR_TOKEN_FILES.iter().map(PathBuf::from).collect(),
    }
}

/// The first of `candidates` that can be read (as IBM's cores do, a missing file moves on
/// to the next; an empty one is an error).
async fn read_cr_token(candidates: &[PathBuf]) -> Result<SecretString, Error> {
    let mut last = String::new();
    for p in candidates {
        match tokio::fs::read_to_string(p).await {
            Ok(text) => {
                let token = text.trim();
                if token.is_empty() {
                    return Err(Error::CredentialFile {
                        path: p.display().to_string(),
                        message: "the compute-resource token file is empty".into(),
                    });
                }
                return Ok(SecretString::new(token));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(Error::CredentialFile {
        path: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        message: format!("no compute-resource token could be read ({last})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cr_token_files_are_read_trimmed_and_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "  cr.token.value\n").expect("write");
        let named = cr_token_candidates(Some(&path));
        assert_eq!(named, std::slice::from_ref(&path));
        assert_eq!(
            read_cr_token(&named).await.expect("read").expose_secret(),
            "cr.token.value"
        );
        std::fs::write(&path, "\n").expect("write");
        assert!(matches!(
            read_cr_token(&named).await,
            Err(Error::CredentialFile { .. })
        ));
        let missing = dir.path().join("missing");
        let err = read_cr_token(&cr_token_candidates(Some(&missing)))
            .await
            .expect_err("missing");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[tokio::test]
    async fn without_a_named_file_ibms_default_paths_are_tried_in_order() {
        // IBM's defaults, in IBM's order (the Go, Java, Node and Python cores agree).
        assert_eq!(
            cr_token_candidates(None),
            [
                PathBuf::from("/var/run/secrets/tokens/vault-token"),
                PathBuf::from("/var/run/secrets/tokens/sa-token"),
                PathBuf::from(
                    "/var/run/secrets/codeengine.cloud.ibm.com/compute-resource-token/token"
                ),
            ]
        );
        // The same fallback over an injected list: a missing file moves on to the next.
        let dir = tempfile::tempdir().expect("dir");
        let [vault, sa, ce] = ["vault-token", "sa-token", "token"].map(|n| dir.path().join(n));
        let list = [vault.clone(), sa.clone(), ce.clone()];
        std::fs::write(&ce, "from-code-engine").expect("write");
        assert_eq!(
            read_cr_token(&list).await.expect("third").expose_secret(),
            "from-code-engine"
        );
        std::fs::write(&sa, "from-sa").expect("write");
        assert_eq!(
            read_cr_token(&list).await.expect("second").expose_secret(),
            "from-sa"
        );
        std::fs::write(&vault, "from-vault").expect("write");
        assert_eq!(
            read_cr_token(&list).await.expect("first").expose_secret(),
            "from-vault"
        );
        // None readable: the error names every path tried.
        let gone: Vec<PathBuf> = ["a", "b"].iter().map(|n| dir.path().join(n)).collect();
        let err = read_cr_token(&gone).await.expect_err("none").to_string();
        assert!(err.contains("a, ") && err.contains("b"), "{err}");
    }

    #[tokio::test]
    async fn apikey_params_carry_scope_and_the_key() {
        let src = Source::ApiKey(SecretString::new("k"));
        let p = src.params(Some("ibm openid books")).await.expect("params");
        let names: Vec<_> = p.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["grant_type", "apikey", "response_type", "scope"]);
    }
}
