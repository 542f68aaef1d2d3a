//! `ibm-iam`: IBM Cloud IAM from the command line.
//!
//! Exit codes: 0 success (for `authz`: permitted; for `validate`: valid), 1 a negative
//! verdict (`authz`: denied; `validate`: the token is invalid), 2 an error (bad usage,
//! missing credentials, IAM unreachable).
//!
//! `--timeout SECONDS` (default 15) bounds how long `token`, `validate`, `authz` and
//! `roles` wait for IAM, retries included: an unreachable endpoint fails within it with a
//! hint, instead of after the library's service-grade minute.

mod commands;
mod creds;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use creds::Budget;
use output::Format;

/// IBM Cloud IAM from the command line: tokens, verification, authorization, roles, and a
/// local IAM emulator.
#[derive(Debug, Parser)]
#[command(
    name = "ibm-iam",
    version,
    about,
    after_help = "Examples:
  ibm-iam demo                                     # the whole tour against an embedded emulator
  export IBMCLOUD_API_KEY=...; ibm-iam token --header
  ibm-iam token | ibm-iam validate -
  ibm-iam authz --token $USER_TOKEN --action books.book.read --resource crn:v1:bluemix:public:books:us-south:a/ACCOUNT:shelf-1::
  ibm-iam emulator --tls --apikey test-key

Environment: IBMCLOUD_API_KEY (credentials), IBM_IAM_URL (endpoint), <SERVICE>_* keys for
--profile (environment or ibm-credentials.env; IBM_CREDENTIALS_FILE names the file),
IBM_IAM_TIMEOUT (--timeout), NO_COLOR, IBM_IAM_LOG (log filter, e.g. debug).
Exit codes: 0 success/permitted/valid, 1 denied/invalid, 2 error."
)]
struct Cli {
    /// The IAM endpoint (default production); the emulator's URL for local work.
    #[arg(long, global = true, env = "IBM_IAM_URL", value_name = "URL")]
    iam_url: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// Seconds to wait for IAM in all, retries included, before giving up.
    #[arg(
        long,
        global = true,
        env = "IBM_IAM_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = creds::DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an access token for your credentials.
    Token(commands::token::TokenArgs),
    /// Verify a token's signature and claims, and print the claims.
    Validate(commands::validate::ValidateArgs),
    /// Ask IAM whether a subject may perform an action on a resource.
    Authz(commands::authz::AuthzArgs),
    /// List a subject's roles and the actions they grant on a resource.
    Roles(commands::authz::RolesArgs),
    /// Run a local IAM server that speaks IAM's wire formats.
    Emulator(commands::emulator::EmulatorArgs),
    /// Walk through tokens, verification and authorization against an embedded emulator.
    Demo(commands::demo::DemoArgs),
    /// Print shell completions.
    #[command(after_help = "Examples:
  ibm-iam completions bash > ~/.local/share/bash-completion/completions/ibm-iam
  ibm-iam completions zsh > \"${fpath[1]}/_ibm-iam\"
  ibm-iam completions fish > ~/.config/fish/completions/ibm-iam.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// A failed command: what went wrong, a hint, and the exit code.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
}

impl Failure {
    /// Bad usage, configuration or environment (exit 2).
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// A runtime failure, e.g. IAM unreachable (exit 2).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            hint: None,
        }
    }

    /// IAM could not be reached or failed, so nothing was decided (exit 2): retrying may help.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            hint: Some(UNREACHABLE_HINT.to_owned()),
        }
    }

    /// A negative verdict (exit 1), already reported on stdout.
    pub fn verdict() -> Self {
        Self {
            code: 1,
            message: String::new(),
            hint: None,
        }
    }
}

/// The hint for anything transient: IAM unreachable, slow or failing.
const UNREACHABLE_HINT: &str = "IAM could not be reached or failed; check --iam-url and the network, then retry (--timeout SECONDS allows longer)";

impl From<ibm_iam::Error> for Failure {
    fn from(e: ibm_iam::Error) -> Self {
        if e.is_transient() {
            Self::transient(e.to_string())
        } else {
            Self::error(e.to_string())
        }
    }
}

fn init_logging() {
    use std::io::IsTerminal as _;
    // Errors reach the user as one message on stderr; library warnings would repeat them.
    let filter = tracing_subscriber::EnvFilter::try_from_env("IBM_IAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error,ibm_iam_emulator=info"));
    let color = output::colour(
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .init();
}

/// Flags that clap cannot see conflict because one of them is global: `token --header`
/// prints a header line, so it cannot also honour `--output json`.
fn check_conflicts(cli: &Cli) {
    if let Command::Token(a) = &cli.command
        && a.header()
        && cli.output == Format::Json
    {
        use clap::CommandFactory as _;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the argument '--header' cannot be used with '--output json'",
            )
            .exit();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    check_conflicts(&cli);
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory as _;
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "ibm-iam",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
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
    let iam_url = cli.iam_url.as_deref();
    let out = cli.output;
    let budget = Budget::new(Duration::from_secs(cli.timeout));
    let result = runtime.block_on(async {
        match cli.command {
            Command::Token(a) => commands::token::run(a, iam_url, out, budget).await,
            Command::Validate(a) => commands::validate::run(a, iam_url, out, budget).await,
            Command::Authz(a) => commands::authz::run_authz(a, iam_url, out, budget).await,
            Command::Roles(a) => commands::authz::run_roles(a, iam_url, out, budget).await,
            Command::Emulator(a) => commands::emulator::run(a).await,
            Command::Demo(a) => commands::demo::run(a, out).await,
            Command::Completions { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("error: {}", f.message);
            }
            if let Some(h) = &f.hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(f.code)
        }
    }
}
