//! The attack suite (jwt-authz-anchors A5): each forged or broken token is refused by the
//! check named in its error, and nothing panics. Pinned keys and a manual clock: no
//! network, except where a test proves that nothing is fetched.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA384,
    RSA_PKCS1_SHA512, RSA_PSS_SHA256,
};
use ibm_iam::endpoint::{PRODUCTION_ISSUER, STAGING_ISSUER};
use ibm_iam::verify::{Part, SubjectType};
use ibm_iam::{Endpoint, TokenValidator, VerifyError};
use serde_json::json;

use crate::common::*;

fn header(kid: &str, alg: &str) -> String {
    format!(r#"{{"kid":{},"alg":{}}}"#, json!(kid), json!(alg))
}

/// A token whose header is `header` and whose signature is any bytes.
fn forged(header: &str, payload: &str, sig: &[u8]) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), b64(sig))
}

#[tokio::test]
async fn a_valid_token_passes_with_typed_claims() {
    let (v, clock) = pinned();
    let token = key(0).token(&claims(unix(&clock)));
    let c = v.validate(&token).await.expect("valid");
    assert_eq!(
        c.iam_id(),
        Some("iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69")
    );
    assert_eq!(c.subject_type(), SubjectType::ServiceId);
    assert_eq!(c.account_id(), Some("f71446b6474d45bf81196da45de13940"));
    assert_eq!(c.iss(), Some(PRODUCTION_ISSUER));
    assert_eq!(
        c.payload_segment(),
        token.split('.').nth(1).expect("payload")
    );
    assert_eq!(
        c.subject_as_token_body(),
        json!({"accessTokenBody": token.split('.').nth(1).expect("payload")})
    );
    assert_eq!(
        c.subject_as_attributes().expect("subject"),
        json!({"attributes": {"id": "iam-ServiceId-c1e45eff-8df9-49b7-af73-d9c6e6f99a69", "scope": "ibm openid"}})
    );
    // Both pinned keys verify; the second call is served by the cache.
    let other = key(1).token(&claims(unix(&clock)));
    assert!(v.validate(&other).await.is_ok());
    assert_eq!(v.validate(&token).await.expect("cached"), c);
    assert_eq!(v.status().cached_tokens, 2);
}

#[tokio::test]
async fn alg_none_in_every_spelling_is_refused() {
    let (v, clock) = pinned();
    let payload = claims(unix(&clock)).to_string();
    let real = key(0).token(&claims(unix(&clock)));
    let real_sig = unb64(real.rsplit('.').next().expect("sig"));
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = header(&key(0).kid, alg);
        for t in [
            format!("{}.{}.", b64(&h), b64(&payload)),
            forged(&h, &payload, &real_sig),
            forged(&h, &payload, b"x"),
        ] {
            let e = v.validate(&t).await.expect_err(alg);
            assert!(
                matches!(
                    &e,
                    VerifyError::Algorithm { .. } | VerifyError::Malformed { .. }
                ),
                "{alg}: {e:?}"
            );
        }
        // With a signature present, it is the algorithm that refuses it.
        assert!(matches!(
            v.validate(&forged(&h, &payload, &real_sig)).await,
            Err(VerifyError::Algorithm { alg: a }) if a == alg
        ));
    }
    // No alg at all, and a null signature under RS256.
    let no_alg = format!(r#"{{"kid":"{}"}}"#, key(0).kid);
    assert!(matches!(
        v.validate(&forged(&no_alg, &payload, &real_sig)).await,
        Err(VerifyError::Malformed {
            part: Part::Header,
            ..
        })
    ));
    let null_sig = format!("{}.{}.", b64(header(&key(0).kid, "RS256")), b64(&payload));
    assert!(matches!(
        v.validate(&null_sig).await,
        Err(VerifyError::Malformed {
            part: Part::Signature,
            ..
        })
    ));
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    use aws_lc_rs::encoding::AsDer;
    let (v, clock) = pinned();
    let payload = claims(unix(&clock)).to_string();
    let h = header(&key(0).kid, "HS256");
    let input = format!("{}.{}", b64(&h), b64(&payload));
    let public = key(0).pair.public_key();
    let spki = public.as_der().expect("der").as_ref().to_vec();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spki)
    );
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let jwk = key(0).jwk().to_string();
    for secret in [
        spki,
        pem.into_bytes(),
        n,
        jwk.into_bytes(),
        public.as_ref().to_vec(),
    ] {
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&k, input.as_bytes());
        let t = format!("{input}.{}", b64(tag.as_ref()));
        assert!(
            matches!(v.validate(&t).await, Err(VerifyError::Algorithm { alg }) if alg == "HS256")
        );
    }
}

