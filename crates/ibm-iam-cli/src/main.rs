//! `ibm-iam`: IBM Cloud IAM from the command line.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// IBM Cloud IAM from the command line: a local IAM emulator today; tokens, verification
/// and authorization as the library grows them.
#[derive(Debug, Parser)]
#[command(name = "ibm-iam", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local IAM server that speaks IAM's wire formats.
    Emulator(commands::emulator::EmulatorArgs),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IBM_IAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Emulator(args) => commands::emulator::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
