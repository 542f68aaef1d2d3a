//! Any bytes as a request body to the emulator's routes that read forms, JSON and queries:
//! the token endpoint (every grant), API keys, service IDs, trusted profiles and their
//! rules and identities, policies, and the PDP (`/v2/authz`, roles, bulk). The first byte
//! picks the route, the second the credentials and the Content-Type; the rest is the body
//! (or the query), where `@AT@`, `@RT@` and `@CR@` stand for a valid access token, refresh
//! token and compute-resource token so that the fuzzer reaches past authentication.
//!
//! The router is driven in-process (`tower::ServiceExt::oneshot`) over one state built per
//! process. Nothing may panic, no answer may be a 5xx (there is no disk to fail here), and
//! every answer carries a `Transaction-Id` and, when it says JSON, a JSON body. Objects a
//! request created are deleted again so that the state, and memory, stay bounded.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt as _;
use ibm_iam_emulator::{EmulatorOptions, EmulatorState, Seed, app};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const ACCOUNT: &str = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
const ALICE_KEY: &str = "alice-apikey-0123456789abcdefghijklmnop";
/// `Basic base64(bx:bx)`, the client IBM's CLI uses.
const BASIC: &str = "Basic Yng6Yng=";

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    access: String,
    refresh: String,
    cr: String,
}

struct Answer {
    status: u16,
    json: bool,
    txid: bool,
    body: Vec<u8>,
}

async fn call(app: &axum::Router, req: Request<Body>) -> Answer {
    let resp = app
        .clone()
        .oneshot(req)
        .await
        .expect("the router is infallible");
    let status = resp.status().as_u16();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let txid = resp.headers().contains_key("transaction-id");
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("an in-memory body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        json,
        txid,
        body,
    }
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body)).expect("request")
}

fn json_of(a: &Answer) -> Value {
    serde_json::from_slice(&a.body).unwrap_or(Value::Null)
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let seed = Seed::from_json(include_str!(
            "../../crates/ibm-iam-emulator/examples/seed.json"
        ))
        .expect("seed");
        let state = EmulatorState::new(EmulatorOptions {
            seed: Some(seed),
            ..EmulatorOptions::default()
        })
        .expect("state");
        let app = app(state);
        let (access, refresh, cr) = rt.block_on(async {
            let form =
                format!("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={ALICE_KEY}");
            let t = json_of(
                &call(
                    &app,
                    request(
                        Method::POST,
                        "/identity/token",
                        &[
                            ("content-type", "application/x-www-form-urlencoded"),
                            ("authorization", BASIC),
                        ],
                        form.into_bytes(),
                    ),
                )
                .await,
            );
            let claims = json!({"claims": {"namespace": "books"}}).to_string();
            let cr = json_of(
                &call(
                    &app,
                    request(
                        Method::POST,
                        "/_emulator/cr-tokens",
                        &[("content-type", "application/json")],
                        claims.into_bytes(),
                    ),
                )
                .await,
            );
            let s = |v: &Value, k: &str| v[k].as_str().expect("a token").to_owned();
            (
                s(&t, "access_token"),
                s(&t, "refresh_token"),
                s(&cr, "cr_token"),
            )
        });
        World {
            rt,
            app,
            access,
            refresh,
            cr,
        }
    })
}

fn replace(body: &[u8], w: &World) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let rest = &body[i..];
        let (with, skip): (&str, usize) = if rest.starts_with(b"@AT@") {
            (&w.access, 4)
        } else if rest.starts_with(b"@RT@") {
            (&w.refresh, 4)
        } else if rest.starts_with(b"@CR@") {
            (&w.cr, 4)
        } else {
            out.push(body[i]);
            i += 1;
            continue;
        };
        out.extend_from_slice(with.as_bytes());
        i += skip;
    }
    out
}

