//! The documents the compliance engine builds from the catalogs, the registry and the evidence rules' results:
//! the Statement of Applicability (one row per Annex A control), the gap report (per control, per clause and
//! per agent-governance area), the EU AI Act crosswalk (with the obligations ISO/IEC 42001 does not cover,
//! tracked as tasks) and the certification readiness assessment. All pure: the caller gathers the facts.

mod crosswalk;
mod decision;
mod gaps;
mod readiness;
mod soa;

pub use crosswalk::{
    ArticleRow, CrosswalkReport, DocumentRef, MIN_LOG_RETENTION_DAYS, SupportRow, TaskRow, crosswalk,
    log_retention,
};
pub use decision::{Decision, Estimate, decide, estimate};
pub use gaps::{AreaRow, Counts, GapRow, Gaps, gaps};
pub use readiness::{Readiness, ReadinessFacts, Stage, readiness};
pub use soa::{SoaRow, soa};

use std::collections::BTreeMap;
use warrant_log::Seq;

use super::catalog::Catalog;
use super::rules::{EvidenceRule, Met, RuleResult};
use crate::registry::Registry;
use crate::registry::manifest::{Applicability, Kind, Manifest};

/// Where a control or clause stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexEntry {
    pub count: u64,
    pub first_seq: Option<Seq>,
    pub last_seq: Option<Seq>,
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
