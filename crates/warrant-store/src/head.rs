//! The sealed tree head: in every write transaction the sequencer stores the size and root of the tree it
//! leaves, with an HMAC under a key derived from the log's signing key. An event that reached the database
//! any other way (a row inserted with the file open in another program) lies past the sealed head, and
//! an edited event changes the root under it, so neither is signed into the next checkpoint unnoticed.
//!
//! It keeps honest the operator who does not hold the key; one who does can reseal, which is what the
//! witnesses are for.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use warrant_log::Hash;
use warrant_log::note::NoteSigner;

use crate::StoreError;
use crate::db::{Conn, Db};

/// The key that seals the head, derived from the log's signing key.
#[derive(Clone)]
pub(crate) struct HeadSeal {
    key: [u8; 32],
}

/// The sealed head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHead {
    pub size: u64,
    pub root: Hash,
    /// Whether the seal verified under this log's key.
    pub sealed: bool,
}

impl HeadSeal {
    pub fn new(signer: &NoteSigner) -> HeadSeal {
        let key = Sha256::new()
            .chain_update(b"warrant head seal v1\n")
            .chain_update(signer.skey().as_bytes())
            .finalize()
            .into();
        HeadSeal { key }
    }

    fn mac(&self, size: u64, root: &Hash) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(&size.to_be_bytes());
        mac.update(root);
        mac
    }
}

// Hand-written so the key never reaches a log line.
impl std::fmt::Debug for HeadSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadSeal")
    }
}

/// Seal the head `size`, `root` in the write transaction `db` is in.
pub(crate) fn write(db: Db<'_>, seal: &HeadSeal, size: u64, root: &Hash) -> Result<(), StoreError> {
    let tag = seal.mac(size, root).finalize().into_bytes();
    db.execute(
        "INSERT INTO head (id, size, root, seal) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET size = excluded.size, root = excluded.root, seal = excluded.seal",
        &[&size, root, &tag.as_slice()],
    )?;
    Ok(())
}

/// The stored head, its seal checked with `seal`; `None` before the first write of a log created before
/// heads were sealed.
pub(crate) fn read(db: Db<'_>, seal: &HeadSeal) -> Result<Option<SealedHead>, StoreError> {
    let row = db.query_opt("SELECT size, root, seal FROM head WHERE id = 1", &[], |row| {
        Ok((row.get::<u64>(0)?, row.get::<Vec<u8>>(1)?, row.get::<Vec<u8>>(2)?))
    })?;
    let Some((size, root, tag)) = row else {
        return Ok(None);
    };
    let root: Hash = root.as_slice().try_into().unwrap_or([0; 32]);
    let sealed = seal.mac(size, &root).verify_slice(&tag).is_ok();
    Ok(Some(SealedHead { size, root, sealed }))
}

/// At open, before the sequencer may sign anything: the stored events must be exactly those under the sealed
/// head, and the tree must still have the root the latest checkpoint signed. `tree` gives the root of the
/// first n events. A log from before sealed heads (`upgraded`: this open migrated it) is sealed as it
/// stands, once.
pub(crate) fn check_at_open(
    connection: &mut Conn,
    upgraded: bool,
    seal: &HeadSeal,
    verifier: &warrant_log::note::NoteVerifier,
    size: u64,
    root_at: impl Fn(Db<'_>, u64) -> Result<Hash, StoreError>,
) -> Result<(), StoreError> {
    match read(connection.db(), seal)? {
        None if !upgraded => {
            return Err(StoreError::Damaged(
                "the sealed tree head is missing: it was deleted; run `warrant verify`".into(),
            ));
        }
        None => {
            let transaction = connection.transaction()?;
            write(transaction.db(), seal, size, &root_at(transaction.db(), size)?)?;
            transaction.commit()?;
        }
        Some(head) => {
            if !head.sealed {
                return Err(StoreError::Damaged(
                    "the sealed tree head does not verify under this log's key: it was edited".into(),
                ));
            }
            if size > head.size {
                return Err(StoreError::Damaged(format!(
                    "events {} to {} were not written by warrant (its sealed head covers {} events); \
                     refusing to sign them: run `warrant verify` and remove them",
                    head.size,
                    size - 1,
                    head.size
                )));
            }
            if size < head.size {
                return Err(StoreError::Damaged(format!(
                    "events from seq {size} were removed (the sealed head covers {} events)",
                    head.size
                )));
            }
            if root_at(connection.db(), size)? != head.root {
                return Err(StoreError::Damaged(
                    "the stored events do not match the sealed tree head: an event was changed; run `warrant verify`"
                        .into(),
                ));
            }
        }
    }
    let db = connection.db();
    // The latest checkpoint witnesses cosigned first (the key holder cannot forge it), then the latest.
    for (which, sql) in [
        (
            "latest cosigned",
            "SELECT note FROM checkpoints WHERE cosignatures <> '' ORDER BY size DESC LIMIT 1",
        ),
        (
            "latest",
            "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
        ),
    ] {
        let Some(note) = db.query_opt(sql, &[], |row| row.get::<String>(0))? else {
            continue;
        };
        let opened =
            warrant_log::note::open_note(&note, std::slice::from_ref(verifier)).map_err(|error| {
                StoreError::Damaged(format!(
                    "the {which} checkpoint is not signed by this log's key: {error}"
                ))
            })?;
        let signed = warrant_log::Checkpoint::parse(&opened.body)
            .map_err(|error| StoreError::Damaged(format!("the {which} checkpoint is malformed: {error}")))?;
        if signed.size > size || root_at(db, signed.size)? != signed.root {
            return Err(StoreError::Damaged(format!(
                "the stored events do not match the {which} checkpoint (size {}): the log was changed; \
                 run `warrant verify`",
                signed.size
            )));
        }
    }
    Ok(())
}
