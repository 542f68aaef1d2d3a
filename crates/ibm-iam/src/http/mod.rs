//! HTTP transport shared by every IAM call: one pooled reqwest client (rustls on aws-lc-rs),
//! timeouts, a size cap on answers, and IAM's error bodies turned into typed errors.

pub mod config;
pub mod retry;

use bytes_reader::read_capped;
pub use config::HttpConfig;

use std::time::Duration;

use reqwest::header::HeaderMap;
use zeroize::Zeroizing;

use crate::error::{Error, IamError, TransportKind};

/// Largest answer body the client reads.
pub const MAX_BODY: usize = 1024 * 1024;

/// An HTTP answer, read whole. The body may hold tokens, so it is zeroed on drop.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

impl Answer {
    pub fn transaction_id(&self) -> Option<String> {
        self.headers
            .get("transaction-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Whether the answer declares a JSON media type.
    pub fn is_json(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
    }

    /// The answer's `Date` as Unix seconds: the server's clock when it answered. Only the
    /// IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`) is read, the one RFC 9110 has
    /// servers send.
    pub fn date_unix(&self) -> Option<i64> {
        let v = self.headers.get(reqwest::header::DATE)?.to_str().ok()?;
        parse_http_date(v)
    }

    /// An unusable-answer error for this answer.
    pub fn invalid(&self, url: &str, message: impl Into<String>) -> Error {
        Error::InvalidResponse {
            url: url.to_owned(),
            status: self.status,
            message: message.into(),
            transaction_id: self.transaction_id(),
        }
    }

    /// IAM's error for a non-2xx answer.
    pub fn iam_error(&self) -> IamError {
        parse_iam_error(self.status, &self.headers, &self.body)
    }
}

/// A transport error for a request to `url`, with reqwest's chain of causes.
pub(crate) fn transport(url: &str, e: &reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_body() || e.is_request() || e.is_decode() {
        TransportKind::Io
    } else {
        TransportKind::Other
    };
    // reqwest's Display includes the URL, which carries no secrets (they travel in bodies
    // and headers); the source chain holds the useful detail.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Transport {
        kind,
        url: url.to_owned(),
        message,
    }
}

/// Sends a request and reads the whole answer (at most [`MAX_BODY`] bytes).
pub(crate) async fn send(req: reqwest::RequestBuilder, url: &str) -> Result<Answer, Error> {
    let resp = req.send().await.map_err(|e| transport(url, &e))?;
    read_answer(resp, url).await
}

/// Reads a response whole (at most [`MAX_BODY`] bytes) into a zeroizing buffer.
pub(crate) async fn read_answer(resp: reqwest::Response, url: &str) -> Result<Answer, Error> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = read_capped(resp, MAX_BODY).await.map_err(|e| match e {
        bytes_reader::ReadError::Http(e) => transport(url, &e),
        bytes_reader::ReadError::TooLarge => Error::InvalidResponse {
            url: url.to_owned(),
            status,
            message: format!("the answer is larger than {MAX_BODY} bytes"),
            transaction_id: None,
        },
    })?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// [`send`] with a timeout on this request alone (from sending to the end of the answer),
/// which also holds for a custom client that has no timeout of its own.
pub(crate) async fn send_within(
    req: reqwest::RequestBuilder,
    url: &str,
    timeout: Duration,
) -> Result<Answer, Error> {
    send(req.timeout(timeout), url).await
}

mod bytes_reader {
    use zeroize::Zeroizing;

    pub enum ReadError {
        Http(reqwest::Error),
        TooLarge,
    }

    /// Reads the body into a buffer that is zeroed when dropped, and when it grows: the
    /// bytes are moved to a bigger zeroing buffer by hand rather than reallocated, which
    /// would free the old copy unzeroed.
    pub async fn read_capped(
        mut resp: reqwest::Response,
        cap: usize,
    ) -> Result<Zeroizing<Vec<u8>>, ReadError> {
        let declared = resp.content_length();
        if declared.is_some_and(|l| l > cap as u64) {
            return Err(ReadError::TooLarge);
        }
        let first = declared
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(8 * 1024)
            .min(cap);
        let mut body = Zeroizing::new(Vec::with_capacity(first));
        while let Some(chunk) = resp.chunk().await.map_err(ReadError::Http)? {
            append(&mut body, &chunk, cap)?;
        }
        Ok(body)
    }

