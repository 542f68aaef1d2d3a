//! TokenManager against a real emulator on loopback, with a controlled clock.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;
mod config;
mod faults;
mod lifecycle;
mod runtimes;
mod secrets;
mod sources;
