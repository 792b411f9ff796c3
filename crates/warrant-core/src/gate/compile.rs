//! Compiling the registry into Cedar: the schema, one entity per agent, tool and group, and per agent the
//! policy set that can apply to it. Policy text is generated from ids that the registry has already checked
//! (lowercase letters, digits, `-`, `_`, `.`), so it never needs escaping.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId, PolicySet,
    PrincipalConstraint, ResourceConstraint, RestrictedExpression, Schema, ValidationMode, Validator,
};

use crate::gate::session::level;
use crate::gate::{AgentPolicies, CompileError, ContextReads, FullSets, Gate, PolicyMeaning};
use crate::registry::manifest::{Access, Agent, Egress, Kind, Manifest, RuleOutcome};
use crate::registry::{Registry, sensitivity_ceiling};

const SCHEMA: &str = include_str!("schema.cedarschema");

/// What marks a forbid that asks a human instead of refusing.
const APPROVAL_ANNOTATION: &str = "@outcome(\"approval_required\")";

/// Check one user policy on its own: it parses as a single Cedar policy and validates against the schema.
/// The error is Cedar's diagnostic, for the manifest error that names the document.
pub fn check_user_policy(id: &str, text: &str) -> Result<(), String> {
    let schema = schema().map_err(|error| error.0)?;
    let policy = Policy::parse(Some(PolicyId::new(id)), text).map_err(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("not a Cedar policy: {}", messages.join("; "))
    })?;
    let mut set = PolicySet::new();
    set.add(policy).map_err(|error| error.to_string())?;
    let result = Validator::new(schema).validate(&set, ValidationMode::default());
    if result.validation_passed() {
        return Ok(());
    }
    let messages: Vec<String> = result.validation_errors().map(ToString::to_string).collect();
    Err(format!(
        "does not validate against warrant's schema: {}",
        messages.join("; ")
    ))
}

pub(crate) fn compile(registry: &Registry) -> Result<Gate, CompileError> {
    let schema = schema()?;
    let mut entities = Vec::new();
    for manifest in registry.list(Kind::Group) {
        entities.push(Entity::new_no_attrs(uid("Group", manifest.id())?, HashSet::new()));
    }
    for manifest in registry.list(Kind::Tool) {
        if let Manifest::Tool(tool) = manifest {
            let attributes = HashMap::from([
                (
                    "access".to_owned(),
                    RestrictedExpression::new_string(access_name(tool.access).into()),
                ),
                (
                    "egress".to_owned(),
                    RestrictedExpression::new_string(egress_name(tool.egress).into()),
                ),
                (
                    "irreversible".to_owned(),
                    RestrictedExpression::new_bool(tool.irreversible),
                ),
                (
                    "untrusted_output".to_owned(),
                    RestrictedExpression::new_bool(tool.untrusted_output),
                ),
                (
                    "sensitivity".to_owned(),
                    RestrictedExpression::new_long(level(tool.sensitivity)),
                ),
            ]);
            entities.push(entity(uid("Tool", &tool.id)?, attributes, HashSet::new())?);
        }
    }
    let user_policies = user_policies(registry)?;
    let mut agents = HashMap::new();
    for agent in registry.agents() {
        let agent_uid = uid("Agent", &agent.id)?;
        let parents = match &agent.group {
            Some(group) => HashSet::from([uid("Group", group)?]),
            None => HashSet::new(),
        };
        let attributes = HashMap::from([
            (
                "risk_class".to_owned(),
                RestrictedExpression::new_string(enum_name(&agent.risk_class)),
            ),
            (
                "decision_scope".to_owned(),
                RestrictedExpression::new_string(enum_name(&agent.decision_scope)),
            ),
            (
                "owner".to_owned(),
                RestrictedExpression::new_string(agent.owner.clone()),
            ),
            (
                "sensitivity_ceiling".to_owned(),
                RestrictedExpression::new_long(level(sensitivity_ceiling(registry, agent))),
            ),
        ]);
        entities.push(entity(agent_uid.clone(), attributes, parents)?);
        agents.insert(
            agent.id.clone(),
            agent_policies(agent, agent_uid, &user_policies)?,
        );
    }
    let entities =
        Entities::from_entities(entities, Some(&schema)).map_err(|error| CompileError(error.to_string()))?;
    let mut tool_uids = HashMap::new();
    for manifest in registry.list(Kind::Tool) {
        tool_uids.insert(manifest.id().to_owned(), tool_uid(manifest.id())?);
    }
    let internal = registry
        .organization()
        .map(|organization| super::provenance::Internal {
            domains: organization
                .internal_domains
                .iter()
                .map(|domain| domain.trim().trim_start_matches('@').to_lowercase())
                .collect(),
            accounts: organization
                .internal_accounts
                .iter()
                .map(|account| {
                    account
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect::<String>()
                        .to_lowercase()
                })
                .collect(),
        })
        .unwrap_or_default();
    Ok(Gate {
        registry: registry.clone(),
        entities,
        action: action_uid()?,
        tool_uids,
        agents,
        internal,
    })
}

