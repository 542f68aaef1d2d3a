//! A reqwest client that carries IAM bearer tokens.

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::error::Error;
use crate::token::TokenManager;

/// A `reqwest::Client` with a [`TokenManager`]: every request gets `Authorization: Bearer`;
/// a 401 drops exactly the token that was rejected (a newer one is kept) and the request is
/// sent once more with a fresh token.
///
/// ```no_run
/// # async fn demo() -> Result<(), ibm_iam::Error> {
/// use ibm_iam::TokenManager;
/// use ibm_iam::middleware::BearerClient;
///
/// let client = BearerClient::new(reqwest::Client::new(), TokenManager::new("my-api-key")?);
/// let resp = client.send(client.get("https://books.example.com/books")).await?;
/// # drop(resp); Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct BearerClient {
    http: reqwest::Client,
    tokens: TokenManager,
}

impl BearerClient {
    /// Wraps a client.
    pub fn new(http: reqwest::Client, tokens: TokenManager) -> Self {
        Self { http, tokens }
    }

    /// A GET request builder on the inner client.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.http.get(url)
    }

    /// A POST request builder on the inner client.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.http.post(url)
    }

    /// Any request builder on the inner client.
    pub fn request(&self, method: reqwest::Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends with a bearer token. A request whose body is a stream cannot be repeated, so
    /// its 401 is returned as is.
    pub async fn send(&self, req: RequestBuilder) -> Result<Response, Error> {
        let retry = req.try_clone();
        let token = self.tokens.get_token().await?;
        let resp = send(req.header(reqwest::header::AUTHORIZATION, token.bearer_header())).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(again) = retry else { return Ok(resp) };
        self.tokens.invalidate(&token);
        let fresh = self.tokens.get_token().await?;
        send(again.header(reqwest::header::AUTHORIZATION, fresh.bearer_header())).await
    }

    /// The token manager.
    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }
}

async fn send(req: RequestBuilder) -> Result<Response, Error> {
    req.send().await.map_err(|e| Error::Transport {
        kind: if e.is_timeout() {
            crate::error::TransportKind::Timeout
        } else if e.is_connect() {
            crate::error::TransportKind::Connect
        } else {
            crate::error::TransportKind::Other
        },
        url: e.url().map(|u| u.as_str().to_owned()).unwrap_or_default(),
        message: e.to_string(),
    })
}
