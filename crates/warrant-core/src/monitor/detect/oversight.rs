//! The quality of human oversight: each approver's record, and whether their approvals look like a rubber
//! stamp.

use std::collections::BTreeMap;

use super::round;

/// One approver's record over a window.
#[derive(Debug, Clone, PartialEq)]
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
