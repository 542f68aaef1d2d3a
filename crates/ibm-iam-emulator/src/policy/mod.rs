//! Access management: services and their actions, roles, access groups and access policies,
//! and the Policy Decision Point's decision rule (see [`decide`](mod@decide) for the rule itself and
//! what about it is INFERRED).

pub mod attrs;
pub mod decide;
pub mod model;
pub mod parse;
pub mod request;
pub mod rule;
pub mod seed;
pub mod store;

pub use decide::{Decision, Query, decide};
pub use store::PolicyStore;
