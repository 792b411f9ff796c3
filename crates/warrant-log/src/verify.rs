//! Streaming whole-log verification with no I/O: recompute every leaf and
//! the tree root from the stored events, check each signed checkpoint against
//! it, and describe every discrepancy by the sequence number it concerns.

use std::collections::VecDeque;
use std::fmt;

use crate::checkpoint::Checkpoint;
use crate::frontier::Frontier;
use crate::hash::{Hash, leaf_hash};
use crate::note::{NoteVerifier, open_note, unverified_body};

/// Findings kept in the report; past this only a count is kept, so a wholly
/// corrupted log cannot make verification use memory linear in its size.
const MAX_FINDINGS: usize = 10_000;

/// Verifies a log fed one event and one checkpoint at a time, in O(log n) memory.
///
/// Every row fed becomes the next leaf, in feeding order, so the recomputed
/// tree is the tree of the log exactly as stored; sequence anomalies are
/// reported separately. A checkpoint of size N is compared with the tree
/// once N rows have been fed. It may be fed at any time before the
/// (N+1)-th row; the natural merge is to feed it just before the row with
/// seq N. Checkpoints fed early wait in a queue until the tree reaches them.
#[derive(Debug)]
pub struct LogVerifier {
    verifiers: Vec<NoteVerifier>,
    origin: String,
    frontier: Frontier,
    next_seq: u64,
    last_row_seq: Option<u64>,
    checkpoints: u64,
    pending: VecDeque<Checkpoint>,
    last_signed: Option<Checkpoint>,
    latest_verified: Option<Checkpoint>,
    findings: Vec<Finding>,
    findings_omitted: u64,
}

/// The outcome of a whole-log verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rows fed, which is also the size of the recomputed tree.
    pub events: u64,
    /// Checkpoints fed, valid or not.
    pub checkpoints: u64,
    /// Root of the tree recomputed over every row fed.
    pub root: Hash,
    pub findings: Vec<Finding>,
    /// Findings beyond the first 10 000, counted but not kept.
    pub findings_omitted: u64,
    /// The largest checkpoint whose signature verified and whose root matched the recomputed tree.
    pub latest_verified: Option<Checkpoint>,
    /// Events after `latest_verified`: present in the log but not yet covered by a verified signature.
    pub unsigned_tail: u64,
}

/// One thing wrong with the log, naming the sequence numbers or checkpoint it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Row seqs jumped: events `first..=last` are absent.
    MissingEvents { first: u64, last: u64 },
    /// The same seq appeared on two consecutive rows.
    DuplicateEvent { seq: u64 },
    /// A row's seq is lower than one already seen.
    OutOfOrder { seq: u64, previous: u64 },
    /// The seq inside the body differs from the row's position (`None`: unreadable).
    SeqMismatch { row_seq: u64, body_seq: Option<u64> },
    /// The leaf hash stored beside the row is not the hash of its body.
    LeafMismatch { seq: u64 },
    /// A checkpoint's note did not carry a valid signature from a trusted key.
    /// `index` is its position among the checkpoints fed, from 0; `size` is
    /// its claimed size if readable.
    BadCheckpointSignature {
        index: u64,
        size: Option<u64>,
        reason: String,
    },
    /// A correctly signed note whose body is not a valid checkpoint.
    MalformedCheckpoint { index: u64, reason: String },
    /// A correctly signed checkpoint for another log.
    WrongOrigin { index: u64, size: u64, origin: String },
    /// A checkpoint smaller than one signed before it: the log was rolled back or the checkpoints reordered.
    CheckpointShrank { size: u64, previous: u64 },
    /// Two signed checkpoints of the same size with different roots: the log forked.
    ConflictingCheckpoints { size: u64 },
    /// The signed root differs from the recomputed one: an event with seq in
    /// `first_unverified_seq..size` differs from what was signed.
    RootMismatch { size: u64, first_unverified_seq: u64 },
    /// The checkpoint arrived after the tree had grown past its size, so it could not be compared.
    CheckpointNotChecked { size: u64, tree_size: u64 },
    /// The checkpoint covers more events than the log holds: events were removed from the end.
    CheckpointBeyondLog { size: u64, log_size: u64 },
    /// A clear content field does not match the salted digest its event committed to.
    ContentMismatch { seq: u64, field: String },
    /// Clear content is stored for a field the event never committed to (or for an event not in the log).
    ContentNotCommitted { seq: u64, field: String },
    /// A checkpoint row's stored size or root differs from its own signed note.
    CheckpointRowMismatch { size: u64 },
    /// Events past the tree head the writer sealed: they were not written by warrant.
    UnaccountedEvents { first: u64, last: u64, sealed: u64 },
    /// The sealed tree head does not verify, or the events under it no longer have its root.
    HeadMismatch { size: u64, reason: String },
}

