//! A witness's own state (`warrant witness serve`), in its own SQLite file: per log origin, the latest
//! checkpoint it cosigned. Checking a request against that state and recording the new checkpoint happen in
//! one immediate transaction, so two concurrent requests can never roll the witness back (the race the
//! tlog-witness specification warns about). Refused requests from a known log are kept too: they may be the
//! proof that the log misbehaved.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use warrant_log::cosignature::{Cosigner, with_signature_lines};
use warrant_log::note::NoteVerifier;
use warrant_log::witness::{AddCheckpoint, Refusal, check_add_checkpoint};

use crate::StoreError;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS logs (
        origin TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        root BLOB NOT NULL,
        checkpoint TEXT NOT NULL,
        updated BIGINT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS refused (
        id INTEGER PRIMARY KEY,
        origin TEXT NOT NULL,
        time BIGINT NOT NULL,
        status BIGINT NOT NULL,
        reason TEXT NOT NULL,
        request TEXT NOT NULL
    );
";

/// The logs a witness trusts: origin → the keys its checkpoints must be signed with.
pub type TrustedLogs = HashMap<String, Vec<NoteVerifier>>;

/// A witness's state file.
pub struct WitnessDb {
    connection: Mutex<Connection>,
}

/// A refused request, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRequest {
    pub origin: String,
    pub time: u64,
    pub status: u16,
    pub reason: String,
}

impl WitnessDb {
    pub fn open(path: &Path) -> Result<WitnessDb, StoreError> {
        crate::pcache::install();
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(WitnessDb {
            connection: Mutex::new(connection),
        })
    }

    /// Check `request` against the latest cosigned checkpoint of its log and, if it passes, record it and
    /// return the cosignature line (ending in a newline). Durable before it returns.
    pub fn add_checkpoint(
        &self,
        request: &AddCheckpoint,
        logs: &TrustedLogs,
        cosigner: &Cosigner,
        now: u64,
    ) -> Result<Result<String, Refusal>, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The origin only selects the row; the check opens the note against that origin's keys.
        let claimed = warrant_log::note::unverified_body(&request.checkpoint)
            .and_then(|body| warrant_log::Checkpoint::parse(body).ok())
            .map(|checkpoint| checkpoint.origin);
        let latest: Option<(u64, Vec<u8>)> = match &claimed {
            Some(origin) => transaction
                .query_row("SELECT size, root FROM logs WHERE origin = ?1", [origin], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?,
            None => None,
        };
        let latest = match latest {
            Some((size, root)) => Some((
                size,
                <[u8; 32]>::try_from(root.as_slice())
                    .map_err(|_| StoreError::Damaged("a stored root is not 32 bytes".into()))?,
            )),
            None => None,
        };
        let checked = check_add_checkpoint(request, |origin| logs.get(origin).map(Vec::as_slice), latest);
        let checkpoint = match checked {
            Ok(checkpoint) => checkpoint,
            Err(refusal) => {
                // Kept only for known logs whose signature verified: anything else is noise anyone can send.
                if matches!(refusal, Refusal::Inconsistent(_))
                    && let Some(origin) = &claimed
                {
                    transaction.execute(
                        "INSERT INTO refused (origin, time, status, reason, request) VALUES (?1, ?2, ?3, ?4, ?5)",
                        (origin, now, refusal.status(), refusal.to_string(), request.to_body()),
                    )?;
                    transaction.commit()?;
                }
                return Ok(Err(refusal));
            }
        };
        let body = checkpoint.to_body();
        // The note may carry extension lines: cosign the body exactly as signed.
        let signed_body = warrant_log::note::unverified_body(&request.checkpoint).unwrap_or(&body);
        let line = cosigner
            .cosign(signed_body, now)
            .map_err(|error| StoreError::Damaged(format!("cannot cosign: {error}")))?;
        let kept = with_signature_lines(&request.checkpoint, &line);
        transaction.execute(
            "INSERT INTO logs (origin, size, root, checkpoint, updated) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,
                 checkpoint = excluded.checkpoint, updated = excluded.updated",
            (
                &checkpoint.origin,
                checkpoint.size,
                checkpoint.root.as_slice(),
                &kept,
                now,
            ),
        )?;
        transaction.commit()?;
        Ok(Ok(line))
    }

    /// The latest checkpoint cosigned for `origin`, with the log's signature and the witness's cosignature.
    pub fn latest(&self, origin: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .query_row("SELECT checkpoint FROM logs WHERE origin = ?1", [origin], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Every log's origin with the size last cosigned.
    pub fn sizes(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT origin, size FROM logs ORDER BY origin")?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The requests refused as inconsistent or conflicting, oldest first.
    pub fn refused(&self) -> Result<Vec<RefusedRequest>, StoreError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare("SELECT origin, time, status, reason FROM refused ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok(RefusedRequest {
                origin: row.get(0)?,
                time: row.get(1)?,
                status: row.get(2)?,
                reason: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.connection.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
