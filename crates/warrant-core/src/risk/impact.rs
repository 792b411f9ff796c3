//! The impact assessment of one agent (ISO/IEC 42001 6.1.4, 8.4, A.5.2–A.5.5), generated from the registry
//! and the risk findings: what the agent decides, who it affects, everything it can touch (through the
//! agents it triggers too, not only what it is meant to do), how far a cascade reaches and what oversight is
//! in place. The document holds no timestamp, so two generations differ only when the facts do: the store
//! keeps a new version only then, and a version is approved by a person.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::{Classification, Finding, group_limit, rule_name};
use crate::registry::manifest::{Access, Agent, DecisionScope, Egress, Oversight, RuleOutcome};
use crate::registry::{Registry, access_name, sensitivity_name};

/// One thing the agent can touch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// `tool:<id>` or `datasource:<id>`.
    pub object: String,
    /// What it is: access, egress, irreversibility, sensitivity, personal data.
    pub nature: String,
    /// `direct`, or the downstream agent it is reached through.
    pub via: String,
}

/// A finding, as the assessment lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingLine {
    pub id: String,
    pub severity: String,
    pub status: String,
    pub summary: String,
}

/// The generated assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpactAssessment {
    pub agent: String,
    pub purpose: String,
    pub owner: String,
    pub declared_risk_class: String,
    pub computed_risk_class: String,
    pub classification_reasons: Vec<String>,
    pub eu_ai_act_hint: Option<String>,
    pub decision_scope: String,
    /// The people the agent's decisions affect, as declared.
    pub affected: Vec<String>,
    pub reach: Vec<Reach>,
    /// Agents it can start, directly or through others, and how deep.
    pub cascade: Vec<String>,
    pub cascade_depth: usize,
    pub oversight: Vec<String>,
    pub findings: Vec<FindingLine>,
    /// What the assessment itself finds missing.
    pub gaps: Vec<String>,
    pub controls: Vec<String>,
}

