//! BearerClient against small services that record what they receive: one Authorization
//! header, one retry with a fresh token after a 401 (and no second), streaming bodies, and
//! concurrent callers sharing a token manager.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use ibm_iam::TokenManager;
use ibm_iam::middleware::BearerClient;
use ibm_iam_emulator::{Emulator, RunningEmulator};

const KEY: &str = "bearer-client-apikey-0123456789abcdefghij";

async fn emulator() -> RunningEmulator {
    Emulator::builder()
        .apikey(KEY)
        .start()
        .await
        .expect("emulator")
}

fn manager(emu: &RunningEmulator) -> TokenManager {
    TokenManager::builder()
        .api_key(KEY)
        .endpoint_url(emu.url())
        .build()
        .expect("tm")
}

fn fetches(emu: &RunningEmulator) -> u64 {
    emu.state().counters().get("/identity/token")
}

/// Every Authorization header value of every request, in order.
type Seen = Arc<Mutex<Vec<Vec<String>>>>;

/// Serves `/thing` (any method): records the request's Authorization headers and answers
/// what `decide` says given them and everything seen before.
async fn service(
    decide: impl Fn(&[String], &[Vec<String>]) -> StatusCode + Clone + Send + Sync + 'static,
) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/thing",
        axum::routing::any(move |headers: HeaderMap| {
            let record = record.clone();
            let decide = decide.clone();
            async move {
                let auth: Vec<String> = headers
                    .get_all("authorization")
                    .iter()
                    .map(|v| v.to_str().unwrap_or("?").to_owned())
                    .collect();
                let mut seen = record.lock().expect("lock");
                let status = decide(&auth, &seen);
                seen.push(auth);
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/thing", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn an_existing_authorization_header_is_replaced_not_doubled() {
    let emu = emulator().await;
    let (url, seen) = service(|_, _| StatusCode::OK).await;
    let tm = manager(&emu);
    let client = BearerClient::new(reqwest::Client::new(), tm.clone());
    let req = client
        .get(&url)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .bearer_auth("a-stale-token");
    assert_eq!(client.send(req).await.expect("send").status(), 200);
    let expected = tm
        .get_token()
        .await
        .expect("token")
        .bearer_header()
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        seen.lock().expect("lock").clone(),
        vec![vec![expected]],
        "exactly one Authorization header, the manager's"
    );
}

#[tokio::test]
async fn a_401_is_retried_once_with_a_fresh_token() {
    let emu = emulator().await;
    // A service that rejects the first token it sees (as after a revocation) and accepts
    // any other.
    let (url, seen) = service(|auth, seen| match seen.first() {
        None => StatusCode::UNAUTHORIZED,
        Some(first) if first.as_slice() == auth => StatusCode::UNAUTHORIZED,
        Some(_) => StatusCode::OK,
    })
    .await;
    let client = BearerClient::new(reqwest::Client::new(), manager(&emu));
    let before = fetches(&emu);
    let resp = client.send(client.get(&url)).await.expect("send");
    assert_eq!(resp.status(), 200, "the retry with a fresh token passed");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "exactly one retry");
    assert_ne!(seen[0], seen[1], "the retry carried a different token");
    assert!(
        seen.iter()
            .all(|a| a.len() == 1 && a[0].starts_with("Bearer eyJ"))
    );
    assert_eq!(
        fetches(&emu) - before,
        2,
        "the rejected token was dropped, one new fetch"
    );
    // Later calls keep the new token.
    assert_eq!(
        client.send(client.get(&url)).await.expect("send").status(),
        200
    );
    assert_eq!(fetches(&emu) - before, 2);
}

