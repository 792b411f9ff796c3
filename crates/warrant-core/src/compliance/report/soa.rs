//! The Statement of Applicability: one row per Annex A control, with its applicability decision, status,
//! owner, plan and evidence.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::NaiveDate;

use super::{Implementation, IndexEntry, applicability, results_by_id, status_of};
use crate::compliance::catalog::Catalog;
use crate::compliance::rules::RuleResult;
use crate::registry::Registry;

/// One row of the Statement of Applicability.
#[derive(Debug, Clone, PartialEq)]
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
    pub latest_seq: Option<Seq>,
    /// A few evidence seqs to look at (from the rules, else the index).
    pub sample_seqs: Vec<Seq>,
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
            let mut samples: Vec<Seq> = found
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
