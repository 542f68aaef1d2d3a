//! No secret reaches a log line, an error message or a `Debug` print.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ibm_iam::TokenManager;
use ibm_iam::clock::ManualClock;
use serde_json::json;

use crate::common::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn trace_logs_errors_and_debug_output_carry_no_secret() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = emulator().await;
    let clock = ManualClock::new();
    let mut printed = String::new();
    let mut secrets: Vec<String> = vec![
        BOOKS_KEY.into(),
        ALICE_KEY.into(),
        "client-secret-xyz".into(),
    ];

    // Success, refresh in the background, expiry, an unknown key, failures while due.
    let tm = manager(&emu, BOOKS_KEY, &clock);
    let t1 = tm.get_token().await.expect("token");
    secrets.push(t1.expose_secret().to_owned());
    fault(&emu, json!({"path": "/identity/token", "status": 503})).await;
    advance(&clock, Duration::from_secs(3000)).await;
    tm.get_token().await.expect("due");
    settle(&tm).await;
    advance(&clock, Duration::from_secs(600)).await;
    clock.set_auto_advance(true);
    let err = tm.get_token().await.expect_err("expired and failing");
    printed.push_str(&format!("{err} {err:?} {tm:?} {:?}", tm.status()));
    clear_faults(&emu).await;

    let unknown = "unknown-secret-key-0123456789abcdefghij";
    secrets.push(unknown.into());
    let bad = manager(&emu, unknown, &clock);
    let err = bad.get_token().await.expect_err("unknown");
    printed.push_str(&format!("{err} {err:?} {bad:?}"));

    let with_client = TokenManager::builder()
        .api_key(ALICE_KEY)
        .client_credentials("cli", "client-secret-xyz")
        .endpoint_url(emu.url())
        .build()
        .expect("manager");
    let t2 = with_client.get_token().await.expect("token");
    secrets.push(t2.expose_secret().to_owned());
    printed.push_str(&format!(
        "{with_client:?} {t2:?} {:?}",
        with_client.status()
    ));

    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        logs.contains("getting an IAM token failed"),
        "the capture works: {logs}"
    );
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret is in the logs");
        assert!(
            !printed.contains(s.as_str()),
            "a secret is in an error or Debug output"
        );
    }
}
