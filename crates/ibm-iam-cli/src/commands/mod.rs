//! One module per subcommand.

pub mod authz;
pub mod demo;
pub mod emulator;
pub mod token;
pub mod validate;
