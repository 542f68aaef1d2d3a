//! `ibm-iam emulator` as a user runs it: a child process on a free loopback port.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ibm-iam");
const KEY: &str = "cli-test-apikey-0123456789abcdefghijklmn";
const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../ibm-iam-emulator/examples/seed.json"
);

struct Running {
    child: Child,
    url: String,
    cert: Option<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the emulator and reads its first `lines` lines of stdout (URL, then cert path).
fn spawn(args: &[&str], lines: usize) -> Running {
    let mut child = Command::new(BIN)
        .arg("emulator")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ibm-iam");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..lines {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let _ = tx.send(line.trim().to_owned());
        }
        // Keep draining so the child never blocks on a full pipe.
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the URL line");
    let cert = (lines > 1).then(|| {
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the cert line")
    });
    Running { child, url, cert }
}

fn client(cert: Option<&str>) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(20));
    if let Some(path) = cert {
        let pem = std::fs::read(path).expect("cert file");
        b = b.tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")]);
    }
    b.build().expect("client")
}

fn token(c: &reqwest::blocking::Client, url: &str, apikey: &str) -> String {
    let resp = c
        .post(format!("{url}/identity/token"))
        .form(&[
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", apikey),
        ])
        .send()
        .expect("token request");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().expect("json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[test]
fn first_line_is_the_url_and_sigterm_stops_it() {
    let mut emu = spawn(&["--port", "0", "--apikey", KEY], 1);
    assert!(emu.url.starts_with("http://127.0.0.1:"), "{}", emu.url);
    let c = client(None);
    assert_eq!(token(&c, &emu.url, KEY).split('.').count(), 3);
    let status = Command::new("kill")
        .args(["-TERM", &emu.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = emu.child.try_wait().expect("wait") {
            assert!(exit.success(), "{exit:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tls_prints_a_certificate_that_clients_can_trust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("ca.pem");
    let emu = spawn(
        &[
            "--tls",
            "--cert-out",
            cert.to_str().expect("utf8"),
            "--config",
            SEED,
            "--apikey",
            KEY,
        ],
        2,
    );
    assert!(emu.url.starts_with("https://127.0.0.1:"));
    assert_eq!(emu.cert.as_deref(), cert.to_str());
    let c = client(emu.cert.as_deref());
    token(&c, &emu.url, KEY);
    token(&c, &emu.url, "alice-apikey-0123456789abcdefghijklmnop");
}

/// A user's own CA and a server certificate it signs for `127.0.0.1` and `localhost`:
/// (CA PEM, server chain PEM, server key PEM).
fn own_certificate() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "a user's own test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    leaf.distinguished_name
        .push(DnType::CommonName, "iam.test.local");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&key, &issuer).expect("server certificate");
    (
        ca_cert.pem(),
        format!("{}{}", leaf_cert.pem(), ca_cert.pem()),
        key.serialize_pem(),
    )
}

#[test]
fn tls_cert_and_key_serve_https_with_the_users_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_pem, chain_pem, key_pem) = own_certificate();
    let (ca, chain, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
    );
    std::fs::write(&ca, &ca_pem).expect("write CA");
    std::fs::write(&chain, &chain_pem).expect("write chain");
    std::fs::write(&key, &key_pem).expect("write key");
    let emu = spawn(
        &[
            "--tls-cert",
            chain.to_str().expect("utf8"),
            "--tls-key",
            key.to_str().expect("utf8"),
            "--apikey",
            KEY,
        ],
        2,
    );
    assert!(emu.url.starts_with("https://127.0.0.1:"), "{}", emu.url);
    assert_eq!(
        emu.cert.as_deref(),
        chain.to_str(),
        "the second line names the certificate in use"
    );
    assert_eq!(
        std::fs::read_to_string(&chain).expect("chain"),
        chain_pem,
        "the user's file is left alone"
    );
    // A client that trusts only the user's CA gets a token over HTTPS...
    let c = client(ca.to_str());
    let access = token(&c, &emu.url, KEY);
    assert_eq!(access.split('.').count(), 3);
    // ...and one that trusts the system roots only is refused: the certificate served is
    // the user's, not a public one.
    let strict = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    assert!(
        strict
            .get(format!("{}/identity/keys", emu.url))
            .send()
            .is_err()
    );
}

#[test]
fn bad_configuration_fails_fast_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("seed.json");
    std::fs::write(&bad, r#"{"acounts": []}"#).expect("write");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--port".into(), taken_port], "cannot listen"),
        (
            vec!["--config".into(), bad.display().to_string()],
            "unknown field",
        ),
        (
            vec!["--config".into(), "/nonexistent/seed.json".into()],
            "cannot read the seed file",
        ),
        (
            vec!["--token-lifetime".into(), "5".into()],
            "token lifetime",
        ),
        (vec!["--issuer".into(), "iam.example".into()], "issuer"),
        (
            vec![
                "--tls-cert".into(),
                "/nonexistent.pem".into(),
                "--tls-key".into(),
                "/nonexistent.key".into(),
            ],
            "nonexistent",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(BIN)
            .arg("emulator")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(
            stderr.contains("\nhint: "),
            "{args:?}: every failure says what to do: {stderr}"
        );
        assert!(out.stdout.is_empty(), "no URL is printed on failure");
    }
    let out = Command::new(BIN)
        .args(["emulator", "--no-such-flag"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    drop(taken);
}

fn create_key(
    c: &reqwest::blocking::Client,
    url: &str,
    bearer: &str,
    iam_id: &str,
    n: usize,
) -> Option<String> {
    let resp = c
        .post(format!("{url}/v1/apikeys"))
        .bearer_auth(bearer)
        .json(&json!({"name": format!("key-{n}"), "iam_id": iam_id}))
        .send()
        .ok()?;
    if resp.status() != 201 {
        return None;
    }
    let body: Value = resp.json().ok()?;
    body["id"].as_str().map(str::to_owned)
}

fn acked_keys_survive(state: &Path) {
    let emu = spawn(
        &["--state", state.to_str().expect("utf8"), "--apikey", KEY],
        1,
    );
    let c = client(None);
    let bearer = token(&c, &emu.url, KEY);
    let details: Value = c
        .get(format!("{}/v1/apikeys/details", emu.url))
        .bearer_auth(&bearer)
        .header("IAM-ApiKey", KEY)
        .send()
        .expect("details")
        .json()
        .expect("json");
    let iam_id = details["iam_id"].as_str().expect("iam_id").to_owned();

    // Four writers create keys as fast as they can; the process is killed mid-stream.
    let (tx, rx) = mpsc::channel::<String>();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (c, url, bearer, iam_id, tx) = (
                c.clone(),
                emu.url.clone(),
                bearer.clone(),
                iam_id.clone(),
                tx.clone(),
            );
            std::thread::spawn(move || {
                for n in 0..5 {
                    match create_key(&c, &url, &bearer, &iam_id, w * 100 + n) {
                        Some(id) => {
                            let _ = tx.send(id);
                        }
                        None => return,
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut acked = Vec::new();
    while acked.len() < 7 {
        acked.push(
            rx.recv_timeout(Duration::from_secs(30))
                .expect("an acknowledged write"),
        );
    }
    let mut emu = emu;
    emu.child.kill().expect("SIGKILL");
    let _ = emu.child.wait();
    for w in writers {
        let _ = w.join();
    }
    acked.extend(rx.try_iter());

    // The file parses and every acknowledged key is there.
    let text = std::fs::read_to_string(state).expect("state file");
    let snapshot: Value = serde_json::from_str(&text).expect("the state file is never torn");
    for id in &acked {
        assert!(
            snapshot["store"]["apikeys"].get(id).is_some(),
            "acknowledged key {id} was lost"
        );
    }
    let emu = spawn(
        &["--state", state.to_str().expect("utf8"), "--apikey", KEY],
        1,
    );
    let c = client(None);
    let bearer = token(&c, &emu.url, KEY);
    for id in &acked {
        let resp = c
            .get(format!("{}/v1/apikeys/{id}", emu.url))
            .bearer_auth(&bearer)
            .send()
            .expect("get");
        assert_eq!(resp.status(), 200, "{id} after restart");
    }
}

#[test]
fn kill_9_mid_write_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    acked_keys_survive(&state);
    // A second round on the same file: the restarted state keeps growing safely.
    acked_keys_survive(&state);
}

const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
const SEED_ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

/// One write of the mixed stream: an API key (even `n`) or a policy (odd `n`), as
/// `("apikeys" | "policies", id)` once acknowledged.
fn create_key_or_policy(
    c: &reqwest::blocking::Client,
    url: &str,
    bearer: &str,
    n: usize,
) -> Option<(&'static str, String)> {
    let (kind, body) = if n.is_multiple_of(2) {
        (
            "apikeys",
            json!({"name": format!("key-{n}"), "iam_id": "IBMid-550000ED6J"}),
        )
    } else {
        (
            "policies",
            json!({
                "type": "access",
                "subjects": [{"attributes": [{"name": "iam_id", "value": "IBMid-550000ED6J"}]}],
                "roles": [{"role_id": "crn:v1:bluemix:public:iam::::serviceRole:Reader"}],
                "resources": [{"attributes": [
                    {"name": "accountId", "value": SEED_ACCOUNT},
                    {"name": "serviceName", "value": "books"},
                    {"name": "serviceInstance", "value": format!("shelf-{n}")},
                ]}],
            }),
        )
    };
    let resp = c
        .post(format!("{url}/v1/{kind}"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .ok()?;
    if resp.status() != 201 {
        return None;
    }
    let body: Value = resp.json().ok()?;
    Some((kind, body["id"].as_str()?.to_owned()))
}

#[test]
fn kill_9_mid_api_key_and_policy_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let args = ["--state", state.to_str().expect("utf8"), "--config", SEED];
    for round in 0..2 {
        let emu = spawn(&args, 1);
        let c = client(None);
        // Alice owns the seed account: she may create keys and policies in it.
        let bearer = token(&c, &emu.url, ALICE_KEY);
        let (tx, rx) = mpsc::channel();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (c, url, bearer, tx) = (c.clone(), emu.url.clone(), bearer.clone(), tx.clone());
                std::thread::spawn(move || {
                    for n in 0..10 {
                        match create_key_or_policy(&c, &url, &bearer, round * 1000 + w * 100 + n) {
                            Some(ack) => {
                                let _ = tx.send(ack);
                            }
                            None => return,
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut acked = Vec::new();
        while acked.len() < 9 {
            acked.push(
                rx.recv_timeout(Duration::from_secs(30))
                    .expect("an acknowledged write"),
            );
        }
        let mut emu = emu;
        emu.child.kill().expect("SIGKILL");
        let _ = emu.child.wait();
        for w in writers {
            let _ = w.join();
        }
        acked.extend(rx.try_iter());
        assert!(
            acked.iter().any(|(k, _)| *k == "policies")
                && acked.iter().any(|(k, _)| *k == "apikeys"),
            "both kinds were written: {acked:?}"
        );

        let text = std::fs::read_to_string(&state).expect("state file");
        let snapshot: Value = serde_json::from_str(&text).expect("the state file is never torn");
        for (kind, id) in &acked {
            let stored = match *kind {
                "apikeys" => &snapshot["store"]["apikeys"][id],
                _ => &snapshot["store"]["policy"]["policies"][id],
            };
            assert!(!stored.is_null(), "acknowledged {kind} {id} was lost");
        }
        let emu = spawn(&args, 1);
        let bearer = token(&c, &emu.url, ALICE_KEY);
        for (kind, id) in &acked {
            let resp = c
                .get(format!("{}/v1/{kind}/{id}", emu.url))
                .bearer_auth(&bearer)
                .send()
                .expect("get");
            assert_eq!(resp.status(), 200, "{kind} {id} after restart");
        }
    }
}
