//! Every command that talks to IAM fails quickly and clearly when IAM cannot be reached:
//! a port that accepts connections and never answers, and a closed port, with the CLI's
//! default `--timeout` (15 s).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

const BIN: &str = env!("CARGO_BIN_EXE_ibm-iam");
const KEY: &str = "unreachable-test-key-0123456789abcdefghij";
const CRN: &str =
    "crn:v1:bluemix:public:books:us-south:a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e:shelf-1::";
/// Well above the default budget plus slack (17 s), well below the library's own minute.
const BOUND: Duration = Duration::from_secs(30);

fn run(args: &[&str], url: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .env_remove("IBM_IAM_TIMEOUT")
        .env("IBMCLOUD_API_KEY", KEY)
        .env("IBM_IAM_URL", url)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    (out, started.elapsed())
}

/// A token that parses, so that checking it needs IAM's keys.
fn well_formed_token() -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.AAAA",
        b64(serde_json::json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})),
        b64(serde_json::json!({
            "iam_id": "IBMid-1", "sub": "a@example.com", "exp": 4_000_000_000i64, "iat": 1,
            "iss": "https://iam.cloud.ibm.com/identity",
        }))
    )
}

fn commands(token: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    vec![
        s(&["token"]),
        s(&["validate", token]),
        s(&[
            "authz",
            "--token",
            token,
            "--action",
            "books.book.read",
            "--resource",
            CRN,
        ]),
        s(&[
            "authz",
            "--subject",
            "IBMid-1",
            "--action",
            "books.book.read",
            "--resource",
            CRN,
        ]),
        s(&["roles", "--subject", "IBMid-1", "--resource", CRN]),
    ]
}

/// Runs every command against `url` at once and checks each failed in time with a hint.
fn all_fail_quickly(url: &str, needles: &[&str]) {
    let token = well_formed_token();
    let runs: Vec<_> = commands(&token)
        .into_iter()
        .map(|args| {
            let url = url.to_owned();
            std::thread::spawn(move || {
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let (out, took) = run(&argv, &url);
                (
                    args.iter().take(2).cloned().collect::<Vec<_>>().join(" "),
                    out,
                    took,
                )
            })
        })
        .collect();
    for r in runs {
        let (what, out, took) = r.join().expect("thread");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(took < BOUND, "{what} took {took:?}");
        assert!(err.starts_with("error: "), "{what}: {err}");
        assert!(
            err.contains("hint: IAM could not be reached"),
            "{what}: a transient failure says so: {err}"
        );
        assert!(
            needles.iter().any(|n| err.contains(n)),
            "{what}: names the cause ({needles:?}): {err}"
        );
        assert!(!err.contains(KEY), "{what}: the API key is never printed");
        assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    }
}

#[test]
fn a_port_that_never_answers_fails_within_the_timeout() {
    // The kernel completes the handshakes; nobody ever reads or answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    all_fail_quickly(&url, &["timed out", "timeout", "no answer from IAM"]);
    drop(listener);
}

#[test]
fn a_closed_port_fails_at_once() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    all_fail_quickly(&url, &["Connection refused", "connection failure"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a refused connection is not waited for"
    );
}

#[test]
fn timeout_is_configurable() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (out, took) = run(&["--timeout", "2", "token"], &url);
    assert_eq!(out.status.code(), Some(2));
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let (out, _) = run(&["--timeout", "0", "token"], &url);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout"));
    drop(listener);
}
