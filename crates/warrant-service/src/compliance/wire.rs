//! The compliance engine's domain types (`warrant_core::compliance`, the store's documents) as the API answers
//! them (`warrant_api::compliance`), field for field.

use warrant_api::compliance as api;
use warrant_core::compliance::audit::{Grade, NcStatus, Nonconformity};
use warrant_core::compliance::catalog::Applies;
use warrant_core::compliance::report::{
    AreaRow, ArticleRow, Counts, CrosswalkReport, Decision, DocumentRef, Estimate, GapRow, Gaps,
    Implementation, Readiness, SoaRow, Stage, SupportRow, TaskRow,
};
use warrant_core::compliance::rules::{EvidenceRef, Met, RuleResult};

pub fn implementation(status: Implementation) -> api::Implementation {
    match status {
        Implementation::Implemented => api::Implementation::Implemented,
        Implementation::Partial => api::Implementation::Partial,
        Implementation::Planned => api::Implementation::Planned,
        Implementation::NotStarted => api::Implementation::NotStarted,
        Implementation::Excluded => api::Implementation::Excluded,
    }
}

pub fn met(met: Met) -> api::Met {
    match met {
        Met::Missing => api::Met::Missing,
        Met::Partial => api::Met::Partial,
        Met::Implemented => api::Met::Implemented,
    }
}

fn evidence_ref(evidence: &EvidenceRef) -> api::EvidenceRef {
    api::EvidenceRef {
        count: evidence.count,
        latest: evidence.latest.clone(),
        seqs: evidence.seqs.clone(),
    }
}

pub fn rule_result(result: &RuleResult) -> api::RuleResult {
    api::RuleResult {
        rule: result.rule.clone(),
        control: result.control.clone(),
        met: met(result.met),
        reason: result.reason.clone(),
        next_step: result.next_step.clone(),
        evidence: evidence_ref(&result.evidence),
    }
}

pub fn soa_row(row: &SoaRow) -> api::SoaRow {
    api::SoaRow {
        control: row.control.clone(),
        title: row.title.clone(),
        objective: row.objective.clone(),
        objective_title: row.objective_title.clone(),
        applicable: row.applicable,
        justification: row.justification.clone(),
        decided: row.decided.to_owned(),
        status: implementation(row.status),
        owner: row.owner.clone(),
        plan: row.plan.clone(),
        target_date: row.target_date,
        evidence_count: row.evidence_count,
        latest_seq: row.latest_seq,
        sample_seqs: row.sample_seqs.clone(),
        rules: row.rules.iter().map(rule_result).collect(),
        iso27001: row.iso27001,
    }
}

pub fn counts(counts: &Counts) -> api::Counts {
    api::Counts {
        have: counts.have,
        partial: counts.partial,
        missing: counts.missing,
        excluded: counts.excluded,
    }
}

fn gap_row(row: &GapRow) -> api::GapRow {
    api::GapRow {
        id: row.id.clone(),
        title: row.title.clone(),
        gap: row.gap.to_owned(),
        status: implementation(row.status),
        reason: row.reason.clone(),
        next_step: row.next_step.clone(),
        covered_by_iso27001: row.covered_by_iso27001,
    }
}

fn area_row(area: &AreaRow) -> api::AreaRow {
    api::AreaRow {
        id: area.id.clone(),
        title: area.title.clone(),
        have: area.have,
        partial: area.partial,
        missing: area.missing,
        agents_add: area.agents_add.clone(),
    }
}

pub fn gaps(gaps: &Gaps) -> api::Gaps {
    api::Gaps {
        controls_summary: counts(&gaps.controls_summary),
        clauses_summary: counts(&gaps.clauses_summary),
        iso27001_declared: gaps.iso27001_declared,
        controls: gaps.controls.iter().map(gap_row).collect(),
        clauses: gaps.clauses.iter().map(gap_row).collect(),
        agent_areas: gaps.agent_areas.iter().map(area_row).collect(),
    }
}

/// The gap report's two summaries.
pub fn gap_summary(gaps: &Gaps) -> api::GapSummary {
    api::GapSummary {
        controls: counts(&gaps.controls_summary),
        clauses: counts(&gaps.clauses_summary),
    }
}

