//! Any bytes as the PDP's answer (`/v2/authz`, `/v2/authz/roles`, `/v2/authz/bulk`), served
//! on loopback to a real `PdpClient`: the first byte picks the call (one to three
//! decisions in one batch, roles, or a bulk call), the second the status and Content-Type,
//! the rest is the body. The client parses the answer, caches what the obligations and
//! `cacheKeyPattern` allow, and is asked the same again so that the cached entries are
//! read back. Nothing may panic, and an answer that is not a 2xx JSON answer never
//! yields a decision (fail closed).
//!
//! The PDP's parsers are private to `ibm_iam::authz`; going through the client's public API
//! over a socket costs speed but also covers the transport checks and the cache.

#![no_main]

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use ibm_iam::authz::{Decision, PdpClient, Resource, Subject};
use ibm_iam::http::retry::Backoff;
use ibm_iam::{Endpoint, Error, TokenManager};
use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 8] = [200, 200, 200, 200, 207, 400, 403, 500];
const TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/html"),
    None,
];
const ACCOUNT: &str = "1111222233334444aaaabbbbccccdddd";

/// The answer the loopback PDP gives to every request of the current input.
static CANNED: Mutex<(u16, Option<&str>, Vec<u8>)> = Mutex::new((200, None, Vec::new()));

struct World {
    rt: tokio::runtime::Runtime,
    /// Clients whose batch size is 1, 2 and 3: a batch of that many distinct questions is
    /// sent at once, without waiting for the batching window.
    clients: Vec<PdpClient>,
}

async fn answer() -> Response {
    let (status, ct, body) = CANNED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(ct) = ct {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(answer);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        rt.spawn(async move { axum::serve(listener, app).await });
        let clients = (1..=3)
            .map(|n| {
                let tokens = TokenManager::builder()
                    .bearer_token("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
                    .build()
                    .expect("tokens");
                PdpClient::builder(tokens)
                    .endpoint(Endpoint::parse(&url).expect("endpoint"))
                    .max_batch(n)
                    .batch_window(Duration::from_millis(1))
                    .retries(1, Backoff::default(), Duration::from_secs(5))
                    .build()
                    .expect("client")
            })
            .collect();
        World { rt, clients }
    })
}

fn instance(i: usize) -> Resource {
    Resource::crn(&format!(
        "crn:v1:bluemix:public:books:us-south:a/{ACCOUNT}:shelf-{i}::"
    ))
    .expect("crn")
}

fn check(results: &[Result<Decision, Error>], usable: bool) {
    for r in results {
        match r {
            Ok(d) => {
                assert!(usable, "a decision from an answer that is not 2xx JSON");
                let _ = (format!("{d:?}"), d.is_context_deny(), d.from_cache());
            }
            Err(e) => {
                let _ = (e.to_string(), format!("{e:?}"), e.is_transient());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [op, sel, body @ ..] = data else { return };
    let status = STATUSES[usize::from(sel >> 2) % STATUSES.len()];
    let ct = TYPES[usize::from(sel & 3)];
    let usable = (200..300).contains(&status) && ct.is_some_and(|t| t.contains("json"));
    *CANNED.lock().unwrap_or_else(PoisonError::into_inner) = (status, ct, body.to_vec());

    let w = world();
    let subject = Subject::attributes("iam-ServiceId-fuzz", "ibm openid");
    w.rt.block_on(async {
        for round in 0..2 {
            match op % 6 {
                n @ 0..=2 => {
                    let n = usize::from(n) + 1;
                    let pdp = &w.clients[n - 1];
                    if round == 0 {
                        pdp.clear_cache();
                    }
                    let reqs = (0..n)
                        .map(|i| {
                            ibm_iam::authz::AuthzRequest::new(
                                subject.clone(),
                                "books.book.read",
                                instance(i),
                            )
                        })
                        .collect();
                    check(&pdp.authorize_many(reqs).await, usable);
                }
                3 => {
                    let roles = w.clients[0].roles(&subject, &instance(0)).await;
                    if let Ok(r) = &roles {
                        assert!(usable, "roles from an answer that is not 2xx JSON");
                        let _ = r.actions();
                    }
                }
                n => {
                    let pdp = &w.clients[0];
                    if round == 0 {
                        pdp.clear_cache();
                    }
                    let resources: Vec<Resource> = (0..usize::from(n)).map(instance).collect();
                    let results = pdp
                        .authorize_resources(&subject, "books.book.read", &resources)
                        .await;
                    assert_eq!(results.len(), resources.len(), "one result per resource");
                    check(&results, usable);
                }
            }
        }
    });
});
