//! The registry: every agent, tool, data source and other AI system the organisation runs, and the planning of
//! changes to it. Planning is pure: it takes the current registry and a manifest file and returns either every
//! validation error or the exact set of changes (with diffs and the `substantial` flag) for the store to apply
//! atomically.

pub mod diff;
pub mod manifest;
pub mod parse;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::registry::diff::{FieldChange, diff};
use crate::registry::manifest::{Access, Agent, DecisionScope, Kind, Manifest, Sensitivity};
use crate::registry::parse::{ManifestError, parse_manifests};

/// The current state of the registry. Cheap to query; rebuilt by the store from its rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    objects: BTreeMap<(Kind, String), Manifest>,
}

/// What a change does to one registry object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

impl ChangeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        }
    }
}

/// One change the store must make, with everything the change log records about it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub op: ChangeOp,
    pub kind: Kind,
    pub id: String,
    /// The stored form after the change; `None` for a delete.
    pub spec: Option<Value>,
    pub diff: Vec<FieldChange>,
    /// Reasons this change is a substantial modification (EU AI Act Art. 3(23)); empty when it is not.
    pub substantial: Vec<String>,
}

/// The outcome of planning a manifest file: the changes to make and how many documents were already current.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub changes: Vec<PlannedChange>,
    pub unchanged: usize,
}

/// Why a delete cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteError {
    #[error("no {kind} `{id}` in the registry")]
    NotFound { kind: Kind, id: String },
    #[error("{kind} `{id}` is still referenced by {}", .referenced_by.join(", "))]
    StillReferenced {
        kind: Kind,
        id: String,
        referenced_by: Vec<String>,
    },
}

impl Registry {
    pub fn from_manifests(manifests: impl IntoIterator<Item = Manifest>) -> Registry {
        let objects = manifests
            .into_iter()
            .map(|manifest| ((manifest.kind(), manifest.id().to_owned()), manifest));
        Registry {
            objects: objects.collect(),
        }
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<&Manifest> {
        self.objects.get(&(kind, id.to_owned()))
    }

    /// The manifests of one kind, by id: a range of the map, not a scan of the whole registry.
    pub fn list(&self, kind: Kind) -> impl Iterator<Item = &Manifest> {
        self.objects
            .range((kind, String::new())..)
            .take_while(move |((k, _), _)| *k == kind)
            .map(|(_, manifest)| manifest)
    }

    /// The organisation (the first by id, should a registry declare more than one).
    pub fn organization(&self) -> Option<&manifest::Organization> {
        self.list(Kind::Organization).find_map(|manifest| match manifest {
            Manifest::Organization(organization) => Some(organization),
            _ => None,
        })
    }

    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.list(Kind::Agent).filter_map(|manifest| match manifest {
            Manifest::Agent(agent) => Some(agent),
            _ => None,
        })
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        match self.get(Kind::Agent, id) {
            Some(Manifest::Agent(agent)) => Some(agent),
            _ => None,
        }
    }

    pub fn model(&self, id: &str) -> Option<&manifest::Model> {
        match self.get(Kind::Model, id) {
            Some(Manifest::Model(model)) => Some(model),
            _ => None,
        }
    }

    pub fn data_source(&self, id: &str) -> Option<&manifest::DataSource> {
        match self.get(Kind::DataSource, id) {
            Some(Manifest::DataSource(source)) => Some(source),
            _ => None,
        }
    }

    pub fn tool(&self, id: &str) -> Option<&manifest::Tool> {
        match self.get(Kind::Tool, id) {
            Some(Manifest::Tool(tool)) => Some(tool),
            _ => None,
        }
    }

