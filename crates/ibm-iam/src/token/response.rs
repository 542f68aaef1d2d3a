//! The token endpoint's answer, checked before anything is cached.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::error::Error;
use crate::http::Answer;
use crate::secret::{AccessToken, SecretString};

#[derive(Deserialize)]
struct Body {
    access_token: Option<String>,
    refresh_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<i64>,
    expiration: Option<i64>,
}

/// A token IAM issued, with when it was asked for.
pub(crate) struct Issued {
    pub token: AccessToken,
    pub refresh_token: Option<SecretString>,
    /// Lifetime from when the request was sent (monotonic).
    pub lifetime: Duration,
    pub sent_at: Instant,
    /// Server clock minus ours, seconds, when IAM said `expiration`.
    pub skew_seconds: Option<i64>,
}

fn jwt_times(token: &str) -> Option<(Option<i64>, Option<i64>)> {
    let payload = token.split('.').nth(1)?;
    let raw = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    Some((
        v.get("exp").and_then(serde_json::Value::as_i64),
        v.get("iat").and_then(serde_json::Value::as_i64),
    ))
}

/// Parses and sanity-checks a 2xx answer. An answer without a usable token, or with a token
/// that is expired or expires within `window`, is an error, never a cached token.
pub(crate) fn parse(
    answer: &Answer,
    url: &str,
    sent_at: Instant,
    sent_system: SystemTime,
    window: Duration,
) -> Result<Issued, Error> {
    if !answer.is_json() {
        return Err(answer.invalid(url, "the answer is not JSON (wrong Content-Type)"));
    }
    let body: Body = serde_json::from_slice(&answer.body)
        .map_err(|e| answer.invalid(url, format!("the answer is not a token response: {e}")))?;
    let token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| answer.invalid(url, "the answer has no access_token"))?;
    if token.split('.').count() != 3 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(answer.invalid(url, "the access_token is not a JWT"));
    }
    if let Some(tt) = &body.token_type
        && !tt.eq_ignore_ascii_case("bearer")
    {
        return Err(answer.invalid(url, format!("token_type is '{tt}', not Bearer")));
    }
    let now_unix = sent_system
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let jwt = jwt_times(&token);
    let lifetime_secs = match (body.expires_in, jwt) {
        (Some(e), _) => e,
        // IBM's SDK cores fall back on the JWT's own times.
        (None, Some((Some(exp), iat))) => exp.saturating_sub(iat.unwrap_or(now_unix)),
        _ => return Err(answer.invalid(url, "the answer says neither expires_in nor a JWT exp")),
    };
    // Clamped: an absurd `expires_in` (up to i64::MAX) must not overflow the cache's clock.
    let lifetime = Duration::from_secs(u64::try_from(lifetime_secs).unwrap_or(0))
        .min(super::cache::MAX_TOKEN_LIFETIME);
    if lifetime <= window {
        return Err(answer.invalid(
            url,
            format!("the token is already expired or expires within {window:?} (expires_in {lifetime_secs})"),
        ));
    }
    if let Some((Some(exp), _)) = jwt
        && exp
            <= now_unix
                .saturating_add(i64::try_from(window.as_secs()).unwrap_or(i64::MAX))
                .saturating_sub(300)
    {
        // Tolerate five minutes of skew; beyond that a 200 with an expired JWT is a failure.
        return Err(answer.invalid(url, format!("the token's exp ({exp}) is in the past")));
    }
    let skew_seconds = body
        .expiration
        .or_else(|| jwt.and_then(|(exp, _)| exp))
        .and_then(|server_exp| {
            server_exp
                .checked_sub(lifetime_secs)
                .and_then(|issued| issued.checked_sub(now_unix))
        });
    if let Some(skew) = skew_seconds
        && skew.abs() > 30
    {
        tracing::warn!(
            skew_seconds = skew,
            "IAM's clock and this machine's differ; token expiry is measured on the monotonic clock from expires_in, so caching is unaffected"
        );
    }
    Ok(Issued {
        token: AccessToken::new(token),
        refresh_token: body.refresh_token.map(SecretString::new),
        lifetime,
        sent_at,
        skew_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str, json: bool) -> Answer {
        let mut headers = reqwest::header::HeaderMap::new();
        if json {
            headers.insert(
                "content-type",
                reqwest::header::HeaderValue::from_static("application/json"),
            );
        }
        Answer {
            status: 200,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn jwt(exp: i64, iat: i64) -> String {
        let p = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp},"iat":{iat}}}"#));
        format!("eyJhbGciOiJSUzI1NiJ9.{p}.c2ln")
    }

    fn now() -> (SystemTime, i64) {
        let s = SystemTime::now();
        (
            s,
            i64::try_from(s.duration_since(UNIX_EPOCH).expect("epoch").as_secs()).expect("i64"),
        )
    }

    #[test]
    fn accepts_iams_body_and_measures_skew() {
        let (sys, t) = now();
        let body = format!(
            r#"{{"access_token":"{}","refresh_token":"not_supported","token_type":"Bearer","expires_in":3600,"expiration":{},"scope":"ibm openid"}}"#,
            jwt(t + 3600, t),
            t + 3600 + 120
        );
        let issued = parse(
            &answer(&body, true),
            "u",
            Instant::now(),
            sys,
            Duration::from_secs(10),
        )
        .expect("ok");
        assert_eq!(issued.lifetime, Duration::from_secs(3600));
        assert_eq!(issued.skew_seconds, Some(120));
    }

    #[test]
    fn refuses_unusable_answers() {
        let (sys, t) = now();
        let w = Duration::from_secs(10);
        let cases = [
            (
                r#"{"access_token":"a.b.c","expires_in":3600}"#.to_owned(),
                false,
            ),
            ("not json".to_owned(), true),
            (r#"{"expires_in":3600}"#.to_owned(), true),
            (r#"{"access_token":"","expires_in":3600}"#.to_owned(), true),
            (
                r#"{"access_token":"nodots","expires_in":3600}"#.to_owned(),
                true,
            ),
            (
                r#"{"access_token":"a.b.c","token_type":"mac","expires_in":3600}"#.to_owned(),
                true,
            ),
            (
                r#"{"access_token":"a.b.c","expires_in":5}"#.to_owned(),
                true,
            ),
            (r#"{"access_token":"a.b.c"}"#.to_owned(), true),
            (
                format!(
                    r#"{{"access_token":"{}","expires_in":3600}}"#,
                    jwt(t - 4000, t - 7600)
                ),
                true,
            ),
        ];
        for (body, json) in cases {
            let r = parse(&answer(&body, json), "u", Instant::now(), sys, w);
            assert!(matches!(r, Err(Error::InvalidResponse { .. })), "{body}");
        }
        // Extreme numbers are clamped or refused, never overflowed.
        for body in [
            format!(
                r#"{{"access_token":"{}","expires_in":{},"expiration":{}}}"#,
                jwt(t + 3600, t),
                i64::MAX,
                i64::MIN
            ),
            format!(
                r#"{{"access_token":"{}","expiration":{}}}"#,
                jwt(i64::MAX, i64::MIN),
                i64::MIN
            ),
            format!(
                r#"{{"access_token":"{}","expires_in":{}}}"#,
                jwt(t + 3600, t),
                i64::MIN
            ),
        ] {
            if let Ok(issued) = parse(&answer(&body, true), "u", Instant::now(), sys, w) {
                assert!(
                    issued.lifetime <= crate::token::MAX_TOKEN_LIFETIME,
                    "{body}"
                );
            }
        }
        // expires_in missing: the JWT's own times are used.
        let body = format!(r#"{{"access_token":"{}"}}"#, jwt(t + 1200, t));
        let issued = parse(&answer(&body, true), "u", Instant::now(), sys, w).expect("jwt times");
        assert_eq!(issued.lifetime, Duration::from_secs(1200));
    }
}
