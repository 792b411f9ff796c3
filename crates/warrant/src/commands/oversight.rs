//! Human oversight: `warrant reviews`, `escalate`, `override` and the `agents suspend`/`resume` kill switch.

use anyhow::Context;
use axum::http::Method;
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::{Cli, ReviewCommand};
use crate::client::{Client, encode};
use crate::output::{items, print, table, text};

pub(super) fn reviews(cli: &Cli, client: &Client, command: &ReviewCommand) -> Result<(), Failure> {
    match command {
        ReviewCommand::Due { overdue } => {
            let answer = client.get(if *overdue {
                "/v1/reviews/due?overdue=true"
            } else {
                "/v1/reviews/due"
            })?;
            print(cli.output, &answer, |answer| {
                let rows = items(answer)
                    .iter()
                    .map(|review| {
                        let flag = if review.get("overdue") == Some(&Value::Bool(true)) {
                            "OVERDUE"
                        } else {
                            ""
                        };
                        vec![
                            text(review, "/agent"),
                            text(review, "/tool"),
                            text(review, "/since"),
                            text(review, "/due"),
                            format!("{} d", text(review, "/cadence_days")),
                            flag.to_owned(),
                        ]
                    })
                    .collect();
                table(&["agent", "tool", "last review", "due", "cadence", ""], rows)
            });
        }
        ReviewCommand::Record {
            agent,
            tool,
            result,
            reason,
        } => {
            let body = serde_json::to_vec(
                &json!({"agent": agent, "tool": tool, "result": result, "reason": reason}),
            )
            .context("encoding request")?;
            let answer = client.call(Method::POST, "/v1/reviews", Some(("application/json", body)))?;
            print(cli.output, &answer, |answer| {
                format!(
                    "review recorded at seq {} (registry change at seq {})\n",
                    text(answer, "/seq"),
                    text(answer, "/change_seq")
                )
            });
        }
    }
    Ok(())
}

pub(super) fn oversight(cli: &Cli, client: &Client, path: &str, request: &Value) -> Result<(), Failure> {
    let body = serde_json::to_vec(request).context("encoding request")?;
    let answer = client.call(Method::POST, path, Some(("application/json", body)))?;
    print(cli.output, &answer, |answer| {
        format!("recorded at seq {}\n", text(answer, "/seq"))
    });
    Ok(())
}

/// The kill switch: change an agent's status in the registry, so the change log records who and why.
pub(super) fn set_agent_status(
    cli: &Cli,
    client: &Client,
    id: &str,
    status: &str,
    reason: &str,
) -> Result<(), Failure> {
    let body =
        serde_json::to_vec(&json!({"status": status, "reason": reason})).context("encoding request")?;
    let path = format!("/v1/agents/{}/status", encode(id));
    let answer = client.call(Method::POST, &path, Some(("application/json", body)))?;
    print(cli.output, &answer, |answer| {
        if answer.get("changed") == Some(&Value::Bool(true)) {
            format!("agent {id} is now {status}\n")
        } else {
            format!("agent {id} was already {status}\n")
        }
    });
    Ok(())
}
