//! The detectors. Each reads hourly rollup rows (never raw events) for a current and a baseline window and
//! says what changed: decision drift, segment disparity, tool-usage anomalies, cost and latency, and the
//! quality of human oversight.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::monitor::facts::segment_pairs;
use crate::monitor::histogram::Histogram;
use crate::monitor::stats::{ChiSquare, chi_square, js_distance, psi};
use crate::registry::Registry;

/// Decisions of one (hour, agent, decision, segment, outcome), with the latest event's seq as a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    pub hour: i64,
    pub agent: String,
    pub name: String,
    pub segment: String,
    pub outcome: String,
    pub count: u64,
    pub sample_seq: u64,
}

/// Calls of one tool by one agent in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRow {
    pub hour: i64,
    pub agent: String,
    pub tool: String,
    pub calls: u64,
    pub errors: u64,
    pub latency: Histogram,
}

/// Tool transitions (`prev` → `tool`, `^` for a sequence's first call) of one agent in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct BigramRow {
    pub hour: i64,
    pub agent: String,
    pub prev: String,
    pub tool: String,
    pub count: u64,
}

/// Model calls (`scope = model`) or workflow runs (`scope = workflow`) of one agent in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub hour: i64,
    pub agent: String,
    pub scope: String,
    pub name: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency: Histogram,
}

/// A half-open range of hours, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    pub fn contains(&self, hour: i64) -> bool {
        (self.from..self.to).contains(&hour)
    }

    pub fn hours(&self) -> i64 {
        (self.to - self.from).max(1)
    }
}

/// The current window and the baseline it is compared with (by default the last 24 hours against the 7 days
/// before them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Windows {
    pub current: Window,
    pub baseline: Window,
}

impl Windows {
    /// The windows ending at `now_hour` (exclusive of the hour after it).
    pub fn ending(now_hour: i64, current_hours: u32, baseline_hours: u32) -> Windows {
        let end = now_hour + 1;
        let current = Window {
            from: end - i64::from(current_hours.max(1)),
            to: end,
        };
        Windows {
            current,
            baseline: Window {
                from: current.from - i64::from(baseline_hours.max(1)),
                to: current.from,
            },
        }
    }
}

/// Below this many decisions in either window, drift and disparity say "insufficient data".
pub const DEFAULT_MIN_SAMPLES: u64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub samples: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChiSquareJson {
    pub statistic: f64,
    pub dof: u32,
    pub p_value: f64,
}

impl From<ChiSquare> for ChiSquareJson {
    fn from(test: ChiSquare) -> ChiSquareJson {
        ChiSquareJson {
            statistic: round(test.statistic, 4),
            dof: test.dof,
            p_value: test.p_value,
        }
    }
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRates {
    pub value: String,
    pub total: u64,
    /// Outcome → share of this segment's decisions.
    pub rates: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub outcome: String,
    pub high: String,
    pub low: String,
    pub gap: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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
    pub samples: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// `new_tool`, `new_transition`, `sequence_nll`, `rate_spike` or `unused_grant`.
    pub kind: &'static str,
    pub agent: String,
    /// The tool, the transition (`a -> b`) or the grant concerned.
    pub subject: String,
    pub value: f64,
    pub baseline: f64,
    pub detail: String,
}

/// Settings of the anomaly detectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyLimits {
    /// Flag a current window whose mean transition surprise (nats) exceeds the baseline's by this factor.
    pub nll_ratio: f64,
    /// Flag a call rate this many standard deviations above the baseline's hourly mean...
    pub spike_z: f64,
    /// ...and at least this many times the mean.
    pub spike_ratio: f64,
    /// A grant unused for this many days is flagged.
    pub unused_days: u32,
    /// Flag an agent whose spend per hour is this many times its baseline's.
    pub cost_ratio: f64,
    /// Flag a tool or model whose p99 latency is this many times its baseline's.
    pub latency_ratio: f64,
}

impl Default for AnomalyLimits {
    fn default() -> AnomalyLimits {
        AnomalyLimits {
            nll_ratio: 1.5,
            spike_z: 4.0,
            spike_ratio: 3.0,
            unused_days: 30,
            cost_ratio: 2.0,
            latency_ratio: 2.0,
        }
    }
}

/// When an agent first and last called a tool (from the rollups' span table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSpan {
    pub agent: String,
    pub tool: String,
    pub first_hour: i64,
    pub last_hour: i64,
}

/// When an agent first made a tool transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigramSpan {
    pub agent: String,
    pub prev: String,
    pub tool: String,
    pub first_hour: i64,
}

