//! The bundle format round trip: a bundle written with `BundleWriter` (synthetic events, real signed
//! checkpoints and proofs) verifies with `BundleVerifier` read back from its directory, and a change of one
//! byte in any file, or a line the writer would never write, is named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use warrant_log::bundle::{
    BOUNDARY, Boundary, BundleError, BundleReport, BundleVerifier, BundleWriteError, BundleWriter,
    CHANGES_FILE, CONSISTENCY, CheckpointRef, ClearContent, ConsistencyProof, END_CHECKPOINT, EVENTS_FILE,
    EventLine, EventsInfo, FORMAT, MANIFEST_FILE, Manifest, Period, SIGNATURE_FILE, START_CHECKPOINT,
    START_FRONTIER, StartFrontier,
};
use warrant_log::{
    Checkpoint, Frontier, Hash, LeafSlice, NoteSigner, canonicalize, consistency_proof, inclusion_proof,
    leaf_hash, sign_note,
};

const ORIGIN: &str = "warrant.example/bundle";

fn signer() -> NoteSigner {
    NoteSigner::from_secret_bytes(ORIGIN, &[11; 32]).unwrap()
}

/// A fresh, absent directory under the target's scratch space, removed when dropped.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "warrant-log-bundle-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Scratch(dir)
}

/// The salt of event `seq`'s `input` content.
fn salt(seq: u64) -> [u8; 32] {
    [u8::try_from(seq).unwrap(); 32]
}

/// Event `seq`, received on 2026-03-(seq + 1); every third is a registry change, the others decisions with a
/// salted `input` digest.
fn event(seq: u64) -> Value {
    let received = format!("2026-03-{:02}T00:00:00Z", seq + 1);
    if seq % 3 == 2 {
        json!({"seq": seq, "kind": "change", "agent": "agent-b", "received": received,
               "attrs": {"object_kind": "agent", "object_id": "agent-b", "reason": "review"}})
    } else {
        let clear = ClearContent {
            salt: salt(seq),
            text: format!("question {seq}"),
        };
        json!({"seq": seq, "kind": "decision", "agent": if seq.is_multiple_of(2) { "agent-a" } else { "agent-b" },
               "received": received, "content": {"input": clear.digest()}})
    }
}

fn checkpoint(size: u64, root: Hash) -> String {
    sign_note(
        &Checkpoint {
            origin: ORIGIN.to_owned(),
            size,
            root,
        }
        .to_body(),
        &signer(),
    )
    .unwrap()
}

