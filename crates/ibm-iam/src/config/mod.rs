//! Credentials from the environment, the way IBM's SDKs read them.
//!
//! * The simple case: [`token_manager_from_env`] uses `IBMCLOUD_API_KEY` (or the older
//!   `BLUEMIX_API_KEY`) and, when set, `IBM_IAM_URL` as the endpoint.
//! * Per service, like IBM's `get_authenticator_from_environment("my-service")`:
//!   [`ServiceConfig::from_environment`] reads `<SERVICE>_*` properties (service name
//!   upper-cased, `-` as `_`, the prefix matched on its `_` boundary) from the first source
//!   that has any, in IBM's order: the credentials file (`$IBM_CREDENTIALS_FILE`, else
//!   `./ibm-credentials.env`, else `~/ibm-credentials.env`), then environment variables,
//!   then `VCAP_SERVICES`.

mod service;

pub use service::{AuthType, Lookup, ServiceConfig};

/// Entry points for the fuzz targets in `fuzz/`: not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use service::fuzzing;

use crate::error::Error;
use crate::token::TokenManager;

/// The environment variable naming the IAM endpoint for [`token_manager_from_env`].
pub const IAM_URL_VAR: &str = "IBM_IAM_URL";

/// A [`TokenManager`] for `IBMCLOUD_API_KEY` (or `BLUEMIX_API_KEY`), against `IBM_IAM_URL`
/// when set, else production.
pub fn token_manager_from_env() -> Result<TokenManager, Error> {
    from_lookup(&|k| std::env::var(k).ok())
}

fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<TokenManager, Error> {
    let key = get("IBMCLOUD_API_KEY")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| get("BLUEMIX_API_KEY").filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| {
            Error::Config("IBMCLOUD_API_KEY is not set: export an IBM Cloud API key in it".into())
        })?;
    let mut b = TokenManager::builder().api_key(key);
    if let Some(url) = get(IAM_URL_VAR).filter(|v| !v.trim().is_empty()) {
        b = b.endpoint_url(&url);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_env() {
        let none = from_lookup(&|_| None).expect_err("missing");
        assert!(none.to_string().contains("IBMCLOUD_API_KEY"));
        let tm = from_lookup(&|k| match k {
            "BLUEMIX_API_KEY" => Some("legacy-key".into()),
            "IBM_IAM_URL" => Some("http://127.0.0.1:9/".into()),
            _ => None,
        })
        .expect("legacy name works");
        assert_eq!(tm.endpoint().base(), "http://127.0.0.1:9");
    }
}
