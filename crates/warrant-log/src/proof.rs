//! RFC 9162 inclusion and consistency proofs: generation (§2.1.3.1 PATH,
//! §2.1.4.1 SUBPROOF) from any source of subtree roots, and verification by
//! the bit-walking algorithms of §2.1.3.2 and §2.1.4.2.

use thiserror::Error;

use crate::hash::{Hash, node_hash, root_from_leaf_hashes, split_point};

/// Supplies roots of subtrees so proofs can be served without loading every leaf.
pub trait SubtreeSource {
    type Error;

    /// Root (RFC 9162 MTH) of leaves `[start, end)`. Only called with aligned
    /// ranges: `start` is a multiple of 2^k and `end - start <= 2^k` for the
    /// smallest such k, i.e. a perfect subtree or the truncated right edge of
    /// one at the end of the tree. Never called with an empty range.
    fn subtree_root(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be generated.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError<E> {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old_size} is larger than new size {new_size}")]
    SizeDecreased { old_size: u64, new_size: u64 },
    #[error("reading subtree roots: {0}")]
    Source(E),
}

/// Why a proof did not verify.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old_size} is larger than new size {new_size}")]
    SizeDecreased { old_size: u64, new_size: u64 },
    #[error("proof has the wrong number of hashes")]
    WrongProofLength,
    #[error("proof should be empty")]
    UnexpectedProof,
    #[error("computed root does not match the expected root")]
    RootMismatch,
}

/// A [`SubtreeSource`] over leaf hashes held in memory, for tests and small trees.
#[derive(Clone, Copy, Debug)]
pub struct LeafSlice<'a>(pub &'a [Hash]);

/// A [`LeafSlice`] was asked for leaves it does not hold.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("leaves {start}..{end} are not all among the {len} held")]
pub struct LeafSliceError {
    pub start: u64,
    pub end: u64,
    pub len: usize,
}

impl SubtreeSource for LeafSlice<'_> {
    type Error = LeafSliceError;

    fn subtree_root(&mut self, start: u64, end: u64) -> Result<Hash, LeafSliceError> {
        let err = || LeafSliceError {
            start,
            end,
            len: self.0.len(),
        };
        let range = usize::try_from(start).map_err(|_| err())?..usize::try_from(end).map_err(|_| err())?;
        self.0.get(range).map(root_from_leaf_hashes).ok_or_else(err)
    }
}

