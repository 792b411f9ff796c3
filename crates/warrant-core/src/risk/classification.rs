//! The risk class the analysis computes for each active agent, from its grants, its data and its open
//! findings, set beside the declared one; with a hint of the EU AI Act Annex III area its purpose suggests.

use std::collections::BTreeMap;

use serde::Serialize;

use super::findings::Finding;
use super::graph::active_agents;
use crate::registry::manifest::{DecisionScope, Egress, RiskClass, Sensitivity};
use crate::registry::{Registry, sensitivity_name};

/// The risk class the analysis computes for an agent, with why; compared with the declared one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub agent: String,
    pub declared: RiskClass,
    pub computed: RiskClass,
    pub reasons: Vec<String>,
    /// A hint for legal review, not a ruling: the EU AI Act Annex III area the purpose suggests.
    pub eu_ai_act_hint: Option<String>,
}

pub fn classify(registry: &Registry, findings: &[Finding]) -> Vec<Classification> {
    // Open high or critical findings per agent, counted once rather than scanned for every agent.
    let mut open_severe_by_agent: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in findings
        .iter()
        .filter(|finding| finding.status == "open" && matches!(finding.severity, "high" | "critical"))
    {
        for agent in finding.agent.split(',') {
            *open_severe_by_agent.entry(agent).or_default() += 1;
        }
    }
    active_agents(registry)
        .map(|agent| {
            let mut reasons = Vec::new();
            let tools: Vec<_> = agent
                .tools
                .iter()
                .filter_map(|grant| registry.tool(&grant.tool))
                .collect();
            let irreversible = tools.iter().any(|tool| tool.irreversible);
            let external = tools.iter().any(|tool| tool.egress == Egress::External);
            let sensitivity = crate::registry::sensitivity_ceiling(registry, agent);
            let execute = agent.decision_scope == DecisionScope::Execute;
            let open_severe = open_severe_by_agent.get(agent.id.as_str()).copied().unwrap_or(0);
            if execute && irreversible {
                reasons.push("executes irreversible actions on its own".to_owned());
            }
            if execute && external && sensitivity >= Sensitivity::Confidential {
                reasons.push(format!(
                    "acts outside the organisation with {} data",
                    sensitivity_name(sensitivity)
                ));
            }
            if sensitivity >= Sensitivity::Restricted {
                reasons.push("touches restricted data".to_owned());
            }
            if open_severe > 0 {
                reasons.push(format!("{open_severe} open high or critical finding(s)"));
            }
            let hint = annex_iii_hint(&agent.purpose);
            if let Some(hint) = &hint {
                reasons.push(format!("purpose suggests {hint}"));
            }
            let computed = if !reasons.is_empty() {
                RiskClass::High
            } else if execute || sensitivity >= Sensitivity::Confidential {
                reasons.push(if execute {
                    "acts on its own".into()
                } else {
                    "reads confidential data".into()
                });
                RiskClass::Limited
            } else {
                reasons.push("recommends only, on data no higher than internal".into());
                RiskClass::Minimal
            };
            Classification {
                agent: agent.id.clone(),
                declared: agent.risk_class,
                computed,
                reasons,
                eu_ai_act_hint: hint,
            }
        })
        .collect()
}

/// Annex III areas a purpose suggests, by keyword at the start of a word ("exam" does not match "example"):
/// a prompt for legal review, never a classification.
fn annex_iii_hint(purpose: &str) -> Option<String> {
    let purpose = purpose.to_lowercase();
    let areas = [
        (
            [
                "credit scor",
                "creditworth",
                "loan application",
                "lending decision",
                "credit decision",
            ]
            .as_slice(),
            "Annex III 5(b): creditworthiness and credit scoring",
        ),
        (
            ["life insurance", "health insurance", "underwrit"].as_slice(),
            "Annex III 5(c): risk assessment and pricing in life and health insurance",
        ),
        (
            [
                "recruit",
                "hiring",
                "job applica",
                "candidate",
                "promotion decision",
                "termination",
            ]
            .as_slice(),
            "Annex III 4: employment and workers management",
        ),
        (
            [
                "public benefit",
                "public assistance",
                "social benefit",
                "essential service",
            ]
            .as_slice(),
            "Annex III 5(a): access to essential public services and benefits",
        ),
        (
            ["exams", "examination", "student", "admission"].as_slice(),
            "Annex III 3: education and vocational training",
        ),
        (
            [
                "biometric",
                "face recognition",
                "facial recognition",
                "emotion recognition",
            ]
            .as_slice(),
            "Annex III 1: biometrics",
        ),
    ];
    let at_word_start = |phrase: &str| {
        purpose.match_indices(phrase).any(|(at, _)| {
            purpose[..at]
                .chars()
                .next_back()
                .is_none_or(|before| !before.is_alphanumeric())
        })
    };
    areas
        .iter()
        .find(|(phrases, _)| phrases.iter().any(|phrase| at_word_start(phrase)))
        .map(|(_, area)| format!("{area} (a hint for legal review, not a ruling)"))
}
