//! Tool-usage anomalies: new tools and transitions, surprising tool sequences, call-rate spikes and unused
//! grants.

use std::collections::{BTreeMap, BTreeSet};

use super::{BigramRow, ToolRow, Windows, round};
use crate::registry::Registry;

#[derive(Debug, Clone, PartialEq)]
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
