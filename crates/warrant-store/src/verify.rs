//! Whole-log verification of a data directory: stream every stored event and checkpoint through the
//! `warrant-log` verifier, which recomputes every leaf, the tree at each checkpoint and each signature, and
//! check what is stored beside the log against it: clear content against its committed digests, checkpoint
//! rows against their signed notes, the sealed head against the events. Trusts nothing stored but the key.
//! Opens the database read-only, so verifying never changes what it verifies.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use warrant_log::Checkpoint;
use warrant_log::note::{NoteSigner, NoteVerifier, unverified_body};
use warrant_log::verify::{Finding, LogVerifier, VerifyReport};

use crate::entry::content_digest;
use crate::head::HeadSeal;

use crate::keys::SIGNING_KEY_FILE;
use crate::{DATABASE_FILE, StoreError};

/// Verify the log in `dir`. With `verifier_key`, checkpoints must be signed by that key (an auditor's
/// independent copy); without it, by the data directory's own signing key.
pub fn verify_data_dir(dir: &Path, verifier_key: Option<&str>) -> Result<VerifyReport, StoreError> {
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
    let path = dir.join(DATABASE_FILE);
    if !path.exists() {
        return Err(StoreError::Io {
            path,
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let connection = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // One read transaction: a server writing meanwhile cannot make the tables disagree.
    connection.execute_batch("BEGIN")?;
    let origin = verifier.name().to_owned();
    let mut log = LogVerifier::new(vec![verifier], origin);
    let head = match &seal {
        Some(seal) => crate::head::read(&connection, seal)?,
        None => None,
    };
    let version: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if seal.is_some() && head.is_none() && version >= crate::schema::HEAD_VERSION {
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

    let mut statement = connection.prepare("SELECT size, root, note FROM checkpoints ORDER BY size")?;
    let checkpoints: Vec<(u64, Vec<u8>, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (size, root, note) in &checkpoints {
        // The note is what is signed; the columns must say the same (the API serves from them).
        let signed = unverified_body(note).and_then(|body| Checkpoint::parse(body).ok());
        if signed.is_some_and(|signed| signed.size != *size || signed.root.as_slice() != root.as_slice()) {
            log.add_finding(Finding::CheckpointRowMismatch { size: *size });
        }
    }
    let mut pending = checkpoints.iter().peekable();

    let mut content = connection.prepare("SELECT seq, field, salt, text FROM content ORDER BY seq, field")?;
    let mut content = content.query([])?;
    let mut next_content = next_content_row(&mut content)?;

    let mut statement = connection.prepare("SELECT seq, body, leaf FROM events ORDER BY seq")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let seq: u64 = row.get(0)?;
        while let Some((_, _, note)) = pending.next_if(|(size, _, _)| *size <= seq) {
            log.push_checkpoint(note);
        }
        let body = row.get_ref(1)?.as_blob()?;
        let leaf = row
            .get_ref(2)?
            .as_blob()
            .ok()
            .and_then(|leaf| <[u8; 32]>::try_from(leaf).ok());
        log.push_event(seq, body, body_seq(body), leaf.as_ref());
        // Clear content beside this event (and any left behind by events no longer in the log).
        let mut fields = Vec::new();
        while let Some(row) = next_content.take_if(|row| row.seq <= seq) {
            if row.seq < seq {
                log.add_finding(Finding::ContentNotCommitted {
                    seq: row.seq,
                    field: row.field,
                });
            } else {
                fields.push(row);
            }
            next_content = next_content_row(&mut content)?;
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
    while let Some(row) = next_content {
        log.add_finding(Finding::ContentNotCommitted {
            seq: row.seq,
            field: row.field,
        });
        next_content = next_content_row(&mut content)?;
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

struct ContentRow {
    seq: u64,
    field: String,
    salt: Vec<u8>,
    text: String,
}

fn next_content_row(rows: &mut rusqlite::Rows<'_>) -> Result<Option<ContentRow>, StoreError> {
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    Ok(Some(ContentRow {
        seq: row.get(0)?,
        field: row.get(1)?,
        salt: row.get(2)?,
        text: row.get(3)?,
    }))
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