/// Generate the assessment of `agent`; `None` if the registry has no such agent.
pub fn assess(
    registry: &Registry,
    agent_id: &str,
    findings: &[Finding],
    classification: &[Classification],
) -> Option<ImpactAssessment> {
    let agent = registry.agent(agent_id)?;
    let class = classification.iter().find(|class| class.agent == agent.id);
    let (cascade, depth) = cascade(registry, agent);
    let mut reach = reach_of(registry, agent, "direct");
    for downstream in &cascade {
        if let Some(other) = registry.agent(downstream) {
            reach.extend(reach_of(registry, other, downstream));
        }
    }
    let findings: Vec<FindingLine> = findings
        .iter()
        .filter(|finding| finding.agent.split(',').any(|id| id == agent.id))
        .map(|finding| FindingLine {
            id: finding.id.clone(),
            severity: finding.severity.to_owned(),
            status: finding.status.to_owned(),
            summary: finding.summary.clone(),
        })
        .collect();
    let mut gaps = Vec::new();
    if agent.affected.is_empty() {
        gaps.push("the people affected are not declared (`affected` in the agent's manifest)".to_owned());
    }
    if let Some(class) = class
        && class.computed > class.declared
    {
        gaps.push(format!(
            "declared risk class {} is below the computed {}",
            class.declared.as_str(),
            class.computed.as_str()
        ));
    }
    let open_severe = findings
        .iter()
        .filter(|finding| {
            finding.status == "open" && matches!(finding.severity.as_str(), "high" | "critical")
        })
        .count();
    if open_severe > 0 {
        gaps.push(format!(
            "{open_severe} open high or critical finding(s) need a treatment"
        ));
    }
    let mut controls: Vec<String> = ["6.1.4", "8.4", "A.5.2", "A.5.3", "A.5.4", "A.5.5"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    if class.is_some_and(|class| class.eu_ai_act_hint.is_some()) {
        controls.push("Art.27".into());
    }
    Some(ImpactAssessment {
        agent: agent.id.clone(),
        purpose: agent.purpose.clone(),
        owner: agent.owner.clone(),
        declared_risk_class: agent.risk_class.as_str().to_owned(),
        computed_risk_class: class
            .map(|class| class.computed.as_str().to_owned())
            .unwrap_or_default(),
        classification_reasons: class.map(|class| class.reasons.clone()).unwrap_or_default(),
        eu_ai_act_hint: class.and_then(|class| class.eu_ai_act_hint.clone()),
        decision_scope: match agent.decision_scope {
            DecisionScope::Recommend => "recommend: a person acts on its output".into(),
            DecisionScope::Execute => "execute: it acts on its own through its tools".into(),
        },
        affected: agent.affected.clone(),
        reach,
        cascade,
        cascade_depth: depth,
        oversight: oversight(registry, agent),
        findings,
        gaps,
        controls,
    })
}

fn reach_of(registry: &Registry, agent: &Agent, via: &str) -> Vec<Reach> {
    let mut reach = Vec::new();
    for grant in &agent.tools {
        let nature = match registry.tool(&grant.tool) {
            Some(tool) => {
                let mut parts = vec![format!("{} access", access_name(grant.access.min(tool.access)))];
                if tool.egress == Egress::External {
                    parts.push("sends outside the organisation".into());
                }
                if tool.irreversible {
                    parts.push("irreversible".into());
                }
                if tool.untrusted_output {
                    parts.push("returns untrusted content".into());
                }
                parts.push(format!("{} data", sensitivity_name(tool.sensitivity)));
                parts.join(", ")
            }
            None => "not in the registry".into(),
        };
        reach.push(Reach {
            object: format!("tool:{}", grant.tool),
            nature,
            via: via.to_owned(),
        });
    }
    for source in &agent.data_sources {
        let nature = match registry.data_source(source) {
            Some(data) => format!(
                "{}{}",
                sensitivity_name(data.sensitivity),
                if data.personal_data { ", personal data" } else { "" }
            ),
            None => "not in the registry".into(),
        };
        reach.push(Reach {
            object: format!("datasource:{source}"),
            nature,
            via: via.to_owned(),
        });
    }
    reach
}

/// Every agent `agent` can start, breadth first, and the depth of the deepest.
fn cascade(registry: &Registry, agent: &Agent) -> (Vec<String>, usize) {
    let mut reached: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<(String, usize)> = agent.downstream.iter().map(|id| (id.clone(), 1)).collect();
    while let Some((id, depth)) = queue.pop_front() {
        if id == agent.id || reached.contains_key(&id) {
            continue;
        }
        if let Some(next) = registry.agent(&id) {
            queue.extend(next.downstream.iter().map(|down| (down.clone(), depth + 1)));
        }
        reached.insert(id, depth);
    }
    let depth = reached.values().copied().max().unwrap_or(0);
    (reached.into_keys().collect(), depth)
}

fn oversight(registry: &Registry, agent: &Agent) -> Vec<String> {
    let mut lines = vec![match agent.oversight {
        Oversight::HumanInTheLoop => {
            "declared: human in the loop (a person approves each consequential action)".to_owned()
        }
        Oversight::HumanOnTheLoop => {
            "declared: human on the loop (a person watches and can intervene)".to_owned()
        }
        Oversight::HumanInCommand => {
            "declared: human in command (a person decides when and whether it runs)".to_owned()
        }
        Oversight::None => "no human oversight declared".to_owned(),
    }];
    lines.push(format!(
        "gate taint rules: external egress after sensitive data {}, irreversible after untrusted input {}",
        rule_name(agent.taint.external_after_sensitive),
        rule_name(agent.taint.irreversible_after_untrusted)
    ));
    if agent.taint.external_after_sensitive == RuleOutcome::Off {
        lines.push("the exfiltration taint rule is off for this agent".into());
    }
    let tools: BTreeSet<&str> = agent.tools.iter().map(|grant| grant.tool.as_str()).collect();
    for tool in &tools {
        if let Some(policy) = super::approval_policy(registry, tool) {
            lines.push(policy);
        }
        if let Some(limit) = group_limit(registry, agent, tool) {
            lines.push(limit);
        }
    }
    let acting = agent
        .tools
        .iter()
        .filter(|grant| grant.access > Access::Read)
        .count();
    lines.push(format!(
        "kill switch: `warrant agents suspend {}` stops every call at the gate; {acting} acting grant(s) under periodic access review",
        agent.id
    ));
    lines.dedup();
    lines
}

impl ImpactAssessment {
    /// The assessment as a Markdown document; `version` adds the record's header (version, digest, approval).
    pub fn to_markdown(&self, version: Option<&serde_json::Value>) -> String {
        let mut out = format!("# Impact assessment: {}\n\n", self.agent);
        if let Some(version) = version {
            let field = |name: &str| {
                version
                    .get(name)
                    .map(|value| match value {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Null => "-".into(),
                        other => other.to_string(),
                    })
                    .unwrap_or_else(|| "-".into())
            };
            out.push_str(&format!(
                "Version {} recorded {} by {}; digest `{}`; approved: {} {}\n\n",
                field("version"),
                field("recorded_at"),
                field("recorded_by"),
                field("digest"),
                field("approved_by"),
                field("approved_at"),
            ));
        } else {
            out.push_str("Draft generated from the registry and the risk analysis; not recorded.\n\n");
        }
        out.push_str(&format!(
            "Controls: {}\n\n## Purpose and owner\n\n{}\n\nOwner: {}\n\n",
            self.controls.join(", "),
            self.purpose,
            self.owner
        ));
        out.push_str(&format!(
            "## Decision scope and risk class\n\n- Scope: {}\n- Risk class: declared {}, computed {}\n",
            self.decision_scope, self.declared_risk_class, self.computed_risk_class
        ));
        for reason in &self.classification_reasons {
            out.push_str(&format!("  - {reason}\n"));
        }
        if let Some(hint) = &self.eu_ai_act_hint {
            out.push_str(&format!("- EU AI Act: {hint}\n"));
        }
        out.push_str("\n## People affected\n\n");
        if self.affected.is_empty() {
            out.push_str("- not declared\n");
        }
        for group in &self.affected {
            out.push_str(&format!("- {group}\n"));
        }
        out.push_str(
            "\n## Access boundaries (what it can touch)\n\n| object | nature | via |\n|---|---|---|\n",
        );
        for reach in &self.reach {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                reach.object, reach.nature, reach.via
            ));
        }
        out.push_str("\n## Cascading effects\n\n");
        if self.cascade.is_empty() {
            out.push_str("It starts no other agent.\n");
        } else {
            out.push_str(&format!(
                "It can start {} agent(s), {} deep: {}.\n",
                self.cascade.len(),
                self.cascade_depth,
                self.cascade.join(", ")
            ));
        }
        out.push_str("\n## Oversight in place\n\n");
        for line in &self.oversight {
            out.push_str(&format!("- {line}\n"));
        }
        out.push_str("\n## Risk findings\n\n");
        if self.findings.is_empty() {
            out.push_str("None.\n");
        }
        for finding in &self.findings {
            out.push_str(&format!(
                "- [{}] {} ({}): {}\n",
                finding.severity.to_uppercase(),
                finding.id,
                finding.status,
                finding.summary
            ));
        }
        out.push_str("\n## Gaps\n\n");
        if self.gaps.is_empty() {
            out.push_str("None found.\n");
        }
        for gap in &self.gaps {
            out.push_str(&format!("- {gap}\n"));
        }
        out
    }
}
