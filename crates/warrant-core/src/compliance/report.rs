//! The documents the compliance engine builds from the catalogs, the registry and the evidence rules' results:
//! the Statement of Applicability (one row per Annex A control), the gap report (per control, per clause and
//! per agent-governance area), the EU AI Act crosswalk (with the obligations ISO/IEC 42001 does not cover,
//! tracked as tasks) and the certification readiness assessment. All pure: the caller gathers the facts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::catalog::Catalog;
use super::rules::{EvidenceRule, Met, RuleResult};
use crate::registry::Registry;
use crate::registry::manifest::{Applicability, Kind, Manifest, Obligation, ObligationStatus, Organization};

/// Where a control or clause stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Implementation {
    Implemented,
    Partial,
    Planned,
    NotStarted,
    Excluded,
}

impl Implementation {
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Implemented => "implemented",
            Implementation::Partial => "partial",
            Implementation::Planned => "planned",
            Implementation::NotStarted => "not_started",
            Implementation::Excluded => "excluded",
        }
    }

    /// The gap report's words: have, partial, missing (or excluded).
    pub fn gap(self) -> &'static str {
        match self {
            Implementation::Implemented => "have",
            Implementation::Partial => "partial",
            Implementation::Planned | Implementation::NotStarted => "missing",
            Implementation::Excluded => "excluded",
        }
    }
}

/// What the evidence index holds for one control: tagged events, all time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexEntry {
    pub count: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

/// The built-in rules and the user's `EvidenceRule` manifests; a user rule with a built-in's id replaces it.
pub fn all_rules(catalog: &Catalog, registry: &Registry) -> Vec<EvidenceRule> {
    let mut rules: BTreeMap<String, EvidenceRule> = catalog
        .rules
        .iter()
        .map(|rule| (rule.id.clone(), rule.clone()))
        .collect();
    for manifest in registry.list(Kind::EvidenceRule) {
        if let Manifest::EvidenceRule(rule) = manifest {
            rules.insert(rule.id.clone(), rule.clone());
        }
    }
    rules.into_values().collect()
}

fn applicability<'a>(registry: &'a Registry, control: &str) -> Option<&'a Applicability> {
    match registry.get(Kind::Applicability, control) {
        Some(Manifest::Applicability(row)) => Some(row),
        _ => None,
    }
}

/// The status of `id` from the rules' results for it.
pub fn status_of(results: &[&RuleResult], planned: bool) -> Implementation {
    if results.is_empty() {
        return if planned {
            Implementation::Planned
        } else {
            Implementation::NotStarted
        };
    }
    if results.iter().all(|result| result.met == Met::Implemented) {
        Implementation::Implemented
    } else if results.iter().any(|result| result.met != Met::Missing) {
        Implementation::Partial
    } else if planned {
        Implementation::Planned
    } else {
        Implementation::NotStarted
    }
}

fn results_by_id(results: &[RuleResult]) -> BTreeMap<&str, Vec<&RuleResult>> {
    let mut by_id: BTreeMap<&str, Vec<&RuleResult>> = BTreeMap::new();
    for result in results {
        by_id.entry(result.control.as_str()).or_default().push(result);
    }
    by_id
}

/// The status of every control, clause and article the results name, with applicability applied.
pub fn statuses(registry: &Registry, results: &[RuleResult]) -> BTreeMap<String, Implementation> {
    let by_id = results_by_id(results);
    let mut out = BTreeMap::new();
    for (id, found) in &by_id {
        let row = applicability(registry, id);
        let status = if row.is_some_and(|row| !row.applicable) {
            Implementation::Excluded
        } else {
            status_of(found, row.is_some_and(|row| row.plan.is_some()))
        };
        out.insert((*id).to_owned(), status);
    }
    out
}

/// One row of the Statement of Applicability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoaRow {
    pub control: String,
    pub title: String,
    pub objective: String,
    pub objective_title: String,
    pub applicable: bool,
    pub justification: String,
    /// `declared` (an `Applicability` manifest) or `default` (not yet decided: applicable).
    pub decided: &'static str,
    pub status: Implementation,
    pub owner: String,
    pub plan: Option<String>,
    pub target_date: Option<NaiveDate>,
    /// Events tagged with the control (the evidence index), and the latest.
    pub evidence_count: u64,
    pub latest_seq: Option<u64>,
    /// A few evidence seqs to look at (from the rules, else the index).
    pub sample_seqs: Vec<u64>,
    pub rules: Vec<RuleResult>,
    /// An ISO/IEC 27001 management system usually carries much of it.
    pub iso27001: bool,
}

