//! The manifest kinds of the registry (`Agent`, `Tool`, `DataSource`, `AISystem`, `Policy`, `Group`, `Model`,
//! `AlertRule`, `Organization`, `Applicability`, `EvidenceRule`, `Obligation`, `IdentityProvider`, `McpServer`,
//! `Notifier`) as users write them in YAML.
//!
//! These types are a user-facing format on purpose: they derive serde with `deny_unknown_fields`, so a typo in a
//! field name is an error instead of a silently ignored setting. Their JSON form (with defaults filled in) is
//! what the store keeps and what the change log diffs.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The kind named by a document's `kind:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Agent,
    Tool,
    DataSource,
    AISystem,
    Policy,
    Group,
    Model,
    AlertRule,
    Organization,
    Applicability,
    EvidenceRule,
    Obligation,
    IdentityProvider,
    McpServer,
    Notifier,
    Witness,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::Agent,
        Kind::Tool,
        Kind::DataSource,
        Kind::AISystem,
        Kind::Policy,
        Kind::Group,
        Kind::Model,
        Kind::AlertRule,
        Kind::Organization,
        Kind::Applicability,
        Kind::EvidenceRule,
        Kind::Obligation,
        Kind::IdentityProvider,
        Kind::McpServer,
        Kind::Notifier,
        Kind::Witness,
    ];

    /// The spelling used in manifests (`kind: DataSource`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Agent => "Agent",
            Kind::Tool => "Tool",
            Kind::DataSource => "DataSource",
            Kind::AISystem => "AISystem",
            Kind::Policy => "Policy",
            Kind::Group => "Group",
            Kind::Model => "Model",
            Kind::AlertRule => "AlertRule",
            Kind::Organization => "Organization",
            Kind::Applicability => "Applicability",
            Kind::EvidenceRule => "EvidenceRule",
            Kind::Obligation => "Obligation",
            Kind::IdentityProvider => "IdentityProvider",
            Kind::McpServer => "McpServer",
            Kind::Notifier => "Notifier",
            Kind::Witness => "Witness",
        }
    }

    /// The plural used in CLI arguments and URL paths (`warrant get datasources`, `/v1/datasources`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Agent => "agents",
            Kind::Tool => "tools",
            Kind::DataSource => "datasources",
            Kind::AISystem => "systems",
            Kind::Policy => "policies",
            Kind::Group => "groups",
            Kind::Model => "models",
            Kind::AlertRule => "alertrules",
            Kind::Organization => "organizations",
            Kind::Applicability => "applicability",
            Kind::EvidenceRule => "evidencerules",
            Kind::Obligation => "obligations",
            Kind::IdentityProvider => "identity-providers",
            Kind::McpServer => "mcp-servers",
            Kind::Notifier => "notifiers",
            Kind::Witness => "witnesses",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub fn from_plural(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.plural() == name)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated document of a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    Agent(Agent),
    Tool(Tool),
    DataSource(DataSource),
    AISystem(AISystem),
    Policy(Policy),
    Group(Group),
    Model(Model),
    AlertRule(AlertRule),
    Organization(Organization),
    Applicability(Applicability),
    EvidenceRule(crate::compliance::rules::EvidenceRule),
    Obligation(Obligation),
    IdentityProvider(IdentityProvider),
    McpServer(McpServer),
    Notifier(Notifier),
    Witness(Witness),
}

