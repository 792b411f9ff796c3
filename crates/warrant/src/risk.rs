//! `warrant risk` (findings, the graph, the register and its treatments) and `warrant impact`.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{Map, Value};
use warrant_api::risk as wire;

use crate::Failure;
use crate::cli::{Cli, Output, RiskCommand};
use crate::client::{Client, encode};
use crate::output::{print_as, table};

pub fn risk(cli: &Cli, client: &Client, command: Option<&RiskCommand>) -> Result<(), Failure> {
    match command {
        Some(RiskCommand::Graph) => {
            if cli.output == Output::Dot {
                let (status, bytes) = client.send(Method::GET, "/v1/risk/graph?format=dot", None)?;
                if status != 200 {
                    crate::client::answer(status, &bytes)?;
                }
                print!("{}", String::from_utf8_lossy(&bytes));
                return Ok(());
            }
            let answer: wire::AccessGraph = client.get_as("/v1/risk/graph")?;
            print_as(cli.output, &answer, |graph| {
                table(
                    &["from", "edge", "to"],
                    graph
                        .edges
                        .iter()
                        .map(|edge| vec![edge.from.clone(), edge.edge.as_str().to_owned(), edge.to.clone()])
                        .collect(),
                )
            });
        }
        None | Some(RiskCommand::Findings) => {
            let answer: wire::RiskReport = client.get_as("/v1/risk")?;
            print_as(cli.output, &answer, render_risk);
        }
        Some(RiskCommand::Assess) => {
            let answer: wire::Assessed = client.call_as(Method::POST, "/v1/risk/assess", None)?;
            print_as(cli.output, &answer, |answer| {
                let mut out = format!(
                    "risk register updated: {}\n\n",
                    if answer.changes.is_empty() {
                        "no change".to_owned()
                    } else {
                        answer
                            .changes
                            .iter()
                            .map(|(op, count)| format!("{count} {op}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
                for change in &answer.changed {
                    out.push_str(&format!(
                        "  {:<9} {} [{}] {}\n",
                        change.op.as_str(),
                        change.risk.id,
                        change.risk.status.as_str(),
                        or_dash(change.risk.closed_evidence.as_deref())
                    ));
                }
                out
            });
        }
        Some(RiskCommand::List { status, agent }) => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(format!("status={}", encode(status)));
            }
            if let Some(agent) = agent {
                query.push(format!("agent={}", encode(agent)));
            }
            let answer: wire::Register = client.get_as(&format!("/v1/risk/register?{}", query.join("&")))?;
            print_as(cli.output, &answer, |answer| {
                let rows = answer
                    .items
                    .iter()
                    .map(|risk| {
                        vec![
                            risk.id.clone(),
                            risk.level.clone(),
                            format!("{}x{}", risk.likelihood, risk.impact),
                            risk.status.as_str().to_owned(),
                            or_dash(risk.treatment.map(wire::Treatment::as_str)),
                            risk.owner.clone(),
                            risk.review_due.to_string(),
                        ]
                    })
                    .collect();
                format!(
                    "RISK REGISTER: {} risks ({}), {} reviews overdue\n\n{}",
                    answer.summary.total,
                    counts(&answer.summary.by_status),
                    answer.summary.review_overdue,
                    table(
                        &[
                            "risk",
                            "level",
                            "l x i",
                            "status",
                            "treatment",
                            "owner",
                            "review due"
                        ],
                        rows
                    )
                )
            });
        }
        Some(RiskCommand::Show { id }) => {
            let answer: wire::Risk = client.get_as(&format!("/v1/risk/register/{}", encode(id)))?;
            print_as(cli.output, &answer, render_one);
        }
        Some(RiskCommand::Treat {
            id,
            treatment,
            owner,
            plan,
            review_due,
            reason,
        }) => {
            let mut body = Map::new();
            for (name, value) in [
                ("treatment", treatment),
                ("owner", owner),
                ("plan", plan),
                ("review_due", review_due),
                ("reason", reason),
            ] {
                if let Some(value) = value {
                    body.insert(name.into(), value.clone().into());
                }
            }
            let answer: wire::RiskChange = client.call_as(
                Method::POST,
                &format!("/v1/risk/register/{}/treat", encode(id)),
                Some(("application/json", Value::Object(body).to_string().into_bytes())),
            )?;
            print_as(cli.output, &answer, |change| {
                format!(
                    "{} ({}): {}\n",
                    change.risk.id,
                    change.risk.status.as_str(),
                    if change.changed.is_empty() {
                        "nothing changed".to_owned()
                    } else {
                        format!("changed {}", change.changed.join(", "))
                    }
                )
            });
        }
    }
    Ok(())
}

/// An optional field as display text: absent as `-`.
fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// `{"a": 1, "b": 2}` as `1 a, 2 b`: counts for a headline.
fn counts(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(name, count)| format!("{count} {}", name.replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A list of strings as JSON, as the tables show controls.
fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn render_one(risk: &wire::Risk) -> String {
    let mut out = format!(
        "{}  [{}] {}\n{}\n\n",
        risk.id,
        risk.level.to_uppercase(),
        risk.status.as_str(),
        risk.summary
    );
    for (label, value) in [
        ("path", risk.path.join(" -> ")),
        (
            "likelihood x impact",
            format!("{} x {} = {}", risk.likelihood, risk.impact, risk.score),
        ),
        ("owner", risk.owner.clone()),
        ("treatment", or_dash(risk.treatment.map(wire::Treatment::as_str))),
        ("plan", or_dash(risk.plan.as_deref())),
        ("suggested", risk.suggested_treatment.clone()),
        ("mitigated by", or_dash(risk.mitigation.as_deref())),
        ("controls", json_list(&risk.controls)),
        ("review due", risk.review_due.to_string()),
        ("opened", warrant_core::event::format_time(&risk.opened_at)),
        (
            "closed",
            or_dash(
                risk.closed_at
                    .map(|at| warrant_core::event::format_time(&at))
                    .as_deref(),
            ),
        ),
        ("evidence", or_dash(risk.closed_evidence.as_deref())),
    ] {
        if !value.is_empty() && value != "-" {
            out.push_str(&format!("{label:>20}: {value}\n"));
        }
    }
    out
}

/// `warrant impact AGENT`: the assessment (Markdown with `-o md`), `--record` keeps it as a version,
/// `--approve N` approves version N.
pub fn impact(
    cli: &Cli,
    client: &Client,
    agent: &str,
    record: bool,
    approve: Option<u64>,
    reason: Option<&String>,
) -> Result<(), Failure> {
    let path = format!("/v1/impact/{}", encode(agent));
    let body = reason.map(|reason| {
        (
            "application/json",
            serde_json::json!({"reason": reason}).to_string().into_bytes(),
        )
    });
    if let Some(version) = approve {
        let answer: wire::ImpactVersion =
            client.call_as(Method::POST, &format!("{path}/versions/{version}/approve"), body)?;
        print_as(cli.output, &answer, |version| {
            format!(
                "impact assessment of {} version {} approved by {} (seq {})\n",
                version.agent,
                version.version,
                or_dash(version.approved_by.as_deref()),
                version
                    .approved_seq
                    .map_or_else(|| "-".to_owned(), |seq| seq.to_string())
            )
        });
        return Ok(());
    }
    if record {
        let answer: wire::ImpactRecorded = client.call_as(Method::POST, &path, body)?;
        print_as(cli.output, &answer, |answer| {
            format!(
                "impact assessment of {} {} version {} (digest {}, seq {})\n",
                answer.version.agent,
                if answer.new {
                    "recorded as"
                } else {
                    "unchanged since"
                },
                answer.version.version,
                answer.version.digest,
                answer.version.recorded_seq
            )
        });
        return Ok(());
    }
    if cli.output == Output::Md {
        let (status, bytes) = client.send(Method::GET, &format!("{path}?format=md"), None)?;
        if status != 200 {
            crate::client::answer(status, &bytes)?;
        }
        print!("{}", String::from_utf8_lossy(&bytes));
        return Ok(());
    }
    let answer: wire::Impact = client.get_as(&path)?;
    print_as(cli.output, &answer, |answer| {
        format!(
            "{}\nrecorded versions: {}; current version: {}{}\n(-o md for the document)\n",
            answer.agent,
            answer.versions.len(),
            answer
                .current_version
                .map_or_else(|| "-".to_owned(), |version| version.to_string()),
            if answer.changed_since_latest {
                "; the facts changed since the latest version: record a new one (`--record`)"
            } else {
                ""
            }
        )
    });
    Ok(())
}

fn render_risk(report: &wire::RiskReport) -> String {
    let mut out = format!(
        "RISK ASSESSMENT: {} findings, {} open, {} mitigated\n\n",
        report.summary.findings, report.summary.open, report.summary.mitigated
    );
    for finding in &report.findings {
        out.push_str(&format!(
            "[{}] {} ({}): {}\n    path: {}\n",
            finding.severity.to_uppercase(),
            finding.kind,
            finding.status,
            finding.summary,
            finding.path.join(" -> ")
        ));
        match &finding.mitigation {
            Some(mitigation) => out.push_str(&format!("    mitigated by: {mitigation}\n")),
            None => out.push_str(&format!("    treatment: {}\n", finding.treatment)),
        }
        out.push_str(&format!("    controls: {}\n", json_list(&finding.controls)));
    }
    out.push_str("\nRISK CLASS (declared against computed)\n");
    out.push_str(&table(
        &["agent", "declared", "computed", "why", "eu ai act hint"],
        report
            .classification
            .iter()
            .map(|class| {
                vec![
                    class.agent.clone(),
                    class.declared.as_str().to_owned(),
                    class.computed.as_str().to_owned(),
                    class.reasons.join("; "),
                    or_dash(class.eu_ai_act_hint.as_deref()),
                ]
            })
            .collect(),
    ));
    out
}
