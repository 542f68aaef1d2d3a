//! Finding credentials and the endpoint the IBM way.

use std::time::Duration;

use ibm_iam::config::ServiceConfig;
use ibm_iam::http::retry::Backoff;
use ibm_iam::token::RetryPolicy;
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

/// The default of `--timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 15;

/// How long a command may wait for IAM (`--timeout`), and the HTTP and retry settings that
/// follow from it.
///
/// The library's defaults suit long-running services (30 s per request, three attempts, a
/// minute in all); a person at a terminal wants a quick, clear failure instead. So: a few
/// seconds to connect, half the budget per request, two attempts, and the whole budget as
/// the deadline of every retry loop. `main` also bounds the command as a whole.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    total: Duration,
}

impl Budget {
    /// A budget of `total` (at least one second).
    pub fn new(total: Duration) -> Self {
        Self {
            total: total.max(Duration::from_secs(1)),
        }
    }

    /// The whole budget.
    pub fn total(self) -> Duration {
        self.total
    }

    /// HTTP settings: fail fast on an unreachable endpoint.
    pub fn http(self) -> HttpConfig {
        HttpConfig::default()
            .connect_timeout(self.total.min(Duration::from_secs(3)))
            .request_timeout(self.per_request())
            .user_agent_suffix("ibm-iam-cli")
    }

    /// Time for one request: half the budget, so that two attempts fit.
    fn per_request(self) -> Duration {
        (self.total / 2).max(Duration::from_secs(1))
    }

    /// Two attempts for a token, within the budget.
    pub fn token_retry(self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 2,
            retry_backoff: self.backoff(),
            deadline: self.total,
            ..RetryPolicy::default()
        }
    }

    /// The PDP's retries: two attempts within the budget (for `PdpClientBuilder::retries`).
    pub fn pdp_retries(self) -> (u32, Backoff, Duration) {
        (2, self.backoff(), self.total)
    }

    fn backoff(self) -> Backoff {
        Backoff {
            base: Duration::from_millis(250),
            max: Duration::from_secs(1),
        }
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(Duration::from_secs(DEFAULT_TIMEOUT_SECS))
    }
}

/// Runs the part of a command that talks to IAM within the budget (plus a little slack, so
/// that the library's own, more precise, timeout error normally comes first). Reading a
/// token from stdin happens before, so a slow typist is not timed out.
pub async fn bounded<T>(
    budget: Budget,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let limit = budget.total() + Duration::from_secs(2);
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::transient(format!(
            "no answer from IAM within the {} s allowed (--timeout)",
            budget.total().as_secs()
        ))),
    }
}

/// A token manager: `--profile SERVICE` reads IBM's `<SERVICE>_*` keys (environment,
/// `ibm-credentials.env`), otherwise `IBMCLOUD_API_KEY`.
///
/// Its endpoint is `--iam-url`, else the profile's `<SERVICE>_AUTH_URL`, else production;
/// the HTTP settings returned with it (the budget's, and the profile's
/// `<SERVICE>_AUTH_DISABLE_SSL`) are the ones to use for other calls to that endpoint.
pub fn token_manager(
    profile: Option<&str>,
    iam_url: Option<&str>,
    budget: Budget,
) -> Result<(TokenManager, HttpConfig), Failure> {
    // The profile's own `<SERVICE>_AUTH_DISABLE_SSL=true` survives the CLI's HTTP settings.
    let mut insecure = false;
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
            insecure = cfg.disable_ssl();
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
    let http = budget.http().danger_accept_invalid_certs(insecure);
    let tokens = builder
        .http(http.clone())
        .retry(budget.token_retry())
        .build()
        .map_err(|e| Failure::usage(e.to_string(), "check the credentials"))?;
    Ok((tokens, http))
}

/// Where the token comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    /// The argument itself.
    Arg(&'a str),
    /// Standard input; `prompt` when it is a terminal (so the user knows we wait).
    Stdin { prompt: bool },
    /// No argument and stdin is a terminal: waiting silently would look like a hang.
    Refuse,
}

/// No argument reads a pipe (`ibm-iam token | ibm-iam validate`) but refuses a terminal;
/// an explicit `-` reads even a terminal, after saying so on stderr.
fn source(arg: Option<&str>, stdin_is_terminal: bool) -> Source<'_> {
    match arg {
        Some("-") => Source::Stdin {
            prompt: stdin_is_terminal,
        },
        Some(t) => Source::Arg(t),
        None if stdin_is_terminal => Source::Refuse,
        None => Source::Stdin { prompt: false },
    }
}

/// A token from an argument, or from stdin with `-` (or with no argument when stdin is not
/// a terminal).
pub fn token_arg(arg: Option<&str>) -> Result<String, Failure> {
    use std::io::IsTerminal as _;
    let raw = match source(arg, std::io::stdin().is_terminal()) {
        Source::Arg(t) => t.to_owned(),
        Source::Refuse => {
            return Err(Failure::usage(
                "no token given",
                "pass the token as an argument, pipe it in (ibm-iam token | ibm-iam validate), or pass '-' to type it",
            ));
        }
        Source::Stdin { prompt } => {
            if prompt {
                eprintln!("reading the token from stdin; paste it, then press Enter and Ctrl-D");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_argument_reads_a_pipe_but_refuses_a_terminal() {
        assert_eq!(source(None, false), Source::Stdin { prompt: false });
        assert_eq!(source(None, true), Source::Refuse);
        assert_eq!(source(Some("-"), false), Source::Stdin { prompt: false });
        assert_eq!(source(Some("-"), true), Source::Stdin { prompt: true });
        assert_eq!(source(Some("eyJ"), true), Source::Arg("eyJ"));
    }

    #[test]
    fn the_budget_bounds_every_retry_loop() {
        let b = Budget::new(Duration::from_secs(10));
        let r = b.token_retry();
        assert_eq!(r.max_attempts, 2);
        assert_eq!(r.deadline, Duration::from_secs(10));
        let (attempts, _, deadline) = b.pdp_retries();
        assert_eq!((attempts, deadline), (2, Duration::from_secs(10)));
        assert_eq!(b.per_request(), Duration::from_secs(5));
        assert_eq!(Budget::new(Duration::ZERO).total(), Duration::from_secs(1));
        assert_eq!(
            Budget::default().total(),
            Duration::from_secs(DEFAULT_TIMEOUT_SECS)
        );
    }
}