impl Manifest {
    pub fn kind(&self) -> Kind {
        match self {
            Manifest::Agent(_) => Kind::Agent,
            Manifest::Tool(_) => Kind::Tool,
            Manifest::DataSource(_) => Kind::DataSource,
            Manifest::AISystem(_) => Kind::AISystem,
            Manifest::Policy(_) => Kind::Policy,
            Manifest::Group(_) => Kind::Group,
            Manifest::Model(_) => Kind::Model,
            Manifest::AlertRule(_) => Kind::AlertRule,
            Manifest::Organization(_) => Kind::Organization,
            Manifest::Applicability(_) => Kind::Applicability,
            Manifest::EvidenceRule(_) => Kind::EvidenceRule,
            Manifest::Obligation(_) => Kind::Obligation,
            Manifest::IdentityProvider(_) => Kind::IdentityProvider,
            Manifest::McpServer(_) => Kind::McpServer,
            Manifest::Notifier(_) => Kind::Notifier,
            Manifest::Witness(_) => Kind::Witness,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Manifest::Agent(agent) => &agent.id,
            Manifest::Tool(tool) => &tool.id,
            Manifest::DataSource(source) => &source.id,
            Manifest::AISystem(system) => &system.id,
            Manifest::Policy(policy) => &policy.id,
            Manifest::Group(group) => &group.id,
            Manifest::Model(model) => &model.id,
            Manifest::AlertRule(rule) => &rule.id,
            Manifest::Organization(organization) => &organization.id,
            Manifest::Applicability(applicability) => &applicability.id,
            Manifest::EvidenceRule(rule) => &rule.id,
            Manifest::Obligation(obligation) => &obligation.id,
            Manifest::IdentityProvider(provider) => &provider.id,
            Manifest::McpServer(server) => &server.id,
            Manifest::Notifier(notifier) => &notifier.id,
            Manifest::Witness(witness) => &witness.id,
        }
    }

    /// The stored form: the manifest's fields with defaults filled in, without `kind`.
    pub fn spec(&self) -> serde_json::Value {
        let value = match self {
            Manifest::Agent(agent) => serde_json::to_value(agent),
            Manifest::Tool(tool) => serde_json::to_value(tool),
            Manifest::DataSource(source) => serde_json::to_value(source),
            Manifest::AISystem(system) => serde_json::to_value(system),
            Manifest::Policy(policy) => serde_json::to_value(policy),
            Manifest::Group(group) => serde_json::to_value(group),
            Manifest::Model(model) => serde_json::to_value(model),
            Manifest::AlertRule(rule) => serde_json::to_value(rule),
            Manifest::Organization(organization) => serde_json::to_value(organization),
            Manifest::Applicability(applicability) => serde_json::to_value(applicability),
            Manifest::EvidenceRule(rule) => serde_json::to_value(rule),
            Manifest::Obligation(obligation) => serde_json::to_value(obligation),
            Manifest::IdentityProvider(provider) => serde_json::to_value(provider),
            Manifest::McpServer(server) => serde_json::to_value(server),
            Manifest::Notifier(notifier) => serde_json::to_value(notifier),
            Manifest::Witness(witness) => serde_json::to_value(witness),
        };
        // These types hold only strings, numbers, booleans, dates and lists, which always serialise.
        value.unwrap_or(serde_json::Value::Null)
    }
}

/// An autonomous agent: an AI system that chooses tools at runtime and acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: String,
    pub purpose: String,
    pub owner: String,
    pub risk_class: RiskClass,
    pub decision_scope: DecisionScope,
    #[serde(default)]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<NaiveDate>,
    /// The model the agent runs on, e.g. `gpt-4.1`; a change is a substantial modification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The version of the agent's system prompt; a change is a substantial modification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<String>,
    #[serde(default)]
    pub tools: Vec<ToolGrant>,
    #[serde(default)]
    pub data_sources: Vec<String>,
    /// Agents this agent may trigger.
    #[serde(default)]
    pub downstream: Vec<String>,
    pub oversight: Oversight,
    /// The people the agent's decisions and actions affect (e.g. `loan applicants`), for its impact assessment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<String>,
    /// Days to keep event content (prompts, outputs) before erasure; the events themselves stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Controls (ISO/IEC 42001 Annex A, EU AI Act articles) this agent is declared to fall under.
    #[serde(default)]
    pub controls: Vec<String>,
    /// The group whose combined limits this agent's amount-bearing calls count against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// How the policy gate treats a tainted session for this agent.
    #[serde(default, skip_serializing_if = "TaintRules::is_default")]
    pub taint: TaintRules,
}

/// The built-in exfiltration rules of the policy gate, per agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintRules {
    /// An external-egress tool after the session read `confidential` data or took in untrusted content,
    /// unless the recipient is one the user named.
    #[serde(default)]
    pub external_after_sensitive: RuleOutcome,
    /// An irreversible tool after the session took in untrusted content, unless what it acts on is vouched
    /// for; always when an argument's value was seen only inside untrusted free text.
    #[serde(default)]
    pub irreversible_after_untrusted: RuleOutcome,
    /// A write or action that passes on an address, URL or account the session saw only inside untrusted
    /// free text (a link from a web page put into a message to a colleague).
    #[serde(default)]
    pub relay_untrusted: RuleOutcome,
}

