//! The detectors on synthetic streams whose truth is known: a stable stream raises nothing, a shifted one
//! is caught with the statistics a hand computation gives, a disparity shows only after its change point,
//! new tools and transitions are flagged, and a rubber-stamp approver is named.

use warrant_core::monitor::detect::{
    self, Anomaly, AnomalyLimits, BigramRow, DecidedApproval, DecisionRow, RubberStamp, ToolRow, ToolUsage,
    Windows, spans_from_rows,
};
use warrant_core::monitor::histogram::Histogram;
use warrant_core::monitor::rules::{Findings, default_rules, fire};
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::Detector;
use warrant_log::Seq;

/// The hour the current window ends in.
const NOW: i64 = 500_000;

/// A small deterministic generator, so every run sees the same "random" stream.
struct Dice(u64);

impl Dice {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
}

/// `per_hour` decisions in each hour of `hours`, outcomes drawn from `shares` (cumulative), one segment.
fn decisions(
    dice: &mut Dice,
    hours: std::ops::Range<i64>,
    per_hour: u64,
    segment: &str,
    shares: &[(&str, f64)],
) -> Vec<DecisionRow> {
    let mut rows = Vec::new();
    for hour in hours {
        let mut counts: Vec<u64> = vec![0; shares.len()];
        for _ in 0..per_hour {
            let roll = dice.unit();
            let mut acc = 0.0;
            let index = shares
                .iter()
                .position(|(_, share)| {
                    acc += share;
                    roll < acc
                })
                .unwrap_or(shares.len() - 1);
            counts[index] += 1;
        }
        for ((outcome, _), count) in shares.iter().zip(counts) {
            if count > 0 {
                rows.push(DecisionRow {
                    hour,
                    agent: "onboarding-agent".into(),
                    name: "verification_path".into(),
                    segment: format!(r#"{{"client_value":"{segment}"}}"#),
                    outcome: (*outcome).into(),
                    count,
                    sample_seq: Seq(hour as u64),
                });
            }
        }
    }
    rows
}

fn windows() -> Windows {
    Windows::ending(NOW, 24, 168)
}

fn drift_rule_fires(rows: &[DecisionRow]) -> Vec<String> {
    let drift = detect::drift(rows, &windows(), 30);
    let rule = default_rules()
        .into_iter()
        .find(|rule| rule.detector == Detector::Drift)
        .unwrap();
    fire(
        &rule,
        &Findings {
            drift: &drift,
            ..Findings::default()
        },
    )
    .into_iter()
    .map(|firing| firing.summary)
    .collect()
}

#[test]
fn a_stable_stream_raises_no_alert() {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let shares = [("enhanced", 0.35), ("standard", 0.65)];
    let mut rows = decisions(&mut dice, NOW - 191..NOW + 1, 12, "standard", &shares);
    rows.extend(decisions(
        &mut dice,
        NOW - 191..NOW + 1,
        4,
        "high",
        &[("enhanced", 0.9), ("standard", 0.1)],
    ));
    let drift = detect::drift(&rows, &windows(), 30);
    assert_eq!(drift.len(), 1);
    let psi = drift[0].psi.unwrap();
    assert!(psi < 0.02, "sampling noise only: PSI {psi}");
    assert!(drift_rule_fires(&rows).is_empty());
    // The segments differ (risk-based routing), but the difference did not move: no disparity alert.
    let disparity = detect::disparity(&rows, &windows(), 30);
    let rule = default_rules()
        .into_iter()
        .find(|rule| rule.detector == Detector::Disparity)
        .unwrap();
    let firings = fire(
        &rule,
        &Findings {
            disparity: &disparity,
            ..Findings::default()
        },
    );
    assert!(firings.is_empty(), "{firings:?}");
    assert!(
        disparity[0].max_gap.as_ref().unwrap().gap > 0.5,
        "the standing gap is reported"
    );
}

#[test]
fn a_shifted_stream_is_caught_with_the_statistics_computed_by_hand() {
    let mut dice = Dice(7);
    let before = [("enhanced", 0.35), ("expedited", 0.05), ("standard", 0.60)];
    let after = [("enhanced", 0.15), ("expedited", 0.35), ("standard", 0.50)];
    let mut rows = decisions(&mut dice, NOW - 191..NOW - 23, 10, "high", &before);
    rows.extend(decisions(&mut dice, NOW - 23..NOW + 1, 10, "high", &after));
    let drift = &detect::drift(&rows, &windows(), 30)[0];
    assert_eq!(drift.outcomes, ["enhanced", "expedited", "standard"]);

    // By hand, from the counts the detector reports.
    let b: Vec<f64> = drift.baseline.iter().map(|count| *count as f64).collect();
    let c: Vec<f64> = drift.current.iter().map(|count| *count as f64).collect();
    let (bt, ct) = (b.iter().sum::<f64>(), c.iter().sum::<f64>());
    let psi: f64 = b
        .iter()
        .zip(&c)
        .map(|(b, c)| (c / ct - b / bt) * ((c / ct) / (b / bt)).ln())
        .sum();
    assert!(
        (drift.psi.unwrap() - psi).abs() < 1e-3,
        "{} vs {psi}",
        drift.psi.unwrap()
    );
    assert!(psi > 0.25, "a significant shift: {psi}");
    // Pearson's statistic on the 2×3 table; with 2 degrees of freedom the tail is exactly exp(-x/2).
    let total = bt + ct;
    let mut statistic = 0.0;
    for (row, row_total) in [(&b, bt), (&c, ct)] {
        for (column, observed) in row.iter().enumerate() {
            let expected = row_total * (b[column] + c[column]) / total;
            statistic += (observed - expected).powi(2) / expected;
        }
    }
    let test = drift.chi_square.unwrap();
    assert_eq!(test.dof, 2);
    assert!(
        (test.statistic - statistic).abs() < 1e-3,
        "{} vs {statistic}",
        test.statistic
    );
    let p = (-statistic / 2.0).exp();
    assert!(
        (test.p_value - p).abs() <= 1e-9 + p * 1e-6,
        "{} vs {p}",
        test.p_value
    );
    assert_eq!(drift.level, "significant");
    assert_eq!(drift_rule_fires(&rows).len(), 1);
}

#[test]
fn below_the_minimum_sample_drift_says_insufficient_data() {
    let mut dice = Dice(3);
    let rows = decisions(&mut dice, NOW - 191..NOW + 1, 0, "high", &[("enhanced", 1.0)]);
    assert!(rows.is_empty());
    let rows = vec![DecisionRow {
        hour: NOW,
        agent: "onboarding-agent".into(),
        name: "verification_path".into(),
        segment: "{}".into(),
        outcome: "standard".into(),
        count: 5,
        sample_seq: Seq(1),
    }];
    let drift = &detect::drift(&rows, &windows(), 30)[0];
    assert_eq!((drift.status, drift.psi), ("insufficient_data", None));
    assert!(drift_rule_fires(&rows).is_empty());
}

#[test]
fn a_segment_disparity_appears_only_after_the_change_point() {
    let mut dice = Dice(11);
    let change = NOW - 23;
    // Standard clients never change; high-value clients get a new expedited path from the change point.
    let standard = [("enhanced", 0.15), ("standard", 0.85)];
    let mut rows = decisions(&mut dice, NOW - 400..NOW + 1, 9, "standard", &standard);
    rows.extend(decisions(
        &mut dice,
        NOW - 400..change,
        3,
        "high",
        &[("enhanced", 0.9), ("standard", 0.1)],
    ));
    rows.extend(decisions(
        &mut dice,
        change..NOW + 1,
        3,
        "high",
        &[("enhanced", 0.1), ("expedited", 0.8), ("standard", 0.1)],
    ));
    let rule = default_rules()
        .into_iter()
        .find(|rule| rule.detector == Detector::Disparity)
        .unwrap();
    let firings_at = |now: i64| {
        let windows = Windows::ending(now, 24, 168);
        let disparity = detect::disparity(&rows, &windows, 30);
        fire(
            &rule,
            &Findings {
                disparity: &disparity,
                ..Findings::default()
            },
        )
    };
    // A day before the change, and the hour just before it: nothing.
    assert!(firings_at(change - 24).is_empty());
    assert!(firings_at(change - 1).is_empty());
    // A day after: the new path for high-value clients only.
    let firings = firings_at(NOW);
    assert_eq!(firings.len(), 1, "{firings:?}");
    assert_eq!(firings[0].subject, "verification_path/client_value");
    assert!(
        firings[0].summary.contains("`expedited` for client_value=high"),
        "{}",
        firings[0].summary
    );
}

/// The tool-usage detectors over `tools` and `bigrams`, spans derived from them as the store keeps them.
fn tool_anomalies(tools: &[ToolRow], bigrams: &[BigramRow], limits: &AnomalyLimits) -> Vec<Anomaly> {
    let (tool_spans, bigram_spans) = spans_from_rows(tools, bigrams);
    let usage = ToolUsage {
        tools,
        bigrams,
        tool_spans: &tool_spans,
        bigram_spans: &bigram_spans,
    };
    detect::anomalies(usage, &windows(), &Registry::default(), NOW, limits)
}

fn tool_row(hour: i64, tool: &str, calls: u64) -> ToolRow {
    ToolRow {
        hour,
        agent: "support-agent".into(),
        tool: tool.into(),
        calls,
        errors: 0,
        latency: Histogram::default(),
    }
}

fn bigram(hour: i64, prev: &str, tool: &str, count: u64) -> BigramRow {
    BigramRow {
        hour,
        agent: "support-agent".into(),
        prev: prev.into(),
        tool: tool.into(),
        count,
    }
}

#[test]
fn a_new_tool_and_a_new_transition_are_flagged() {
    let mut tools = Vec::new();
    let mut bigrams = Vec::new();
    for hour in NOW - 191..NOW - 23 {
        tools.push(tool_row(hour, "crm-read", 4));
        tools.push(tool_row(hour, "ticketing", 4));
        bigrams.push(bigram(hour, "^", "crm-read", 4));
        bigrams.push(bigram(hour, "crm-read", "ticketing", 4));
    }
    for hour in NOW - 23..NOW + 1 {
        tools.push(tool_row(hour, "crm-read", 4));
        tools.push(tool_row(hour, "ticketing", 4));
        bigrams.push(bigram(hour, "^", "crm-read", 4));
        bigrams.push(bigram(hour, "crm-read", "ticketing", 4));
    }
    let quiet = tool_anomalies(&tools, &bigrams, &AnomalyLimits::default());
    assert!(quiet.is_empty(), "{quiet:?}");
    // Then, in the current window: a tool never used before, reached by a transition never seen.
    tools.push(tool_row(NOW - 2, "send-email", 1));
    bigrams.push(bigram(NOW - 2, "crm-read", "send-email", 1));
    let found = tool_anomalies(&tools, &bigrams, &AnomalyLimits::default());
    let kinds: Vec<(&str, &str)> = found
        .iter()
        .map(|anomaly| (anomaly.kind, anomaly.subject.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("new_tool", "send-email"),
            ("new_transition", "crm-read -> send-email")
        ]
    );
}

#[test]
fn surprising_sequences_and_rate_spikes_are_flagged() {
    let mut tools = Vec::new();
    let mut bigrams = Vec::new();
    for hour in NOW - 191..NOW - 23 {
        tools.push(tool_row(hour, "crm-read", 4));
        bigrams.push(bigram(hour, "^", "crm-read", 2));
        bigrams.push(bigram(hour, "crm-read", "ticketing", 2));
    }
    // Now the agent mostly goes backwards (ticketing → crm-read, never before), at its usual volume.
    tools.push(tool_row(NOW - 20, "crm-read", 5));
    tools.push(tool_row(NOW - 19, "crm-read", 4));
    bigrams.push(bigram(NOW - 20, "ticketing", "crm-read", 60));
    bigrams.push(bigram(NOW - 10, "crm-read", "ticketing", 2));
    let limits = AnomalyLimits {
        unused_days: 30,
        ..AnomalyLimits::default()
    };
    let found = tool_anomalies(&tools, &bigrams, &limits);
    let kinds: Vec<&str> = found.iter().map(|anomaly| anomaly.kind).collect();
    assert!(kinds.contains(&"sequence_nll"), "{found:?}");
    assert!(
        !kinds.contains(&"rate_spike"),
        "80 calls in 24 h is below 3x the mean: {found:?}"
    );
    tools.push(tool_row(NOW, "crm-read", 400));
    let found = tool_anomalies(&tools, &bigrams, &limits);
    assert!(
        found.iter().any(|anomaly| anomaly.kind == "rate_spike"),
        "{found:?}"
    );
}

#[test]
fn the_rubber_stamp_approver_is_flagged() {
    let mut decided = Vec::new();
    for n in 0..40 {
        // `quick` approves everything in seconds; `careful` denies some and takes minutes.
        decided.push(DecidedApproval {
            approver: "quick".into(),
            approved: true,
            latency_s: 2.0 + f64::from(n % 3),
        });
        decided.push(DecidedApproval {
            approver: "careful".into(),
            approved: n % 4 != 0,
            latency_s: 180.0,
        });
    }
    // A fast approver with few decisions is not yet a pattern.
    for _ in 0..5 {
        decided.push(DecidedApproval {
            approver: "new".into(),
            approved: true,
            latency_s: 1.0,
        });
    }
    let stats = detect::approvers(&decided, &RubberStamp::default());
    let flagged: Vec<&str> = stats
        .iter()
        .filter(|stats| stats.rubber_stamp)
        .map(|stats| stats.approver.as_str())
        .collect();
    assert_eq!(flagged, ["quick"]);
    let rule = default_rules()
        .into_iter()
        .find(|rule| rule.detector == Detector::RubberStamp)
        .unwrap();
    let firings = fire(
        &rule,
        &Findings {
            approvers: &stats,
            ..Findings::default()
        },
    );
    assert_eq!(firings.len(), 1);
    assert!(
        firings[0].summary.starts_with("quick approved 40 of 40"),
        "{}",
        firings[0].summary
    );
}

#[test]
fn a_cost_spike_and_a_latency_regression_are_flagged() {
    use warrant_core::monitor::detect::UsageRow;
    let usage_row = |hour: i64, cost: f64, millis: f64| {
        let mut latency = Histogram::default();
        for _ in 0..10 {
            latency.record(millis);
        }
        UsageRow {
            hour,
            agent: "underwriting-agent".into(),
            scope: "model".into(),
            name: "gpt-4.1".into(),
            calls: 10,
            input_tokens: 1000,
            output_tokens: 100,
            cost_usd: cost,
            latency,
        }
    };
    let mut usage: Vec<UsageRow> = (NOW - 191..NOW - 23)
        .map(|hour| usage_row(hour, 0.05, 800.0))
        .collect();
    usage.extend((NOW - 23..NOW + 1).map(|hour| usage_row(hour, 0.06, 850.0)));
    let limits = AnomalyLimits::default();
    assert!(
        detect::usage_anomalies(&usage, &[], &windows(), &limits).is_empty(),
        "20 % more is not a spike"
    );
    usage.extend((NOW - 3..NOW + 1).map(|hour| usage_row(hour, 2.0, 4000.0)));
    let found = detect::usage_anomalies(&usage, &[], &windows(), &limits);
    let kinds: Vec<(&str, &str)> = found
        .iter()
        .map(|anomaly| (anomaly.kind, anomaly.subject.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("cost_spike", "cost per hour"),
            ("latency_regression", "model gpt-4.1")
        ],
        "{found:?}"
    );
}
