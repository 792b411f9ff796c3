//! The right edge ("compact range") of an append-only Merkle tree: one hash
//! per perfect subtree of the tree's binary decomposition, enough to append a
//! leaf and compute the RFC 9162 root in O(log n) time and memory.

use thiserror::Error;

use crate::hash::{Hash, empty_root, node_hash};

/// Why a persisted frontier could not be restored.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrontierError {
    #[error("frontier of size {size} needs {expected} hashes, got {actual}")]
    WrongHashCount { size: u64, expected: u32, actual: usize },
    #[error("frontier bytes have length {0}, not 8 plus a multiple of 32")]
    BadLength(usize),
}

/// A perfect, aligned subtree completed by an append: it covers leaves
/// `[index << level, (index + 1) << level)` and has root `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subtree {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves,
/// largest (leftmost) first: one per set bit of `size`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores a frontier from its size and the hashes returned by [`Frontier::hashes`].
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, FrontierError> {
        let expected = size.count_ones();
        if hashes.len() != expected as usize {
            return Err(FrontierError::WrongHashCount {
                size,
                expected,
                actual: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the perfect subtrees, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_with(leaf, |_| {});
    }

    /// Appends a leaf hash and reports, smallest first, every perfect subtree
    /// of level >= 1 that this leaf completes, so a store can persist
    /// interior nodes (for example every 256-leaf tile root at level 8).
    pub fn push_with(&mut self, leaf: Hash, mut on_complete: impl FnMut(Subtree)) {
        let mut hash = leaf;
        let mut level = 0;
        // Each set low bit of the old size is a left sibling waiting for this
        // leaf's subtree to reach its height: merging them is binary carry.
        while (self.size >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            let index = ((self.size + 1) >> level) - 1;
            on_complete(Subtree { level, index, hash });
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The RFC 9162 Merkle Tree Hash of all leaves appended so far.
    pub fn root(&self) -> Hash {
        // The rightmost (smallest) subtree is the deepest right child: fold right to left.
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// Serialises as the size (8 bytes, big-endian) followed by the hashes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for hash in &self.hashes {
            out.extend_from_slice(hash);
        }
        out
    }

    /// Restores a frontier written by [`Frontier::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FrontierError> {
        let bad_length = || FrontierError::BadLength(bytes.len());
        let (size, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad_length)?;
        let (chunks, remainder) = rest.as_chunks::<32>();
        if !remainder.is_empty() {
            return Err(bad_length());
        }
        Self::from_parts(u64::from_be_bytes(*size), chunks.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::{Frontier, FrontierError, Subtree};
    use crate::hash::{empty_root, leaf_hash, root_from_leaf_hashes};

    fn leaves(n: u64) -> Vec<[u8; 32]> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn root_matches_mth_for_every_size() {
        let all = leaves(300);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(frontier.size(), i as u64 + 1);
            assert_eq!(
                frontier.root(),
                root_from_leaf_hashes(&all[..=i]),
                "size {}",
                i + 1
            );
            assert_eq!(frontier.hashes().len(), frontier.size().count_ones() as usize);
        }
    }

    #[test]
    fn reports_completed_subtrees() {
        let all = leaves(64);
        let mut frontier = Frontier::new();
        let mut seen = Vec::new();
        for leaf in &all {
            frontier.push_with(*leaf, |s| seen.push(s));
        }
        // 32 + 16 + 8 + 4 + 2 + 1 perfect subtrees of level >= 1 in 64 leaves.
        assert_eq!(seen.len(), 63);
        for Subtree { level, index, hash } in seen {
            let start = (index << level) as usize;
            let end = ((index + 1) << level) as usize;
            assert_eq!(
                hash,
                root_from_leaf_hashes(&all[start..end]),
                "level {level} index {index}"
            );
        }
        let mut tiles = Vec::new();
        let mut frontier = Frontier::new();
        for leaf in &all {
            frontier.push_with(*leaf, |s| {
                if s.level == 3 {
                    tiles.push(s.index);
                }
            });
        }
        assert_eq!(tiles, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn round_trips_through_bytes_and_parts() {
        let mut frontier = Frontier::new();
        for leaf in leaves(77) {
            frontier.push(leaf);
        }
        let restored = Frontier::from_bytes(&frontier.to_bytes()).unwrap();
        assert_eq!(restored, frontier);
        let parts = Frontier::from_parts(frontier.size(), frontier.hashes().to_vec()).unwrap();
        assert_eq!(parts.root(), frontier.root());
        assert_eq!(
            Frontier::from_bytes(&Frontier::new().to_bytes()).unwrap(),
            Frontier::new()
        );

        let mut resumed = restored;
        let mut straight = frontier;
        resumed.push(leaf_hash(b"next"));
        straight.push(leaf_hash(b"next"));
        assert_eq!(resumed.root(), straight.root());
    }

    #[test]
    fn rejects_bad_persisted_state() {
        assert_eq!(
            Frontier::from_parts(3, vec![[0; 32]]),
            Err(FrontierError::WrongHashCount {
                size: 3,
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(Frontier::from_bytes(&[0; 7]), Err(FrontierError::BadLength(7)));
        assert_eq!(Frontier::from_bytes(&[0; 9]), Err(FrontierError::BadLength(9)));
    }
}