/// The spans implied by hourly rows (what the store keeps incrementally; for tests and small inputs).
pub fn spans_from_rows(tools: &[ToolRow], bigrams: &[BigramRow]) -> (Vec<ToolSpan>, Vec<BigramSpan>) {
    let mut tool_spans: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for row in tools.iter().filter(|row| row.calls > 0) {
        let span = tool_spans
            .entry((&row.agent, &row.tool))
            .or_insert((row.hour, row.hour));
        span.0 = span.0.min(row.hour);
        span.1 = span.1.max(row.hour);
    }
    let mut bigram_spans: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
    for row in bigrams {
        let first = bigram_spans
            .entry((&row.agent, &row.prev, &row.tool))
            .or_insert(row.hour);
        *first = (*first).min(row.hour);
    }
    (
        tool_spans
            .into_iter()
            .map(|((agent, tool), (first_hour, last_hour))| ToolSpan {
                agent: agent.to_owned(),
                tool: tool.to_owned(),
                first_hour,
                last_hour,
            })
            .collect(),
        bigram_spans
            .into_iter()
            .map(|((agent, prev, tool), first_hour)| BigramSpan {
                agent: agent.to_owned(),
                prev: prev.to_owned(),
                tool: tool.to_owned(),
                first_hour,
            })
            .collect(),
    )
}

/// What the tool-usage detectors read: hourly rows of the baseline and current windows, and the spans that
/// say what is new ("never before the current window") and what went unused.
#[derive(Debug, Clone, Copy)]
pub struct ToolUsage<'a> {
    pub tools: &'a [ToolRow],
    pub bigrams: &'a [BigramRow],
    pub tool_spans: &'a [ToolSpan],
    pub bigram_spans: &'a [BigramSpan],
}

/// Tool-usage anomalies per agent; `now_hour` dates unused grants.
pub fn anomalies(
    usage: ToolUsage<'_>,
    windows: &Windows,
    registry: &Registry,
    now_hour: i64,
    limits: &AnomalyLimits,
) -> Vec<Anomaly> {
    let mut found = Vec::new();
    // New tools and transitions: first seen in the current window.
    for span in usage
        .tool_spans
        .iter()
        .filter(|span| windows.current.contains(span.first_hour))
    {
        let calls: u64 = usage
            .tools
            .iter()
            .filter(|row| {
                row.agent == span.agent && row.tool == span.tool && windows.current.contains(row.hour)
            })
            .map(|row| row.calls)
            .sum();
        found.push(Anomaly {
            kind: "new_tool",
            agent: span.agent.clone(),
            subject: span.tool.clone(),
            value: calls as f64,
            baseline: 0.0,
            detail: format!(
                "{} called {} {calls} time(s) in the current window, never before",
                span.agent, span.tool
            ),
        });
    }
    for span in usage
        .bigram_spans
        .iter()
        .filter(|span| windows.current.contains(span.first_hour))
    {
        let count: u64 = usage
            .bigrams
            .iter()
            .filter(|row| {
                row.agent == span.agent
                    && row.prev == span.prev
                    && row.tool == span.tool
                    && windows.current.contains(row.hour)
            })
            .map(|row| row.count)
            .sum();
        found.push(Anomaly {
            kind: "new_transition",
            agent: span.agent.clone(),
            subject: format!("{} -> {}", span.prev, span.tool),
            value: count as f64,
            baseline: 0.0,
            detail: format!(
                "{} went from {} to {} {count} time(s), never before",
                span.agent, span.prev, span.tool
            ),
        });
    }
    found.extend(sequence_surprise(usage.bigrams, windows, limits));
    found.extend(rate_spikes(usage.tools, windows, limits));
    found.extend(unused_grants(usage.tool_spans, registry, now_hour, limits));
    found
}

/// The least rise in mean surprise, in nats per transition, that counts as a change of behaviour.
pub const MIN_NLL_RISE: f64 = 0.5;

