//! Alert rules: the defaults warrant runs for each detector, the rules a user adds (`kind: AlertRule`), and
//! turning a detector's findings into firings. A firing has a stable key (rule and subject), so an alert is
//! raised once and stays up, deduplicated, while the condition holds.

use serde::Serialize;
use warrant_log::Seq;

use crate::mcp::{Hidden, Record as McpRecord};
use crate::monitor::detect::{
    Anomaly, AnomalyLimits, ApproverStats, DEFAULT_MIN_SAMPLES, Disparity, Drift, RubberStamp,
};
use crate::registry::Registry;
use crate::registry::manifest::{AlertRule, Detector, Manifest, Severity};

/// The rules in force: every enabled user rule, plus warrant's default for each detector no user rule
/// covers.
pub fn effective_rules(registry: &Registry) -> Vec<AlertRule> {
    let mut rules: Vec<AlertRule> = registry
        .list(crate::registry::manifest::Kind::AlertRule)
        .filter_map(|manifest| match manifest {
            Manifest::AlertRule(rule) => Some(rule.clone()),
            _ => None,
        })
        .collect();
    // Only a rule for every agent and decision replaces a default: one scoped to an agent must not switch the
    // detector off for all the others.
    for default in default_rules() {
        let replaced = rules
            .iter()
            .any(|rule| rule.detector == default.detector && rule.agent.is_none() && rule.decision.is_none());
        if !replaced {
            rules.push(default);
        }
    }
    rules.retain(|rule| rule.enabled);
    rules
}

/// One default rule per detector.
pub fn default_rules() -> Vec<AlertRule> {
    let rule = |detector: Detector, severity: Severity, threshold: f64, description: &str| AlertRule {
        id: format!("default-{}", detector.as_str().replace('_', "-")),
        description: description.to_owned(),
        detector,
        severity,
        agent: None,
        decision: None,
        threshold: Some(threshold),
        current_hours: None,
        baseline_hours: None,
        min_samples: None,
        enabled: true,
    };
    vec![
        rule(
            Detector::Drift,
            Severity::High,
            0.25,
            "a decision's outcome distribution shifted significantly",
        ),
        rule(
            Detector::Disparity,
            Severity::High,
            0.2,
            "the gap in outcome rates between segments grew",
        ),
        rule(
            Detector::NewTool,
            Severity::Medium,
            1.0,
            "an agent called a tool it never called before",
        ),
        rule(
            Detector::NewTransition,
            Severity::Low,
            1.0,
            "an agent made a tool transition it never made before",
        ),
        rule(
            Detector::SequenceNll,
            Severity::Medium,
            1.5,
            "tool sequences became far more surprising",
        ),
        rule(
            Detector::RateSpike,
            Severity::Medium,
            4.0,
            "tool calls per hour far above the baseline",
        ),
        rule(
            Detector::UnusedGrant,
            Severity::Low,
            30.0,
            "a granted tool was not used for a month",
        ),
        rule(
            Detector::RubberStamp,
            Severity::Medium,
            0.95,
            "an approver approves nearly everything, fast",
        ),
        rule(
            Detector::CostSpike,
            Severity::Medium,
            2.0,
            "an agent's spend per hour doubled",
        ),
        rule(
            Detector::LatencyRegression,
            Severity::Low,
            2.0,
            "a tool's or model's p99 latency doubled",
        ),
        rule(
            Detector::HiddenTool,
            Severity::Medium,
            1.0,
            "an MCP upstream offers a tool the registry does not declare, or changed an approved tool",
        ),
    ]
}

/// The windows and minimum sample of a rule.
pub fn rule_windows(rule: &AlertRule) -> (u32, u32, u64) {
    (
        rule.current_hours.unwrap_or(24),
        rule.baseline_hours.unwrap_or(168),
        rule.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
    )
}

/// The anomaly limits a rule implies.
pub fn anomaly_limits(rule: &AlertRule) -> AnomalyLimits {
    let mut limits = AnomalyLimits::default();
    match (rule.detector, rule.threshold) {
        (Detector::SequenceNll, Some(threshold)) => limits.nll_ratio = threshold,
        (Detector::RateSpike, Some(threshold)) => limits.spike_z = threshold,
        (Detector::UnusedGrant, Some(threshold)) => limits.unused_days = threshold.max(1.0) as u32,
        (Detector::CostSpike, Some(threshold)) => limits.cost_ratio = threshold,
        (Detector::LatencyRegression, Some(threshold)) => limits.latency_ratio = threshold,
        _ => {}
    }
    limits
}

/// The rubber-stamp limits a rule implies.
pub fn rubber_stamp_limits(rule: &AlertRule) -> RubberStamp {
    let mut limits = RubberStamp::default();
    if let Some(threshold) = rule.threshold {
        limits.min_ratio = threshold;
    }
    limits
}

/// The p-value below which drift and disparity count as real.
pub const SIGNIFICANCE: f64 = 0.01;

/// The z-score the change in a segment gap must reach (one-sided, about p < 0.0013).
pub const SHIFT_Z: f64 = 3.0;

/// A rule whose condition holds for one subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firing {
    pub rule: String,
    pub detector: &'static str,
    pub severity: Severity,
    /// Rule and subject: one alert per key while it fires.
    pub key: String,
    pub agent: String,
    pub subject: String,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
    /// Seqs of evidence behind it (recent decisions).
    pub related: Vec<Seq>,
}

/// What the detectors found, for one rule's windows.
#[derive(Debug, Default)]
pub struct Findings<'a> {
    pub drift: &'a [Drift],
    pub disparity: &'a [Disparity],
    pub anomalies: &'a [Anomaly],
    pub approvers: &'a [ApproverStats],
    /// MCP upstream tools hidden from every agent (undeclared, or a changed definition), and why.
    pub hidden_tools: &'a [(McpRecord, Hidden)],
}

