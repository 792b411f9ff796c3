//! Whether and when to pursue certification, from the organisation's profile, and what it would take in time
//! and money.

use crate::registry::manifest::Organization;

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `pursue certification now`, `certify within 12 months` or `monitor and prepare`.
    pub recommendation: &'static str,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub ai_systems: usize,
    pub months: String,
    pub cost_usd: String,
    pub note: String,
}

/// The certification decision from the organisation's profile.
pub fn decide(
    organization: Option<&Organization>,
    production_agents: usize,
    high_risk_agents: usize,
) -> Decision {
    let mut reasons = Vec::new();
    let Some(org) = organization else {
        return Decision {
            recommendation: "monitor and prepare",
            reasons: vec!["no Organization profile is declared (`kind: Organization`)".into()],
        };
    };
    if org.sells_ai_to_enterprises {
        reasons.push("enterprise customers ask for certification in procurement".into());
    }
    if org.regulated_industry {
        reasons.push("a regulated industry expects a certified AI management system".into());
    }
    if org.eu_customers {
        reasons.push(
            "the EU AI Act applies; ISO/IEC 42001 gives the management system its obligations hang on".into(),
        );
    }
    if high_risk_agents > 0 {
        reasons.push(format!("{high_risk_agents} high-risk agent(s) in production"));
    }
    reasons.push(format!("{production_agents} agent(s) in production"));
    let recommendation = if org.sells_ai_to_enterprises
        || (org.regulated_industry && org.eu_customers && high_risk_agents > 0)
    {
        "pursue certification now"
    } else if org.eu_customers || org.regulated_industry || production_agents >= 5 {
        "certify within 12 months"
    } else {
        "monitor and prepare"
    };
    Decision {
        recommendation,
        reasons,
    }
}

/// Timeline and cost by the number of AI systems in scope, less 20-30 % with ISO/IEC 27001: an estimate.
pub fn estimate(ai_systems: usize, iso27001: bool) -> Estimate {
    let (months, low, high, open_ended) = match ai_systems {
        0..5 => ("4-6", 15_000, 40_000, false),
        5..=20 => ("6-8", 40_000, 100_000, false),
        _ => ("6-9", 100_000, 200_000, true),
    };
    let money = |value: u64| format!("${}k", value / 1000);
    let (low, high) = if iso27001 {
        // 20-30 % less: the low end takes the larger saving, the high end the smaller.
        (low * 70 / 100, high * 80 / 100)
    } else {
        (low, high)
    };
    Estimate {
        ai_systems,
        months: format!("{months} months"),
        cost_usd: format!(
            "{}-{}{}",
            money(low),
            money(high),
            if open_ended { "+" } else { "" }
        ),
        note: format!(
            "an estimate for planning, not a quote: {ai_systems} AI system(s) in scope{}",
            if iso27001 {
                "; 20-30 % less because an ISO/IEC 27001 management system already carries the shared clauses"
            } else {
                ""
            }
        ),
    }
}