impl TaintRules {
    pub fn is_default(&self) -> bool {
        *self == TaintRules::default()
    }
}

/// What a built-in rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOutcome {
    #[default]
    ApprovalRequired,
    Deny,
    Off,
}

/// A user-written Cedar policy (one statement), validated against warrant's schema when applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The Cedar policy text.
    pub policy: String,
}

/// A group of agents whose amount-bearing calls share limits (combined authority).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub limits: Vec<GroupLimit>,
}

/// A ceiling on the total amount the group's agents may move within a rolling window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLimit {
    pub id: String,
    /// The most the group may total within the window, in the tools' amount unit.
    pub max_total: f64,
    pub window_hours: u32,
    /// Only these tools count; all amount-bearing tools when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// An identity provider whose JWTs agents may present instead of a warrant token: a Kubernetes
/// service-account issuer, a SPIFFE JWT-SVID trust domain, an OIDC client-credentials issuer. A token is
/// accepted when its signature verifies against the provider's keys, its `iss` and `aud` match, it has not
/// expired, and the claim `agent_claim` names a registered agent; the agent token it stands for acts for
/// that one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    pub id: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `aud` its tokens must carry for warrant.
    pub audience: String,
    /// The provider's public keys (a JWKS document), from a file the server reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    /// The provider's public keys, from a URL the server fetches (and refetches for an unknown key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// The claim that names the agent (default `sub`). For Kubernetes, a mapping from service accounts to
    /// agents is kept simple by naming the service account after the agent, or by a custom claim.
    #[serde(default = "default_agent_claim")]
    pub agent_claim: String,
    /// Strip this prefix from the claim before looking the agent up (for example
    /// `system:serviceaccount:agents:` or `spiffe://example.org/agent/`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_prefix: String,
}

fn default_agent_claim() -> String {
    "sub".into()
}

/// An MCP server warrant fronts (`warrant mcp`, `/mcp/{id}`): how to reach it, and which registry `Tool` each
/// of its tools is. A tool it lists that maps to no declared Tool is hidden from agents; one whose definition
/// no longer matches its pinned digest is hidden until the new digest is applied (tool poisoning, rug pulls).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    pub id: String,
    pub transport: McpTransport,
    /// `stdio`: the program warrant starts, its arguments, and the names of environment variables passed on
    /// to it (values come from warrant's own environment, never from the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `http`: the Streamable HTTP endpoint, and headers whose values come from environment variables
    /// (header name → variable name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_from_env: BTreeMap<String, String>,
    /// Upstream tool name → what warrant knows of it. A tool not listed here is the registry Tool
    /// `<server>.<tool>`, unpinned.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, McpToolBinding>,
    /// Resource URI prefix → the DataSource a `resources/read` under it reads (the longest prefix wins; `""`
    /// covers every resource). A resource under no prefix is not served to agents.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum McpTransport {
    Stdio,
    Http,
}

/// One upstream tool: the registry Tool it is, and the digest of the definition someone approved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpToolBinding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// SHA-256 (hex) of the canonical JSON of the tool's `{name, description, inputSchema, outputSchema,
    /// annotations}` as approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl McpServer {
    /// The registry Tool id an upstream tool is.
    pub fn tool_id(&self, upstream_tool: &str) -> String {
        self.tools
            .get(upstream_tool)
            .and_then(|binding| binding.tool.clone())
            .unwrap_or_else(|| format!("{}.{upstream_tool}", self.id))
    }

    /// The DataSource resource `uri` belongs to: the one of the longest declared prefix it starts with.
    pub fn resource_source(&self, uri: &str) -> Option<&str> {
        self.resources
            .iter()
            .filter(|(prefix, _)| uri.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, source)| source.as_str())
    }

    /// What makes the manifest unusable, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match self.transport {
            McpTransport::Stdio => {
                if self
                    .command
                    .as_deref()
                    .is_none_or(|command| command.trim().is_empty())
                {
                    problems.push((
                        "command",
                        "a stdio server needs the `command` that starts it".into(),
                    ));
                }
                if self.url.is_some() {
                    problems.push(("url", "`url` is for `transport: http`".into()));
                }
            }
            McpTransport::Http => match &self.url {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
                Some(url) => problems.push(("url", format!("`{url}` is not an http(s) URL"))),
                None => problems.push(("url", "an http server needs its `url`".into())),
            },
        }
        for binding in self.tools.values() {
            if let Some(sha) = &binding.sha256
                && (sha.len() != 64 || !sha.bytes().all(|byte| byte.is_ascii_hexdigit()))
            {
                problems.push(("tools", format!("`{sha}` is not a SHA-256 in hex")));
            }
        }
        problems
    }
}

