//! IBM Cloud IAM for Rust.
//!
//! * [`TokenManager`]: access tokens for calling IBM Cloud APIs, from an API key, a trusted
//!   profile, a refresh token or a static token, cached and refreshed the way IBM's SDKs do
//!   it, with one request to IAM however many callers ask.
//! * Secrets are types ([`SecretString`], [`AccessToken`]): redacted `Debug`, no `Display`,
//!   zeroed on drop.
//! * Errors ([`Error`]) carry IAM's `errorCode`, the HTTP status, the transaction id, and
//!   whether a retry may help.
//! * Time is injected ([`clock`]), so expiry can be tested without sleeping.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ibm_iam::Error> {
//! let tm = ibm_iam::TokenManager::new(std::env::var("IBMCLOUD_API_KEY").unwrap_or_default())?;
//! let token = tm.get_token().await?;
//! # drop(token); Ok(()) }
//! ```

pub mod authz;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod http;
pub mod middleware;
mod prehashed;
pub mod secret;
pub mod token;
pub mod verify;

pub use endpoint::Endpoint;
pub use error::{Error, IamError, Result};
pub use http::HttpConfig;
pub use secret::{AccessToken, SecretString};
pub use token::{TokenManager, TokenManagerBuilder};
pub use verify::{Claims, TokenValidator, VerifyError, validate_token};
