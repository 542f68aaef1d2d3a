//! Any bytes as the token endpoint's answer to a grant: the first byte picks the status, the
//! second the Content-Type and optional headers, the rest is the body. A 2xx goes through
//! the checks that decide whether the token manager caches the token, anything else
//! through IAM's error shapes. Nothing may panic, and nothing unusable may be accepted.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use ibm_iam::token::fuzzing::{Outcome, token_answer};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 12] = [200, 200, 200, 200, 201, 204, 400, 401, 404, 429, 500, 503];
const TYPES: [Option<&[u8]>; 8] = [
    Some(b"application/json"),
    Some(b"application/json;charset=UTF-8"),
    Some(b"APPLICATION/JSON ; charset=utf-8"),
    Some(b"application/problem+json"),
    Some(b"text/html"),
    Some(b"text/plain; charset=utf-8"),
    Some(b"\xff\xfe"),
    None,
];
/// The seeds' `iat` plus a minute: their tokens are fresh at this instant.
const NOW: u64 = 1_746_519_454 + 60;

fuzz_target!(|data: &[u8]| {
    let [s, h, body @ ..] = data else { return };
    let status = STATUSES[usize::from(*s) % STATUSES.len()];
    let json = matches!(h & 7, 0..=3);
    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    if let Some(ct) = TYPES[usize::from(h & 7)] {
        headers.push((b"content-type", ct));
    }
    // The body's first line doubles as a header value: Retry-After and Transaction-Id
    // parsing sees arbitrary bytes too.
    let line = body.split(|b| *b == b'\n').next().unwrap_or_default();
    if h & 0x08 != 0 {
        headers.push((b"retry-after", line));
    }
    if h & 0x10 != 0 {
        headers.push((b"transaction-id", line));
    }
    let window = Duration::from_secs(if h & 0x20 != 0 { 0 } else { 10 });
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    match token_answer(status, &headers, body, now, window) {
        Outcome::Token(t) => {
            assert!((200..300).contains(&status));
            assert!(json, "a token is accepted only from a JSON answer");
            assert!(
                t.lifetime > window,
                "a token is accepted only if it outlives the window"
            );
            assert!(t.token_len >= 5, "an accepted token has three segments");
            let _ = format!("{t:?}");
        }
        Outcome::Refused(e) => {
            let _ = (e.to_string(), format!("{e:?}"), e.is_transient());
        }
        Outcome::IamError(e) => {
            assert_eq!(e.status, status);
            if let Some(after) = e.retry_after {
                assert!(
                    after <= Duration::from_secs(24 * 3600),
                    "Retry-After is capped"
                );
            }
            let _ = format!("{e:?}");
        }
    }
});