#[tokio::test]
async fn other_algorithms_are_refused_by_policy_not_by_luck() {
    let (v, clock) = pinned();
    let payload = claims(unix(&clock)).to_string();
    let k = key(0);
    // Real signatures by the right key, under algorithms the policy does not allow.
    for (alg, enc) in [
        (
            "RS384",
            &RSA_PKCS1_SHA384 as &'static dyn aws_lc_rs::signature::RsaEncoding,
        ),
        ("RS512", &RSA_PKCS1_SHA512),
        ("PS256", &RSA_PSS_SHA256),
    ] {
        let t = k.sign_with(enc, &header(&k.kid, alg), &payload);
        assert!(
            matches!(v.validate(&t).await, Err(VerifyError::Algorithm { alg: a }) if a == alg),
            "{alg}"
        );
        // The same signature relabelled RS256 fails the signature check.
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[0] = b64(header(&k.kid, "RS256"));
        let relabelled = parts.join(".");
        assert!(
            matches!(v.validate(&relabelled).await, Err(VerifyError::Signature)),
            "{alg} relabelled"
        );
    }
    // ES256 with an EC key.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("ec key");
    let ec =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("ec key");
    let input = format!("{}.{}", b64(header(&k.kid, "ES256")), b64(&payload));
    let sig = ec.sign(&rng, input.as_bytes()).expect("sign");
    let t = format!("{input}.{}", b64(sig.as_ref()));
    assert!(matches!(
        v.validate(&t).await,
        Err(VerifyError::Algorithm { .. })
    ));
    let _ = ec.public_key();
}

