//! Per-request plumbing: the transaction id, request counters, fault injection, and the
//! rendering of IAM-shaped error bodies.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;

use super::errors::{IamError, is_token_route};
use crate::control::faults::FaultAction;
use crate::ids;
use crate::state::EmulatorState;

/// What a handler knows about its request.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The `Transaction-Id` (the caller's, or a generated one).
    pub txid: String,
    /// Start of the request, emulator clock, Unix ms.
    pub start_ms: i64,
    /// `User-Agent`.
    pub user_agent: String,
    /// The request URL's path.
    pub url: String,
    /// The route it matched (`/identity/token`), or `unmatched`.
    pub route: String,
    /// The caller's IP address (from the connection, as axum's [`ConnectInfo`] carries it),
    /// or `None` when the server did not say. Kept unformatted: only error bodies show it.
    pub client_ip: Option<std::net::IpAddr>,
}

/// The most header bytes a request may carry; more is answered 431 in IAM's shape.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The most header fields a request may carry; more is answered 431 in IAM's shape.
pub const MAX_HEADER_FIELDS: usize = 100;

/// Marks a response whose connection the server must close without answering.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

fn clean_txid(raw: Option<&HeaderValue>) -> String {
    raw.and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| format!("emu-{}", ids::random_hex32()), str::to_owned)
}

/// Marks a response whose body is already in IAM's error shape.
#[derive(Debug, Clone, Copy)]
struct Rendered;

/// The most bytes of a non-IAM error body (an axum rejection's message) carried over into
/// IAM's shape.
const MAX_WRAPPED_MESSAGE: usize = 4096;

/// Gives an error answer IAM's shape: renders an [`IamError`] a handler returned, and
/// re-expresses any other 4xx or 5xx (axum's own rejections: a 405, a repeated query
/// parameter, a path that is not valid UTF-8, …) as an IAM error with the same status and
/// message. Successful answers and dropped connections pass unchanged.
async fn iam_shaped(mut resp: Response, ctx: &Ctx, state: &EmulatorState) -> Response {
    let ext = resp.extensions();
    if ext.get::<Rendered>().is_some() || ext.get::<DropConnection>().is_some() {
        return resp;
    }
    let err = match resp.extensions_mut().remove::<IamError>() {
        Some(e) => e,
        None if resp.status().is_client_error() || resp.status().is_server_error() => {
            let status = resp.status();
            let body = std::mem::take(resp.body_mut());
            let message = axum::body::to_bytes(body, MAX_WRAPPED_MESSAGE)
                .await
                .ok()
                .and_then(|b| String::from_utf8(b.to_vec()).ok())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
            let route = if ctx.route == "unmatched" {
                &ctx.url
            } else {
                &ctx.route
            };
            IamError::wrapped(status, route, message)
        }
        None => return resp,
    };
    let body = err.body(ctx, state.clock().now_ms(), state.instance_id());
    *resp.body_mut() = Body::from(body.to_string());
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    resp.extensions_mut().insert(Rendered);
    resp
}

/// Outermost middleware: sets up [`Ctx`], gives every error answer IAM's shape (those the
/// route middleware has not shaped already: unknown paths, oversized headers), adds
/// `Transaction-Id`.
pub async fn context(State(state): State<EmulatorState>, mut req: Request, next: Next) -> Response {
    let ctx = Ctx {
        txid: clean_txid(req.headers().get("transaction-id")),
        start_ms: state.clock().now_ms(),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect(),
        url: req.uri().path().chars().take(512).collect(),
        route: "unmatched".into(),
        client_ip: req
            .extensions()
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip()),
    };
    req.extensions_mut().insert(ctx.clone());
    let method = req.method().clone();
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let header_fields = req.headers().len();
    let resp = if header_bytes > MAX_HEADER_BYTES || header_fields > MAX_HEADER_FIELDS {
        IamError::api(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request_header_fields_too_large",
            format!(
                "The request headers exceed {MAX_HEADER_BYTES} bytes or {MAX_HEADER_FIELDS} fields"
            ),
        )
        .into_response()
    } else {
        next.run(req).await
    };
    // The route the route middleware matched, if any.
    let ctx = match resp.extensions().get::<Ctx>() {
        Some(c) => Ctx {
            route: c.route.clone(),
            ..ctx
        },
        None => ctx,
    };
    let mut resp = iam_shaped(resp, &ctx, &state).await;
    tracing::debug!(
        method = %method,
        route = %ctx.route,
        status = resp.status().as_u16(),
        elapsed_ms = state.clock().now_ms() - ctx.start_ms,
        transaction_id = %ctx.txid,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&ctx.txid) {
        resp.headers_mut().insert("transaction-id", v);
    }
    resp.headers_mut()
        .insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en-US"));
    resp
}