/// The Statement of Applicability: the 38 Annex A controls in catalog order.
pub fn soa(
    catalog: &Catalog,
    registry: &Registry,
    results: &[RuleResult],
    index: &BTreeMap<String, IndexEntry>,
) -> Vec<SoaRow> {
    let by_id = results_by_id(results);
    let objectives = catalog.objectives();
    catalog
        .iso
        .controls
        .iter()
        .map(|control| {
            let row = applicability(registry, &control.id);
            let found = by_id.get(control.id.as_str()).cloned().unwrap_or_default();
            let applicable = row.is_none_or(|row| row.applicable);
            let status = if applicable {
                status_of(&found, row.is_some_and(|row| row.plan.is_some()))
            } else {
                Implementation::Excluded
            };
            let entry = index.get(&control.id).cloned().unwrap_or_default();
            let mut samples: Vec<u64> = found
                .iter()
                .flat_map(|result| result.evidence.seqs.iter().copied())
                .collect();
            samples.sort_unstable_by(|a, b| b.cmp(a));
            samples.dedup();
            samples.truncate(5);
            SoaRow {
                control: control.id.clone(),
                title: control.title.clone(),
                objective: control.objective.clone(),
                objective_title: objectives
                    .get(control.objective.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_owned(),
                applicable,
                justification: row.map_or_else(
                    || "applicable by default: no decision recorded yet".to_owned(),
                    |row| row.justification.clone(),
                ),
                decided: if row.is_some() { "declared" } else { "default" },
                status,
                owner: row
                    .and_then(|row| row.owner.clone())
                    .unwrap_or_else(|| "unassigned".into()),
                plan: row.and_then(|row| row.plan.clone()),
                target_date: row.and_then(|row| row.target_date),
                evidence_count: entry.count,
                latest_seq: entry.last_seq,
                sample_seqs: if applicable { samples } else { Vec::new() },
                rules: if applicable {
                    found.into_iter().cloned().collect()
                } else {
                    Vec::new()
                },
                iso27001: control.iso27001,
            }
        })
        .collect()
}

/// One line of the gap report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapRow {
    pub id: String,
    pub title: String,
    /// `have`, `partial`, `missing` or `excluded`.
    pub gap: &'static str,
    pub status: Implementation,
    pub reason: String,
    pub next_step: Option<String>,
    /// The organisation holds ISO/IEC 27001 and its ISMS usually carries this.
    pub covered_by_iso27001: bool,
}

/// An agent-governance area and how its controls stand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaRow {
    pub id: String,
    pub title: String,
    pub have: usize,
    pub partial: usize,
    pub missing: usize,
    pub agents_add: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub have: usize,
    pub partial: usize,
    pub missing: usize,
    pub excluded: usize,
}

impl Counts {
    fn add(&mut self, gap: &str) {
        match gap {
            "have" => self.have += 1,
            "partial" => self.partial += 1,
            "excluded" => self.excluded += 1,
            _ => self.missing += 1,
        }
    }
}

/// The gap report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gaps {
    pub controls_summary: Counts,
    pub clauses_summary: Counts,
    pub iso27001_declared: bool,
    pub controls: Vec<GapRow>,
    pub clauses: Vec<GapRow>,
    /// What agents add on top of ISO/IEC 42001, counted separately.
    pub agent_areas: Vec<AreaRow>,
}

