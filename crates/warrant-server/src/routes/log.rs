//! The evidence log's read side (`warrant_service::log`): signed checkpoints, the verifier key, inclusion and
//! consistency proofs.

use axum::extract::State;
use serde::Deserialize;
use warrant_api::Items;
use warrant_api::log::{Checkpoint, ConsistencyProof, InclusionProof, VerifierKey};
use warrant_service::{blocking, log};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Query;

type Answer<T> = Result<axum::Json<T>, ApiError>;

pub async fn checkpoint(State(state): State<AppState>) -> Answer<Checkpoint> {
    let (store, board) = (state.store.clone(), state.witnesses.clone());
    Ok(axum::Json(
        blocking(move || log::published(&store, &board)).await?,
    ))
}

pub async fn checkpoints(State(state): State<AppState>) -> Answer<Items<Checkpoint>> {
    let store = state.store.clone();
    let items = blocking(move || log::checkpoints(&store)).await?;
    Ok(axum::Json(Items { items }))
}

pub async fn key(State(state): State<AppState>) -> Answer<VerifierKey> {
    Ok(axum::Json(log::key(&state.store)))
}

#[derive(Deserialize)]
pub struct InclusionQuery {
    seq: warrant_api::Seq,
    size: Option<u64>,
}

pub async fn inclusion(
    State(state): State<AppState>,
    Query(query): Query<InclusionQuery>,
) -> Answer<InclusionProof> {
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || log::inclusion(&store, query.seq, query.size)).await?,
    ))
}

#[derive(Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

pub async fn consistency(
    State(state): State<AppState>,
    Query(query): Query<ConsistencyQuery>,
) -> Answer<ConsistencyProof> {
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || log::consistency(&store, query.from, query.to)).await?,
    ))
}
