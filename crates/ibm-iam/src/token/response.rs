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

/// The `exp` and `iat` of a JWS-shaped token, or why it is not one: three non-empty
/// base64url segments (no padding), the header and payload decoding to JSON objects. The
/// signature is not checked here (that is the verifier's job); this only refuses what cannot
/// be an IAM token.
pub(crate) fn jws_times(token: &str) -> Result<(Option<i64>, Option<i64>), &'static str> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err("the access_token is not a JWT (three dot-separated segments)");
    };
    let base64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !(base64url(header) && base64url(payload) && base64url(signature)) {
        return Err("the access_token is not a JWT (a segment is empty or not base64url)");
    }
    let object = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .ok()
            .and_then(|raw| serde_json::from_slice::<serde_json::Value>(&raw).ok())
            .filter(serde_json::Value::is_object)
    };
    if object(header).is_none() {
        return Err("the access_token is not a JWT (its header is not a JSON object)");
    }
    let claims = object(payload)
        .ok_or("the access_token is not a JWT (its payload is not a JSON object)")?;
    Ok((
        claims.get("exp").and_then(serde_json::Value::as_i64),
        claims.get("iat").and_then(serde_json::Value::as_i64),
    ))
}

/// Parses and sanity-checks a 2xx answer. An answer without a usable token is an error,
/// never a cached token: the access token must be JWS-shaped (see [`jws_times`]), and if
/// its `exp` is already past, or inside `window`, it is refused. "Now" for that check is
/// the server's (the answer's `Date`), so that a skewed local clock does not refuse good
/// tokens; without a `Date`, it is `sent_system`, this machine's time at sending.
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
    // Secret types at once, so that every refusal below zeroes them.
    let token = body.access_token.map(AccessToken::new);
    let refresh_token = body.refresh_token.map(SecretString::new);
    let token = token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| answer.invalid(url, "the answer has no access_token"))?;
    let (exp, iat) = jws_times(token.expose_secret()).map_err(|why| answer.invalid(url, why))?;
    if let Some(tt) = &body.token_type
        && !tt.eq_ignore_ascii_case("bearer")
    {
        return Err(answer.invalid(url, format!("token_type is '{tt}', not Bearer")));
    }
    let now_unix = sent_system
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let server_date = answer.date_unix();
    let server_now = server_date.unwrap_or(now_unix);
    let window_secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    let lifetime_secs = match (body.expires_in, exp) {
        (Some(e), _) => e,
        // IBM's SDK cores fall back on the JWT's own times.
        (None, Some(exp)) => exp.saturating_sub(iat.unwrap_or(server_now)),
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
    if let Some(exp) = exp
        && exp <= server_now.saturating_add(window_secs)
    {
        return Err(answer.invalid(
            url,
            format!(
                "the token's exp ({exp}) is already past, or within {window:?}, at the server's time ({server_now})"
            ),
        ));
    }
    let skew_seconds = body
        .expiration
        .or(exp)
        .and_then(|server_exp| {
            server_exp
                .checked_sub(lifetime_secs)
                .and_then(|issued| issued.checked_sub(now_unix))
        })
        .or_else(|| server_date.and_then(|date| date.checked_sub(now_unix)));
    if let Some(skew) = skew_seconds
        && skew.unsigned_abs() > 30
    {
        tracing::warn!(
            skew_seconds = skew,
            "IAM's clock and this machine's differ; token expiry is measured on the monotonic clock from expires_in, so caching is unaffected"
        );
    }
    Ok(Issued {
        token,
        refresh_token,
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
            body: zeroize::Zeroizing::new(body.as_bytes().to_vec()),
        }
    }

    /// `Date: <unix>` as an IMF-fixdate (the weekday is not checked by the reader).
    fn with_date(mut a: Answer, unix: i64) -> Answer {
        let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
        // Civil date from days (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let text = format!(
            "Xxx, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
            months[usize::try_from(m - 1).expect("month")],
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        a.headers.insert(
            reqwest::header::DATE,
            reqwest::header::HeaderValue::from_str(&text).expect("date"),
        );
        assert_eq!(a.date_unix(), Some(unix), "{text}");
        a
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
        // Not JWS-shaped: refused, whatever else the answer says.
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, t + 3600));
        let header = "eyJhbGciOiJSUzI1NiJ9";
        for token in [
            "a.b.c".to_owned(),
            format!("{header}.{payload}"),
            format!("{header}.{payload}.c2ln.c2ln"),
            format!("{header}..c2ln"),
            format!("{header}.{payload}."),
            format!(".{payload}.c2ln"),
            format!("{header}.{payload}=.c2ln"),
            format!("{header}.{payload}.c2+n"),
            format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode("[1,2]")),
            format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
            format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode("\"alg\"")),
        ] {
            let body = format!(r#"{{"access_token":"{token}","expires_in":3600}}"#);
            let r = parse(&answer(&body, true), "u", Instant::now(), sys, w);
            assert!(matches!(r, Err(Error::InvalidResponse { .. })), "{token}");
        }
        // A JWS-shaped token is accepted.
        let body = format!(r#"{{"access_token":"{header}.{payload}.c2ln","expires_in":3600}}"#);
        assert!(parse(&answer(&body, true), "u", Instant::now(), sys, w).is_ok());

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

    #[test]
    fn an_expired_token_is_refused_at_the_servers_time() {
        let (sys, t) = now();
        let w = Duration::from_secs(10);
        let parse_at = |a: Answer, sys: SystemTime| parse(&a, "u", Instant::now(), sys, w);
        let body = |exp: i64| {
            format!(
                r#"{{"access_token":"{}","expires_in":3600}}"#,
                jwt(exp, exp - 3600)
            )
        };
        // Already past, or inside the expiry window, at this machine's time (no Date).
        for exp in [t - 1, t, t + 5, t + 10] {
            let r = parse_at(answer(&body(exp), true), sys);
            assert!(matches!(r, Err(Error::InvalidResponse { .. })), "exp {exp}");
        }
        assert!(parse_at(answer(&body(t + 11), true), sys).is_ok());
        // With a Date, the server's time decides: a token IAM says has expired is refused
        // even if this machine's clock is behind...
        let r = parse_at(with_date(answer(&body(t + 600), true), t + 900), sys);
        assert!(matches!(r, Err(Error::InvalidResponse { .. })));
        // ...and a good token is accepted even if this machine's clock is two hours fast.
        let fast = sys + Duration::from_secs(7200);
        assert!(matches!(
            parse_at(answer(&body(t + 3600), true), fast),
            Err(Error::InvalidResponse { .. })
        ));
        let issued = parse_at(with_date(answer(&body(t + 3600), true), t), fast).expect("ok");
        assert_eq!(issued.lifetime, Duration::from_secs(3600));
        assert_eq!(issued.skew_seconds, Some(-7200));
    }
}