    pub fn mcp_server(&self, id: &str) -> Option<&manifest::McpServer> {
        match self.get(Kind::McpServer, id) {
            Some(Manifest::McpServer(server)) => Some(server),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Plan applying a manifest file: validate every document against the registry as it would be after the
    /// whole file is applied, then compute each document's change. Nothing is planned if anything is invalid.
    pub fn plan_apply(&self, text: &str) -> Result<Plan, Vec<ManifestError>> {
        let documents = parse_manifests(text)?;
        let mut next = self.clone();
        let mut errors = Vec::new();
        let mut seen = BTreeMap::new();
        for (number, manifest) in &documents {
            let key = (manifest.kind(), manifest.id().to_owned());
            if let Some(first) = seen.insert(key, *number) {
                errors.push(document_error(
                    *number,
                    manifest,
                    "id",
                    format!(
                        "{} `{}` is also defined in document {first}",
                        manifest.kind(),
                        manifest.id()
                    ),
                ));
            }
            next.objects
                .insert((manifest.kind(), manifest.id().to_owned()), manifest.clone());
        }
        for (number, manifest) in &documents {
            errors.extend(next.check_references(*number, manifest));
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut plan = Plan::default();
        for (_, manifest) in documents {
            let spec = manifest.spec();
            let current = self.get(manifest.kind(), manifest.id());
            let old_spec = current.map(Manifest::spec);
            if old_spec.as_ref() == Some(&spec) {
                plan.unchanged += 1;
                continue;
            }
            let diff = diff(old_spec.as_ref().unwrap_or(&Value::Null), &spec);
            let substantial = substantial_reasons(self, &next, current, &manifest);
            let op = if current.is_some() {
                ChangeOp::Update
            } else {
                ChangeOp::Create
            };
            plan.changes.push(PlannedChange {
                op,
                kind: manifest.kind(),
                id: manifest.id().to_owned(),
                spec: Some(spec),
                diff,
                substantial,
            });
        }
        Ok(plan)
    }

    /// Plan removing one object. Refused while other objects still name it, so the registry never holds a
    /// grant to a tool that does not exist.
    pub fn plan_delete(&self, kind: Kind, id: &str) -> Result<PlannedChange, DeleteError> {
        let Some(current) = self.get(kind, id) else {
            return Err(DeleteError::NotFound {
                kind,
                id: id.to_owned(),
            });
        };
        let referenced_by: Vec<String> = self
            .objects
            .values()
            .filter(|other| {
                references(other)
                    .iter()
                    .any(|(ref_kind, ref_id, _)| *ref_kind == kind && ref_id == id)
            })
            .map(|other| format!("{} `{}`", other.kind(), other.id()))
            .collect();
        if !referenced_by.is_empty() {
            return Err(DeleteError::StillReferenced {
                kind,
                id: id.to_owned(),
                referenced_by,
            });
        }
        Ok(PlannedChange {
            op: ChangeOp::Delete,
            kind,
            id: id.to_owned(),
            spec: None,
            diff: diff(&current.spec(), &Value::Null),
            substantial: Vec::new(),
        })
    }

    /// Apply planned changes to this in-memory copy (the store does the same to its rows in one transaction).
    pub fn apply(&mut self, changes: &[PlannedChange]) {
        for change in changes {
            let key = (change.kind, change.id.clone());
            match change
                .spec
                .as_ref()
                .and_then(|spec| manifest_from_spec(change.kind, spec))
            {
                Some(manifest) => {
                    self.objects.insert(key, manifest);
                }
                None => {
                    self.objects.remove(&key);
                }
            }
        }
    }

    /// Validate the fields that name other objects and the rules that span objects.
    fn check_references(&self, number: usize, manifest: &Manifest) -> Vec<ManifestError> {
        let mut errors = Vec::new();
        // An applicability row is named by its control (`A.6.2.8`); every other id is a plain lowercase name.
        if !matches!(manifest, Manifest::Applicability(_))
            && let Err(message) = check_id(manifest.id())
        {
            errors.push(document_error(number, manifest, "id", message));
        }
        for (field, message) in compliance_problems(manifest) {
            errors.push(document_error(number, manifest, field, message));
        }
        for (kind, id, field) in references(manifest) {
            if self.get(kind, &id).is_none() {
                errors.push(document_error(
                    number,
                    manifest,
                    &field,
                    format!("no {kind} `{id}` in the registry or this file"),
                ));
            }
        }
        if let Manifest::IdentityProvider(provider) = manifest {
            for (field, message) in provider.problems() {
                errors.push(document_error(number, manifest, field, message));
            }
        }
        if let Manifest::McpServer(server) = manifest {
            for (field, message) in server.problems() {
                errors.push(document_error(number, manifest, field, message));
            }
        }
        if let Manifest::Notifier(notifier) = manifest {
            for (field, message) in notifier.problems() {
                errors.push(document_error(number, manifest, field, message));
            }
        }
        if let Manifest::Witness(witness) = manifest {
            for (field, message) in witness.problems() {
                errors.push(document_error(number, manifest, field, message));
            }
        }
        if let Manifest::Policy(policy) = manifest
            && let Err(diagnostic) = crate::gate::check_user_policy(&policy.id, &policy.policy)
        {
            errors.push(document_error(number, manifest, "policy", diagnostic));
        }
        if let Manifest::Agent(agent) = manifest {
            let mut granted = Vec::new();
            for (index, grant) in agent.tools.iter().enumerate() {
                if granted.contains(&&grant.tool) {
                    errors.push(document_error(
                        number,
                        manifest,
                        &format!("tools[{index}].tool"),
                        format!("tool `{}` is granted twice", grant.tool),
                    ));
                }
                granted.push(&grant.tool);
                if let Some(tool) = self.tool(&grant.tool)
                    && grant.access > tool.access
                {
                    errors.push(document_error(
                        number,
                        manifest,
                        &format!("tools[{index}].access"),
                        format!(
                            "grant of `{}` access exceeds what tool `{}` can do (`{}`)",
                            access_name(grant.access),
                            tool.id,
                            access_name(tool.access)
                        ),
                    ));
                }
            }
        }
        errors
    }
}

/// Rebuild a typed manifest from its stored form. `None` if the stored form no longer parses, which only a
/// hand-edited database can cause; the store reports such rows itself.
pub fn manifest_from_spec(kind: Kind, spec: &Value) -> Option<Manifest> {
    let spec = spec.clone();
    match kind {
        Kind::Agent => serde_json::from_value(spec).ok().map(Manifest::Agent),
        Kind::Tool => serde_json::from_value(spec).ok().map(Manifest::Tool),
        Kind::DataSource => serde_json::from_value(spec).ok().map(Manifest::DataSource),
        Kind::AISystem => serde_json::from_value(spec).ok().map(Manifest::AISystem),
        Kind::Policy => serde_json::from_value(spec).ok().map(Manifest::Policy),
        Kind::Group => serde_json::from_value(spec).ok().map(Manifest::Group),
        Kind::Model => serde_json::from_value(spec).ok().map(Manifest::Model),
        Kind::AlertRule => serde_json::from_value(spec).ok().map(Manifest::AlertRule),
        Kind::Organization => serde_json::from_value(spec).ok().map(Manifest::Organization),
        Kind::Applicability => serde_json::from_value(spec).ok().map(Manifest::Applicability),
        Kind::EvidenceRule => serde_json::from_value(spec).ok().map(Manifest::EvidenceRule),
        Kind::Obligation => serde_json::from_value(spec).ok().map(Manifest::Obligation),
        Kind::IdentityProvider => serde_json::from_value(spec).ok().map(Manifest::IdentityProvider),
        Kind::McpServer => serde_json::from_value(spec).ok().map(Manifest::McpServer),
        Kind::Notifier => serde_json::from_value(spec).ok().map(Manifest::Notifier),
        Kind::Witness => serde_json::from_value(spec).ok().map(Manifest::Witness),
    }
}

/// The objects a manifest names, with the field that names them.
fn references(manifest: &Manifest) -> Vec<(Kind, String, String)> {
    let mut refs = Vec::new();
    match manifest {
        Manifest::Agent(agent) => {
            for (index, grant) in agent.tools.iter().enumerate() {
                refs.push((Kind::Tool, grant.tool.clone(), format!("tools[{index}].tool")));
            }
            for (index, source) in agent.data_sources.iter().enumerate() {
                refs.push((Kind::DataSource, source.clone(), format!("data_sources[{index}]")));
            }
            for (index, downstream) in agent.downstream.iter().enumerate() {
                refs.push((Kind::Agent, downstream.clone(), format!("downstream[{index}]")));
            }
            if let Some(group) = &agent.group {
                refs.push((Kind::Group, group.clone(), "group".into()));
            }
        }
        Manifest::Group(group) => {
            for (index, limit) in group.limits.iter().enumerate() {
                for (position, tool) in limit.tools.iter().enumerate() {
                    refs.push((
                        Kind::Tool,
                        tool.clone(),
                        format!("limits[{index}].tools[{position}]"),
                    ));
                }
            }
        }
        Manifest::AISystem(system) => {
            for (index, source) in system.data_sources.iter().enumerate() {
                refs.push((Kind::DataSource, source.clone(), format!("data_sources[{index}]")));
            }
        }
        Manifest::AlertRule(rule) => {
            if let Some(agent) = &rule.agent {
                refs.push((Kind::Agent, agent.clone(), "agent".into()));
            }
        }
        Manifest::McpServer(server) => {
            for (name, binding) in &server.tools {
                if let Some(tool) = &binding.tool {
                    refs.push((Kind::Tool, tool.clone(), format!("tools.{name}.tool")));
                }
            }
            for (prefix, source) in &server.resources {
                refs.push((Kind::DataSource, source.clone(), format!("resources.{prefix}")));
            }
        }
        Manifest::Notifier(notifier) => {
            for (index, agent) in notifier.agents.iter().enumerate() {
                refs.push((Kind::Agent, agent.clone(), format!("agents[{index}]")));
            }
            for (index, group) in notifier.groups.iter().enumerate() {
                refs.push((Kind::Group, group.clone(), format!("groups[{index}]")));
            }
        }
        Manifest::Tool(_)
        | Manifest::DataSource(_)
        | Manifest::Policy(_)
        | Manifest::Model(_)
        | Manifest::Organization(_)
        | Manifest::Applicability(_)
        | Manifest::EvidenceRule(_)
        | Manifest::Obligation(_)
        | Manifest::IdentityProvider(_)
        | Manifest::Witness(_) => {}
    }
    refs
}

/// Why a change is a substantial modification: the system now behaves differently or can do more.
fn substantial_reasons(
    current: &Registry,
    next: &Registry,
    old: Option<&Manifest>,
    new: &Manifest,
) -> Vec<String> {
    let mut reasons = Vec::new();
    match (old, new) {
        (Some(Manifest::Agent(old)), Manifest::Agent(new)) => {
            if old.prompt_version != new.prompt_version {
                reasons.push(format!(
                    "prompt version changed from {} to {}",
                    display_opt(&old.prompt_version),
                    display_opt(&new.prompt_version)
                ));
            }
            model_and_scope(
                &mut reasons,
                (&old.model, &new.model),
                (old.decision_scope, new.decision_scope),
            );
            for grant in &new.tools {
                match old.tools.iter().find(|previous| previous.tool == grant.tool) {
                    None => reasons.push(format!("new tool grant `{}`", grant.tool)),
                    Some(previous) if grant.access > previous.access => reasons.push(format!(
                        "access to `{}` raised from {} to {}",
                        grant.tool,
                        access_name(previous.access),
                        access_name(grant.access)
                    )),
                    Some(_) => {}
                }
            }
            let old_ceiling = sensitivity_ceiling(current, old);
            let new_ceiling = sensitivity_ceiling(next, new);
            if new_ceiling > old_ceiling {
                reasons.push(format!(
                    "data sensitivity ceiling raised from {} to {}",
                    sensitivity_name(old_ceiling),
                    sensitivity_name(new_ceiling)
                ));
            }
        }
        (Some(Manifest::Tool(old)), Manifest::Tool(new)) => {
            if new.access > old.access {
                reasons.push(format!(
                    "tool access raised from {} to {}",
                    access_name(old.access),
                    access_name(new.access)
                ));
            }
            if new.sensitivity > old.sensitivity {
                reasons.push(format!(
                    "tool sensitivity ceiling raised from {} to {}",
                    sensitivity_name(old.sensitivity),
                    sensitivity_name(new.sensitivity)
                ));
            }
            if new.egress != old.egress {
                reasons.push("tool egress changed".into());
            }
            if new.irreversible && !old.irreversible {
                reasons.push("tool became irreversible".into());
            }
        }
        (Some(Manifest::DataSource(old)), Manifest::DataSource(new)) if new.sensitivity > old.sensitivity => {
            reasons.push(format!(
                "data source sensitivity raised from {} to {}",
                sensitivity_name(old.sensitivity),
                sensitivity_name(new.sensitivity)
            ));
        }
        (Some(Manifest::AISystem(old)), Manifest::AISystem(new)) => {
            model_and_scope(
                &mut reasons,
                (&old.model, &new.model),
                (old.decision_scope, new.decision_scope),
            );
        }
        _ => {}
    }
    reasons
}

/// The reasons agents and other AI systems share: a different model, or a scope raised to `execute`.
fn model_and_scope(
    reasons: &mut Vec<String>,
    (old_model, new_model): (&Option<String>, &Option<String>),
    (old_scope, new_scope): (DecisionScope, DecisionScope),
) {
    if old_model != new_model {
        reasons.push(format!(
            "model changed from {} to {}",
            display_opt(old_model),
            display_opt(new_model)
        ));
    }
    if old_scope < new_scope {
        reasons.push("decision scope raised from recommend to execute".into());
    }
}

/// The highest sensitivity an agent can reach, through its data sources or the tools it is granted.
pub fn sensitivity_ceiling(registry: &Registry, agent: &Agent) -> Sensitivity {
    let from_sources = agent
        .data_sources
        .iter()
        .filter_map(|id| registry.data_source(id).map(|source| source.sensitivity));
    let from_tools = agent
        .tools
        .iter()
        .filter_map(|grant| registry.tool(&grant.tool).map(|tool| tool.sensitivity));
    from_sources.chain(from_tools).max().unwrap_or_default()
}

/// What the compliance catalog refuses in a manifest: an applicability row for a control that does not
/// exist, an obligation that is not a crosswalk task, a malformed evidence rule.
fn compliance_problems(manifest: &Manifest) -> Vec<(&'static str, String)> {
    let catalog = match crate::compliance::catalog::Catalog::builtin() {
        Ok(catalog) => catalog,
        Err(error) => return vec![("kind", error)],
    };
    match manifest {
        Manifest::Applicability(row) if catalog.control(&row.id).is_none() => vec![(
            "id",
            format!(
                "`{}` is not an ISO/IEC 42001 Annex A control (Annex A has 38, from A.2.2 to A.10.4)",
                row.id
            ),
        )],
        Manifest::Applicability(row) if row.justification.trim().is_empty() => {
            vec![(
                "justification",
                "an applicability decision needs a justification".into(),
            )]
        }
        Manifest::Obligation(obligation)
            if !catalog
                .crosswalk
                .tasks
                .iter()
                .any(|task| task.id == obligation.id) =>
        {
            let known: Vec<&str> = catalog
                .crosswalk
                .tasks
                .iter()
                .map(|task| task.id.as_str())
                .collect();
            vec![(
                "id",
                format!(
                    "`{}` is not a crosswalk task; known: {}",
                    obligation.id,
                    known.join(", ")
                ),
            )]
        }
        Manifest::EvidenceRule(rule) => {
            let mut problems: Vec<(&'static str, String)> = rule
                .problem()
                .map(|problem| ("controls", problem))
                .into_iter()
                .collect();
            for control in &rule.controls {
                if !catalog.is_iso_ref(control) && catalog.article(control).is_none() {
                    problems.push((
                        "controls",
                        format!(
                            "`{control}` is not an ISO/IEC 42001 control or clause, nor an EU AI Act article"
                        ),
                    ));
                }
            }
            problems
        }
        _ => Vec::new(),
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let valid_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    let starts_well = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if id.is_empty() || id.len() > 128 || !valid_chars || !starts_well {
        return Err(format!(
            "`{id}` is not a valid id: use 1 to 128 lowercase letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        ));
    }
    Ok(())
}

fn document_error(number: usize, manifest: &Manifest, field: &str, message: String) -> ManifestError {
    ManifestError {
        document: number,
        kind: Some(manifest.kind().as_str().to_owned()),
        id: Some(manifest.id().to_owned()),
        field: field.to_owned(),
        message,
    }
}

pub fn access_name(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::Write => "write",
        Access::Execute => "execute",
    }
}

pub(crate) fn sensitivity_name(sensitivity: Sensitivity) -> &'static str {
    match sensitivity {
        Sensitivity::Public => "public",
        Sensitivity::Internal => "internal",
        Sensitivity::Confidential => "confidential",
        Sensitivity::Restricted => "restricted",
    }
}

fn display_opt(value: &Option<String>) -> String {
    value
        .as_deref()
        .map_or_else(|| "(none)".to_owned(), |value| format!("`{value}`"))
}
