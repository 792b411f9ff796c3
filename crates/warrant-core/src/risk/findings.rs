//! The risk findings: exfiltration paths, prompt-injection exposure, irreversible actions without a human,
//! combined authority, cascades, and what the log shows that the registry does not declare.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use super::graph::active_agents;
use crate::registry::manifest::{
    Access, Agent, DecisionScope, Egress, Kind, Manifest, Oversight, RuleOutcome, Sensitivity,
};
use crate::registry::{Registry, access_name, sensitivity_name};

/// One risk the analysis found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable across runs: the kind and the subject.
    pub id: String,
    pub kind: &'static str,
    pub severity: &'static str,
    pub agent: String,
    pub summary: String,
    /// The path, node by node, as evidence.
    pub path: Vec<String>,
    /// `open`, or `mitigated` (with `mitigation` saying by what).
    pub status: &'static str,
    pub mitigation: Option<String>,
    pub controls: Vec<&'static str>,
    pub treatment: String,
}

/// What the log shows, for the findings that compare it with the registry.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// (agent, tool) pairs called, with the last hour each was called.
    pub calls: Vec<(String, String, i64)>,
    /// Agents that wrote any event.
    pub agents: BTreeSet<String>,
    /// Hours since which a grant counts as unused.
    pub unused_since_hour: Option<i64>,
    /// Data sources read or written, and tool calls that said whether they read or wrote.
    pub accesses: Vec<ObservedAccess>,
    /// Per agent: tool calls in the log, and the gate's decisions for it. Controls the gate enforces (taint
    /// rules, approval policies, group limits) are in force only for an agent whose calls pass the gate.
    pub gate: BTreeMap<String, (u64, u64)>,
    /// MCP upstream tools hidden from every agent: undeclared, or a definition changed since approval.
    pub hidden_tools: Vec<(crate::mcp::Record, crate::mcp::Hidden)>,
}

/// An agent whose logged tool calls mostly never asked the gate: (calls, decisions).
fn bypasses_gate(observed: &Observed, agent: &str) -> Option<(u64, u64)> {
    observed
        .gate
        .get(agent)
        .copied()
        .filter(|(calls, decisions)| *calls >= 10 && decisions.saturating_mul(2) < *calls)
}

/// An agent's use of a data source or a tool, in one mode, and the last hour it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAccess {
    pub agent: String,
    pub target: AccessTarget,
    /// `read`, `write` or `execute`.
    pub mode: Access,
    pub last_hour: i64,
}

/// What an observed access touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessTarget {
    DataSource(String),
    Tool(String),
}

/// Every finding over `registry`, and over what was `observed` when given.
pub fn analyze(registry: &Registry, observed: Option<&Observed>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let agents: Vec<&Agent> = active_agents(registry).collect();
    let index = Agents::new(&agents);
    for agent in &agents {
        findings.extend(exfiltration(registry, agent, &index));
        findings.extend(injection(registry, agent, &index));
        findings.extend(irreversible_without_oversight(registry, agent));
        findings.extend(cascade(registry, agent, &index));
    }
    findings.extend(combined_authority(registry, &agents));
    findings.extend(group_limits_over_policy(registry));
    if let Some(observed) = observed {
        findings.extend(declared_vs_observed(registry, observed));
        for finding in &mut findings {
            gate_in_force(finding, observed);
        }
    }
    findings.sort_by(|a, b| {
        severity_rank(b.severity)
            .cmp(&severity_rank(a.severity))
            .then(a.id.cmp(&b.id))
    });
    findings
}

/// A mitigation that rests on the gate holds only if the agent's calls go through the gate: when the log
/// shows them bypassing it, the finding is open, and says why.
fn gate_in_force(finding: &mut Finding, observed: &Observed) {
    let Some(mitigation) = &finding.mitigation else {
        return;
    };
    if mitigation.contains("human-in-the-loop") {
        return;
    }
    let Some((calls, decisions)) = bypasses_gate(observed, &finding.agent) else {
        return;
    };
    finding.summary = format!(
        "{}; the control is configured ({mitigation}) but not in force: the log shows {calls} tool calls by {} and {decisions} gate decisions",
        finding.summary, finding.agent
    );
    finding.mitigation = None;
    finding.status = "open";
    if finding.kind == "irreversible_without_oversight" {
        finding.severity = "high";
    }
    finding.treatment = format!(
        "route {}'s tool calls through the gate (`POST /v1/authorize` before each call); then: {}",
        finding.agent, finding.treatment
    );
}