/// Mean surprise (negative log-likelihood, nats) of the current window's transitions under the agent's
/// baseline bigram model (add-one smoothing), against the baseline's own.
fn sequence_surprise(bigrams: &[BigramRow], windows: &Windows, limits: &AnomalyLimits) -> Vec<Anomaly> {
    let mut model: BTreeMap<&str, BTreeMap<(&str, &str), u64>> = BTreeMap::new();
    let mut current: BTreeMap<&str, BTreeMap<(&str, &str), u64>> = BTreeMap::new();
    for row in bigrams {
        let target = if windows.baseline.contains(row.hour) {
            &mut model
        } else if windows.current.contains(row.hour) {
            &mut current
        } else {
            continue;
        };
        *target
            .entry(&row.agent)
            .or_default()
            .entry((&row.prev, &row.tool))
            .or_default() += row.count;
    }
    let mut found = Vec::new();
    for (agent, counts) in &current {
        let Some(base) = model.get(agent) else { continue };
        let vocabulary: BTreeSet<&str> = base
            .keys()
            .chain(counts.keys())
            .flat_map(|(prev, tool)| [*prev, *tool])
            .collect();
        let mut from: BTreeMap<&str, u64> = BTreeMap::new();
        for ((prev, _), count) in base {
            *from.entry(prev).or_default() += count;
        }
        let surprise = |prev: &str, tool: &str| {
            let pair = base.get(&(prev, tool)).copied().unwrap_or(0) as f64 + 1.0;
            let total = from.get(prev).copied().unwrap_or(0) as f64 + vocabulary.len() as f64;
            -(pair / total).ln()
        };
        let mean = |counts: &BTreeMap<(&str, &str), u64>| {
            let total: u64 = counts.values().sum();
            let sum: f64 = counts
                .iter()
                .map(|((prev, tool), count)| *count as f64 * surprise(prev, tool))
                .sum();
            sum / total.max(1) as f64
        };
        let (now, before) = (mean(counts), mean(base));
        let samples: u64 = counts.values().sum();
        // Both a ratio and an absolute rise: an agent that was nearly deterministic makes a tiny baseline,
        // and one new step (which `new_transition` reports) must not read as a changed behaviour.
        if samples >= 20 && now > before * limits.nll_ratio && now - before >= MIN_NLL_RISE {
            found.push(Anomaly {
                kind: "sequence_nll",
                agent: (*agent).to_owned(),
                subject: "tool sequences".into(),
                value: round(now, 4),
                baseline: round(before, 4),
                detail: format!(
                    "{agent}'s tool sequences are {:.1}x as surprising as in the baseline ({now:.2} vs {before:.2} nats per transition)",
                    now / before
                ),
            });
        }
    }
    found
}

/// An agent's busiest hour in the current window against its baseline's hourly mean and spread (a burst
/// is diluted in a window's average; its hour is not).
fn rate_spikes(tools: &[ToolRow], windows: &Windows, limits: &AnomalyLimits) -> Vec<Anomaly> {
    // Agent → (calls per baseline hour, calls per current hour).
    type Hours = BTreeMap<i64, u64>;
    let mut per_hour: BTreeMap<&str, (Hours, Hours)> = BTreeMap::new();
    for row in tools {
        let entry = per_hour.entry(&row.agent).or_default();
        if windows.baseline.contains(row.hour) {
            *entry.0.entry(row.hour).or_default() += row.calls;
        } else if windows.current.contains(row.hour) {
            *entry.1.entry(row.hour).or_default() += row.calls;
        }
    }
    let mut found = Vec::new();
    for (agent, (baseline, current)) in per_hour {
        let Some((&busiest_hour, &busiest)) = current.iter().max_by_key(|(_, calls)| **calls) else {
            continue;
        };
        if baseline.is_empty() {
            continue;
        }
        // Mean and spread over every baseline hour, the silent ones included, from sums (no loop over hours).
        let hours = windows.baseline.hours() as f64;
        let sum: f64 = baseline.values().map(|calls| *calls as f64).sum();
        let squares: f64 = baseline.values().map(|calls| (*calls as f64).powi(2)).sum();
        let mean = sum / hours;
        let variance = (squares / hours - mean * mean).max(0.0);
        let peak = busiest as f64;
        let z = (peak - mean) / variance.sqrt().max(1.0);
        if z >= limits.spike_z && peak >= mean * limits.spike_ratio {
            found.push(Anomaly {
                kind: "rate_spike",
                agent: agent.to_owned(),
                subject: "tool calls per hour".into(),
                value: peak,
                baseline: round(mean, 2),
                detail: format!(
                    "{agent} made {busiest} tool calls in hour {busiest_hour} against a baseline of {mean:.1} per hour (z = {z:.1})"
                ),
            });
        }
    }
    found
}

