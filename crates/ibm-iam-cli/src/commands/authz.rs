//! `ibm-iam authz` and `ibm-iam roles`: ask IAM's Policy Decision Point.

use clap::Args;
use ibm_iam::TokenValidator;
use ibm_iam::authz::{AuthzRequest, Decision, Environment, PdpClient, Resource, Subject};
use serde_json::json;

use crate::creds::Budget;
use crate::output::{Format, Style, print_json};
use crate::{Failure, creds};

/// Who and on what: shared by `authz` and `roles`.
#[derive(Debug, Args)]
pub struct Target {
    /// The subject's access token (verified first), or `-` for stdin.
    #[arg(long, conflicts_with = "subject", required_unless_present = "subject")]
    token: Option<String>,
    /// The subject's IAM id (`IBMid-…`, `iam-ServiceId-…`, `iam-Profile-…`).
    #[arg(long)]
    subject: Option<String>,
    /// The subject's token scope, with --subject.
    #[arg(long, default_value = "ibm openid", requires = "subject")]
    scope: String,
    /// The resource's CRN.
    #[arg(long, conflicts_with = "attr", required_unless_present = "attr")]
    resource: Option<String>,
    /// A resource attribute (repeatable), e.g. --attr serviceName=books --attr accountId=….
    #[arg(long, value_name = "KEY=VALUE")]
    attr: Vec<String>,
    /// Call the PDP with IBM's <SERVICE>_* credentials instead of IBMCLOUD_API_KEY.
    #[arg(long, value_name = "SERVICE")]
    profile: Option<String>,
}

/// Options of `ibm-iam authz`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ibm-iam authz --token $USER_TOKEN --action books.book.read --resource crn:v1:bluemix:public:books:us-south:a/ACCOUNT:shelf-1::
  ibm-iam authz --subject IBMid-550000ED6J --action books.book.read --attr serviceName=books --attr accountId=ACCOUNT -v

Exit codes: 0 permitted, 1 denied, 2 error (the PDP could not decide: never a permit).")]
pub struct AuthzArgs {
    #[command(flatten)]
    target: Target,
    /// The action, `<service>.<noun>.<verb>`.
    #[arg(long)]
    action: String,
    /// An environment attribute (repeatable), KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Also print the obligation (actions, cache age, scope).
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// Options of `ibm-iam roles`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ibm-iam roles --subject IBMid-550000ED6J --resource crn:v1:bluemix:public:books:us-south:a/ACCOUNT:::")]
pub struct RolesArgs {
    #[command(flatten)]
    target: Target,
}

fn pairs(list: &[String], what: &str) -> Result<Vec<(String, String)>, Failure> {
    list.iter()
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    Failure::usage(
                        format!("'{p}' is not KEY=VALUE"),
                        format!("write {what} as KEY=VALUE"),
                    )
                })
        })
        .collect()
}

/// Who is asking: an IAM id, or a token still to be verified.
enum Who {
    Id(Subject),
    Token(String, TokenValidator),
}

/// Everything parsed and built, nothing sent yet.
struct Prepared {
    pdp: PdpClient,
    who: Who,
    resource: Resource,
}

impl Prepared {
    /// The subject; from a token, once verified. A verdict on the token is bad usage, but
    /// keys that cannot be fetched decide nothing, and the error says so.
    async fn subject(&self) -> Result<Subject, Failure> {
        let (token, validator) = match &self.who {
            Who::Id(s) => return Ok(s.clone()),
            Who::Token(t, v) => (t, v),
        };
        let claims = validator.validate(token).await.map_err(|e| {
            if e.is_transient() {
                Failure::transient(format!("cannot verify the subject's token now: {e}"))
            } else {
                Failure::usage(
                    format!("the subject's token is not valid: {e}"),
                    "pass a current token of the subject, or --subject ID",
                )
            }
        })?;
        Ok(Subject::from_claims(&claims)?)
    }
}

