//! Key fetches against endpoints that misbehave at the HTTP level: a redirect, an oversized
//! key set, a slow answer. With the crate's own client and with a caller's client
//! (`HttpConfig::client`), which follows redirects and has no timeout unless told.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ibm_iam::endpoint::PRODUCTION_ISSUER;
use ibm_iam::error::TransportKind;
use ibm_iam::{Error, HttpConfig, TokenValidator, VerifyError};
use ibm_iam_emulator::control::faults::FaultSpec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// A loopback HTTP/1.1 server that answers every request with `answer` and closes the
/// connection; counts the requests.
async fn canned(answer: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(&answer).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (url, hits)
}

/// A reqwest client as a caller would build it: reqwest's defaults, so redirects are
/// followed and there is no timeout.
fn callers_client() -> HttpConfig {
    HttpConfig::default().client(reqwest::Client::new())
}

fn validator(url: &str, http: HttpConfig) -> TokenValidator {
    TokenValidator::builder()
        .endpoint_url(url)
        .issuer(PRODUCTION_ISSUER)
        .http(http)
        .build()
        .expect("validator")
}

/// The fetch error behind a refusal, which must be transient.
fn fetch_error(r: Result<ibm_iam::verify::Claims, VerifyError>) -> Error {
    match r {
        Err(VerifyError::KeysUnavailable(e)) => e,
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_redirect_from_the_keys_url_is_refused_whatever_the_client() {
    let emu = emulator().await;
    let token = emulator_token(&emu).await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: {}/identity/keys\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        emu.url()
    );
    let (url, hits) = canned(redirect.into_bytes()).await;

    // The crate's client never follows: the 3xx itself is refused, by name.
    let own = validator(&url, HttpConfig::default());
    let e = fetch_error(own.validate(&token).await);
    assert!(
        matches!(&e, Error::InvalidResponse { status: 302, message, .. } if message.contains("redirect")),
        "{e}"
    );
    assert_eq!(key_fetches(&emu), 0);

    // A caller's client follows it to keys that would verify the token: the answer is
    // refused all the same, since it did not come from the endpoint.
    let theirs = validator(&url, callers_client());
    let e = fetch_error(theirs.validate(&token).await);
    assert!(
        matches!(&e, Error::InvalidResponse { message, .. } if message.contains("followed a redirect")),
        "{e}"
    );
    assert_eq!(key_fetches(&emu), 1, "the client did follow it");
    assert!(theirs.status().kids.is_empty(), "nothing was trusted");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_oversized_key_set_is_refused_cleanly() {
    let big = vec![b' '; 2 * 1024 * 1024];
    let token = key(0).token(&claims(unix(&ibm_iam::clock::SystemClock)));
    for (what, framing) in [
        ("declared", format!("Content-Length: {}\r\n", big.len() + 2)),
        ("undeclared", String::new()),
    ] {
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}Connection: close\r\n\r\n{{"
        )
        .into_bytes();
        answer.extend_from_slice(&big);
        answer.push(b'}');
        let (url, _) = canned(answer).await;
        for http in [HttpConfig::default(), callers_client()] {
            let v = validator(&url, http);
            let e = fetch_error(v.validate(&token).await);
            assert!(
                matches!(&e, Error::InvalidResponse { status: 200, message, .. } if message.contains("larger than")),
                "{what}: {e}"
            );
            assert!(e.is_transient());
            assert_eq!(v.status().consecutive_failures, 1);
        }
    }
}

#[tokio::test]
async fn a_slow_keys_endpoint_times_out_even_with_a_callers_client() {
    let emu = emulator().await;
    let token = emulator_token(&emu).await;
    emu.state()
        .faults()
        .add(FaultSpec {
            path: "/identity/keys".into(),
            method: None,
            status: None,
            retry_after: None,
            latency_ms: Some(5_000),
            action: None,
            count: None,
            probability: None,
        })
        .expect("fault");
    let v = validator(
        emu.url(),
        callers_client().request_timeout(Duration::from_millis(300)),
    );
    let started = Instant::now();
    let e = fetch_error(v.validate(&token).await);
    assert!(
        matches!(
            &e,
            Error::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the request timeout applies, not the endpoint's 5 s: {:?}",
        started.elapsed()
    );
    assert!(e.is_transient());
}
