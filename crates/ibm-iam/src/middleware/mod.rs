//! Integrations where users live, behind cargo features:
//!
//! * `http-client`: `BearerClient`, a reqwest client that adds IAM bearer tokens and, on a
//!   401, drops exactly the rejected token and retries once;
//! * `axum`: `IamAuthLayer`, a tower layer for axum (and any tower) services that verifies
//!   incoming bearer tokens, optionally authorizes the request with the PDP, answers 401 or
//!   403 with IAM-style JSON and `WWW-Authenticate`, and hands handlers the verified
//!   [`Claims`](crate::Claims) through the `VerifiedClaims` extractor.

#[cfg(feature = "http-client")]
mod client;
#[cfg(feature = "axum")]
mod server;

#[cfg(feature = "http-client")]
pub use client::BearerClient;
#[cfg(feature = "axum")]
pub use server::{IamAuth, IamAuthLayer, RouteAuthz, VerifiedClaims};
