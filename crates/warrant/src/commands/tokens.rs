//! `warrant token`: create, list and revoke API tokens.

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use warrant_api::Items;
use warrant_api::tokens::{CreateToken, NewToken, RevokeToken, Token};
use warrant_core::role::Role;

use crate::Failure;
use crate::cli::{Cli, TokenCommand};
use crate::client::{Client, encode};
use crate::output::{print_as, table};

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
            let request = CreateToken {
                name: name.clone(),
                role: role.clone(),
                agents: agents.clone(),
                person: person.clone(),
                expires,
            };
            let answer: NewToken = client.post_as("/v1/tokens", &request)?;
            print_as(cli.output, &answer, |answer| {
                let agents = agents_text(&answer.info);
                let bound = if agents.is_empty() {
                    String::new()
                } else {
                    format!(", acts for {agents}")
                };
                format!(
                    "token {} for {} ({}{bound}), shown once; store it now:\n{}\n",
                    answer.info.id, answer.info.name, answer.info.role, answer.token
                )
            });
        }
        TokenCommand::List => {
            let answer: Items<Token> = client.get_as("/v1/tokens")?;
            print_as(cli.output, &answer, |answer| {
                let rows = answer
                    .items
                    .iter()
                    .map(|token| {
                        vec![
                            token.id.clone(),
                            token.name.clone(),
                            token.role.clone(),
                            agents_text(token),
                            token.status.as_str().to_owned(),
                            time_text(token.expires),
                            time_text(token.last_used),
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
            let request = RevokeToken {
                reason: reason.clone(),
            };
            let answer: Token = client.post_as(&format!("/v1/tokens/{}/revoke", encode(id)), &request)?;
            print_as(cli.output, &answer, |answer| {
                format!("revoked token {} ({})\n", answer.id, answer.name)
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

fn agents_text(token: &Token) -> String {
    token.agents.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// A time as the API wrote it, `-` for none.
fn time_text(time: Option<DateTime<Utc>>) -> String {
    time.and_then(|time| serde_json::to_value(time).ok())
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "-".to_owned())
}
