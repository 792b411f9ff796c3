//! Whole-log verification of a data directory: stream every stored event and checkpoint through the
//! `warrant-log` verifier, which recomputes every leaf, the tree at each checkpoint and each signature.
//! Opens the database read-only, so verifying never changes what it verifies.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use warrant_log::note::{NoteSigner, NoteVerifier};
use warrant_log::verify::{LogVerifier, VerifyReport};

use crate::keys::SIGNING_KEY_FILE;
use crate::{DATABASE_FILE, StoreError};

/// Verify the log in `dir`. With `verifier_key`, checkpoints must be signed by that key (an auditor's
/// independent copy); without it, by the data directory's own signing key.
pub fn verify_data_dir(dir: &Path, verifier_key: Option<&str>) -> Result<VerifyReport, StoreError> {
    let verifier = match verifier_key {
        Some(vkey) => NoteVerifier::parse_vkey(vkey.trim())
            .map_err(|error| StoreError::Damaged(format!("the verifier key is not valid: {error}")))?,
        None => {
            let path = dir.join(SIGNING_KEY_FILE);
            let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            NoteSigner::parse_skey(text.trim())
                .map_err(|error| StoreError::Damaged(format!("{}: {error}", path.display())))?
                .verifier()
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
    let origin = verifier.name().to_owned();
    let mut log = LogVerifier::new(vec![verifier], origin);

    let mut statement = connection.prepare("SELECT size, note FROM checkpoints ORDER BY size")?;
    let checkpoints: Vec<(u64, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut pending = checkpoints.iter().peekable();

    let mut statement = connection.prepare("SELECT seq, body, leaf FROM events ORDER BY seq")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let seq: u64 = row.get(0)?;
        while let Some((_, note)) = pending.next_if(|(size, _)| *size <= seq) {
            log.push_checkpoint(note);
        }
        let body = row.get_ref(1)?.as_blob()?;
        let leaf = row
            .get_ref(2)?
            .as_blob()
            .ok()
            .and_then(|leaf| <[u8; 32]>::try_from(leaf).ok());
        log.push_event(seq, body, body_seq(body), leaf.as_ref());
    }
    for (_, note) in pending {
        log.push_checkpoint(note);
    }
    Ok(log.finish())
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
