//! Finding credentials and the endpoint the IBM way.

use std::time::Duration;

use ibm_iam::config::ServiceConfig;
use ibm_iam::{Endpoint, HttpConfig, TokenManager};

use crate::Failure;

/// The endpoint from `--iam-url` (or `IBM_IAM_URL`), else production.
pub fn endpoint(iam_url: Option<&str>) -> Result<Endpoint, Failure> {
    match iam_url {
        Some(u) => Endpoint::parse(u).map_err(|e| {
            Failure::usage(
                e.to_string(),
                "pass an https URL, or http://127.0.0.1:<port> for the emulator",
            )
        }),
        None => Ok(Endpoint::production()),
    }
}

/// HTTP settings for the CLI: fail fast on an unreachable endpoint.
pub fn http() -> HttpConfig {
    HttpConfig::default()
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(10))
        .user_agent_suffix("ibm-iam-cli")
}

/// A token manager: `--profile SERVICE` reads IBM's `<SERVICE>_*` keys (environment,
/// `ibm-credentials.env`), otherwise `IBMCLOUD_API_KEY`.
pub fn token_manager(
    profile: Option<&str>,
    iam_url: Option<&str>,
) -> Result<TokenManager, Failure> {
    let builder = match profile {
        Some(service) => {
            let cfg = ServiceConfig::from_environment(service)
                .map_err(|e| Failure::usage(e.to_string(), "check the credentials file"))?
                .ok_or_else(|| {
                    Failure::usage(
                        format!("no credentials for '{service}'"),
                        format!(
                            "set {}_APIKEY (or another {}_* key) in the environment or in ibm-credentials.env",
                            service.to_ascii_uppercase().replace('-', "_"),
                            service.to_ascii_uppercase().replace('-', "_")
                        ),
                    )
                })?;
            cfg.token_manager_builder()
                .map_err(|e| Failure::usage(e.to_string(), "check the service's credentials"))?
        }
        None => {
            let key = std::env::var("IBMCLOUD_API_KEY")
                .ok()
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| {
                    Failure::usage(
                        "IBMCLOUD_API_KEY is not set",
                        "export IBMCLOUD_API_KEY=<your API key>, or use --profile SERVICE",
                    )
                })?;
            TokenManager::builder().api_key(key)
        }
    };
    let builder = match iam_url {
        Some(u) => builder.endpoint(endpoint(Some(u))?),
        None => builder,
    };
    builder
        .http(http())
        .build()
        .map_err(|e| Failure::usage(e.to_string(), "check the credentials"))
}

/// A token from an argument, or from stdin with `-` (or no argument).
pub fn token_arg(arg: Option<&str>) -> Result<String, Failure> {
    let raw = match arg {
        Some("-") | None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin().take(64 * 1024), &mut s).map_err(
                |e| {
                    Failure::usage(
                        format!("cannot read the token from stdin: {e}"),
                        "pipe a token, or pass it as an argument",
                    )
                },
            )?;
            s
        }
        Some(t) => t.to_owned(),
    };
    let t = raw.trim();
    let t = t
        .strip_prefix("Bearer ")
        .or_else(|| t.strip_prefix("bearer "))
        .unwrap_or(t)
        .trim();
    if t.is_empty() {
        return Err(Failure::usage(
            "no token given",
            "pass the token as an argument, or '-' to read it from stdin",
        ));
    }
    Ok(t.to_owned())
}

use std::io::Read as _;
