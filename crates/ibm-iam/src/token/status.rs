//! A token manager's health, for readiness probes.

use std::time::Duration;

use crate::error::Error;

/// A snapshot of a [`super::TokenManager`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenStatus {
    /// How long the cached token will still be served; `None` without a valid token. For a
    /// static bearer token: until its JWT `exp` (less the expiry window), or
    /// `Duration::MAX` when it has no readable `exp`.
    pub valid_for: Option<Duration>,
    /// Whether the cached token is past its refresh point.
    pub refresh_due: bool,
    /// Whether a request to IAM is in flight.
    pub refreshing: bool,
    /// The last failure, until a request succeeds.
    pub last_error: Option<Error>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// When the next attempt is allowed, after a failure.
    pub next_attempt_in: Option<Duration>,
    /// Requests sent to IAM so far.
    pub requests: u64,
    /// IAM's clock minus this machine's, seconds, as of the last token.
    pub clock_skew_seconds: Option<i64>,
}

impl TokenStatus {
    /// Ready when a valid token is at hand.
    pub fn is_ready(&self) -> bool {
        self.valid_for.is_some()
    }
}
