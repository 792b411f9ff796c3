//! The policy gate: may this agent call this tool, with these arguments, now? Answers `allow`, `deny` or
//! `approval_required`, with reasons a reviewer can read.
//!
//! The registry compiles into Cedar policies once per registry change ([`Gate::compile`]): one `permit` per tool
//! grant, the built-in exfiltration rules as `forbid` policies (annotated `@outcome("approval_required")` unless
//! an agent's settings make them hard denials), a data-source rule per agent, and the users' own policies.
//! The set is pre-split by agent, so a decision evaluates only the policies that can apply to its agent.
//! What Cedar cannot see, the gate checks around it: unknown agents and tools, suspended agents (the kill
//! switch) and group limits on combined authority. Evaluation errors fail closed.

mod compile;
pub mod provenance;
mod session;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet, Request,
    RestrictedExpression,
};
use serde_json::Value;

use crate::registry::Registry;
use crate::registry::manifest::{Access, Agent, Egress, Kind, Manifest, RuleOutcome, Status, Tool};

pub use crate::gate::compile::check_user_policy;
use crate::gate::provenance::ValueOrigin;
pub use crate::gate::session::SessionState;

/// The gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    Deny,
    ApprovalRequired,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::ApprovalRequired => "approval_required",
        }
    }
}

/// One reason for a decision: the rule or policy that decided it and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// A policy id (`grant:<agent>:<tool>`, `taint:external:<agent>`, a user policy's id) or a built-in check
    /// (`unknown-agent`, `suspended`, `no-grant`, `group-limit:<group>:<limit>`).
    pub rule: String,
    pub text: String,
}

/// A call that counts against group limits if it goes ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupCharge {
    pub group: String,
    /// The limits (ids) the amount counts against, with their windows in hours.
    pub limits: Vec<(String, u32)>,
    pub amount: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reasons: Vec<Reason>,
    /// Set when the call moves an amount that group limits count.
    pub charge: Option<GroupCharge>,
}

impl Decision {
    /// A refusal by one rule.
    pub fn deny(rule: &str, text: String) -> Decision {
        Decision {
            outcome: Outcome::Deny,
            reasons: vec![Reason {
                rule: rule.to_owned(),
                text,
            }],
            charge: None,
        }
    }
}

/// One tool call to decide.
#[derive(Debug, Clone, Copy)]
pub struct CallRequest<'a> {
    pub agent: &'a str,
    pub tool: &'a str,
    /// The call's arguments (a JSON object; anything else counts as no arguments).
    pub args: &'a Value,
    pub session: &'a SessionState,
}

/// The group limits' current totals, kept by the caller: `(group, limit id, window hours) -> total`.
pub trait GroupTotals {
    fn total(&self, group: &str, limit: &str, window_hours: u32) -> f64;
}

impl<F: Fn(&str, &str, u32) -> f64> GroupTotals for F {
    fn total(&self, group: &str, limit: &str, window_hours: u32) -> f64 {
        self(group, limit, window_hours)
    }
}

/// The registry compiled for deciding.
pub struct Gate {
    registry: Registry,
    entities: Entities,
    action: EntityUid,
    tool_uids: HashMap<String, EntityUid>,
    /// Per agent: the policies that can apply to it, and what each means.
    agents: HashMap<String, AgentPolicies>,
    /// The organisation's own domains and accounts.
    internal: provenance::Internal,
}

struct AgentPolicies {
    uid: EntityUid,
    /// The built-in rules' ids and Cedar text, which [`Gate::decide`] evaluates natively.
    builtin: Vec<(String, String)>,
    /// Every policy that can apply to the agent and per granted tool (see `AgentPolicies::full`).
    full: std::sync::OnceLock<Result<FullSets, CompileError>>,
    /// The permits among `reduced`, and per granted tool among `reduced_by_tool`.
    permits: PolicySet,
    permits_by_tool: HashMap<String, PolicySet>,
    /// The grants and user policies that can apply to the agent, and per granted tool those that can apply
    /// to that tool: every policy but the built-in rules.
    reduced: PolicySet,
    reduced_by_tool: HashMap<String, PolicySet>,
    /// What `reduced` and each of `reduced_by_tool` read of the context.
    reads: ContextReads,
    reads_by_tool: HashMap<String, ContextReads>,
    /// The ids of the policies annotated `@outcome("approval_required")`.
    approval: HashSet<String>,
    meaning: HashMap<String, PolicyMeaning>,
    /// The granted tools no user policy can apply to: their calls face only warrant's own policies (the grant
    /// and the built-in rules), which [`Gate::decide`] evaluates natively, to the same answer as in Cedar.
    native: HashSet<String>,
}

