//! Calls the books service with a token from an API key.
//!
//! ```text
//! IBM_IAM_URL=http://127.0.0.1:8999 IBMCLOUD_API_KEY=... BOOKS_URL=http://127.0.0.1:8080 \
//!     cargo run -p ibm-iam --example books_client
//! ```

use ibm_iam::middleware::BearerClient;
use ibm_iam::{Endpoint, TokenManager};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let resp = client.send(client.get(&format!("{books}/books"))).await?;
    println!("{} {}", resp.status(), resp.text().await?);
    Ok(())
}
