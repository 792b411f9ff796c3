//! Cost and latency: spend and p99 latency against the baseline, and the cost report per agent, model,
//! workflow and tool.

use std::collections::BTreeMap;

use super::anomaly::{Anomaly, AnomalyLimits};
use super::{ToolRow, UsageRow, Window, Windows, round};
use crate::monitor::histogram::Histogram;

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

#[derive(Debug, Clone, PartialEq)]
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
