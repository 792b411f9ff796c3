//! Events: reading one back with its proof.

use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_store::Store;

use crate::error::{Result, ServiceError};

/// The event at `seq` (as the caller wrote it: a decimal seq), its content, leaf hash, and its inclusion proof
/// to the latest checkpoint that covers it (a brand-new event has none yet).
pub fn get(store: &Store, seq: &str) -> Result<Value> {
    let seq: u64 = seq
        .parse()
        .map_err(|_| ServiceError::invalid(ErrorCode::InvalidSeq, format!("`{seq}` is not a seq")))?;
    if seq >= store.size() {
        return Err(ServiceError::not_found(format!(
            "no event {seq}: the log holds {} event(s)",
            store.size()
        )));
    }
    let event = store
        .event(seq)?
        .ok_or_else(|| ServiceError::not_found(format!("no event {seq}")))?;
    let mut answer = json!({
        "seq": seq,
        "event": event.body,
        "content": event.content,
        "leaf_hash": hex::encode(event.leaf),
    });
    if let Some(checkpoint) = store
        .latest_checkpoint()?
        .filter(|checkpoint| checkpoint.size > seq)
    {
        let proof = store
            .inclusion_proof(seq, checkpoint.size)
            .map_err(crate::log::proof_error)?;
        if let Some(object) = answer.as_object_mut() {
            object.insert(
                "checkpoint".into(),
                json!({"size": checkpoint.size, "root": hex::encode(checkpoint.root), "note": checkpoint.note}),
            );
            object.insert(
                "inclusion_proof".into(),
                json!(proof.iter().map(hex::encode).collect::<Vec<_>>()),
            );
        }
    }
    Ok(answer)
}
