//! Whole-log verification of a data directory: stream every stored event and checkpoint through the
//! `warrant-log` verifier, which recomputes every leaf, the tree at each checkpoint and each signature, and
//! check what is stored beside the log against it: clear content against its committed digests, checkpoint
//! rows against their signed notes, the sealed head against the events. Trusts nothing stored but the key.
//! Opens the database read-only, so verifying never changes what it verifies.

use std::path::Path;

use warrant_log::Checkpoint;
use warrant_log::note::{NoteSigner, NoteVerifier, unverified_body};
use warrant_log::verify::{Finding, LogVerifier, VerifyReport};

use crate::db::{Db, Row};
use crate::entry::content_digest;
use crate::head::HeadSeal;

use crate::keys::SIGNING_KEY_FILE;
use crate::{DATABASE_FILE, StoreError};

/// Events read per query. The log is walked in chunks, each with the clear content beside it, so memory stays
/// bounded and no result is left half-read while another query runs (a PostgreSQL connection cannot
/// interleave two).
const CHUNK: usize = 1024;

/// Verify the log in `dir`. With `verifier_key`, checkpoints must be signed by that key (an auditor's
/// independent copy); without it, by the data directory's own signing key.
pub fn verify_data_dir(dir: &Path, verifier_key: Option<&str>) -> Result<VerifyReport, StoreError> {
    verify_data_dir_on(dir, None, verifier_key)
}