/// Write a bundle of events `start..total` (the log holds `total`), with their clear content, agent-b's
/// events withheld when `filtered`; returns the directory.
fn write_bundle(name: &str, start: u64, total: u64, filtered: bool) -> Scratch {
    let events: Vec<Value> = (0..total).map(event).collect();
    let leaves: Vec<Hash> = events
        .iter()
        .map(|event| leaf_hash(&canonicalize(event)))
        .collect();
    let (mut before, mut after) = (Frontier::new(), Frontier::new());
    for (seq, leaf) in leaves.iter().enumerate() {
        if (seq as u64) < start {
            before.push(*leaf);
        }
        after.push(*leaf);
    }

    let dir = scratch(name);
    let mut bundle = BundleWriter::create(&*dir).unwrap();
    if start > 0 {
        bundle
            .write(START_CHECKPOINT, checkpoint(start, before.root()).as_bytes())
            .unwrap();
    }
    bundle
        .write(END_CHECKPOINT, checkpoint(total, after.root()).as_bytes())
        .unwrap();
    bundle
        .write_json(
            START_FRONTIER,
            &StartFrontier {
                size: Some(start),
                hashes: before.hashes().to_vec(),
            },
        )
        .unwrap();
    let proof = if start == 0 {
        Vec::new()
    } else {
        consistency_proof(&mut LeafSlice(&leaves), start, total).unwrap()
    };
    bundle
        .write_json(
            CONSISTENCY,
            &ConsistencyProof {
                from: Some(start),
                to: Some(total),
                proof,
            },
        )
        .unwrap();
    if start > 0 {
        let seq = start - 1;
        bundle
            .write_json(
                BOUNDARY,
                &Boundary {
                    seq: Some(seq),
                    leaf: Some(leaves[seq as usize]),
                    event: events[seq as usize].clone(),
                    proof: inclusion_proof(&mut LeafSlice(&leaves[..start as usize]), seq, start).unwrap(),
                },
            )
            .unwrap();
    }
    let mut lines = bundle.start(EVENTS_FILE).unwrap();
    let mut changes = bundle.start(CHANGES_FILE).unwrap();
    for seq in start..total {
        let body = events[seq as usize].clone();
        let line = if filtered && body["agent"] == "agent-b" {
            EventLine::withheld(seq, leaves[seq as usize])
        } else {
            let mut line = EventLine::full(seq, leaves[seq as usize], body);
            if line.kind() == Some("decision") {
                line.content = BTreeMap::from([(
                    "input".to_owned(),
                    ClearContent {
                        salt: salt(seq),
                        text: format!("question {seq}"),
                    },
                )]);
            }
            line
        };
        if line.kind() == Some("change") {
            changes.write_line(line.event.as_ref().unwrap()).unwrap();
        }
        lines.write_line(&line).unwrap();
    }
    bundle.close(lines).unwrap();
    bundle.close(changes).unwrap();
    bundle
        .write_json("reports/summary.json", &json!({"decisions": total - start}))
        .unwrap();

    let mut manifest = Manifest::new(start, total);
    manifest.origin = Some(ORIGIN.to_owned());
    manifest.period = Period {
        from: Some(format!("2026-03-{:02}T12:00:00Z", start)),
        to: Some("2026-04-01T00:00:00Z".to_owned()),
    };
    manifest.key = Some(signer().vkey());
    manifest.start = CheckpointRef {
        size: start,
        time: None,
    };
    manifest.end = CheckpointRef {
        size: total,
        time: Some("2026-04-01T00:00:00Z".to_owned()),
    };
    manifest.events = Some(EventsInfo {
        file: EVENTS_FILE.to_owned(),
        first_seq: start,
        count: total - start,
        in_period: total - start,
        with_content: true,
        agents: filtered.then(|| vec!["agent-a".to_owned()]),
    });
    let unsigned = bundle.finish(manifest).unwrap();
    let sealed = unsigned.sign(&signer()).unwrap();
    assert_eq!(sealed.files.len(), if start > 0 { 8 } else { 6 });
    dir
}

/// Verify a bundle directory as `warrant verify` does: the manifest's files in order, then any others.
fn verify(dir: &Path) -> BundleReport {
    let manifest = std::fs::read(dir.join(MANIFEST_FILE)).unwrap();
    let signature = std::fs::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    let mut verifier = BundleVerifier::open(&manifest, &signature, signer().verifier()).unwrap();
    let listed = verifier.files().to_vec();
    for path in &listed {
        if let Ok(mut file) = std::fs::File::open(dir.join(path)) {
            verifier.file(path, &mut file).unwrap();
        }
    }
    verifier.finish()
}

/// Change one byte of `path` in the bundle.
fn flip_byte(dir: &Path, path: &str, at: usize) {
    let full = dir.join(path);
    let mut bytes = std::fs::read(&full).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&full, bytes).unwrap();
}

#[test]
fn a_written_bundle_verifies() {
    let dir = write_bundle("honest", 4, 11, false);
    let report = verify(&dir);
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        (
            report.start_size,
            report.end_size,
            report.events,
            report.events_with_body
        ),
        (4, 11, 7, 7)
    );
    assert_eq!(report.events_withheld, 0);
    assert_eq!(report.content_missing, 0);
    assert_eq!(report.covered_from.as_deref(), Some("2026-03-04T00:00:00Z"));
    assert_eq!(report.last_received.as_deref(), Some("2026-03-11T00:00:00Z"));
    // What the writer wrote reads back as the same types.
    let manifest = Manifest::parse(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(manifest.check(), Ok(()));
    let first: EventLine = serde_json::from_str(
        std::fs::read_to_string(dir.join(EVENTS_FILE))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first.seq, 4);
    assert_eq!(
        first.content["input"].digest(),
        first.event.unwrap()["content"]["input"]
    );
}