    /// Appends `chunk`, growing by hand (see [`read_capped`]); at most `cap` bytes.
    pub fn append(
        body: &mut Zeroizing<Vec<u8>>,
        chunk: &[u8],
        cap: usize,
    ) -> Result<(), ReadError> {
        let needed = body.len().saturating_add(chunk.len());
        if needed > cap {
            return Err(ReadError::TooLarge);
        }
        if needed > body.capacity() {
            let size = needed.max(body.capacity().saturating_mul(2)).min(cap);
            let mut bigger = Zeroizing::new(Vec::with_capacity(size));
            bigger.extend_from_slice(body);
            // The old buffer is zeroed as it drops here.
            *body = bigger;
        }
        body.extend_from_slice(chunk);
        Ok(())
    }
}

/// An IMF-fixdate as Unix seconds; `None` for anything else.
fn parse_http_date(s: &str) -> Option<i64> {
    let mut it = s.split_ascii_whitespace();
    it.next()?.strip_suffix(',')?;
    let day: i64 = it.next()?.parse().ok()?;
    let month: i64 = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let mut field = || hms.next()?.parse::<i64>().ok();
    let (h, m, sec) = (field()?, field()?, field()?);
    if it.next()? != "GMT" || it.next().is_some() {
        return None;
    }
    if !((1..=31).contains(&day)
        && (1970..=9999).contains(&year)
        && (0..24).contains(&h)
        && (0..60).contains(&m)
        && (0..=60).contains(&sec))
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), years starting in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// `Retry-After` in seconds (the HTTP-date form is not used by IAM and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(24 * 3600)))
}

/// Reads IAM's error shapes: the token endpoint's (`errorCode`, `errorMessage`,
/// `errorDetails`, `context.requestId`) and the APIs' (`errors[0].code`, `message`,
/// `trace`); anything else becomes the start of the body as text.
pub(crate) fn parse_iam_error(status: u16, headers: &HeaderMap, body: &[u8]) -> IamError {
    let header_txid = headers
        .get("transaction-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let s = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    let (code, message, details, body_txid) = match &json {
        Some(v) if v.get("errorCode").is_some() || v.get("errorMessage").is_some() => (
            s(v.get("errorCode")),
            s(v.get("errorMessage")),
            s(v.get("errorDetails")),
            s(v.get("context").and_then(|c| c.get("requestId"))),
        ),
        Some(v) if v.get("errors").and_then(|e| e.get(0)).is_some() => {
            let first = &v["errors"][0];
            (
                s(first.get("message_code")).or_else(|| s(first.get("code"))),
                s(first.get("message")),
                s(first.get("details")),
                s(v.get("trace")),
            )
        }
        Some(v) => (
            None,
            s(v.get("message")).or_else(|| s(v.get("error"))),
            None,
            None,
        ),
        None => (None, None, None, None),
    };
    let message = message.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let trimmed: String = text.trim().chars().take(200).collect();
        if trimmed.is_empty() {
            "no error body".to_owned()
        } else {
            trimmed
        }
    });
    IamError {
        status,
        code,
        message,
        details,
        transaction_id: header_txid.or(body_txid),
        retry_after: retry_after(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, reqwest::header::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn answer_bodies_are_zeroed_on_drop() {
        let a = Answer {
            status: 200,
            headers: HeaderMap::new(),
            body: Zeroizing::new(b"{\"access_token\":\"secret\"}".to_vec()),
        };
        // The type is the guarantee: `Zeroizing` zeroes the whole allocation on drop.
        let body: &Zeroizing<Vec<u8>> = &a.body;
        assert!(!body.is_empty());
        // Growing never reallocates in place (which would free an unzeroed copy): each
        // growth moves to a new zeroing buffer with room to spare, and the cap holds.
        let mut body = Zeroizing::new(Vec::with_capacity(4));
        let mut growths = 0;
        for i in 0..100u8 {
            let before = body.capacity();
            assert!(bytes_reader::append(&mut body, &[i; 10], 1000).is_ok());
            growths += usize::from(body.capacity() != before);
        }
        assert_eq!(body.len(), 1000);
        assert!(growths < 12, "{growths} growths");
        assert!(bytes_reader::append(&mut body, b"x", 1000).is_err());
    }

    #[test]
    fn reads_imf_fixdates_only() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 99 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_both_iam_error_shapes_and_text() {
        let oidc = br#"{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found","context":{"requestId":"req-1"}}"#;
        let e = parse_iam_error(400, &headers(&[]), oidc);
        assert_eq!(e.code.as_deref(), Some("BXNIM0415E"));
        assert_eq!(e.transaction_id.as_deref(), Some("req-1"));

        let api = br#"{"errors":[{"code":"not_found","message_code":"BXNIM0102E","message":"Unable to find object"}],"trace":"t-2","status_code":404}"#;
        let e = parse_iam_error(404, &headers(&[("transaction-id", "hdr")]), api);
        assert_eq!(e.code.as_deref(), Some("BXNIM0102E"));
        assert_eq!(e.transaction_id.as_deref(), Some("hdr"), "the header wins");

        let e = parse_iam_error(
            503,
            &headers(&[("retry-after", "12")]),
            b"<html>busy</html>",
        );
        assert_eq!(e.message, "<html>busy</html>");
        assert_eq!(e.retry_after, Some(Duration::from_secs(12)));
        assert!(e.is_transient());
        let e = parse_iam_error(
            500,
            &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            b"",
        );
        assert_eq!(e.retry_after, None);
        assert_eq!(e.message, "no error body");
    }
}
