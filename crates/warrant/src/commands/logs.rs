//! `warrant logs`: the deployment's logs, listed and created (through `/v1/logs` on its first log).

use warrant_api::Items;
use warrant_api::logs::{CreateLog, LogInfo, NewLog};

use crate::Failure;
use crate::cli::{Cli, LogsCommand};
use crate::client::Client;
use crate::output::{print_as, table};

pub(super) fn logs(cli: &Cli, client: &Client, command: &LogsCommand) -> Result<(), Failure> {
    match command {
        LogsCommand::List => {
            let answer: Items<LogInfo> = client.get_as("/v1/logs")?;
            print_as(cli.output, &answer, |answer| {
                let rows = answer
                    .items
                    .iter()
                    .map(|log| {
                        vec![
                            log.id.clone().unwrap_or_else(|| "(first)".into()),
                            log.origin.clone(),
                            log.size.to_string(),
                            log.path.clone(),
                        ]
                    })
                    .collect();
                table(&["LOG", "ORIGIN", "EVENTS", "PATH"], rows)
            });
        }
        LogsCommand::Create { id, org } => {
            let request = CreateLog {
                id: id.clone(),
                org: org.clone(),
            };
            let answer: NewLog = client.post_as("/v1/logs", &request)?;
            print_as(cli.output, &answer, |answer| {
                format!(
                    "created log {} ({}) at {}\nadmin token {} (shown once; store it now): {}\n\
                     act on it with `warrant --log-id {}` (a server routes its tokens to it by themselves)\n",
                    id, answer.log.origin, answer.log.path, answer.admin.info.id, answer.admin.token, id
                )
            });
        }
    }
    Ok(())
}