#[tokio::test]
async fn a_second_401_is_returned_not_retried_again() {
    let emu = emulator().await;
    let (url, seen) = service(|_, _| StatusCode::UNAUTHORIZED).await;
    let client = BearerClient::new(reqwest::Client::new(), manager(&emu));
    let before = fetches(&emu);
    let resp = client.send(client.get(&url)).await.expect("send");
    assert_eq!(resp.status(), 401, "the second 401 reaches the caller");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "one retry, no more");
    assert_ne!(seen[0], seen[1], "the retry carried a fresh token");
    assert_eq!(fetches(&emu) - before, 2);
    // The fresh token stays: a service that refuses everything does not cost a token
    // fetch per request beyond the one retry.
    let resp = client.send(client.get(&url)).await.expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(fetches(&emu) - before, 3);
}

#[tokio::test]
async fn a_streaming_body_gets_its_401_back_without_a_retry() {
    let emu = emulator().await;
    // Rejects the first token it sees; accepts any other.
    let (url, seen) = service(|auth, seen| match seen.first() {
        None => StatusCode::UNAUTHORIZED,
        Some(first) if first.as_slice() == auth => StatusCode::UNAUTHORIZED,
        Some(_) => StatusCode::OK,
    })
    .await;
    let client = BearerClient::new(reqwest::Client::new(), manager(&emu));
    let before = fetches(&emu);
    // `Body::wrap` makes a streaming body, which reqwest cannot clone.
    let req = client
        .post(&url)
        .body(reqwest::Body::wrap(String::from("one-shot payload")));
    let resp = client.send(req).await.expect("send");
    assert_eq!(resp.status(), 401, "returned as is");
    assert_eq!(seen.lock().expect("lock").len(), 1, "not sent again");
    // The rejected token was dropped all the same: the next request gets a fresh one and
    // passes at the first try.
    let resp = client.send(client.get(&url)).await.expect("send");
    assert_eq!(resp.status(), 200);
    assert_eq!(seen.lock().expect("lock").len(), 2);
    assert_eq!(fetches(&emu) - before, 2);
}

#[tokio::test]
async fn concurrent_callers_drop_only_the_rejected_token() {
    let emu = emulator().await;
    let tm = manager(&emu);
    let rejected = tm.get_token().await.expect("token");
    let rejected_header = rejected.bearer_header().to_str().expect("ascii").to_owned();
    // The service rejects the first token. It answers the first request carrying it at
    // once, and holds the second one until a request with another token has passed: so the
    // second caller learns of the rejection only after the first has fetched and used a
    // new token. Dropping "whatever is cached" then would throw the new token away.
    let (passed_tx, passed_rx) = tokio::sync::watch::channel(false);
    let rejections = Arc::new(Mutex::new(0u32));
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/thing",
        axum::routing::get(move |headers: HeaderMap| {
            let (rejected_header, passed_tx, mut passed_rx, rejections, record) = (
                rejected_header.clone(),
                passed_tx.clone(),
                passed_rx.clone(),
                rejections.clone(),
                record.clone(),
            );
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                record.lock().expect("lock").push(vec![auth.clone()]);
                if auth != rejected_header {
                    let _ = passed_tx.send(true);
                    return StatusCode::OK;
                }
                let n = {
                    let mut r = rejections.lock().expect("lock");
                    *r += 1;
                    *r
                };
                if n > 1 {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        passed_rx.wait_for(|passed| *passed),
                    )
                    .await;
                }
                StatusCode::UNAUTHORIZED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/thing", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = BearerClient::new(reqwest::Client::new(), tm.clone());
    let before = fetches(&emu);
    let (a, b) = tokio::join!(client.send(client.get(&url)), client.send(client.get(&url)));
    assert_eq!(a.expect("send").status(), 200);
    assert_eq!(b.expect("send").status(), 200);
    assert_eq!(
        fetches(&emu) - before,
        1,
        "one new token for both callers: the late invalidation kept it"
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4, "each caller: one rejection, one retry");
    let fresh = tm.get_token().await.expect("token");
    assert!(!fresh.same_as(&rejected));
    assert_eq!(fetches(&emu) - before, 1, "and it is still the cached one");
}
