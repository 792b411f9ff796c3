//! Inclusion proofs checked by an independent implementation: a few lines of RFC 9162 written here from the
//! RFC with nothing but `sha2`, sharing no code with `warrant-log`, against the bytes in the SQLite file.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Scratch, Server, event};

type Hash = [u8; 32];

/// RFC 9162 §2.1.1: the hash of a leaf.
fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// RFC 9162 §2.1.1: the hash of an interior node.
fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// RFC 9162 §2.1.3.2: verify an inclusion proof of leaf `index` in a tree of `size` with root `root`.
fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Standard base64 with padding (RFC 4648 §4), as the checkpoint note writes the root.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hash_from_hex(value: &Value) -> Hash {
    let bytes = hex::decode(value.as_str().expect("a hex string")).expect("hex");
    bytes.try_into().expect("32 bytes")
}

/// The stored `body` and `leaf` of `seq`, read straight from the database file.
fn stored_row(dir: &Path, seq: u64) -> (Vec<u8>, Vec<u8>) {
    let connection = rusqlite::Connection::open_with_flags(
        dir.join("warrant.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("opening the database read-only");
    connection
        .query_row("SELECT body, leaf FROM events WHERE seq = ?1", [seq], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .expect("the event's row")
}

#[test]
fn the_independent_verifier_self_checks_on_a_hand_built_tree() {
    // A tree of three leaves: root = node(node(l0, l1), l2). Guards the verifier the next test relies on.
    let leaves: Vec<Hash> = [b"a", b"b", b"c"].iter().map(|data| leaf_hash(*data)).collect();
    let root = node_hash(&node_hash(&leaves[0], &leaves[1]), &leaves[2]);
    assert!(verify_inclusion(0, 3, &leaves[0], &[leaves[1], leaves[2]], &root));
    assert!(verify_inclusion(
        2,
        3,
        &leaves[2],
        &[node_hash(&leaves[0], &leaves[1])],
        &root
    ));
    assert!(!verify_inclusion(
        1,
        3,
        &leaves[0],
        &[leaves[1], leaves[2]],
        &root
    ));
    assert!(!verify_inclusion(
        0,
        3,
        &leaves[0],
        &[leaves[2], leaves[1]],
        &root
    ));
    assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
    assert_eq!(base64(b"any carnal pleasu"), "YW55IGNhcm5hbCBwbGVhc3U=");
}

#[test]
fn every_event_has_an_inclusion_proof_an_independent_verifier_accepts() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let scratch = Scratch::new();
    let data = scratch.data();
    let server = Server::start(&data, &["--checkpoint-interval-ms", "100"]);
    let admin = server.admin().to_owned();
    let events: Vec<Value> = (0..40)
        .map(|index| {
            let mut event = event(Some(&format!("proof-{index}")), &format!("event {index}"));
            event["content"] = json!({"input": format!("question {index}")});
            event
        })
        .collect();
    let (status, answer) = server.post_json("/v1/events", &admin, &Value::Array(events));
    assert_eq!(status, 200, "{answer}");
    // The admin token's creation is the log's first event; the batch follows it.
    let first = answer["seqs"][0].as_u64().expect("a seq");
    let checkpoint = server.wait_for_checkpoint(&admin, first + 40);
    let size = checkpoint["size"].as_u64().expect("a size");

    for seq in 0..first + 40 {
        let answer = server.get_ok(&format!("/v1/events/{seq}"), &admin);
        if let Some(index) = seq.checked_sub(first) {
            assert_eq!(answer["event"]["id"], json!(format!("proof-{index}")), "{answer}");
        }
        let (body, leaf_column) = stored_row(&data, seq);
        let leaf = leaf_hash(&body);
        assert_eq!(
            hash_from_hex(&answer["leaf_hash"]),
            leaf,
            "seq {seq}: leaf hash of the stored bytes"
        );
        assert_eq!(leaf_column, leaf.to_vec(), "seq {seq}: the leaf column");
        let stored: Value = serde_json::from_slice(&body).expect("the body is JSON");
        assert_eq!(
            stored, answer["event"],
            "seq {seq}: the answer is the stored body"
        );

        let checkpoint = &answer["checkpoint"];
        let checkpoint_size = checkpoint["size"].as_u64().expect("a checkpoint size");
        assert!(checkpoint_size >= size, "{answer}");
        let root = hash_from_hex(&checkpoint["root"]);
        let proof: Vec<Hash> = answer["inclusion_proof"]
            .as_array()
            .expect("a proof")
            .iter()
            .map(hash_from_hex)
            .collect();
        assert!(
            verify_inclusion(seq, checkpoint_size, &leaf, &proof, &root),
            "seq {seq}: the proof does not lead to the root: {answer}"
        );
        // A proof for a neighbour must not pass for this leaf.
        assert!(
            !verify_inclusion(seq ^ 1, checkpoint_size, &leaf, &proof, &root),
            "seq {seq}"
        );

        let note = checkpoint["note"].as_str().expect("a note");
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(
            lines[1],
            checkpoint_size.to_string(),
            "note line 2 is the size: {note}"
        );
        assert_eq!(lines[2], base64(&root), "note line 3 is the root: {note}");
    }
}
