//! RFC 9162 proof verification on arbitrary sizes, indexes, hashes and proofs
//! (must never panic), and on real proofs of a real tree of 1..=300 leaves:
//! a genuine proof verifies, and one bit flipped anywhere makes it fail.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use warrant_log::hash::{Hash, leaf_hash, root_from_leaf_hashes};
use warrant_log::proof::{LeafSlice, consistency_proof, inclusion_proof, verify_consistency, verify_inclusion};

const MAX_LEAVES: usize = 300;

/// Leaf i is `leaf_hash(i as big-endian u64)`; `roots[n]` is the root of the first n leaves.
struct Tree {
    leaves: Vec<Hash>,
    roots: Vec<Hash>,
    /// Every leaf, for a cheap "is this a real leaf" test.
    known: HashSet<Hash>,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let leaves: Vec<Hash> = (0..MAX_LEAVES as u64).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let roots = (0..=MAX_LEAVES).map(|n| root_from_leaf_hashes(&leaves[..n])).collect();
        let known = leaves.iter().copied().collect();
        Tree { leaves, roots, known }
    })
}

fn flip_bit(proof: &mut [Hash], bit: usize) {
    let (hash, rest) = (bit / 256, bit % 256);
    proof[hash][rest / 8] ^= 1 << (rest % 8);
}

fn run(u: &mut Unstructured) -> Result<()> {
    let n: u64 = u.int_in_range(1..=MAX_LEAVES as u64)?;
    let index: u64 = u.arbitrary()?;
    let size: u64 = u.arbitrary()?;
    let old_size: u64 = u.arbitrary()?;
    let leaf: Hash = u.arbitrary()?;
    let root: Hash = u.arbitrary()?;
    let old_root: Hash = u.arbitrary()?;
    let proof_len = u.int_in_range(0..=70usize)?;
    let mut proof = Vec::with_capacity(proof_len);
    for _ in 0..proof_len {
        proof.push(u.arbitrary::<Hash>()?);
    }

    // Arbitrary input, any sizes: results are irrelevant, panics are bugs.
    let _ = verify_inclusion(&leaf, index, size, &proof, &root);
    let _ = verify_consistency(old_size, size, &old_root, &root, &proof);
    // The same garbage within the real tree's shape, to reach the inner loops.
    let t = tree();
    let real_root = t.roots[n as usize];
    let _ = verify_inclusion(&leaf, index % n, n, &proof, &real_root);
    let _ = verify_consistency(old_size % (n + 1), n, &old_root, &real_root, &proof);
    // Forged proofs against the real tree must not verify (a collision would be a SHA-256 break).
    if !t.known.contains(&leaf) && proof.iter().all(|h| !t.known.contains(h)) {
        assert!(verify_inclusion(&leaf, index % n, n, &proof, &real_root).is_err());
    }

    // A real inclusion proof verifies; one flipped bit breaks it.
    let leaves = &t.leaves[..n as usize];
    let i = index % n;
    let real_leaf = leaves[i as usize];
    let mut good = inclusion_proof(&mut LeafSlice(leaves), i, n).expect("in-range inclusion proof");
    assert_eq!(verify_inclusion(&real_leaf, i, n, &good, &real_root), Ok(()));
    let bit: u32 = u.arbitrary()?;
    if good.is_empty() {
        // n == 1: the leaf is the root; flip the leaf instead.
        let mut bad_leaf = [real_leaf];
        flip_bit(&mut bad_leaf, bit as usize % 256);
        assert!(verify_inclusion(&bad_leaf[0], i, n, &good, &real_root).is_err());
    } else {
        let bits = good.len() * 256;
        flip_bit(&mut good, bit as usize % bits);
        assert!(
            verify_inclusion(&real_leaf, i, n, &good, &real_root).is_err(),
            "flipped inclusion proof verified: leaf {i} of {n}, bit {bit}"
        );
    }

    // A real consistency proof verifies; one flipped bit breaks it.
    let m = old_size % (n + 1);
    let real_old_root = t.roots[m as usize];
    let mut good = consistency_proof(&mut LeafSlice(leaves), m, n).expect("consistency proof");
    assert_eq!(verify_consistency(m, n, &real_old_root, &real_root, &good), Ok(()));
    if !good.is_empty() {
        let bit: u32 = u.arbitrary()?;
        let bits = good.len() * 256;
        flip_bit(&mut good, bit as usize % bits);
        assert!(
            verify_consistency(m, n, &real_old_root, &real_root, &good).is_err(),
            "flipped consistency proof verified: {m} -> {n}, bit {bit}"
        );
    } else if m != 0 {
        // m == n: the proof is empty and the roots must match exactly.
        let mut bad_old = [real_old_root];
        flip_bit(&mut bad_old, bit as usize % 256);
        assert!(verify_consistency(m, n, &bad_old[0], &real_root, &good).is_err());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
