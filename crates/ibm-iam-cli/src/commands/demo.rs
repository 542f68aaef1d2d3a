//! `ibm-iam demo`: the whole tour against an embedded emulator.

use clap::Args;

use crate::Failure;
use crate::output::Format;

/// Options of `ibm-iam demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print one JSON document instead of text (same as --output json).
    #[arg(long)]
    json: bool,
}

/// Runs the demo.
pub async fn run(_args: DemoArgs, _out: Format) -> Result<(), Failure> {
    Err(Failure::error("the demo needs the emulator's policy side"))
}
