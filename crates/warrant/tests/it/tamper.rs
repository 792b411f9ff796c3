//! Tampering with the stored log, straight in the SQLite file while no server runs: `warrant verify` must fail
//! (exit 1) and name the seq or the checkpoint concerned.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{Run, Scratch, event, local};

/// Events ingested after the demo's change events.
const INGESTED: u64 = 20;
/// How far into the ingested events the tampered event sits.
const TARGET_OFFSET: u64 = 3;

/// A data directory holding the demo's change events (checkpoint 1) and ingested events (checkpoint 2).
struct Fixture {
    _scratch: Scratch,
    dir: PathBuf,
    /// Size of the demo's checkpoint, which is also the first ingested seq.
    first_checkpoint: u64,
    /// Size of the log and of the last checkpoint.
    size: u64,
    /// Checkpoints signed (the demo signs one before its monitoring evaluation and one at the end).
    checkpoints: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let scratch = Scratch::new();
        let dir = scratch.data();
        local(&dir, &["demo", "--no-serve"]).expect_code(0);
        let first_checkpoint = row_count(&dir);
        let lines: String = (0..INGESTED)
            .map(|index| {
                let mut event = event(None, &format!("tamper target {index}"));
                event["content"] = serde_json::json!({"message": format!("hello customer {index}")});
                format!("{event}\n")
            })
            .collect();
        let file = scratch.file("events.ndjson", &lines);
        local(&dir, &["ingest", &file]).expect_code(0);
        // On a data directory it has already built, the demo only reports and signs a checkpoint.
        local(&dir, &["demo", "--no-serve"]).expect_code(0);
        let size = row_count(&dir);
        assert_eq!(size, first_checkpoint + INGESTED);
        let checkpoints = Connection::open(dir.join("warrant.db"))
            .and_then(|db| db.query_row("SELECT COUNT(*) FROM checkpoints", [], |row| row.get(0)))
            .expect("counting checkpoints");
        Fixture {
            _scratch: scratch,
            dir,
            first_checkpoint,
            size,
            checkpoints,
        }
    }

    /// The seq the tampering cases aim at: an ingested event between the two checkpoints.
    fn target(&self) -> u64 {
        self.first_checkpoint + TARGET_OFFSET
    }

    fn database(&self) -> Connection {
        Connection::open(self.dir.join("warrant.db")).expect("opening the database")
    }

    fn body(&self, seq: u64) -> Vec<u8> {
        self.database()
            .query_row("SELECT body FROM events WHERE seq = ?1", [seq], |row| row.get(0))
            .expect("the event's body")
    }

    /// Run `warrant verify`, expecting it to fail.
    fn verify_fails(&self) -> Run {
        let run = local(&self.dir, &["verify"]);
        assert_eq!(run.code, 1, "verify must fail: {run:?}");
        assert!(run.stdout.contains("NOT verified"), "{run:?}");
        run
    }
}

fn row_count(dir: &Path) -> u64 {
    let connection = Connection::open(dir.join("warrant.db")).expect("opening the database");
    connection
        .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
        .expect("counting events")
}

fn leaf_hash(body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

/// `body` with the first `target` changed to `Target`: one byte, inside a string, not the seq.
fn flip_one_byte(body: &[u8]) -> Vec<u8> {
    let at = body
        .windows(b"target".len())
        .position(|window| window == b"target")
        .expect("the ingested body holds `target`");
    let mut changed = body.to_vec();
    changed[at] = b'T';
    changed
}

#[test]
fn an_untouched_log_verifies() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let run = local(&fixture.dir, &["verify", "-o", "json"]).expect_code(0);
    let report = run.json();
    assert_eq!(report["ok"], Value::Bool(true), "{report}");
    assert_eq!(report["events"], fixture.size, "{report}");
    assert_eq!(report["checkpoints"], fixture.checkpoints, "{report}");
    assert_eq!(report["latest_verified_size"], fixture.size, "{report}");
}

#[test]
fn an_edited_event_body_is_reported_by_seq() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let seq = fixture.target();
    let changed = flip_one_byte(&fixture.body(seq));
    fixture
        .database()
        .execute("UPDATE events SET body = ?1 WHERE seq = ?2", (changed, seq))
        .expect("editing the body");
    let run = fixture.verify_fails();
    assert!(
        run.stdout
            .contains(&format!("event {seq} does not match its stored leaf hash")),
        "{run:?}"
    );
}