#[tokio::test]
async fn kid_injection_is_only_ever_a_map_lookup() {
    let (v, clock) = pinned();
    let payload = claims(unix(&clock)).to_string();
    let attacker = key(2);
    for kid in [
        "../../../../dev/null".to_owned(),
        "/etc/passwd".to_owned(),
        "' OR '1'='1' --".to_owned(),
        "1; DROP TABLE keys".to_owned(),
        "https://evil.example/keys.json".to_owned(),
        "ключ-🔑-\u{202e}".to_owned(),
        "\u{0}".to_owned(),
        "k".repeat(256),
        format!("{}\n{}", key(0).kid, key(0).kid),
        format!("{} ", key(0).kid),
    ] {
        let t = attacker.raw(&header(&kid, "RS256"), &payload);
        match v.validate(&t).await {
            Err(VerifyError::UnknownKey { kid: k }) => {
                assert!(k.chars().count() <= 65, "the error bounds the kid");
            }
            other => panic!("{kid:?}: {other:?}"),
        }
    }
    for h in [
        format!(r#"{{"kid":"{}","alg":"RS256"}}"#, "k".repeat(257)),
        r#"{"kid":7,"alg":"RS256"}"#.to_owned(),
        r#"{"kid":null,"alg":"RS256"}"#.to_owned(),
        r#"{"kid":{"$ne":""},"alg":"RS256"}"#.to_owned(),
        r#"{"kid":["202409020842"],"alg":"RS256"}"#.to_owned(),
        r#"{"kid":"","alg":"RS256"}"#.to_owned(),
    ] {
        let t = attacker.raw(&h, &payload);
        assert!(
            matches!(
                v.validate(&t).await,
                Err(VerifyError::Malformed {
                    part: Part::Header,
                    ..
                })
            ),
            "{h}"
        );
    }
    // The right kid with the attacker's signature.
    let t = attacker.raw(&header(&key(0).kid, "RS256"), &payload);
    assert!(matches!(v.validate(&t).await, Err(VerifyError::Signature)));
}

#[tokio::test]
async fn embedded_keys_and_key_urls_are_never_used() {
    // A listener that would see any attempt to follow jku/x5u.
    let trap = TcpListener::bind("127.0.0.1:0").expect("bind");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_url = format!("http://{}/keys", trap.local_addr().expect("addr"));

    let emu = emulator().await;
    let (v, clock) = emulator_validator(&emu, |b| b);
    v.prefetch().await.expect("keys");
    let fetches = key_fetches(&emu);
    let attacker = key(2);
    let payload = claims(unix(&clock)).to_string();
    let legit_kid = kid_of(&emulator_token(&emu).await);
    for kid in [attacker.kid.clone(), legit_kid] {
        let h = json!({
            "kid": kid,
            "alg": "RS256",
            "jwk": attacker.jwk(),
            "jku": trap_url,
            "x5u": trap_url,
            "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
            "typ": "JWT",
        })
        .to_string();
        let t = attacker.raw(&h, &payload);
        let e = v.validate(&t).await.expect_err("attacker key");
        assert!(
            matches!(e, VerifyError::Signature | VerifyError::UnknownKey { .. }),
            "{e:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    match trap.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("something connected to the jku/x5u URL: {other:?}"),
    }
    assert!(
        key_fetches(&emu) <= fetches,
        "an unknown kid within the cooldown fetches nothing"
    );
}

#[tokio::test]
async fn crit_is_refused() {
    let (v, clock) = pinned();
    let payload = claims(unix(&clock)).to_string();
    for crit in [r#"["exp"]"#, r#"["b64"]"#, "[]", r#""x""#] {
        let h = format!(
            r#"{{"kid":"{}","alg":"RS256","crit":{crit},"exp":1}}"#,
            key(0).kid
        );
        let t = key(0).raw(&h, &payload);
        assert!(
            matches!(v.validate(&t).await, Err(VerifyError::CriticalHeader)),
            "{crit}"
        );
    }
}

#[tokio::test]
async fn time_claims_are_checked_with_the_leeway() {
    let (v, clock) = pinned();
    let now = unix(&clock);
    let k = key(0);
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(now);
        f(&mut c);
        k.token(&c)
    };
    let expired = with(&|c| c["exp"] = json!(now - 61));
    assert!(matches!(
        v.validate(&expired).await,
        Err(VerifyError::Expired { .. })
    ));
    let in_leeway = with(&|c| c["exp"] = json!(now - 59));
    assert!(
        v.validate(&in_leeway).await.is_ok(),
        "within the 60 s leeway"
    );
    let future_iat = with(&|c| c["iat"] = json!(now + 3600));
    assert!(matches!(
        v.validate(&future_iat).await,
        Err(VerifyError::IssuedInFuture { .. })
    ));
    let future_nbf = with(&|c| c["nbf"] = json!(now + 120));
    assert!(matches!(
        v.validate(&future_nbf).await,
        Err(VerifyError::NotYetValid { .. })
    ));
    let no_iat = with(&|c| {
        c.as_object_mut().expect("obj").remove("iat");
    });
    assert!(matches!(
        v.validate(&no_iat).await,
        Err(VerifyError::MissingClaim("iat"))
    ));
    let no_exp = with(&|c| {
        c.as_object_mut().expect("obj").remove("exp");
    });
    assert!(matches!(
        v.validate(&no_exp).await,
        Err(VerifyError::MissingClaim("exp"))
    ));
    // A cached token stops being accepted when it expires.
    let good = with(&|_| {});
    assert!(v.validate(&good).await.is_ok());
    clock.advance(Duration::from_secs(3600 + 60));
    assert!(matches!(
        v.validate(&good).await,
        Err(VerifyError::Expired { .. })
    ));
}

#[tokio::test]
async fn wrong_and_lookalike_issuers_are_refused() {
    let (v, clock) = pinned();
    let now = unix(&clock);
    let k = key(0);
    for iss in [
        json!(STAGING_ISSUER),
        json!("https://iam.attacker.example"),
        json!("https://iam.cloud.ibm.com.attacker.example/identity"),
        json!("https://iam.cloud.ibm.com/identity/"),
        json!("https://iam.cloud.ibm.com"),
        json!("http://iam.cloud.ibm.com/identity"),
        json!("https://iam.bluemix.net/identity"),
        json!(""),
    ] {
        let mut c = claims(now);
        c["iss"] = iss.clone();
        assert!(
            matches!(
                v.validate(&k.token(&c)).await,
                Err(VerifyError::Issuer { .. })
            ),
            "{iss}"
        );
    }
    for iss in [json!([PRODUCTION_ISSUER]), json!(1)] {
        let mut c = claims(now);
        c["iss"] = iss.clone();
        assert!(
            matches!(
                v.validate(&k.token(&c)).await,
                Err(VerifyError::ClaimType { claim: "iss", .. })
            ),
            "{iss}"
        );
    }
    let mut c = claims(now);
    c.as_object_mut().expect("obj").remove("iss");
    assert!(matches!(
        v.validate(&k.token(&c)).await,
        Err(VerifyError::MissingClaim("iss"))
    ));

    // Staging's validator accepts staging's issuer only; the seed's rule is an opt-in.
    let staging = TokenValidator::builder()
        .endpoint(Endpoint::staging())
        .keys(keyset(&[k]))
        .build()
        .expect("validator");
    let mut c = claims(now);
    c["iss"] = json!(STAGING_ISSUER);
    assert!(staging.validate(&k.token(&c)).await.is_ok());
    assert!(matches!(
        staging.validate(&k.token(&claims(now))).await,
        Err(VerifyError::Issuer { .. })
    ));
    let seed_rule = TokenValidator::builder()
        .keys(keyset(&[k]))
        .danger_accept_any_iam_issuer(true)
        .build()
        .expect("validator");
    let mut c = claims(now);
    c["iss"] = json!("https://iam.attacker.example");
    assert!(seed_rule.validate(&k.token(&c)).await.is_ok());
    let explicit = TokenValidator::builder()
        .keys(keyset(&[k]))
        .issuer("https://iam.example/identity")
        .build()
        .expect("validator");
    c["iss"] = json!("https://iam.example/identity");
    assert!(explicit.validate(&k.token(&c)).await.is_ok());
    assert!(matches!(
        explicit.validate(&k.token(&claims(now))).await,
        Err(VerifyError::Issuer { .. })
    ));
}

#[tokio::test]
async fn tampered_header_payload_or_signature_fail_even_after_caching() {
    let (v, clock) = pinned();
    let now = unix(&clock);
    let token = key(0).token(&claims(now));
    assert!(v.validate(&token).await.is_ok(), "cached from now on");
    let parts: Vec<&str> = token.split('.').collect();

    let header2 = b64(format!(
        r#"{{"kid":"{}","alg":"RS256","typ":"JWT"}}"#,
        key(0).kid
    ));
    let mut c = claims(now);
    c["iam_id"] = json!("IBMid-ADMIN");
    let payload2 = b64(c.to_string());
    let mut sig = unb64(parts[2]);
    sig[100] ^= 1;
    let sig_flipped = b64(&sig);
    let sig_short = b64(&sig[..255]);
    let mut long = unb64(parts[2]);
    long.push(0);
    let sig_long = b64(&long);
    for (what, t) in [
        ("header", format!("{header2}.{}.{}", parts[1], parts[2])),
        ("payload", format!("{}.{payload2}.{}", parts[0], parts[2])),
        (
            "signature bit",
            format!("{}.{}.{sig_flipped}", parts[0], parts[1]),
        ),
        (
            "signature short",
            format!("{}.{}.{sig_short}", parts[0], parts[1]),
        ),
        (
            "signature long",
            format!("{}.{}.{sig_long}", parts[0], parts[1]),
        ),
        (
            "other key's signature",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                key(1).token(&claims(now)).rsplit('.').next().expect("sig")
            ),
        ),
    ] {
        assert!(
            matches!(v.validate(&t).await, Err(VerifyError::Signature)),
            "{what}"
        );
    }
    assert!(
        v.validate(&token).await.is_ok(),
        "the original still passes"
    );
}

