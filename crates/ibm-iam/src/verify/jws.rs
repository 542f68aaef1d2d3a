//! Compact JWS parsing, strict, before any key is looked up or any signature checked.
//!
//! * A length cap, then exactly three segments found by a bounded scan (a fourth `.` is
//!   refused at once: JWE tokens have five segments, and splitting an attacker's string
//!   into an unbounded list is CVE-2025-27144's class).
//! * Canonical base64url: no padding, no characters outside the alphabet, no whitespace, no
//!   non-zero trailing bits (base64's strict engine).
//! * A header that is one JSON object without duplicate members, whose `alg` is exactly
//!   `RS256` (the algorithm is pinned, never chosen by the token), with a string `kid`,
//!   and without `crit`. `jwk`, `jku`, `x5u`, `x5c` and the like are never used: the key
//!   comes only from the configured key set.
//! * A signature of at most 1024 bytes (RSA-8192).
//!
//! The claims' JSON is parsed only after the signature verifies ([`super::claims`]).

use super::error::{Part, VerifyError, cut};
use super::json::{Any, JsonProblem, member, parse_borrowed};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The default largest token accepted (IAM's are 1–2 KiB).
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
/// The largest encoded header accepted (IAM's is about 50 bytes).
const MAX_HEADER_B64: usize = 4 * 1024;
/// The longest `kid` accepted (IAM's are 8 or 12 digits).
pub(crate) const MAX_KID_LEN: usize = 256;
/// The longest signature accepted: 1024 bytes, base64url.
const MAX_SIGNATURE_B64: usize = 1366;

/// A compact JWS whose format and header passed (no `Debug`: it holds a signature).
pub(crate) struct Compact<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The header's `kid`.
    pub kid: String,
    /// The decoded payload (JSON not yet parsed).
    pub payload: Vec<u8>,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// The three segments of a token, or why it does not have exactly three.
pub(crate) fn segments(token: &str, max_len: usize) -> Result<(&str, &str, &str), VerifyError> {
    if token.is_empty() {
        return Err(VerifyError::Empty);
    }
    if token.len() > max_len {
        return Err(VerifyError::TooLarge {
            len: token.len(),
            max: max_len,
        });
    }
    let Some((first, rest)) = token.split_once('.') else {
        return Err(VerifyError::malformed(
            Part::Token,
            "not three dot-separated segments",
        ));
    };
    let Some((second, third)) = rest.split_once('.') else {
        return Err(VerifyError::malformed(
            Part::Token,
            "not three dot-separated segments",
        ));
    };
    if third.contains('.') {
        return Err(VerifyError::malformed(
            Part::Token,
            "more than three segments (JWE and other forms are not accepted)",
        ));
    }
    Ok((first, second, third))
}

fn decode(segment: &str, part: Part) -> Result<Vec<u8>, VerifyError> {
    if segment.is_empty() {
        return Err(VerifyError::malformed(part, "the segment is empty"));
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::malformed(part, "not canonical unpadded base64url"))
}

/// Parses a compact token and checks its header. Never panics, whatever the input.
pub(crate) fn parse(token: &str, max_len: usize) -> Result<Compact<'_>, VerifyError> {
    let (h, p, s) = segments(token, max_len)?;
    if h.len() > MAX_HEADER_B64 {
        return Err(VerifyError::malformed(
            Part::Header,
            "the header is too long",
        ));
    }
    let header = decode(h, Part::Header)?;
    let kid = check_header(&header)?;
    let payload = decode(p, Part::Payload)?;
    if s.len() > MAX_SIGNATURE_B64 {
        return Err(VerifyError::malformed(
            Part::Signature,
            "longer than any RSA signature accepted",
        ));
    }
    let signature = decode(s, Part::Signature)?;
    Ok(Compact {
        signing_input: &token[..h.len() + 1 + p.len()],
        kid,
        payload,
        signature,
    })
}

