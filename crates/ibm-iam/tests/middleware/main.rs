//! The books example behind IamAuthLayer, and BearerClient calling it, against the emulator.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, dead_code)]

#[path = "../../examples/books_service.rs"]
mod books;
mod client;
mod layer;
mod service;
