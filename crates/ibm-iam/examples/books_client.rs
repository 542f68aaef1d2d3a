//! Calls the books service with a token from an API key.
//!
//! ```text
//! IBM_IAM_URL=http://127.0.0.1:8999 IBMCLOUD_API_KEY=... BOOKS_URL=http://127.0.0.1:8080 \
//!     cargo run -p ibm-iam --example books_client
//! ```
//!
//! [`BearerClient`] adds `Authorization: Bearer` to each request and, if the service answers
//! 401 (say, the token was revoked), drops that token and sends the request once more with a
//! fresh one.

#![allow(dead_code)]

use ibm_iam::middleware::BearerClient;
use ibm_iam::{Endpoint, TokenManager};

/// `GET {books}/books`: the status and the body.
pub async fn list_books(
    client: &BearerClient,
    books: &str,
) -> Result<(reqwest::StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    let resp = client.send(client.get(&format!("{books}/books"))).await?;
    let status = resp.status();
    Ok((status, resp.text().await?))
}

/// `POST {books}/books` with a title.
pub async fn add_book(
    client: &BearerClient,
    books: &str,
    title: &str,
) -> Result<(reqwest::StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    let req = client
        .post(&format!("{books}/books"))
        .json(&serde_json::json!({ "title": title }));
    let resp = client.send(req).await?;
    let status = resp.status();
    Ok((status, resp.text().await?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let endpoint = match std::env::var("IBM_IAM_URL") {
        Ok(u) => Endpoint::parse(&u)?,
        Err(_) => Endpoint::production(),
    };
    let key = std::env::var("IBMCLOUD_API_KEY").map_err(|_| "set IBMCLOUD_API_KEY")?;
    let books = std::env::var("BOOKS_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client = BearerClient::new(
        reqwest::Client::new(),
        TokenManager::builder()
            .api_key(key)
            .endpoint(endpoint)
            .build()?,
    );
    let (status, body) = list_books(&client, &books).await?;
    println!("{status} {body}");
    Ok(())
}
