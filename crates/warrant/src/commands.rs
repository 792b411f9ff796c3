//! The commands: each builds its request, sends it and prints the answer.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use axum::http::Method;
use serde_json::{Value, json};
use warrant_api as wire;
use warrant_core::event::{Event, check_size};
use warrant_core::registry::manifest::Kind;
use warrant_core::role::Role;
use warrant_server::{AppState, ServerConfig};
use warrant_store::{DataDirLock, Store, StoreConfig};

use crate::Failure;
use crate::cli::{
    AgentCommand, ApprovalCommand, Cli, Command, LogCommand, Output, ReviewCommand, ServeArgs, TokenCommand,
};
use crate::client::{Client, encode};
use crate::output::{items, joined, print, print_as, table, text};

/// Commands that act through the API, on a server or the local data directory.
pub fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    let client = connect(cli, &StoreConfig::default())?;
    match &cli.command {
        Command::Apply { file, reason } => apply(cli, &client, file, reason.as_deref()),
        Command::Delete { kind, id, reason } => delete(cli, &client, kind, id, reason.as_deref()),
        Command::Get { collection, id } => get(cli, &client, collection, id.as_deref()),
        Command::Changes { agent, kind, limit } => {
            changes(cli, &client, agent.as_deref(), kind.as_deref(), *limit)
        }
        Command::Ingest { file, batch } => ingest(cli, &client, file, *batch),
        Command::Log { command } => log(cli, &client, command),
        Command::Token { command } => token(cli, &client, command),
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
            let answer = client.get(&format!("/v1/trails/{}", encode(id)))?;
            print(cli.output, &answer, crate::trail::render);
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
        Command::Reviews { command } => reviews(cli, &client, command),
        Command::Escalate {
            agent,
            reason,
            to,
            session,
            trace_id,
        } => {
            let request =
                json!({"agent": agent, "reason": reason, "to": to, "session": session, "trace_id": trace_id});
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
            oversight(
                cli,
                &client,
                "/v1/overrides",
                &json!({"seq": seq, "reason": reason, "replacement": replacement}),
            )
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
        Command::Serve(_) | Command::Demo { .. } | Command::Verify { .. } => Err(Failure::Usage(anyhow!(
            "this command does not run through the API"
        ))),
    }?;
    Ok(ExitCode::SUCCESS)
}

pub fn connect(cli: &Cli, config: &StoreConfig) -> Result<Client, Failure> {
    match &cli.server {
        Some(server) => Ok(Client::remote(server)),
        None => Ok(Client::local(&cli.data, config)?),
    }
}

