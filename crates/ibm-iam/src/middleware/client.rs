//! A reqwest client that carries IAM bearer tokens.

use reqwest::{Request, RequestBuilder, Response, StatusCode};

use crate::error::Error;
use crate::secret::AccessToken;
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

    /// Sends with a bearer token, in place of any `Authorization` header the request
    /// already has (one request never carries two).
    ///
    /// On a 401 the rejected token is dropped (only that one: a newer token another caller
    /// fetched meanwhile is kept) and the request is sent once more with a fresh token. A
    /// second 401 is returned as is, and leaves the fresh token in place, so a service that
    /// refuses every token does not turn each request into a token fetch. A request whose
    /// body is a stream cannot be repeated: its 401 is returned as is, and the next request
    /// gets a fresh token.
    pub async fn send(&self, req: RequestBuilder) -> Result<Response, Error> {
        // The builder knows its own client, which may not be ours.
        let (http, req) = req.build_split();
        let mut req = req.map_err(transport)?;
        let retry = req.try_clone();
        let token = self.tokens.get_token().await?;
        authorize(&mut req, &token);
        let resp = http.execute(req).await.map_err(transport)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        self.tokens.invalidate(&token);
        let Some(mut again) = retry else {
            return Ok(resp);
        };
        let fresh = self.tokens.get_token().await?;
        authorize(&mut again, &fresh);
        http.execute(again).await.map_err(transport)
    }

    /// The token manager.
    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }
}

/// Sets the one `Authorization` header (`insert` replaces every earlier value).
fn authorize(req: &mut Request, token: &AccessToken) {
    req.headers_mut()
        .insert(reqwest::header::AUTHORIZATION, token.bearer_header());
}

fn transport(e: reqwest::Error) -> Error {
    Error::Transport {
        kind: if e.is_timeout() {
            crate::error::TransportKind::Timeout
        } else if e.is_connect() {
            crate::error::TransportKind::Connect
        } else {
            crate::error::TransportKind::Other
        },
        url: e.url().map(|u| u.as_str().to_owned()).unwrap_or_default(),
        message: e.to_string(),
    }
}