#[test]
fn an_edited_body_with_a_matching_leaf_fails_the_root_check() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let seq = fixture.target();
    let changed = flip_one_byte(&fixture.body(seq));
    let leaf = leaf_hash(&changed);
    fixture
        .database()
        .execute(
            "UPDATE events SET body = ?1, leaf = ?2 WHERE seq = ?3",
            (changed, leaf, seq),
        )
        .expect("editing the body and its leaf");
    let run = fixture.verify_fails();
    assert!(
        !run.stdout.contains("leaf hash"),
        "the leaf column was made to match: {run:?}"
    );
    // The root check pins the change to the events between the last good checkpoint and the bad one.
    let expected = format!(
        "checkpoint of size {} does not match the events: an event with seq from {} to {}",
        fixture.size,
        fixture.first_checkpoint,
        fixture.size - 1
    );
    assert!(run.stdout.contains(&expected), "expected `{expected}`: {run:?}");
}

#[test]
fn a_deleted_event_is_reported_missing() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let seq = fixture.target();
    let deleted = fixture
        .database()
        .execute("DELETE FROM events WHERE seq = ?1", [seq])
        .expect("deleting a row");
    assert_eq!(deleted, 1);
    let run = fixture.verify_fails();
    assert!(run.stdout.contains(&format!("event {seq} is missing")), "{run:?}");
}

#[test]
fn events_removed_from_the_end_are_reported() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let from = fixture.size - 2;
    fixture
        .database()
        .execute("DELETE FROM events WHERE seq >= ?1", [from])
        .expect("deleting the newest rows");
    let run = fixture.verify_fails();
    let expected = format!(
        "checkpoint of size {} covers more events than the log holds",
        fixture.size
    );
    assert!(run.stdout.contains(&expected), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("events from seq {from} were removed")),
        "{run:?}"
    );
}

#[test]
fn swapped_events_are_reported_by_seq() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let (first, second) = (fixture.target(), fixture.target() + 1);
    let database = fixture.database();
    // Swap whole rows' bodies and leaves, so each row is self-consistent and only its position is wrong.
    database
        .execute_batch(&format!(
            "UPDATE events SET seq = -1 WHERE seq = {first};
             UPDATE events SET seq = {first} WHERE seq = {second};
             UPDATE events SET seq = {second} WHERE seq = -1;"
        ))
        .expect("swapping rows");
    drop(database);
    let run = fixture.verify_fails();
    for (row, claims) in [(first, second), (second, first)] {
        let expected = format!("event stored at seq {row} says it is event {claims}");
        assert!(run.stdout.contains(&expected), "expected `{expected}`: {run:?}");
    }
}

#[test]
fn an_inserted_event_is_reported_by_seq() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let seq = fixture.target();
    // A plausible forgery: the original event at `seq`, with one attribute changed and the right seq.
    let mut forged: Value = serde_json::from_slice(&fixture.body(seq)).expect("a JSON body");
    forged["attrs"]["note"] = Value::String("forged".into());
    let forged = serde_json::to_vec(&forged).expect("encoding");
    let leaf = leaf_hash(&forged);
    let database = fixture.database();
    // Move every later row up by one, through a temporary offset so no two rows share a seq on the way.
    database
        .execute_batch(&format!(
            "UPDATE events SET seq = seq + 1000000 WHERE seq >= {seq};
             UPDATE events SET seq = seq - 1000000 + 1 WHERE seq >= 1000000;"
        ))
        .expect("shifting rows");
    database
        .execute(
            "INSERT INTO events (seq, body, leaf, kind, agent, time) VALUES (?1, ?2, ?3, 'decision', 'helper-agent', '2026-11-26T09:30:00.123Z')",
            (seq, forged, leaf),
        )
        .expect("inserting the forged row");
    drop(database);
    let run = fixture.verify_fails();
    let expected = format!("event stored at seq {} says it is event {seq}", seq + 1);
    assert!(run.stdout.contains(&expected), "expected `{expected}`: {run:?}");
    assert!(
        run.stdout
            .contains(&format!("checkpoint of size {}", fixture.size)),
        "{run:?}"
    );
}

/// Replace line `line` (0-based) of the checkpoint note of `size` using `edit`.
fn edit_checkpoint_note(fixture: &Fixture, size: u64, line: usize, edit: impl Fn(&str) -> String) {
    let database = fixture.database();
    let note: String = database
        .query_row("SELECT note FROM checkpoints WHERE size = ?1", [size], |row| {
            row.get(0)
        })
        .expect("the checkpoint's note");
    let mut lines: Vec<String> = note.split('\n').map(str::to_owned).collect();
    let edited = edit(&lines[line]);
    assert_ne!(edited, lines[line], "the edit changes the line");
    lines[line] = edited;
    let changed = database
        .execute(
            "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
            (lines.join("\n"), size),
        )
        .expect("editing the note");
    assert_eq!(changed, 1);
}

