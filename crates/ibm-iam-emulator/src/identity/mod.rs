//! Identities: the data model, the store, the seed file, and compute-resource trust.

pub mod model;
pub mod seed;
pub mod store;
pub mod trust;
