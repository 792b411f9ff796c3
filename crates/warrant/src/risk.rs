//! `warrant risk` (findings, the graph, the register and its treatments) and `warrant impact`.

use axum::http::Method;
use serde_json::{Map, Value};

use crate::Failure;
use crate::cli::{Cli, Output, RiskCommand};
use crate::client::{Client, encode};
use crate::output::{print, table, text};

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
            let answer = client.get("/v1/risk/graph")?;
            print(cli.output, &answer, |graph| {
                table(
                    &["from", "edge", "to"],
                    graph
                        .get("edges")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|edge| vec![text(edge, "/from"), text(edge, "/edge"), text(edge, "/to")])
                        .collect(),
                )
            });
        }
        None | Some(RiskCommand::Findings) => {
            let answer = client.get("/v1/risk")?;
            print(cli.output, &answer, render_risk);
        }
        Some(RiskCommand::Assess) => {
            let answer = client.call(Method::POST, "/v1/risk/assess", None)?;
            print(cli.output, &answer, |answer| {
                let mut out = format!(
                    "risk register updated: {}\n\n",
                    answer
                        .get("changes")
                        .and_then(Value::as_object)
                        .filter(|changes| !changes.is_empty())
                        .map(|changes| changes
                            .iter()
                            .map(|(op, count)| format!("{count} {op}"))
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_else(|| "no change".into())
                );
                for change in answer
                    .get("changed")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    out.push_str(&format!(
                        "  {:<9} {} [{}] {}\n",
                        text(change, "/op"),
                        text(change, "/risk/id"),
                        text(change, "/risk/status"),
                        text(change, "/risk/closed_evidence")
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
            let answer = client.get(&format!("/v1/risk/register?{}", query.join("&")))?;
            print(cli.output, &answer, |answer| {
                let rows = answer
                    .get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|risk| {
                        vec![
                            text(risk, "/id"),
                            text(risk, "/level"),
                            format!("{}x{}", text(risk, "/likelihood"), text(risk, "/impact")),
                            text(risk, "/status"),
                            text(risk, "/treatment"),
                            text(risk, "/owner"),
                            text(risk, "/review_due"),
                        ]
                    })
                    .collect();
                format!(
                    "RISK REGISTER: {} risks ({}), {} reviews overdue\n\n{}",
                    text(answer, "/summary/total"),
                    crate::output::counts(answer.pointer("/summary/by_status")),
                    text(answer, "/summary/review_overdue"),
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
            let answer = client.get(&format!("/v1/risk/register/{}", encode(id)))?;
            print(cli.output, &answer, render_one);
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
            let answer = client.call(
                Method::POST,
                &format!("/v1/risk/register/{}/treat", encode(id)),
                Some(("application/json", Value::Object(body).to_string().into_bytes())),
            )?;
            print(cli.output, &answer, |change| {
                format!(
                    "{} ({}): {}\n",
                    text(change, "/risk/id"),
                    text(change, "/risk/status"),
                    change
                        .get("changed")
                        .and_then(Value::as_array)
                        .map(|fields| fields
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .filter(|fields| !fields.is_empty())
                        .map(|fields| format!("changed {fields}"))
                        .unwrap_or_else(|| "nothing changed".into())
                )
            });
        }
    }
    Ok(())
}

fn render_one(risk: &Value) -> String {
    let mut out = format!(
        "{}  [{}] {}\n{}\n\n",
        text(risk, "/id"),
        text(risk, "/level").to_uppercase(),
        text(risk, "/status"),
        text(risk, "/summary")
    );
    let path = risk
        .get("path")
        .and_then(Value::as_array)
        .map(|path| {
            path.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" -> ")
        })
        .unwrap_or_default();
    for (label, value) in [
        ("path", path),
        (
            "likelihood x impact",
            format!(
                "{} x {} = {}",
                text(risk, "/likelihood"),
                text(risk, "/impact"),
                text(risk, "/score")
            ),
        ),
        ("owner", text(risk, "/owner")),
        ("treatment", text(risk, "/treatment")),
        ("plan", text(risk, "/plan")),
        ("suggested", text(risk, "/suggested_treatment")),
        ("mitigated by", text(risk, "/mitigation")),
        (
            "controls",
            risk.get("controls").map(Value::to_string).unwrap_or_default(),
        ),
        ("review due", text(risk, "/review_due")),
        ("opened", text(risk, "/opened_at")),
        ("closed", text(risk, "/closed_at")),
        ("evidence", text(risk, "/closed_evidence")),
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
        let answer = client.call(Method::POST, &format!("{path}/versions/{version}/approve"), body)?;
        print(cli.output, &answer, |version| {
            format!(
                "impact assessment of {} version {} approved by {} (seq {})\n",
                text(version, "/agent"),
                text(version, "/version"),
                text(version, "/approved_by"),
                text(version, "/approved_seq")
            )
        });
        return Ok(());
    }
    if record {
        let answer = client.call(Method::POST, &path, body)?;
        print(cli.output, &answer, |answer| {
            format!(
                "impact assessment of {} {} version {} (digest {}, seq {})\n",
                text(answer, "/version/agent"),
                if answer.get("new").and_then(Value::as_bool) == Some(true) {
                    "recorded as"
                } else {
                    "unchanged since"
                },
                text(answer, "/version/version"),
                text(answer, "/version/digest"),
                text(answer, "/version/recorded_seq")
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
    let answer = client.get(&path)?;
    print(cli.output, &answer, |answer| {
        let versions = answer
            .get("versions")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        format!(
            "{}\nrecorded versions: {versions}; current version: {}{}\n(-o md for the document)\n",
            text(answer, "/agent"),
            text(answer, "/current_version"),
            if answer.get("changed_since_latest").and_then(Value::as_bool) == Some(true) {
                "; the facts changed since the latest version: record a new one (`--record`)"
            } else {
                ""
            }
        )
    });
    Ok(())
}

fn render_risk(report: &Value) -> String {
    let mut out = format!(
        "RISK ASSESSMENT: {} findings, {} open, {} mitigated\n\n",
        text(report, "/summary/findings"),
        text(report, "/summary/open"),
        text(report, "/summary/mitigated")
    );
    for finding in report
        .get("findings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        out.push_str(&format!(
            "[{}] {} ({}): {}\n    path: {}\n",
            text(&finding, "/severity").to_uppercase(),
            text(&finding, "/kind"),
            text(&finding, "/status"),
            text(&finding, "/summary"),
            finding
                .get("path")
                .and_then(Value::as_array)
                .map(|path| path
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" -> "))
                .unwrap_or_default()
        ));
        match finding.get("mitigation").and_then(Value::as_str) {
            Some(mitigation) => out.push_str(&format!("    mitigated by: {mitigation}\n")),
            None => out.push_str(&format!("    treatment: {}\n", text(&finding, "/treatment"))),
        }
        out.push_str(&format!(
            "    controls: {}\n",
            finding.get("controls").map(Value::to_string).unwrap_or_default()
        ));
    }
    out.push_str("\nRISK CLASS (declared against computed)\n");
    out.push_str(&table(
        &["agent", "declared", "computed", "why", "eu ai act hint"],
        report
            .get("classification")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|class| {
                vec![
                    text(class, "/agent"),
                    text(class, "/declared"),
                    text(class, "/computed"),
                    class
                        .get("reasons")
                        .and_then(Value::as_array)
                        .map(|reasons| {
                            reasons
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default(),
                    text(class, "/eu_ai_act_hint"),
                ]
            })
            .collect(),
    ));
    out
}
