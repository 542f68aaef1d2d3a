//! One GET for the key cache (the key set, the discovery document), with the rules of a key
//! fetch applied to the request itself, whatever client the caller configured with
//! [`crate::HttpConfig::client`]:
//!
//! * a timeout on the request (a custom client may have none): the configured
//!   [`crate::HttpConfig::request_timeout`];
//! * no redirect: a 3xx answer is refused, and so is an answer fetched from another URL
//!   than the one asked for (a custom client follows redirects unless told not to, as
//!   reqwest does by default, even from HTTPS to plain HTTP). The keys that verify tokens
//!   come from the configured endpoint or not at all;
//! * at most [`crate::http::MAX_BODY`] bytes, refused as soon as the declared length or
//!   the bytes read pass it.

use std::time::Duration;

use reqwest::header::{ACCEPT, LOCATION};

use super::error::cut;
use crate::error::Error;
use crate::http::{Answer, transport};

/// `GET url` expecting JSON, read whole.
pub(super) async fn get_json(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Answer, Error> {
    let request = client
        .get(url)
        .header(ACCEPT, "application/json")
        .timeout(timeout)
        .build()
        .map_err(|e| transport(url, &e))?;
    let asked = request.url().clone();
    let resp = client
        .execute(request)
        .await
        .map_err(|e| transport(url, &e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let refuse = |message: String| Error::InvalidResponse {
        url: url.to_owned(),
        status,
        message,
        transaction_id: headers
            .get("transaction-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    if resp.url() != &asked {
        return Err(refuse(format!(
            "the HTTP client followed a redirect to {}; IAM's keys are only fetched from the endpoint itself (build the client with reqwest::redirect::Policy::none())",
            cut(resp.url().as_str(), 200)
        )));
    }
    if resp.status().is_redirection() {
        let to = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| cut(l, 200))
            .unwrap_or_default();
        return Err(refuse(format!(
            "a redirect (to {to:?}) is not followed: IAM's keys are only fetched from the endpoint itself"
        )));
    }
    crate::http::read_answer(resp, url).await
}
