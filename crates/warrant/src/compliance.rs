//! `warrant soa`, `gaps`, `crosswalk`, `readiness`, `docs`, `audit` and `evidence`.

use std::fmt::Display;
use warrant_log::Seq;

use anyhow::{Context, anyhow};
use axum::http::Method;
use warrant_api::Items;
use warrant_api::compliance::{
    AddedDocument, AuditPlan, AuditReport, CloseNonconformity, Crosswalk, Document, EvidenceCount,
    EvidenceSample, Gaps, Nonconformity, ReadinessReport, RunAudit, Soa,
};

use crate::Failure;
use crate::cli::{AuditCommand, Cli, DocsCommand, EvidenceCommand, Output};
use crate::client::{Client, encode};
use crate::output::{print_as, table, text};

/// An optional field as display text: absent as `-`.
fn shown(value: Option<impl Display>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

/// A status word for people: `not_started` as `not started`.
fn words(status: &str) -> String {
    status.replace('_', " ")
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
    let answer: Soa = client.get_as("/v1/compliance/soa")?;
    print_as(cli.output, &answer, |soa| {
        let rows = soa
            .controls
            .iter()
            .map(|row| {
                vec![
                    row.control.clone(),
                    row.title.clone(),
                    if row.applicable { "yes" } else { "no" }.to_owned(),
                    words(row.status.as_str()),
                    row.owner.clone(),
                    row.evidence_count.to_string(),
                    row.sample_seqs
                        .iter()
                        .map(Seq::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        format!(
            "STATEMENT OF APPLICABILITY (ISO/IEC 42001:2023 Annex A){}: {}\n\n{}",
            soa.organization
                .as_deref()
                .map(|name| format!(", {name}"))
                .unwrap_or_default(),
            soa.summary
                .by_status
                .iter()
                .map(|(status, count)| format!("{count} {}", words(status)))
                .collect::<Vec<_>>()
                .join(", "),
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
    let answer: Gaps = client.get_as("/v1/compliance/gaps")?;
    if cli.output == Output::Md {
        print!("{}", gaps_markdown(&answer));
    } else {
        print_as(cli.output, &answer, render_gaps);
    }
    let missing = answer.controls_summary.missing + answer.clauses_summary.missing;
    let partial = answer.controls_summary.partial + answer.clauses_summary.partial;
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

/// `12 have, 2 partial, 23 missing, 1 excluded`.
fn summary(counts: &warrant_api::compliance::Counts) -> String {
    format!(
        "{} have, {} partial, {} missing, {} excluded",
        counts.have, counts.partial, counts.missing, counts.excluded
    )
}

/// The gap report as a Markdown document.
fn gaps_markdown(gaps: &Gaps) -> String {
    let mut out = String::from("# Gap report: ISO/IEC 42001:2023\n\n");
    for (label, counts) in [
        ("Annex A controls", &gaps.controls_summary),
        ("Clauses 4-10", &gaps.clauses_summary),
    ] {
        out.push_str(&format!("- {label}: {}\n", summary(counts)));
    }
    for (title, rows) in [("Controls", &gaps.controls), ("Clauses", &gaps.clauses)] {
        out.push_str(&format!(
            "\n## {title}\n\n| item | gap | why | next step |\n|---|---|---|---|\n"
        ));
        for row in rows {
            out.push_str(&format!(
                "| {} {}{} | {} | {} | {} |\n",
                row.id,
                row.title,
                if row.covered_by_iso27001 {
                    " (ISO 27001)"
                } else {
                    ""
                },
                row.gap,
                row.reason.replace('|', "/"),
                shown(row.next_step.as_deref()).replace('|', "/")
            ));
        }
    }
    out.push_str("\n## Agent-specific areas\n\n| area | have | partial | missing | what agents add |\n|---|---|---|---|---|\n");
    for area in &gaps.agent_areas {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            area.title,
            area.have,
            area.partial,
            area.missing,
            area.agents_add.replace('|', "/")
        ));
    }
    out
}

fn render_gaps(gaps: &Gaps) -> String {
    let mut out = format!(
        "GAP REPORT\n  Annex A controls: {}\n  clauses 4-10:     {}\n{}\n",
        summary(&gaps.controls_summary),
        summary(&gaps.clauses_summary),
        if gaps.iso27001_declared {
            "  (ISO 27001 declared: rows marked [27001] are usually carried by the ISMS)\n"
        } else {
            ""
        }
    );
    for (title, rows) in [("CONTROLS", &gaps.controls), ("CLAUSES", &gaps.clauses)] {
        out.push_str(&format!("\n{title} not fully evidenced\n"));
        for row in rows
            .iter()
            .filter(|row| !matches!(row.gap.as_str(), "have" | "excluded"))
        {
            out.push_str(&format!(
                "  [{}] {} {}{}\n      why: {}\n      next: {}\n",
                row.gap.to_uppercase(),
                row.id,
                row.title,
                if row.covered_by_iso27001 { " [27001]" } else { "" },
                row.reason,
                shown(row.next_step.as_deref())
            ));
        }
    }
    out.push_str("\nAGENT-SPECIFIC AREAS (what agents add on top of ISO/IEC 42001)\n");
    out.push_str(&table(
        &["area", "have", "partial", "missing"],
        gaps.agent_areas
            .iter()
            .map(|area| {
                vec![
                    area.title.clone(),
                    area.have.to_string(),
                    area.partial.to_string(),
                    area.missing.to_string(),
                ]
            })
            .collect(),
    ));
    out
}

pub fn crosswalk(cli: &Cli, client: &Client) -> Result<(), Failure> {
    let answer: Crosswalk = client.get_as("/v1/compliance/crosswalk")?;
    print_as(cli.output, &answer, |crosswalk| {
        let mut out = format!(
            "EU AI ACT CROSSWALK ({} as amended by {})\n{}\n\n",
            crosswalk.regulation, crosswalk.amended_by, crosswalk.note
        );
        for article in &crosswalk.articles {
            let supports: Vec<String> = article
                .supports
                .iter()
                .map(|support| {
                    format!(
                        "{} ({}, {})",
                        support.reference,
                        support.strength,
                        words(support.status.as_str())
                    )
                })
                .collect();
            let dates: Vec<String> = article
                .applies
                .iter()
                .map(|applies| {
                    let (original, amended) = (applies.original, applies.amended);
                    if original == amended {
                        format!("{}: {original}", applies.category)
                    } else {
                        format!("{}: {original} -> {amended} (2026/1744)", applies.category)
                    }
                })
                .collect();
            out.push_str(&format!(
                "{} {} [{}]\n    applies: {}\n    ISO 42001: {}\n",
                article.article,
                article.title,
                article.coverage,
                dates.join("; "),
                if supports.is_empty() {
                    "-".into()
                } else {
                    supports.join(", ")
                }
            ));
            for note in article
                .applies
                .iter()
                .filter_map(|applies| applies.note.as_deref())
            {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
        out.push_str("\nOBLIGATIONS ISO/IEC 42001 DOES NOT COVER\n");
        out.push_str(&table(
            &["task", "article", "owner", "due", "status", "documents", "check"],
            crosswalk
                .tasks
                .iter()
                .map(|task| {
                    vec![
                        task.id.clone(),
                        task.article.clone(),
                        shown(task.owner.as_deref()),
                        format!(
                            "{}{}",
                            shown(task.due),
                            if task.overdue { " OVERDUE" } else { "" }
                        ),
                        task.status.clone(),
                        task.documents.len().to_string(),
                        shown(task.check.as_deref()),
                    ]
                })
                .collect(),
        ));
        out
    });
    Ok(())
}

pub fn readiness(cli: &Cli, client: &Client) -> Result<(), Failure> {
    let answer: ReadinessReport = client.get_as("/v1/compliance/readiness")?;
    if cli.output == Output::Md {
        print!("{}", readiness_markdown(&answer));
        return Ok(());
    }
    print_as(cli.output, &answer, |answer| {
        let ready = &answer.readiness;
        let mut out = format!(
            "CERTIFICATION READINESS{}: current stage: {}\n\n",
            ready
                .organization
                .as_deref()
                .map(|name| format!(", {name}"))
                .unwrap_or_default(),
            ready.stage
        );
        for stage in &ready.stages {
            out.push_str(&format!(
                "  [{}] {}\n",
                if stage.done { "x" } else { " " },
                stage.name
            ));
            for left in &stage.left {
                out.push_str(&format!("        - {left}\n"));
            }
        }
        out.push_str(&format!(
            "\ndecision: {}\n  because: {}\nestimate: {}, {} ({})\n",
            ready.decision.recommendation.to_uppercase(),
            ready.decision.reasons.join("; "),
            ready.estimate.months,
            ready.estimate.cost_usd,
            ready.estimate.note
        ));
        out
    });
    Ok(())
}

/// The readiness assessment as a Markdown document.
fn readiness_markdown(answer: &ReadinessReport) -> String {
    let ready = &answer.readiness;
    let mut out = format!(
        "# Certification readiness{}\n\nCurrent stage: **{}**\n\n## Pathway\n\n",
        ready
            .organization
            .as_deref()
            .map(|name| format!(": {name}"))
            .unwrap_or_default(),
        ready.stage
    );
    for stage in &ready.stages {
        out.push_str(&format!(
            "- [{}] {}\n",
            if stage.done { "x" } else { " " },
            stage.name
        ));
        for left in &stage.left {
            out.push_str(&format!("  - {left}\n"));
        }
    }
    out.push_str(&format!(
        "\n## Decision\n\n{}\n\n{}\n\n## Estimate\n\n{}, {}. {}\n",
        ready.decision.recommendation,
        ready
            .decision
            .reasons
            .iter()
            .map(|reason| format!("- {reason}"))
            .collect::<Vec<_>>()
            .join("\n"),
        ready.estimate.months,
        ready.estimate.cost_usd,
        ready.estimate.note
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
            let answer: AddedDocument =
                client.call_as(Method::POST, &path, Some(("application/octet-stream", content)))?;
            print_as(cli.output, &answer, |answer| {
                format!(
                    "{} {} (sha256 {}, seq {}) for {}\n",
                    if answer.new { "kept" } else { "already kept:" },
                    answer.document.name,
                    answer.document.sha256,
                    answer.document.seq,
                    answer.document.controls.join(", ")
                )
            });
        }
        DocsCommand::List => {
            let answer: Items<Document> = client.get_as("/v1/documents")?;
            print_as(cli.output, &answer, |answer| {
                table(
                    &["sha256", "title", "controls", "added", "seq"],
                    answer
                        .items
                        .iter()
                        .map(|document| {
                            vec![
                                document.sha256.chars().take(16).collect(),
                                document.title.clone(),
                                document.controls.join(","),
                                warrant_core::event::format_time(&document.added_at),
                                document.seq.to_string(),
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
            let answer: AuditPlan = client.get_as("/v1/audits/plan")?;
            print_as(cli.output, &answer, |plan| {
                format!(
                    "INTERNAL AUDIT PLAN: sample {} evidence item(s) of each of {} implemented control(s) and verify their proofs; review {} control(s) not implemented\n\n{}\n{}",
                    plan.sample_per_control,
                    plan.sampled.len(),
                    plan.reviewed.len(),
                    table(
                        &["sampled control", "title", "owner"],
                        plan.sampled
                            .iter()
                            .map(|row| vec![row.control.clone(), row.title.clone(), row.owner.clone()])
                            .collect()
                    ),
                    table(
                        &["reviewed control", "title", "status", "owner"],
                        plan.reviewed
                            .iter()
                            .map(|row| vec![
                                row.control.clone(),
                                row.title.clone(),
                                words(row.status.as_str()),
                                row.owner.clone()
                            ])
                            .collect()
                    )
                )
            });
        }
        AuditCommand::Run { n, seed } => {
            let body = RunAudit {
                n: Some(*n),
                seed: *seed,
            };
            let answer: AuditReport = client.post_as("/v1/audits/run", &body)?;
            print_as(cli.output, &answer, render_audit);
        }
        AuditCommand::Ncs => {
            let answer: Items<Nonconformity> = client.get_as("/v1/nonconformities")?;
            print_as(cli.output, &answer, |answer| {
                table(
                    &["nonconformity", "grade", "status", "owner", "due", "finding"],
                    answer
                        .items
                        .iter()
                        .map(|nc| {
                            vec![
                                nc.id.clone(),
                                nc.grade.as_str().to_owned(),
                                nc.status.as_str().to_owned(),
                                nc.owner.clone(),
                                nc.due.to_string(),
                                nc.finding.clone(),
                            ]
                        })
                        .collect(),
                )
            });
        }
        AuditCommand::Close { id, action } => {
            let body = CloseNonconformity {
                action: action.clone(),
            };
            let answer: Nonconformity =
                client.post_as(&format!("/v1/nonconformities/{}/close", encode(id)), &body)?;
            print_as(cli.output, &answer, |nc| {
                format!("{} closed: {}\n", nc.id, shown(nc.closure.as_deref()))
            });
        }
        AuditCommand::List => {
            let answer: Items<AuditReport> = client.get_as("/v1/audits")?;
            print_as(cli.output, &answer, |answer| {
                table(
                    &["audit", "at", "checkpoint", "verified", "nonconformities"],
                    answer
                        .items
                        .iter()
                        .map(|audit| {
                            vec![
                                shown(audit.id.as_deref()),
                                shown(audit.at.as_deref()),
                                audit.checkpoint.size.to_string(),
                                audit.summary.items_verified.to_string(),
                                audit.summary.nonconformities.to_string(),
                            ]
                        })
                        .collect(),
                )
            });
        }
    }
    Ok(())
}

fn render_audit(report: &AuditReport) -> String {
    let mut out = format!(
        "INTERNAL AUDIT {} ({}), checkpoint {} (seed {})\n  {} control(s) sampled, {} evidence item(s) verified; {} nonconformity(ies): {} major, {} minor\n\nNONCONFORMITIES (10.2: corrective actions with owners and due dates)\n",
        shown(report.id.as_deref()),
        shown(report.at.as_deref()),
        report.checkpoint.size,
        report.seed,
        report.summary.controls_sampled,
        report.summary.items_verified,
        report.summary.nonconformities,
        report.summary.major,
        report.summary.minor,
    );
    for nc in &report.nonconformities {
        out.push_str(&format!(
            "  {} [{}] {}: {}\n      action: {} (owner {}, due {})\n",
            nc.id,
            nc.grade.as_str(),
            nc.control,
            nc.finding,
            nc.corrective_action,
            nc.owner,
            nc.due
        ));
    }
    let review = &report.management_review;
    out.push_str(&format!(
        "\nMANAGEMENT REVIEW INPUTS (9.3.2): {} registry change(s) since the previous audit; {} incident(s) ({} open); {} risk(s) ({} open)\n",
        review.changes_since_previous,
        review.incidents.total,
        review.incidents.open,
        review.risks.total,
        review.risks.open,
    ));
    for opportunity in &review.opportunities {
        out.push_str(&format!("  - {opportunity}\n"));
    }
    out
}

pub fn evidence(cli: &Cli, client: &Client, command: &EvidenceCommand) -> Result<(), Failure> {
    match command {
        EvidenceCommand::Sample { control, n, seed } => {
            let answer: EvidenceSample = client.get_as(&format!(
                "/v1/compliance/sample?control={}&n={n}&seed={seed}",
                encode(control)
            ))?;
            print_as(cli.output, &answer, |sample| {
                let mut out = format!(
                    "{} evidence item(s) of {} (seed {}), proofs to checkpoint {}\n",
                    sample.items.len(),
                    sample.control,
                    sample.seed,
                    sample.checkpoint.size
                );
                out.push_str(&table(
                    &["seq", "kind", "agent", "time", "proof"],
                    sample
                        .items
                        .iter()
                        .map(|item| {
                            // The event body is the log's own format, carried as free JSON.
                            vec![
                                item.seq.to_string(),
                                text(&item.event, "/kind"),
                                text(&item.event, "/agent"),
                                text(&item.event, "/time"),
                                if item.verified { "verified" } else { "FAILED" }.to_owned(),
                            ]
                        })
                        .collect(),
                ));
                out
            });
            if answer.items.iter().any(|item| !item.verified) {
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
            let answer: EvidenceCount = client.get_as(&path)?;
            print_as(cli.output, &answer, |answer| {
                format!(
                    "{} {}: {} event(s) (seqs {} to {})\n",
                    answer.control,
                    shown(answer.title.as_deref()),
                    answer.count,
                    shown(answer.first_seq),
                    shown(answer.last_seq)
                )
            });
        }
    }
    Ok(())
}
