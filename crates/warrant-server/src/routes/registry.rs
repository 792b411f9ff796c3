//! The registry API (`warrant_service::registry`): list and show agents, tools, data sources and AI systems;
//! apply manifests; delete; and the change log.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use warrant_api::Items;
use warrant_api::registry::{Applied, AppliedChange};
use warrant_core::change::ChangeContext;
use warrant_service::{blocking, registry};
use warrant_store::ChangeFilter;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, Path, Query, utf8};

type Answer<T> = Result<axum::Json<T>, ApiError>;

pub async fn list(State(state): State<AppState>, Path(collection): Path<String>) -> Answer<Items<Value>> {
    let kind = registry::collection_kind(&collection)?;
    Ok(axum::Json(Items {
        items: registry::list(&state.store.registry(), kind),
    }))
}

pub async fn get_one(
    State(state): State<AppState>,
    Path((collection, id)): Path<(String, String)>,
) -> Answer<Value> {
    let kind = registry::collection_kind(&collection)?;
    Ok(axum::Json(registry::get(&state.store.registry(), kind, &id)?))
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
) -> Answer<Applied> {
    let text = utf8(&body)?.to_owned();
    let context = change_context(&caller, query.reason);
    let applied = registry::apply(&state.store, text, context).await?;
    state.compile_gate().await;
    Ok(axum::Json(applied))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((collection, id)): Path<(String, String)>,
    Query(query): Query<ReasonQuery>,
) -> Answer<AppliedChange> {
    let kind = registry::collection_kind(&collection)?;
    let context = change_context(&caller, query.reason);
    let removed = registry::remove(&state.store, kind, id, context).await?;
    state.compile_gate().await;
    Ok(axum::Json(removed))
}

#[derive(Deserialize)]
pub struct ChangesQuery {
    agent: Option<String>,
    kind: Option<String>,
    limit: Option<u64>,
}

pub async fn changes(
    State(state): State<AppState>,
    Query(query): Query<ChangesQuery>,
) -> Answer<Items<Value>> {
    let filter = ChangeFilter {
        agent: query.agent,
        kind: query.kind.as_deref().map(registry::parse_kind).transpose()?,
        limit: query.limit,
    };
    let store = state.store.clone();
    let items = blocking(move || registry::changes(&store, &filter)).await?;
    Ok(axum::Json(Items { items }))
}

fn change_context(caller: &Caller, reason: Option<String>) -> ChangeContext {
    let reason = reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    ChangeContext::new(caller.principal().clone(), reason, chrono::Utc::now())
}
