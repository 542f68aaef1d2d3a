#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Integration tests: a real emulator on a loopback port, driven over HTTP(S) by reqwest.

mod common;
mod faults;
mod identity_api;
mod keys;
mod pdp;
mod persistence;
mod policies;
mod shapes;
mod token;
