//! `ibm-iam token`, `validate`, usage errors and completions, driven as a user would.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ibm_iam_emulator::{Emulator, EmulatorState, Tls};

const BIN: &str = env!("CARGO_BIN_EXE_ibm-iam");
const KEY: &str = "cli-commands-key-0123456789abcdefghijklmn";

/// Runs the binary with `args`, optional stdin, a clean environment but for `env`.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("IBMCLOUD_API_KEY")
        .env_remove("IBM_IAM_URL")
        .env_remove("IBM_IAM_TIMEOUT")
        .env_remove("IBM_CREDENTIALS_FILE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An emulator on its own runtime thread, for the life of the test.
fn emulator() -> (String, tokio::runtime::Runtime) {
    let (url, _, rt) = emulator_with(Tls::Off);
    (url, rt)
}

/// The same, over `tls`, with a handle on its state (clock, counters).
fn emulator_with(tls: Tls) -> (String, EmulatorState, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let emu = rt
        .block_on(Emulator::builder().apikey(KEY).tls(tls).start())
        .expect("emulator");
    let url = emu.url().to_owned();
    let state = emu.state().clone();
    rt.spawn(async move {
        let _keep = emu;
        std::future::pending::<()>().await;
    });
    (url, state, rt)
}

/// A token the emulator issued two hours ago (its clock set back, then forward again).
fn expired_token(url: &str, state: &EmulatorState) -> String {
    state.clock().advance(-2 * 3600);
    let body: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{url}/identity/token"))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", KEY),
        ])
        .send()
        .expect("send")
        .json()
        .expect("json");
    state.clock().advance(2 * 3600);
    body["access_token"].as_str().expect("token").to_owned()
}

#[test]
fn token_in_every_format_and_validate_it() {
    let (url, _rt) = emulator();
    let env = [("IBMCLOUD_API_KEY", KEY), ("IBM_IAM_URL", url.as_str())];
    let plain = run(&["token"], &env, None);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    let token = text(&plain.stdout).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    let header = run(&["token", "--header"], &env, None);
    assert!(text(&header.stdout).starts_with("Authorization: Bearer eyJ"));

    let json = run(&["token", "--json"], &env, None);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().expect("expires_in") > 3500);
    assert!(
        v["iam_id"]
            .as_str()
            .expect("iam_id")
            .starts_with("iam-ServiceId-")
    );

    // validate from an argument and from stdin, text and JSON.
    let ok = run(&["validate", &token], &env, None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).starts_with("valid"));
    let ok = run(
        &["--output", "json", "validate", "-"],
        &env,
        Some(&format!("Bearer {token}\n")),
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(v["valid"], true);
    assert_eq!(v["claims"]["iss"], "https://iam.cloud.ibm.com/identity");

    // A tampered token: exit 1 and the failed check named.
    // One character in the middle of the signature changes: every such character carries
    // six bits, so the token stays canonical base64url (the last one does not: it carries
    // two, and most replacements of it are malformed rather than forged).
    let at = token.rfind('.').expect("signature") + 10;
    let mut forged = token.clone();
    let was = forged.remove(at);
    forged.insert(at, if was == 'A' { 'B' } else { 'A' });
    let bad = run(&["validate", &forged], &env, None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stdout).contains("invalid") && text(&bad.stdout).contains("[check: signature]"),
        "{}",
        text(&bad.stdout)
    );
    let bad = run(&["-o", "json", "validate", &forged], &env, None);
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["check"], "signature");
    let malformed = run(&["validate", "-"], &env, Some("not-a-token"));
    assert_eq!(malformed.status.code(), Some(1));
    assert!(text(&malformed.stdout).contains("malformed"));
    let malformed = run(&["-o", "json", "validate", "-"], &env, Some("not-a-token"));
    let v: serde_json::Value = serde_json::from_slice(&malformed.stdout).expect("json");
    assert_eq!(v["check"], "malformed");

    // With no argument, a token piped to stdin is read.
    let piped = run(&["validate"], &env, Some(&token));
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped.stderr));
}

