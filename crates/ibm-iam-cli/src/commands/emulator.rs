//! `ibm-iam emulator`: run the local IAM server.
//!
//! The first line on stdout is the base URL; with TLS the second is the path of the CA
//! certificate to trust. Logs go to stderr (`IBM_IAM_LOG=debug` for one line per request).

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use ibm_iam_emulator::{Emulator, RotationPolicy, Seed, ServeError, StartError, Tls, TlsMaterial};

use crate::Failure;

const SEED_HINT: &str = "see crates/ibm-iam-emulator/examples/seed.json for the seed file's format";

/// Options of `ibm-iam emulator`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ibm-iam emulator --apikey my-test-key
  ibm-iam emulator --port 8999 --tls --config seed.json --state iam-state.json
  curl -s -X POST $URL/identity/token -d grant_type=urn:ibm:params:oauth:grant-type:apikey -d apikey=my-test-key")]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve HTTPS with a generated certificate (its CA is written to --cert-out).
    #[arg(long)]
    tls: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key", conflicts_with = "tls")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Where to write the generated CA certificate (default: a file in the temp directory).
    #[arg(long, requires = "tls")]
    cert_out: Option<PathBuf>,
    /// Persist every change to this file; load it at start when it exists.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Seed file with accounts, users, service IDs, profiles and API keys.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Create a service ID holding this API key in the default account (repeatable).
    #[arg(long = "apikey", value_name = "VALUE")]
    apikeys: Vec<String>,
    /// The `iss` of issued tokens (default: production's issuer).
    #[arg(long)]
    issuer: Option<String>,
    /// Access-token lifetime in seconds (60-86400) [default: 3600].
    #[arg(long, value_name = "SECONDS")]
    token_lifetime: Option<i64>,
    /// Rotate the signing key when it is this many seconds old.
    #[arg(long, value_name = "SECONDS")]
    rotate_every: Option<i64>,
    /// Keep a retired key published for this many seconds [default: 3600].
    #[arg(long, value_name = "SECONDS")]
    key_overlap: Option<i64>,
}

/// What to do about an emulator that would not start.
fn start_failure(e: &ServeError) -> Failure {
    let hint = match e {
        ServeError::Bind { .. } => {
            "the address is taken or not yours: pick another --port (0 picks a free one) or --host"
        }
        ServeError::Tls(_) => {
            "--tls-cert and --tls-key must be readable PEM files that belong together; or use --tls for a generated certificate"
        }
        ServeError::Start(StartError::Seed(_)) => SEED_HINT,
        ServeError::Start(StartError::Persist(_)) => {
            "check that the --state file is readable and writable; move a damaged one aside to start fresh"
        }
        ServeError::Start(StartError::ApiKey(_)) => {
            "each --apikey needs a non-empty value that no other identity holds"
        }
        _ => "check the option values: ibm-iam emulator --help",
    };
    Failure::usage(e.to_string(), hint)
}

fn io_failure(e: std::io::Error) -> Failure {
    Failure::usage(
        format!("cannot write to stdout: {e}"),
        "the first line on stdout is the emulator's URL: keep stdout open",
    )
}

/// Runs the emulator until Ctrl-C or SIGTERM.
pub async fn run(args: EmulatorArgs) -> Result<(), Failure> {
    let mut builder = Emulator::builder().host(args.host).port(args.port);
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(
                format!("cannot read the seed file {}: {e}", path.display()),
                "check the path given to --config",
            )
        })?;
        let seed = Seed::from_json(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display()), SEED_HINT))?;
        builder = builder.seed(seed);
    }
    for key in args.apikeys {
        builder = builder.apikey(key);
    }
    if let Some(i) = args.issuer {
        builder = builder.issuer(i);
    }
    if let Some(l) = args.token_lifetime {
        builder = builder.token_lifetime(l);
    }
    if let Some(p) = args.state {
        builder = builder.state_file(p);
    }
    if args.rotate_every.is_some() || args.key_overlap.is_some() {
        let default = RotationPolicy::default();
        builder = builder.rotation(RotationPolicy {
            every_seconds: args.rotate_every,
            overlap_seconds: args.key_overlap.unwrap_or(default.overlap_seconds),
        });
    }
    let serving_tls = args.tls || args.tls_cert.is_some();
    builder = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let material = TlsMaterial::from_pem_files(c, k)
                .map_err(|e| start_failure(&ServeError::Tls(e)))?;
            builder.tls(Tls::Provided(material))
        }
        _ if args.tls => builder.tls(Tls::SelfSigned),
        _ => builder,
    };
    let emu = builder.start().await.map_err(|e| start_failure(&e))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", emu.url()).map_err(io_failure)?;
    if serving_tls {
        let path = match (&args.cert_out, &args.tls_cert) {
            (Some(p), _) => p.clone(),
            (None, Some(provided)) => provided.clone(),
            (None, None) => {
                std::env::temp_dir().join(format!("ibm-iam-emulator-{}-ca.pem", emu.addr().port()))
            }
        };
        if args.tls_cert.is_none() {
            let pem = emu.cert_pem().unwrap_or_default();
            std::fs::write(&path, pem).map_err(|e| {
                Failure::usage(
                    format!("cannot write the certificate to {}: {e}", path.display()),
                    "pass a writable path with --cert-out",
                )
            })?;
        }
        writeln!(out, "{}", path.display()).map_err(io_failure)?;
    }
    out.flush().map_err(io_failure)?;
    drop(out);
    tracing::info!(
        url = emu.url(),
        issuer = emu.state().issuer(),
        "IAM emulator ready"
    );
    emu.run_until_signal().await;
    tracing::info!("IAM emulator stopped");
    Ok(())
}
