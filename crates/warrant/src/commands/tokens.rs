//! `warrant token`: create, list and revoke API tokens.

use anyhow::{Context, anyhow};
use axum::http::Method;
use serde_json::json;
use warrant_core::role::Role;

use crate::Failure;
use crate::cli::{Cli, TokenCommand};
use crate::client::{Client, encode};
use crate::output::{items, joined, print, table, text};

pub(super) fn token(cli: &Cli, client: &Client, command: &TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            role,
            name,
            agents,
            person,
            expires_in,
        } => {
            if Role::parse(role).is_none() {
                return Err(Failure::Usage(anyhow!(
                    "unknown role `{role}`; use agent, approver, auditor or admin"
                )));
            }
            if role == "agent" && agents.is_empty() {
                return Err(Failure::Usage(anyhow!(
                    "an agent token names the agents it may act for: add `--agent ID` (repeat for several)"
                )));
            }
            let expires = expires_in
                .as_deref()
                .map(|text| {
                    parse_span(text)
                        .map(|span| chrono::Utc::now() + span)
                        .ok_or_else(|| {
                            Failure::Usage(anyhow!(
                                "`--expires-in {text}` is not a duration like 90d, 12h, 30m or 2w"
                            ))
                        })
                })
                .transpose()?;
            let mut request = json!({"name": name, "role": role});
            if let Some(object) = request.as_object_mut() {
                if !agents.is_empty() {
                    object.insert("agents".into(), json!(agents));
                }
                if let Some(person) = person {
                    object.insert("person".into(), json!(person));
                }
                if let Some(expires) = expires {
                    object.insert("expires".into(), json!(expires));
                }
            }
            let body = serde_json::to_vec(&request).context("encoding request")?;
            let answer = client.call(Method::POST, "/v1/tokens", Some(("application/json", body)))?;
            print(cli.output, &answer, |answer| {
                let agents = joined(answer, "agents", |agent| {
                    agent.as_str().unwrap_or_default().to_owned()
                });
                let bound = if agents.is_empty() {
                    String::new()
                } else {
                    format!(", acts for {agents}")
                };
                format!(
                    "token {} for {} ({}{bound}), shown once; store it now:\n{}\n",
                    text(answer, "/id"),
                    text(answer, "/name"),
                    text(answer, "/role"),
                    text(answer, "/token")
                )
            });
        }
        TokenCommand::List => {
            let answer = client.get("/v1/tokens")?;
            print(cli.output, &answer, |answer| {
                let rows = items(answer)
                    .iter()
                    .map(|token| {
                        vec![
                            text(token, "/id"),
                            text(token, "/name"),
                            text(token, "/role"),
                            joined(token, "agents", |agent| {
                                agent.as_str().unwrap_or_default().to_owned()
                            }),
                            text(token, "/status"),
                            text(token, "/expires"),
                            text(token, "/last_used"),
                        ]
                    })
                    .collect();
                table(
                    &["ID", "NAME", "ROLE", "AGENTS", "STATUS", "EXPIRES", "LAST USED"],
                    rows,
                )
            });
        }
        TokenCommand::Revoke { id, reason } => {
            let body = serde_json::to_vec(&json!({"reason": reason})).context("encoding request")?;
            let answer = client.call(
                Method::POST,
                &format!("/v1/tokens/{}/revoke", encode(id)),
                Some(("application/json", body)),
            )?;
            print(cli.output, &answer, |answer| {
                format!(
                    "revoked token {} ({})\n",
                    text(answer, "/id"),
                    text(answer, "/name")
                )
            });
        }
    }
    Ok(())
}

/// A span of time as people write it: a number and a unit (`m`, `h`, `d`, `w`).
fn parse_span(text: &str) -> Option<chrono::Duration> {
    let text = text.trim();
    let unit = text.chars().last()?;
    let number: i64 = text.get(..text.len() - unit.len_utf8())?.parse().ok()?;
    if number <= 0 {
        return None;
    }
    match unit {
        'm' => chrono::Duration::try_minutes(number),
        'h' => chrono::Duration::try_hours(number),
        'd' => chrono::Duration::try_days(number),
        'w' => chrono::Duration::try_weeks(number),
        _ => None,
    }
}
