//! Running the emulator: bind a port (0 picks a free one), serve HTTP or HTTPS, and stop on
//! request. Used by `ibm-iam emulator` and, in-process, by tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::http::context::DropConnection;
use crate::http::discovery::Scheme;
use crate::identity::seed::Seed;
use crate::keys::RotationPolicy;
use crate::state::{EmulatorOptions, EmulatorState, StartError};
use crate::tls::{TlsError, TlsMaterial};

/// Why the emulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The state could not be built.
    #[error(transparent)]
    Start(#[from] StartError),
    /// TLS material could not be made or loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

/// How to serve.
#[derive(Debug, Default)]
pub enum Tls {
    /// Plain HTTP.
    #[default]
    Off,
    /// HTTPS with a freshly generated self-signed certificate.
    SelfSigned,
    /// HTTPS with the given certificate and key.
    Provided(TlsMaterial),
}

/// Builds and starts an emulator.
///
/// ```no_run
/// # async fn demo() -> Result<(), ibm_iam_emulator::ServeError> {
/// let emu = ibm_iam_emulator::Emulator::builder()
///     .apikey("my-test-api-key")
///     .start()
///     .await?;
/// println!("IAM at {}", emu.url());
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct EmulatorBuilder {
    options: EmulatorOptions,
    host: Option<IpAddr>,
    port: u16,
    tls: Tls,
}

/// Entry point for running an emulator in-process.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with defaults: 127.0.0.1, a free port, plain HTTP, no identities.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

impl EmulatorBuilder {
    /// Adds a service ID in the default account holding this API key, administrator of the
    /// account's management services (it may create policies, roles and access groups).
    #[must_use]
    pub fn apikey(mut self, value: impl Into<String>) -> Self {
        self.options.apikeys.push(value.into());
        self
    }

    /// Identities to create at start.
    #[must_use]
    pub fn seed(mut self, seed: Seed) -> Self {
        self.options.seed = Some(seed);
        self
    }

    /// The `iss` of issued tokens.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.options.issuer = Some(issuer.into());
        self
    }

    /// Access-token lifetime in seconds (60 to 86400).
    #[must_use]
    pub fn token_lifetime(mut self, seconds: i64) -> Self {
        self.options.token_lifetime_seconds = Some(seconds);
        self
    }

    /// Persist to (and load from) this file.
    #[must_use]
    pub fn state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.options.state_file = Some(path.into());
        self
    }

    /// Key rotation policy.
    #[must_use]
    pub fn rotation(mut self, policy: RotationPolicy) -> Self {
        self.options.rotation = Some(policy);
        self
    }

    /// The address to bind (default 127.0.0.1).
    #[must_use]
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = Some(host);
        self
    }

    /// The port (0, the default, picks a free one).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serve HTTPS.
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// Builds the state, binds, and starts serving in a background task.
    pub async fn start(self) -> Result<RunningEmulator, ServeError> {
        let state = EmulatorState::new(self.options)?;
        let host = self.host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let material = match self.tls {
            Tls::Off => None,
            Tls::SelfSigned => Some(TlsMaterial::self_signed(&[host.to_string()])?),
            Tls::Provided(m) => Some(m),
        };
        serve(state, SocketAddr::new(host, self.port), material).await
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    url: String,
    addr: SocketAddr,
    state: EmulatorState,
    cert_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (clock, faults, counters, identities).
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// The server certificate as PEM, when serving HTTPS.
    pub fn cert_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// Stops accepting, closes open connections, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until Ctrl-C or SIGTERM, then stops.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        self.shutdown().await;
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A connection closed on purpose by an injected fault.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Serves `state` on `addr` (HTTPS when `tls` is given) in a background task.
pub async fn serve(
    state: EmulatorState,
    addr: SocketAddr,
    tls: Option<TlsMaterial>,
) -> Result<RunningEmulator, ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let acceptor = match &tls {
        Some(m) => Some(tokio_rustls::TlsAcceptor::from(m.server_config()?)),
        None => None,
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let host = match bound.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let url = format!("{scheme}://{host}:{}", bound.port());
    let router = crate::app(state.clone()).layer(Extension(Scheme(scheme)));
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else {
                        // Out of file descriptors and the like: back off briefly.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let router = router.clone();
                    let acceptor = acceptor.clone();
                    conns.spawn(async move {
                        match acceptor {
                            None => serve_connection(stream, peer, router).await,
                            Some(acc) => {
                                let handshake = tokio::time::timeout(Duration::from_secs(10), acc.accept(stream)).await;
                                if let Ok(Ok(tls_stream)) = handshake {
                                    serve_connection(tls_stream, peer, router).await;
                                }
                            }
                        }
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.shutdown().await;
    });
    Ok(RunningEmulator {
        url,
        addr: bound,
        state,
        cert_pem: tls.map(|m| m.cert_pem),
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// The largest request head (start line and headers) the server reads, bytes. Beyond it the
/// HTTP layer answers a bodiless 431 itself; up to it, the request reaches the emulator,
/// which refuses more than [`MAX_HEADER_BYTES`](crate::http::context::MAX_HEADER_BYTES) with
/// an IAM-shaped 431. Far above that limit so that every realistic oversized request gets
/// IAM's shape, and bounded, so a connection never buffers more than about this much.
pub const MAX_HEAD_BYTES: usize = 512 * 1024;
/// The most header fields the server parses; beyond it the HTTP layer answers a bodiless
/// 431. Well above the emulator's IAM-shaped limit,
/// [`MAX_HEADER_FIELDS`](crate::http::context::MAX_HEADER_FIELDS).
pub const MAX_HEAD_FIELDS: usize = 256;

async fn serve_connection<IO>(io: IO, peer: SocketAddr, router: axum::Router)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let router = router.clone();
        async move {
            let mut req = req.map(Body::new);
            // As axum's `into_make_service_with_connect_info` does: the error context's
            // `clientIp` reads it.
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(Dropped);
            }
            Ok::<_, Dropped>(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(MAX_HEAD_BYTES + 16 * 1024)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEAD_FIELDS)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}
