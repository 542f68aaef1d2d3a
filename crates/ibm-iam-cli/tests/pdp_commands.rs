//! `ibm-iam authz`, `roles` and `demo`, driven as a user would, against the emulator.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

use ibm_iam_emulator::{Emulator, Seed};

const BIN: &str = env!("CARGO_BIN_EXE_ibm-iam");
const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const BOOKS_KEY: &str = "books-backend-apikey-0123456789abcdefghij";
const BOOKS_SID: &str = "iam-ServiceId-9b1c7d4e-0000-4000-8000-000000000001";

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("IBMCLOUD_API_KEY")
        .env_remove("IBM_IAM_URL")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn emulator() -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let seed =
        Seed::from_json(include_str!("../../ibm-iam-emulator/examples/seed.json")).expect("seed");
    let emu = rt
        .block_on(Emulator::builder().seed(seed).start())
        .expect("emulator");
    let url = emu.url().to_owned();
    rt.spawn(async move {
        let _keep = emu;
        std::future::pending::<()>().await;
    });
    (url, rt)
}

#[test]
fn authz_exit_codes_follow_the_decision() {
    let (url, _rt) = emulator();
    // The service's own credentials call the PDP; the seed gives books-backend Reader on books.
    let env = [
        ("IBMCLOUD_API_KEY", BOOKS_KEY),
        ("IBM_IAM_URL", url.as_str()),
    ];
    let crn = format!("crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-1::");
    let ok = run(
        &[
            "authz",
            "--subject",
            BOOKS_SID,
            "--action",
            "books.book.read",
            "--resource",
            &crn,
            "-v",
        ],
        &env,
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );
    let out = text(&ok.stdout);
    assert!(out.starts_with("permitted books.book.read"), "{out}");
    assert!(
        out.contains("actions:") && out.contains("books.dashboard.view"),
        "{out}"
    );

    let denied = run(
        &[
            "authz",
            "--subject",
            BOOKS_SID,
            "--action",
            "books.book.delete",
            "--resource",
            &crn,
        ],
        &env,
    );
    assert_eq!(denied.status.code(), Some(1));
    assert!(text(&denied.stdout).starts_with("denied"));

    let attrs = run(
        &[
            "-o",
            "json",
            "authz",
            "--subject",
            BOOKS_SID,
            "--action",
            "books.book.read",
            "--attr",
            "serviceName=books",
            "--attr",
            &format!("accountId={ACCOUNT}"),
        ],
        &env,
    );
    let v: serde_json::Value = serde_json::from_slice(&attrs.stdout).expect("json");
    assert_eq!(v["permitted"], true);

    // The subject given by its token (verified first).
    let token = run(&["token"], &env);
    let token = text(&token.stdout).trim().to_owned();
    let by_token = run(
        &[
            "authz",
            "--token",
            &token,
            "--action",
            "books.book.read",
            "--resource",
            &crn,
        ],
        &env,
    );
    assert_eq!(
        by_token.status.code(),
        Some(0),
        "{}",
        text(&by_token.stderr)
    );

    // Bad input: exit 2 with a hint.
    let bad = run(
        &[
            "authz",
            "--subject",
            BOOKS_SID,
            "--action",
            "books.book.read",
            "--resource",
            "crn:v1:oops",
        ],
        &env,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("hint:"), "{}", text(&bad.stderr));
    let bad = run(
        &[
            "authz",
            "--subject",
            BOOKS_SID,
            "--action",
            "books.book.read",
            "--attr",
            "novalue",
        ],
        &env,
    );
    assert_eq!(bad.status.code(), Some(2));
    let forged = run(
        &[
            "authz",
            "--token",
            "a.b.c",
            "--action",
            "books.book.read",
            "--resource",
            &crn,
        ],
        &env,
    );
    assert_eq!(forged.status.code(), Some(2));
}

#[test]
fn roles_lists_the_policies_roles() {
    let (url, _rt) = emulator();
    let env = [
        ("IBMCLOUD_API_KEY", BOOKS_KEY),
        ("IBM_IAM_URL", url.as_str()),
    ];
    let crn = format!("crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-1::");
    let out = run(&["roles", "--subject", BOOKS_SID, "--resource", &crn], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("Reader") && t.contains("books.book.read"), "{t}");
    let json = run(
        &[
            "-o",
            "json",
            "roles",
            "--subject",
            BOOKS_SID,
            "--resource",
            &crn,
        ],
        &env,
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(
        v["service"][0]["role"],
        "crn:v1:bluemix:public:iam::::serviceRole:Reader"
    );
}

#[test]
fn the_demo_runs_end_to_end() {
    let out = run(&["demo"], &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let t = text(&out.stdout);
    for needle in [
        "1. Emulator",
        "3. Tokens",
        "4. Verify",
        "permitted",
        "denied",
        "(cache,",
        "6. Roles",
        "done",
    ] {
        assert!(t.contains(needle), "{needle:?} missing:\n{t}");
    }
    let json = run(&["demo", "--json"], &[]);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(
        v["tokens"]["iam_requests"], 2,
        "one request, then one after the invalidation"
    );
    assert_eq!(v["verify"]["key_fetches"], 1);
    let checks = v["authorize"]["checks"].as_array().expect("checks");
    assert_eq!(
        checks
            .iter()
            .map(|c| c["permitted"].as_bool().expect("bool"))
            .collect::<Vec<_>>(),
        [true, false, true, true]
    );
    assert_eq!(checks[2]["from_cache"], true);
    assert_eq!(
        checks[3]["from_cache"], true,
        "the obligation covers the other action and instance"
    );
    assert_eq!(v["authorize"]["pdp_calls"], 2);
    assert!(
        v["roles"]["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .any(|a| a == "books.book.read")
    );
}