/// Every policy of an agent, and per granted tool every one that can apply to it.
pub(crate) type FullSets = (PolicySet, HashMap<String, PolicySet>);

/// Which attributes of the Cedar context a policy set reads: a call builds only those. Cedar evaluates each
/// attribute given to `Context::from_pairs`, a third of a decision's cost when all were built; an attribute
/// no policy in the set reads changes nothing in its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContextReads(u32);

impl ContextReads {
    /// The context's attributes, as the schema declares them.
    pub(crate) const NAMES: [&'static str; 17] = [
        "session_sensitivity",
        "session_untrusted",
        "recipient_named",
        "recipients_present",
        "recipients_vouched",
        "recipient_untrusted",
        "targets_vouched",
        "target_untrusted",
        "targets_present",
        "relays_untrusted",
        "injected_args",
        "untrusted_args",
        "user_named_args",
        "internal_args",
        "recipient",
        "amount",
        "source",
    ];
    pub(crate) const NONE: ContextReads = ContextReads(0);
    pub(crate) const ALL: ContextReads = ContextReads(u32::MAX);

    /// The bit of a declared attribute.
    fn bit(name: &str) -> Option<u32> {
        Self::NAMES
            .iter()
            .position(|known| *known == name)
            .map(|index| 1 << index)
    }

    /// One attribute; every one for a name the schema does not declare.
    pub(crate) fn attribute(name: &str) -> ContextReads {
        Self::bit(name).map_or(Self::ALL, ContextReads)
    }

    pub(crate) fn union(self, other: ContextReads) -> ContextReads {
        ContextReads(self.0 | other.0)
    }

    /// Whether the set reads `name` (always, for a name the schema does not declare: never left out).
    fn reads(self, name: &str) -> bool {
        Self::bit(name).is_none_or(|bit| self.0 & bit != 0)
    }
}

/// What a policy stands for, for reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PolicyMeaning {
    Grant { tool: String },
    ExternalAfterSensitive,
    IrreversibleAfterUntrusted,
    RelayUntrusted,
    DataSources { allowed: Vec<String> },
    User { id: String, reason: Option<String> },
}

/// Why the registry did not compile: a problem a valid registry cannot have, so it is reported, not hidden.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy gate: {0}")]
pub struct CompileError(pub String);

impl Gate {
    pub fn compile(registry: &Registry) -> Result<Gate, CompileError> {
        compile::compile(registry)
    }

    /// Decide one call. Pure: the caller records the decision and, on `allow`, updates session and totals.
    ///
    /// A call that only warrant's own policies can apply to (the agent's grant and the built-in rules; no user
    /// policy names its agent and tool) is decided without building a Cedar request: those policies are
    /// simple conditions over the same facts the Cedar context carries, and evaluating them directly is most
    /// of the decision's cost saved. Every other call asks Cedar about the grants and the user policies, and
    /// its answer is composed with the built-in rules, evaluated natively all the same. Either way the
    /// decision is the one Cedar gives with every policy in its set ([`Gate::decide_in_cedar`]); the gate
    /// tests (`tests/it/gate.rs`, `tests/it/provenance.rs`) hold them equal case by case.
    pub fn decide(&self, request: &CallRequest<'_>, totals: &dyn GroupTotals) -> Decision {
        self.decide_with(request, totals, true)
    }

    /// [`Gate::decide`] with every policy evaluated in Cedar: for the tests that hold the two paths equal.
    #[doc(hidden)]
    pub fn decide_in_cedar(&self, request: &CallRequest<'_>, totals: &dyn GroupTotals) -> Decision {
        self.decide_with(request, totals, false)
    }

