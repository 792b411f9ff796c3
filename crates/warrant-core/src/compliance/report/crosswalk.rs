//! The EU AI Act crosswalk: each article with the support ISO/IEC 42001 gives it and that support's live
//! status, and the obligations it does not cover, tracked as tasks.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::NaiveDate;

use super::{Implementation, statuses};
use crate::compliance::catalog::Catalog;
use crate::compliance::rules::RuleResult;
use crate::registry::Registry;
use crate::registry::manifest::{Kind, Manifest, Obligation, ObligationStatus, Organization};

/// A document as the crosswalk lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRef {
    pub sha256: String,
    pub title: String,
    pub seq: Seq,
}

/// One support link of an article, with the live status of the ISO item.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportRow {
    pub reference: String,
    pub title: String,
    pub strength: String,
    pub why: String,
    pub status: Implementation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArticleRow {
    pub article: String,
    pub title: String,
    /// The strongest support ISO/IEC 42001 gives: strong, moderate or none.
    pub coverage: &'static str,
    pub applies: Vec<crate::compliance::catalog::Applies>,
    pub supports: Vec<SupportRow>,
    pub not_covered: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
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
