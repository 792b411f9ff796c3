//! Whole-log verification: an honest log passes, and each kind of tampering
//! yields a finding that names the right seq or checkpoint size.

use serde_json::{Value, json};
use warrant_log::{
    Checkpoint, Finding, Hash, LogVerifier, NoteSigner, VerifyReport, canonicalize, leaf_hash,
    root_from_leaf_hashes, sign_note,
};

const ORIGIN: &str = "warrant.example/log";

#[derive(Clone)]
struct Row {
    seq: u64,
    body: Vec<u8>,
    leaf: Hash,
}

fn log_key() -> NoteSigner {
    NoteSigner::from_secret_bytes(ORIGIN, &[7; 32]).unwrap()
}

fn body(seq: u64, detail: &str) -> Vec<u8> {
    canonicalize(&json!({"seq": seq, "kind": "tool_call", "detail": detail, "pad": "x".repeat(200)}))
}

fn honest_rows(n: u64) -> Vec<Row> {
    (0..n)
        .map(|seq| {
            let body = body(seq, &format!("event {seq}"));
            Row {
                seq,
                leaf: leaf_hash(&body),
                body,
            }
        })
        .collect()
}

/// A checkpoint over the first `size` rows as given, signed by `signer`.
fn checkpoint(rows: &[Row], size: u64, signer: &NoteSigner) -> (u64, String) {
    let leaves: Vec<Hash> = rows[..size as usize].iter().map(|r| r.leaf).collect();
    let cp = Checkpoint {
        origin: ORIGIN.to_owned(),
        size,
        root: root_from_leaf_hashes(&leaves),
    };
    (size, sign_note(&cp.to_body(), signer).unwrap())
}

fn honest_checkpoints(rows: &[Row]) -> Vec<(u64, String)> {
    [4, 8, 10]
        .into_iter()
        .map(|size| checkpoint(rows, size, &log_key()))
        .collect()
}

/// Drives the verifier as `warrant verify` would: rows in seq order, each
/// checkpoint (by its size column) fed just before the row with seq == size.
fn run(rows: &[Row], checkpoints: &[(u64, String)]) -> VerifyReport {
    let mut verifier = LogVerifier::new(vec![log_key().verifier()], ORIGIN);
    let mut pending = checkpoints.iter().peekable();
    for row in rows {
        while let Some((_, note)) = pending.next_if(|(size, _)| *size <= row.seq) {
            verifier.push_checkpoint(note);
        }
        let body_seq = serde_json::from_slice::<Value>(&row.body)
            .ok()
            .and_then(|v| v["seq"].as_u64());
        verifier.push_event(row.seq, &row.body, body_seq, Some(&row.leaf));
    }
    for (_, note) in pending {
        verifier.push_checkpoint(note);
    }
    verifier.finish()
}

#[test]
fn honest_log_verifies() {
    let rows = honest_rows(12);
    let report = run(&rows, &honest_checkpoints(&rows));
    assert!(report.is_ok(), "{:?}", report.findings);
    assert_eq!(report.events, 12);
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.latest_verified.as_ref().map(|c| c.size), Some(10));
    assert_eq!(report.unsigned_tail, 2);
    let leaves: Vec<Hash> = rows.iter().map(|r| r.leaf).collect();
    assert_eq!(report.root, root_from_leaf_hashes(&leaves));
}

#[test]
fn checkpoints_may_be_fed_early() {
    let rows = honest_rows(10);
    let mut verifier = LogVerifier::new(vec![log_key().verifier()], ORIGIN);
    for (_, note) in honest_checkpoints(&rows) {
        verifier.push_checkpoint(&note);
    }
    for row in &rows {
        verifier.push_event(row.seq, &row.body, Some(row.seq), None);
    }
    let report = verifier.finish();
    assert!(report.is_ok(), "{:?}", report.findings);
    assert_eq!(report.unsigned_tail, 0);
}