fn apply(cli: &Cli, client: &Client, file: &Path, reason: Option<&str>) -> Result<(), Failure> {
    let manifest = read_input(file)?;
    let mut path = String::from("/v1/apply");
    if let Some(reason) = reason {
        path.push_str(&format!("?reason={}", encode(reason)));
    }
    let answer = client.call(
        Method::POST,
        &path,
        Some(("application/yaml", manifest.into_bytes())),
    )?;
    print(cli.output, &answer, |answer| {
        let changes = answer
            .get("changes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut out = String::new();
        if !changes.is_empty() {
            let rows = changes
                .iter()
                .map(|change| {
                    vec![
                        text(change, "/op"),
                        text(change, "/kind"),
                        text(change, "/id"),
                        text(change, "/version"),
                        substantial_cell(change),
                    ]
                })
                .collect();
            out.push_str(&table(&["op", "kind", "id", "version", "substantial"], rows));
        }
        out.push_str(&format!(
            "{} changed, {} unchanged\n",
            changes.len(),
            text(answer, "/unchanged")
        ));
        out
    });
    Ok(())
}

fn delete(cli: &Cli, client: &Client, kind: &str, id: &str, reason: Option<&str>) -> Result<(), Failure> {
    let kind = parse_kind(kind)?;
    let mut path = format!("/v1/{}/{}", kind.plural(), encode(id));
    if let Some(reason) = reason {
        path.push_str(&format!("?reason={}", encode(reason)));
    }
    let answer = client.call(Method::DELETE, &path, None)?;
    print(cli.output, &answer, |answer| {
        format!(
            "deleted {} {} (change recorded at seq {})\n",
            text(answer, "/kind"),
            text(answer, "/id"),
            text(answer, "/seq")
        )
    });
    Ok(())
}

fn get(cli: &Cli, client: &Client, collection: &str, id: Option<&str>) -> Result<(), Failure> {
    let kind = Kind::from_plural(collection)
        .or_else(|| Kind::from_plural(&format!("{collection}s")))
        .ok_or_else(|| {
            Failure::Usage(anyhow!(
                "unknown collection `{collection}`; use agents, tools, datasources or systems"
            ))
        })?;
    if let Some(id) = id {
        let answer = client.get(&format!("/v1/{}/{}", kind.plural(), encode(id)))?;
        // One object reads best as the manifest it is.
        let format = if cli.output == Output::Table {
            Output::Yaml
        } else {
            cli.output
        };
        print(format, &answer, |_| String::new());
        return Ok(());
    }
    let answer = client.get(&format!("/v1/{}", kind.plural()))?;
    print(cli.output, &answer, |answer| {
        let rows = items(answer);
        match kind {
            Kind::Agent => table(
                &["id", "owner", "risk", "scope", "status", "oversight", "tools"],
                rows.iter()
                    .map(|agent| {
                        let tools = joined(agent, "tools", |grant| {
                            format!("{}:{}", text(grant, "/tool"), text(grant, "/access"))
                        });
                        vec![
                            text(agent, "/id"),
                            text(agent, "/owner"),
                            text(agent, "/risk_class"),
                            text(agent, "/decision_scope"),
                            text(agent, "/status"),
                            text(agent, "/oversight"),
                            tools,
                        ]
                    })
                    .collect(),
            ),
            Kind::Tool => table(
                &[
                    "id",
                    "access",
                    "egress",
                    "irreversible",
                    "untrusted",
                    "sensitivity",
                    "supplier",
                ],
                rows.iter()
                    .map(|tool| {
                        vec![
                            text(tool, "/id"),
                            text(tool, "/access"),
                            text(tool, "/egress"),
                            text(tool, "/irreversible"),
                            text(tool, "/untrusted_output"),
                            text(tool, "/sensitivity"),
                            text(tool, "/supplier"),
                        ]
                    })
                    .collect(),
            ),
            Kind::DataSource => table(
                &["id", "sensitivity", "personal", "retention_days", "owner"],
                rows.iter()
                    .map(|source| {
                        vec![
                            text(source, "/id"),
                            text(source, "/sensitivity"),
                            text(source, "/personal_data"),
                            text(source, "/retention_days"),
                            text(source, "/owner"),
                        ]
                    })
                    .collect(),
            ),
            Kind::AISystem => table(
                &["id", "owner", "risk", "scope", "status", "model"],
                rows.iter()
                    .map(|system| {
                        vec![
                            text(system, "/id"),
                            text(system, "/owner"),
                            text(system, "/risk_class"),
                            text(system, "/decision_scope"),
                            text(system, "/status"),
                            text(system, "/model"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Policy => table(
                &["id", "description"],
                rows.iter()
                    .map(|policy| vec![text(policy, "/id"), text(policy, "/description")])
                    .collect(),
            ),
            Kind::Group => table(
                &["id", "limits"],
                rows.iter()
                    .map(|group| {
                        let limits = joined(group, "limits", |limit| {
                            let (id, max, hours) = (
                                text(limit, "/id"),
                                text(limit, "/max_total"),
                                text(limit, "/window_hours"),
                            );
                            format!("{id}: {max} per {hours} h")
                        });
                        vec![text(group, "/id"), limits]
                    })
                    .collect(),
            ),
            Kind::AlertRule => table(
                &[
                    "id",
                    "detector",
                    "severity",
                    "agent",
                    "decision",
                    "threshold",
                    "enabled",
                ],
                rows.iter()
                    .map(|rule| {
                        vec![
                            text(rule, "/id"),
                            text(rule, "/detector"),
                            text(rule, "/severity"),
                            text(rule, "/agent"),
                            text(rule, "/decision"),
                            text(rule, "/threshold"),
                            text(rule, "/enabled"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Applicability => table(
                &["control", "applicable", "owner", "justification"],
                rows.iter()
                    .map(|row| {
                        vec![
                            text(row, "/id"),
                            text(row, "/applicable"),
                            text(row, "/owner"),
                            text(row, "/justification"),
                        ]
                    })
                    .collect(),
            ),
            Kind::EvidenceRule => table(
                &["id", "controls", "fresh days", "description"],
                rows.iter()
                    .map(|rule| {
                        vec![
                            text(rule, "/id"),
                            rule.get("controls").map(Value::to_string).unwrap_or_default(),
                            text(rule, "/fresh_days"),
                            text(rule, "/description"),
                        ]
                    })
                    .collect(),
            ),
            Kind::IdentityProvider => table(
                &["id", "issuer", "audience", "agent claim", "keys"],
                rows.iter()
                    .map(|provider| {
                        let keys = provider
                            .get("jwks_file")
                            .or_else(|| provider.get("jwks_url"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        vec![
                            text(provider, "/id"),
                            text(provider, "/issuer"),
                            text(provider, "/audience"),
                            text(provider, "/agent_claim"),
                            keys,
                        ]
                    })
                    .collect(),
            ),
            Kind::Obligation => table(
                &["task", "owner", "due", "status"],
                rows.iter()
                    .map(|obligation| {
                        vec![
                            text(obligation, "/id"),
                            text(obligation, "/owner"),
                            text(obligation, "/due"),
                            text(obligation, "/status"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Organization => table(
                &[
                    "id",
                    "name",
                    "regulated",
                    "eu customers",
                    "iso 27001",
                    "log retention (days)",
                    "max group total",
                ],
                rows.iter()
                    .map(|organization| {
                        vec![
                            text(organization, "/id"),
                            text(organization, "/name"),
                            text(organization, "/regulated_industry"),
                            text(organization, "/eu_customers"),
                            text(organization, "/iso27001_certified"),
                            text(organization, "/log_retention_days"),
                            text(organization, "/max_group_total"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Model => table(
                &[
                    "id",
                    "provider",
                    "input_usd_per_million",
                    "output_usd_per_million",
                ],
                rows.iter()
                    .map(|model| {
                        vec![
                            text(model, "/id"),
                            text(model, "/provider"),
                            text(model, "/input_usd_per_million"),
                            text(model, "/output_usd_per_million"),
                        ]
                    })
                    .collect(),
            ),
        }
    });
    Ok(())
}

fn changes(
    cli: &Cli,
    client: &Client,
    agent: Option<&str>,
    kind: Option<&str>,
    limit: Option<u64>,
) -> Result<(), Failure> {
    let mut query = Vec::new();
    if let Some(agent) = agent {
        query.push(format!("agent={}", encode(agent)));
    }
    if let Some(kind) = kind {
        query.push(format!("kind={}", encode(parse_kind(kind)?.as_str())));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    let path = if query.is_empty() {
        "/v1/changes".to_owned()
    } else {
        format!("/v1/changes?{}", query.join("&"))
    };
    let answer = client.get(&path)?;
    print(cli.output, &answer, |answer| {
        let rows = items(answer)
            .iter()
            .map(|change| {
                let fields: Vec<String> = change
                    .pointer("/attrs/diff")
                    .and_then(Value::as_array)
                    .map(|diff| diff.iter().map(|field| text(field, "/path")).collect())
                    .unwrap_or_default();
                vec![
                    text(change, "/seq"),
                    text(change, "/time"),
                    text(change, "/attrs/by"),
                    text(change, "/attrs/op"),
                    format!(
                        "{} {}",
                        text(change, "/attrs/object_kind"),
                        text(change, "/attrs/object_id")
                    ),
                    text(change, "/attrs/version"),
                    substantial_cell(&change.get("attrs").cloned().unwrap_or(Value::Null)),
                    text(change, "/attrs/reason"),
                    fields.join(", "),
                ]
            })
            .collect();
        table(
            &[
                "seq",
                "time",
                "by",
                "op",
                "object",
                "version",
                "substantial",
                "reason",
                "changed",
            ],
            rows,
        )
    });
    Ok(())
}

fn ingest(cli: &Cli, client: &Client, file: &Path, batch: usize) -> Result<(), Failure> {
    let lines = read_input(file)?;
    // Validate the whole file before sending anything, so a bad line 90,000 does not leave 89 batches behind.
    // Only the lines are kept (not their parsed values), so memory stays near the file's size.
    let mut events: Vec<&str> = Vec::new();
    for (number, line) in lines.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|error| {
            Failure::Usage(anyhow!(
                "{}: line {}: not JSON: {error}",
                file.display(),
                number + 1
            ))
        })?;
        check_size(number, line.len())
            .and_then(|()| Event::from_json(number, value.clone()))
            .map_err(|error| {
                let field = error
                    .field
                    .map(|field| format!("field `{field}`: "))
                    .unwrap_or_default();
                Failure::Usage(anyhow!(
                    "{}: line {}: {field}{}",
                    file.display(),
                    number + 1,
                    error.message
                ))
            })?;
        events.push(line);
    }
    let progress = indicatif::ProgressBar::new(events.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut accepted, mut duplicates, mut first, mut last) = (0u64, 0u64, None, None);
    for chunk in events.chunks(batch.max(1)) {
        let body = format!("[{}]", chunk.join(",")).into_bytes();
        let answer = client.call(Method::POST, "/v1/events", Some(("application/json", body)))?;
        accepted += answer.get("accepted").and_then(Value::as_u64).unwrap_or(0);
        duplicates += answer.get("duplicates").and_then(Value::as_u64).unwrap_or(0);
        if let Some(seqs) = answer.get("seqs").and_then(Value::as_array) {
            first = first.or_else(|| seqs.first().and_then(Value::as_u64));
            last = seqs.last().and_then(Value::as_u64).or(last);
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let summary =
        json!({"accepted": accepted, "duplicates": duplicates, "first_seq": first, "last_seq": last});
    print(cli.output, &summary, |_| {
        format!(
            "ingested {accepted} events ({duplicates} already present) from {}; seqs {}..{}\n",
            file.display(),
            first.map_or("-".into(), |seq| seq.to_string()),
            last.map_or("-".into(), |seq| seq.to_string())
        )
    });
    Ok(())
}

fn log(cli: &Cli, client: &Client, command: &LogCommand) -> Result<(), Failure> {
    match command {
        LogCommand::Checkpoint => {
            let answer: wire::log::Checkpoint = client.get_as("/v1/log/checkpoint")?;
            print_as(cli.output, &answer, |answer| answer.note.clone());
        }
        LogCommand::Key => {
            let answer: wire::log::VerifierKey = client.get_as("/v1/log/key")?;
            print_as(cli.output, &answer, |answer| format!("{}\n", answer.verifier_key));
        }
        LogCommand::Proof { seq, size } => {
            let mut path = format!("/v1/log/proof/inclusion?seq={seq}");
            if let Some(size) = size {
                path.push_str(&format!("&size={size}"));
            }
            let answer: wire::log::InclusionProof = client.get_as(&path)?;
            print_as(cli.output, &answer, |answer| {
                let mut out = format!(
                    "event {} in tree of {}\nleaf hash  {}\nroot       {}\nproof\n",
                    answer.seq,
                    answer.size,
                    answer.leaf_hash,
                    answer.root.as_deref().unwrap_or("-")
                );
                out.push_str(&proof_lines(&answer.proof));
                out
            });
        }
        LogCommand::Consistency { from, to } => {
            let answer: wire::log::ConsistencyProof =
                client.get_as(&format!("/v1/log/proof/consistency?from={from}&to={to}"))?;
            print_as(cli.output, &answer, |answer| {
                let mut out = format!("consistency of tree {} with tree {}\n", answer.from, answer.to);
                out.push_str(&proof_lines(&answer.proof));
                out
            });
        }
    }
    Ok(())
}

fn erase(
    cli: &Cli,
    client: &Client,
    subject: Option<&str>,
    seqs: &[u64],
    reason: Option<&str>,
) -> Result<(), Failure> {
    let request = match (subject, seqs.is_empty()) {
        (Some(subject), true) => json!({"subject": subject, "reason": reason}),
        (None, false) => json!({"seqs": seqs, "reason": reason}),
        _ => {
            return Err(Failure::Usage(anyhow!(
                "give either --subject or one or more --seq"
            )));
        }
    };
    let body = serde_json::to_vec(&request).context("encoding request")?;
    let answer = client.call(Method::POST, "/v1/erase", Some(("application/json", body)))?;
    print(cli.output, &answer, |answer| {
        format!(
            "erased {} content fields of {} events; recorded as erasure event {}\n",
            text(answer, "/fields"),
            answer.get("events").and_then(Value::as_array).map_or(0, Vec::len),
            text(answer, "/seq")
        )
    });
    Ok(())
}

/// One `warrant authorize` invocation.
struct AuthorizeCall<'a> {
    agent: &'a str,
    tool: &'a str,
    args: Option<&'a str>,
    session: Option<&'a str>,
    user_named: &'a [String],
    approval_id: Option<&'a str>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
}

fn authorize(cli: &Cli, client: &Client, call: &AuthorizeCall<'_>) -> Result<(), Failure> {
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

fn approvals(cli: &Cli, client: &Client, command: &ApprovalCommand) -> Result<(), Failure> {
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
                            approval.requested_at.clone(),
                            approval.expires_at.clone(),
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

fn reviews(cli: &Cli, client: &Client, command: &ReviewCommand) -> Result<(), Failure> {
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

fn oversight(cli: &Cli, client: &Client, path: &str, request: &Value) -> Result<(), Failure> {
    let body = serde_json::to_vec(request).context("encoding request")?;
    let answer = client.call(Method::POST, path, Some(("application/json", body)))?;
    print(cli.output, &answer, |answer| {
        format!("recorded at seq {}\n", text(answer, "/seq"))
    });
    Ok(())
}

/// The kill switch: change an agent's status in the registry, so the change log records who and why.
fn set_agent_status(cli: &Cli, client: &Client, id: &str, status: &str, reason: &str) -> Result<(), Failure> {
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

/// A proof's hashes, one indented line each.
fn proof_lines(hashes: &[String]) -> String {
    hashes.iter().map(|hash| format!("  {hash}\n")).collect()
}

fn token(cli: &Cli, client: &Client, command: &TokenCommand) -> Result<(), Failure> {
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

/// `warrant verify`: recompute the log of a data directory. Exit 1 if anything does not verify.
pub fn verify(
    cli: &Cli,
    path: Option<&Path>,
    key: Option<&str>,
    checkpoint: Option<&Path>,
) -> Result<ExitCode, Failure> {
    if cli.server.is_some() && path.is_none() {
        return Err(Failure::Usage(anyhow!(
            "verify checks stored data itself, not a server's word for it: run it on the data directory (--data or PATH)"
        )));
    }
    if let Some(path) = path
        && crate::bundle::is_bundle(path)
    {
        return crate::bundle::verify_bundle(cli, path, key, checkpoint);
    }
    if checkpoint.is_some() {
        return Err(Failure::Usage(anyhow!(
            "--checkpoint is for verifying an evidence bundle"
        )));
    }
    let dir = path.unwrap_or(&cli.data);
    if path.is_some() && !dir.join(warrant_store::DATABASE_FILE).exists() {
        return Err(Failure::Usage(anyhow!(
            "{} is neither an evidence bundle (no manifest.json) nor a warrant data directory",
            dir.display()
        )));
    }
    if !dir.join(warrant_store::DATABASE_FILE).exists() {
        return Err(Failure::Usage(anyhow!("{} holds no warrant log", dir.display())));
    }
    let report = warrant_store::verify_data_dir(dir, key).map_err(|error| Failure::Check(error.into()))?;
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    let answer = json!({
        "ok": report.is_ok(),
        "events": report.events,
        "checkpoints": report.checkpoints,
        "latest_verified_size": report.latest_verified.as_ref().map(|checkpoint| checkpoint.size),
        "unsigned_tail": report.unsigned_tail,
        "findings": findings,
        "findings_omitted": report.findings_omitted,
    });
    print(cli.output, &answer, |_| {
        let mut out = String::new();
        for finding in &findings {
            out.push_str(&format!("FAIL {finding}\n"));
        }
        if report.findings_omitted > 0 {
            out.push_str(&format!("FAIL and {} more findings\n", report.findings_omitted));
        }
        let verdict = if report.is_ok() {
            "verified"
        } else {
            "NOT verified"
        };
        out.push_str(&format!(
            "{verdict}: {} events, {} signed checkpoints, latest verified checkpoint covers {} events",
            report.events,
            report.checkpoints,
            report
                .latest_verified
                .as_ref()
                .map_or(0, |checkpoint| checkpoint.size)
        ));
        if report.unsigned_tail > 0 {
            out.push_str(&format!(
                "; {} newer events await their next checkpoint",
                report.unsigned_tail
            ));
        }
        out.push('\n');
        out
    });
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `warrant serve`: claim the data directory, create the first admin token if none exists, and serve.
pub fn serve(cli: &Cli, args: &ServeArgs) -> Result<ExitCode, Failure> {
    if cli.server.is_some() {
        return Err(Failure::Usage(anyhow!(
            "serve runs a server on --data; it cannot act on --server"
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let store = Store::open(
            &cli.data,
            &StoreConfig {
                org: args.org.clone(),
            },
        )
        .with_context(|| format!("cannot open {}", cli.data.display()))?;
        serve_store(cli, args, store).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The first admin token of a data directory with none usable, recorded as made by warrant itself. Named
/// `admin`, or `admin-2`, `admin-3`… when an earlier (revoked or expired) one holds the name.
async fn bootstrap_admin_token(store: &Store) -> Result<warrant_store::NewToken, Failure> {
    let mut attempt = 1;
    loop {
        let name = if attempt == 1 {
            "admin".to_owned()
        } else {
            format!("admin-{attempt}")
        };
        let spec = warrant_store::TokenSpec {
            name,
            role: Role::Admin,
            agents: Default::default(),
            person: None,
            expires: None,
        };
        let context = warrant_core::change::ChangeContext::new(
            warrant_store::Principal::warrant("serve"),
            Some("first admin token of this data directory".into()),
            chrono::Utc::now(),
        );
        match store.create_token(spec, context).await {
            Ok(token) => return Ok(token),
            Err(warrant_store::StoreError::TokenNameTaken(_)) if attempt < 100 => attempt += 1,
            Err(error) => {
                return Err(anyhow::Error::from(error)
                    .context("creating the admin token")
                    .into());
            }
        }
    }
}

/// Serve an open store until Ctrl-C or SIGTERM.
pub async fn serve_store(cli: &Cli, args: &ServeArgs, store: Store) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|error| Failure::Usage(anyhow!("cannot listen on {}: {error}", args.listen)))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let url = format!("http://{address}");
    let _lock = DataDirLock::acquire(&cli.data, &url).map_err(|error| Failure::Usage(error.into()))?;
    if !store.has_token_with_role(Role::Admin) {
        let token = bootstrap_admin_token(&store).await?;
        println!(
            "created admin token {} (shown once; store it now): {}",
            token.info.id, token.secret
        );
    }
    let config = ServerConfig {
        body_limit: args.body_limit,
        checkpoint_interval: std::time::Duration::from_millis(args.checkpoint_interval_ms.max(10)),
        retention_interval: std::time::Duration::from_secs(args.retention_interval_s.max(1)),
        approval_ttl: std::time::Duration::from_secs(args.approval_ttl_s.max(1)),
        monitor_interval: std::time::Duration::from_secs(args.monitor_interval_s),
    };
    println!("warrant listening on {url} (data {})", cli.data.display());
    let state = AppState::new(store, config);
    warrant_server::serve(state, listener, shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn parse_kind(name: &str) -> Result<Kind, Failure> {
    let lower = name.to_ascii_lowercase();
    Kind::ALL
        .into_iter()
        .find(|kind| {
            kind.as_str().eq_ignore_ascii_case(name)
                || kind.plural() == lower
                || kind.plural().strip_suffix('s') == Some(lower.as_str())
        })
        .ok_or_else(|| {
            Failure::Usage(anyhow!(
                "unknown kind `{name}`; use agent, tool, datasource or system"
            ))
        })
}

fn substantial_cell(change: &Value) -> String {
    match change.get("substantial").and_then(Value::as_bool) {
        Some(true) => {
            let reasons = text(change, "/substantial_reasons");
            if reasons == "-" {
                "yes".into()
            } else {
                format!("yes: {reasons}")
            }
        }
        _ => "no".into(),
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
