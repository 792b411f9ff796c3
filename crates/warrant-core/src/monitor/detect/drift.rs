//! Decision drift: the outcome distribution of each (agent, decision) in the current window against the
//! baseline, by PSI, Jensen-Shannon distance and a chi-square test.

use std::collections::{BTreeMap, BTreeSet};
use warrant_log::Seq;

use super::{ChiSquareJson, DecisionRow, Window, Windows, round, samples};
use crate::monitor::stats::{chi_square, js_distance, psi};

#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    pub agent: String,
    pub decision: String,
    pub outcomes: Vec<String>,
    pub baseline: Vec<u64>,
    pub current: Vec<u64>,
    /// `ok`, or `insufficient_data` (then no statistics are given).
    pub status: &'static str,
    pub psi: Option<f64>,
    pub js_distance: Option<f64>,
    pub chi_square: Option<ChiSquareJson>,
    /// `none`, `moderate` (PSI ≥ 0.1) or `significant` (PSI ≥ 0.25).
    pub level: &'static str,
    /// Seqs of recent decisions in the current window, for the trail.
    pub samples: Vec<Seq>,
}

/// Outcome distribution of each (agent, decision) in the current window against the baseline.
pub fn drift(rows: &[DecisionRow], windows: &Windows, min_samples: u64) -> Vec<Drift> {
    let mut groups: BTreeMap<(&str, &str), Vec<&DecisionRow>> = BTreeMap::new();
    for row in rows {
        groups.entry((&row.agent, &row.name)).or_default().push(row);
    }
    groups
        .into_iter()
        .filter_map(|((agent, decision), rows)| {
            let outcomes: BTreeSet<&str> = rows.iter().map(|row| row.outcome.as_str()).collect();
            let outcomes: Vec<&str> = outcomes.into_iter().collect();
            let counts = |window: &Window| -> Vec<u64> {
                outcomes
                    .iter()
                    .map(|outcome| {
                        rows.iter()
                            .filter(|row| row.outcome == *outcome && window.contains(row.hour))
                            .map(|row| row.count)
                            .sum()
                    })
                    .collect()
            };
            let (baseline, current) = (counts(&windows.baseline), counts(&windows.current));
            let (base_total, current_total) = (baseline.iter().sum::<u64>(), current.iter().sum::<u64>());
            if current_total == 0 {
                return None;
            }
            let samples = samples(
                rows.iter()
                    .copied()
                    .filter(|row| windows.current.contains(row.hour)),
            );
            let mut drift = Drift {
                agent: agent.to_owned(),
                decision: decision.to_owned(),
                outcomes: outcomes.iter().map(|outcome| (*outcome).to_owned()).collect(),
                baseline,
                current,
                status: "insufficient_data",
                psi: None,
                js_distance: None,
                chi_square: None,
                level: "none",
                samples,
            };
            if base_total < min_samples || current_total < min_samples {
                return Some(drift);
            }
            let (b, c) = (floats(&drift.baseline), floats(&drift.current));
            let index = psi(&b, &c);
            drift.status = "ok";
            drift.psi = Some(round(index, 4));
            drift.js_distance = Some(round(js_distance(&b, &c), 4));
            drift.chi_square = chi_square(&[b, c]).map(ChiSquareJson::from);
            drift.level = if index >= 0.25 {
                "significant"
            } else if index >= 0.1 {
                "moderate"
            } else {
                "none"
            };
            Some(drift)
        })
        .collect()
}

fn floats(counts: &[u64]) -> Vec<f64> {
    counts.iter().map(|count| *count as f64).collect()
}