impl LogVerifier {
    /// A verifier for the log named `origin` whose checkpoints are signed by one of `verifiers`.
    pub fn new(verifiers: Vec<NoteVerifier>, origin: impl Into<String>) -> Self {
        Self {
            verifiers,
            origin: origin.into(),
            frontier: Frontier::new(),
            next_seq: 0,
            last_row_seq: None,
            checkpoints: 0,
            pending: VecDeque::new(),
            last_signed: None,
            latest_verified: None,
            findings: Vec::new(),
            findings_omitted: 0,
        }
    }

    /// Feeds the next row in ascending order of its seq. `row_seq` is the
    /// position the store claims; `body` the stored canonical bytes (the leaf
    /// data); `body_seq` the seq written inside the body, `None` if the
    /// caller could not read one; `stored_leaf` the leaf hash kept beside the row, if any.
    pub fn push_event(
        &mut self,
        row_seq: u64,
        body: &[u8],
        body_seq: Option<u64>,
        stored_leaf: Option<&Hash>,
    ) {
        if row_seq < self.next_seq {
            match self.last_row_seq {
                Some(previous) if previous == row_seq => {
                    self.report(Finding::DuplicateEvent { seq: row_seq })
                }
                Some(previous) => self.report(Finding::OutOfOrder {
                    seq: row_seq,
                    previous,
                }),
                None => {}
            }
        } else if row_seq > self.next_seq {
            self.report(Finding::MissingEvents {
                first: self.next_seq,
                last: row_seq - 1,
            });
        }
        self.last_row_seq = Some(row_seq);
        self.next_seq = self.next_seq.max(row_seq.saturating_add(1));
        if body_seq != Some(row_seq) {
            self.report(Finding::SeqMismatch { row_seq, body_seq });
        }
        let leaf = leaf_hash(body);
        if stored_leaf.is_some_and(|stored| *stored != leaf) {
            self.report(Finding::LeafMismatch { seq: row_seq });
        }
        self.frontier.push(leaf);
        while self
            .pending
            .front()
            .is_some_and(|cp| cp.size == self.frontier.size())
        {
            if let Some(cp) = self.pending.pop_front() {
                self.check_root(cp);
            }
        }
    }

    /// Feeds a signed checkpoint note. Checkpoints must come in ascending order of size.
    pub fn push_checkpoint(&mut self, signed_note: &str) {
        let index = self.checkpoints;
        self.checkpoints += 1;
        let body = match open_note(signed_note, &self.verifiers) {
            Ok(opened) => opened.body,
            Err(err) => {
                // Only for the message: an unverified size is a hint, never trusted.
                let size = unverified_body(signed_note)
                    .and_then(|b| Checkpoint::parse(b).ok())
                    .map(|c| c.size);
                self.report(Finding::BadCheckpointSignature {
                    index,
                    size,
                    reason: err.to_string(),
                });
                return;
            }
        };
        let cp = match Checkpoint::parse(&body) {
            Ok(cp) => cp,
            Err(err) => {
                self.report(Finding::MalformedCheckpoint {
                    index,
                    reason: err.to_string(),
                });
                return;
            }
        };
        if cp.origin != self.origin {
            self.report(Finding::WrongOrigin {
                index,
                size: cp.size,
                origin: cp.origin,
            });
            return;
        }
        if let Some(previous) = &self.last_signed {
            if cp.size < previous.size {
                let previous = previous.size;
                self.report(Finding::CheckpointShrank {
                    size: cp.size,
                    previous,
                });
                return;
            }
            if cp.size == previous.size {
                if cp.root != previous.root {
                    self.report(Finding::ConflictingCheckpoints { size: cp.size });
                }
                return;
            }
        }
        self.last_signed = Some(cp.clone());
        let tree_size = self.frontier.size();
        if cp.size > tree_size {
            self.pending.push_back(cp);
        } else if cp.size == tree_size {
            self.check_root(cp);
        } else {
            self.report(Finding::CheckpointNotChecked {
                size: cp.size,
                tree_size,
            });
        }
    }

    /// Report a finding the caller made about what it stored beside the log (content, checkpoint rows).
    pub fn add_finding(&mut self, finding: Finding) {
        self.report(finding);
    }

