//! `ibm-iam validate`: verify a token and print its claims.

use clap::Args;
use ibm_iam::{TokenValidator, VerifyError};

use crate::creds::Budget;
use crate::output::{Format, Style, print_json};
use crate::{Failure, creds};

/// Options of `ibm-iam validate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ibm-iam validate eyJraWQi...
  ibm-iam token | ibm-iam validate
  ibm-iam validate --iam-url http://127.0.0.1:8999 --output json -

With no TOKEN, a token piped to stdin is read; on a terminal, pass '-' to type or paste one.
On failure, --output json names the failed check in \"check\": empty, too_large, malformed,
algorithm, critical_header, unknown_key, signature, missing_claim, claim_type, expired,
not_yet_valid, issued_in_future, issuer, client_id, audience, scope, account, subject_type.

Exit codes: 0 valid, 1 invalid (the failed check is printed), 2 error (keys unreachable, bad usage).")]
pub struct ValidateArgs {
    /// The token, or `-` for stdin (the default when stdin is not a terminal); a `Bearer `
    /// prefix is ignored.
    token: Option<String>,
    /// Accept this issuer (default: the endpoint's own, or the one its discovery document announces).
    #[arg(long)]
    issuer: Option<String>,
}

/// The check a verdict names, stable for scripts (`"check"` in JSON output).
pub fn check_name(e: &VerifyError) -> &'static str {
    match e {
        VerifyError::Empty => "empty",
        VerifyError::TooLarge { .. } => "too_large",
        VerifyError::Malformed { .. } => "malformed",
        VerifyError::Algorithm { .. } => "algorithm",
        VerifyError::CriticalHeader => "critical_header",
        VerifyError::UnknownKey { .. } => "unknown_key",
        VerifyError::Signature => "signature",
        VerifyError::MissingClaim(_) => "missing_claim",
        VerifyError::ClaimType { .. } => "claim_type",
        VerifyError::Expired { .. } => "expired",
        VerifyError::NotYetValid { .. } => "not_yet_valid",
        VerifyError::IssuedInFuture { .. } => "issued_in_future",
        VerifyError::Issuer { .. } => "issuer",
        VerifyError::ClientId { .. } => "client_id",
        VerifyError::Audience => "audience",
        VerifyError::Scope { .. } => "scope",
        VerifyError::Account { .. } => "account",
        VerifyError::SubjectType { .. } => "subject_type",
        VerifyError::KeysUnavailable(_) => "keys_unavailable",
        VerifyError::Runtime(_) => "runtime",
        // A check added to the library after this command was written.
        _ => "other",
    }
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
            let check = check_name(&e);
            match out {
                Format::Json => print_json(&serde_json::json!({
                    "valid": false,
                    "check": check,
                    "reason": e.to_string(),
                })),
                Format::Text => println!("{} {e} [check: {check}]", style.bad("invalid:")),
            }
            Err(Failure::verdict())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_names_its_check() {
        let cases = [
            (VerifyError::Empty, "empty"),
            (VerifyError::Signature, "signature"),
            (VerifyError::Expired { exp: 1, now: 2 }, "expired"),
            (
                VerifyError::Issuer {
                    found: "https://iam.example".into(),
                },
                "issuer",
            ),
            (VerifyError::MissingClaim("exp"), "missing_claim"),
            (VerifyError::Audience, "audience"),
            (VerifyError::UnknownKey { kid: "k".into() }, "unknown_key"),
            (
                VerifyError::KeysUnavailable(ibm_iam::Error::Config("x".into())),
                "keys_unavailable",
            ),
        ];
        for (e, name) in cases {
            assert_eq!(check_name(&e), name, "{e}");
        }
    }
}