/// The generated policies of one agent plus the user policies that can apply to it.
fn agent_policies(
    agent: &Agent,
    agent_uid: EntityUid,
    user_policies: &[UserPolicy],
) -> Result<AgentPolicies, CompileError> {
    let id = &agent.id;
    let principal = format!("principal == Agent::\"{id}\", action == Action::\"call\"");
    let mut generated: Vec<(String, String, PolicyMeaning)> = Vec::new();
    for grant in &agent.tools {
        generated.push((
            format!("grant:{id}:{}", grant.tool),
            // The grant covers the tool at the access it was approved for; raising the tool's access later
            // does not silently widen the grant.
            format!(
                "permit({principal}, resource == Tool::\"{}\") when {{ resource.access == \"{}\" }};",
                grant.tool,
                access_name(grant.access)
            ),
            PolicyMeaning::Grant {
                tool: grant.tool.clone(),
            },
        ));
    }
    let rule = |outcome: RuleOutcome, condition: &str| match outcome {
        RuleOutcome::Off => None,
        RuleOutcome::Deny => Some(format!("forbid({principal}, resource) when {{ {condition} }};")),
        RuleOutcome::ApprovalRequired => Some(format!(
            "{APPROVAL_ANNOTATION}\nforbid({principal}, resource) when {{ {condition} }};"
        )),
    };
    if let Some(text) = rule(
        agent.taint.external_after_sensitive,
        "resource.egress == \"external\" && context.recipients_present && (context.recipient_untrusted || \
         ((context.session_sensitivity >= 2 || context.session_untrusted) && !context.recipients_vouched))",
    ) {
        generated.push((
            format!("taint:external:{id}"),
            text,
            PolicyMeaning::ExternalAfterSensitive,
        ));
    }
    if let Some(text) = rule(
        agent.taint.irreversible_after_untrusted,
        "resource.irreversible && (context.target_untrusted || context.injected_args != [] || \
         (context.session_untrusted && context.targets_present && !context.targets_vouched))",
    ) {
        generated.push((
            format!("taint:irreversible:{id}"),
            text,
            PolicyMeaning::IrreversibleAfterUntrusted,
        ));
    }
    if let Some(text) = rule(
        agent.taint.relay_untrusted,
        "resource.access != \"read\" && context.relays_untrusted",
    ) {
        generated.push((format!("taint:relay:{id}"), text, PolicyMeaning::RelayUntrusted));
    }
    let allowed: Vec<String> = agent.data_sources.clone();
    let quoted: Vec<String> = allowed.iter().map(|source| format!("\"{source}\"")).collect();
    generated.push((
        format!("data-sources:{id}"),
        format!(
            "forbid({principal}, resource) when {{ context has source && ![{}].contains(context.source) }};",
            quoted.join(", ")
        ),
        PolicyMeaning::DataSources { allowed },
    ));

    // Every policy of the agent, each with the one tool it is limited to (if it names exactly one).
    let mut all: Vec<(Policy, Option<String>)> = Vec::new();
    // What each of `all` reads of the context: the generated permits (grants) read none.
    let mut all_reads: Vec<ContextReads> = Vec::new();
    let mut meaning = HashMap::new();
    // The ids of the policies annotated `@outcome("approval_required")`: the generated ones by the text this
    // function wrote, the users' as read once (`Policy::annotation` parses its key on every call).
    let mut approval = HashSet::new();
    // The built-in rules (every generated forbid) are evaluated natively (Gate::decide); Cedar needs their
    // text only in Gate::decide_in_cedar, so it is parsed then (AgentPolicies::full), not here: parsing them
    // was most of compiling, and compiling is on the path of the first decision after a registry change.
    let mut builtin = Vec::new();
    for (policy_id, text, what) in generated {
        if text.starts_with(APPROVAL_ANNOTATION) {
            approval.insert(policy_id.clone());
        }
        if !matches!(what, PolicyMeaning::Grant { .. }) {
            meaning.insert(policy_id.clone(), what);
            builtin.push((policy_id, text));
            continue;
        }
        let policy = Policy::parse(Some(PolicyId::new(&policy_id)), &text)
            .map_err(|error| CompileError(format!("generated policy `{policy_id}`: {error}")))?;
        let tool = match &what {
            PolicyMeaning::Grant { tool } => Some(tool.clone()),
            _ => None,
        };
        all.push((policy, tool));
        all_reads.push(ContextReads::NONE);
        meaning.insert(policy_id, what);
    }
    let mut user_tools: Vec<Option<String>> = Vec::new();
    for UserPolicy {
        policy,
        scope,
        meaning: what,
        reads,
        approval: asks,
    } in user_policies
    {
        if scope.as_ref().is_none_or(|scope| *scope == agent_uid) {
            meaning.insert(policy.id().to_string(), what.clone());
            if *asks {
                approval.insert(policy.id().to_string());
            }
            let tool = match policy.resource_constraint() {
                ResourceConstraint::Eq(uid) => Some(uid.id().unescaped().to_owned()),
                _ => None,
            };
            user_tools.push(tool.clone());
            all.push((policy.clone(), tool));
            all_reads.push(*reads);
        }
    }
    // The granted tools no user policy can reach: decided natively (Gate::decide).
    let native = agent
        .tools
        .iter()
        .filter(|grant| {
            !user_tools
                .iter()
                .any(|tool| tool.as_ref().is_none_or(|tool| *tool == grant.tool))
        })
        .map(|grant| grant.tool.clone())
        .collect();
    // Pre-split by tool as well: a decision evaluates only the policies that can apply to its agent and tool,
    // so its cost stays flat as the organisation's policy set grows. Tools outside the agent's grants fall
    // back to the agent's whole set (a user policy might still permit them).
    // The permits alone answer the second question of a held call (would it be allowed without the approval
    // rules?), so they are split the same way, once, rather than rebuilt per decision.
    let set_of =
        |keep: &dyn Fn(&Option<String>) -> bool, permits_only: bool| -> Result<PolicySet, CompileError> {
            let mut set = PolicySet::new();
            for (policy, tool) in &all {
                if keep(tool) && (!permits_only || policy.effect() == Effect::Permit) {
                    set.add(policy.clone())
                        .map_err(|error| CompileError(error.to_string()))?;
                }
            }
            Ok(set)
        };
    let permits = set_of(&|_| true, true)?;
    let reduced = set_of(&|_| true, false)?;
    let mut permits_by_tool = HashMap::new();
    let mut reduced_by_tool = HashMap::new();
    for grant in &agent.tools {
        let for_tool = |tool: &Option<String>| tool.as_ref().is_none_or(|tool| *tool == grant.tool);
        permits_by_tool.insert(grant.tool.clone(), set_of(&for_tool, true)?);
        reduced_by_tool.insert(grant.tool.clone(), set_of(&for_tool, false)?);
    }
    // What the reduced sets read of the context, so a call builds only that (Gate::context).
    let reads_of = |keep: &dyn Fn(&Option<String>) -> bool| {
        all.iter()
            .zip(&all_reads)
            .filter(|((_, tool), _)| keep(tool))
            .fold(ContextReads::NONE, |union, (_, reads)| union.union(*reads))
    };
    let reads = reads_of(&|_| true);
    let reads_by_tool = agent
        .tools
        .iter()
        .map(|grant| {
            let for_tool = |tool: &Option<String>| tool.as_ref().is_none_or(|tool| *tool == grant.tool);
            (grant.tool.clone(), reads_of(&for_tool))
        })
        .collect();
    Ok(AgentPolicies {
        uid: agent_uid,
        builtin,
        full: OnceLock::new(),
        permits,
        permits_by_tool,
        reduced,
        reduced_by_tool,
        reads,
        reads_by_tool,
        approval,
        meaning,
        native,
    })
}

