//! Configuration from the environment and credentials files, as IBM's cores read it, shown
//! by its effect on the tokens the emulator issues.

use ibm_iam::TokenManager;
use ibm_iam::config::{Lookup, ServiceConfig};
use ibm_iam::token::RetryPolicy;
use ibm_iam_emulator::{Emulator, Seed, Tls};
use serde_json::json;

use crate::common::*;

fn lookup(pairs: &[(&str, &str)]) -> Lookup {
    Lookup {
        vars: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        cwd: None,
        home: None,
    }
}

fn config(service: &str, lookup: &Lookup) -> ServiceConfig {
    ServiceConfig::load(service, lookup)
        .expect("readable")
        .expect("found")
}

/// The manager `c` configures, making a single attempt: a failure is reported at once.
fn single_attempt_manager(c: &ServiceConfig) -> TokenManager {
    c.token_manager_builder()
        .expect("builder")
        .retry(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .build()
        .expect("manager")
}

#[tokio::test]
async fn auth_disable_ssl_is_a_boolean_read_as_ibms_go_core_reads_it() {
    let emu = Emulator::builder()
        .seed(
            Seed::from_json(include_str!("../../../ibm-iam-emulator/examples/seed.json"))
                .expect("seed"),
        )
        .tls(Tls::SelfSigned)
        .start()
        .await
        .expect("emulator");
    assert!(emu.url().starts_with("https://"));
    for (value, verification_off) in [
        ("1", true),
        ("t", true),
        ("T", true),
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("0", false),
        ("false", false),
        ("yes", false),
        ("tRuE", false),
    ] {
        let c = config(
            "books",
            &lookup(&[
                ("BOOKS_APIKEY", BOOKS_KEY),
                ("BOOKS_AUTH_URL", emu.url()),
                ("BOOKS_AUTH_DISABLE_SSL", value),
            ]),
        );
        let tm = single_attempt_manager(&c);
        let got = tm.get_token().await;
        // The emulator's certificate is self-signed: only with verification off does the
        // handshake succeed.
        assert_eq!(got.is_ok(), verification_off, "{value}: {got:?}");
    }
}

#[tokio::test]
async fn scope_from_the_environment_reaches_iam() {
    let emu = emulator().await;
    let c = config(
        "books",
        &lookup(&[
            ("BOOKS_APIKEY", ALICE_KEY),
            ("BOOKS_AUTH_URL", emu.url()),
            ("BOOKS_SCOPE", "ibm openid books"),
        ]),
    );
    let tm = c.token_manager().expect("manager");
    let claims = claims(tm.get_token().await.expect("token").expose_secret());
    assert_eq!(claims["scope"], "ibm openid books");
    // Without it, no scope is sent and IAM's default applies.
    let c = config(
        "books",
        &lookup(&[("BOOKS_APIKEY", ALICE_KEY), ("BOOKS_AUTH_URL", emu.url())]),
    );
    let tm = c.token_manager().expect("manager");
    let claims = crate::common::claims(tm.get_token().await.expect("token").expose_secret());
    assert_ne!(claims["scope"], "ibm openid books");
}

#[tokio::test]
async fn cr_token_filename_names_the_file_the_container_source_reads() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("my-cr-token");
    std::fs::write(&file, cr_token(&emu, json!({"namespace": "books"})).await).expect("write");
    let path = file.to_str().expect("utf-8 path");
    for profile in [
        ("BOOKS_IAM_PROFILE_NAME", "books-workload"),
        ("BOOKS_IAM_PROFILE_ID", PROFILE),
    ] {
        let c = config(
            "books",
            &lookup(&[
                ("BOOKS_AUTH_TYPE", "container"),
                ("BOOKS_CR_TOKEN_FILENAME", path),
                ("BOOKS_AUTH_URL", emu.url()),
                profile,
            ]),
        );
        let tm = c.token_manager().expect("manager");
        let claims = claims(tm.get_token().await.expect("token").expose_secret());
        assert_eq!(claims["iam_id"], format!("iam-{PROFILE}"), "{profile:?}");
    }
    // A file that is not there is named in the error.
    let c = config(
        "books",
        &lookup(&[
            ("BOOKS_AUTH_TYPE", "container"),
            ("BOOKS_CR_TOKEN_FILENAME", "/nonexistent/cr-token"),
            ("BOOKS_AUTH_URL", emu.url()),
            ("BOOKS_IAM_PROFILE_ID", PROFILE),
        ]),
    );
    let tm = single_attempt_manager(&c);
    let err = tm.get_token().await.expect_err("no file");
    assert!(err.to_string().contains("/nonexistent/cr-token"), "{err}");
}

#[tokio::test]
async fn the_credentials_file_in_the_home_directory_is_read() {
    let emu = emulator().await;
    let home = tempfile::tempdir().expect("home");
    let cwd = tempfile::tempdir().expect("cwd");
    let home_file = home.path().join("ibm-credentials.env");
    std::fs::write(
        &home_file,
        format!(
            "# written by `ibmcloud`\nBOOKS_APIKEY={BOOKS_KEY}\nBOOKS_AUTH_URL={}\nBOOKS_SCOPE=ibm openid home\n",
            emu.url()
        ),
    )
    .expect("write");
    let at = |cwd: &std::path::Path| Lookup {
        vars: vec![("BOOKS_APIKEY".into(), "from-the-environment".into())],
        cwd: Some(cwd.to_owned()),
        home: Some(home.path().to_owned()),
    };
    // No file in the working directory: the home one, ahead of the environment.
    let c = config("books", &at(cwd.path()));
    assert_eq!(c.source(), home_file.display().to_string());
    let tm = c.token_manager().expect("manager");
    let claims = claims(tm.get_token().await.expect("token").expose_secret());
    assert_eq!(claims["scope"], "ibm openid home");
    assert_eq!(
        claims["sub"],
        "ServiceId-9b1c7d4e-0000-4000-8000-000000000001"
    );
    // One in the working directory wins over the home one.
    let cwd_file = cwd.path().join("ibm-credentials.env");
    std::fs::write(&cwd_file, format!("BOOKS_APIKEY={ALICE_KEY}\n")).expect("write");
    let c = config("books", &at(cwd.path()));
    assert_eq!(c.source(), cwd_file.display().to_string());
    assert_eq!(c.get("APIKEY"), Some(ALICE_KEY));
}