impl IdentityProvider {
    /// What makes the manifest unusable, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("issuer", &self.issuer),
            ("audience", &self.audience),
            ("agent_claim", &self.agent_claim),
        ] {
            if value.trim().is_empty() {
                problems.push((field, "must not be empty".to_owned()));
            }
        }
        match (&self.jwks_file, &self.jwks_url) {
            (Some(_), Some(_)) => {
                problems.push(("jwks_file", "give `jwks_file` or `jwks_url`, not both".into()))
            }
            (None, None) => problems.push((
                "jwks_file",
                "the provider's keys are needed: give `jwks_file` (a JWKS document) or `jwks_url`".into(),
            )),
            (None, Some(url)) if !url.starts_with("https://") && !url.starts_with("http://") => {
                problems.push(("jwks_url", format!("`{url}` is not an http(s) URL")));
            }
            _ => {}
        }
        problems
    }
}

/// A model agents call, with its price: the price table that turns token counts into cost. The id is the model
/// name as telemetry reports it (`gen_ai.request.model`, `llm.model_name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// US dollars per million input (prompt) tokens.
    pub input_usd_per_million: f64,
    /// US dollars per million output (completion) tokens.
    pub output_usd_per_million: f64,
}

impl Model {
    /// The cost of one call, in US dollars.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_million
            + output_tokens as f64 * self.output_usd_per_million)
            / 1_000_000.0
    }
}

/// A monitoring rule: which detector to run, on what, with what threshold, and how severe a firing is.
/// Without any rule for a detector, warrant runs its default (`warrant_core::monitor::rules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub detector: Detector,
    #[serde(default)]
    pub severity: Severity,
    /// Only this agent; every agent when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Only this decision (drift and disparity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The detector's threshold (see the detector); its default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The current window, in hours (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_hours: Option<u32>,
    /// The baseline window before it, in hours (default 168).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_hours: Option<u32>,
    /// Below this many decisions in a window, drift and disparity do not fire (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<u64>,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// What an alert rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    /// Outcome distribution of a decision against its baseline; threshold: PSI (default 0.25).
    Drift,
    /// Outcome rates between segments; threshold: growth of the largest gap over the baseline (default 0.2),
    /// with the chi-square test significant at 1 %.
    Disparity,
    /// A tool the agent never called before.
    NewTool,
    /// A tool transition the agent never made before.
    NewTransition,
    /// Tool sequences more surprising than the baseline; threshold: ratio of mean surprise (default 1.5).
    SequenceNll,
    /// Tool calls per hour far above the baseline; threshold: z-score (default 4).
    RateSpike,
    /// A granted tool unused; threshold: days (default 30).
    UnusedGrant,
    /// An approver who approves nearly everything, fast; threshold: approve ratio (default 0.95).
    RubberStamp,
    /// An agent's spend per hour far above its baseline; threshold: ratio (default 2).
    CostSpike,
    /// A tool's or model's p99 latency far above its baseline; threshold: ratio (default 2).
    LatencyRegression,
    /// An MCP upstream offers a tool the registry does not declare, or changed an approved tool's
    /// definition; it fires while the tool stays hidden.
    HiddenTool,
}

impl Detector {
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Drift => "drift",
            Detector::Disparity => "disparity",
            Detector::NewTool => "new_tool",
            Detector::NewTransition => "new_transition",
            Detector::SequenceNll => "sequence_nll",
            Detector::RateSpike => "rate_spike",
            Detector::UnusedGrant => "unused_grant",
            Detector::RubberStamp => "rubber_stamp",
            Detector::CostSpike => "cost_spike",
            Detector::LatencyRegression => "latency_regression",
            Detector::HiddenTool => "hidden_tool",
        }
    }
}

/// How serious an alert is; `high` and `critical` open an incident by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|severity| severity.as_str() == text)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A tool granted to an agent, with the terms of the grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolGrant {
    pub tool: String,
    pub access: Access,
    pub approved_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reviewed: Option<NaiveDate>,
}