/// Route middleware: counts the request and applies any injected fault.
///
/// The answer is given IAM's error shape *before* a fault alters it, so that `truncated` and
/// `wrong_content_type` faults apply to every answer of the endpoint, errors included.
pub async fn faults(State(state): State<EmulatorState>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    if let Some(ctx) = req.extensions_mut().get_mut::<Ctx>() {
        ctx.route.clone_from(&route);
    }
    let ctx = req.extensions().get::<Ctx>().cloned();
    let shaped = async |resp: Response| match &ctx {
        Some(ctx) => iam_shaped(resp, ctx, &state).await,
        None => resp,
    };
    let mut resp = if route.starts_with("/_emulator") {
        shaped(next.run(req).await).await
    } else {
        state.counters().hit(&route);
        match state.faults().effect_for(req.method().as_str(), &route) {
            None => shaped(next.run(req).await).await,
            Some(effect) => {
                if let Some(delay) = effect.latency {
                    tokio::time::sleep(delay).await;
                }
                if let Some((status, retry_after)) = effect.status {
                    shaped(IamError::injected(status, retry_after, &route).into_response()).await
                } else {
                    match effect.action {
                        None => shaped(next.run(req).await).await,
                        Some(FaultAction::Drop) => dropped(),
                        Some(FaultAction::Malformed) => json_response(Bytes::from_static(
                            br#"{"access_token":"eyJraWQiOiIyMDI0MDkw"#,
                        )),
                        Some(FaultAction::Empty) => json_response(Bytes::new()),
                        Some(FaultAction::Truncated) => {
                            truncate(shaped(next.run(req).await).await).await
                        }
                        Some(FaultAction::WrongContentType) => {
                            let mut r = shaped(next.run(req).await).await;
                            r.headers_mut().insert(
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("text/html; charset=utf-8"),
                            );
                            r
                        }
                    }
                }
            }
        }
    };
    if let Some(ctx) = ctx {
        resp.extensions_mut().insert(Ctx { route, ..ctx });
    }
    resp
}

fn json_response(body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The answer of a `drop` fault: marked [`DropConnection`], so that the emulator's server
/// closes the connection without writing anything, and with a body that fails at once, so
/// that any other hyper-based server (axum::serve with [`crate::app`]) aborts the
/// connection too instead of sending it.
fn dropped() -> Response {
    let mut r = Response::new(Body::new(FailingBody));
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.extensions_mut().insert(DropConnection);
    r
}

/// A body whose first frame is an error.
struct FailingBody;

impl http_body::Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by an injected fault",
        ))))
    }
}

/// Sends the real headers (with the full `Content-Length`) and half the body, then fails
/// the body so the server closes the connection mid-answer.
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&full.len().to_string()) {
        parts.headers.insert(header::CONTENT_LENGTH, v);
    }
    let half = full.slice(..full.len() / 2);
    Response::from_parts(
        parts,
        Body::new(TruncatedBody {
            data: Some(half),
            pause: Box::pin(tokio::time::sleep(std::time::Duration::from_millis(50))),
        }),
    )
}

/// Yields half the body, pauses so the server flushes it, then fails.
struct TruncatedBody {
    data: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "body truncated by an injected fault",
            )))),
        }
    }
}

/// The route of a request, for handlers that pick an error shape.
pub fn route_shape_is_token(ctx: &Ctx) -> bool {
    is_token_route(&ctx.route)
}
