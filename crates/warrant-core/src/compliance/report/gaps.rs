//! The gap report: what the organisation has, has in part or misses, per control, per clause and per
//! agent-governance area.

use super::{Implementation, applicability, results_by_id, status_of, statuses};
use crate::compliance::catalog::Catalog;
use crate::compliance::rules::{Met, RuleResult};
use crate::registry::Registry;

/// One line of the gap report.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct AreaRow {
    pub id: String,
    pub title: String,
    pub have: usize,
    pub partial: usize,
    pub missing: usize,
    pub agents_add: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
