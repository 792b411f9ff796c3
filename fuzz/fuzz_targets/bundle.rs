//! The evidence-bundle verifier on any bytes as a bundle's files. A fixed, valid bundle of 9 events (start
//! checkpoint at 3) is built once; the input replaces one of its files (chosen by the first byte). The
//! verifier never panics, and it passes the bundle only when the replaced file is byte for byte the original.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warrant_log::bundle::{BundleVerifier, FORMAT, hex, signature_body};
use warrant_log::canonical::canonicalize;
use warrant_log::checkpoint::Checkpoint;
use warrant_log::frontier::Frontier;
use warrant_log::hash::leaf_hash;
use warrant_log::note::{NoteSigner, sign_note};
use warrant_log::proof::{LeafSlice, consistency_proof};

struct Fixture {
    signer: NoteSigner,
    manifest: Vec<u8>,
    signature: String,
    files: Vec<(String, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let signer = match NoteSigner::from_secret_bytes("warrant/fuzz/0001", &[9u8; 32]) {
            Ok(signer) => signer,
            Err(error) => panic!("fixed fuzz signer: {error}"),
        };
        let (start, total) = (3u64, 9u64);
        let events: Vec<Value> = (0..total).map(|seq| json!({"seq": seq, "kind": "decision"})).collect();
        let leaves: Vec<[u8; 32]> = events.iter().map(|event| leaf_hash(&canonicalize(event))).collect();
        let (mut before, mut after) = (Frontier::new(), Frontier::new());
        for (index, leaf) in leaves.iter().enumerate() {
            if (index as u64) < start {
                before.push(*leaf);
            }
            after.push(*leaf);
        }
        let sign = |size, root| {
            sign_note(&Checkpoint { origin: "warrant/fuzz/0001".into(), size, root }.to_body(), &signer)
                .unwrap_or_default()
        };
        let proof = consistency_proof(&mut LeafSlice(&leaves), start, total).unwrap_or_default();
        let lines: String = events
            .iter()
            .zip(&leaves)
            .skip(start as usize)
            .map(|(event, leaf)| format!("{}\n", json!({"seq": event["seq"], "leaf": hex(leaf), "event": event})))
            .collect();
        let files = vec![
            ("checkpoints/start.txt".to_owned(), sign(start, before.root()).into_bytes()),
            ("checkpoints/end.txt".to_owned(), sign(total, after.root()).into_bytes()),
            (
                "proofs/start-frontier.json".to_owned(),
                json!({"hashes": before.hashes().iter().map(|hash| hex(hash)).collect::<Vec<_>>()}).to_string().into_bytes(),
            ),
            (
                "proofs/consistency.json".to_owned(),
                json!({"proof": proof.iter().map(|hash| hex(hash)).collect::<Vec<_>>()}).to_string().into_bytes(),
            ),
            (
                "proofs/boundary.json".to_owned(),
                json!({
                    "event": events[start as usize - 1],
                    "proof": warrant_log::proof::inclusion_proof(&mut LeafSlice(&leaves[..start as usize]), start - 1, start)
                        .unwrap_or_default()
                        .iter()
                        .map(|hash| hex(hash))
                        .collect::<Vec<_>>(),
                })
                .to_string()
                .into_bytes(),
            ),
            ("events.ndjson".to_owned(), lines.into_bytes()),
        ];
        let listed: Vec<Value> = files
            .iter()
            .map(|(path, bytes)| json!({"path": path, "sha256": hex(&Sha256::digest(bytes)), "size": bytes.len()}))
            .collect();
        let manifest = json!({"format": FORMAT, "start": {"size": start}, "end": {"size": total}, "files": listed})
            .to_string()
            .into_bytes();
        let signature = sign_note(&signature_body(&manifest), &signer).unwrap_or_default();
        Fixture { signer, manifest, signature, files }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let Some((choice, replacement)) = data.split_first() else {
        return;
    };
    let which = usize::from(*choice) % fixture.files.len();
    let Ok(mut verifier) = BundleVerifier::open(&fixture.manifest, &fixture.signature, fixture.signer.verifier()) else {
        panic!("the fixture's manifest does not open");
    };
    let mut same = true;
    for (index, (path, bytes)) in fixture.files.iter().enumerate() {
        let fed: &[u8] = if index == which { replacement } else { bytes };
        same &= fed == bytes.as_slice();
        if verifier.file(path, &mut &fed[..]).is_err() {
            return;
        }
    }
    let report = verifier.finish();
    assert_eq!(report.ok(), same, "verdict {report:?} for a {} file", if same { "original" } else { "changed" });
});