/// Inclusion proof (audit path) for leaf `index` in the tree of the first
/// `size` leaves, deepest sibling first, per RFC 9162 §2.1.3.1.
pub fn inclusion_proof<S: SubtreeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk from the root down to the leaf, collecting each sibling; the
    // RFC's recursion emits them bottom-up, hence the final reverse.
    let mut proof = Vec::new();
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let mid = start + split_point(end - start);
        if index < mid {
            proof.push(src.subtree_root(mid, end).map_err(ProofError::Source)?);
            end = mid;
        } else {
            proof.push(src.subtree_root(start, mid).map_err(ProofError::Source)?);
            start = mid;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Consistency proof between the trees of the first `old_size` and first
/// `new_size` leaves, per RFC 9162 §2.1.4.1. Empty when `old_size` is 0 or
/// equals `new_size`, as every tree is consistent with those.
pub fn consistency_proof<S: SubtreeSource>(
    src: &mut S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(ProofError::SizeDecreased { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], b) unrolled: descend while the old tree's
    // edge is inside the current range, collecting siblings top-down.
    let mut proof = Vec::new();
    let (mut start, mut end, mut m) = (0, new_size, old_size);
    let mut whole_old_tree = true;
    while m != end - start {
        let k = split_point(end - start);
        if m <= k {
            proof.push(src.subtree_root(start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            proof.push(src.subtree_root(start, start + k).map_err(ProofError::Source)?);
            start += k;
            m -= k;
            whole_old_tree = false;
        }
    }
    // When the old tree is itself a subtree of the new one, the verifier
    // already knows its root; otherwise the proof starts with this node.
    if !whole_old_tree {
        proof.push(src.subtree_root(start, end).map_err(ProofError::Source)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with root
/// `root`, per RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // Skip levels where this node is a left child with no right sibling.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root`, per RFC 9162 §2.1.4.2.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizeDecreased { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::UnexpectedProof);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    if old_size == 0 {
        // The empty tree is a prefix of every tree; there is nothing to prove.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(VerifyError::UnexpectedProof)
        };
    }
    // An old tree that is a perfect subtree is not repeated in the proof:
    // the verifier starts from the old root it already has.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        proof.split_first().ok_or(VerifyError::WrongProofLength)?
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if f_r != *old_root || s_r != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{
        LeafSlice, ProofError, VerifyError, consistency_proof, inclusion_proof, verify_consistency,
        verify_inclusion,
    };
    use crate::hash::{Hash, leaf_hash, root_from_leaf_hashes};

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        let all = leaves(70);
        for size in 1..=70u64 {
            let tree = &all[..size as usize];
            let root = root_from_leaf_hashes(tree);
            for index in 0..size {
                let leaf = &tree[index as usize];
                let proof = inclusion_proof(&mut LeafSlice(tree), index, size).unwrap();
                assert_eq!(
                    verify_inclusion(leaf, index, size, &proof, &root),
                    Ok(()),
                    "{index}/{size}"
                );

                let other = leaf_hash(b"other");
                assert!(verify_inclusion(&other, index, size, &proof, &root).is_err());
                assert!(verify_inclusion(leaf, index, size, &proof, &other).is_err());
                if size > 1 {
                    assert!(verify_inclusion(leaf, (index + 1) % size, size, &proof, &root).is_err());
                }
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 8;
                    assert!(verify_inclusion(leaf, index, size, &bad, &root).is_err());
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(verify_inclusion(leaf, index, size, &longer, &root).is_err());
                if !proof.is_empty() {
                    let shorter = &proof[..proof.len() - 1];
                    assert!(verify_inclusion(leaf, index, size, shorter, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let all = leaves(70);
        let roots: Vec<Hash> = (0..=70).map(|n| root_from_leaf_hashes(&all[..n])).collect();
        for new_size in 1..=70u64 {
            for old_size in 0..=new_size {
                let (old_root, new_root) = (&roots[old_size as usize], &roots[new_size as usize]);
                let proof = consistency_proof(&mut LeafSlice(&all), old_size, new_size).unwrap();
                assert_eq!(
                    verify_consistency(old_size, new_size, old_root, new_root, &proof),
                    Ok(()),
                    "{old_size} -> {new_size}"
                );
                if old_size == 0 || old_size == new_size {
                    assert!(proof.is_empty());
                    continue;
                }
                assert!(verify_consistency(old_size, new_size, new_root, old_root, &proof).is_err());
                assert!(verify_consistency(old_size, new_size, old_root, &[0; 32], &proof).is_err());
                assert!(verify_consistency(old_size, new_size, &[0; 32], new_root, &proof).is_err());
                assert!(verify_consistency(old_size, new_size, old_root, new_root, &[]).is_err());
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 16;
                    assert!(verify_consistency(old_size, new_size, old_root, new_root, &bad).is_err());
                }
                let mut longer = proof.clone();
                longer.push(*new_root);
                assert!(verify_consistency(old_size, new_size, old_root, new_root, &longer).is_err());
                let shorter = &proof[..proof.len() - 1];
                assert!(verify_consistency(old_size, new_size, old_root, new_root, shorter).is_err());
            }
        }
    }

    #[test]
    fn edge_cases_are_errors_not_panics() {
        let all = leaves(4);
        let root = root_from_leaf_hashes(&all);
        assert_eq!(
            inclusion_proof(&mut LeafSlice(&all), 4, 4),
            Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
        );
        assert_eq!(
            inclusion_proof(&mut LeafSlice(&all), 0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_proof(&mut LeafSlice(&all), 3, 2),
            Err(ProofError::SizeDecreased {
                old_size: 3,
                new_size: 2
            })
        );
        assert!(matches!(
            inclusion_proof(&mut LeafSlice(&all), 5, 9),
            Err(ProofError::Source(_))
        ));
        assert_eq!(
            verify_inclusion(&all[0], 0, 0, &[], &root),
            Err(VerifyError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            verify_consistency(3, 2, &root, &root, &[]),
            Err(VerifyError::SizeDecreased {
                old_size: 3,
                new_size: 2
            })
        );
        assert_eq!(verify_consistency(4, 4, &root, &root, &[]), Ok(()));
        assert_eq!(
            verify_consistency(4, 4, &root, &all[0], &[]),
            Err(VerifyError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(4, 4, &root, &root, &[root]),
            Err(VerifyError::UnexpectedProof)
        );
        assert_eq!(
            verify_consistency(0, 4, &root, &root, &[root]),
            Err(VerifyError::UnexpectedProof)
        );
        assert_eq!(verify_consistency(0, 0, &root, &root, &[]), Ok(()));
        assert!(verify_inclusion(&all[0], 0, u64::MAX, &[root; 64], &root).is_err());
        assert!(verify_consistency(1, u64::MAX, &root, &root, &[root; 70]).is_err());
    }

    #[test]
    fn inclusion_verification_is_fast_for_large_trees() {
        // A 10M-leaf proof is 24 hashes. Tests run in parallel on a shared
        // machine, so take the fastest of several batches, not one timing.
        let size = 10_000_000u64;
        let proof: Vec<Hash> = (0..24u8).map(|i| [i; 32]).collect();
        let per_call = (0..20u64)
            .map(|batch| {
                let start = std::time::Instant::now();
                for index in 0..50 {
                    let _ = verify_inclusion(&[1; 32], batch * 400_000 + index, size, &proof, &[2; 32]);
                }
                start.elapsed() / 50
            })
            .min()
            .unwrap();
        // The 50 µs budget is for optimised builds; unoptimised test builds
        // instantiate SHA-256 at opt-level 0 here, so only catch blow-ups there.
        let budget = if cfg!(debug_assertions) { 1_000 } else { 50 };
        assert!(per_call.as_micros() < budget, "{per_call:?} per verification");
    }
}