    fn decide_with(&self, request: &CallRequest<'_>, totals: &dyn GroupTotals, native: bool) -> Decision {
        let deny = Decision::deny;
        let Some(agent) = self.registry.agent(request.agent) else {
            return deny(
                "unknown-agent",
                format!("no agent `{}` in the registry", request.agent),
            );
        };
        let Some(Manifest::Tool(tool)) = self.registry.get(Kind::Tool, request.tool) else {
            return deny(
                "unknown-tool",
                format!("no tool `{}` in the registry", request.tool),
            );
        };
        if agent.status != Status::Active {
            let status = match agent.status {
                Status::Suspended => "suspended (kill switch)",
                Status::Retired => "retired",
                Status::Proposed => "not yet approved for use (proposed)",
                Status::Active => "active",
            };
            return deny(
                "agent-status",
                format!("agent `{}` is {status}; every call is denied", agent.id),
            );
        }
        let Some(policies) = self.agents.get(&agent.id) else {
            return deny(
                "no-grant",
                format!("agent `{}` has no grant for tool `{}`", agent.id, tool.id),
            );
        };
        if let Err(message) = check_arguments(tool, request.args) {
            return deny("bad-arguments", message);
        }
        let view = self.values(request, tool);
        let facts = Facts::of(request, tool, &view);
        if native && policies.native.contains(&tool.id) {
            return self.decide_natively(agent, request, tool, &view, &facts, totals);
        }
        // Natively (the default) the built-in rules are evaluated here and Cedar sees the grants and the
        // user policies; in Cedar alone (for the tests) it sees every policy. The answers compose the same.
        let (set, reads, held) = if native {
            (
                policies
                    .reduced_by_tool
                    .get(&tool.id)
                    .unwrap_or(&policies.reduced),
                *policies.reads_by_tool.get(&tool.id).unwrap_or(&policies.reads),
                self.builtin_rules(agent, request, tool, &view, &facts),
            )
        } else {
            let (all, by_tool) = match policies.full() {
                Ok(full) => full,
                Err(error) => return deny("evaluation-error", error.to_string()),
            };
            (
                by_tool.get(&tool.id).unwrap_or(all),
                ContextReads::ALL,
                Vec::new(),
            )
        };
        let context = match self.context(request, tool, &view, &facts, reads) {
            Ok(context) => context,
            Err(message) => return deny("bad-request", message),
        };
        let Some(tool_uid) = self.tool_uids.get(&tool.id) else {
            return deny(
                "unknown-tool",
                format!("no tool `{}` in the registry", request.tool),
            );
        };
        let answer = Request::new(
            policies.uid.clone(),
            self.action.clone(),
            tool_uid.clone(),
            context,
            None,
        )
        .map_err(|error| CompileError(error.to_string()));
        let cedar_request = match answer {
            Ok(cedar_request) => cedar_request,
            Err(error) => return deny("bad-request", error.to_string()),
        };
        let response = Authorizer::new().is_authorized(&cedar_request, set, &self.entities);
        let errors: Vec<String> = response.diagnostics().errors().map(ToString::to_string).collect();
        if !errors.is_empty() {
            // An erroring forbid counts as not satisfied in Cedar; a gate must not fail open on it.
            return deny(
                "evaluation-error",
                format!("a policy could not be evaluated: {}", errors.join("; ")),
            );
        }
        let answer = Answer {
            allowed: response.decision() == CedarDecision::Allow,
            deciding: response
                .diagnostics()
                .reason()
                .filter_map(|id| policies.meaning.get(AsRef::<str>::as_ref(id)))
                .collect(),
            approval: response
                .diagnostics()
                .reason()
                .all(|id| policies.approval.contains(AsRef::<str>::as_ref(id))),
        };
        // Without the approval rules, would a permit hold? The permits alone, asked of Cedar.
        let permitted = || {
            let permits = policies
                .permits_by_tool
                .get(&tool.id)
                .unwrap_or(&policies.permits);
            let second = Authorizer::new().is_authorized(&cedar_request, permits, &self.entities);
            second.diagnostics().errors().next().is_none() && second.decision() == CedarDecision::Allow
        };
        self.compose(agent, request, tool, &view, answer, held, permitted, totals)
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Cedar context of a call: the attributes in `reads` (what the policy set it is for reads). Built
    /// from typed values, so it matches the schema by construction and the request skips Cedar's per-call
    /// schema check (the policies were validated against the schema at compile).
    fn context(
        &self,
        request: &CallRequest<'_>,
        tool: &Tool,
        view: &CallValues,
        facts: &Facts,
        reads: ContextReads,
    ) -> Result<Context, String> {
        let session = request.session;
        let set = |names: &[String]| {
            RestrictedExpression::new_set(names.iter().cloned().map(RestrictedExpression::new_string))
        };
        let flag = RestrictedExpression::new_bool;
        let mut pairs: Vec<(String, RestrictedExpression)> = Vec::new();
        let mut add = |name: &str, value: &dyn Fn() -> Option<RestrictedExpression>| {
            if reads.reads(name)
                && let Some(value) = value()
            {
                pairs.push((name.to_owned(), value));
            }
        };
        add("session_sensitivity", &|| {
            Some(RestrictedExpression::new_long(session::level(
                session.max_sensitivity,
            )))
        });
        add("session_untrusted", &|| Some(flag(facts.session_untrusted)));
        add("recipient_named", &|| {
            Some(flag(
                !view.recipients.is_empty()
                    && view.recipients.iter().all(|value| {
                        session.user_named.contains(&value.text)
                            || value.origin == Some(ValueOrigin::UserNamed)
                    }),
            ))
        });
        add("recipients_present", &|| Some(flag(facts.recipients_present)));
        add("recipients_vouched", &|| Some(flag(facts.recipients_vouched)));
        add("recipient_untrusted", &|| Some(flag(facts.recipient_untrusted)));
        add("targets_vouched", &|| Some(flag(facts.targets_vouched)));
        add("target_untrusted", &|| Some(flag(facts.target_untrusted)));
        add("targets_present", &|| Some(flag(facts.targets_present)));
        add("relays_untrusted", &|| Some(flag(!view.relayed.is_empty())));
        add("injected_args", &|| {
            Some(RestrictedExpression::new_set(
                view.injected
                    .iter()
                    .map(|value| RestrictedExpression::new_string(value.arg.clone())),
            ))
        });
        add("untrusted_args", &|| Some(set(&view.untrusted_args)));
        add("user_named_args", &|| Some(set(&view.user_named_args)));
        add("internal_args", &|| Some(set(&view.internal_args)));
        add("recipient", &|| {
            view.recipients
                .first()
                .map(|recipient| RestrictedExpression::new_string(recipient.text.clone()))
        });
        // Cedar has integers only; amounts are compared in whole units.
        add("amount", &|| {
            amount(tool, request.args).map(|amount| RestrictedExpression::new_long(amount.round() as i64))
        });
        add("source", &|| {
            request
                .args
                .get("source")
                .and_then(Value::as_str)
                .map(|source| RestrictedExpression::new_string(source.to_owned()))
        });
        Context::from_pairs(pairs).map_err(|error| format!("the call's context is not valid: {error}"))
    }

    /// The call's recipients and targets with where each came from, and which arguments are user-named,
    /// internal, or first seen in untrusted content. Each argument string is judged once.
    fn values(&self, request: &CallRequest<'_>, tool: &Tool) -> CallValues {
        let provenance = &request.session.provenance;
        let mut values = CallValues::default();
        let Some(args) = request.args.as_object() else {
            return values;
        };
        // Per declared recipient or target argument, its values in order.
        let mut declared: Vec<(&str, Vec<Value_>)> = Vec::new();
        for (name, value) in args {
            let texts = strings(Some(value));
            if texts.is_empty() {
                continue;
            }
            let recipient = tool.recipients().any(|arg| arg == name);
            let target = tool.target_args.contains(name);
            // A recipient of an outward send, or a target of an irreversible act, is already judged by the rule
            // for those; a relay is a value passed on anywhere else.
            let judged_elsewhere =
                (recipient && tool.egress == Egress::External) || (target && tool.irreversible);
            let (mut user_named, mut internal, mut first_untrusted) = (true, true, false);
            let mut named = Vec::new();
            for text in &texts {
                let judgement = provenance.judge(text, &self.internal);
                user_named &= judgement.origin == Some(ValueOrigin::UserNamed);
                internal &= judgement.origin == Some(ValueOrigin::Internal);
                first_untrusted |= judgement.first_seen_untrusted;
                // Addresses compare case-insensitively, for the named-recipient rule and user policies alike.
                // Lowered only for the values kept: an argument may be a long message body.
                let value = |origin: Option<ValueOrigin>| Value_ {
                    arg: name.clone(),
                    text: text.trim().to_lowercase(),
                    origin,
                };
                if let Some((token, first)) = judgement.relayed {
                    let relayed = value(Some(ValueOrigin::Untrusted { token, first }));
                    if !judged_elsewhere {
                        values.relayed.push(relayed.clone());
                    }
                    values.injected.push(relayed);
                } else if let Some(origin @ ValueOrigin::Untrusted { .. }) = &judgement.origin {
                    values.injected.push(value(Some(origin.clone())));
                }
                if (recipient || target) && !text.trim().is_empty() {
                    named.push(value(judgement.origin));
                }
            }
            if first_untrusted {
                values.untrusted_args.push(name.clone());
            }
            if user_named {
                values.user_named_args.push(name.clone());
            }
            if internal {
                values.internal_args.push(name.clone());
            }
            if recipient || target {
                declared.push((name.as_str(), named));
            }
        }
        let of = |arg: &String| {
            declared
                .iter()
                .find(|(name, _)| *name == arg.as_str())
                .map(|(_, values)| values.clone())
                .unwrap_or_default()
        };
        values.recipients = tool.recipients().flat_map(of).collect();
        values.targets = tool.target_args.iter().flat_map(of).collect();
        values
    }

    /// The built-in rules of compile.rs that hold for a call, each with its outcome (none that is off).
    fn builtin_rules(
        &self,
        agent: &Agent,
        request: &CallRequest<'_>,
        tool: &Tool,
        view: &CallValues,
        facts: &Facts,
    ) -> Vec<(RuleOutcome, PolicyMeaning)> {
        let taint = &agent.taint;
        let mut held: Vec<(RuleOutcome, PolicyMeaning)> = Vec::new();
        for (outcome, holds, meaning) in [
            (
                taint.external_after_sensitive,
                facts.external_after_sensitive(tool),
                PolicyMeaning::ExternalAfterSensitive,
            ),
            (
                taint.irreversible_after_untrusted,
                facts.irreversible_after_untrusted(tool, view),
                PolicyMeaning::IrreversibleAfterUntrusted,
            ),
            (
                taint.relay_untrusted,
                Facts::relay_untrusted(tool, view),
                PolicyMeaning::RelayUntrusted,
            ),
        ] {
            if holds && outcome != RuleOutcome::Off {
                held.push((outcome, meaning));
            }
        }
        if let Some(source) = request.args.get("source").and_then(Value::as_str)
            && !agent.data_sources.iter().any(|allowed| allowed == source)
        {
            held.push((
                RuleOutcome::Deny,
                PolicyMeaning::DataSources {
                    allowed: agent.data_sources.clone(),
                },
            ));
        }
        held
    }

    /// [`Gate::decide`] for a call only warrant's own policies apply to: the built-in rules of compile.rs and
    /// the agent's grant, as the same conditions over the same facts, and the same answer as Cedar gives.
    fn decide_natively(
        &self,
        agent: &Agent,
        request: &CallRequest<'_>,
        tool: &Tool,
        view: &CallValues,
        facts: &Facts,
        totals: &dyn GroupTotals,
    ) -> Decision {
        let held = self.builtin_rules(agent, request, tool, view, facts);
        // The grant covers the tool at the access it was approved for (compile.rs): the one permit.
        let granted = agent
            .tools
            .iter()
            .any(|grant| grant.tool == tool.id && grant.access == tool.access);
        let grant = PolicyMeaning::Grant {
            tool: tool.id.clone(),
        };
        let answer = Answer {
            allowed: granted,
            deciding: if granted { vec![&grant] } else { Vec::new() },
            approval: true,
        };
        self.compose(agent, request, tool, view, answer, held, || granted, totals)
    }

    /// The decision from what the permits and any user forbids said (`answer`) and the built-in rules that
    /// held: a forbid on either side denies, or holds for approval when every one that held is an approval
    /// rule and a permit would hold without them; no forbid and a permit allows (within the group limits);
    /// neither is no grant.
    #[allow(clippy::too_many_arguments)]
    fn compose(
        &self,
        agent: &Agent,
        request: &CallRequest<'_>,
        tool: &Tool,
        view: &CallValues,
        answer: Answer<'_>,
        held: Vec<(RuleOutcome, PolicyMeaning)>,
        permitted: impl FnOnce() -> bool,
        totals: &dyn GroupTotals,
    ) -> Decision {
        let no_grant = || {
            Decision::deny(
                "no-grant",
                format!("agent `{}` has no grant for tool `{}`", agent.id, tool.id),
            )
        };
        if answer.allowed && held.is_empty() {
            return self.check_group_limits(request, tool, view, answer.deciding, totals);
        }
        // The forbids that held: the answer's (on a deny, Cedar names them) and the built-in rules'.
        let forbids = if answer.allowed {
            Vec::new()
        } else {
            answer.deciding
        };
        if forbids.is_empty() && held.is_empty() {
            return no_grant();
        }
        let approval = (answer.allowed || answer.approval)
            && held
                .iter()
                .all(|(outcome, _)| *outcome == RuleOutcome::ApprovalRequired);
        let mut reasons: Vec<Reason> = forbids
            .into_iter()
            .chain(held.iter().map(|(_, meaning)| meaning))
            .map(|meaning| self.reason(meaning, request, tool, view))
            .collect();
        if !approval {
            return Decision {
                outcome: Outcome::Deny,
                reasons,
                charge: None,
            };
        }
        // A human may only be asked about a call that would be allowed without the approval rules: an
        // approval must never stand in for a missing grant. Every forbid that held was an approval rule, so
        // without them the call is allowed exactly when a permit holds.
        if !answer.allowed && !permitted() {
            return no_grant();
        }
        // The approver sees the group limits too, and an approved call is charged like any other.
        let limits = self.check_group_limits(request, tool, view, Vec::new(), totals);
        if limits.outcome == Outcome::ApprovalRequired {
            reasons.extend(limits.reasons);
        }
        Decision {
            outcome: Outcome::ApprovalRequired,
            reasons,
            charge: limits.charge,
        }
    }

    fn check_group_limits(
        &self,
        request: &CallRequest<'_>,
        tool: &Tool,
        view: &CallValues,
        deciding: Vec<&PolicyMeaning>,
        totals: &dyn GroupTotals,
    ) -> Decision {
        let grant_reasons: Vec<Reason> = deciding
            .iter()
            .map(|meaning| self.reason(meaning, request, tool, view))
            .collect();
        let allow = |charge| Decision {
            outcome: Outcome::Allow,
            reasons: grant_reasons.clone(),
            charge,
        };
        let (Some(amount), Some(group_id)) = (
            amount(tool, request.args),
            self.registry
                .agent(request.agent)
                .and_then(|agent| agent.group.as_ref()),
        ) else {
            return allow(None);
        };
        let Some(Manifest::Group(group)) = self.registry.get(Kind::Group, group_id) else {
            return allow(None);
        };
        let applicable: Vec<_> = group
            .limits
            .iter()
            .filter(|limit| limit.tools.is_empty() || limit.tools.contains(&tool.id))
            .collect();
        let charge = GroupCharge {
            group: group.id.clone(),
            limits: applicable
                .iter()
                .map(|limit| (limit.id.clone(), limit.window_hours))
                .collect(),
            amount,
        };
        let exceeded: Vec<Reason> = applicable
            .iter()
            .filter_map(|limit| {
                let current = totals.total(&group.id, &limit.id, limit.window_hours);
                (current + amount > limit.max_total).then(|| Reason {
                    rule: format!("group-limit:{}:{}", group.id, limit.id),
                    text: format!(
                        "group `{}` limit `{}` allows {} per {} h; {} already used, this call adds {}",
                        group.id, limit.id, limit.max_total, limit.window_hours, current, amount
                    ),
                })
            })
            .collect();
        if exceeded.is_empty() {
            return allow(Some(charge));
        }
        Decision {
            outcome: Outcome::ApprovalRequired,
            reasons: exceeded,
            charge: Some(charge),
        }
    }

    fn reason(
        &self,
        meaning: &PolicyMeaning,
        request: &CallRequest<'_>,
        tool: &Tool,
        view: &CallValues,
    ) -> Reason {
        let agent = request.agent;
        let session = request.session;
        match meaning {
            PolicyMeaning::Grant { tool } => Reason {
                rule: format!("grant:{agent}:{tool}"),
                text: format!("agent `{agent}` holds a grant for tool `{tool}`"),
            },
            PolicyMeaning::ExternalAfterSensitive => {
                if let Some(injected) = view.recipients.iter().find(|value| value.untrusted()) {
                    return Reason {
                        rule: format!("taint:external:{agent}"),
                        text: format!(
                            "tool `{}` would send data outside the organisation to {}",
                            tool.id,
                            injected.describe()
                        ),
                    };
                }
                let why = match (
                    &session.untrusted_from,
                    session.max_sensitivity >= crate::registry::manifest::Sensitivity::Confidential,
                ) {
                    (_, true) => format!(
                        "the session has read {} data",
                        session::name(session.max_sensitivity)
                    ),
                    (Some(source), false) => format!("untrusted content from `{source}` entered the session"),
                    (None, false) => "the session is tainted".to_owned(),
                };
                let unvouched: Vec<String> = view
                    .recipients
                    .iter()
                    .filter(|value| {
                        !session.user_named.contains(&value.text)
                            && !value.origin.as_ref().is_some_and(ValueOrigin::vouched)
                    })
                    .map(|value| format!("`{}`", value.text))
                    .collect();
                let to = if unvouched.is_empty() {
                    "and names no recipient the user named".to_owned()
                } else {
                    format!(
                        "to {}, which the user did not name and no trusted data showed",
                        unvouched.join(", ")
                    )
                };
                Reason {
                    rule: format!("taint:external:{agent}"),
                    text: format!(
                        "{why}; tool `{}` sends data outside the organisation {to}",
                        tool.id
                    ),
                }
            }
            PolicyMeaning::RelayUntrusted => {
                let relayed = view
                    .relayed
                    .first()
                    .map_or_else(|| "a value".to_owned(), Value_::describe);
                Reason {
                    rule: format!("taint:relay:{agent}"),
                    text: format!("tool `{}` would pass on {relayed}", tool.id),
                }
            }
            PolicyMeaning::IrreversibleAfterUntrusted => {
                let injected = view
                    .targets
                    .iter()
                    .find(|value| value.untrusted())
                    .or(view.injected.first());
                let text = match injected {
                    Some(injected) => format!(
                        "tool `{}` cannot be undone, and it would act on {}",
                        tool.id,
                        injected.describe()
                    ),
                    None => format!(
                        "untrusted content from `{}` entered the session; tool `{}` cannot be undone{}",
                        session.untrusted_from.as_deref().unwrap_or("an untrusted source"),
                        tool.id,
                        if view.targets.is_empty() {
                            String::new()
                        } else {
                            " and what it acts on was not named by the user or shown by trusted data"
                                .to_owned()
                        }
                    ),
                };
                Reason {
                    rule: format!("taint:irreversible:{agent}"),
                    text,
                }
            }
            PolicyMeaning::DataSources { allowed } => Reason {
                rule: format!("data-sources:{agent}"),
                text: format!(
                    "the call reads data source `{}`, which agent `{agent}` is not granted (granted: {})",
                    request.args.get("source").and_then(Value::as_str).unwrap_or("?"),
                    if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
            },
            PolicyMeaning::User { id, reason } => Reason {
                rule: id.clone(),
                text: reason.clone().unwrap_or_else(|| format!("policy `{id}` applies")),
            },
        }
    }
}

/// What the permits and user forbids said of a call, before the built-in rules are added ([`Gate::compose`]).
struct Answer<'m> {
    /// A permit held and no forbid did.
    allowed: bool,
    /// On an allow, the permits that held; otherwise the forbids that held (none: no permit held).
    deciding: Vec<&'m PolicyMeaning>,
    /// Every forbid that held is an approval rule.
    approval: bool,
}

/// What the built-in rules ask of a call, worked out once: the Cedar context carries these, and the native
/// path evaluates the rules over them. Each rule below is its Cedar text in compile.rs, in Rust.
struct Facts {
    session_untrusted: bool,
    /// The session read `confidential` data or more.
    session_sensitive: bool,
    /// A tool that declares where it sends things sends nothing out when all of those are absent or empty.
    /// One that declares none is taken to send out whenever it writes or acts; a read that reaches outside
    /// (a web fetch) declares its destination argument to be checked.
    recipients_present: bool,
    recipients_vouched: bool,
    recipient_untrusted: bool,
    targets_vouched: bool,
    target_untrusted: bool,
    targets_present: bool,
}

impl Facts {
    fn of(request: &CallRequest<'_>, tool: &Tool, view: &CallValues) -> Facts {
        let session = request.session;
        Facts {
            session_untrusted: session.untrusted_from.is_some(),
            session_sensitive: session::level(session.max_sensitivity) >= 2,
            recipients_present: if tool.recipients().next().is_some() {
                !view.recipients.is_empty()
            } else {
                tool.access != Access::Read
            },
            recipients_vouched: !view.recipients.is_empty()
                && view.recipients.iter().all(|value| {
                    session.user_named.contains(&value.text)
                        || value.origin.as_ref().is_some_and(ValueOrigin::vouched)
                }),
            recipient_untrusted: view.recipients.iter().any(Value_::untrusted),
            targets_vouched: !view.targets.is_empty()
                && view
                    .targets
                    .iter()
                    .all(|value| value.origin.as_ref().is_some_and(ValueOrigin::vouched)),
            target_untrusted: view.targets.iter().any(Value_::untrusted),
            targets_present: tool.target_args.is_empty() || !view.targets.is_empty(),
        }
    }