#[tokio::test]
async fn malformed_encodings_are_refused_before_any_key_is_used() {
    let (v, clock) = pinned();
    let token = key(0).token(&claims(unix(&clock)));
    let (h, rest) = token.split_once('.').expect("dot");
    let (p, s) = rest.split_once('.').expect("dot");
    let mut cases = vec![
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}.{p}.{s}"),
        format!("{h}.{p}.{s}."),
        format!(".{h}.{p}.{s}"),
        format!("{h}==.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+/"),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{s}\n"),
        format!("{h}.{p}.{s}\u{0}"),
        format!("{h}.{}*.{s}", &p[..p.len() - 1]),
        format!("{h}.{p}.{}", &s[..s.len() - 1]),
        format!("{}.{p}.{s}", &h[..h.len() - 1]),
        token.replace('.', ","),
    ];
    for cut in [1, 10, h.len(), h.len() + 1, h.len() + 5, token.len() - 1] {
        cases.push(token[..cut].to_owned());
    }
    for t in cases {
        match v.validate(&t).await {
            Err(VerifyError::Malformed { .. } | VerifyError::Signature) => {}
            other => panic!("{t:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn duplicate_members_are_refused() {
    let (v, clock) = pinned();
    let now = unix(&clock);
    let k = key(0);
    let h_dup = format!(r#"{{"kid":"{}","alg":"RS256","alg":"none"}}"#, k.kid);
    assert!(matches!(
        v.validate(&k.raw(&h_dup, &claims(now).to_string())).await,
        Err(VerifyError::Malformed {
            part: Part::Header,
            ..
        })
    ));
    let h = format!(r#"{{"kid":"{}","alg":"RS256"}}"#, k.kid);
    let body = claims(now).to_string();
    for dup in [
        format!(r#"{},"exp":9999999999}}"#, body.trim_end_matches('}')),
        format!(
            r#"{},"iss":"https://iam.attacker.example"}}"#,
            body.trim_end_matches('}')
        ),
        body.replace(r#""valid":true"#, r#""valid":true,"bss":"x""#),
    ] {
        assert!(
            matches!(
                v.validate(&k.raw(&h, &dup)).await,
                Err(VerifyError::Malformed {
                    part: Part::Payload,
                    ..
                })
            ),
            "{dup}"
        );
    }
}

#[tokio::test]
async fn wrongly_typed_claims_are_refused() {
    let (v, clock) = pinned();
    let now = unix(&clock);
    for (claim, value) in [
        ("exp", json!("never")),
        ("exp", json!((now + 3600).to_string())),
        ("exp", json!([now + 3600])),
        ("exp", json!({"at": now})),
        ("exp", json!(true)),
        ("iat", json!(now.to_string())),
        ("nbf", json!("0")),
        ("sub", json!(12)),
        ("iam_id", json!(null)),
        ("account", json!("f71446b6474d45bf81196da45de13940")),
        ("scope", json!(["ibm", "openid"])),
        ("aud", json!({"x": 1})),
        ("amr", json!("pwd")),
    ] {
        let mut c = claims(now);
        c[claim] = value.clone();
        match v.validate(&key(0).token(&c)).await {
            Err(VerifyError::ClaimType { claim: c, .. }) => assert_eq!(c, claim),
            other => panic!("{claim}={value}: {other:?}"),
        }
    }
    let payload_array = key(0).raw(&header(&key(0).kid, "RS256"), "[1,2]");
    assert!(matches!(
        v.validate(&payload_array).await,
        Err(VerifyError::Malformed {
            part: Part::Payload,
            ..
        })
    ));
}

#[tokio::test]
async fn oversized_and_empty_tokens() {
    let (v, clock) = pinned();
    assert!(matches!(v.validate("").await, Err(VerifyError::Empty)));
    let mut c = claims(unix(&clock));
    c["padding"] = json!("x".repeat(20 * 1024));
    assert!(matches!(
        v.validate(&key(0).token(&c)).await,
        Err(VerifyError::TooLarge { .. })
    ));
    let huge = "a.".repeat(500_000);
    assert!(matches!(
        v.validate(&huge).await,
        Err(VerifyError::TooLarge { .. })
    ));
    let dots = ".".repeat(1000);
    assert!(matches!(
        v.validate(&dots).await,
        Err(VerifyError::Malformed { .. })
    ));
}

#[tokio::test]
async fn optional_checks_name_the_failing_rule() {
    let clock = ibm_iam::clock::ManualClock::new();
    let base = || {
        TokenValidator::builder()
            .keys(keyset(&[key(0)]))
            .clock(std::sync::Arc::new(clock.clone()))
    };
    let t = key(0).token(&claims(unix(&clock)));
    let v = base().client_id("bx").build().expect("validator");
    assert!(
        matches!(v.validate(&t).await, Err(VerifyError::ClientId { found: Some(c) }) if c == "default")
    );
    let v = base().require_scope("admin").build().expect("validator");
    assert!(matches!(
        v.validate(&t).await,
        Err(VerifyError::Scope { .. })
    ));
    let v = base().account(ACCOUNT).build().expect("validator");
    assert!(matches!(
        v.validate(&t).await,
        Err(VerifyError::Account { .. })
    ));
    let v = base()
        .subject_type(SubjectType::User)
        .build()
        .expect("validator");
    assert!(matches!(
        v.validate(&t).await,
        Err(VerifyError::SubjectType { .. })
    ));
    let v = base().audience("svc").build().expect("validator");
    assert!(matches!(v.validate(&t).await, Err(VerifyError::Audience)));
    let v = base()
        .client_id("default")
        .require_scope("ibm")
        .account("f71446b6474d45bf81196da45de13940")
        .subject_type(SubjectType::ServiceId)
        .build()
        .expect("validator");
    assert!(v.validate(&t).await.is_ok());
}

/// A small deterministic generator for mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[tokio::test]
async fn mutated_tokens_never_panic_and_never_pass() {
    let (v, clock) = pinned();
    let token = key(0).token(&claims(unix(&clock)));
    let alphabet = b"ABCabc012-_.=+/ \x00\xff{}\"";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut bytes = token.as_bytes().to_vec();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[i] = alphabet[rng.below(alphabet.len())],
                1 => {
                    bytes.remove(i);
                }
                2 => bytes.insert(i, alphabet[rng.below(alphabet.len())]),
                _ => bytes.truncate(i),
            }
        }
        let t = String::from_utf8_lossy(&bytes).into_owned();
        if v.validate(&t).await.is_ok() {
            assert_eq!(t, token, "only the untouched token may pass");
            accepted += 1;
        }
    }
    assert!(accepted <= 3000);
    assert!(v.validate(&token).await.is_ok());
}

#[test]
fn the_blocking_validator_works_without_a_runtime_and_refuses_inside_one() {
    let clock = ibm_iam::clock::ManualClock::new();
    let v = TokenValidator::builder()
        .keys(keyset(&[key(0)]))
        .clock(std::sync::Arc::new(clock.clone()))
        .build()
        .expect("validator");
    let b = ibm_iam::verify::blocking::TokenValidator::from_async(v).expect("blocking");
    let t = key(0).token(&claims(unix(&clock)));
    assert!(b.validate(&t).is_ok());
    assert!(b.validate(&t).is_ok(), "cached, on the calling thread");
    assert!(matches!(
        b.validate("x.y.z"),
        Err(VerifyError::Malformed { .. })
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let other = key(0).token(&claims(unix(&clock) - 1));
    let inside = rt.block_on(async { b.validate(&other) });
    assert!(matches!(inside, Err(VerifyError::Runtime(_))), "{inside:?}");
}
