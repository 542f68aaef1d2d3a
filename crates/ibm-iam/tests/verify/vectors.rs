//! Public test vectors through the validator's own signature path (keys imported from JWK
//! components into a `KeySet`, checked by `KeySet::verify_signature`, the check the
//! validator makes): Wycheproof RSA PKCS#1 v1.5 2048/SHA-256, RFC 7515 A.2, RFC 7520 4.1.

use std::sync::Arc;

use ibm_iam::verify::{KeySet, Part};
use ibm_iam::{TokenValidator, VerifyError};
use serde_json::{Value, json};
use wycheproof::TestResult;
use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};

use crate::common::*;

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

fn one_key_set(jwk: Value) -> KeySet {
    KeySet::from_jwks(&serde_json::to_vec(&json!({ "keys": [jwk] })).expect("json"))
        .expect("the vector's key is usable")
}

#[test]
fn wycheproof_rsa_pkcs1_2048_sha256() {
    let set = TestSet::load(TestName::Rsa2048Sha256).expect("vectors");
    let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
    for group in &set.test_groups {
        // The key through our JWK import path, twice: from the raw components, and from
        // the group's own JWK (`alg: RS256`).
        let from_components = one_key_set(json!({
            "kty": "RSA",
            "kid": "w",
            "n": b64(strip_zeros(&group.key.n)),
            "e": b64(strip_zeros(&group.key.e)),
        }));
        let mut sets = vec![from_components];
        if let Some(jwk) = &group.jwk {
            sets.push(one_key_set(json!({
                "kty": jwk.kty,
                "kid": "w",
                "alg": jwk.alg,
                "n": b64(&*jwk.n),
                "e": b64(&*jwk.e),
            })));
        }
        for keys in &sets {
            for t in &group.tests {
                let ok = keys.verify_signature("w", &t.msg, &t.sig).is_ok();
                match t.result {
                    TestResult::Valid => {
                        assert!(ok, "tc {} ({}) should verify", t.tc_id, t.comment);
                        valid += 1;
                    }
                    TestResult::Invalid => {
                        assert!(
                            !ok,
                            "tc {} ({}, {:?}) must not verify",
                            t.tc_id, t.comment, t.flags
                        );
                        invalid += 1;
                    }
                    TestResult::Acceptable => acceptable += 1,
                }
            }
        }
    }
    let total = valid + invalid + acceptable;
    assert!(
        total >= set.number_of_tests,
        "{total} of {}",
        set.number_of_tests
    );
    assert!(
        valid > 0 && invalid > 200,
        "{valid} valid, {invalid} invalid"
    );
    eprintln!(
        "wycheproof rsa_signature_2048_sha256: {} vectors, {valid} valid verified, {invalid} invalid refused, {acceptable} acceptable",
        set.number_of_tests
    );
}

#[test]
fn rfc7515_appendix_a2_verifies_and_tampering_fails() {
    let v: Value = serde_json::from_str(include_str!("vectors/rfc7515_a2.json")).expect("vector");
    let keys = one_key_set(v["key"].clone());
    let compact = v["compact"].as_str().expect("compact");
    let (input, sig) = compact.rsplit_once('.').expect("three parts");
    let sig = unb64(sig);
    keys.verify_signature("2011-04-29", input.as_bytes(), &sig)
        .expect("the RFC's signature verifies");
    let mut bad = sig.clone();
    bad[0] ^= 0x80;
    assert!(matches!(
        keys.verify_signature("2011-04-29", input.as_bytes(), &bad),
        Err(VerifyError::Signature)
    ));
    let mut other_input = input.as_bytes().to_vec();
    other_input[5] ^= 1;
    assert!(
        keys.verify_signature("2011-04-29", &other_input, &sig)
            .is_err()
    );
    let payload: Value =
        serde_json::from_slice(&unb64(input.split('.').nth(1).expect("payload"))).expect("claims");
    assert_eq!(payload["exp"], 1_300_819_380);

    // As a token, it has no `kid`, which IAM always sends and the validator requires.
    let validator = TokenValidator::builder()
        .keys(keys)
        .issuer("joe")
        .build()
        .expect("validator");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    assert!(matches!(
        rt.block_on(validator.validate(compact)),
        Err(VerifyError::Malformed {
            part: Part::Header,
            reason: "kid is missing"
        })
    ));
}

#[tokio::test]
async fn rfc7520_4_1_passes_the_validators_signature_check() {
    let v: Value = serde_json::from_str(include_str!("vectors/rfc7520_4_1.json")).expect("vector");
    let keys = one_key_set(v["key"].clone());
    let compact = v["compact"].as_str().expect("compact");
    let (input, sig) = compact.rsplit_once('.').expect("three parts");
    keys.verify_signature(
        "bilbo.baggins@hobbiton.example",
        input.as_bytes(),
        &unb64(sig),
    )
    .expect("the RFC's signature verifies");
    assert_eq!(
        unb64(input.split('.').nth(1).expect("payload")),
        v["payload"].as_str().expect("payload").as_bytes()
    );

    // Through the whole validator: the signature passes (the key has `use: sig`), and the
    // text payload is then refused as not being claims.
    let clock = ibm_iam::clock::ManualClock::new();
    let validator = TokenValidator::builder()
        .keys(keys)
        .issuer("https://hobbiton.example")
        .clock(Arc::new(clock))
        .build()
        .expect("validator");
    assert!(matches!(
        validator.validate(compact).await,
        Err(VerifyError::Malformed {
            part: Part::Payload,
            reason: "not JSON"
        })
    ));
    let mut forged = unb64(sig);
    forged[255] ^= 1;
    let tampered = format!("{input}.{}", b64(&forged));
    assert!(matches!(
        validator.validate(&tampered).await,
        Err(VerifyError::Signature)
    ));

    // The same key marked for encryption is not a signing key.
    let mut enc = v["key"].clone();
    enc["use"] = json!("enc");
    assert!(
        KeySet::from_jwks(&serde_json::to_vec(&json!({ "keys": [enc] })).expect("json")).is_err()
    );
}