    /// `taint:external`.
    fn external_after_sensitive(&self, tool: &Tool) -> bool {
        tool.egress == Egress::External
            && self.recipients_present
            && (self.recipient_untrusted
                || ((self.session_sensitive || self.session_untrusted) && !self.recipients_vouched))
    }

    /// `taint:irreversible`.
    fn irreversible_after_untrusted(&self, tool: &Tool, view: &CallValues) -> bool {
        tool.irreversible
            && (self.target_untrusted
                || !view.injected.is_empty()
                || (self.session_untrusted && self.targets_present && !self.targets_vouched))
    }

    /// `taint:relay`.
    fn relay_untrusted(tool: &Tool, view: &CallValues) -> bool {
        tool.access != Access::Read && !view.relayed.is_empty()
    }
}

/// The amount a call moves, if its tool names an amount argument and the call gives a finite, non-negative
/// number (or a string of one). Anything else is refused by [`check_arguments`] before this is asked.
fn amount(tool: &Tool, args: &Value) -> Option<f64> {
    let value = args.get(tool.amount_arg.as_ref()?)?;
    let amount = value.as_f64().or_else(|| value.as_str()?.trim().parse().ok())?;
    (amount.is_finite() && amount >= 0.0).then_some(amount)
}

/// Arguments the rules read must have the shape they expect: a malformed amount, recipient or data source
/// would otherwise drop out of the context and slip past the rules that look at it.
fn check_arguments(tool: &Tool, args: &Value) -> Result<(), String> {
    if let Some(arg) = &tool.amount_arg
        && let Some(value) = args.get(arg)
        && amount(tool, args).is_none()
    {
        return Err(format!(
            "argument `{arg}` must be a finite, non-negative number, not {value}"
        ));
    }
    for arg in tool.recipients().chain(&tool.target_args) {
        let scalar = |value: &Value| value.is_string() || value.is_number();
        if let Some(value) = args.get(arg)
            && !(scalar(value)
                || value.is_null()
                || value.as_array().is_some_and(|items| items.iter().all(scalar)))
        {
            return Err(format!(
                "argument `{arg}` must be a string, a number or a list of them, not {value}"
            ));
        }
    }
    if let Some(value) = args.get("source")
        && !value.is_string()
    {
        return Err(format!(
            "argument `source` must name one data source as a string, not {value}"
        ));
    }
    Ok(())
}

/// One recipient or target value of a call and where it came from.
#[derive(Debug, Clone)]
struct Value_ {
    arg: String,
    /// Lowercased and trimmed.
    text: String,
    origin: Option<ValueOrigin>,
}

impl Value_ {
    fn untrusted(&self) -> bool {
        matches!(self.origin, Some(ValueOrigin::Untrusted { .. }))
    }