/// Grants of active agents whose tool was not called for `unused_days`, counting only grants at least that
/// old (approved or last reviewed before then; a grant with neither date counts as old).
fn unused_grants(
    spans: &[ToolSpan],
    registry: &Registry,
    now_hour: i64,
    limits: &AnomalyLimits,
) -> Vec<Anomaly> {
    let since = now_hour - i64::from(limits.unused_days) * 24;
    let used: BTreeSet<(&str, &str)> = spans
        .iter()
        .filter(|span| span.last_hour >= since)
        .map(|span| (span.agent.as_str(), span.tool.as_str()))
        .collect();
    let since_day =
        chrono::DateTime::from_timestamp(since.saturating_mul(3600), 0).map(|time| time.date_naive());
    let mut found = Vec::new();
    for agent in registry.agents() {
        if agent.status != crate::registry::manifest::Status::Active {
            continue;
        }
        for grant in &agent.tools {
            let granted = grant.last_reviewed.max(grant.approved_on);
            let young = matches!((granted, since_day), (Some(granted), Some(since)) if granted > since);
            if young || used.contains(&(agent.id.as_str(), grant.tool.as_str())) {
                continue;
            }
            found.push(Anomaly {
                kind: "unused_grant",
                agent: agent.id.clone(),
                subject: grant.tool.clone(),
                value: 0.0,
                baseline: 0.0,
                detail: format!(
                    "{} has not called {} in {} days: a candidate for revocation at its access review",
                    agent.id, grant.tool, limits.unused_days
                ),
            });
        }
    }
    found
}

/// Cost and latency against the baseline: an agent spending far more per hour (`cost_spike`), a tool or
/// model whose p99 latency rose far above its own (`latency_regression`).
pub fn usage_anomalies(
    usage: &[UsageRow],
    tools: &[ToolRow],
    windows: &Windows,
    limits: &AnomalyLimits,
) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let mut spend: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for row in usage {
        let entry = spend.entry(&row.agent).or_default();
        if windows.baseline.contains(row.hour) {
            entry.0 += row.cost_usd;
        } else if windows.current.contains(row.hour) {
            entry.1 += row.cost_usd;
        }
    }
    for (agent, (before, now)) in spend {
        let (before_rate, now_rate) = (
            before / windows.baseline.hours() as f64,
            now / windows.current.hours() as f64,
        );
        // A cent an hour is the floor: below it, ratios are noise.
        if before_rate > 0.0 && now_rate >= 0.01 && now_rate >= before_rate * limits.cost_ratio {
            found.push(Anomaly {
                kind: "cost_spike",
                agent: agent.to_owned(),
                subject: "cost per hour".into(),
                value: round(now_rate, 6),
                baseline: round(before_rate, 6),
                detail: format!(
                    "{agent} spends ${now_rate:.4} per hour against ${before_rate:.4} in the baseline ({:.1}x)",
                    now_rate / before_rate
                ),
            });
        }
    }
    let mut latency: BTreeMap<(&str, String), (Histogram, Histogram)> = BTreeMap::new();
    let rows = usage
        .iter()
        .map(|row| {
            (
                row.hour,
                row.agent.as_str(),
                format!("{} {}", row.scope, row.name),
                &row.latency,
            )
        })
        .chain(tools.iter().map(|row| {
            (
                row.hour,
                row.agent.as_str(),
                format!("tool {}", row.tool),
                &row.latency,
            )
        }));
    for (hour, agent, subject, histogram) in rows {
        let entry = latency.entry((agent, subject)).or_default();
        if windows.baseline.contains(hour) {
            entry.0.merge(histogram);
        } else if windows.current.contains(hour) {
            entry.1.merge(histogram);
        }
    }
    for ((agent, subject), (before, now)) in latency {
        if before.count() < 20 || now.count() < 20 {
            continue;
        }
        let (Some(before_p99), Some(now_p99)) = (before.quantile(0.99), now.quantile(0.99)) else {
            continue;
        };
        if now_p99 >= before_p99 * limits.latency_ratio {
            found.push(Anomaly {
                kind: "latency_regression",
                agent: agent.to_owned(),
                detail: format!("{agent}'s {subject} p99 latency is {now_p99:.0} ms against {before_p99:.0} ms in the baseline"),
                subject,
                value: now_p99,
                baseline: before_p99,
            });
        }
    }
    found
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostLine {
    /// `agent`, `model`, `workflow` or `tool`.
    pub scope: &'static str,
    pub agent: String,
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Latency, tokens and cost per agent, per model, per workflow and per tool over `window`.
pub fn cost(usage: &[UsageRow], tools: &[ToolRow], window: &Window) -> Vec<CostLine> {
    let mut lines: BTreeMap<(&'static str, String, String), (CostLine, Histogram)> = BTreeMap::new();
    let mut add = |scope: &'static str,
                   agent: &str,
                   name: &str,
                   row: (u64, u64, u64, u64, f64),
                   latency: &Histogram| {
        let (line, histogram) = lines
            .entry((scope, agent.to_owned(), name.to_owned()))
            .or_insert_with(|| {
                (
                    CostLine {
                        scope,
                        agent: agent.to_owned(),
                        name: name.to_owned(),
                        calls: 0,
                        errors: 0,
                        input_tokens: 0,
                        output_tokens: 0,
                        cost_usd: 0.0,
                        p50_ms: None,
                        p95_ms: None,
                        p99_ms: None,
                    },
                    Histogram::default(),
                )
            });
        line.calls += row.0;
        line.errors += row.1;
        line.input_tokens += row.2;
        line.output_tokens += row.3;
        line.cost_usd += row.4;
        histogram.merge(latency);
    };
    for row in usage.iter().filter(|row| window.contains(row.hour)) {
        let scope = if row.scope == "workflow" {
            "workflow"
        } else {
            "model"
        };
        let totals = (row.calls, 0, row.input_tokens, row.output_tokens, row.cost_usd);
        add(scope, &row.agent, &row.name, totals, &row.latency);
        if scope == "model" {
            add(
                "agent",
                &row.agent,
                &row.agent,
                (0, 0, row.input_tokens, row.output_tokens, row.cost_usd),
                &Histogram::default(),
            );
        }
    }
    for row in tools.iter().filter(|row| window.contains(row.hour)) {
        add(
            "tool",
            &row.agent,
            &row.tool,
            (row.calls, row.errors, 0, 0, 0.0),
            &row.latency,
        );
        add(
            "agent",
            &row.agent,
            &row.agent,
            (row.calls, row.errors, 0, 0, 0.0),
            &Histogram::default(),
        );
    }
    lines
        .into_values()
        .map(|(mut line, histogram)| {
            line.cost_usd = round(line.cost_usd, 6);
            line.p50_ms = histogram.quantile(0.5);
            line.p95_ms = histogram.quantile(0.95);
            line.p99_ms = histogram.quantile(0.99);
            line
        })
        .collect()
}

/// One approver's record over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApproverStats {
    pub approver: String,
    pub decided: u64,
    pub approved: u64,
    pub denied: u64,
    pub approve_ratio: f64,
    pub median_latency_s: f64,
    /// Nearly every request approved, and fast: the human check may have become a formality.
    pub rubber_stamp: bool,
}

/// A decided approval, as the oversight report needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecidedApproval {
    pub approver: String,
    pub approved: bool,
    pub latency_s: f64,
}

