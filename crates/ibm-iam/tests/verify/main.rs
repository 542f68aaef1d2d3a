#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! Token verification: the attack suite, public test vectors, and the key cache against
//! the emulator (rotation, unknown-kid floods, a keys endpoint that is down).
//!
//! One test binary (link time is precious); one module per concern.

mod attacks;
mod common;
mod emulator;
mod fetch;
mod vectors;