#[test]
fn a_bundle_from_the_empty_log_and_a_filtered_bundle_verify() {
    let report = verify(&write_bundle("from-empty", 0, 6, false));
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.events, report.covered_from), (6, None));

    let report = verify(&write_bundle("filtered", 3, 10, true));
    assert!(report.ok(), "{report:?}");
    assert_eq!((report.events, report.events_withheld), (7, 5));
}

#[test]
fn one_byte_changed_in_any_file_is_named() {
    let honest = write_bundle("tamper-source", 4, 11, false);
    let manifest = Manifest::parse(&std::fs::read(honest.join(MANIFEST_FILE)).unwrap()).unwrap();
    for file in &manifest.files {
        let dir = write_bundle("tampered", 4, 11, false);
        // A byte in the middle of the file: inside a hash, a signature, a digest or a JSON value.
        flip_byte(&dir, &file.path, usize::try_from(file.size).unwrap() / 2);
        let report = verify(&dir);
        assert!(!report.ok(), "{}: the change was not caught", file.path);
        assert!(
            report
                .failures
                .iter()
                .any(|failure| failure.starts_with(&format!("{}: SHA-256", file.path))),
            "{}: {report:?}",
            file.path
        );
    }
    // The manifest and its signature are checked before anything else.
    let dir = write_bundle("tampered-manifest", 4, 11, false);
    flip_byte(&dir, MANIFEST_FILE, 40);
    let manifest = std::fs::read(dir.join(MANIFEST_FILE)).unwrap();
    let signature = std::fs::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    assert_eq!(
        BundleVerifier::open(&manifest, &signature, signer().verifier()).err(),
        Some(BundleError::ManifestChanged)
    );
    let dir = write_bundle("tampered-signature", 4, 11, false);
    let signature = std::fs::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    let at = signature.rfind(' ').unwrap() + 8;
    flip_byte(&dir, SIGNATURE_FILE, at);
    let manifest = std::fs::read(dir.join(MANIFEST_FILE)).unwrap();
    let signature = std::fs::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    assert!(matches!(
        BundleVerifier::open(&manifest, &signature, signer().verifier()),
        Err(BundleError::Signature(_))
    ));
}

#[test]
fn a_changed_event_is_named_by_its_seq() {
    let dir = write_bundle("changed-event", 4, 11, false);
    let path = dir.join(EVENTS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"agent-a\"", "\"agent-c\"", 1)).unwrap();
    let failures = verify(&dir).failures;
    assert!(
        failures
            .iter()
            .any(|failure| failure.contains("event seq 4 was changed")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|failure| failure.starts_with("events.ndjson: SHA-256")),
        "{failures:?}"
    );
}

