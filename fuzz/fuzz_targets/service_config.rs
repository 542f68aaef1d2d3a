//! Any bytes as IBM's credential sources for a service: an `ibm-credentials.env` file, a
//! list of environment variables, or `VCAP_SERVICES` JSON. The first byte picks the source,
//! the text up to the first newline is the service name. Reading the properties, choosing
//! the authentication type and building the token manager (which parses `AUTH_URL`) never
//! panic, and a configuration's `Debug` never shows a secret property's value.

#![no_main]

use std::sync::OnceLock;

use ibm_iam::HttpConfig;
use ibm_iam::config::fuzzing::resolve;
use libfuzzer_sys::fuzz_target;

/// One HTTP client for every manager built: creating one (TLS roots) costs far more than
/// everything the target is about.
fn http() -> HttpConfig {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    HttpConfig::default().client(CLIENT.get_or_init(reqwest::Client::new).clone())
}

const SECRETS: [&str; 5] = [
    "APIKEY",
    "CLIENT_SECRET",
    "BEARER_TOKEN",
    "REFRESH_TOKEN",
    "IAM_APIKEY",
];

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (service, body) = text.split_once('\n').unwrap_or((text, ""));
    let config = match mode % 3 {
        0 => resolve(service, Some(body), Vec::new()),
        1 => {
            let vars = body
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            resolve(service, None, vars)
        }
        _ => resolve(
            service,
            None,
            vec![("VCAP_SERVICES".to_owned(), body.to_owned())],
        ),
    };
    let Some(config) = config else { return };
    // Debug shows the service name, the source and the property names, never values.
    let debug = format!("{config:?}");
    let names: Vec<&str> = body
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .chain([service, config.source()])
        .collect();
    for key in SECRETS {
        if let Some(value) = config.get(key) {
            let distinct = value.len() >= 8
                && value.chars().all(|c| c.is_ascii_alphanumeric())
                && !names.iter().any(|n| n.contains(value));
            assert!(
                !(distinct && debug.contains(value)),
                "a secret value is in Debug"
            );
        }
    }
    let _ = config.auth_type();
    if let Ok(builder) = config.token_manager_builder()
        && let Ok(tm) = builder.http(http()).build()
    {
        let _ = (tm.endpoint().base(), format!("{tm:?}"));
    }
});
