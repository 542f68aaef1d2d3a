//! A small "books" service protected by IBM Cloud IAM: listing books needs
//! `books.book.read`, adding one needs `books.book.create`.
//!
//! ```text
//! IBM_IAM_URL=http://127.0.0.1:8999 BOOKS_SERVICE_APIKEY=... BOOKS_ACCOUNT_ID=... \
//!     cargo run -p ibm-iam --features axum --example books_service
//! ```
//!
//! The service verifies each caller's token against IAM's keys, asks IAM's PDP (with its own
//! service credentials) whether the caller may do the action, and caches both answers.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use ibm_iam::authz::{PdpClient, Resource};
use ibm_iam::middleware::{IamAuthLayer, VerifiedClaims};
use ibm_iam::{Endpoint, TokenManager, TokenValidator};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Shelf {
    books: Arc<Mutex<Vec<Value>>>,
}

async fn list(State(shelf): State<Shelf>, VerifiedClaims(claims): VerifiedClaims) -> Json<Value> {
    let books = shelf.books.lock().map(|b| b.clone()).unwrap_or_default();
    Json(json!({ "reader": claims.iam_id(), "books": books }))
}

async fn create(
    State(shelf): State<Shelf>,
    VerifiedClaims(claims): VerifiedClaims,
    Json(book): Json<Value>,
) -> Json<Value> {
    let entry = json!({ "title": book.get("title"), "added_by": claims.iam_id() });
    if let Ok(mut b) = shelf.books.lock() {
        b.push(entry.clone());
    }
    Json(entry)
}

/// The service: routes, and the IAM layer that maps each request to an action.
pub fn books_app(validator: TokenValidator, pdp: PdpClient, account_id: String) -> Router {
    let route = move |parts: &Parts| {
        let action = match parts.method.as_str() {
            "GET" => "books.book.read",
            "POST" => "books.book.create",
            _ => "books.book.manage",
        };
        let resource = Resource::builder()
            .service_name("books")
            .account_id(&account_id)
            .build();
        Some((action.to_owned(), resource))
    };
    Router::new()
        .route("/books", get(list).post(create))
        .with_state(Shelf::default())
        .layer(IamAuthLayer::new(validator).authorize(pdp, route))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = match std::env::var("IBM_IAM_URL") {
        Ok(u) => Endpoint::parse(&u)?,
        Err(_) => Endpoint::production(),
    };
    let service_key = std::env::var("BOOKS_SERVICE_APIKEY")
        .map_err(|_| "set BOOKS_SERVICE_APIKEY to the service's API key")?;
    let account = std::env::var("BOOKS_ACCOUNT_ID")
        .map_err(|_| "set BOOKS_ACCOUNT_ID to the account that owns the books")?;
    let tokens = TokenManager::builder()
        .api_key(service_key)
        .endpoint(endpoint.clone())
        .build()?;
    let validator = TokenValidator::new(endpoint)?;
    let pdp = PdpClient::new(tokens)?;
    let listener = tokio::net::TcpListener::bind(
        std::env::var("BOOKS_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into()),
    )
    .await?;
    println!("http://{}", listener.local_addr()?);
    axum::serve(listener, books_app(validator, pdp, account)).await?;
    Ok(())
}
