//! The evidence log's read side: signed checkpoints, the verifier key, inclusion and consistency proofs.

use warrant_api::ErrorCode;
use warrant_api::log as wire;
use warrant_log::Seq;
use warrant_store::{Checkpoint, ProofRequestError, Store};

use crate::error::{Result, ServiceError};

pub fn checkpoint_to_wire(origin: &str, checkpoint: &Checkpoint) -> wire::Checkpoint {
    wire::Checkpoint {
        origin: origin.to_owned(),
        size: checkpoint.size,
        root: hex::encode(checkpoint.root),
        // With the witnesses' cosignatures: the log's own signature still verifies (other keys are ignored).
        note: checkpoint.cosigned_note(),
        time: warrant_core::event::format_time(&checkpoint.time),
    }
}

/// The latest signed checkpoint.
pub fn latest(store: &Store) -> Result<wire::Checkpoint> {
    let checkpoint = store
        .latest_checkpoint()?
        .ok_or_else(|| ServiceError::not_found("no checkpoint has been signed yet"))?;
    Ok(checkpoint_to_wire(store.origin(), &checkpoint))
}

/// The checkpoint the log publishes under its witness policy (see `witness::published_checkpoint`).
pub fn published(store: &Store, board: &crate::witness::WitnessBoard) -> Result<wire::Checkpoint> {
    let checkpoint = crate::witness::published_checkpoint(store, board)?.ok_or_else(|| {
        ServiceError::not_found("no checkpoint has been published yet (the witness policy fails closed)")
    })?;
    Ok(checkpoint_to_wire(store.origin(), &checkpoint))
}

/// Every signed checkpoint, oldest first.
pub fn checkpoints(store: &Store) -> Result<Vec<wire::Checkpoint>> {
    Ok(store
        .checkpoints()?
        .iter()
        .map(|checkpoint| checkpoint_to_wire(store.origin(), checkpoint))
        .collect())
}

pub fn key(store: &Store) -> wire::VerifierKey {
    wire::VerifierKey {
        origin: store.origin().to_owned(),
        verifier_key: store.verifier_key().to_owned(),
    }
}

/// Whether the latest checkpoint holds up now: its note's signature verifies with the log's key, and the
/// size and root the note signs are the ones stored beside it. `None` before the first checkpoint.
pub fn verify_latest(store: &Store) -> Result<Option<bool>> {
    Ok(store
        .latest_checkpoint()?
        .map(|checkpoint| checkpoint_verifies(store, &checkpoint)))
}

/// Whether `checkpoint`'s note is signed by the log's key and signs the stored size and root.
pub fn checkpoint_verifies(store: &Store, checkpoint: &Checkpoint) -> bool {
    let Ok(verifier) = warrant_log::note::NoteVerifier::parse_vkey(store.verifier_key()) else {
        return false;
    };
    warrant_log::note::open_note(&checkpoint.note, &[verifier])
        .ok()
        .and_then(|opened| warrant_log::checkpoint::Checkpoint::parse(&opened.body).ok())
        .is_some_and(|body| body.size == checkpoint.size && body.root == checkpoint.root)
}

fn hex_list(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// The inclusion proof of `seq` in the tree of `size` (the latest checkpoint's without one).
pub fn inclusion(store: &Store, seq: Seq, size: Option<u64>) -> Result<wire::InclusionProof> {
    let size = match size {
        Some(size) => size,
        None => {
            store
                .latest_checkpoint()?
                .ok_or_else(|| ServiceError::not_found("no checkpoint has been signed yet; pass `size`"))?
                .size
        }
    };
    let proof = store.inclusion_proof(seq, size).map_err(proof_error)?;
    let event = store
        .event(seq)?
        .ok_or_else(|| ServiceError::not_found(format!("no event {seq}")))?;
    let checkpoint = store.checkpoint_at(size)?;
    Ok(wire::InclusionProof {
        seq,
        size,
        leaf_hash: hex::encode(event.leaf),
        proof: hex_list(&proof),
        root: checkpoint.as_ref().map(|checkpoint| hex::encode(checkpoint.root)),
        checkpoint: checkpoint.map(|checkpoint| checkpoint.note),
    })
}

/// The consistency proof between the trees of sizes `from` and `to`.
pub fn consistency(store: &Store, from: u64, to: u64) -> Result<wire::ConsistencyProof> {
    let proof = store.consistency_proof(from, to).map_err(proof_error)?;
    Ok(wire::ConsistencyProof {
        from,
        to,
        proof: hex_list(&proof),
    })
}

pub(crate) fn proof_error(error: ProofRequestError) -> ServiceError {
    match error {
        ProofRequestError::OutOfRange(message) => ServiceError::invalid(ErrorCode::OutOfRange, message),
        ProofRequestError::Store(error) => error.into(),
    }
}
