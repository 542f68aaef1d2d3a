//! Configuration from the environment and credentials files, as IBM's cores read it, shown
//! by its effect on the tokens the emulator issues.

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
        let tm = c
            .token_manager_builder()
            .expect("builder")
            .retry(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
            .build()
            .expect("manager");
        let got = tm.get_token().await;
        // The emulator's certificate is self-signed: only with verification off does the
        // handshake succeed.
        assert_eq!(got.is_ok(), verification_off, "{value}: {got:?}");
    }
}
