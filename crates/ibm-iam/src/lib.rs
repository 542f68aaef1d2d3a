//! IBM Cloud IAM for Rust.
//!
//! This crate will hold the three capabilities described in the repository's
//! `shared/DESIGN.md`: a cached `TokenManager`, a `TokenValidator`, and a `PdpClient`. They
//! land issue by issue; today the workspace ships the local IAM emulator
//! (`ibm-iam-emulator`) that they are tested against.