/// The firings of `rule` among `findings`.
pub fn fire(rule: &AlertRule, findings: &Findings<'_>) -> Vec<Firing> {
    let agent_matches = |agent: &str| rule.agent.as_deref().is_none_or(|wanted| wanted == agent);
    let decision_matches = |decision: &str| rule.decision.as_deref().is_none_or(|wanted| wanted == decision);
    let firing =
        |agent: &str, subject: String, summary: String, value: f64, threshold: f64, related: Vec<Seq>| {
            Firing {
                rule: rule.id.clone(),
                detector: rule.detector.as_str(),
                severity: rule.severity,
                // Unambiguous whatever the names hold (tool names may contain `/`).
                key: serde_json::json!([rule.id, agent, subject]).to_string(),
                agent: agent.to_owned(),
                subject,
                summary,
                value,
                threshold,
                related,
            }
        };
    let mut out: Vec<Firing> = Vec::new();
    match rule.detector {
        Detector::Drift => {
            let threshold = rule.threshold.unwrap_or(0.25);
            for drift in findings.drift {
                let Some(psi) = drift.psi else { continue };
                // Significance as well as size: a small window can move PSI by chance alone.
                let significant = drift.chi_square.is_some_and(|test| test.p_value < SIGNIFICANCE);
                if psi >= threshold
                    && significant
                    && agent_matches(&drift.agent)
                    && decision_matches(&drift.decision)
                {
                    let p = drift.chi_square.map_or(f64::NAN, |test| test.p_value);
                    out.push(firing(
                        &drift.agent,
                        drift.decision.clone(),
                        format!(
                            "{} of {} drifted: PSI {psi:.3} (threshold {threshold}), chi-square p = {p:.2e}; outcomes {:?}: {:?} before, {:?} now",
                            drift.decision, drift.agent, drift.outcomes, drift.baseline, drift.current
                        ),
                        psi,
                        threshold,
                        drift.samples.clone(),
                    ));
                }
            }
        }
        Detector::Disparity => {
            let threshold = rule.threshold.unwrap_or(0.2);
            for disparity in findings.disparity {
                let (Some(change), Some(shift), Some(test)) =
                    (disparity.change, &disparity.shift, disparity.chi_square)
                else {
                    continue;
                };
                // The change itself must be significant (difference in differences), not only the gap now.
                if change >= threshold
                    && shift.z >= SHIFT_Z
                    && test.p_value < SIGNIFICANCE
                    && agent_matches(&disparity.agent)
                    && decision_matches(&disparity.decision)
                {
                    out.push(firing(
                        &disparity.agent,
                        format!("{}/{}", disparity.decision, disparity.segment),
                        format!(
                            "{} of {}: `{}` for {}={} now runs {:+.0} points against {}={} (baseline {:+.0} points; chi-square p = {:.2e})",
                            disparity.decision,
                            disparity.agent,
                            shift.outcome,
                            disparity.segment,
                            shift.high,
                            shift.now * 100.0,
                            disparity.segment,
                            shift.low,
                            shift.baseline * 100.0,
                            test.p_value
                        ),
                        change,
                        threshold,
                        disparity.samples.clone(),
                    ));
                }
            }
        }
        Detector::NewTool
        | Detector::NewTransition
        | Detector::SequenceNll
        | Detector::RateSpike
        | Detector::UnusedGrant
        | Detector::CostSpike
        | Detector::LatencyRegression => {
            for anomaly in findings.anomalies {
                if anomaly.kind == rule.detector.as_str() && agent_matches(&anomaly.agent) {
                    out.push(firing(
                        &anomaly.agent,
                        anomaly.subject.clone(),
                        anomaly.detail.clone(),
                        anomaly.value,
                        rule.threshold.unwrap_or(0.0),
                        Vec::new(),
                    ));
                }
            }
        }
        Detector::HiddenTool => {
            for (record, reason) in findings.hidden_tools {
                let what = match reason {
                    Hidden::Changed => format!(
                        "changed the definition of `{}` (now sha256 {}); it is hidden from every agent until \
                         the new definition is approved (pin its digest in the McpServer manifest)",
                        record.name,
                        short(&record.sha256)
                    ),
                    _ => format!(
                        "offers `{}`, which maps to no declared Tool (`{}`); it is hidden from every agent \
                         until the registry declares it",
                        record.name, record.tool
                    ),
                };
                out.push(firing(
                    "",
                    format!("{}/{}", record.server, record.name),
                    format!(
                        "the MCP upstream `{}` {what}; seen at seq {}",
                        record.server, record.seq
                    ),
                    1.0,
                    rule.threshold.unwrap_or(1.0),
                    vec![record.seq],
                ));
            }
        }
        Detector::RubberStamp => {
            for approver in findings.approvers.iter().filter(|approver| approver.rubber_stamp) {
                out.push(firing(
                    "",
                    approver.approver.clone(),
                    format!(
                        "{} approved {} of {} requests ({:.0} %) with a median decision time of {:.1} s",
                        approver.approver,
                        approver.approved,
                        approver.decided,
                        approver.approve_ratio * 100.0,
                        approver.median_latency_s
                    ),
                    approver.approve_ratio,
                    rule.threshold.unwrap_or(0.95),
                    Vec::new(),
                ));
            }
        }
    }
    // One firing per key, whatever the detectors returned.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|firing| seen.insert(firing.key.clone()));
    out
}

/// The first 12 hex digits of a digest, enough to tell two definitions apart in a sentence.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}