#[test]
fn an_altered_checkpoint_root_is_reported_by_size() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    edit_checkpoint_note(&fixture, fixture.size, 2, |root| {
        let first = if root.starts_with('A') { "B" } else { "A" };
        format!("{first}{}", &root[1..])
    });
    let run = fixture.verify_fails();
    assert!(
        run.stdout.contains(&format!(
            "checkpoint #{} (size {}) is not validly signed",
            fixture.checkpoints - 1,
            fixture.size
        )),
        "{run:?}"
    );
}

#[test]
fn an_altered_checkpoint_size_is_reported() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    edit_checkpoint_note(&fixture, fixture.size, 1, |_| (fixture.size - 1).to_string());
    let run = fixture.verify_fails();
    assert!(
        run.stdout.contains(&format!(
            "checkpoint #{} (size {}) is not validly signed",
            fixture.checkpoints - 1,
            fixture.size - 1
        )),
        "{run:?}"
    );
}

// The three tampering cases that once passed local verification (issue "Witnessed checkpoints and a verifier
// that trusts nothing on disk"): each must now fail, naming what broke.

#[test]
fn a_forged_row_appended_with_a_correct_leaf_is_named_and_never_signed() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let seq = fixture.size;
    let mut forged: Value = serde_json::from_slice(&fixture.body(seq - 1)).expect("a JSON body");
    forged["seq"] = Value::from(seq);
    forged["attrs"]["note"] = Value::String("forged".into());
    let forged = serde_json::to_vec(&forged).expect("encoding");
    fixture
        .database()
        .execute(
            "INSERT INTO events (seq, body, leaf, kind, agent, time) VALUES (?1, ?2, ?3, 'decision', 'helper-agent', '2026-11-26T09:30:00.123Z')",
            (seq, &forged, leaf_hash(&forged)),
        )
        .expect("appending the forged row");
    let run = fixture.verify_fails();
    assert!(
        run.stdout
            .contains(&format!("events {seq} to {seq} were not written by warrant")),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("past the last signed checkpoint: UNVERIFIED"),
        "{run:?}"
    );
    // Opening the log to write (and sign) refuses, naming the rows.
    let run = local(&fixture.dir, &["demo", "--no-serve"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("events {seq} to {seq} were not written by warrant"))
            && run.stderr.contains("refusing to sign"),
        "{run:?}"
    );
    let signed: u64 = fixture
        .database()
        .query_row("SELECT MAX(size) FROM checkpoints", [], |row| row.get(0))
        .expect("the latest checkpoint");
    assert_eq!(signed, fixture.size, "nothing was signed over the forged row");
}

#[test]
fn clear_content_edited_in_place_is_named_by_seq_and_field() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    let seq = fixture.target();
    let changed = fixture
        .database()
        .execute(
            "UPDATE content SET text = '\"hello attacker\"' WHERE seq = ?1 AND field = 'message'",
            [seq],
        )
        .expect("editing the content");
    assert_eq!(changed, 1);
    let run = fixture.verify_fails();
    assert!(
        run.stdout.contains(&format!(
            "event {seq}: clear content `message` does not match its committed digest"
        )),
        "{run:?}"
    );
}

#[test]
fn an_overwritten_checkpoint_root_column_is_named_and_never_served() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    fixture
        .database()
        .execute(
            "UPDATE checkpoints SET root = zeroblob(32) WHERE size = ?1",
            [fixture.size],
        )
        .expect("overwriting the root");
    let run = fixture.verify_fails();
    assert!(
        run.stdout.contains(&format!(
            "checkpoint of size {}: the stored size and root disagree with its signed note",
            fixture.size
        )),
        "{run:?}"
    );
    // What serves checkpoints refuses the row instead of serving a root its note does not sign.
    let run = local(&fixture.dir, &["log", "checkpoint"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("disagree with its signed note"), "{run:?}");
}

#[test]
fn events_past_the_last_checkpoint_fail_only_a_strict_verification() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let fixture = Fixture::new();
    // Written by warrant, but the checkpoint over them is gone (as after a crash before the next one).
    fixture
        .database()
        .execute("DELETE FROM checkpoints WHERE size = ?1", [fixture.size])
        .expect("dropping the last checkpoint");
    let run = local(&fixture.dir, &["verify"]).expect_code(0);
    assert!(
        run.stdout.contains("past the last signed checkpoint: UNVERIFIED"),
        "{run:?}"
    );
    let run = local(&fixture.dir, &["verify", "--strict"]);
    assert_eq!(run.code, 1, "{run:?}");
}
