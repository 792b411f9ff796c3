//! The registry API: list and show agents, tools, data sources and AI systems; apply manifests; delete; and
//! the change log.

use crate::extract::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warrant_api::ErrorCode;
use warrant_core::change::ChangeContext;
use warrant_core::registry::DeleteError;
use warrant_core::registry::manifest::{Kind, Manifest};
use warrant_store::{AppliedChange, ApplyError, ChangeFilter, RemoveError};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, utf8};
use crate::routes::blocking;

type JsonResponse = Result<axum::Json<Value>, ApiError>;

pub async fn list(State(state): State<AppState>, Path(collection): Path<String>) -> JsonResponse {
    let kind = collection_kind(&collection)?;
    let registry = state.store.registry();
    let items: Vec<Value> = registry.list(kind).map(manifest_json).collect();
    Ok(axum::Json(json!({ "items": items })))
}

pub async fn get_one(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> JsonResponse {
    let kind = collection_kind(&collection)?;
    let registry = state.store.registry();
    let manifest = registry
        .get(kind, &id)
        .ok_or_else(|| ApiError::not_found(format!("no {kind} `{id}`")))?;
    Ok(axum::Json(manifest_json(manifest)))
}

#[derive(Deserialize)]
pub struct ReasonQuery {
    reason: Option<String>,
}

pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ReasonQuery>,
    Body(body): Body,
) -> JsonResponse {
    let text = utf8(&body)?.to_owned();
    let context = change_context(&caller, query.reason);
    let outcome = state
        .store
        .apply(text, context)
        .await
        .map_err(|error| match error {
            ApplyError::Invalid(problems) => {
                let details: Vec<Value> = problems
                    .iter()
                    .map(|problem| {
                        json!({"document": problem.document, "kind": problem.kind, "id": problem.id,
                           "field": problem.field, "message": problem.message, "text": problem.to_string()})
                    })
                    .collect();
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                ApiError::bad_request(
                    ErrorCode::InvalidManifest,
                    format!("nothing was applied:\n{}", lines.join("\n")),
                )
                .with_details(Value::Array(details))
            }
            ApplyError::Store(error) => error.into(),
        })?;
    let changes: Vec<Value> = outcome.changes.iter().map(applied_json).collect();
    Ok(axum::Json(
        json!({"changes": changes, "unchanged": outcome.unchanged}),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, id)): Path<(String, String)>,
    Query(query): Query<ReasonQuery>,
) -> JsonResponse {
    let kind = collection_kind(&collection)?;
    let context = change_context(&caller, query.reason);
    let applied = state
        .store
        .remove(kind, id, context)
        .await
        .map_err(|error| match error {
            RemoveError::Refused(refusal @ DeleteError::NotFound { .. }) => {
                ApiError::not_found(refusal.to_string())
            }
            RemoveError::Refused(refusal) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::StillReferenced,
                refusal.to_string(),
            ),
            RemoveError::Store(error) => error.into(),
        })?;
    Ok(axum::Json(applied_json(&applied)))
}

#[derive(Deserialize)]
pub struct ChangesQuery {
    agent: Option<String>,
    kind: Option<String>,
    limit: Option<u64>,
}

pub async fn changes(State(state): State<AppState>, Query(query): Query<ChangesQuery>) -> JsonResponse {
    let kind = match &query.kind {
        Some(name) => Some(
            Kind::parse(name)
                .or_else(|| Kind::from_plural(name))
                .ok_or_else(|| {
                    ApiError::bad_request(ErrorCode::InvalidKind, format!("unknown kind `{name}`"))
                })?,
        ),
        None => None,
    };
    let filter = ChangeFilter {
        agent: query.agent,
        kind,
        limit: query.limit,
    };
    let store = state.store.clone();
    let events = blocking(move || Ok(store.changes(&filter)?)).await?;
    let items: Vec<Value> = events.into_iter().map(|event| event.body).collect();
    Ok(axum::Json(json!({ "items": items })))
}

/// A registry object in manifest form: `kind` first, then its fields, ready to re-apply.
pub(crate) fn manifest_json(manifest: &Manifest) -> Value {
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(manifest.kind().as_str().to_owned()));
    if let Value::Object(spec) = manifest.spec() {
        object.extend(spec);
    }
    Value::Object(object)
}

fn applied_json(applied: &AppliedChange) -> Value {
    let change = &applied.change;
    json!({
        "op": change.op.as_str(),
        "kind": change.kind.as_str(),
        "id": change.id,
        "version": applied.version,
        "seq": applied.seq,
        "substantial": !change.substantial.is_empty(),
        "substantial_reasons": change.substantial,
        "diff": change.diff.iter().map(|field| field.to_json()).collect::<Vec<_>>(),
    })
}

fn change_context(caller: &Caller, reason: Option<String>) -> ChangeContext {
    let reason = reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    ChangeContext {
        principal: caller.principal().clone(),
        reason,
        time: chrono::Utc::now(),
    }
}

fn collection_kind(collection: &str) -> Result<Kind, ApiError> {
    Kind::from_plural(collection).ok_or_else(|| ApiError::not_found("no such endpoint"))
}
