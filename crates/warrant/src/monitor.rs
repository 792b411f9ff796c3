//! `warrant monitor`, `warrant alerts` and `warrant incidents`.

use anyhow::Context;
use axum::http::Method;
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::{AlertCommand, Cli, IncidentCommand, MonitorArgs};
use crate::client::{Client, encode};
use crate::output::{items, print, table, text};

pub fn monitor(cli: &Cli, client: &Client, args: &MonitorArgs) -> Result<(), Failure> {
    if args.rebuild {
        let answer = client.call(Method::POST, "/v1/monitor/rebuild", None)?;
        print(cli.output, &answer, |answer| {
            format!("rollups rebuilt from {} events\n", text(answer, "/events"))
        });
        return Ok(());
    }
    if args.evaluate {
        let answer = client.call(Method::POST, "/v1/monitor/evaluate", None)?;
        print(cli.output, &answer, render_evaluation);
        return Ok(());
    }
    let mut query = vec![
        format!("current_hours={}", args.current_hours),
        format!("baseline_hours={}", args.baseline_hours),
        format!("min_samples={}", args.min_samples),
    ];
    if let Some(agent) = &args.agent {
        query.push(format!("agent={}", encode(agent)));
    }
    if let Some(decision) = &args.decision {
        query.push(format!("decision={}", encode(decision)));
    }
    let answer = client.get(&format!("/v1/monitor?{}", query.join("&")))?;
    print(cli.output, &answer, render_report);
    Ok(())
}