/// Parses the target and builds the clients; reads a `--token -` from stdin, sends nothing.
///
/// Everything talks to the service credentials' endpoint: `--iam-url`, else the profile's
/// `<SERVICE>_AUTH_URL`, else production.
fn prepare(t: &Target, iam_url: Option<&str>, budget: Budget) -> Result<Prepared, Failure> {
    let (tokens, http) = creds::token_manager(t.profile.as_deref(), iam_url, budget)?;
    let endpoint = tokens.endpoint().clone();
    let who = match (&t.token, &t.subject) {
        (Some(tok), _) => {
            let token = creds::token_arg(Some(tok))?;
            let validator = TokenValidator::builder()
                .endpoint(endpoint.clone())
                .http(http.clone())
                .build()
                .map_err(|e| Failure::usage(e.to_string(), "check --iam-url"))?;
            Who::Token(token, validator)
        }
        (None, Some(id)) => Who::Id(Subject::attributes(id, &t.scope)),
        (None, None) => return Err(Failure::usage("no subject", "pass --token or --subject")),
    };
    let resource = match &t.resource {
        Some(crn) => Resource::crn(crn).map_err(|e| Failure::usage(e.to_string(), "a CRN has ten ':'-separated segments: crn:v1:bluemix:public:<service>:<region>:a/<account>:<instance>:<type>:<resource>"))?,
        None => {
            let mut b = Resource::builder();
            for (k, v) in pairs(&t.attr, "--attr")? {
                b = b.attribute(k, v);
            }
            b.build()
        }
    };
    let (attempts, backoff, deadline) = budget.pdp_retries();
    let pdp = PdpClient::builder(tokens)
        .endpoint(endpoint)
        .http(http)
        .retries(attempts, backoff, deadline)
        .build()?;
    Ok(Prepared { pdp, who, resource })
}

fn decision_json(d: &Decision) -> serde_json::Value {
    json!({
        "permitted": d.permitted,
        "reason": d.reason,
        "cached": d.from_cache(),
        "obligation": d.obligation.as_ref().map(|o| json!({
            "actions": o.actions,
            "maxCacheAgeSeconds": o.max_cache_age_seconds,
            "subject": o.subject,
            "resource": o.resource,
        })),
    })
}

/// Runs `authz`.
pub async fn run_authz(
    args: AuthzArgs,
    iam_url: Option<&str>,
    out: Format,
    budget: Budget,
) -> Result<(), Failure> {
    let p = prepare(&args.target, iam_url, budget)?;
    let mut env = Environment::none();
    for (k, v) in pairs(&args.env, "--env")? {
        env = env.with(k, v);
    }
    // One budget for all of it: verifying the subject's token, the service's own token,
    // and the PDP call.
    let d = creds::bounded(budget, async {
        let subject = p.subject().await?;
        let req = AuthzRequest::new(subject, &args.action, p.resource.clone()).environment(env);
        Ok(p.pdp.authorize(req).await?)
    })
    .await?;
    let style = Style::detect();
    match out {
        Format::Json => print_json(&decision_json(&d)),
        Format::Text => {
            if d.permitted {
                println!("{} {}", style.ok("permitted"), args.action);
            } else {
                let why = d
                    .reason
                    .as_deref()
                    .map(|r| format!(" (reason: {r})"))
                    .unwrap_or_default();
                println!("{} {}{why}", style.bad("denied"), args.action);
            }
            if args.verbose
                && let Some(o) = &d.obligation
            {
                println!("  {} {}", style.dim("actions:"), o.actions.join(", "));
                if let Some(age) = o.max_cache_age_seconds {
                    println!("  {} {age} s", style.dim("cacheable for:"));
                }
                if let Some(r) = &o.resource {
                    println!("  {} {r:?}", style.dim("scope:"));
                }
            }
        }
    }
    if d.permitted {
        Ok(())
    } else {
        Err(Failure::verdict())
    }
}

/// Runs `roles`.
pub async fn run_roles(
    args: RolesArgs,
    iam_url: Option<&str>,
    out: Format,
    budget: Budget,
) -> Result<(), Failure> {
    let p = prepare(&args.target, iam_url, budget)?;
    let roles = creds::bounded(budget, async {
        let subject = p.subject().await?;
        Ok(p.pdp.roles(&subject, &p.resource).await?)
    })
    .await?;
    let style = Style::detect();
    let list = |rs: &[ibm_iam::authz::RoleActions]| {
        rs.iter()
            .map(|r| json!({ "role": r.role_crn, "displayName": r.display_name, "actions": r.actions }))
            .collect::<Vec<_>>()
    };
    match out {
        Format::Json => print_json(
            &json!({ "service": list(&roles.service), "platform": list(&roles.platform) }),
        ),
        Format::Text => {
            if roles.service.is_empty() && roles.platform.is_empty() {
                println!("no roles");
            }
            for (kind, rs) in [("service", &roles.service), ("platform", &roles.platform)] {
                for r in rs.iter() {
                    let name = r.display_name.clone().unwrap_or_else(|| r.role_crn.clone());
                    println!(
                        "{} {} {}",
                        style.dim(kind),
                        style.strong(&name),
                        r.actions.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}
