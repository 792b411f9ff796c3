//! Segment disparity: outcome rates per segment value, now and in the baseline, and how far the segments'
//! relative treatment moved.

use std::collections::{BTreeMap, BTreeSet};
use warrant_log::Seq;

use super::{ChiSquareJson, DecisionRow, Windows, round, samples};
use crate::monitor::facts::segment_pairs;
use crate::monitor::stats::chi_square;

#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRates {
    pub value: String,
    pub total: u64,
    /// Outcome → share of this segment's decisions.
    pub rates: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub outcome: String,
    pub high: String,
    pub low: String,
    pub gap: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Disparity {
    pub agent: String,
    pub decision: String,
    /// The segment attribute compared, e.g. `client_value`.
    pub segment: String,
    pub status: &'static str,
    pub segments: Vec<SegmentRates>,
    /// Test of independence of segment and outcome in the current window.
    pub chi_square: Option<ChiSquareJson>,
    /// The largest difference in an outcome's rate between two segments, now.
    pub max_gap: Option<Gap>,
    /// The largest gap in the baseline window.
    pub baseline_gap: Option<f64>,
    /// How far the segments' relative treatment moved: the largest change, over outcomes and pairs of
    /// segment values, of the difference in that outcome's rate between the two (now against the baseline).
    /// A gap that was there all along (risk-based routing) does not count; a new one, or one that flipped,
    /// does.
    pub change: Option<f64>,
    /// Where that change is.
    pub shift: Option<Shift>,
    pub samples: Vec<Seq>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    pub outcome: String,
    /// The segment value whose rate rose relative to `low`.
    pub high: String,
    pub low: String,
    /// `rate(high) - rate(low)` now and in the baseline.
    pub now: f64,
    pub baseline: f64,
    /// The change's z-score: (now − baseline) over its standard error from the four rates and counts.
    pub z: f64,
}

/// Above this many values of one segment attribute, disparity is not computed: an id put in a segment would
/// make thousands of "segments" and pairwise comparisons that mean nothing.
pub const MAX_SEGMENT_VALUES: usize = 50;

/// For each (agent, decision, segment attribute): outcome rates per segment value, now and in the baseline.
pub fn disparity(rows: &[DecisionRow], windows: &Windows, min_samples: u64) -> Vec<Disparity> {
    // Segment value → outcome → count.
    type Counts = BTreeMap<String, BTreeMap<String, u64>>;
    // (agent, decision, segment key) → (current counts, baseline counts, current rows).
    type Groups<'a> = BTreeMap<(String, String, String), (Counts, Counts, Vec<&'a DecisionRow>)>;
    let mut groups: Groups<'_> = BTreeMap::new();
    for row in rows {
        let in_current = windows.current.contains(row.hour);
        if !in_current && !windows.baseline.contains(row.hour) {
            continue;
        }
        for (key, value) in segment_pairs(&row.segment) {
            let group = groups
                .entry((row.agent.clone(), row.name.clone(), key))
                .or_default();
            let counts = if in_current { &mut group.0 } else { &mut group.1 };
            *counts
                .entry(value)
                .or_default()
                .entry(row.outcome.clone())
                .or_default() += row.count;
            if in_current {
                group.2.push(row);
            }
        }
    }
    groups
        .into_iter()
        .filter_map(
            |((agent, decision, segment), (current, baseline, current_rows))| {
                let outcomes: BTreeSet<String> = current
                    .values()
                    .chain(baseline.values())
                    .flat_map(|by_outcome| by_outcome.keys().cloned())
                    .collect();
                let total = |counts: &Counts| -> u64 { counts.values().flat_map(|by| by.values()).sum() };
                if total(&current) == 0 {
                    return None;
                }
                let segments: Vec<SegmentRates> = current
                    .iter()
                    .map(|(value, by_outcome)| {
                        let sum: u64 = by_outcome.values().sum();
                        SegmentRates {
                            value: value.clone(),
                            total: sum,
                            rates: outcomes
                                .iter()
                                .map(|outcome| {
                                    let count = by_outcome.get(outcome).copied().unwrap_or(0);
                                    (outcome.clone(), round(count as f64 / sum.max(1) as f64, 4))
                                })
                                .collect(),
                        }
                    })
                    .collect();
                let mut disparity = Disparity {
                    agent,
                    decision,
                    segment,
                    status: "insufficient_data",
                    segments,
                    chi_square: None,
                    max_gap: None,
                    baseline_gap: None,
                    change: None,
                    shift: None,
                    samples: samples(current_rows.iter().copied()),
                };
                if disparity.segments.len() > MAX_SEGMENT_VALUES {
                    disparity.status = "too_many_segments";
                    disparity.segments.clear();
                    return Some(disparity);
                }
                if disparity.segments.len() < 2 || total(&current) < min_samples {
                    return Some(disparity);
                }
                disparity.status = "ok";
                let table: Vec<Vec<f64>> = current
                    .values()
                    .map(|by| {
                        outcomes
                            .iter()
                            .map(|outcome| by.get(outcome).copied().unwrap_or(0) as f64)
                            .collect()
                    })
                    .collect();
                disparity.chi_square = chi_square(&table).map(ChiSquareJson::from);
                disparity.max_gap = max_gap(&current, &outcomes, min_samples / 4);
                if total(&baseline) >= min_samples {
                    disparity.baseline_gap =
                        max_gap(&baseline, &outcomes, min_samples / 4).map(|gap| gap.gap);
                    disparity.shift = shift(&current, &baseline, &outcomes, min_samples / 4);
                    // The evidence worth reading: decisions of the segment and outcome that moved.
                    if let Some(moved) = &disparity.shift {
                        let key = disparity.segment.clone();
                        let moved_rows = current_rows.iter().copied().filter(|row| {
                            row.outcome == moved.outcome
                                && segment_pairs(&row.segment).get(&key) == Some(&moved.high)
                        });
                        disparity.samples = samples(moved_rows);
                    }
                    disparity.change = disparity
                        .shift
                        .as_ref()
                        .map(|shift| round(shift.now - shift.baseline, 4));
                }
                Some(disparity)
            },
        )
        .collect()
}