/// Rubber-stamp limits: at least `min_decisions`, approve ratio ≥ `min_ratio`, median decision time under
/// `max_median_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RubberStamp {
    pub min_decisions: u64,
    pub min_ratio: f64,
    pub max_median_s: f64,
}

impl Default for RubberStamp {
    fn default() -> RubberStamp {
        RubberStamp {
            min_decisions: 10,
            min_ratio: 0.95,
            max_median_s: 30.0,
        }
    }
}

pub fn approvers(decided: &[DecidedApproval], limits: &RubberStamp) -> Vec<ApproverStats> {
    let mut by: BTreeMap<&str, Vec<&DecidedApproval>> = BTreeMap::new();
    for approval in decided {
        by.entry(&approval.approver).or_default().push(approval);
    }
    by.into_iter()
        .map(|(approver, approvals)| {
            let decided = approvals.len() as u64;
            let approved = approvals.iter().filter(|approval| approval.approved).count() as u64;
            let mut latencies: Vec<f64> = approvals.iter().map(|approval| approval.latency_s).collect();
            latencies.sort_by(f64::total_cmp);
            let median = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
            let ratio = approved as f64 / decided.max(1) as f64;
            ApproverStats {
                approver: approver.to_owned(),
                decided,
                approved,
                denied: decided - approved,
                approve_ratio: round(ratio, 4),
                median_latency_s: round(median, 3),
                rubber_stamp: decided >= limits.min_decisions
                    && ratio >= limits.min_ratio
                    && median < limits.max_median_s,
            }
        })
        .collect()
}

/// Up to five seqs, latest first.
fn samples<'a>(rows: impl Iterator<Item = &'a DecisionRow>) -> Vec<u64> {
    let mut seqs: Vec<u64> = rows.map(|row| row.sample_seq).collect();
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    seqs.dedup();
    seqs.truncate(5);
    seqs
}

fn floats(counts: &[u64]) -> Vec<f64> {
    counts.iter().map(|count| *count as f64).collect()
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
