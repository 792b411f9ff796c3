//! The evidence log's read side: signed checkpoints, the verifier key, inclusion and consistency proofs.
//! Hashes travel as lowercase hex; checkpoints as the C2SP signed note text.

use crate::extract::Query;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_store::{Checkpoint, ProofRequestError};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::blocking;

type JsonResponse = Result<axum::Json<Value>, ApiError>;

pub async fn checkpoint(State(state): State<AppState>) -> JsonResponse {
    let store = state.store.clone();
    let checkpoint = blocking(move || Ok(store.latest_checkpoint()?)).await?;
    let checkpoint = checkpoint.ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?;
    Ok(axum::Json(checkpoint_json(state.store.origin(), &checkpoint)))
}

pub async fn checkpoints(State(state): State<AppState>) -> JsonResponse {
    let store = state.store.clone();
    let checkpoints = blocking(move || Ok(store.checkpoints()?)).await?;
    let items: Vec<Value> = checkpoints
        .iter()
        .map(|checkpoint| checkpoint_json(state.store.origin(), checkpoint))
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

pub async fn key(State(state): State<AppState>) -> JsonResponse {
    Ok(axum::Json(
        json!({"origin": state.store.origin(), "verifier_key": state.store.verifier_key()}),
    ))
}

#[derive(Deserialize)]
pub struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

pub async fn inclusion(State(state): State<AppState>, Query(query): Query<InclusionQuery>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        let size = match query.size {
            Some(size) => size,
            None => store
                .latest_checkpoint()?
                .map(|checkpoint| checkpoint.size)
                .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet; pass `size`"))?,
        };
        let proof = store.inclusion_proof(query.seq, size).map_err(proof_error)?;
        let event = store.event(query.seq)?.ok_or_else(|| ApiError::not_found(format!("no event {}", query.seq)))?;
        let mut answer = json!({"seq": query.seq, "size": size, "leaf_hash": hex::encode(event.leaf), "proof": hex_list(&proof)});
        if let (Some(checkpoint), Some(object)) = (store.checkpoint_at(size)?, answer.as_object_mut()) {
            object.insert("root".into(), Value::String(hex::encode(checkpoint.root)));
            object.insert("checkpoint".into(), Value::String(checkpoint.note));
        }
        Ok(axum::Json(answer))
    })
    .await
}

#[derive(Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

pub async fn consistency(
    State(state): State<AppState>,
    Query(query): Query<ConsistencyQuery>,
) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        let proof = store
            .consistency_proof(query.from, query.to)
            .map_err(proof_error)?;
        Ok(axum::Json(
            json!({"from": query.from, "to": query.to, "proof": hex_list(&proof)}),
        ))
    })
    .await
}

pub(crate) fn checkpoint_json(origin: &str, checkpoint: &Checkpoint) -> Value {
    json!({"origin": origin, "size": checkpoint.size, "root": hex::encode(checkpoint.root),
           "note": checkpoint.note, "time": checkpoint.time})
}

pub(crate) fn hex_list(hashes: &[[u8; 32]]) -> Value {
    Value::Array(
        hashes
            .iter()
            .map(|hash| Value::String(hex::encode(hash)))
            .collect(),
    )
}

pub(crate) fn proof_error(error: ProofRequestError) -> ApiError {
    match error {
        ProofRequestError::OutOfRange(message) => ApiError::bad_request("out_of_range", message),
        ProofRequestError::Store(error) => error.into(),
    }
}
