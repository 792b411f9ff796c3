//! `warrant soa`, `gaps`, `crosswalk`, `readiness`, `docs`, `audit` and `evidence`.

use anyhow::{Context, anyhow};
use axum::http::Method;
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::{AuditCommand, Cli, DocsCommand, EvidenceCommand, Output};
use crate::client::{Client, encode};
use crate::output::{counts, print, table, text};

fn array<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A document the API renders as text (`format=md|csv`).
fn document(client: &Client, path: &str) -> Result<(), Failure> {
    let (status, bytes) = client.send(Method::GET, path, None)?;
    if status != 200 {
        crate::client::answer(status, &bytes)?;
    }
    print!("{}", String::from_utf8_lossy(&bytes));
    Ok(())
}

pub fn soa(cli: &Cli, client: &Client) -> Result<(), Failure> {
    match cli.output {
        Output::Md => return document(client, "/v1/compliance/soa?format=md"),
        Output::Csv => return document(client, "/v1/compliance/soa?format=csv"),
        _ => {}
    }
    let answer = client.get("/v1/compliance/soa")?;
    print(cli.output, &answer, |soa| {
        let rows = array(soa, "/controls")
            .map(|row| {
                vec![
                    text(row, "/control"),
                    text(row, "/title"),
                    if row.get("applicable") == Some(&Value::Bool(true)) {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    text(row, "/status").replace('_', " "),
                    text(row, "/owner"),
                    text(row, "/evidence_count"),
                    array(row, "/sample_seqs")
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        format!(
            "STATEMENT OF APPLICABILITY (ISO/IEC 42001:2023 Annex A){}: {}\n\n{}",
            soa.get("organization")
                .and_then(Value::as_str)
                .map(|name| format!(", {name}"))
                .unwrap_or_default(),
            counts(soa.pointer("/summary/by_status")),
            table(
                &[
                    "control",
                    "title",
                    "applicable",
                    "status",
                    "owner",
                    "evidence",
                    "samples"
                ],
                rows
            )
        )
    });
    Ok(())
}

pub fn gaps(cli: &Cli, client: &Client, fail_on: Option<&str>) -> Result<(), Failure> {
    if let Some(level) = fail_on
        && !matches!(level, "missing" | "partial")
    {
        return Err(Failure::Usage(anyhow!(
            "--fail-on is missing or partial, not `{level}`"
        )));
    }
    let answer = client.get("/v1/compliance/gaps")?;
    if cli.output == Output::Md {
        print!("{}", gaps_markdown(&answer));
    } else {
        print(cli.output, &answer, render_gaps);
    }
    let count = |group: &str, field: &str| {
        answer
            .pointer(&format!("/{group}/{field}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let missing = count("controls_summary", "missing") + count("clauses_summary", "missing");
    let partial = count("controls_summary", "partial") + count("clauses_summary", "partial");
    match fail_on {
        Some("missing") if missing > 0 => Err(Failure::Check(anyhow!(
            "{missing} control(s) or clause(s) missing"
        ))),
        Some("partial") if missing + partial > 0 => Err(Failure::Check(anyhow!(
            "{missing} control(s) or clause(s) missing, {partial} partial"
        ))),
        _ => Ok(()),
    }
}

/// The gap report as a Markdown document.
fn gaps_markdown(gaps: &Value) -> String {
    let mut out = String::from("# Gap report: ISO/IEC 42001:2023\n\n");
    for (label, group) in [
        ("Annex A controls", "controls_summary"),
        ("Clauses 4-10", "clauses_summary"),
    ] {
        out.push_str(&format!(
            "- {label}: {} have, {} partial, {} missing, {} excluded\n",
            text(gaps, &format!("/{group}/have")),
            text(gaps, &format!("/{group}/partial")),
            text(gaps, &format!("/{group}/missing")),
            text(gaps, &format!("/{group}/excluded"))
        ));
    }
    for (title, group) in [("Controls", "/controls"), ("Clauses", "/clauses")] {
        out.push_str(&format!(
            "\n## {title}\n\n| item | gap | why | next step |\n|---|---|---|---|\n"
        ));
        for row in array(gaps, group) {
            out.push_str(&format!(
                "| {} {}{} | {} | {} | {} |\n",
                text(row, "/id"),
                text(row, "/title"),
                if row.get("covered_by_iso27001") == Some(&Value::Bool(true)) {
                    " (ISO 27001)"
                } else {
                    ""
                },
                text(row, "/gap"),
                text(row, "/reason").replace('|', "/"),
                text(row, "/next_step").replace('|', "/")
            ));
        }
    }
    out.push_str("\n## Agent-specific areas\n\n| area | have | partial | missing | what agents add |\n|---|---|---|---|---|\n");
    for area in array(gaps, "/agent_areas") {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            text(area, "/title"),
            text(area, "/have"),
            text(area, "/partial"),
            text(area, "/missing"),
            text(area, "/agents_add").replace('|', "/")
        ));
    }
    out
}

fn render_gaps(gaps: &Value) -> String {
    let summary = |group: &str| {
        format!(
            "{} have, {} partial, {} missing, {} excluded",
            text(gaps, &format!("/{group}/have")),
            text(gaps, &format!("/{group}/partial")),
            text(gaps, &format!("/{group}/missing")),
            text(gaps, &format!("/{group}/excluded"))
        )
    };
    let mut out = format!(
        "GAP REPORT\n  Annex A controls: {}\n  clauses 4-10:     {}\n{}\n",
        summary("controls_summary"),
        summary("clauses_summary"),
        if gaps.get("iso27001_declared") == Some(&Value::Bool(true)) {
            "  (ISO 27001 declared: rows marked [27001] are usually carried by the ISMS)\n"
        } else {
            ""
        }
    );
    for (title, group) in [("CONTROLS", "/controls"), ("CLAUSES", "/clauses")] {
        out.push_str(&format!("\n{title} not fully evidenced\n"));
        for row in array(gaps, group).filter(|row| !matches!(text(row, "/gap").as_str(), "have" | "excluded"))
        {
            out.push_str(&format!(
                "  [{}] {} {}{}\n      why: {}\n      next: {}\n",
                text(row, "/gap").to_uppercase(),
                text(row, "/id"),
                text(row, "/title"),
                if row.get("covered_by_iso27001") == Some(&Value::Bool(true)) {
                    " [27001]"
                } else {
                    ""
                },
                text(row, "/reason"),
                text(row, "/next_step")
            ));
        }
    }
    out.push_str("\nAGENT-SPECIFIC AREAS (what agents add on top of ISO/IEC 42001)\n");
    out.push_str(&table(
        &["area", "have", "partial", "missing"],
        array(gaps, "/agent_areas")
            .map(|area| {
                vec![
                    text(area, "/title"),
                    text(area, "/have"),
                    text(area, "/partial"),
                    text(area, "/missing"),
                ]
            })
            .collect(),
    ));
    out
}

pub fn crosswalk(cli: &Cli, client: &Client) -> Result<(), Failure> {
    let answer = client.get("/v1/compliance/crosswalk")?;
    print(cli.output, &answer, |crosswalk| {
        let mut out = format!(
            "EU AI ACT CROSSWALK ({} as amended by {})\n{}\n\n",
            text(crosswalk, "/regulation"),
            text(crosswalk, "/amended_by"),
            text(crosswalk, "/note")
        );
        for article in array(crosswalk, "/articles") {
            let supports: Vec<String> = array(article, "/supports")
                .map(|support| {
                    format!(
                        "{} ({}, {})",
                        text(support, "/reference"),
                        text(support, "/strength"),
                        text(support, "/status").replace('_', " ")
                    )
                })
                .collect();
            let dates: Vec<String> = array(article, "/applies")
                .map(|applies| {
                    let (original, amended) = (text(applies, "/original"), text(applies, "/amended"));
                    if original == amended {
                        format!("{}: {original}", text(applies, "/category"))
                    } else {
                        format!(
                            "{}: {original} -> {amended} (2026/1744)",
                            text(applies, "/category")
                        )
                    }
                })
                .collect();
            out.push_str(&format!(
                "{} {} [{}]\n    applies: {}\n    ISO 42001: {}\n",
                text(article, "/article"),
                text(article, "/title"),
                text(article, "/coverage"),
                dates.join("; "),
                if supports.is_empty() {
                    "-".into()
                } else {
                    supports.join(", ")
                }
            ));
            for note in
                array(article, "/applies").filter_map(|applies| applies.get("note").and_then(Value::as_str))
            {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
        out.push_str("\nOBLIGATIONS ISO/IEC 42001 DOES NOT COVER\n");
        out.push_str(&table(
            &["task", "article", "owner", "due", "status", "documents", "check"],
            array(crosswalk, "/tasks")
                .map(|task| {
                    vec![
                        text(task, "/id"),
                        text(task, "/article"),
                        text(task, "/owner"),
                        format!(
                            "{}{}",
                            text(task, "/due"),
                            if task.get("overdue") == Some(&Value::Bool(true)) {
                                " OVERDUE"
                            } else {
                                ""
                            }
                        ),
                        text(task, "/status"),
                        array(task, "/documents").count().to_string(),
                        text(task, "/check"),
                    ]
                })
                .collect(),
        ));
        out
    });
    Ok(())
}

pub fn readiness(cli: &Cli, client: &Client) -> Result<(), Failure> {
    let answer = client.get("/v1/compliance/readiness")?;
    if cli.output == Output::Md {
        print!("{}", readiness_markdown(&answer));
        return Ok(());
    }
    print(cli.output, &answer, |answer| {
        let ready = answer.get("readiness").cloned().unwrap_or(Value::Null);
        let mut out = format!(
            "CERTIFICATION READINESS{}: current stage: {}\n\n",
            ready
                .get("organization")
                .and_then(Value::as_str)
                .map(|name| format!(", {name}"))
                .unwrap_or_default(),
            text(&ready, "/stage")
        );
        for stage in array(&ready, "/stages") {
            out.push_str(&format!(
                "  [{}] {}\n",
                if stage.get("done") == Some(&Value::Bool(true)) {
                    "x"
                } else {
                    " "
                },
                text(stage, "/name")
            ));
            for left in array(stage, "/left") {
                out.push_str(&format!("        - {}\n", left.as_str().unwrap_or_default()));
            }
        }
        out.push_str(&format!(
            "\ndecision: {}\n  because: {}\nestimate: {}, {} ({})\n",
            text(&ready, "/decision/recommendation").to_uppercase(),
            array(&ready, "/decision/reasons")
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
            text(&ready, "/estimate/months"),
            text(&ready, "/estimate/cost_usd"),
            text(&ready, "/estimate/note")
        ));
        out
    });
    Ok(())
}

/// The readiness assessment as a Markdown document.
fn readiness_markdown(answer: &Value) -> String {
    let ready = answer.get("readiness").cloned().unwrap_or(Value::Null);
    let mut out = format!(
        "# Certification readiness{}\n\nCurrent stage: **{}**\n\n## Pathway\n\n",
        ready
            .get("organization")
            .and_then(Value::as_str)
            .map(|name| format!(": {name}"))
            .unwrap_or_default(),
        text(&ready, "/stage")
    );
    for stage in array(&ready, "/stages") {
        out.push_str(&format!(
            "- [{}] {}\n",
            if stage.get("done") == Some(&Value::Bool(true)) {
                "x"
            } else {
                " "
            },
            text(stage, "/name")
        ));
        for left in array(stage, "/left").filter_map(Value::as_str) {
            out.push_str(&format!("  - {left}\n"));
        }
    }
    out.push_str(&format!(
        "\n## Decision\n\n{}\n\n{}\n\n## Estimate\n\n{}, {}. {}\n",
        text(&ready, "/decision/recommendation"),
        array(&ready, "/decision/reasons")
            .filter_map(Value::as_str)
            .map(|reason| format!("- {reason}"))
            .collect::<Vec<_>>()
            .join("\n"),
        text(&ready, "/estimate/months"),
        text(&ready, "/estimate/cost_usd"),
        text(&ready, "/estimate/note")
    ));
    out
}

pub fn docs(cli: &Cli, client: &Client, command: &DocsCommand) -> Result<(), Failure> {
    match command {
        DocsCommand::Add {
            file,
            controls,
            title,
            reason,
        } => {
            let content = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "document".into());
            let mut path = format!(
                "/v1/documents?name={}&controls={}",
                encode(&name),
                encode(&controls.join(","))
            );
            if let Some(title) = title {
                path.push_str(&format!("&title={}", encode(title)));
            }
            if let Some(reason) = reason {
                path.push_str(&format!("&reason={}", encode(reason)));
            }
            let answer = client.call(Method::POST, &path, Some(("application/octet-stream", content)))?;
            print(cli.output, &answer, |answer| {
                format!(
                    "{} {} (sha256 {}, seq {}) for {}\n",
                    if answer.get("new") == Some(&Value::Bool(true)) {
                        "kept"
                    } else {
                        "already kept:"
                    },
                    text(answer, "/document/name"),
                    text(answer, "/document/sha256"),
                    text(answer, "/document/seq"),
                    array(answer, "/document/controls")
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        }
        DocsCommand::List => {
            let answer = client.get("/v1/documents")?;
            print(cli.output, &answer, |answer| {
                table(
                    &["sha256", "title", "controls", "added", "seq"],
                    array(answer, "/items")
                        .map(|document| {
                            vec![
                                text(document, "/sha256").chars().take(16).collect(),
                                text(document, "/title"),
                                array(document, "/controls")
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(","),
                                text(document, "/added_at"),
                                text(document, "/seq"),
                            ]
                        })
                        .collect(),
                )
            });
        }
    }
    Ok(())
}

pub fn audit(cli: &Cli, client: &Client, command: &AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Plan => {
            let answer = client.get("/v1/audits/plan")?;
            print(cli.output, &answer, |plan| {
                format!(
                    "INTERNAL AUDIT PLAN: sample {} evidence item(s) of each of {} implemented control(s) and verify their proofs; review {} control(s) not implemented\n\n{}\n{}",
                    text(plan, "/sample_per_control"),
                    array(plan, "/sampled").count(),
                    array(plan, "/reviewed").count(),
                    table(
                        &["sampled control", "title", "owner"],
                        array(plan, "/sampled")
                            .map(|row| vec![text(row, "/control"), text(row, "/title"), text(row, "/owner")])
                            .collect()
                    ),
                    table(
                        &["reviewed control", "title", "status", "owner"],
                        array(plan, "/reviewed")
                            .map(|row| vec![
                                text(row, "/control"),
                                text(row, "/title"),
                                text(row, "/status").replace('_', " "),
                                text(row, "/owner")
                            ])
                            .collect()
                    )
                )
            });
        }
        AuditCommand::Run { n, seed } => {
            let body = match seed {
                Some(seed) => json!({"n": n, "seed": seed}),
                None => json!({"n": n}),
            };
            let answer = client.call(
                Method::POST,
                "/v1/audits/run",
                Some(("application/json", body.to_string().into_bytes())),
            )?;
            print(cli.output, &answer, render_audit);
        }
        AuditCommand::Ncs => {
            let answer = client.get("/v1/nonconformities")?;
            print(cli.output, &answer, |answer| {
                table(
                    &["nonconformity", "grade", "status", "owner", "due", "finding"],
                    array(answer, "/items")
                        .map(|nc| {
                            vec![
                                text(nc, "/id"),
                                text(nc, "/grade"),
                                text(nc, "/status"),
                                text(nc, "/owner"),
                                text(nc, "/due"),
                                text(nc, "/finding"),
                            ]
                        })
                        .collect(),
                )
            });
        }
        AuditCommand::Close { id, action } => {
            let answer = client.call(
                Method::POST,
                &format!("/v1/nonconformities/{}/close", encode(id)),
                Some((
                    "application/json",
                    json!({"action": action}).to_string().into_bytes(),
                )),
            )?;
            print(cli.output, &answer, |nc| {
                format!("{} closed: {}\n", text(nc, "/id"), text(nc, "/closure"))
            });
        }
        AuditCommand::List => {
            let answer = client.get("/v1/audits")?;
            print(cli.output, &answer, |answer| {
                table(
                    &["audit", "at", "checkpoint", "verified", "nonconformities"],
                    array(answer, "/items")
                        .map(|audit| {
                            vec![
                                text(audit, "/id"),
                                text(audit, "/at"),
                                text(audit, "/checkpoint/size"),
                                text(audit, "/summary/items_verified"),
                                text(audit, "/summary/nonconformities"),
                            ]
                        })
                        .collect(),
                )
            });
        }
    }
    Ok(())
}

fn render_audit(report: &Value) -> String {
    let mut out = format!(
        "INTERNAL AUDIT {} ({}), checkpoint {} (seed {})\n  {} control(s) sampled, {} evidence item(s) verified; {} nonconformity(ies): {} major, {} minor\n\nNONCONFORMITIES (10.2: corrective actions with owners and due dates)\n",
        text(report, "/id"),
        text(report, "/at"),
        text(report, "/checkpoint/size"),
        text(report, "/seed"),
        text(report, "/summary/controls_sampled"),
        text(report, "/summary/items_verified"),
        text(report, "/summary/nonconformities"),
        text(report, "/summary/major"),
        text(report, "/summary/minor"),
    );
    for nc in array(report, "/nonconformities") {
        out.push_str(&format!(
            "  {} [{}] {}: {}\n      action: {} (owner {}, due {})\n",
            text(nc, "/id"),
            text(nc, "/grade"),
            text(nc, "/control"),
            text(nc, "/finding"),
            text(nc, "/corrective_action"),
            text(nc, "/owner"),
            text(nc, "/due")
        ));
    }
    out.push_str(&format!(
        "\nMANAGEMENT REVIEW INPUTS (9.3.2): {} registry change(s) since the previous audit; {} incident(s) ({} open); {} risk(s) ({} open)\n",
        text(report, "/management_review/changes_since_previous"),
        text(report, "/management_review/incidents/total"),
        text(report, "/management_review/incidents/open"),
        text(report, "/management_review/risks/total"),
        text(report, "/management_review/risks/open"),
    ));
    for opportunity in array(report, "/management_review/opportunities").filter_map(Value::as_str) {
        out.push_str(&format!("  - {opportunity}\n"));
    }
    out
}

pub fn evidence(cli: &Cli, client: &Client, command: &EvidenceCommand) -> Result<(), Failure> {
    match command {
        EvidenceCommand::Sample { control, n, seed } => {
            let answer = client.get(&format!(
                "/v1/compliance/sample?control={}&n={n}&seed={seed}",
                encode(control)
            ))?;
            print(cli.output, &answer, |sample| {
                let mut out = format!(
                    "{} evidence item(s) of {} (seed {}), proofs to checkpoint {}\n",
                    array(sample, "/items").count(),
                    text(sample, "/control"),
                    text(sample, "/seed"),
                    text(sample, "/checkpoint/size")
                );
                out.push_str(&table(
                    &["seq", "kind", "agent", "time", "proof"],
                    array(sample, "/items")
                        .map(|item| {
                            vec![
                                text(item, "/seq"),
                                text(item, "/event/kind"),
                                text(item, "/event/agent"),
                                text(item, "/event/time"),
                                if item.get("verified") == Some(&Value::Bool(true)) {
                                    "verified".into()
                                } else {
                                    "FAILED".into()
                                },
                            ]
                        })
                        .collect(),
                ));
                out
            });
            if array(&answer, "/items").any(|item| item.get("verified") != Some(&Value::Bool(true))) {
                return Err(Failure::Check(anyhow!("an inclusion proof did not verify")));
            }
        }
        EvidenceCommand::Export {
            from,
            to,
            agents,
            with_content,
            out,
        } => {
            let request = warrant_service::export::ExportRequest {
                from: crate::bundle::parse_when(from, "from")?,
                to: crate::bundle::parse_when(to, "to")?,
                agents: agents.clone(),
                with_content: *with_content,
            };
            crate::bundle::export_command(cli, client, request, out)?;
        }
        EvidenceCommand::Count { control, from, to } => {
            let mut path = format!("/v1/compliance/evidence?control={}", encode(control));
            for (name, value) in [("from", from), ("to", to)] {
                if let Some(value) = value {
                    path.push_str(&format!("&{name}={}", encode(value)));
                }
            }
            let answer = client.get(&path)?;
            print(cli.output, &answer, |answer| {
                format!(
                    "{} {}: {} event(s) (seqs {} to {})\n",
                    text(answer, "/control"),
                    text(answer, "/title"),
                    text(answer, "/count"),
                    text(answer, "/first_seq"),
                    text(answer, "/last_seq")
                )
            });
        }
    }
    Ok(())
}
