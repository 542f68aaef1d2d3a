//! A loopback PDP that answers what the test tells it to: for answers the emulator never
//! gives (context denies, no `maxCacheAgeSeconds`, a changed `cacheKeyPattern`, malformed
//! items, a wrong number of answers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ibm_iam::authz::PdpClient;
use ibm_iam::clock::{Clock, ManualClock};
use ibm_iam::http::retry::Backoff;
use ibm_iam::{Endpoint, TokenManager};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the PDP answers: `(method, path, body) -> (status, body)`.
pub type Handler = Box<dyn FnMut(&str, &str, &Value) -> (u16, String) + Send>;

struct State {
    handler: Handler,
    /// `(path, body)` of every request.
    calls: Vec<(String, Value)>,
}

pub struct Canned {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Canned {
    pub async fn start(
        handler: impl FnMut(&str, &str, &Value) -> (u16, String) + Send + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            handler: Box::new(handler),
            calls: Vec::new(),
        }));
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { serve(conn, s).await });
            }
        });
        Self { url, state }
    }

    /// Replaces the handler.
    pub fn set(&self, handler: impl FnMut(&str, &str, &Value) -> (u16, String) + Send + 'static) {
        self.state.lock().unwrap().handler = Box::new(handler);
    }

    /// Requests made to `path` so far.
    pub fn calls(&self, path: &str) -> usize {
        self.bodies(path).len()
    }

    /// Bodies of the requests made to `path`.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// A client of this PDP with a manual clock (one attempt, no batching window).
    pub fn client(&self, clock: &ManualClock, cache: ibm_iam::authz::CacheConfig) -> PdpClient {
        let tokens = TokenManager::builder()
            .bearer_token("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
            .build()
            .expect("tokens");
        PdpClient::builder(tokens)
            .endpoint(Endpoint::parse(&self.url).expect("endpoint"))
            .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
            .cache(cache)
            .batch_window(Duration::ZERO)
            .retries(1, Backoff::default(), Duration::from_secs(10))
            .build()
            .expect("pdp")
    }
}

async fn serve(mut conn: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let len: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    let (status, answer) = {
        let mut s = state.lock().unwrap();
        s.calls.push((path.clone(), body.clone()));
        (s.handler)(&method, &path, &body)
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = conn.write_all(resp.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// IAM's usual `cacheKeyPattern`.
pub fn pattern() -> Value {
    json!({
        "order": ["subject", "resource", "action"],
        "subject": [["id"], ["id", "scope"]],
        "resource": [[], ["serviceName"], ["serviceName", "accountId"],
                     ["serviceName", "accountId", "serviceInstance"]]
    })
}

/// A `/v2/authz` answer with these items and `pattern` (when not null).
pub fn answer(items: Vec<Value>, pattern: Value) -> String {
    let mut v = json!({ "responses": items });
    if !pattern.is_null() {
        v["cacheKeyPattern"] = pattern;
    }
    v.to_string()
}

/// A permit item whose obligation names `actions` over `resource` attributes, for the
/// request's subject.
pub fn permit(req: &Value, actions: &[&str], resource: Value, max_age: Option<Value>) -> Value {
    let mut obligation = json!({
        "actions": actions,
        "subject": { "attributes": req["subject"]["attributes"].clone() },
        "resource": { "attributes": resource },
    });
    if let Some(m) = max_age {
        obligation["maxCacheAgeSeconds"] = m;
    }
    json!({"status": "200", "authorizationDecision": {"permitted": true, "obligation": obligation}})
}

/// A deny item.
pub fn deny(reason: &str) -> Value {
    json!({"status": "200", "authorizationDecision": {"permitted": false, "reason": reason}})
}

/// The items of a `/v2/authz` request body.
pub fn items(body: &Value) -> Vec<Value> {
    body.as_array().cloned().unwrap_or_default()
}
