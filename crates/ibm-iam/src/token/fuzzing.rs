//! Entry points for the fuzz targets in `fuzz/`: not a stable API.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{Error, IamError};
use crate::http::Answer;

/// What a token answer that passed every check yielded, without the secrets.
#[derive(Debug)]
pub struct Accepted {
    /// The lifetime the cache would use.
    pub lifetime: Duration,
    /// The length of the access token.
    pub token_len: usize,
    /// Whether a refresh token came with it.
    pub refresh_token: bool,
    /// IAM's clock minus ours, seconds, when the answer said.
    pub skew_seconds: Option<i64>,
}

/// How a token endpoint's answer was read.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer the token manager would cache.
    Token(Accepted),
    /// A 2xx answer it refuses.
    Refused(Error),
    /// A non-2xx answer, as IAM's error.
    IamError(IamError),
}

/// Reads the token endpoint's answer exactly as the token manager does after sending a
/// grant: a 2xx through the token-response checks (`expiry_window` as the manager's), any
/// other status through IAM's error shapes. Headers that are not valid HTTP are skipped.
pub fn token_answer(
    status: u16,
    headers: &[(&[u8], &[u8])],
    body: &[u8],
    now: SystemTime,
    expiry_window: Duration,
) -> Outcome {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(n, v);
        }
    }
    let answer = Answer {
        status,
        headers: map,
        body: zeroize::Zeroizing::new(body.to_vec()),
    };
    if !(200..300).contains(&status) {
        return Outcome::IamError(answer.iam_error());
    }
    match super::response::parse(
        &answer,
        "http://127.0.0.1/identity/token",
        Instant::now(),
        now,
        expiry_window,
    ) {
        Ok(issued) => Outcome::Token(Accepted {
            lifetime: issued.lifetime,
            token_len: issued.token.expose_secret().len(),
            refresh_token: issued.refresh_token.is_some(),
            skew_seconds: issued.skew_seconds,
        }),
        Err(e) => Outcome::Refused(e),
    }
}
