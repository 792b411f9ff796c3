//! The detectors. Each reads hourly rollup rows (never raw events) for a current and a baseline window and
//! says what changed: decision drift, segment disparity, tool-usage anomalies, cost and latency, and the
//! quality of human oversight.

mod anomaly;
mod cost;
mod disparity;
mod drift;
mod oversight;

pub use anomaly::{
    Anomaly, AnomalyLimits, BigramSpan, MIN_NLL_RISE, ToolSpan, ToolUsage, anomalies, spans_from_rows,
};
pub use cost::{CostLine, cost, usage_anomalies};
pub use disparity::{Disparity, Gap, MAX_SEGMENT_VALUES, SegmentRates, Shift, disparity};
pub use drift::{Drift, drift};
pub use oversight::{ApproverStats, DecidedApproval, RubberStamp, approvers};

use crate::monitor::histogram::Histogram;
use crate::monitor::stats::ChiSquare;
use warrant_log::Seq;

/// Decisions of one (hour, agent, decision, segment, outcome), with the latest event's seq as a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    pub hour: i64,
    pub agent: String,
    pub name: String,
    pub segment: String,
    pub outcome: String,
    pub count: u64,
    pub sample_seq: Seq,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq)]
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

/// Up to five seqs, latest first.
fn samples<'a>(rows: impl Iterator<Item = &'a DecisionRow>) -> Vec<Seq> {
    let mut seqs: Vec<Seq> = rows.map(|row| row.sample_seq).collect();
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    seqs.dedup();
    seqs.truncate(5);
    seqs
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