/// A tool an agent can call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub access: Access,
    pub egress: Egress,
    #[serde(default)]
    pub irreversible: bool,
    /// The tool returns content nobody vouches for: web pages, inbound mail, third-party text.
    #[serde(default)]
    pub untrusted_output: bool,
    /// The highest sensitivity of data the tool may touch.
    #[serde(default)]
    pub sensitivity: Sensitivity,
    /// The third party that supplies the tool, if it is not built in-house.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// The argument that names where the tool sends things (an address), for the named-recipient rule.
    /// Shorthand for a one-element `recipient_args`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_arg: Option<String>,
    /// Every argument that names where the tool sends things (`to`, `cc`, `participants` ...): a string or a
    /// list of strings, each element checked. A call whose recipient arguments are all absent or empty sends
    /// nothing out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipient_args: Vec<String>,
    /// The arguments that name what an irreversible action acts on (the account paid, the hotel booked, the
    /// file deleted, the new password): their values are checked for where they came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_args: Vec<String>,
    /// The argument that holds an amount, which counts against group limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_arg: Option<String>,
}

impl Tool {
    /// The recipient arguments, `recipient_arg` first.
    pub fn recipients(&self) -> impl Iterator<Item = &String> {
        self.recipient_arg.iter().chain(
            self.recipient_args
                .iter()
                .filter(|arg| Some(*arg) != self.recipient_arg.as_ref()),
        )
    }
}

/// A place agents read data from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub sensitivity: Sensitivity,
    #[serde(default)]
    pub personal_data: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// An AI system that is not an agent: a model or classifier in production. Registered so the inventory
/// covers every AI system the organisation runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AISystem {
    pub id: String,
    pub purpose: String,
    pub owner: String,
    pub risk_class: RiskClass,
    pub decision_scope: DecisionScope,
    #[serde(default)]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    #[serde(default)]
    pub data_sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<NaiveDate>,
}

/// Risk class in the EU AI Act's sense (Art. 6 and Annex III for `high`; Art. 50 transparency for `limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    Minimal,
    Limited,
    High,
}

impl RiskClass {
    /// The name manifests use (`minimal`, `limited`, `high`).
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Minimal => "minimal",
            RiskClass::Limited => "limited",
            RiskClass::High => "high",
        }
    }
}

/// Whether the system only recommends (a human acts) or executes on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionScope {
    Recommend,
    Execute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Proposed,
    #[default]
    Active,
    Suspended,
    Retired,
}

/// The access a tool has, or that a grant allows; ordered from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// Where a tool's effects go: inside the organisation or out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    Internal,
    External,
}

/// Data sensitivity, ordered: `public` < `internal` < `confidential` < `restricted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    #[default]
    Public,
    Internal,
    Confidential,
    Restricted,
}

/// How humans oversee an agent (EU AI Act Art. 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Oversight {
    /// A human approves each consequential action before it happens.
    HumanInTheLoop,
    /// A human watches and can intervene or stop the agent.
    HumanOnTheLoop,
    /// A human decides when and whether the agent runs at all.
    HumanInCommand,
    None,
}

/// The organisation that runs the agents: its profile (for certification readiness) and the policies that
/// apply across agents. A registry normally holds one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub id: String,
    pub name: String,
    /// Sells AI products or AI-backed services to enterprises (customers will ask for certification).
    #[serde(default)]
    pub sells_ai_to_enterprises: bool,
    /// Works in a regulated industry (finance, health, insurance, public sector ...).
    #[serde(default)]
    pub regulated_industry: bool,
    /// Has customers or affected people in the EU (the EU AI Act applies).
    #[serde(default)]
    pub eu_customers: bool,
    /// Holds an ISO/IEC 27001 certificate: its management system already carries the shared clauses.
    #[serde(default)]
    pub iso27001_certified: bool,
    /// Days the evidence log is kept; the EU AI Act asks for at least six months (Arts. 19, 26(6)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_days: Option<u32>,
    /// The organisation's own mail and web domains (`bluesparrowtech.com`): an address or URL there is
    /// internal, wherever the agent read it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_domains: Vec<String>,
    /// The organisation's own accounts (IBANs, account numbers, handles), internal wherever read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_accounts: Vec<String>,
    /// The most any group of agents may be allowed to move together within its window: a group limit above it
    /// is a finding of the risk analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_group_total: Option<f64>,
}