/// Sensitive data the agent takes in, and from where: its data sources and the read tools it holds.
fn sensitive_inputs(registry: &Registry, agent: &Agent) -> Vec<(String, Sensitivity)> {
    let mut inputs = Vec::new();
    for source in &agent.data_sources {
        if let Some(source) = registry
            .data_source(source)
            .filter(|source| source.sensitivity >= Sensitivity::Confidential)
        {
            inputs.push((format!("datasource:{}", source.id), source.sensitivity));
        }
    }
    for grant in &agent.tools {
        if let Some(tool) = registry
            .tool(&grant.tool)
            .filter(|tool| tool.access == Access::Read && tool.sensitivity >= Sensitivity::Confidential)
        {
            inputs.push((format!("tool:{}", tool.id), tool.sensitivity));
        }
    }
    inputs
}

fn external_tools<'a>(
    registry: &'a Registry,
    agent: &'a Agent,
) -> impl Iterator<Item = &'a crate::registry::manifest::Tool> {
    agent
        .tools
        .iter()
        .filter_map(|grant| registry.tool(&grant.tool))
        .filter(|tool| tool.egress == Egress::External)
}

/// The registry's agents by id, and for each agent the agents that trigger it (the reverse of `downstream`),
/// so walking a chain upstream costs its length, not a scan of every agent per step.
struct Agents<'a> {
    by_id: BTreeMap<&'a str, &'a Agent>,
    triggered_by: BTreeMap<&'a str, Vec<&'a Agent>>,
}