fn gap_row(
    id: &str,
    title: &str,
    status: Implementation,
    found: &[&RuleResult],
    iso27001: bool,
    declared_27001: bool,
) -> GapRow {
    let open: Vec<&&RuleResult> = found
        .iter()
        .filter(|result| result.met != Met::Implemented)
        .collect();
    let reason = if status == Implementation::Excluded {
        "excluded in the Statement of Applicability".to_owned()
    } else if found.is_empty() {
        "no evidence rule covers it yet".to_owned()
    } else if open.is_empty() {
        found
            .iter()
            .map(|result| result.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        open.iter()
            .map(|result| result.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let next_step = if found.is_empty() && status != Implementation::Excluded {
        Some(format!(
            "attach its documented information (`warrant docs add FILE --control {id}`) or add an evidence rule"
        ))
    } else {
        let mut steps: Vec<String> = open
            .iter()
            .filter_map(|result| result.next_step.clone())
            .collect();
        steps.dedup();
        (!steps.is_empty()).then(|| steps.join(" "))
    };
    GapRow {
        id: id.to_owned(),
        title: title.to_owned(),
        gap: status.gap(),
        status,
        reason,
        next_step,
        covered_by_iso27001: declared_27001 && iso27001,
    }
}

pub fn gaps(catalog: &Catalog, registry: &Registry, results: &[RuleResult]) -> Gaps {
    let by_id = results_by_id(results);
    let statuses = statuses(registry, results);
    let declared_27001 = registry.organization().is_some_and(|org| org.iso27001_certified);
    let status = |id: &str| {
        statuses.get(id).copied().unwrap_or_else(|| {
            let row = applicability(registry, id);
            if row.is_some_and(|row| !row.applicable) {
                Implementation::Excluded
            } else {
                status_of(&[], row.is_some_and(|row| row.plan.is_some()))
            }
        })
    };
    let mut controls_summary = Counts::default();
    let controls: Vec<GapRow> = catalog
        .iso
        .controls
        .iter()
        .map(|control| {
            let found = by_id.get(control.id.as_str()).cloned().unwrap_or_default();
            let row = gap_row(
                &control.id,
                &control.title,
                status(&control.id),
                &found,
                control.iso27001,
                declared_27001,
            );
            controls_summary.add(row.gap);
            row
        })
        .collect();
    let mut clauses_summary = Counts::default();
    let clauses: Vec<GapRow> = catalog
        .requirement_clauses()
        .into_iter()
        .map(|clause| {
            let found = by_id.get(clause.id.as_str()).cloned().unwrap_or_default();
            let row = gap_row(
                &clause.id,
                &clause.title,
                status_of(&found, false),
                &found,
                clause.iso27001,
                declared_27001,
            );
            clauses_summary.add(row.gap);
            row
        })
        .collect();
    let agent_areas = catalog
        .areas
        .areas
        .iter()
        .map(|area| {
            let mut counts = Counts::default();
            for reference in &area.refs {
                let found = by_id.get(reference.as_str()).cloned().unwrap_or_default();
                let state = if catalog.control(reference).is_some() {
                    status(reference)
                } else {
                    status_of(&found, false)
                };
                counts.add(state.gap());
            }
            AreaRow {
                id: area.id.clone(),
                title: area.title.clone(),
                have: counts.have,
                partial: counts.partial,
                missing: counts.missing,
                agents_add: area.agents_add.clone(),
            }
        })
        .collect();
    Gaps {
        controls_summary,
        clauses_summary,
        iso27001_declared: declared_27001,
        controls,
        clauses,
        agent_areas,
    }
}

/// A document as the crosswalk lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentRef {
    pub sha256: String,
    pub title: String,
    pub seq: u64,
}

/// One support link of an article, with the live status of the ISO item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupportRow {
    pub reference: String,
    pub title: String,
    pub strength: String,
    pub why: String,
    pub status: Implementation,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArticleRow {
    pub article: String,
    pub title: String,
    /// The strongest support ISO/IEC 42001 gives: strong, moderate or none.
    pub coverage: &'static str,
    pub applies: Vec<super::catalog::Applies>,
    pub supports: Vec<SupportRow>,
    pub not_covered: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub article: String,
    pub title: String,
    pub description: String,
    pub applies_to: Vec<String>,
    pub owner: Option<String>,
    pub due: Option<NaiveDate>,
    pub status: String,
    pub overdue: bool,
    /// For log retention: the check against the configured retention.
    pub check: Option<String>,
    pub documents: Vec<DocumentRef>,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrosswalkReport {
    pub note: String,
    pub regulation: String,
    pub amended_by: String,
    pub articles: Vec<ArticleRow>,
    pub tasks: Vec<TaskRow>,
}

/// The status of `id`; a heading (7.5, 9.2 ...) or a whole clause takes its sub-clauses' statuses together.
fn rolled_up(catalog: &Catalog, statuses: &BTreeMap<String, Implementation>, id: &str) -> Implementation {
    if let Some(status) = statuses.get(id) {
        return *status;
    }
    let prefix = format!("{id}.");
    let children: Vec<Implementation> = catalog
        .requirement_clauses()
        .iter()
        .filter(|clause| clause.id.starts_with(&prefix))
        .map(|clause| {
            statuses
                .get(&clause.id)
                .copied()
                .unwrap_or(Implementation::NotStarted)
        })
        .collect();
    if children.is_empty() {
        Implementation::NotStarted
    } else if children
        .iter()
        .all(|status| *status == Implementation::Implemented)
    {
        Implementation::Implemented
    } else if children
        .iter()
        .any(|status| matches!(status, Implementation::Implemented | Implementation::Partial))
    {
        Implementation::Partial
    } else {
        Implementation::NotStarted
    }
}

/// Six months of logs, the least Arts. 19 and 26(6) allow (183 days).
pub const MIN_LOG_RETENTION_DAYS: u32 = 183;

pub fn crosswalk(
    catalog: &Catalog,
    registry: &Registry,
    results: &[RuleResult],
    documents: &[(DocumentRef, Vec<String>)],
    today: NaiveDate,
) -> CrosswalkReport {
    let statuses = statuses(registry, results);
    let status = |id: &str| rolled_up(catalog, &statuses, id);
    let articles = catalog
        .crosswalk
        .articles
        .iter()
        .map(|map| {
            let article = catalog.article(&map.article);
            let coverage = if map.supports.iter().any(|support| support.strength == "strong") {
                "strong"
            } else if map.supports.is_empty() {
                "none"
            } else {
                "moderate"
            };
            ArticleRow {
                article: map.article.clone(),
                title: article.map(|article| article.title.clone()).unwrap_or_default(),
                coverage,
                applies: article.map(|article| article.applies.clone()).unwrap_or_default(),
                supports: map
                    .supports
                    .iter()
                    .map(|support| SupportRow {
                        reference: support.reference.clone(),
                        title: catalog.title(&support.reference).unwrap_or_default().to_owned(),
                        strength: support.strength.clone(),
                        why: support.why.clone(),
                        status: status(&support.reference),
                    })
                    .collect(),
                not_covered: map.not_covered.clone(),
            }
        })
        .collect();
    let obligations: BTreeMap<&str, &Obligation> = registry
        .list(Kind::Obligation)
        .filter_map(|manifest| match manifest {
            Manifest::Obligation(obligation) => Some((obligation.id.as_str(), obligation)),
            _ => None,
        })
        .collect();
    let tasks = catalog
        .crosswalk
        .tasks
        .iter()
        .map(|task| {
            let obligation = obligations.get(task.id.as_str());
            let check = (task.id == "log-retention").then(|| log_retention(registry.organization()));
            let status = match obligation.map(|obligation| obligation.status) {
                Some(ObligationStatus::Done) => "done",
                Some(ObligationStatus::InProgress) => "in_progress",
                Some(ObligationStatus::NotApplicable) => "not_applicable",
                Some(ObligationStatus::Open) => "open",
                None => "untracked",
            };
            let finished = matches!(status, "done" | "not_applicable");
            TaskRow {
                id: task.id.clone(),
                article: task.article.clone(),
                title: task.title.clone(),
                description: task.description.clone(),
                applies_to: task.applies_to.clone(),
                owner: obligation.map(|obligation| obligation.owner.clone()),
                due: obligation.and_then(|obligation| obligation.due),
                status: status.to_owned(),
                overdue: !finished
                    && obligation
                        .and_then(|obligation| obligation.due)
                        .is_some_and(|due| due < today),
                check,
                documents: documents
                    .iter()
                    .filter(|(_, refs)| {
                        refs.iter()
                            .any(|reference| *reference == task.article || *reference == task.id)
                    })
                    .map(|(document, _)| document.clone())
                    .collect(),
                evidence: task.evidence.clone(),
            }
        })
        .collect();
    CrosswalkReport {
        note: catalog.crosswalk.note.clone(),
        regulation: catalog.eu.regulation.clone(),
        amended_by: catalog.eu.amended_by.clone(),
        articles,
        tasks,
    }
}

/// The configured log retention against the six months the Act requires.
pub fn log_retention(organization: Option<&Organization>) -> String {
    match organization.and_then(|org| org.log_retention_days) {
        None => "not configured: set `log_retention_days` on the Organization (at least 183)".into(),
        Some(days) if days < MIN_LOG_RETENTION_DAYS => {
            format!("not met: logs are kept {days} days, less than six months ({MIN_LOG_RETENTION_DAYS})")
        }
        Some(days) => format!(
            "met: logs are kept {days} days (at least six months); warrant never deletes events, only erasable content"
        ),
    }
}

/// A stage of the certification pathway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: &'static str,
    pub done: bool,
    pub left: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// `pursue certification now`, `certify within 12 months` or `monitor and prepare`.
    pub recommendation: &'static str,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub ai_systems: usize,
    pub months: String,
    pub cost_usd: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    pub organization: Option<String>,
    /// The first stage not done.
    pub stage: &'static str,
    pub stages: Vec<Stage>,
    pub decision: Decision,
    pub estimate: Estimate,
}

/// What readiness reads beyond the gap report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadinessFacts {
    pub now: DateTime<Utc>,
    /// When the agents' first logged activity happened (event time): operating evidence needs a history.
    pub first_event: Option<DateTime<Utc>>,
    /// The latest internal audit and its open nonconformities.
    pub last_audit: Option<(DateTime<Utc>, usize)>,
    pub high_risk_agents: usize,
}

/// Operating evidence an auditor expects before stage 2.
const OPERATING_DAYS: i64 = 90;

pub fn readiness(catalog: &Catalog, registry: &Registry, gaps: &Gaps, facts: &ReadinessFacts) -> Readiness {
    let undecided = catalog
        .iso
        .controls
        .iter()
        .filter(|control| applicability(registry, &control.id).is_none())
        .count();
    let mut stages = Vec::new();
    let mut left = Vec::new();
    if undecided > 0 {
        left.push(format!(
            "{undecided} Annex A control(s) have no applicability decision (`kind: Applicability`)"
        ));
    }
    stages.push(Stage {
        name: "gap assessment",
        done: left.is_empty(),
        left,
    });
    let mut left = Vec::new();
    let open = |rows: &[GapRow]| {
        rows.iter()
            .filter(|row| matches!(row.gap, "partial" | "missing"))
            .map(|row| format!("{} {} ({})", row.id, row.title, row.gap))
            .collect::<Vec<_>>()
    };
    let open_controls = open(&gaps.controls);
    let open_clauses = open(&gaps.clauses);
    if !open_controls.is_empty() {
        left.push(format!(
            "{} control(s) not implemented: {}",
            open_controls.len(),
            first_few(&open_controls)
        ));
    }
    if !open_clauses.is_empty() {
        left.push(format!(
            "{} clause(s) not evidenced: {}",
            open_clauses.len(),
            first_few(&open_clauses)
        ));
    }
    stages.push(Stage {
        name: "control implementation",
        done: left.is_empty(),
        left,
    });
    let mut left = Vec::new();
    match facts.last_audit {
        None => left.push("no internal audit has run (`warrant audit run`)".into()),
        Some((at, _)) if facts.now - at > chrono::Duration::days(365) => {
            left.push(format!(
                "the latest internal audit ran {}, over a year ago",
                at.date_naive()
            ));
        }
        Some((_, open)) if open > 0 => left.push(format!(
            "{open} nonconformity(ies) from the internal audit are open"
        )),
        Some(_) => {}
    }
    stages.push(Stage {
        name: "internal audit",
        done: left.is_empty(),
        left,
    });
    let mut left = Vec::new();
    for id in ["4.3", "5.2", "6.1.2", "6.1.3", "6.1.4"] {
        if let Some(row) = gaps.clauses.iter().find(|row| row.id == id)
            && row.gap == "missing"
        {
            left.push(format!(
                "documented information for {id} {} is missing",
                row.title
            ));
        }
    }
    if undecided > 0 {
        left.push("the Statement of Applicability is not complete".into());
    }
    stages.push(Stage {
        name: "stage 1 audit (documentation review)",
        done: left.is_empty() && stages.iter().all(|stage| stage.done),
        left,
    });
    let mut left = Vec::new();
    let history = facts
        .first_event
        .map_or(0, |first| (facts.now - first).num_days());
    if history < OPERATING_DAYS {
        left.push(format!(
            "{history} day(s) of agent activity in the log (by event time); auditors expect about {OPERATING_DAYS}"
        ));
    }
    stages.push(Stage {
        name: "stage 2 audit (implementation)",
        done: left.is_empty() && stages.iter().all(|stage| stage.done),
        left,
    });
    stages.push(Stage {
        name: "surveillance",
        done: false,
        left: vec!["after certification: an audit every year, recertification in the third".into()],
    });
    let stage = stages
        .iter()
        .find(|stage| !stage.done)
        .map_or("surveillance", |stage| stage.name);
    let organization = registry.organization();
    let agents = registry
        .agents()
        .filter(|agent| agent.status == crate::registry::manifest::Status::Active)
        .count();
    let systems = agents + registry.list(Kind::AISystem).count();
    Readiness {
        organization: organization.map(|org| org.name.clone()),
        stage,
        stages,
        decision: decide(organization, agents, facts.high_risk_agents),
        estimate: estimate(systems, organization.is_some_and(|org| org.iso27001_certified)),
    }
}

fn first_few(items: &[String]) -> String {
    let mut shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
    if items.len() > 5 {
        shown.push("...");
    }
    shown.join(", ")
}

/// The certification decision from the organisation's profile.
pub fn decide(
    organization: Option<&Organization>,
    production_agents: usize,
    high_risk_agents: usize,
) -> Decision {
    let mut reasons = Vec::new();
    let Some(org) = organization else {
        return Decision {
            recommendation: "monitor and prepare",
            reasons: vec!["no Organization profile is declared (`kind: Organization`)".into()],
        };
    };
    if org.sells_ai_to_enterprises {
        reasons.push("enterprise customers ask for certification in procurement".into());
    }
    if org.regulated_industry {
        reasons.push("a regulated industry expects a certified AI management system".into());
    }
    if org.eu_customers {
        reasons.push(
            "the EU AI Act applies; ISO/IEC 42001 gives the management system its obligations hang on".into(),
        );
    }
    if high_risk_agents > 0 {
        reasons.push(format!("{high_risk_agents} high-risk agent(s) in production"));
    }
    reasons.push(format!("{production_agents} agent(s) in production"));
    let recommendation = if org.sells_ai_to_enterprises
        || (org.regulated_industry && org.eu_customers && high_risk_agents > 0)
    {
        "pursue certification now"
    } else if org.eu_customers || org.regulated_industry || production_agents >= 5 {
        "certify within 12 months"
    } else {
        "monitor and prepare"
    };
    Decision {
        recommendation,
        reasons,
    }
}

/// Timeline and cost by the number of AI systems in scope, less 20-30 % with ISO/IEC 27001: an estimate.
pub fn estimate(ai_systems: usize, iso27001: bool) -> Estimate {
    let (months, low, high, open_ended) = match ai_systems {
        0..5 => ("4-6", 15_000, 40_000, false),
        5..=20 => ("6-8", 40_000, 100_000, false),
        _ => ("6-9", 100_000, 200_000, true),
    };
    let money = |value: u64| format!("${}k", value / 1000);
    let (low, high) = if iso27001 {
        // 20-30 % less: the low end takes the larger saving, the high end the smaller.
        (low * 70 / 100, high * 80 / 100)
    } else {
        (low, high)
    };
    Estimate {
        ai_systems,
        months: format!("{months} months"),
        cost_usd: format!(
            "{}-{}{}",
            money(low),
            money(high),
            if open_ended { "+" } else { "" }
        ),
        note: format!(
            "an estimate for planning, not a quote: {ai_systems} AI system(s) in scope{}",
            if iso27001 {
                "; 20-30 % less because an ISO/IEC 27001 management system already carries the shared clauses"
            } else {
                ""
            }
        ),
    }
}
