//! PdpClient against the emulator's PDP: IAM-faithful caching, coalescing, batching,
//! faults, invalidation, roles.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod answers;
mod canned;
mod common;
mod decisions;
mod faults;
mod robust;
