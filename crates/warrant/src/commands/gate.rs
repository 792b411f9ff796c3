//! The gate: `warrant authorize` asks for a decision, `warrant approvals` lists and decides the approvals
//! it asked for.

use anyhow::anyhow;
use serde_json::{Value, json};
use warrant_api as wire;

use crate::Failure;
use crate::cli::{ApprovalCommand, Cli};
use crate::client::{Client, encode};
use crate::output::{print_as, table, text};

/// One `warrant authorize` invocation.
pub(super) struct AuthorizeCall<'a> {
    pub(super) agent: &'a str,
    pub(super) tool: &'a str,
    pub(super) args: Option<&'a str>,
    pub(super) session: Option<&'a str>,
    pub(super) user_named: &'a [String],
    pub(super) approval_id: Option<&'a str>,
    pub(super) trace_id: Option<&'a str>,
    pub(super) span_id: Option<&'a str>,
}

pub(super) fn authorize(cli: &Cli, client: &Client, call: &AuthorizeCall<'_>) -> Result<(), Failure> {
    let AuthorizeCall {
        agent,
        tool,
        args,
        session,
        user_named,
        approval_id,
        trace_id,
        span_id,
    } = *call;
    let args: Value = match args {
        Some(text) => serde_json::from_str(text)
            .map_err(|error| Failure::Usage(anyhow!("--args is not JSON: {error}")))?,
        None => json!({}),
    };
    if !args.is_object() {
        return Err(Failure::Usage(anyhow!("--args must be a JSON object")));
    }
    let request = wire::gate::AuthorizeRequest {
        agent: agent.to_owned(),
        tool: tool.to_owned(),
        args: match args {
            Value::Object(args) => Some(args),
            _ => None,
        },
        session: session.map(str::to_owned),
        trace_id: trace_id.map(str::to_owned),
        span_id: span_id.map(str::to_owned),
        approval_id: approval_id.map(str::to_owned),
        context: wire::gate::AuthorizeContext {
            user_named: user_named.to_vec(),
        },
    };
    let answer: wire::gate::AuthorizeResponse = client.post_as("/v1/authorize", &request)?;
    print_as(cli.output, &answer, |answer| {
        let mut out = format!("{} (recorded at seq {})\n", answer.decision.as_str(), answer.seq);
        for reason in &answer.reasons {
            out.push_str(&format!("  {}: {}\n", reason.rule, reason.text));
        }
        out
    });
    Ok(())
}

pub(super) fn approvals(cli: &Cli, client: &Client, command: &ApprovalCommand) -> Result<(), Failure> {
    let (id, verb, reason) = match command {
        ApprovalCommand::List { status } => {
            let path = match status {
                Some(status) => format!("/v1/approvals?status={}", encode(status)),
                None => "/v1/approvals".to_owned(),
            };
            let answer: wire::Items<wire::gate::Approval> = client.get_as(&path)?;
            print_as(cli.output, &answer, |answer| {
                let rows = answer
                    .items
                    .iter()
                    .map(|approval| {
                        vec![
                            approval.id.clone(),
                            approval_status(approval.status).to_owned(),
                            approval.agent.clone(),
                            approval.tool.clone(),
                            warrant_core::event::format_time(&approval.requested_at),
                            warrant_core::event::format_time(&approval.expires_at),
                            text(&approval.reasons, "/0/text"),
                        ]
                    })
                    .collect();
                table(
                    &["id", "status", "agent", "tool", "requested", "expires", "why"],
                    rows,
                )
            });
            return Ok(());
        }
        ApprovalCommand::Approve { id, reason } => (id, "approve", reason.as_deref()),
        ApprovalCommand::Deny { id, reason } => (id, "deny", Some(reason.as_str())),
    };
    let request = wire::gate::DecideRequest {
        reason: reason.map(str::to_owned),
    };
    let answer: wire::gate::Approval =
        client.post_as(&format!("/v1/approvals/{}/{verb}", encode(id)), &request)?;
    print_as(cli.output, &answer, |answer| {
        format!("approval {} is {}\n", answer.id, approval_status(answer.status))
    });
    Ok(())
}

fn approval_status(status: wire::gate::ApprovalStatus) -> &'static str {
    match status {
        wire::gate::ApprovalStatus::Pending => "pending",
        wire::gate::ApprovalStatus::Approved => "approved",
        wire::gate::ApprovalStatus::Denied => "denied",
        wire::gate::ApprovalStatus::Used => "used",
        wire::gate::ApprovalStatus::Expired => "expired",
    }
}