/// The routes, with the method, whether they read a form, and what a created object's
/// path is for deleting it again.
enum Route {
    Token,
    Create(&'static str, &'static str),
    ProfileChild(&'static str, Method),
    Pdp(&'static str, Method),
    List(&'static str),
}

const ROUTES: [Route; 12] = [
    Route::Token,
    Route::Create("/v1/apikeys", "/v1/apikeys/"),
    Route::Create("/v1/serviceids/", "/v1/serviceids/"),
    Route::Create("/v1/profiles", "/v1/profiles/"),
    Route::Create("/v1/policies", "/v1/policies/"),
    Route::ProfileChild("rules", Method::POST),
    Route::ProfileChild("identities", Method::PUT),
    Route::Pdp("/v2/authz", Method::POST),
    Route::Pdp("/v2/authz/roles", Method::POST),
    Route::Pdp("/v2/authz/bulk", Method::PUT),
    Route::List("/v1/apikeys"),
    Route::List("/v1/policies"),
];

fn check(a: &Answer, what: &str) {
    assert!(
        a.status < 500,
        "{what} answered {}: {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    assert!(a.txid, "{what}: every answer carries a Transaction-Id");
    if a.json {
        assert!(
            serde_json::from_slice::<Value>(&a.body).is_ok(),
            "{what}: a JSON answer's body is JSON"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let w = world();
    let body = replace(rest, w);
    let bearer = format!("Bearer {}", w.access);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    let route = &ROUTES[usize::from(*route) % ROUTES.len()];
    match (flags & 3, route) {
        (0, Route::Token) => headers.push(("authorization", BASIC)),
        (0, _) => headers.push(("authorization", &bearer)),
        (1, Route::Token) => {}
        (1, _) => headers.push(("authorization", &w.access)),
        (2, _) => {}
        _ => headers.push(("authorization", "Bearer e30.e30.e30")),
    }
    let expected = if matches!(route, Route::Token) {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let with_charset = format!("{expected}; charset=UTF-8");
    match (flags >> 2) & 3 {
        0 => headers.push(("content-type", expected)),
        1 => headers.push(("content-type", &with_charset)),
        2 => headers.push(("content-type", "text/plain")),
        _ => {}
    }
    if flags & 0x10 != 0 {
        headers.push(("ibm-cloud-tenant", ACCOUNT));
    }
    let admin = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    w.rt.block_on(async {
        match route {
            Route::Token => {
                let a = call(
                    &w.app,
                    request(Method::POST, "/identity/token", &headers, body),
                )
                .await;
                check(&a, "/identity/token");
            }
            Route::Create(path, item) => {
                let a = call(&w.app, request(Method::POST, path, &headers, body)).await;
                check(&a, path);
                if (200..300).contains(&a.status)
                    && let Some(id) = json_of(&a)["id"].as_str()
                {
                    let uri = format!("{item}{id}");
                    let d = call(&w.app, request(Method::DELETE, &uri, &admin, Vec::new())).await;
                    assert!(
                        d.status < 300,
                        "deleting what was created: {uri} {}",
                        d.status
                    );
                }
            }
            Route::ProfileChild(child, method) => {
                let make = json!({"name": "fuzz", "account_id": ACCOUNT}).to_string();
                let p = call(
                    &w.app,
                    request(Method::POST, "/v1/profiles", &admin, make.into_bytes()),
                )
                .await;
                let id = json_of(&p)["id"].as_str().expect("a profile").to_owned();
                let uri = format!("/v1/profiles/{id}/{child}");
                let a = call(&w.app, request(method.clone(), &uri, &headers, body)).await;
                check(&a, &uri);
                let g = call(&w.app, request(Method::GET, &uri, &admin, Vec::new())).await;
                check(&g, &uri);
                let del = format!("/v1/profiles/{id}");
                let d = call(&w.app, request(Method::DELETE, &del, &admin, Vec::new())).await;
                assert!(d.status < 300, "deleting the profile: {}", d.status);
            }
            Route::Pdp(path, method) => {
                let a = call(&w.app, request(method.clone(), path, &headers, body)).await;
                check(&a, path);
            }
            Route::List(path) => {
                let Ok(query) = std::str::from_utf8(&body) else {
                    return;
                };
                let uri = format!("{path}?{query}");
                let Ok(uri) = uri.parse::<axum::http::Uri>() else {
                    return;
                };
                let req = Request::builder()
                    .method(Method::GET)
                    .uri(uri)
                    .header("authorization", bearer.as_str())
                    .body(Body::empty())
                    .expect("request");
                let a = call(&w.app, req).await;
                check(&a, path);
            }
        }
    });
});
