//! The books example behind IamAuthLayer, and BearerClient calling it, against the emulator;
//! the layer's answers and BearerClient's retries in detail.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)]

#[path = "../../examples/books_service.rs"]
mod books;
#[path = "../../examples/books_client.rs"]
mod books_client;
mod client;
mod layer;
mod service;
