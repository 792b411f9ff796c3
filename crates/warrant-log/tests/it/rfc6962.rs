//! The 8-leaf RFC 6962 tree used by Google's certificate-transparency-go,
//! trillian and transparency-dev/merkle tests. Leaves, roots and proofs are
//! the published values from transparency-dev/merkle proof/verify_test.go
//! (where leaf numbers are 1-based; indices here are 0-based).

use sha2::{Digest, Sha256};
use warrant_log::{
    Hash, LeafSlice, consistency_proof, empty_root, inclusion_proof, leaf_hash, root_from_leaf_hashes,
    verify_consistency, verify_inclusion,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the trees of the first 1..=8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex_str: &str) -> Hash {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

fn leaf_hashes() -> Vec<Hash> {
    LEAVES
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect()
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

/// An independent, deliberately naive MTH straight from RFC 9162 §2.1.1 over
/// raw leaf data, sharing no code with the crate.
fn naive_mth(leaves: &[Vec<u8>]) -> Hash {
    let mut hasher = Sha256::new();
    match leaves.len() {
        0 => {}
        1 => {
            hasher.update([0u8]);
            hasher.update(&leaves[0]);
        }
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            hasher.update([1u8]);
            hasher.update(naive_mth(&leaves[..k]));
            hasher.update(naive_mth(&leaves[k..]));
        }
    }
    hasher.finalize().into()
}

#[test]
fn roots_match_published_values() {
    let leaves = leaf_hashes();
    let raw: Vec<Vec<u8>> = LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect();
    assert_eq!(
        root_from_leaf_hashes(&[]),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(empty_root(), naive_mth(&[]));
    for size in 1..=8u64 {
        assert_eq!(
            root_from_leaf_hashes(&leaves[..size as usize]),
            root(size),
            "size {size}"
        );
        assert_eq!(naive_mth(&raw[..size as usize]), root(size), "naive, size {size}");
    }
}

#[test]
fn inclusion_proofs_match_published_values() {
    let leaves = leaf_hashes();
    for (index, size, expected) in INCLUSION {
        let expected = hashes(expected);
        let proof = inclusion_proof(&mut LeafSlice(&leaves), index, size).unwrap();
        assert_eq!(proof, expected, "index {index} size {size}");
        assert_eq!(
            verify_inclusion(&leaves[index as usize], index, size, &expected, &root(size)),
            Ok(())
        );
        assert!(verify_inclusion(&leaves[index as usize], index, size, &expected, &empty_root()).is_err());
    }
}

#[test]
fn consistency_proofs_match_published_values() {
    let leaves = leaf_hashes();
    for (old, new, expected) in CONSISTENCY {
        let expected = hashes(expected);
        let proof = consistency_proof(&mut LeafSlice(&leaves), old, new).unwrap();
        assert_eq!(proof, expected, "{old} -> {new}");
        assert_eq!(
            verify_consistency(old, new, &root(old), &root(new), &expected),
            Ok(()),
            "{old} -> {new}"
        );
        if old != new {
            assert!(verify_consistency(old, new, &root(new), &root(old), &expected).is_err());
        }
    }
}

#[test]
fn every_proof_in_the_published_tree_verifies() {
    let leaves = leaf_hashes();
    for size in 1..=8u64 {
        for index in 0..size {
            let proof = inclusion_proof(&mut LeafSlice(&leaves), index, size).unwrap();
            assert_eq!(
                verify_inclusion(&leaves[index as usize], index, size, &proof, &root(size)),
                Ok(())
            );
        }
        for old in 1..=size {
            let proof = consistency_proof(&mut LeafSlice(&leaves), old, size).unwrap();
            assert_eq!(
                verify_consistency(old, size, &root(old), &root(size), &proof),
                Ok(())
            );
        }
    }
}