/// The context attributes `policy` reads (`context.x`, `context has x`); every one when it uses the context
/// in any other way (as a whole), or reads one this gate does not know (the schema would have refused it).
fn context_reads(policy: &Policy) -> ContextReads {
    fn is_context(value: &serde_json::Value) -> bool {
        value.get("Var").and_then(serde_json::Value::as_str) == Some("context")
    }
    fn walk(value: &serde_json::Value, reads: &mut ContextReads) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    let access = (key == "." || key == "has")
                        .then(|| field.get("left").filter(|left| is_context(left)))
                        .flatten()
                        .and(field.get("attr").and_then(serde_json::Value::as_str));
                    match access {
                        Some(attr) => *reads = reads.union(ContextReads::attribute(attr)),
                        None if key == "Var" && field.as_str() == Some("context") => {
                            *reads = ContextReads::ALL
                        }
                        None => walk(field, reads),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, reads)),
            _ => {}
        }
    }
    let Ok(json) = policy.to_json() else {
        return ContextReads::ALL;
    };
    let mut reads = ContextReads::NONE;
    walk(&json, &mut reads);
    reads
}

impl AgentPolicies {
    /// Every policy that can apply to the agent, and per granted tool every one that can apply to that tool:
    /// the reduced sets with the built-in rules parsed and added, on first use (only
    /// [`Gate::decide_in_cedar`] asks).
    pub(crate) fn full(&self) -> Result<&FullSets, CompileError> {
        self.full
            .get_or_init(|| {
                let mut rules = Vec::new();
                for (id, text) in &self.builtin {
                    rules.push(
                        Policy::parse(Some(PolicyId::new(id)), text)
                            .map_err(|error| CompileError(format!("generated policy `{id}`: {error}")))?,
                    );
                }
                let with_rules = |set: &PolicySet| -> Result<PolicySet, CompileError> {
                    let mut set = set.clone();
                    for rule in &rules {
                        set.add(rule.clone())
                            .map_err(|error| CompileError(error.to_string()))?;
                    }
                    Ok(set)
                };
                let mut by_tool = HashMap::new();
                for (tool, set) in &self.reduced_by_tool {
                    by_tool.insert(tool.clone(), with_rules(set)?);
                }
                Ok((with_rules(&self.reduced)?, by_tool))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A user's policy, compiled once for every agent it may apply to.
struct UserPolicy {
    policy: Policy,
    /// The one agent it names as principal, if it names exactly one.
    scope: Option<EntityUid>,
    meaning: PolicyMeaning,
    /// What it reads of the context.
    reads: ContextReads,
    /// It is annotated `@outcome("approval_required")`.
    approval: bool,
}

/// The users' policies.
fn user_policies(registry: &Registry) -> Result<Vec<UserPolicy>, CompileError> {
    let mut policies = Vec::new();
    for manifest in registry.list(Kind::Policy) {
        if let Manifest::Policy(user) = manifest {
            let policy = Policy::parse(Some(PolicyId::new(format!("policy:{}", user.id))), &user.policy)
                .map_err(|error| CompileError(format!("policy `{}`: {error}", user.id)))?;
            let scope = match policy.principal_constraint() {
                PrincipalConstraint::Eq(uid) => Some(uid),
                _ => None,
            };
            let reason = policy
                .annotation("reason")
                .map(str::to_owned)
                .or_else(|| (!user.description.is_empty()).then(|| user.description.clone()));
            policies.push(UserPolicy {
                reads: context_reads(&policy),
                approval: policy.annotation("outcome") == Some("approval_required"),
                policy,
                scope,
                meaning: PolicyMeaning::User {
                    id: format!("policy:{}", user.id),
                    reason,
                },
            });
        }
    }
    Ok(policies)
}

fn schema() -> Result<Schema, CompileError> {
    static PARSED: OnceLock<Result<Schema, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            Schema::from_cedarschema_str(SCHEMA)
                .map(|(schema, _)| schema)
                .map_err(|error| error.to_string())
        })
        .clone()
        .map_err(CompileError)
}

pub(crate) fn action_uid() -> Result<EntityUid, CompileError> {
    uid("Action", "call")
}

pub(crate) fn tool_uid(id: &str) -> Result<EntityUid, CompileError> {
    uid("Tool", id)
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, CompileError> {
    let type_name = EntityTypeName::from_str(type_name).map_err(|error| CompileError(error.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(type_name, EntityId::new(id)))
}

fn entity(
    uid: EntityUid,
    attributes: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, CompileError> {
    Entity::new(uid, attributes, parents).map_err(|error| CompileError(error.to_string()))
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::Write => "write",
        Access::Execute => "execute",
    }
}

fn egress_name(egress: Egress) -> &'static str {
    match egress {
        Egress::Internal => "internal",
        Egress::External => "external",
    }
}

/// The manifest spelling of a unit enum (`high`, `execute`).
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use cedar_policy::{Policy, PolicyId};

    use super::context_reads;
    use crate::gate::ContextReads;

    fn reads(text: &str) -> ContextReads {
        context_reads(&Policy::parse(Some(PolicyId::new("p")), text).unwrap())
    }

    #[test]
    fn a_policy_reads_the_context_attributes_it_names() {
        let of = |names: &[&str]| {
            names.iter().fold(ContextReads::NONE, |reads, name| {
                reads.union(ContextReads::attribute(name))
            })
        };
        assert_eq!(reads("permit(principal, action, resource);"), ContextReads::NONE);
        assert_eq!(
            reads("forbid(principal, action, resource) when { context has amount && context.amount > 10 };"),
            of(&["amount"])
        );
        assert_eq!(
            reads(
                r#"forbid(principal, action, resource) when { context["untrusted_args"].contains("iban") }
                unless { context.recipient_named || resource.irreversible };"#
            ),
            of(&["untrusted_args", "recipient_named"])
        );
        // The context as a whole, or an attribute this gate does not know: everything.
        assert_eq!(
            reads("forbid(principal, action, resource) when { context == {} };"),
            ContextReads::ALL
        );
        assert_eq!(
            reads("forbid(principal, action, resource) when { context has novel };"),
            ContextReads::ALL
        );
    }

    #[test]
    fn the_context_attributes_are_the_schemas() {
        let block = super::SCHEMA
            .split_once("context: {")
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(block, _)| block)
            .unwrap();
        let mut declared: Vec<&str> = block
            .lines()
            .filter_map(|line| line.trim().split_once(':'))
            .map(|(name, _)| name.trim_end_matches('?'))
            .filter(|name| !name.is_empty() && !name.starts_with("//"))
            .collect();
        declared.sort_unstable();
        let mut known = ContextReads::NAMES.to_vec();
        known.sort_unstable();
        assert_eq!(declared, known);
    }
}
