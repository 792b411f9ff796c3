//! The registry as operations: list and show objects in manifest form, apply manifests, delete, and the
//! change log.

use serde_json::{Map, Value, json};
use warrant_api::ErrorCode;
use warrant_api::registry as wire;
use warrant_core::change::ChangeContext;
use warrant_core::registry::manifest::{Kind, Manifest};
use warrant_core::registry::{DeleteError, Registry};
use warrant_store::{AppliedChange, ApplyError, ChangeFilter, RemoveError, Store};

use crate::error::{Failure, Result, ServiceError};

/// The kind a collection path names (`agents`, `tools`, ...); anything else is no endpoint at all.
pub fn collection_kind(collection: &str) -> Result<Kind> {
    Kind::from_plural(collection).ok_or_else(|| ServiceError::not_found("no such endpoint"))
}

/// A kind named by its singular or plural name, in any case (`Tool`, `tool`, `tools`).
pub fn parse_kind(name: &str) -> Result<Kind> {
    Kind::parse(name)
        .or_else(|| Kind::from_plural(&name.to_ascii_lowercase()))
        .or_else(|| {
            Kind::ALL
                .into_iter()
                .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| ServiceError::invalid(ErrorCode::InvalidKind, format!("unknown kind `{name}`")))
}

/// A registry object in manifest form: `kind` first, then its fields, ready to re-apply.
pub fn manifest_json(manifest: &Manifest) -> Value {
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(manifest.kind().as_str().to_owned()));
    if let Value::Object(spec) = manifest.spec() {
        object.extend(spec);
    }
    Value::Object(object)
}

pub fn list(registry: &Registry, kind: Kind) -> Vec<Value> {
    registry.list(kind).map(manifest_json).collect()
}

pub fn get(registry: &Registry, kind: Kind, id: &str) -> Result<Value> {
    registry
        .get(kind, id)
        .map(manifest_json)
        .ok_or_else(|| ServiceError::not_found(format!("no {kind} `{id}`")))
}

pub fn applied_to_wire(applied: &AppliedChange) -> wire::AppliedChange {
    let change = &applied.change;
    wire::AppliedChange {
        op: change.op.as_str().to_owned(),
        kind: change.kind.as_str().to_owned(),
        id: change.id.clone(),
        version: applied.version,
        seq: applied.seq,
        substantial: !change.substantial.is_empty(),
        substantial_reasons: change.substantial.clone(),
        diff: change.diff.iter().map(|field| field.to_json()).collect(),
    }
}

/// Apply the manifests in `text` (YAML, one or more documents): all of them or, on any problem, none.
pub async fn apply(store: &Store, text: String, context: ChangeContext) -> Result<wire::Applied> {
    let outcome = store.apply(text, context).await.map_err(|error| match error {
        ApplyError::Invalid(problems) => {
            let details: Vec<wire::ManifestProblem> = problems
                .iter()
                .map(|problem| wire::ManifestProblem {
                    document: problem.document,
                    kind: problem.kind.clone(),
                    id: problem.id.clone(),
                    field: problem.field.clone(),
                    message: problem.message.clone(),
                    text: problem.to_string(),
                })
                .collect();
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            ServiceError::invalid(
                ErrorCode::InvalidManifest,
                format!("nothing was applied:\n{}", lines.join("\n")),
            )
            .with_details(json!(details))
        }
        ApplyError::Store(error) => error.into(),
    })?;
    Ok(wire::Applied {
        changes: outcome.changes.iter().map(applied_to_wire).collect(),
        unchanged: outcome.unchanged,
    })
}

/// Delete an object; one that others still name is refused (`still_referenced`).
pub async fn remove(
    store: &Store,
    kind: Kind,
    id: String,
    context: ChangeContext,
) -> Result<wire::AppliedChange> {
    let applied = store
        .remove(kind, id, context)
        .await
        .map_err(|error| match error {
            RemoveError::Refused(refusal @ DeleteError::NotFound { .. }) => {
                ServiceError::not_found(refusal.to_string())
            }
            RemoveError::Refused(refusal) => {
                ServiceError::new(Failure::Conflict, ErrorCode::StillReferenced, refusal.to_string())
            }
            RemoveError::Store(error) => error.into(),
        })?;
    Ok(applied_to_wire(&applied))
}

/// The change log (`change` event bodies), filtered.
pub fn changes(store: &Store, filter: &ChangeFilter) -> Result<Vec<Value>> {
    Ok(store
        .changes(filter)?
        .into_iter()
        .map(|event| event.body)
        .collect())
}
