//! Errors: what happened, IAM's own diagnosis when it gave one, and whether to retry.

use std::fmt;
use std::time::Duration;

/// The crate's error type. Cheap to clone, so one failed request can be reported to every
/// caller that waited on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; nothing was sent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// IAM answered with an error status.
    #[error(transparent)]
    Iam(#[from] IamError),
    /// The request did not get an HTTP answer (connection refused or reset, timeout, TLS).
    #[error("{kind} calling {url}: {message}")]
    Transport {
        /// What failed.
        kind: TransportKind,
        /// The URL called (never carries secrets: they travel in bodies and headers).
        url: String,
        /// The underlying error.
        message: String,
    },
    /// IAM answered 2xx but the answer is unusable (not JSON, wrong shape, an expired or
    /// malformed token).
    #[error("unusable answer from {url} (HTTP {status}): {message}")]
    InvalidResponse {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        message: String,
        /// IAM's transaction id, when present.
        transaction_id: Option<String>,
    },
    /// A credential file could not be read.
    #[error("cannot read {path}: {message}")]
    CredentialFile {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A token was asked to stay valid longer than IAM issues tokens for.
    #[error("IAM issued a token valid for {available:?}, less than the {wanted:?} asked for")]
    InsufficientValidity {
        /// What the caller asked for.
        wanted: Duration,
        /// What the newest token offers.
        available: Duration,
    },
    /// A blocking call was made from inside an async runtime, or no runtime could be made.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// What kind of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Could not connect.
    Connect,
    /// A timeout elapsed.
    Timeout,
    /// The connection broke while sending or receiving.
    Io,
    /// Something else in the HTTP stack.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connection failure",
            TransportKind::Timeout => "timeout",
            TransportKind::Io => "connection broken",
            TransportKind::Other => "HTTP failure",
        })
    }
}

/// An error answer from IAM, with IAM's own code and transaction id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct IamError {
    /// The HTTP status.
    pub status: u16,
    /// IAM's error code (`BXNIM0415E`, `not_found`, …), when the body had one.
    pub code: Option<String>,
    /// IAM's message, or the start of the body.
    pub message: String,
    /// IAM's details, when given.
    pub details: Option<String>,
    /// IAM's transaction id (`Transaction-Id` header or the body's context), for support.
    pub transaction_id: Option<String>,
    /// `Retry-After`, when IAM sent one.
    pub retry_after: Option<Duration>,
}

impl IamError {
    fn describe(&self) -> String {
        let mut s = format!("IAM answered {}", self.status);
        if let Some(c) = &self.code {
            s.push_str(&format!(" {c}"));
        }
        s.push_str(&format!(": {}", self.message));
        if let Some(t) = &self.transaction_id {
            s.push_str(&format!(" (transaction id {t})"));
        }
        if let Some(hint) = hint(self.code.as_deref(), self.status) {
            s.push_str(&format!(". {hint}"));
        }
        s
    }

    /// 429, 5xx and 408 are worth retrying; other 4xx are not.
    pub fn is_transient(&self) -> bool {
        self.status == 429 || self.status == 408 || self.status >= 500
    }
}

fn hint(code: Option<&str>, status: u16) -> Option<&'static str> {
    Some(match (code, status) {
        (Some("BXNIM0415E"), _) => {
            "Check the API key: it may be mistyped, deleted, or from another IAM environment"
        }
        (Some("BXNIM0408E"), _) => "The refresh token expired: authenticate again",
        (Some("BXNIM0308E"), _) => "This grant needs client credentials (client id and secret)",
        (_, 429) => "IAM is rate limiting: retry later",
        (_, s) if s >= 500 => "IAM is having trouble: retry later",
        _ => return None,
    })
}

impl Error {
    /// Whether retrying the same request later may succeed: transport failures, unusable
    /// answers, and IAM's 429/5xx. Configuration errors and IAM's other 4xx are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Iam(e) => e.is_transient(),
            Error::Transport { .. } | Error::InvalidResponse { .. } => true,
            Error::CredentialFile { .. } => true,
            Error::Config(_) | Error::InsufficientValidity { .. } | Error::Runtime(_) => false,
        }
    }

    /// IAM's error code, when IAM gave one.
    pub fn iam_code(&self) -> Option<&str> {
        match self {
            Error::Iam(e) => e.code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status of IAM's answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Iam(e) => Some(e.status),
            Error::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// IAM's transaction id, when known.
    pub fn transaction_id(&self) -> Option<&str> {
        match self {
            Error::Iam(e) => e.transaction_id.as_deref(),
            Error::InvalidResponse { transaction_id, .. } => transaction_id.as_deref(),
            _ => None,
        }
    }

    /// How long IAM asked callers to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Iam(e) => e.retry_after,
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_errors_explain_themselves() {
        let e = Error::from(IamError {
            status: 400,
            code: Some("BXNIM0415E".into()),
            message: "Provided API key could not be found".into(),
            details: None,
            transaction_id: Some("tx-1".into()),
            retry_after: None,
        });
        let text = e.to_string();
        assert!(
            text.contains("BXNIM0415E")
                && text.contains("tx-1")
                && text.contains("Check the API key"),
            "{text}"
        );
        assert!(!e.is_transient());
        assert_eq!(e.iam_code(), Some("BXNIM0415E"));
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.transaction_id(), Some("tx-1"));

        let busy = IamError {
            status: 429,
            code: None,
            message: "slow down".into(),
            details: None,
            transaction_id: None,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(Error::from(busy.clone()).is_transient());
        assert_eq!(
            Error::from(busy).retry_after(),
            Some(Duration::from_secs(3))
        );
        assert!(
            Error::Transport {
                kind: TransportKind::Timeout,
                url: "u".into(),
                message: "m".into()
            }
            .is_transient()
        );
        assert!(!Error::Config("x".into()).is_transient());
    }
}