#[test]
fn edited_body_is_found() {
    let rows = honest_rows(10);
    let checkpoints = honest_checkpoints(&rows);
    let mut tampered = rows.clone();
    let at = tampered[5].body.iter().position(|b| *b == b'5').unwrap();
    tampered[5].body[at] ^= 1; // "event 5" becomes "event 4": still valid JSON.
    let report = run(&tampered, &checkpoints);
    assert_eq!(
        report.findings,
        vec![
            Finding::LeafMismatch { seq: 5 },
            Finding::RootMismatch {
                size: 8,
                first_unverified_seq: 4
            },
            Finding::RootMismatch {
                size: 10,
                first_unverified_seq: 4
            },
        ]
    );
    assert_eq!(report.latest_verified.map(|c| c.size), Some(4));
    assert_eq!(report.unsigned_tail, 6);

    // Recomputing the stored leaf hides the edit from the row check, not from the signed root.
    tampered[5].leaf = leaf_hash(&tampered[5].body);
    let report = run(&tampered, &checkpoints);
    assert_eq!(
        report.findings[0],
        Finding::RootMismatch {
            size: 8,
            first_unverified_seq: 4
        }
    );
    assert_eq!(
        report.findings[0].to_string(),
        "checkpoint of size 8 does not match the events: an event with seq from 4 to 7 was changed, \
         removed or inserted"
    );
}

#[test]
fn deleted_event_is_found() {
    let rows = honest_rows(10);
    let mut tampered = rows.clone();
    tampered.remove(6);
    let report = run(&tampered, &honest_checkpoints(&rows));
    assert_eq!(
        report.findings,
        vec![
            Finding::MissingEvents { first: 6, last: 6 },
            Finding::RootMismatch {
                size: 8,
                first_unverified_seq: 4
            },
            Finding::CheckpointBeyondLog {
                size: 10,
                log_size: 9
            },
        ]
    );
    assert_eq!(report.findings[0].to_string(), "event 6 is missing");
}

#[test]
fn truncated_tail_is_found() {
    let rows = honest_rows(10);
    let report = run(&rows[..8], &honest_checkpoints(&rows));
    assert_eq!(
        report.findings,
        vec![Finding::CheckpointBeyondLog {
            size: 10,
            log_size: 8
        }]
    );
    assert_eq!(report.latest_verified.map(|c| c.size), Some(8));
}

#[test]
fn swapped_events_are_found() {
    let rows = honest_rows(10);
    let mut tampered = rows.clone();
    // Swap the contents of rows 2 and 3, leaving the row positions in order.
    let (a, b) = (tampered[2].clone(), tampered[3].clone());
    (tampered[2].body, tampered[2].leaf) = (b.body, b.leaf);
    (tampered[3].body, tampered[3].leaf) = (a.body, a.leaf);
    let report = run(&tampered, &honest_checkpoints(&rows));
    assert_eq!(
        report.findings,
        vec![
            Finding::SeqMismatch {
                row_seq: 2,
                body_seq: Some(3)
            },
            Finding::SeqMismatch {
                row_seq: 3,
                body_seq: Some(2)
            },
            Finding::RootMismatch {
                size: 4,
                first_unverified_seq: 0
            },
            Finding::RootMismatch {
                size: 8,
                first_unverified_seq: 0
            },
            Finding::RootMismatch {
                size: 10,
                first_unverified_seq: 0
            },
        ]
    );
    assert!(
        report.findings[0]
            .to_string()
            .contains("seq 2 says it is event 3")
    );
    assert_eq!(report.latest_verified, None);
}

#[test]
fn inserted_event_is_found() {
    let rows = honest_rows(10);
    // A forged event at seq 5 with every later row renumbered to make room.
    let mut tampered: Vec<Row> = rows[..5].to_vec();
    let forged = body(5, "forged");
    tampered.push(Row {
        seq: 5,
        leaf: leaf_hash(&forged),
        body: forged,
    });
    tampered.extend(rows[5..].iter().map(|r| Row {
        seq: r.seq + 1,
        ..r.clone()
    }));
    let report = run(&tampered, &honest_checkpoints(&rows));
    assert_eq!(
        report.findings,
        vec![
            Finding::SeqMismatch {
                row_seq: 6,
                body_seq: Some(5)
            },
            Finding::SeqMismatch {
                row_seq: 7,
                body_seq: Some(6)
            },
            Finding::RootMismatch {
                size: 8,
                first_unverified_seq: 4
            },
            Finding::SeqMismatch {
                row_seq: 8,
                body_seq: Some(7)
            },
            Finding::SeqMismatch {
                row_seq: 9,
                body_seq: Some(8)
            },
            Finding::RootMismatch {
                size: 10,
                first_unverified_seq: 4
            },
            Finding::SeqMismatch {
                row_seq: 10,
                body_seq: Some(9)
            },
        ]
    );

    // Inserted without renumbering: a second row claiming seq 5.
    let mut duplicated = rows.clone();
    duplicated.insert(6, tampered[5].clone());
    let report = run(&duplicated, &honest_checkpoints(&rows));
    assert_eq!(report.findings[0], Finding::DuplicateEvent { seq: 5 });
    assert!(report.findings.contains(&Finding::CheckpointNotChecked {
        size: 8,
        tree_size: 9
    }));
    assert!(!report.is_ok());
}

