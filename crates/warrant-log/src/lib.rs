//! warrant-log: the verifiable evidence log format, with no I/O beyond the
//! files of a bundle it is asked to write or read, so an auditor can build it
//! alone and check a log.
//!
//! Events are RFC 8785 canonical JSON ([`canonical`]), hashed into an
//! RFC 9162 Merkle tree ([`hash`], [`frontier`], [`proof`]). The log commits
//! to its state with C2SP tlog-checkpoints ([`checkpoint`]) signed as C2SP
//! signed notes with Ed25519 ([`note`]), which independent witnesses cosign
//! ([`cosignature`], over the [`witness`] protocol). [`verify`] checks a whole
//! log in one streaming pass.

pub mod bundle;
pub mod canonical;
pub mod checkpoint;
pub mod cosignature;
pub mod frontier;
pub mod hash;
pub mod note;
pub mod proof;
pub mod seq;
pub mod verify;
pub mod witness;

pub use canonical::canonicalize;
pub use checkpoint::{Checkpoint, CheckpointError};
pub use frontier::{Frontier, FrontierError, Subtree};
pub use hash::{Hash, empty_root, leaf_hash, node_hash, root_from_leaf_hashes};
pub use note::{NoteError, NoteSigner, NoteVerifier, OpenedNote, open_note, sign_note};
pub use proof::{
    LeafSlice, LeafSliceError, ProofError, SubtreeSource, VerifyError, consistency_proof, inclusion_proof,
    verify_consistency, verify_inclusion,
};
pub use seq::Seq;
pub use verify::{Finding, LogVerifier, VerifyReport};