fn number(value: &Value, pointer: &str, digits: usize) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .map(|number| format!("{number:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn render_report(report: &Value) -> String {
    let list = |name: &str| {
        report
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut out = String::from("DRIFT (current window against the baseline)\n");
    out.push_str(&table(
        &[
            "agent", "decision", "status", "psi", "js", "p", "level", "baseline", "current",
        ],
        list("drift")
            .iter()
            .map(|drift| {
                vec![
                    text(drift, "/agent"),
                    text(drift, "/decision"),
                    text(drift, "/status"),
                    number(drift, "/psi", 3),
                    number(drift, "/js_distance", 3),
                    drift
                        .pointer("/chi_square/p_value")
                        .and_then(Value::as_f64)
                        .map_or("-".into(), |p| format!("{p:.2e}")),
                    text(drift, "/level"),
                    pairs(drift, "/baseline"),
                    pairs(drift, "/current"),
                ]
            })
            .collect(),
    ));
    out.push_str("\nDISPARITY (outcome rates between segments)\n");
    out.push_str(&table(
        &[
            "agent",
            "decision",
            "segment",
            "status",
            "largest gap",
            "baseline gap",
            "change",
            "p",
        ],
        list("disparity")
            .iter()
            .map(|disparity| {
                let gap = disparity
                    .get("max_gap")
                    .filter(|gap| !gap.is_null())
                    .map_or("-".into(), |gap| {
                        format!(
                            "{} {}: {} vs {}: {:.0} pts",
                            text(gap, "/outcome"),
                            text(disparity, "/segment"),
                            text(gap, "/high"),
                            text(gap, "/low"),
                            gap.get("gap").and_then(Value::as_f64).unwrap_or(0.0) * 100.0
                        )
                    });
                vec![
                    text(disparity, "/agent"),
                    text(disparity, "/decision"),
                    text(disparity, "/segment"),
                    text(disparity, "/status"),
                    gap,
                    number(disparity, "/baseline_gap", 3),
                    number(disparity, "/change", 3),
                    disparity
                        .pointer("/chi_square/p_value")
                        .and_then(Value::as_f64)
                        .map_or("-".into(), |p| format!("{p:.2e}")),
                ]
            })
            .collect(),
    ));
    out.push_str("\nANOMALIES\n");
    out.push_str(&table(
        &["kind", "agent", "subject", "detail"],
        list("anomalies")
            .iter()
            .map(|anomaly| {
                vec![
                    text(anomaly, "/kind"),
                    text(anomaly, "/agent"),
                    text(anomaly, "/subject"),
                    text(anomaly, "/detail"),
                ]
            })
            .collect(),
    ));
    out.push_str("\nCOST AND LATENCY (current window)\n");
    out.push_str(&table(
        &[
            "scope",
            "agent",
            "name",
            "calls",
            "errors",
            "tokens in",
            "tokens out",
            "cost $",
            "p50 ms",
            "p95 ms",
            "p99 ms",
        ],
        list("cost")
            .iter()
            .map(|line| {
                vec![
                    text(line, "/scope"),
                    text(line, "/agent"),
                    text(line, "/name"),
                    text(line, "/calls"),
                    text(line, "/errors"),
                    text(line, "/input_tokens"),
                    text(line, "/output_tokens"),
                    number(line, "/cost_usd", 4),
                    number(line, "/p50_ms", 1),
                    number(line, "/p95_ms", 1),
                    number(line, "/p99_ms", 1),
                ]
            })
            .collect(),
    ));
    let oversight = report.get("oversight").cloned().unwrap_or(Value::Null);
    out.push_str(&format!(
        "\nOVERSIGHT (current window): {} pending, {} expired, median decision time {} s; overrides {}, escalations {}\n",
        text(&oversight, "/pending"),
        text(&oversight, "/expired"),
        number(&oversight, "/median_latency_s", 1),
        oversight.get("overrides").map(Value::to_string).unwrap_or_default(),
        oversight.get("escalations").map(Value::to_string).unwrap_or_default(),
    ));
    out.push_str(&table(
        &[
            "approver",
            "decided",
            "approved",
            "denied",
            "approve ratio",
            "median s",
            "rubber stamp",
        ],
        oversight
            .get("approvers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|approver| {
                vec![
                    text(approver, "/approver"),
                    text(approver, "/decided"),
                    text(approver, "/approved"),
                    text(approver, "/denied"),
                    number(approver, "/approve_ratio", 2),
                    number(approver, "/median_latency_s", 1),
                    text(approver, "/rubber_stamp"),
                ]
            })
            .collect(),
    ));
    out
}

/// `outcome=count` pairs of a drift row.
fn pairs(drift: &Value, pointer: &str) -> String {
    let outcomes = drift
        .get("outcomes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let counts = drift
        .pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    outcomes
        .iter()
        .zip(counts)
        .map(|(outcome, count)| format!("{}={count}", outcome.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn render_evaluation(outcome: &Value) -> String {
    let list = |name: &str| {
        outcome
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut out = String::new();
    // Low-severity alerts (unused grants, new transitions) are counted, not listed: `warrant alerts list`.
    let mut low: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for alert in list("fired") {
        if text(&alert, "/severity") == "low" {
            *low.entry(text(&alert, "/rule")).or_default() += 1;
            continue;
        }
        out.push_str(&format!(
            "alert {} fired ({}, {}): {}\n",
            text(&alert, "/id"),
            text(&alert, "/severity"),
            text(&alert, "/rule"),
            text(&alert, "/summary")
        ));
    }
    if !low.is_empty() {
        let counts: Vec<String> = low
            .iter()
            .map(|(rule, count)| format!("{rule}: {count}"))
            .collect();
        out.push_str(&format!(
            "{} low-severity alert(s) fired ({}); see `warrant alerts list`\n",
            low.values().sum::<usize>(),
            counts.join(", ")
        ));
    }
    for id in list("resolved") {
        out.push_str(&format!("alert {} resolved\n", id.as_str().unwrap_or_default()));
    }
    for incident in list("opened") {
        out.push_str(&format!(
            "incident {} opened: {} (evidence seqs {})\n",
            text(&incident, "/id"),
            text(&incident, "/title"),
            incident
                .get("related_seqs")
                .map(Value::to_string)
                .unwrap_or_default()
        ));
    }
    if out.is_empty() {
        out.push_str("no change: nothing new fired and nothing resolved\n");
    }
    out
}

pub fn alerts(cli: &Cli, client: &Client, command: &AlertCommand) -> Result<(), Failure> {
    match command {
        AlertCommand::List { status } => {
            let path = match status {
                Some(status) => format!("/v1/alerts?status={}", encode(status)),
                None => "/v1/alerts".into(),
            };
            let answer = client.get(&path)?;
            print(cli.output, &answer, |answer| {
                table(
                    &[
                        "id", "status", "severity", "rule", "agent", "subject", "incident", "fired",
                    ],
                    items(answer)
                        .iter()
                        .map(|alert| {
                            vec![
                                text(alert, "/id"),
                                text(alert, "/status"),
                                text(alert, "/severity"),
                                text(alert, "/rule"),
                                text(alert, "/agent"),
                                text(alert, "/subject"),
                                text(alert, "/incident"),
                                text(alert, "/fired_at"),
                            ]
                        })
                        .collect(),
                )
            });
        }
        AlertCommand::Promote { id, reason } => {
            let body = serde_json::to_vec(&json!({"reason": reason})).context("encoding request")?;
            let answer = client.call(
                Method::POST,
                &format!("/v1/alerts/{}/promote", encode(id)),
                Some(("application/json", body)),
            )?;
            print(cli.output, &answer, |incident| {
                format!(
                    "incident {} opened: {}\n",
                    text(incident, "/id"),
                    text(incident, "/title")
                )
            });
        }
    }
    Ok(())
}

pub fn incidents(cli: &Cli, client: &Client, command: &IncidentCommand) -> Result<(), Failure> {
    let (id, update) = match command {
        IncidentCommand::List => {
            let answer = client.get("/v1/incidents")?;
            print(cli.output, &answer, |answer| {
                table(
                    &[
                        "id",
                        "status",
                        "severity",
                        "agent",
                        "owner",
                        "detected",
                        "art. 73 deadline",
                        "title",
                    ],
                    items(answer)
                        .iter()
                        .map(|incident| {
                            vec![
                                text(incident, "/id"),
                                text(incident, "/status"),
                                text(incident, "/severity"),
                                text(incident, "/agent"),
                                text(incident, "/owner"),
                                text(incident, "/detected_at"),
                                deadline(incident),
                                text(incident, "/title"),
                            ]
                        })
                        .collect(),
                )
            });
            return Ok(());
        }
        IncidentCommand::Show { id } => {
            let answer = client.get(&format!("/v1/incidents/{}", encode(id)))?;
            print(cli.output, &answer, render_incident);
            return Ok(());
        }
        IncidentCommand::Update {
            id,
            title,
            status,
            owner,
            what_happened,
            root_cause,
            preventive_measures,
            action,
            communication,
            serious,
            category,
            aware_at,
            reported_at,
        } => (
            id,
            json!({"title": title, "status": status, "owner": owner, "what_happened": what_happened,
                   "root_cause": root_cause, "preventive_measures": preventive_measures, "action": action,
                   "communication": communication, "serious": serious, "category": category,
                   "aware_at": aware_at, "reported_at": reported_at}),
        ),
        IncidentCommand::Close {
            id,
            root_cause,
            preventive_measures,
        } => (
            id,
            json!({"status": "closed", "root_cause": root_cause, "preventive_measures": preventive_measures}),
        ),
    };
    let body = serde_json::to_vec(&update).context("encoding request")?;
    let answer = client.call(
        Method::POST,
        &format!("/v1/incidents/{}", encode(id)),
        Some(("application/json", body)),
    )?;
    print(cli.output, &answer, render_incident);
    Ok(())
}

fn deadline(incident: &Value) -> String {
    match incident.get("art73").filter(|clock| !clock.is_null()) {
        None => "-".into(),
        Some(clock) if clock.get("overdue") == Some(&Value::Bool(true)) => {
            format!("{} OVERDUE", text(clock, "/deadline"))
        }
        Some(clock) => text(clock, "/deadline"),
    }
}

fn render_incident(incident: &Value) -> String {
    let mut out = format!(
        "incident {} [{}] {}\nseverity {}, agent {}, owner {}, detected {}\n",
        text(incident, "/id"),
        text(incident, "/status"),
        text(incident, "/title"),
        text(incident, "/severity"),
        text(incident, "/agent"),
        text(incident, "/owner"),
        text(incident, "/detected_at"),
    );
    out.push_str(&format!("what happened: {}\n", text(incident, "/what_happened")));
    out.push_str(&format!(
        "evidence: alerts {}, seqs {} (frozen at checkpoint {})\n",
        incident.get("alerts").map(Value::to_string).unwrap_or_default(),
        incident
            .get("related_seqs")
            .map(Value::to_string)
            .unwrap_or_default(),
        text(incident, "/checkpoint/size"),
    ));
    out.push_str(&format!("root cause: {}\n", text(incident, "/root_cause")));
    out.push_str(&format!(
        "preventive measures: {}\n",
        text(incident, "/preventive_measures")
    ));
    for (label, field) in [("action", "actions"), ("communication", "communications")] {
        for note in incident
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            out.push_str(&format!(
                "{label} {} by {}: {}\n",
                text(&note, "/at"),
                text(&note, "/by"),
                text(&note, "/text")
            ));
        }
    }
    if incident.get("serious") == Some(&Value::Bool(true)) {
        out.push_str(&format!(
            "EU AI Act Art. 73: serious ({}), aware {}, report by {}{}\n",
            text(incident, "/art73/category"),
            text(incident, "/art73/aware_at"),
            deadline(incident),
            incident
                .pointer("/art73/reported_at")
                .and_then(Value::as_str)
                .map(|at| format!(", reported {at}"))
                .unwrap_or_default()
        ));
    }
    out
}
