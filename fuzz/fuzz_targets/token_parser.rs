//! Any bytes as a token: the parser (segments, base64url, header rules, claims JSON and
//! types) must never panic, and the whole validator (pinned keys, no network) neither.

#![no_main]

use std::sync::OnceLock;

use ibm_iam::verify::{KeySet, TokenValidator, blocking, fuzzing};
use libfuzzer_sys::fuzz_target;

fn validator() -> &'static blocking::TokenValidator {
    static V: OnceLock<blocking::TokenValidator> = OnceLock::new();
    V.get_or_init(|| {
        // The seeds' IAM-shaped key and the RFC 7520 key, so that seeded tokens reach the
        // signature check and, for the RFC one, the claims parser after it.
        let iam: serde_json::Value =
            serde_json::from_slice(include_bytes!("../seeds/jwks_parser/iam")).expect("seed");
        let rfc: serde_json::Value =
            serde_json::from_slice(include_bytes!("../seeds/jwks_parser/rfc7520_4_1"))
                .expect("seed");
        let doc = serde_json::json!({ "keys": [iam["keys"][0], rfc["keys"][0]] });
        let keys = KeySet::from_jwks(doc.to_string().as_bytes()).expect("keys");
        let v = TokenValidator::builder()
            .keys(keys)
            .build()
            .expect("validator");
        blocking::TokenValidator::from_async(v).expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::parse_claims(data);
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = fuzzing::parse_token(token);
        let _ = fuzzing::decode_payload(token);
        let _ = validator().validate(token);
    }
});