fn document_ref(document: &DocumentRef) -> api::DocumentRef {
    api::DocumentRef {
        sha256: document.sha256.clone(),
        title: document.title.clone(),
        seq: document.seq,
    }
}

fn support_row(support: &SupportRow) -> api::SupportRow {
    api::SupportRow {
        reference: support.reference.clone(),
        title: support.title.clone(),
        strength: support.strength.clone(),
        why: support.why.clone(),
        status: implementation(support.status),
    }
}

fn applies(applies: &Applies) -> api::Applies {
    api::Applies {
        category: applies.category.clone(),
        original: applies.original,
        amended: applies.amended,
        note: applies.note.clone(),
    }
}

fn article_row(article: &ArticleRow) -> api::ArticleRow {
    api::ArticleRow {
        article: article.article.clone(),
        title: article.title.clone(),
        coverage: article.coverage.to_owned(),
        applies: article.applies.iter().map(applies).collect(),
        supports: article.supports.iter().map(support_row).collect(),
        not_covered: article.not_covered.clone(),
    }
}

fn task_row(task: &TaskRow) -> api::TaskRow {
    api::TaskRow {
        id: task.id.clone(),
        article: task.article.clone(),
        title: task.title.clone(),
        description: task.description.clone(),
        applies_to: task.applies_to.clone(),
        owner: task.owner.clone(),
        due: task.due,
        status: task.status.clone(),
        overdue: task.overdue,
        check: task.check.clone(),
        documents: task.documents.iter().map(document_ref).collect(),
        evidence: task.evidence.clone(),
    }
}

pub fn crosswalk(report: &CrosswalkReport) -> api::Crosswalk {
    api::Crosswalk {
        note: report.note.clone(),
        regulation: report.regulation.clone(),
        amended_by: report.amended_by.clone(),
        articles: report.articles.iter().map(article_row).collect(),
        tasks: report.tasks.iter().map(task_row).collect(),
    }
}

fn stage(stage: &Stage) -> api::Stage {
    api::Stage {
        name: stage.name.to_owned(),
        done: stage.done,
        left: stage.left.clone(),
    }
}

fn decision(decision: &Decision) -> api::Decision {
    api::Decision {
        recommendation: decision.recommendation.to_owned(),
        reasons: decision.reasons.clone(),
    }
}

fn estimate(estimate: &Estimate) -> api::Estimate {
    api::Estimate {
        ai_systems: estimate.ai_systems,
        months: estimate.months.clone(),
        cost_usd: estimate.cost_usd.clone(),
        note: estimate.note.clone(),
    }
}

pub fn readiness(readiness: &Readiness) -> api::Readiness {
    api::Readiness {
        organization: readiness.organization.clone(),
        stage: readiness.stage.to_owned(),
        stages: readiness.stages.iter().map(stage).collect(),
        decision: decision(&readiness.decision),
        estimate: estimate(&readiness.estimate),
    }
}

pub fn document(document: &warrant_store::Document) -> api::Document {
    api::Document {
        sha256: document.sha256.clone(),
        name: document.name.clone(),
        title: document.title.clone(),
        controls: document.controls.clone(),
        size: document.size,
        added_at: document.added_at,
        added_by: document.added_by.clone(),
        seq: document.seq,
    }
}

pub fn grade(grade: Grade) -> api::Grade {
    match grade {
        Grade::Major => api::Grade::Major,
        Grade::Minor => api::Grade::Minor,
    }
}

pub fn nc_status(status: NcStatus) -> api::NcStatus {
    match status {
        NcStatus::Open => api::NcStatus::Open,
        NcStatus::Closed => api::NcStatus::Closed,
    }
}

pub fn nonconformity(nc: &Nonconformity) -> api::Nonconformity {
    api::Nonconformity {
        id: nc.id.clone(),
        control: nc.control.clone(),
        grade: grade(nc.grade),
        finding: nc.finding.clone(),
        corrective_action: nc.corrective_action.clone(),
        owner: nc.owner.clone(),
        due: nc.due,
        status: nc_status(nc.status),
        opened_at: nc.opened_at,
        raised_in: nc.raised_in.clone(),
        reopened_at: nc.reopened_at,
        closed_at: nc.closed_at,
        closed_by: nc.closed_by.clone(),
        closure: nc.closure.clone(),
    }
}
