//! `ibm-iam token`: an access token for your credentials.

use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};

use crate::creds::Budget;
use crate::output::{Format, print_json};
use crate::{Failure, creds};

/// Options of `ibm-iam token`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  IBMCLOUD_API_KEY=... ibm-iam token
  ibm-iam token --header | curl -H @- https://resource-controller.cloud.ibm.com/v2/resource_instances
  ibm-iam token --profile my-service --json")]
pub struct TokenArgs {
    /// Read IBM's <SERVICE>_* credentials (environment, ibm-credentials.env) instead of IBMCLOUD_API_KEY.
    #[arg(long, value_name = "SERVICE")]
    profile: Option<String>,
    /// Print `Authorization: Bearer <token>` (not with --json or --output json).
    #[arg(long, conflicts_with = "json")]
    header: bool,
    /// Print JSON with the expiry and a summary of the claims (same as --output json).
    #[arg(long)]
    json: bool,
}

impl TokenArgs {
    /// Whether `--header` was given.
    pub fn header(&self) -> bool {
        self.header
    }
}

/// The claims of a token, decoded without verification (for display only).
pub fn peek_claims(token: &str) -> Value {
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Runs the command.
pub async fn run(
    args: TokenArgs,
    iam_url: Option<&str>,
    out: Format,
    budget: Budget,
) -> Result<(), Failure> {
    let (tm, _) = creds::token_manager(args.profile.as_deref(), iam_url, budget)?;
    let token = creds::bounded(budget, async { Ok(tm.get_token().await?) }).await?;
    if args.json || out == Format::Json {
        let c = peek_claims(token.expose_secret());
        print_json(&json!({
            "access_token": token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": tm.status().valid_for.map(|d| d.as_secs()),
            "expiration": c.get("exp"),
            "iam_id": c.get("iam_id"),
            "sub": c.get("sub"),
            "account_id": c.get("account").and_then(|a| a.get("bss")),
            "scope": c.get("scope"),
            "grant_type": c.get("grant_type"),
        }));
    } else if args.header {
        println!("Authorization: Bearer {}", token.expose_secret());
    } else {
        println!("{}", token.expose_secret());
    }
    Ok(())
}
