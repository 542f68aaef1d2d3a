//! A local IBM Cloud IAM server that speaks IAM's wire formats, for tests and local
//! development: tokens for every common grant, the published key set and discovery document,
//! the Identity management APIs for API keys, service IDs and trusted profiles, access
//! management (policies, roles, access groups) and the Policy Decision Point that decides from
//! them (`/v2/authz`; see [`policy`]), and a control API for fault injection, key rotation,
//! clock shifts and request counters.
//!
//! Run it as `ibm-iam emulator`, or in-process:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ibm_iam_emulator::Emulator;
//!
//! let emu = Emulator::builder().apikey("test-api-key-0123456789").start().await?;
//! // POST {url}/identity/token with grant_type=urn:ibm:params:oauth:grant-type:apikey ...
//! println!("{}", emu.url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Or mount [`app`] in your own server:
//!
//! ```
//! use ibm_iam_emulator::{EmulatorOptions, EmulatorState, app};
//!
//! let state = EmulatorState::new(EmulatorOptions::default()).expect("state");
//! let router: axum::Router = app(state);
//! ```
//!
//! The control API is documented in `docs/EMULATOR.md` at the repository root.

pub mod civil;
pub mod claims;
pub mod clock;
pub mod control;
pub mod http;
pub mod identity;
pub mod ids;
pub mod jwt;
pub mod keys;
pub mod persist;
pub mod policy;
pub mod server;
pub mod state;
pub mod tls;

pub use identity::seed::Seed;
pub use keys::RotationPolicy;
pub use server::{Emulator, EmulatorBuilder, RunningEmulator, ServeError, Tls, serve};
pub use state::{DEFAULT_ACCOUNT_ID, DEFAULT_ISSUER, EmulatorOptions, EmulatorState, StartError};
pub use tls::TlsMaterial;

/// The emulator's routes (IAM's and the control API) over `state`, ready to serve.
///
/// It behaves as the `ibm-iam emulator` server does, with two limits of being mounted in a
/// server that is not the emulator's own:
///
/// - A `drop` fault answers with a body that fails at once, so hyper-based servers
///   (`axum::serve`, hyper directly) abort the connection without sending anything, as the
///   emulator's server does; a server that buffers answers before sending them may instead
///   send a 500 or close the connection after the status line.
/// - The error context's `clientIp` is the peer address only when the server supplies axum's
///   `ConnectInfo<SocketAddr>` (`into_make_service_with_connect_info`); otherwise it is empty.
///
/// Repeated slashes in the path (`//identity/token`) are collapsed before routing, here as in
/// the server. The request-head limits of [`server::MAX_HEAD_BYTES`] are the server's; under
/// another server, that server's own limits apply first.
pub fn app(state: EmulatorState) -> axum::Router {
    use tower::ServiceExt as _;
    let routes = http::router(state);
    // Rewriting the path must happen before routing, so the routes sit behind the fallback
    // service of an otherwise empty router.
    axum::Router::new().fallback_service(routes.map_request(http::collapse_slashes))
}