    /// Rows fed so far: the size of the recomputed tree.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root of the tree recomputed over the rows fed so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Ends the run: checkpoints still waiting cover events the log does not have.
    pub fn finish(mut self) -> VerifyReport {
        let log_size = self.frontier.size();
        for cp in std::mem::take(&mut self.pending) {
            self.report(Finding::CheckpointBeyondLog {
                size: cp.size,
                log_size,
            });
        }
        let signed = self.latest_verified.as_ref().map_or(0, |cp| cp.size);
        VerifyReport {
            events: log_size,
            checkpoints: self.checkpoints,
            root: self.frontier.root(),
            findings: self.findings,
            findings_omitted: self.findings_omitted,
            latest_verified: self.latest_verified,
            unsigned_tail: log_size.saturating_sub(signed),
        }
    }

    fn check_root(&mut self, cp: Checkpoint) {
        if self.frontier.root() == cp.root {
            self.latest_verified = Some(cp);
        } else {
            // Everything up to the last matching checkpoint is pinned by its
            // root, so the difference lies after it.
            let first_unverified_seq = self.latest_verified.as_ref().map_or(0, |v| v.size);
            self.report(Finding::RootMismatch {
                size: cp.size,
                first_unverified_seq,
            });
        }
    }

    fn report(&mut self, finding: Finding) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(finding);
        } else {
            self.findings_omitted += 1;
        }
    }
}

impl VerifyReport {
    /// True when nothing was found wrong. Events after the last checkpoint are not a finding.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty() && self.findings_omitted == 0
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEvents { first, last } if first == last => write!(f, "event {first} is missing"),
            Self::MissingEvents { first, last } => write!(f, "events {first} to {last} are missing"),
            Self::DuplicateEvent { seq } => write!(f, "event {seq} appears more than once"),
            Self::OutOfOrder { seq, previous } => write!(f, "event {seq} appears after event {previous}"),
            Self::SeqMismatch {
                row_seq,
                body_seq: Some(body_seq),
            } => {
                write!(
                    f,
                    "event stored at seq {row_seq} says it is event {body_seq}: it was moved, swapped or inserted"
                )
            }
            Self::SeqMismatch {
                row_seq,
                body_seq: None,
            } => {
                write!(f, "event stored at seq {row_seq} has no readable seq in its body")
            }
            Self::LeafMismatch { seq } => {
                write!(
                    f,
                    "event {seq} does not match its stored leaf hash: its body was edited"
                )
            }
            Self::BadCheckpointSignature {
                index,
                size: Some(size),
                reason,
            } => {
                write!(
                    f,
                    "checkpoint #{index} (size {size}) is not validly signed: {reason}"
                )
            }
            Self::BadCheckpointSignature {
                index,
                size: None,
                reason,
            } => {
                write!(f, "checkpoint #{index} is not validly signed: {reason}")
            }
            Self::MalformedCheckpoint { index, reason } => {
                write!(f, "checkpoint #{index} is malformed: {reason}")
            }
            Self::WrongOrigin { index, size, origin } => {
                write!(
                    f,
                    "checkpoint #{index} (size {size}) is for another log, {origin:?}"
                )
            }
            Self::CheckpointShrank { size, previous } => {
                write!(
                    f,
                    "checkpoint of size {size} follows one of size {previous}: the log went backwards"
                )
            }
            Self::ConflictingCheckpoints { size } => {
                write!(
                    f,
                    "two signed checkpoints of size {size} have different roots: the log forked"
                )
            }
            Self::RootMismatch {
                size,
                first_unverified_seq,
            } => write!(
                f,
                "checkpoint of size {size} does not match the events: an event with seq from \
                 {first_unverified_seq} to {} was changed, removed or inserted",
                size.saturating_sub(1)
            ),
            Self::CheckpointNotChecked { size, tree_size } => write!(
                f,
                "checkpoint of size {size} could not be checked: it was read after {tree_size} events"
            ),
            Self::ContentMismatch { seq, field } => write!(
                f,
                "event {seq}: clear content `{field}` does not match its committed digest: it was edited"
            ),
            Self::ContentNotCommitted { seq, field } => write!(
                f,
                "event {seq}: clear content `{field}` is stored, but the event never committed to it: it was added"
            ),
            Self::CheckpointRowMismatch { size } => write!(
                f,
                "checkpoint of size {size}: the stored size and root disagree with its signed note: the row was edited"
            ),
            Self::UnaccountedEvents { first, last, sealed } => write!(
                f,
                "events {first} to {last} were not written by warrant: the head its writer sealed covers {sealed} events"
            ),
            Self::HeadMismatch { size, reason } => {
                write!(f, "the sealed tree head (size {size}) does not hold: {reason}")
            }
            Self::CheckpointBeyondLog { size, log_size } => write!(
                f,
                "checkpoint of size {size} covers more events than the log holds ({log_size}): \
                 events from seq {log_size} were removed"
            ),
        }
    }
}