    /// `` `value` (argument `to`), which first appeared in untrusted output of `tool` (event 12)``.
    fn describe(&self) -> String {
        match &self.origin {
            Some(ValueOrigin::Untrusted { token, first }) => {
                let at = first
                    .seq
                    .map_or_else(String::new, |seq| format!(" (event {seq})"));
                let part = if *token == self.text {
                    String::new()
                } else {
                    format!(" (its `{token}`)")
                };
                format!(
                    "`{}` (argument `{}`), which{part} first appeared inside untrusted output of `{}`{at}, not in the user's request or trusted data",
                    self.text, self.arg, first.tool
                )
            }
            _ => format!("`{}` (argument `{}`)", self.text, self.arg),
        }
    }
}

/// The values of a call the rules look at.
#[derive(Debug, Default)]
struct CallValues {
    recipients: Vec<Value_>,
    targets: Vec<Value_>,
    /// Values (of any argument) seen only inside untrusted free text, or holding an identifying token that was.
    injected: Vec<Value_>,
    /// Of those, the ones that pass on an identifying token (an address, URL or account).
    relayed: Vec<Value_>,
    untrusted_args: Vec<String>,
    user_named_args: Vec<String>,
    internal_args: Vec<String>,
}

/// The strings of an argument: itself, or the strings of a list; numbers (a record id, an account number) as
/// their decimal text.
fn strings(value: Option<&Value>) -> Vec<Cow<'_, str>> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(value) => scalar_text(value).into_iter().collect(),
        None => Vec::new(),
    }
}

fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text.as_str())),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        _ => None,
    }
}