/// Checks a decoded header; returns its `kid`.
fn check_header(json: &[u8]) -> Result<String, VerifyError> {
    let text =
        std::str::from_utf8(json).map_err(|_| VerifyError::malformed(Part::Header, "not JSON"))?;
    let header = parse_borrowed(text).map_err(|p| {
        VerifyError::malformed(
            Part::Header,
            match p {
                JsonProblem::Syntax => "not JSON",
                JsonProblem::NotObject => "not a JSON object",
                JsonProblem::Duplicate => "a member appears twice",
            },
        )
    })?;
    match member(&header, "alg") {
        Some(Any::Str(alg)) if alg == "RS256" => {}
        Some(Any::Str(alg)) => {
            return Err(VerifyError::Algorithm { alg: cut(alg, 32) });
        }
        Some(_) => return Err(VerifyError::malformed(Part::Header, "alg is not a string")),
        None => return Err(VerifyError::malformed(Part::Header, "alg is missing")),
    }
    if member(&header, "crit").is_some() {
        return Err(VerifyError::CriticalHeader);
    }
    // RFC 7797's unencoded payload must be listed in `crit`, which is refused above; a
    // stray `b64` that is not `true` would mean a payload the signature does not cover
    // as we read it.
    if member(&header, "b64").is_some_and(|v| *v != Any::Bool(true)) {
        return Err(VerifyError::malformed(
            Part::Header,
            "b64 other than true is not supported",
        ));
    }
    if member(&header, "enc").is_some() || member(&header, "zip").is_some() {
        return Err(VerifyError::malformed(
            Part::Header,
            "encryption and compression headers are not accepted",
        ));
    }
    match member(&header, "kid") {
        Some(Any::Str(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => {
            Ok(kid.clone().into_owned())
        }
        Some(Any::Str(kid)) if kid.is_empty() => {
            Err(VerifyError::malformed(Part::Header, "kid is empty"))
        }
        Some(Any::Str(_)) => Err(VerifyError::malformed(Part::Header, "kid is too long")),
        Some(_) => Err(VerifyError::malformed(Part::Header, "kid is not a string")),
        None => Err(VerifyError::malformed(Part::Header, "kid is missing")),
    }
}

/// Decodes the payload segment of a token that has not been verified, for the fuzz
/// targets and diagnostics.
#[cfg(feature = "fuzzing")]
pub(crate) fn decode_payload(segment: &str) -> Result<Vec<u8>, VerifyError> {
    decode(segment, Part::Payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str) -> String {
        format!("{}.{}.{}", b64(header), b64("{}"), b64("sig"))
    }

    fn reason(r: Result<Compact<'_>, VerifyError>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_iams_header_and_slices_the_signing_input() {
        let t = token(r#"{"kid":"202409020842","alg":"RS256"}"#);
        let c = parse(&t, DEFAULT_MAX_TOKEN_LEN).expect("valid");
        assert_eq!(c.kid, "202409020842");
        assert_eq!(c.payload, b"{}");
        assert_eq!(c.signature, b"sig");
        assert_eq!(
            c.signing_input,
            &t[..t.rfind('.').expect("dot")],
            "header.payload"
        );
    }

    #[test]
    fn refuses_bad_segments() {
        let h = b64(r#"{"kid":"k","alg":"RS256"}"#);
        let p = b64("{}");
        let s = b64("sig");
        let max = DEFAULT_MAX_TOKEN_LEN;
        assert!(matches!(parse("", max), Err(VerifyError::Empty)));
        assert!(matches!(
            parse(&"a".repeat(max + 1), max),
            Err(VerifyError::TooLarge { .. })
        ));
        for bad in [
            format!("{h}.{p}"),
            format!("{h}{p}{s}"),
            format!("{h}.{p}.{s}."),
            format!("{h}.{p}.{s}.x.y"),
            format!("{h}.{p}."),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}=.{s}"),
            format!("{h}.{p}.{s}=="),
            format!("{h}.{p}.{s} "),
            format!(" {h}.{p}.{s}"),
            format!("{h}.{p}.s+g/"),
            format!("{h}.{p}.{s}\n"),
            format!("{h}.{p}.{}", "A".repeat(2000)),
            format!("{h}.{p}.c2lnB"), // non-zero trailing bits
        ] {
            assert!(
                matches!(parse(&bad, max), Err(VerifyError::Malformed { .. })),
                "{bad}: {}",
                reason(parse(&bad, max))
            );
        }
        assert!(parse(&format!("{h}.{p}.{s}"), max).is_ok());
    }

    #[test]
    fn pins_rs256_and_refuses_crit_and_odd_headers() {
        for alg in [
            "none", "None", "NONE", "nOnE", "HS256", "RS384", "PS256", "ES256", "rs256", "RS256 ",
            "",
        ] {
            let t = token(&format!(r#"{{"kid":"k","alg":"{alg}"}}"#));
            assert!(
                matches!(parse(&t, 99_999), Err(VerifyError::Algorithm { .. })),
                "{alg}"
            );
        }
        let bad_headers = [
            r#"{"kid":"k"}"#,
            r#"{"kid":"k","alg":null}"#,
            r#"{"kid":"k","alg":["RS256"]}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"RS256","kid":""}"#,
            r#"{"alg":"RS256","kid":7}"#,
            r#"{"alg":"RS256","kid":["k"]}"#,
            r#"{"alg":"RS256","kid":"k","alg":"none"}"#,
            r#"{"alg":"RS256","kid":"k","kid":"j"}"#,
            r#"{"alg":"RS256","kid":"k","b64":false}"#,
            r#"{"alg":"RS256","kid":"k","enc":"A128GCM"}"#,
            r#"{"alg":"RS256","kid":"k","zip":"DEF"}"#,
            r#"["RS256"]"#,
            "not json",
        ];
        for h in bad_headers {
            assert!(
                matches!(
                    parse(&token(h), 99_999),
                    Err(VerifyError::Malformed {
                        part: Part::Header,
                        ..
                    })
                ),
                "{h}: {}",
                reason(parse(&token(h), 99_999))
            );
        }
        for crit in [r#"["exp"]"#, "[]", r#""b64""#, "null"] {
            let t = token(&format!(r#"{{"alg":"RS256","kid":"k","crit":{crit}}}"#));
            assert!(
                matches!(parse(&t, 99_999), Err(VerifyError::CriticalHeader)),
                "{crit}"
            );
        }
        let long_kid = format!(
            r#"{{"alg":"RS256","kid":"{}"}}"#,
            "k".repeat(MAX_KID_LEN + 1)
        );
        assert!(parse(&token(&long_kid), 99_999).is_err());
        // Key material in the header is ignored, not an error: it is simply never used.
        let embedded = r#"{"alg":"RS256","kid":"k","jku":"https://evil.example/keys","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"},"x5u":"https://evil.example/c","x5c":["MII"],"typ":"JWT"}"#;
        assert_eq!(parse(&token(embedded), 99_999).expect("ignored").kid, "k");
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        for t in [
            "..",
            "...",
            "\u{0}.\u{0}.\u{0}",
            "é.é.é",
            "eyJ.eyJ.eyJ",
            "ey.J9.",
            "a.b.c",
            "\u{202e}.\u{202e}.\u{202e}",
        ] {
            let _ = parse(t, 64);
        }
    }
}
