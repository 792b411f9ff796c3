//! The commands: each builds its request, sends it and prints the answer. This module dispatches them; each
//! area's commands live in a submodule of their own.

mod events;
mod gate;
mod get;
mod log;
mod logs;
mod mcp;
mod oversight;
mod registry;
mod serve;
mod tokens;
mod witness;

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::Value;
use warrant_store::StoreConfig;

use self::events::{erase, ingest};
use self::gate::{AuthorizeCall, approvals, authorize};
use self::get::get;
pub(crate) use self::log::{VerifyOptions, backup, migrate, restore, verify};
use self::logs::logs;
pub(crate) use self::mcp::mcp;
use self::oversight::{oversight, reviews, set_agent_status};
use self::registry::{apply, changes, delete};
pub(crate) use self::serve::{serve, serve_store};
use self::tokens::token;
pub(crate) use self::witness::witness;
use crate::Failure;
use crate::cli::{AgentCommand, Cli, Command};
use crate::client::{Client, encode};
use crate::output::print_as;

/// Commands that act through the API, on a server or the local data directory.
pub fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    let client = connect(cli, &cli.store_config("default")?)?;
    match &cli.command {
        Command::Apply { file, reason } => apply(cli, &client, file, reason.as_deref()),
        Command::Delete { kind, id, reason } => delete(cli, &client, kind, id, reason.as_deref()),
        Command::Get { collection, id } => get(cli, &client, collection, id.as_deref()),
        Command::Changes { agent, kind, limit } => {
            changes(cli, &client, agent.as_deref(), kind.as_deref(), *limit)
        }
        Command::Ingest { file, batch } => ingest(cli, &client, file, *batch),
        Command::Log { command } => self::log::log(cli, &client, command),
        Command::Token { command } => token(cli, &client, command),
        Command::Logs { command } => logs(cli, &client, command),
        Command::Authorize {
            agent,
            tool,
            args,
            session,
            user_named,
            approval_id,
            trace_id,
            span_id,
        } => {
            let call = AuthorizeCall {
                agent,
                tool,
                args: args.as_deref(),
                session: session.as_deref(),
                user_named,
                approval_id: approval_id.as_deref(),
                trace_id: trace_id.as_deref(),
                span_id: span_id.as_deref(),
            };
            authorize(cli, &client, &call)
        }
        Command::Trail { id } => {
            let answer: warrant_api::trails::Trail = client.get_as(&format!("/v1/trails/{}", encode(id)))?;
            print_as(cli.output, &answer, crate::trail::render);
            Ok(())
        }
        Command::Approvals { command } => approvals(cli, &client, command),
        Command::Monitor(args) => crate::monitor::monitor(cli, &client, args),
        Command::Risk { command } => crate::risk::risk(cli, &client, command.as_ref()),
        Command::Soa => crate::compliance::soa(cli, &client),
        Command::Gaps { fail_on } => crate::compliance::gaps(cli, &client, fail_on.as_deref()),
        Command::Crosswalk => crate::compliance::crosswalk(cli, &client),
        Command::Readiness => crate::compliance::readiness(cli, &client),
        Command::Docs { command } => crate::compliance::docs(cli, &client, command),
        Command::Audit { command } => crate::compliance::audit(cli, &client, command),
        Command::Evidence { command } => crate::compliance::evidence(cli, &client, command),
        Command::Impact {
            agent,
            record,
            approve,
            reason,
        } => crate::risk::impact(cli, &client, agent, *record, *approve, reason.as_ref()),
        Command::Alerts { command } => crate::monitor::alerts(cli, &client, command),
        Command::Incidents { command } => crate::monitor::incidents(cli, &client, command),
        Command::Notifiers { command } => crate::monitor::notifiers(cli, &client, command),
        Command::Notifications {
            notifier,
            state,
            about,
            limit,
        } => crate::monitor::notifications(
            cli,
            &client,
            [("notifier", notifier), ("state", state), ("about", about)],
            *limit,
        ),
        Command::Reviews { command } => reviews(cli, &client, command),
        Command::Escalate {
            agent,
            reason,
            to,
            session,
            trace_id,
        } => {
            let request = warrant_api::oversight::Escalation {
                agent: agent.clone(),
                reason: reason.clone(),
                to: to.clone(),
                session: session.clone(),
                trace_id: trace_id.clone(),
            };
            oversight(cli, &client, "/v1/escalations", &request)
        }
        Command::Override {
            seq,
            reason,
            replacement,
        } => {
            let replacement = replacement.as_ref().map(|text| {
                serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.clone()))
            });
            let request = warrant_api::oversight::Override {
                seq: *seq,
                reason: reason.clone(),
                replacement,
            };
            oversight(cli, &client, "/v1/overrides", &request)
        }
        Command::Agents { command } => {
            let (id, status, reason) = match command {
                AgentCommand::Suspend { id, reason } => (id, "suspended", reason),
                AgentCommand::Resume { id, reason } => (id, "active", reason),
            };
            set_agent_status(cli, &client, id, status, reason)
        }
        Command::Erase { subject, seq, reason } => {
            erase(cli, &client, subject.as_deref(), seq, reason.as_deref())
        }
        Command::Serve(_)
        | Command::Demo { .. }
        | Command::DemoUpstream
        | Command::Verify { .. }
        | Command::Migrate
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Mcp { .. }
        | Command::Witness(_) => Err(Failure::Usage(anyhow!(
            "this command does not run through the API"
        ))),
    }?;
    Ok(ExitCode::SUCCESS)
}

pub fn connect(cli: &Cli, config: &StoreConfig) -> Result<Client, Failure> {
    match &cli.server {
        Some(server) => Ok(Client::remote(server)),
        // The first log of a deployment also creates and lists the others.
        None => Ok(Client::local(&cli.data, config, cli.log.is_none())?),
    }
}

fn read_input(file: &Path) -> Result<String, Failure> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| Failure::Usage(anyhow!("reading standard input: {error}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .map_err(|error| Failure::Usage(anyhow!("cannot read {}: {error}", file.display())))
}