#[test]
fn validate_names_the_expired_check() {
    let (url, state, _rt) = emulator_with(Tls::Off);
    let env = [("IBM_IAM_URL", url.as_str())];
    let old = expired_token(&url, &state);
    let out = run(&["-o", "json", "validate", &old], &env, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["check"], "expired", "{v}");
    assert!(v["reason"].as_str().expect("reason").contains("expired"));
    let out = run(&["validate", &old], &env, None);
    assert!(
        text(&out.stdout).contains("[check: expired]"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn header_and_json_output_conflict() {
    for args in [
        &["-o", "json", "token", "--header"][..],
        &["token", "--header", "--output", "json"],
        &["token", "--header", "--json"],
    ] {
        let out = run(args, &[("IBMCLOUD_API_KEY", KEY)], None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn profile_reads_credentials_from_an_ibm_credentials_file() {
    let (url, _rt) = emulator();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("books.env");
    // The endpoint comes from the file too: no IBM_IAM_URL.
    std::fs::write(
        &file,
        format!("# books service\nBOOKS_APIKEY={KEY}\nBOOKS_AUTH_URL={url}\n"),
    )
    .expect("write");
    let path = file.display().to_string();
    let env = [("IBM_CREDENTIALS_FILE", path.as_str())];
    let out = run(&["token", "--profile", "books"], &env, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);
    let ok = run(&["--iam-url", &url, "validate", &token], &[], None);
    assert_eq!(ok.status.code(), Some(0), "a token from the emulator");

    let out = run(&["token", "--profile", "other"], &env, None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no credentials for 'other'") && err.contains("hint: set OTHER_APIKEY"),
        "{err}"
    );
}

#[test]
fn a_profile_over_https_keeps_its_endpoint_and_tls_settings_for_every_call() {
    // A self-signed emulator: only <SERVICE>_AUTH_DISABLE_SSL=true (or any other true of
    // Go's ParseBool, as the library reads it) lets the calls through.
    let (url, _, _rt) = emulator_with(Tls::SelfSigned);
    assert!(url.starts_with("https://"));
    for disable in ["true", "1"] {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("ibm-credentials.env");
        std::fs::write(
            &file,
            format!("BOOKS_APIKEY={KEY}\nBOOKS_AUTH_URL={url}\nBOOKS_AUTH_DISABLE_SSL={disable}\n"),
        )
        .expect("write");
        let path = file.display().to_string();
        let env = [("IBM_CREDENTIALS_FILE", path.as_str())];
        let out = run(&["token", "--profile", "books"], &env, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{disable}: {}",
            text(&out.stderr)
        );
        // authz and roles call the PDP at the profile's endpoint, not production: the PDP
        // answers (a deny is exit 1; an unreachable PDP would be exit 2).
        let crn = "crn:v1:bluemix:public:books:us-south:a/5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e:s::";
        let out = run(
            &[
                "authz",
                "--profile",
                "books",
                "--subject",
                "IBMid-0000NOBODY",
                "--action",
                "books.book.read",
                "--resource",
                crn,
            ],
            &env,
            None,
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{disable}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stdout).starts_with("denied"), "{disable}");
    }
}

#[test]
fn usage_errors_are_clear_and_exit_2() {
    let out = run(&["token"], &[], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("IBMCLOUD_API_KEY is not set") && err.contains("hint:"),
        "{err}"
    );

    let out = run(&["--no-such-flag"], &[], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("unexpected argument '--no-such-flag'") && err.contains("Usage: ibm-iam"),
        "{err}"
    );
    let out = run(&["validate", "--no-such-flag"], &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--no-such-flag'"));
    let out = run(&["validate", "-"], &[], Some(""));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no token"));
    let out = run(
        &["--iam-url", "http://iam.example.com", "token"],
        &[("IBMCLOUD_API_KEY", "k")],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("https"));

    let out = run(
        &["token"],
        &[
            ("IBMCLOUD_API_KEY", "wrong-key"),
            ("IBM_IAM_URL", "http://127.0.0.1:9"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out.stderr).contains("wrong-key"),
        "the key is never printed"
    );
}

#[test]
fn shell_completions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[], None);
        assert!(out.status.success());
        assert!(text(&out.stdout).contains("validate"), "{shell}");
    }
}

#[test]
fn help_shows_examples_for_every_command() {
    let out = run(&["--help"], &[], None);
    let t = text(&out.stdout);
    assert!(t.contains("Examples:") && t.contains("--timeout"), "{t}");
    for sub in [
        "token",
        "validate",
        "authz",
        "roles",
        "emulator",
        "demo",
        "completions",
    ] {
        let out = run(&[sub, "--help"], &[], None);
        assert!(out.status.success(), "{sub}");
        let t = text(&out.stdout);
        assert!(
            t.contains("Examples:") && t.contains(&format!("ibm-iam {sub}")),
            "{sub} --help:\n{t}"
        );
    }
}

/// Runs `args` under `script(1)`, so the binary's stdin, stdout and stderr are a terminal.
/// `None` when `script` is not installed.
fn on_a_terminal(args: &str, no_color: bool) -> Option<String> {
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &format!("{BIN} {args}"), "/dev/null"])
        .env_remove("IBM_IAM_URL")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let mut child = cmd.spawn().ok()?;
    let started = Instant::now();
    while child.try_wait().ok()?.is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{args} waited on the terminal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().ok()?;
    Some(text(&out.stdout))
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // Off a terminal: plain, with or without NO_COLOR.
    for no_color in [false, true] {
        let mut cmd = Command::new(BIN);
        cmd.args(["validate", "not-a-token"])
            .env_remove("IBM_IAM_URL")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stdout).starts_with("invalid:"));
        assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));
    }
    // On a terminal: colour, unless NO_COLOR.
    let Some(coloured) = on_a_terminal("validate not-a-token", false) else {
        eprintln!("script(1) not installed; the decision itself is unit-tested");
        return;
    };
    assert!(coloured.contains("\x1b[31minvalid:"), "{coloured:?}");
    let plain = on_a_terminal("validate not-a-token", true).expect("script");
    assert!(
        plain.contains("invalid:") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

#[test]
fn validate_without_a_token_on_a_terminal_says_so_instead_of_waiting() {
    let Some(out) = on_a_terminal("validate", true) else {
        return;
    };
    assert!(
        out.contains("no token given") && out.contains("hint:"),
        "{out:?}"
    );
}
