//! `ibm-iam validate`: verify a token and print its claims.

use clap::Args;
use ibm_iam::TokenValidator;

use crate::creds::Budget;
use crate::output::{Format, Style, print_json};
use crate::{Failure, creds};

/// Options of `ibm-iam validate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ibm-iam validate eyJraWQi...
  ibm-iam token | ibm-iam validate -
  ibm-iam validate --iam-url http://127.0.0.1:8999 --output json -

Exit codes: 0 valid, 1 invalid (the failed check is printed), 2 error (keys unreachable, bad usage).")]
pub struct ValidateArgs {
    /// The token, or `-` (the default) to read it from stdin; a `Bearer ` prefix is ignored.
    token: Option<String>,
    /// Accept this issuer (default: the endpoint's own, or the one its discovery document announces).
    #[arg(long)]
    issuer: Option<String>,
}

/// Runs the command.
pub async fn run(
    args: ValidateArgs,
    iam_url: Option<&str>,
    out: Format,
    budget: Budget,
) -> Result<(), Failure> {
    let token = creds::token_arg(args.token.as_deref())?;
    let mut b = TokenValidator::builder()
        .endpoint(creds::endpoint(iam_url)?)
        .http(budget.http());
    if let Some(i) = args.issuer {
        b = b.issuer(i);
    }
    let validator = b
        .build()
        .map_err(|e| Failure::usage(e.to_string(), "check --iam-url and --issuer"))?;
    let style = Style::detect();
    let outcome = creds::bounded(budget, async { Ok(validator.validate(&token).await) }).await?;
    match outcome {
        Ok(claims) => {
            match out {
                Format::Json => {
                    let raw = serde_json::Value::Object(claims.raw().clone());
                    print_json(&serde_json::json!({ "valid": true, "claims": raw }));
                }
                Format::Text => {
                    println!("{}", style.ok("valid"));
                    for (k, v) in claims.raw() {
                        let shown = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        println!("  {:<12} {}", style.strong(k), shown);
                    }
                }
            }
            Ok(())
        }
        Err(e) if e.is_transient() => Err(Failure::transient(format!(
            "could not decide whether the token is valid: {e}"
        ))),
        Err(e) => {
            match out {
                Format::Json => {
                    print_json(&serde_json::json!({ "valid": false, "reason": e.to_string() }))
                }
                Format::Text => println!("{} {}", style.bad("invalid:"), e),
            }
            Err(Failure::verdict())
        }
    }
}