/// The largest move, between the windows, of the difference in an outcome's rate between two segment values
/// (each with at least `floor` decisions in both windows).
fn shift(
    current: &BTreeMap<String, BTreeMap<String, u64>>,
    baseline: &BTreeMap<String, BTreeMap<String, u64>>,
    outcomes: &BTreeSet<String>,
    floor: u64,
) -> Option<Shift> {
    // (rate, decisions) of one segment value and outcome, when the segment has enough decisions.
    let rate = |counts: &BTreeMap<String, BTreeMap<String, u64>>, value: &str, outcome: &str| {
        let by = counts.get(value)?;
        let total: u64 = by.values().sum();
        (total >= floor.max(1)).then(|| {
            (
                by.get(outcome).copied().unwrap_or(0) as f64 / total as f64,
                total as f64,
            )
        })
    };
    // A rate of 0 or 1 has no spread by the plain formula; shrinking it half a count toward the middle keeps
    // a tiny segment that went from none to all from looking certain.
    let variance = |(p, n): (f64, f64)| {
        let shrunk = (p * n + 0.5) / (n + 1.0);
        shrunk * (1.0 - shrunk) / n
    };
    let values: Vec<&String> = current
        .keys()
        .filter(|value| baseline.contains_key(*value))
        .collect();
    let mut best: Option<Shift> = None;
    let mut best_score = 0.0;
    for outcome in outcomes {
        for a in &values {
            for b in &values {
                let (Some(now_a), Some(now_b), Some(base_a), Some(base_b)) = (
                    rate(current, a, outcome),
                    rate(current, b, outcome),
                    rate(baseline, a, outcome),
                    rate(baseline, b, outcome),
                ) else {
                    continue;
                };
                let standard_error =
                    (variance(now_a) + variance(now_b) + variance(base_a) + variance(base_b)).sqrt();
                let ((now_a, _), (now_b, _), (base_a, _), (base_b, _)) = (now_a, now_b, base_a, base_b);
                let (now, before) = (now_a - now_b, base_a - base_b);
                let z = (now - before) / standard_error.max(1e-6);
                // The most significant move wins, counting a move of the first segment's own rate twice: "gold
                // clients now skip checks" says what happened; "basic clients now do full checks as often as
                // gold ones" is the same fact seen from the side that did not move.
                let own_move = now_a - base_a;
                let score = if now <= before {
                    0.0
                } else if own_move > 0.0 {
                    z + 1e-6 * own_move
                } else {
                    z / 2.0
                };
                if score > best_score {
                    best_score = score;
                    best = Some(Shift {
                        outcome: outcome.clone(),
                        high: (*a).clone(),
                        low: (*b).clone(),
                        now: round(now, 4),
                        baseline: round(before, 4),
                        z: round(z, 2),
                    });
                }
            }
        }
    }
    best
}

/// The largest difference in one outcome's rate between two segment values with at least `floor`
/// decisions each (tiny segments give noisy rates).
fn max_gap(
    counts: &BTreeMap<String, BTreeMap<String, u64>>,
    outcomes: &BTreeSet<String>,
    floor: u64,
) -> Option<Gap> {
    let mut best: Option<Gap> = None;
    for outcome in outcomes {
        let rates: Vec<(&String, f64)> = counts
            .iter()
            .filter_map(|(value, by)| {
                let total: u64 = by.values().sum();
                (total >= floor.max(1))
                    .then(|| (value, by.get(outcome).copied().unwrap_or(0) as f64 / total as f64))
            })
            .collect();
        let high = rates.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        let low = rates.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(high), Some(low)) = (high, low) {
            let gap = high.1 - low.1;
            if best.as_ref().is_none_or(|best| gap > best.gap) {
                best = Some(Gap {
                    outcome: outcome.clone(),
                    high: high.0.clone(),
                    low: low.0.clone(),
                    gap: round(gap, 4),
                });
            }
        }
    }
    best
}