/// Lines the writer never writes are still read, and what is wrong with each is said as before.
#[test]
fn irregular_event_lines_are_named() {
    let edited = |name: &str, edit: &dyn Fn(Value) -> Value| {
        let dir = write_bundle(name, 4, 11, false);
        let path = dir.join(EVENTS_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(index, line)| {
                if index == 0 {
                    edit(serde_json::from_str(line).unwrap()).to_string()
                } else {
                    line.to_owned()
                }
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        verify(&dir).failures
    };
    let has = |failures: &[String], expected: &str| {
        assert!(
            failures.iter().any(|failure| failure.contains(expected)),
            "expected `{expected}` in {failures:?}"
        );
    };
    let extra = edited("extra-field", &|mut line| {
        line["note"] = json!("x");
        line
    });
    has(&extra, "event seq 4: unexpected field `note` beside the event");
    // Still followed past: only the file's hash fails besides.
    assert_eq!(extra.len(), 2, "{extra:?}");
    let salt = edited("bad-salt", &|mut line| {
        line["content"]["input"]["salt"] = json!("not hex");
        line
    });
    has(
        &salt,
        "event seq 4: content `input` does not match its committed digest",
    );
    let text = edited("no-text", &|mut line| {
        line["content"]["input"].as_object_mut().unwrap().remove("text");
        line
    });
    has(
        &text,
        "event seq 4: content `input` does not match its committed digest",
    );
    let null = edited("null-event", &|mut line| {
        line["event"] = Value::Null;
        line
    });
    has(&null, "event seq 4 was changed");
    let leaf = edited("bad-leaf", &|mut line| {
        line["leaf"] = json!("00");
        line
    });
    has(&leaf, "event seq 4: no leaf hash");
    let seq = edited("no-seq", &|mut line| {
        line.as_object_mut().unwrap().remove("seq");
        line
    });
    has(&seq, "events.ndjson: a line without a seq after seq 4");
    let later = edited("later-seq", &|mut line| {
        line["seq"] = json!(7);
        line
    });
    has(&later, "event seq 4 is missing (the events jump to seq 7)");
}

#[test]
fn the_writer_refuses_what_the_verifier_would() {
    let dir = scratch("refused");
    let mut bundle = BundleWriter::create(&*dir).unwrap();
    for path in ["../escape", "/absolute", "a//b", MANIFEST_FILE] {
        assert!(
            matches!(bundle.write(path, b"x"), Err(BundleWriteError::Format(_))),
            "{path}"
        );
    }
    bundle.write("reports/a.json", b"{}").unwrap();
    assert!(matches!(
        bundle.write("reports/a.json", b"{}"),
        Err(BundleWriteError::Format(_))
    ));
    // A manifest without the files every bundle holds is not written.
    let Err(BundleWriteError::Format(message)) = bundle.finish(Manifest::new(0, 3)) else {
        panic!("a manifest without the required files was written");
    };
    assert!(message.contains("which every bundle holds"), "{message}");
    assert!(!dir.join(MANIFEST_FILE).exists());
    // Nor into a directory that holds something already.
    assert!(matches!(
        BundleWriter::create(&*dir),
        Err(BundleWriteError::Format(_))
    ));
}

/// A manifest that does not fit the format is refused with the reason the verifier has always given.
#[test]
fn a_manifest_that_does_not_fit_is_named() {
    let refused = |value: Value| {
        Manifest::parse(&serde_json::to_vec(&value).unwrap())
            .and_then(|manifest| manifest.check())
            .err()
            .unwrap_or_default()
    };
    let sizes = json!({"format": FORMAT, "start": {"size": 0}, "end": {"size": 1}});
    let with = |field: &str, value: Value| {
        let mut manifest = sizes.clone();
        manifest[field] = value;
        manifest
    };
    assert_eq!(
        refused(with("format", json!("other/1"))),
        "wrong or missing `format`"
    );
    assert_eq!(refused(with("format", json!(1))), "wrong or missing `format`");
    assert_eq!(refused(with("end", json!({}))), "`/end/size` is missing");
    assert_eq!(
        refused(with("files", json!([{"path": "a", "size": 1}]))),
        "a file entry lacks path, sha256 or size"
    );
    assert_eq!(
        refused(with(
            "files",
            json!([{"path": "../a", "sha256": "", "size": 1}, {"path": "b"}])
        )),
        "`../a` is not a path inside the bundle"
    );
    assert_eq!(
        refused(with("start", json!({"size": 2}))),
        "the start checkpoint is larger than the end"
    );
    assert_eq!(
        refused(sizes.clone()),
        "it does not list checkpoints/end.txt, which every bundle holds"
    );
    assert_eq!(refused(json!([])), "wrong or missing `format`");
    // Otherwise serde says where the JSON does not fit.
    assert!(
        refused(with("origin", json!(5))).starts_with("invalid type: integer `5`, expected a string"),
        "{}",
        refused(with("origin", json!(5)))
    );
    assert!(
        Manifest::parse(b"{")
            .unwrap_err()
            .starts_with("EOF while parsing")
    );
}