/// Whether an ISO/IEC 42001 Annex A control applies, and why: one row of the Statement of Applicability. The id
/// is the control's (`A.6.2.8`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applicability {
    pub id: String,
    pub applicable: bool,
    pub justification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// How the control will be implemented, when it is not yet: the control counts as planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<NaiveDate>,
}

/// The state of an EU AI Act obligation ISO/IEC 42001 does not cover (a crosswalk task, by its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obligation {
    pub id: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<NaiveDate>,
    #[serde(default)]
    pub status: ObligationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObligationStatus {
    #[default]
    Open,
    InProgress,
    Done,
    NotApplicable,
}

/// Where warrant tells people what needs them: a webhook (generic JSON or a Slack-compatible incoming
/// webhook) and the topics it wants, narrowed by agent, group or severity. Every delivery is signed with
/// HMAC-SHA256 (the Standard Webhooks scheme) and retried for a bounded time; each attempt is a
/// `notification` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifier {
    pub id: String,
    /// Who is told, in words (`Compliance office`): what the evidence says was informed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The webhook's http(s) URL.
    pub url: String,
    #[serde(default)]
    pub format: NotifierFormat,
    /// Headers whose values come from environment variables (header name → variable name), read at each
    /// delivery: a secret never sits in the registry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_from_env: BTreeMap<String, String>,
    /// The signing secret: the name of an environment variable, or a file, holding it. A value starting
    /// `whsec_` is base64 after the prefix (as Standard Webhooks libraries expect); any other is used as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    /// The topics it wants (`approval.requested`, `incident.opened`, ...); none listed means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Only about these agents, or the agents of these groups (neither: every agent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Alerts and incidents below this severity are not sent (approvals and reviews have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// How long a failing delivery is retried before it is recorded as failed (default one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_seconds: Option<u32>,
}

/// An independent party that cosigns the log's checkpoints (C2SP tlog-witness): warrant submits each new
/// checkpoint with a consistency proof to `<url>/add-checkpoint` and keeps the cosignatures that verify with
/// `key`. A log rewritten behind the server's back is refused by every witness that saw it before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    pub id: String,
    /// The witness's submission prefix (http or https).
    pub url: String,
    /// Its cosignature verifier key, `<name>+<key id>+<base64(0x04 ‖ Ed25519 public key)>`.
    pub key: String,
    /// Who runs it, in words (`External auditor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

impl Witness {
    /// What makes the manifest unusable, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            problems.push(("url", format!("`{}` is not an http(s) URL", self.url)));
        }
        if let Err(error) = warrant_log::cosignature::CosignatureVerifier::parse_vkey(&self.key) {
            problems.push((
                "key",
                format!(
                    "not a witness key (`<name>+<key id>+<base64 key>`, type 0x04 cosignature/v1): {error}"
                ),
            ));
        }
        problems
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierFormat {
    /// warrant's own JSON body (`type`, `subject`, `summary`, `data`, `link`).
    #[default]
    Json,
    /// `{"text": ..., "blocks": [...]}` for Slack-compatible incoming webhooks.
    Slack,
}

impl Notifier {
    /// What makes the manifest unusable, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            problems.push(("url", format!("`{}` is not an http(s) URL", self.url)));
        }
        match (&self.secret_env, &self.secret_file) {
            (None, None) => problems.push((
                "secret_env",
                "deliveries are signed: name the secret's environment variable (`secret_env`) or file (`secret_file`)"
                    .into(),
            )),
            (Some(_), Some(_)) => problems.push((
                "secret_file",
                "give the secret one way: `secret_env` or `secret_file`, not both".into(),
            )),
            _ => {}
        }
        for topic in &self.topics {
            if crate::notify::Topic::parse(topic).is_none() {
                problems.push((
                    "topics",
                    format!(
                        "`{topic}` is not a topic; the topics are {}",
                        crate::notify::Topic::ALL
                            .map(crate::notify::Topic::as_str)
                            .join(", ")
                    ),
                ));
            }
        }
        if self.retry_seconds == Some(0) {
            problems.push(("retry_seconds", "retry for at least one second".into()));
        }
        problems
    }
}