/// [`verify_data_dir`] with the database named (as `--database` does) rather than found through the data
/// directory's binding: a log restored into another database is verified with the key of the directory.
/// Nothing is written, not even the binding.
pub fn verify_data_dir_on(
    dir: &Path,
    database: Option<&crate::Database>,
    verifier_key: Option<&str>,
) -> Result<VerifyReport, StoreError> {
    // With the data directory's own key, the sealed head can be checked too; an auditor's public key cannot.
    let (verifier, seal) = match verifier_key {
        Some(vkey) => (
            NoteVerifier::parse_vkey(vkey.trim())
                .map_err(|error| StoreError::Damaged(format!("the verifier key is not valid: {error}")))?,
            None,
        ),
        None => {
            let path = dir.join(SIGNING_KEY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            let signer = NoteSigner::parse_skey(text.trim())
                .map_err(|error| StoreError::Damaged(format!("{}: {error}", path.display())))?;
            (signer.verifier(), Some(HeadSeal::new(&signer)))
        }
    };
    let database = match database {
        Some(database) => database.clone(),
        None => crate::Database::resolve(dir, None)?,
    };
    if let crate::Database::Postgres(url) = database {
        let connection = crate::db::PgConn::connect(&url)?;
        let db = Db::Postgres(&connection);
        // One snapshot for every statement: servers writing meanwhile cannot make the tables disagree.
        db.execute_batch("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        let head_kept = crate::schema::version(db)? >= 1;
        return verify_log(db, verifier, seal.as_ref(), head_kept);
    }
    let path = dir.join(DATABASE_FILE);
    if !path.exists() {
        return Err(StoreError::Io {
            path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    crate::pcache::install();
    let connection =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let db = Db::Sqlite(&connection);
    // One read transaction: a server writing meanwhile cannot make the tables disagree.
    db.execute_batch("BEGIN")?;
    let head_kept = crate::schema::version(db)? >= crate::schema::HEAD_VERSION;
    verify_log(db, verifier, seal.as_ref(), head_kept)
}

/// Verify the log `db` holds, read inside a transaction that sees one snapshot. `head_kept`: the schema has
/// the sealed head, so a log without one lost it.
fn verify_log(
    db: Db<'_>,
    verifier: NoteVerifier,
    seal: Option<&HeadSeal>,
    head_kept: bool,
) -> Result<VerifyReport, StoreError> {
    let origin = verifier.name().to_owned();
    let mut log = LogVerifier::new(vec![verifier], origin);
    let head = match seal {
        Some(seal) => crate::head::read(db, seal)?,
        None => None,
    };
    if seal.is_some() && head.is_none() && head_kept {
        log.add_finding(Finding::HeadMismatch {
            size: 0,
            reason: "it is missing: the head row was deleted".into(),
        });
    }
    if let Some(head) = &head
        && !head.sealed
    {
        log.add_finding(Finding::HeadMismatch {
            size: head.size,
            reason: "its seal does not verify under this log's key: the head row was edited".into(),
        });
    }

    let checkpoints: Vec<(u64, Vec<u8>, String)> = db.query_all(
        "SELECT size, root, note FROM checkpoints ORDER BY size",
        &[],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    for (size, root, note) in &checkpoints {
        // The note is what is signed; the columns must say the same (the API serves from them).
        let signed = unverified_body(note).and_then(|body| Checkpoint::parse(body).ok());
        if signed.is_some_and(|signed| signed.size != *size || signed.root.as_slice() != root.as_slice()) {
            log.add_finding(Finding::CheckpointRowMismatch { size: *size });
        }
    }
    let mut pending = checkpoints.iter().peekable();

    // The first seq not read yet (from the smallest a column can hold, so a negative seq is read and refused);
    // `None` past the largest.
    let mut from = Some(i64::MIN);
    while let Some(start) = from {
        let events = db.query_all(
            "SELECT seq, body, leaf FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            &[&start, &CHUNK],
            event_row,
        )?;
        let Some(last) = events.last().map(|event| event.seq) else {
            break;
        };
        let mut content = db
            .query_all(
                "SELECT seq, field, salt, text FROM content WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq, field",
                &[&start, &last],
                content_row,
            )?
            .into_iter()
            .peekable();
        for EventRow { seq, body, leaf } in &events {
            let seq = *seq;
            while let Some((_, _, note)) = pending.next_if(|(size, _, _)| *size <= seq) {
                log.push_checkpoint(note);
            }
            log.push_event(seq, body, body_seq(body), leaf.as_ref());
            // Clear content beside this event (and any left behind by events no longer in the log).
            let mut fields = Vec::new();
            while let Some(row) = content.next_if(|row| row.seq <= seq) {
                if row.seq < seq {
                    log.add_finding(Finding::ContentNotCommitted {
                        seq: row.seq,
                        field: row.field,
                    });
                } else {
                    fields.push(row);
                }
            }
            if !fields.is_empty() {
                check_content(&mut log, seq, body, fields);
            }
            if let Some(head) = &head
                && head.sealed
                && log.size() == head.size
                && log.root() != head.root
            {
                log.add_finding(Finding::HeadMismatch {
                    size: head.size,
                    reason: "the events under it no longer have its root: an event was changed".into(),
                });
            }
        }
        from = i64::try_from(last).ok().and_then(|last| last.checked_add(1));
        if events.len() < CHUNK {
            break;
        }
    }
    // Clear content past the last event.
    if let Some(start) = from {
        db.query_each(
            "SELECT seq, field FROM content WHERE seq >= ?1 ORDER BY seq, field",
            &[&start],
            |row| {
                log.add_finding(Finding::ContentNotCommitted {
                    seq: row.get(0)?,
                    field: row.get(1)?,
                });
                Ok(true)
            },
        )?;
    }
    for (_, _, note) in pending {
        log.push_checkpoint(note);
    }
    if let Some(head) = &head
        && head.sealed
        && log.size() > head.size
    {
        log.add_finding(Finding::UnaccountedEvents {
            first: head.size,
            last: log.size() - 1,
            sealed: head.size,
        });
    }
    Ok(log.finish())
}

struct EventRow {
    seq: u64,
    body: Vec<u8>,
    /// `None` when the stored leaf is not a 32-byte blob (the verifier reports it).
    leaf: Option<[u8; 32]>,
}

fn event_row(row: &Row<'_>) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        seq: row.get(0)?,
        body: row.get(1)?,
        leaf: row.get(2).ok(),
    })
}

struct ContentRow {
    seq: u64,
    field: String,
    salt: Vec<u8>,
    text: String,
}

fn content_row(row: &Row<'_>) -> Result<ContentRow, StoreError> {
    Ok(ContentRow {
        seq: row.get(0)?,
        field: row.get(1)?,
        salt: row.get(2)?,
        text: row.get(3)?,
    })
}

/// Each clear content field of event `seq` against the digest its committed body holds.
fn check_content(log: &mut LogVerifier, seq: u64, body: &[u8], fields: Vec<ContentRow>) {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let digests = parsed
        .as_ref()
        .and_then(|body| body.get("content"))
        .and_then(serde_json::Value::as_object);
    for row in fields {
        let committed = digests
            .and_then(|digests| digests.get(&row.field))
            .and_then(serde_json::Value::as_str);
        let Some(committed) = committed else {
            log.add_finding(Finding::ContentNotCommitted {
                seq,
                field: row.field,
            });
            continue;
        };
        let salt: [u8; 32] = row.salt.as_slice().try_into().unwrap_or([0; 32]);
        if row.salt.len() != 32 || content_digest(&salt, &row.text) != committed {
            log.add_finding(Finding::ContentMismatch {
                seq,
                field: row.field,
            });
        }
    }
}

/// The top-level `seq` of a canonical body without parsing all of it. Keys are sorted, and every key after
/// `seq` (`session`, `span_id`, `time`, `trace_id`) holds a string, so the last `"seq":` is the top-level one;
/// a key inside `attrs` or `content` sorts before it. A forged match only hides a finding that the leaf and
/// root checks still make.
fn body_seq(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"seq\":";
    let start = body.windows(KEY.len()).rposition(|window| window == KEY)? + KEY.len();
    let digits = body
        .get(start..)?
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    std::str::from_utf8(body.get(start..start + digits)?)
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use warrant_core::event::Event;
    use warrant_core::identity::Principal;
    use warrant_log::verify::Finding;

    use super::{CHUNK, verify_data_dir};
    use crate::{DATABASE_FILE, Store, StoreConfig};

    /// A log of several chunks verifies, and content findings are named in the middle chunk and past the end.
    #[test]
    fn a_log_of_several_chunks_is_walked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let size = 2 * CHUNK as u64 + 37;
        {
            let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
            let principal = Principal::warrant("test");
            let events: Vec<Event> = (0..size)
                .map(|index| {
                    Event::from_json(
                        0,
                        json!({"time": "2026-11-26T09:30:00Z", "kind": "decision",
                               "content": {"message": format!("event {index}")}}),
                    )
                    .unwrap()
                })
                .collect();
            for batch in events.chunks(500) {
                futures_executor::block_on(store.append(batch.to_vec(), &principal, chrono::Utc::now()))
                    .unwrap();
            }
            futures_executor::block_on(store.checkpoint()).unwrap();
        }
        let report = verify_data_dir(dir.path(), None).unwrap();
        assert!(report.is_ok(), "{:?}", report.findings);
        assert_eq!(report.events, size);

        let boundary = CHUNK as u64;
        let connection = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        connection
            .execute("DELETE FROM events WHERE seq = ?1", [boundary])
            .unwrap();
        connection
            .execute(
                "UPDATE content SET text = '\"edited\"' WHERE seq = ?1",
                [boundary + 1],
            )
            .unwrap();
        connection
            .execute(
                "INSERT INTO content (seq, field, salt, text) VALUES (?1, 'stray', zeroblob(32), '1')",
                [size + 5],
            )
            .unwrap();
        drop(connection);
        let findings = verify_data_dir(dir.path(), None).unwrap().findings;
        for expected in [
            Finding::MissingEvents {
                first: boundary,
                last: boundary,
            },
            Finding::ContentNotCommitted {
                seq: boundary,
                field: "message".into(),
            },
            Finding::ContentMismatch {
                seq: boundary + 1,
                field: "message".into(),
            },
            Finding::ContentNotCommitted {
                seq: size + 5,
                field: "stray".into(),
            },
        ] {
            assert!(
                findings.contains(&expected),
                "{expected:?} is not in {findings:?}"
            );
        }
    }
}