#[test]
fn altered_checkpoint_root_is_found() {
    let rows = honest_rows(10);
    let mut checkpoints = honest_checkpoints(&rows);
    let root_line = checkpoints[1].1.lines().nth(2).unwrap().to_owned();
    let other_root = checkpoint(&rows, 7, &log_key())
        .1
        .lines()
        .nth(2)
        .unwrap()
        .to_owned();
    checkpoints[1].1 = checkpoints[1].1.replace(&root_line, &other_root);
    let report = run(&rows, &checkpoints);
    assert_eq!(report.findings.len(), 1);
    let Finding::BadCheckpointSignature {
        index: 1,
        size: Some(8),
        reason,
    } = &report.findings[0]
    else {
        panic!("{:?}", report.findings);
    };
    assert_eq!(reason, "invalid signature from known key warrant.example/log");
    assert_eq!(report.latest_verified.map(|c| c.size), Some(10));

    // A wrong root that carries a valid signature: the signer lied about the log.
    let lying = Checkpoint {
        origin: ORIGIN.to_owned(),
        size: 8,
        root: [0; 32],
    };
    checkpoints[1].1 = sign_note(&lying.to_body(), &log_key()).unwrap();
    let report = run(&rows, &checkpoints);
    assert_eq!(
        report.findings,
        vec![Finding::RootMismatch {
            size: 8,
            first_unverified_seq: 4
        }]
    );
}

#[test]
fn checkpoint_signed_by_another_key_is_found() {
    let rows = honest_rows(10);
    let mut checkpoints = honest_checkpoints(&rows);
    let intruder = NoteSigner::from_secret_bytes(ORIGIN, &[8; 32]).unwrap();
    checkpoints[1] = checkpoint(&rows, 8, &intruder);
    let report = run(&rows, &checkpoints);
    assert_eq!(
        report.findings,
        vec![Finding::BadCheckpointSignature {
            index: 1,
            size: Some(8),
            reason: "note has no valid signature from a known key".to_owned(),
        }]
    );
    assert_eq!(
        report.findings[0].to_string(),
        "checkpoint #1 (size 8) is not validly signed: note has no valid signature from a known key"
    );
}

#[test]
fn checkpoint_sequence_anomalies_are_found() {
    let rows = honest_rows(8);
    let (_, cp4) = checkpoint(&rows, 4, &log_key());
    let (_, cp8) = checkpoint(&rows, 8, &log_key());
    let forked = sign_note(
        &Checkpoint {
            origin: ORIGIN.to_owned(),
            size: 8,
            root: [1; 32],
        }
        .to_body(),
        &log_key(),
    )
    .unwrap();
    let elsewhere = sign_note(
        &Checkpoint {
            origin: "other.example/log".to_owned(),
            size: 8,
            root: [1; 32],
        }
        .to_body(),
        &log_key(),
    )
    .unwrap();
    let unsigned_body = format!("{ORIGIN}\n8\n");

    let mut verifier = LogVerifier::new(vec![log_key().verifier()], ORIGIN);
    for note in [&cp8, &cp4, &forked, &elsewhere, &cp8, &unsigned_body] {
        verifier.push_checkpoint(note);
    }
    for row in &rows {
        verifier.push_event(row.seq, &row.body, Some(row.seq), None);
    }
    let report = verifier.finish();
    assert_eq!(
        report.findings,
        vec![
            Finding::CheckpointShrank { size: 4, previous: 8 },
            Finding::ConflictingCheckpoints { size: 8 },
            Finding::WrongOrigin {
                index: 3,
                size: 8,
                origin: "other.example/log".to_owned()
            },
            Finding::BadCheckpointSignature {
                index: 5,
                size: None,
                reason: "note has no blank line before its signatures".to_owned(),
            },
        ]
    );
    assert_eq!(report.latest_verified.map(|c| c.size), Some(8));
}

#[test]
fn unreadable_seq_is_reported() {
    let rows = honest_rows(2);
    let mut verifier = LogVerifier::new(vec![log_key().verifier()], ORIGIN);
    verifier.push_event(0, &rows[0].body, Some(0), None);
    verifier.push_event(1, b"not json", None, None);
    let report = verifier.finish();
    assert_eq!(
        report.findings,
        vec![Finding::SeqMismatch {
            row_seq: 1,
            body_seq: None
        }]
    );
    assert_eq!(report.unsigned_tail, 2);
}
