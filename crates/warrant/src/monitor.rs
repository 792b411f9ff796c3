//! `warrant monitor`, `warrant alerts` and `warrant incidents`.

use anyhow::Context;
use axum::http::Method;
use serde_json::json;
use warrant_api::Items;
use warrant_api::monitor as wire;
use warrant_core::event::format_time;

use crate::Failure;
use crate::cli::{AlertCommand, Cli, IncidentCommand, MonitorArgs, NotifierCommand};
use crate::client::{Client, encode};
use crate::output::{print_as, table};

pub fn monitor(cli: &Cli, client: &Client, args: &MonitorArgs) -> Result<(), Failure> {
    if args.rebuild {
        let answer: wire::Rebuilt = client.call_as(Method::POST, "/v1/monitor/rebuild", None)?;
        print_as(cli.output, &answer, |answer| {
            format!("rollups rebuilt from {} events\n", answer.events)
        });
        return Ok(());
    }
    if args.evaluate {
        let answer: wire::Evaluated = client.call_as(Method::POST, "/v1/monitor/evaluate", None)?;
        print_as(cli.output, &answer, render_evaluated);
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
    let answer: wire::MonitorReport = client.get_as(&format!("/v1/monitor?{}", query.join("&")))?;
    print_as(cli.output, &answer, render_report);
    Ok(())
}

/// A number with `digits` decimals; absent as `-`.
fn number(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".into(), |number| format!("{number:.digits$}"))
}

/// A p-value in scientific notation; absent as `-`.
fn p_value(test: Option<&wire::ChiSquare>) -> String {
    test.map_or_else(|| "-".into(), |test| format!("{:.2e}", test.p_value))
}

/// An optional field as display text: absent as `-`.
fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// A value as compact JSON, as the tables show lists and counts.
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn render_report(report: &wire::MonitorReport) -> String {
    let mut out = String::from("DRIFT (current window against the baseline)\n");
    out.push_str(&table(
        &[
            "agent", "decision", "status", "psi", "js", "p", "level", "baseline", "current",
        ],
        report
            .drift
            .iter()
            .map(|drift| {
                vec![
                    drift.agent.clone(),
                    drift.decision.clone(),
                    drift.status.clone(),
                    number(drift.psi, 3),
                    number(drift.js_distance, 3),
                    p_value(drift.chi_square.as_ref()),
                    drift.level.clone(),
                    pairs(&drift.outcomes, &drift.baseline),
                    pairs(&drift.outcomes, &drift.current),
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
        report
            .disparity
            .iter()
            .map(|disparity| {
                let gap = disparity.max_gap.as_ref().map_or("-".into(), |gap| {
                    format!(
                        "{} {}: {} vs {}: {:.0} pts",
                        gap.outcome,
                        disparity.segment,
                        gap.high,
                        gap.low,
                        gap.gap * 100.0
                    )
                });
                vec![
                    disparity.agent.clone(),
                    disparity.decision.clone(),
                    disparity.segment.clone(),
                    disparity.status.clone(),
                    gap,
                    number(disparity.baseline_gap, 3),
                    number(disparity.change, 3),
                    p_value(disparity.chi_square.as_ref()),
                ]
            })
            .collect(),
    ));
    out.push_str("\nANOMALIES\n");
    out.push_str(&table(
        &["kind", "agent", "subject", "detail"],
        report
            .anomalies
            .iter()
            .map(|anomaly| {
                vec![
                    anomaly.kind.clone(),
                    anomaly.agent.clone(),
                    anomaly.subject.clone(),
                    anomaly.detail.clone(),
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
        report
            .cost
            .iter()
            .map(|line| {
                vec![
                    line.scope.clone(),
                    line.agent.clone(),
                    line.name.clone(),
                    line.calls.to_string(),
                    line.errors.to_string(),
                    line.input_tokens.to_string(),
                    line.output_tokens.to_string(),
                    number(Some(line.cost_usd), 4),
                    number(line.p50_ms, 1),
                    number(line.p95_ms, 1),
                    number(line.p99_ms, 1),
                ]
            })
            .collect(),
    ));
    let oversight = &report.oversight;
    out.push_str(&format!(
        "\nOVERSIGHT (current window): {} pending, {} expired, median decision time {} s; overrides {}, escalations {}\n",
        oversight.pending,
        oversight.expired,
        number(oversight.median_latency_s, 1),
        json_text(&oversight.overrides),
        json_text(&oversight.escalations),
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
            .approvers
            .iter()
            .map(|approver| {
                vec![
                    approver.approver.clone(),
                    approver.decided.to_string(),
                    approver.approved.to_string(),
                    approver.denied.to_string(),
                    number(Some(approver.approve_ratio), 2),
                    number(Some(approver.median_latency_s), 1),
                    approver.rubber_stamp.to_string(),
                ]
            })
            .collect(),
    ));
    out
}

/// `outcome=count` pairs of a drift row.
fn pairs(outcomes: &[String], counts: &[u64]) -> String {
    outcomes
        .iter()
        .zip(counts)
        .map(|(outcome, count)| format!("{outcome}={count}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn render_evaluated(outcome: &wire::Evaluated) -> String {
    let mut out = String::new();
    // Low-severity alerts (unused grants, new transitions) are counted, not listed: `warrant alerts list`.
    let mut low: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for alert in &outcome.fired {
        if alert.severity == wire::Severity::Low {
            *low.entry(alert.rule.as_str()).or_default() += 1;
            continue;
        }
        out.push_str(&format!(
            "alert {} fired ({}, {}): {}\n",
            alert.id, alert.severity, alert.rule, alert.summary
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
    for id in &outcome.resolved {
        out.push_str(&format!("alert {id} resolved\n"));
    }
    for incident in &outcome.opened {
        out.push_str(&format!(
            "incident {} opened: {} (evidence seqs {})\n",
            incident.id,
            incident.title,
            json_text(&incident.related_seqs)
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
            let answer: Items<wire::Alert> = client.get_as(&path)?;
            print_as(cli.output, &answer, |answer| {
                table(
                    &[
                        "id", "status", "severity", "rule", "agent", "subject", "incident", "fired",
                    ],
                    answer
                        .items
                        .iter()
                        .map(|alert| {
                            vec![
                                alert.id.clone(),
                                alert.status.as_str().to_owned(),
                                alert.severity.as_str().to_owned(),
                                alert.rule.clone(),
                                alert.agent.clone(),
                                alert.subject.clone(),
                                or_dash(alert.incident.as_deref()),
                                format_time(&alert.fired_at),
                            ]
                        })
                        .collect(),
                )
            });
        }
        AlertCommand::Promote { id, reason } => {
            let body = serde_json::to_vec(&json!({"reason": reason})).context("encoding request")?;
            let answer: wire::IncidentView = client.call_as(
                Method::POST,
                &format!("/v1/alerts/{}/promote", encode(id)),
                Some(("application/json", body)),
            )?;
            print_as(cli.output, &answer, |answer| {
                format!(
                    "incident {} opened: {}\n",
                    answer.incident.id, answer.incident.title
                )
            });
        }
    }
    Ok(())
}
pub fn incidents(cli: &Cli, client: &Client, command: &IncidentCommand) -> Result<(), Failure> {
    let (id, update) = match command {
        IncidentCommand::List => {
            let answer: Items<wire::IncidentView> = client.get_as("/v1/incidents")?;
            print_as(cli.output, &answer, |answer| {
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
                    answer
                        .items
                        .iter()
                        .map(|view| {
                            let incident = &view.incident;
                            vec![
                                incident.id.clone(),
                                incident.status.as_str().to_owned(),
                                incident.severity.as_str().to_owned(),
                                or_dash(incident.agent.as_deref()),
                                or_dash(incident.owner.as_deref()),
                                format_time(&incident.detected_at),
                                deadline(view),
                                incident.title.clone(),
                            ]
                        })
                        .collect(),
                )
            });
            return Ok(());
        }
        IncidentCommand::Show { id } => {
            let answer: wire::IncidentView = client.get_as(&format!("/v1/incidents/{}", encode(id)))?;
            print_as(cli.output, &answer, render_incident);
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
    let answer: wire::IncidentView = client.call_as(
        Method::POST,
        &format!("/v1/incidents/{}", encode(id)),
        Some(("application/json", body)),
    )?;
    print_as(cli.output, &answer, render_incident);
    Ok(())
}

fn deadline(view: &wire::IncidentView) -> String {
    match &view.art73 {
        None => "-".into(),
        Some(clock) if clock.overdue => format!("{} OVERDUE", format_time(&clock.deadline)),
        Some(clock) => format_time(&clock.deadline),
    }
}

fn render_incident(view: &wire::IncidentView) -> String {
    let incident = &view.incident;
    let mut out = format!(
        "incident {} [{}] {}\nseverity {}, agent {}, owner {}, detected {}\n",
        incident.id,
        incident.status.as_str(),
        incident.title,
        incident.severity,
        or_dash(incident.agent.as_deref()),
        or_dash(incident.owner.as_deref()),
        format_time(&incident.detected_at),
    );
    out.push_str(&format!("what happened: {}\n", incident.what_happened));
    out.push_str(&format!(
        "evidence: alerts {}, seqs {} (frozen at checkpoint {})\n",
        json_text(&incident.alerts),
        json_text(&incident.related_seqs),
        incident
            .checkpoint
            .as_ref()
            .map_or_else(|| "-".to_owned(), |checkpoint| checkpoint.size.to_string()),
    ));
    out.push_str(&format!(
        "root cause: {}\n",
        or_dash(incident.root_cause.as_deref())
    ));
    out.push_str(&format!(
        "preventive measures: {}\n",
        or_dash(incident.preventive_measures.as_deref())
    ));
    for (label, notes) in [
        ("action", &incident.actions),
        ("communication", &incident.communications),
    ] {
        for note in notes {
            out.push_str(&format!(
                "{label} {} by {}: {}\n",
                format_time(&note.at),
                note.by,
                note.text
            ));
        }
    }
    for delivery in &view.notifications {
        out.push_str(&format!(
            "told {} ({}) of {}: {} after {} attempt(s){}\n",
            delivery.audience.as_deref().unwrap_or(&delivery.notifier),
            delivery.notifier,
            delivery.topic,
            delivery.state,
            delivery.attempts,
            delivery
                .delivered_at
                .map(|at| format!(", {}", format_time(&at)))
                .unwrap_or_default(),
        ));
    }
    if incident.serious {
        let clock = view.art73.as_ref();
        out.push_str(&format!(
            "EU AI Act Art. 73: serious ({}), aware {}, report by {}{}\n",
            or_dash(clock.map(|clock| clock.category.as_str())),
            or_dash(clock.map(|clock| format_time(&clock.aware_at)).as_deref()),
            deadline(view),
            clock
                .and_then(|clock| clock.reported_at)
                .map(|at| format!(", reported {}", format_time(&at)))
                .unwrap_or_default()
        ));
    }
    out
}

/// `warrant notifiers test ID`: exit 1 when the test message was not delivered.
pub fn notifiers(cli: &Cli, client: &Client, command: &NotifierCommand) -> Result<(), Failure> {
    let NotifierCommand::Test { id } = command;
    let delivery: warrant_api::notify::Delivery =
        client.call_as(Method::POST, &format!("/v1/notifiers/{}/test", encode(id)), None)?;
    print_as(cli.output, &delivery, |delivery| {
        format!(
            "test message {} to {}: {}{}{}\n",
            delivery.id,
            delivery.notifier,
            delivery.state,
            delivery
                .last_status
                .map(|status| format!(" (HTTP {status})"))
                .unwrap_or_default(),
            delivery
                .last_error
                .as_deref()
                .map(|error| format!(": {error}"))
                .unwrap_or_default(),
        )
    });
    if delivery.state == "delivered" {
        Ok(())
    } else {
        Err(Failure::Check(anyhow::anyhow!(
            "the test message to `{}` was not delivered",
            delivery.notifier
        )))
    }
}

/// `warrant notifications`: deliveries and their state.
pub fn notifications(
    cli: &Cli,
    client: &Client,
    filters: [(&str, &Option<String>); 3],
    limit: usize,
) -> Result<(), Failure> {
    let mut query = vec![format!("limit={limit}")];
    for (name, value) in filters {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    let answer: Items<warrant_api::notify::Delivery> =
        client.get_as(&format!("/v1/notifications?{}", query.join("&")))?;
    print_as(cli.output, &answer, |answer| {
        table(
            &[
                "id", "notifier", "topic", "about", "state", "attempts", "last", "created",
            ],
            answer
                .items
                .iter()
                .map(|delivery| {
                    vec![
                        delivery.id.clone(),
                        delivery.notifier.clone(),
                        delivery.topic.clone(),
                        format!("{}:{}", delivery.about.kind, delivery.about.id),
                        delivery.state.clone(),
                        delivery.attempts.to_string(),
                        delivery
                            .last_status
                            .map(|status| status.to_string())
                            .or_else(|| delivery.last_error.clone())
                            .unwrap_or_default(),
                        format_time(&delivery.created_at),
                    ]
                })
                .collect(),
        )
    });
    Ok(())
}
