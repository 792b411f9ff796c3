//! Human oversight: `warrant reviews`, `escalate`, `override` and the `agents suspend`/`resume` kill switch.

use serde::Serialize;
use warrant_api::Items;
use warrant_api::oversight::Recorded;
use warrant_api::reviews::{RecordReview, ReviewDue, ReviewRecorded, SetStatus, StatusSet};
use warrant_log::Seq;

use crate::Failure;
use crate::cli::{Cli, ReviewCommand};
use crate::client::{Client, encode};
use crate::output::{print_as, table};

/// An optional seq as the tables show it.
fn seq_text(seq: Option<Seq>) -> String {
    seq.map_or_else(|| "-".to_owned(), |seq| seq.to_string())
}

pub(super) fn reviews(cli: &Cli, client: &Client, command: &ReviewCommand) -> Result<(), Failure> {
    match command {
        ReviewCommand::Due { overdue } => {
            let answer: Items<ReviewDue> = client.get_as(if *overdue {
                "/v1/reviews/due?overdue=true"
            } else {
                "/v1/reviews/due"
            })?;
            print_as(cli.output, &answer, |answer| {
                let rows = answer
                    .items
                    .iter()
                    .map(|review| {
                        vec![
                            review.agent.clone(),
                            review.tool.clone(),
                            review.since.clone().unwrap_or_else(|| "-".into()),
                            review.due.clone().unwrap_or_else(|| "-".into()),
                            format!("{} d", review.cadence_days),
                            if review.overdue { "OVERDUE" } else { "" }.to_owned(),
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
            let request = RecordReview {
                agent: agent.clone(),
                tool: tool.clone(),
                result: result.clone(),
                reason: reason.clone(),
            };
            let answer: ReviewRecorded = client.post_as("/v1/reviews", &request)?;
            print_as(cli.output, &answer, |answer| {
                format!(
                    "review recorded at seq {} (registry change at seq {})\n",
                    seq_text(answer.seq),
                    seq_text(answer.change_seq)
                )
            });
        }
    }
    Ok(())
}

/// An escalation or an override (`request` is its `warrant_api::oversight` type).
pub(super) fn oversight(
    cli: &Cli,
    client: &Client,
    path: &str,
    request: &impl Serialize,
) -> Result<(), Failure> {
    let answer: Recorded = client.post_as(path, request)?;
    print_as(cli.output, &answer, |answer| {
        format!("recorded at seq {}\n", seq_text(answer.seq))
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
    let request = SetStatus {
        status: status.to_owned(),
        reason: reason.to_owned(),
    };
    let answer: StatusSet = client.post_as(&format!("/v1/agents/{}/status", encode(id)), &request)?;
    print_as(cli.output, &answer, |answer| {
        if answer.changed {
            format!("agent {id} is now {status}\n")
        } else {
            format!("agent {id} was already {status}\n")
        }
    });
    Ok(())
}