impl<'a> Agents<'a> {
    fn new(agents: &[&'a Agent]) -> Agents<'a> {
        let mut triggered_by: BTreeMap<&'a str, Vec<&'a Agent>> = BTreeMap::new();
        for agent in agents {
            for downstream in &agent.downstream {
                triggered_by.entry(downstream.as_str()).or_default().push(agent);
            }
        }
        Agents {
            by_id: agents.iter().map(|agent| (agent.id.as_str(), *agent)).collect(),
            triggered_by,
        }
    }

    fn get(&self, id: &str) -> Option<&'a Agent> {
        self.by_id.get(id).copied()
    }

    /// Agents upstream of `agent` (that trigger it, directly or through others), nearest first, with the
    /// path from each to `agent`.
    fn upstream(&self, agent: &str) -> Vec<(Vec<String>, &'a Agent)> {
        let mut found = Vec::new();
        let mut queue: VecDeque<(String, Vec<String>)> =
            VecDeque::from([(agent.to_owned(), vec![agent.to_owned()])]);
        let mut seen = BTreeSet::from([agent.to_owned()]);
        while let Some((current, path)) = queue.pop_front() {
            for candidate in self.triggered_by.get(current.as_str()).into_iter().flatten() {
                if seen.insert(candidate.id.clone()) {
                    let mut longer = vec![candidate.id.clone()];
                    longer.extend(path.iter().cloned());
                    found.push((longer.clone(), *candidate));
                    queue.push_back((candidate.id.clone(), longer));
                }
            }
        }
        found
    }
}

fn exfiltration(registry: &Registry, agent: &Agent, index: &Agents<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let sinks: Vec<_> = external_tools(registry, agent).collect();
    if sinks.is_empty() {
        return findings;
    }
    // Within the agent: its own sensitive inputs; through a chain: an upstream agent's.
    let mut origins: Vec<(Vec<String>, String, Sensitivity)> = sensitive_inputs(registry, agent)
        .into_iter()
        .map(|(input, sensitivity)| (vec![agent.id.clone()], input, sensitivity))
        .collect();
    for (chain, upstream_agent) in index.upstream(&agent.id) {
        for (input, sensitivity) in sensitive_inputs(registry, upstream_agent) {
            origins.push((chain.clone(), input, sensitivity));
        }
    }
    // One finding per chain and sink, naming every sensitive input that reaches it.
    let mut chains: BTreeMap<Vec<String>, Vec<(String, Sensitivity)>> = BTreeMap::new();
    for (chain, input, sensitivity) in origins {
        chains.entry(chain).or_default().push((input, sensitivity));
    }
    for sink in sinks {
        for (chain, inputs) in &chains {
            let Some((input, sensitivity)) = inputs.iter().max_by_key(|(_, sensitivity)| *sensitivity) else {
                continue;
            };
            let within = chain.len() == 1;
            let mut path = vec![input.clone()];
            path.extend(chain.iter().map(|id| format!("agent:{id}")));
            path.push(format!("tool:{}", sink.id));
            path.push("external".into());
            // The gate's taint rule holds an external call in a session that read sensitive data; it sees one
            // agent's session, so it covers a path within one agent, not a chain across agents.
            let mitigation = if within && agent.taint.external_after_sensitive != RuleOutcome::Off {
                Some(format!(
                    "the gate's taint rule (external_after_sensitive: {}) holds {} after a sensitive read unless the user named the recipient",
                    rule_name(agent.taint.external_after_sensitive),
                    sink.id
                ))
            } else {
                approval_policy(registry, &sink.id)
            };
            let severity = if *sensitivity >= Sensitivity::Restricted {
                "critical"
            } else {
                "high"
            };
            let names: Vec<&str> = inputs.iter().map(|(input, _)| input.as_str()).collect();
            findings.push(Finding {
                id: format!("exfiltration:{}:{}", chain.join(">"), sink.id),
                kind: "exfiltration_path",
                severity,
                agent: agent.id.clone(),
                summary: format!(
                    "{} data ({}) can leave through {} {}",
                    sensitivity_name(*sensitivity),
                    names.join(", "),
                    sink.id,
                    if within { format!("within {}", agent.id) } else { format!("through the chain {}", chain.join(" -> ")) }
                ),
                path,
                status: if mitigation.is_some() { "mitigated" } else { "open" },
                mitigation,
                controls: vec!["A.7.4", "A.9.2", "A.6.2.6", "6.1.2"],
                treatment: if within {
                    "keep the taint rule on; name allowed recipients per session; or remove the egress tool".into()
                } else {
                    "add a Cedar policy that holds this tool for approval when the agent was triggered with sensitive data, or cut the trigger".into()
                },
            });
        }
    }
    findings
}

fn injection(registry: &Registry, agent: &Agent, index: &Agents<'_>) -> Vec<Finding> {
    let untrusted_here: Vec<String> = agent
        .tools
        .iter()
        .filter_map(|grant| registry.tool(&grant.tool))
        .filter(|tool| tool.untrusted_output)
        .map(|tool| tool.id.clone())
        .collect();
    let untrusted_upstream: Vec<(Vec<String>, String)> = index
        .upstream(&agent.id)
        .into_iter()
        .flat_map(|(chain, upstream_agent)| {
            upstream_agent
                .tools
                .iter()
                .filter_map(|grant| registry.tool(&grant.tool))
                .filter(|tool| tool.untrusted_output)
                .map(move |tool| (chain.clone(), tool.id.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let consequential: Vec<&crate::registry::manifest::Tool> = agent
        .tools
        .iter()
        .filter(|grant| grant.access > Access::Read)
        .filter_map(|grant| registry.tool(&grant.tool))
        .filter(|tool| tool.access > Access::Read || tool.irreversible || tool.egress == Egress::External)
        .collect();
    let mut findings = Vec::new();
    let entries = untrusted_here
        .iter()
        .map(|tool| (vec![agent.id.clone()], tool.clone()))
        .chain(untrusted_upstream);
    for (chain, entry) in entries {
        for tool in &consequential {
            let severity = if tool.irreversible || tool.egress == Egress::External {
                "high"
            } else {
                "medium"
            };
            let covered = if tool.irreversible {
                agent.taint.irreversible_after_untrusted != RuleOutcome::Off
            } else if tool.egress == Egress::External {
                agent.taint.external_after_sensitive != RuleOutcome::Off
            } else {
                false
            };
            let within = chain.len() == 1;
            let mitigation = if within && covered {
                Some(format!(
                    "the gate's taint rules hold {} after untrusted content in the session",
                    tool.id
                ))
            } else {
                approval_policy(registry, &tool.id)
            };
            let mut path = vec!["untrusted-input".to_owned(), format!("tool:{entry}")];
            path.extend(chain.iter().map(|id| format!("agent:{id}")));
            path.push(format!("tool:{}", tool.id));
            findings.push(Finding {
                id: format!("injection:{}:{entry}:{}", chain.join(">"), tool.id),
                kind: "prompt_injection_exposure",
                severity,
                agent: agent.id.clone(),
                summary: format!(
                    "untrusted content from {entry} reaches {}, which can call {} ({})",
                    agent.id,
                    tool.id,
                    describe_tool(tool)
                ),
                path,
                status: if mitigation.is_some() { "mitigated" } else { "open" },
                mitigation,
                controls: vec!["A.6.2.4", "A.6.2.6", "A.9.2"],
                treatment:
                    "keep untrusted-content taint rules on, or separate reading untrusted content from acting"
                        .into(),
            });
        }
    }
    findings
}

fn irreversible_without_oversight(registry: &Registry, agent: &Agent) -> Vec<Finding> {
    if agent.decision_scope != DecisionScope::Execute {
        return Vec::new();
    }
    agent
        .tools
        .iter()
        .filter_map(|grant| registry.tool(&grant.tool))
        .filter(|tool| tool.irreversible)
        .map(|tool| {
            let mitigation = if agent.oversight == Oversight::HumanInTheLoop {
                Some("a human approves each consequential action (human-in-the-loop)".to_owned())
            } else {
                approval_policy(registry, &tool.id).or_else(|| group_limit(registry, agent, &tool.id))
            };
            Finding {
                id: format!("irreversible:{}:{}", agent.id, tool.id),
                kind: "irreversible_without_oversight",
                severity: if mitigation.is_some() { "medium" } else { "high" },
                agent: agent.id.clone(),
                summary: format!("{} executes {} (irreversible) on its own", agent.id, tool.id),
                path: vec![format!("agent:{}", agent.id), format!("tool:{}", tool.id)],
                status: if mitigation.is_some() { "mitigated" } else { "open" },
                mitigation,
                controls: vec!["A.9.2", "A.9.3", "Art.14"],
                treatment: "require approval for this tool (a Policy with @outcome(\"approval_required\")), or set the agent to human-in-the-loop".into(),
            }
        })
        .collect()
}

fn combined_authority(registry: &Registry, agents: &[&Agent]) -> Vec<Finding> {
    // Agents that can move amounts, with the tools they move them through.
    let holders: BTreeMap<&str, Vec<&str>> = agents
        .iter()
        .filter_map(|agent| {
            let tools: Vec<&str> = agent
                .tools
                .iter()
                .filter(|grant| {
                    registry
                        .tool(&grant.tool)
                        .is_some_and(|tool| tool.amount_arg.is_some())
                })
                .map(|grant| grant.tool.as_str())
                .collect();
            (!tools.is_empty()).then_some((agent.id.as_str(), tools))
        })
        .collect();
    let by_id: BTreeMap<&str, &Agent> = agents.iter().map(|agent| (agent.id.as_str(), *agent)).collect();
    // Sets whose authority adds up: holders with one owner, and holders in one flow (linked by triggers).
    let mut sets: BTreeMap<Vec<&str>, String> = BTreeMap::new();
    let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for id in holders.keys() {
        if let Some(agent) = by_id.get(id) {
            by_owner.entry(agent.owner.as_str()).or_default().push(id);
        }
    }
    for (owner, ids) in by_owner {
        sets.entry(ids).or_insert_with(|| format!("owned by {owner}"));
    }
    for ids in flows(agents) {
        let members: Vec<&str> = ids.into_iter().filter(|id| holders.contains_key(id)).collect();
        sets.entry(members)
            .or_insert_with(|| "in one flow of triggers".into());
    }
    let mut findings = Vec::new();
    for (ids, why) in sets {
        if ids.len() < 2 {
            continue;
        }
        let groups: BTreeSet<Option<&str>> = ids
            .iter()
            .filter_map(|id| by_id.get(id))
            .map(|agent| agent.group.as_deref())
            .collect();
        let all_limited = ids.iter().filter_map(|id| by_id.get(id)).all(|agent| {
            holders.get(agent.id.as_str()).is_some_and(|tools| {
                tools
                    .iter()
                    .all(|tool| group_limit(registry, agent, tool).is_some())
            })
        });
        let mitigation = (all_limited && groups.len() == 1)
            .then(|| {
                groups
                    .iter()
                    .flatten()
                    .next()
                    .map(|group| format!("group `{group}` limits their combined total"))
            })
            .flatten();
        let tools: BTreeSet<&str> = ids
            .iter()
            .filter_map(|id| holders.get(id))
            .flatten()
            .copied()
            .collect();
        findings.push(Finding {
            id: format!("combined:{}", ids.join("+")),
            kind: "combined_authority",
            severity: if mitigation.is_some() { "low" } else { "high" },
            agent: ids.join(","),
            summary: format!(
                "{} agents {why} can move amounts ({}); together they can exceed what any one may",
                ids.len(),
                tools.iter().copied().collect::<Vec<_>>().join(", ")
            ),
            path: ids
                .iter()
                .map(|id| format!("agent:{id}"))
                .chain(tools.iter().map(|tool| format!("tool:{tool}")))
                .collect(),
            status: if mitigation.is_some() { "mitigated" } else { "open" },
            mitigation,
            controls: vec!["A.9.2", "A.3.2", "6.1.2"],
            treatment: "put them in one Group with a limit on the combined amount".into(),
        });
    }
    findings
}

/// The agents linked by trigger edges (either way), as sets; agents with no link are left out.
fn flows<'a>(agents: &[&'a Agent]) -> Vec<Vec<&'a str>> {
    let ids: Vec<&str> = agents.iter().map(|agent| agent.id.as_str()).collect();
    let position: BTreeMap<&str, usize> = ids.iter().enumerate().map(|(index, id)| (*id, index)).collect();
    let mut parent: Vec<usize> = (0..ids.len()).collect();
    fn root(parent: &mut [usize], mut at: usize) -> usize {
        while let Some(&up) = parent.get(at) {
            if up == at {
                break;
            }
            at = up;
        }
        at
    }
    for (index, agent) in agents.iter().enumerate() {
        for downstream in &agent.downstream {
            if let Some(&other) = position.get(downstream.as_str()) {
                let (a, b) = (root(&mut parent, index), root(&mut parent, other));
                if let Some(slot) = parent.get_mut(a) {
                    *slot = b;
                }
            }
        }
    }
    let mut sets: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (index, id) in ids.iter().enumerate() {
        sets.entry(root(&mut parent, index)).or_default().push(id);
    }
    sets.into_values().filter(|set| set.len() > 1).collect()
}

fn cascade(registry: &Registry, agent: &Agent, index: &Agents<'_>) -> Vec<Finding> {
    if agent.downstream.is_empty() {
        return Vec::new();
    }
    // Breadth first over trigger edges: every agent reachable, and how deep.
    let mut reached: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<(String, usize)> = agent.downstream.iter().map(|id| (id.clone(), 1)).collect();
    while let Some((id, depth)) = queue.pop_front() {
        if id == agent.id || reached.contains_key(&id) {
            continue;
        }
        reached.insert(id.clone(), depth);
        if let Some(next) = index.get(&id) {
            queue.extend(next.downstream.iter().map(|down| (down.clone(), depth + 1)));
        }
    }
    let depth = reached.values().copied().max().unwrap_or(0);
    let actions: BTreeSet<String> = reached
        .keys()
        .filter_map(|id| index.get(id))
        .flat_map(|reached_agent| reached_agent.tools.iter())
        .filter_map(|grant| registry.tool(&grant.tool))
        .filter(|tool| tool.irreversible || tool.egress == Egress::External || tool.access > Access::Read)
        .map(|tool| tool.id.clone())
        .collect();
    let irreversible = actions
        .iter()
        .filter(|id| registry.tool(id).is_some_and(|tool| tool.irreversible))
        .count();
    let severity = if irreversible > 0 { "medium" } else { "low" };
    vec![Finding {
        id: format!("cascade:{}", agent.id),
        kind: "cascade",
        severity,
        agent: agent.id.clone(),
        summary: format!(
            "{} can start {} agent(s), {depth} deep, reaching {} consequential action(s) ({irreversible} irreversible)",
            agent.id,
            reached.len(),
            actions.len()
        ),
        path: std::iter::once(format!("agent:{}", agent.id))
            .chain(reached.keys().map(|id| format!("agent:{id}")))
            .chain(actions.iter().map(|id| format!("tool:{id}")))
            .collect(),
        status: "open",
        mitigation: None,
        controls: vec!["A.5.2", "A.6.2.6", "A.8.4"],
        treatment:
            "review the downstream agents' grants and oversight as part of this agent's impact assessment"
                .into(),
    }]
}

fn declared_vs_observed(registry: &Registry, observed: &Observed) -> Vec<Finding> {
    let mut findings = Vec::new();
    for agent_id in &observed.agents {
        if !agent_id.is_empty() && registry.agent(agent_id).is_none() {
            findings.push(Finding {
                id: format!("shadow_agent:{agent_id}"),
                kind: "shadow_agent",
                severity: "high",
                agent: agent_id.clone(),
                summary: format!("events come from {agent_id}, which is not in the registry"),
                path: vec![format!("agent:{agent_id}")],
                status: "open",
                mitigation: None,
                controls: vec!["A.4.2", "A.6.2.1"],
                treatment: "register the agent (owner, purpose, risk class, grants) or stop it".into(),
            });
        }
    }
    for (agent_id, tool_id, _) in &observed.calls {
        let Some(agent) = registry.agent(agent_id) else {
            continue;
        };
        let granted = agent.tools.iter().find(|grant| grant.tool == *tool_id);
        let tool = registry.tool(tool_id);
        if tool.is_none() {
            findings.push(observed_finding(
                "undeclared_tool",
                agent_id,
                tool_id,
                format!("{agent_id} called {tool_id}, a tool not in the registry"),
                "high",
                "declare the tool (access, egress, sensitivity) and grant it, or block it",
            ));
        } else if granted.is_none() {
            findings.push(observed_finding(
                "ungranted_tool_use",
                agent_id,
                tool_id,
                format!("{agent_id} called {tool_id} without a grant"),
                "high",
                "grant it through review, or find how the call got past the gate",
            ));
        }
        if agent.decision_scope == DecisionScope::Recommend
            && tool.is_some_and(|tool| tool.access > Access::Read)
        {
            findings.push(observed_finding(
                "recommend_scope_executed",
                agent_id,
                tool_id,
                format!("{agent_id} is declared to recommend only, but called {tool_id}, which acts"),
                "high",
                "raise its declared scope (a substantial change) or remove the acting grant",
            ));
        }
    }
    findings.extend(hidden_mcp_tools(observed));
    findings.extend(observed_data_sources(registry, observed));
    findings.extend(write_grants_only_read(registry, observed));
    if let Some(since) = observed.unused_since_hour {
        let mut last_call: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for (agent_id, tool_id, last) in &observed.calls {
            let entry = last_call
                .entry((agent_id.as_str(), tool_id.as_str()))
                .or_insert(*last);
            *entry = (*entry).max(*last);
        }
        // An agent the log has never seen is not running yet: its grants are not evidence of excess.
        for agent in active_agents(registry).filter(|agent| observed.agents.contains(&agent.id)) {
            // A grant younger than the window has not had the chance to be used.
            let since_date = chrono::DateTime::from_timestamp(since * 3600, 0).map(|time| time.date_naive());
            for grant in agent
                .tools
                .iter()
                .filter(|grant| since_date.is_none_or(|since| grant.approved_on.is_none_or(|on| on <= since)))
            {
                let used = last_call
                    .get(&(agent.id.as_str(), grant.tool.as_str()))
                    .is_some_and(|last| *last >= since);
                if !used {
                    findings.push(observed_finding(
                        "unused_grant",
                        &agent.id,
                        &grant.tool,
                        format!(
                            "{} holds {} but did not call it in the observed window",
                            agent.id, grant.tool
                        ),
                        "low",
                        "revoke it at the next access review (least privilege)",
                    ));
                }
            }
        }
    }
    findings
}

/// An MCP upstream offering what the registry does not account for: an undeclared tool is an unmanaged
/// resource of the AI system, a changed definition a supplier change nobody approved.
fn hidden_mcp_tools(observed: &Observed) -> impl Iterator<Item = Finding> + '_ {
    observed.hidden_tools.iter().map(|(record, reason)| {
        let (kind, severity, summary, treatment) = match reason {
            crate::mcp::Hidden::Changed => (
                "mcp_tool_changed",
                "high",
                format!(
                    "the MCP upstream `{}` changed the definition of `{}` since it was approved (seq {}); \
                     the gateway hides it from every agent",
                    record.server, record.name, record.seq
                ),
                "review the new description and input schema for injected instructions; approve it by \
                 pinning its sha256 in the McpServer manifest, or stop using the upstream",
            ),
            _ => (
                "mcp_undeclared_tool",
                "medium",
                format!(
                    "the MCP upstream `{}` offers `{}`, which maps to no declared Tool `{}` (seq {}); the \
                     gateway hides it from every agent",
                    record.server, record.name, record.tool, record.seq
                ),
                "declare the Tool (access, egress, sensitivity) and grant it where needed, or have the \
                 upstream stop offering it",
            ),
        };
        Finding {
            id: format!("{kind}:{}:{}", record.server, record.name),
            kind,
            severity,
            agent: String::new(),
            summary,
            path: vec![format!("mcp:{}", record.server), format!("tool:{}", record.tool)],
            status: "open",
            mitigation: None,
            controls: vec!["A.4.4", "A.10.3", "A.6.2.6"],
            treatment: treatment.into(),
        }
    })
}

/// Data sources seen in events that the registry does not declare, or does not declare for that agent.
fn observed_data_sources(registry: &Registry, observed: &Observed) -> Vec<Finding> {
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for access in &observed.accesses {
        if let AccessTarget::DataSource(source) = &access.target {
            seen.insert((access.agent.as_str(), source.as_str()));
        }
    }
    let mut findings = Vec::new();
    for (agent_id, source) in seen {
        let Some(agent) = registry.agent(agent_id) else {
            continue;
        };
        let mut finding = if registry.data_source(source).is_none() {
            observed_finding(
                "undeclared_data_source",
                agent_id,
                source,
                format!("{agent_id} accessed {source}, a data source not in the registry"),
                "high",
                "declare the data source (sensitivity, personal data, retention) and list it for the agent, or block the access",
            )
        } else if !agent.data_sources.iter().any(|declared| declared == source) {
            observed_finding(
                "undeclared_data_access",
                agent_id,
                source,
                format!("{agent_id} accessed {source}, which its manifest does not list"),
                "medium",
                "add the data source to the agent's manifest (a reviewed change) or stop the access",
            )
        } else {
            continue;
        };
        finding.path = vec![format!("agent:{agent_id}"), format!("datasource:{source}")];
        finding.controls = vec!["A.7.2", "A.7.5", "A.4.3", "A.6.2.6"];
        findings.push(finding);
    }
    findings
}

/// Grants to write or execute where the log shows the agent only reading through the tool.
fn write_grants_only_read(registry: &Registry, observed: &Observed) -> Vec<Finding> {
    let mut modes: BTreeMap<(&str, &str), BTreeSet<Access>> = BTreeMap::new();
    for access in &observed.accesses {
        if let AccessTarget::Tool(tool) = &access.target {
            modes
                .entry((access.agent.as_str(), tool.as_str()))
                .or_default()
                .insert(access.mode);
        }
    }
    let mut findings = Vec::new();
    for ((agent_id, tool), seen) in modes {
        let Some(grant) = registry
            .agent(agent_id)
            .and_then(|agent| agent.tools.iter().find(|grant| grant.tool == tool))
        else {
            continue;
        };
        if grant.access > Access::Read && seen.iter().all(|mode| *mode == Access::Read) {
            findings.push(observed_finding(
                "write_grant_only_reads",
                agent_id,
                tool,
                format!(
                    "{agent_id} holds {tool} with {} access but the log shows only reads",
                    access_name(grant.access)
                ),
                "low",
                "narrow the grant to read at the next access review (least privilege)",
            ));
        }
    }
    findings
}

/// Groups allowed to move more together than the organisation's authority policy permits any group.
fn group_limits_over_policy(registry: &Registry) -> Vec<Finding> {
    let Some((organization, ceiling)) = registry
        .organization()
        .and_then(|organization| Some((organization, organization.max_group_total?)))
    else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for manifest in registry.list(Kind::Group) {
        let Manifest::Group(group) = manifest else {
            continue;
        };
        let members: Vec<String> = active_agents(registry)
            .filter(|agent| agent.group.as_deref() == Some(group.id.as_str()))
            .map(|agent| format!("agent:{}", agent.id))
            .collect();
        for limit in group.limits.iter().filter(|limit| limit.max_total > ceiling) {
            findings.push(Finding {
                id: format!("group_limit:{}:{}", group.id, limit.id),
                kind: "combined_authority",
                severity: "high",
                agent: members
                    .iter()
                    .map(|member| member.trim_start_matches("agent:"))
                    .collect::<Vec<_>>()
                    .join(","),
                summary: format!(
                    "group `{}` may move {} per {} h together, above the {} {} allows any group",
                    group.id, limit.max_total, limit.window_hours, ceiling, organization.name
                ),
                path: std::iter::once(format!("group:{}", group.id))
                    .chain(members.iter().cloned())
                    .collect(),
                status: "open",
                mitigation: None,
                controls: vec!["A.9.2", "A.3.2", "6.1.2"],
                treatment: format!("lower limit `{}` to at most {ceiling}", limit.id),
            });
        }
    }
    findings
}

fn observed_finding(
    kind: &'static str,
    agent: &str,
    tool: &str,
    summary: String,
    severity: &'static str,
    treatment: &str,
) -> Finding {
    Finding {
        id: format!("{kind}:{agent}:{tool}"),
        kind,
        severity,
        agent: agent.to_owned(),
        summary,
        path: vec![format!("agent:{agent}"), format!("tool:{tool}")],
        status: "open",
        mitigation: None,
        controls: vec!["A.6.2.6", "A.9.2", "A.4.2"],
        treatment: treatment.to_owned(),
    }
}

/// A user policy that holds `tool` for approval, if one names it.
pub(super) fn approval_policy(registry: &Registry, tool: &str) -> Option<String> {
    registry.list(Kind::Policy).find_map(|manifest| match manifest {
        Manifest::Policy(policy)
            if policy.policy.contains("approval_required")
                && policy.policy.contains(&format!("\"{tool}\"")) =>
        {
            Some(format!("policy `{}` holds {tool} for approval", policy.id))
        }
        _ => None,
    })
}

/// The group limit `agent`'s calls of `tool` count against, if any.
pub(super) fn group_limit(registry: &Registry, agent: &Agent, tool: &str) -> Option<String> {
    let group_id = agent.group.as_deref()?;
    let Some(Manifest::Group(group)) = registry.get(Kind::Group, group_id) else {
        return None;
    };
    group
        .limits
        .iter()
        .find(|limit| limit.tools.is_empty() || limit.tools.iter().any(|limited| limited == tool))
        .map(|limit| {
            format!(
                "group `{}` limit `{}` caps the total at {} per {} h",
                group.id, limit.id, limit.max_total, limit.window_hours
            )
        })
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

fn describe_tool(tool: &crate::registry::manifest::Tool) -> String {
    let mut parts = Vec::new();
    if tool.irreversible {
        parts.push("irreversible");
    }
    if tool.egress == Egress::External {
        parts.push("external egress");
    }
    if tool.access > Access::Read {
        parts.push(if tool.access == Access::Execute {
            "executes"
        } else {
            "writes"
        });
    }
    parts.join(", ")
}

pub(super) fn rule_name(rule: RuleOutcome) -> &'static str {
    match rule {
        RuleOutcome::ApprovalRequired => "approval_required",
        RuleOutcome::Deny => "deny",
        RuleOutcome::Off => "off",
    }
}
