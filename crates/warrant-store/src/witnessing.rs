//! The log's side of witnessing: the cosignatures collected for each checkpoint, and the size each witness
//! last cosigned (the `old` of the next `add-checkpoint`).

use crate::db::Db;
use crate::read::{Checkpoint, checkpoint_row};
use crate::{Store, StoreError};

impl Store {
    /// The size `witness` last cosigned, as this log knows it (none: never, or forgotten).
    pub fn witness_size(&self, witness: &str) -> Result<Option<u64>, StoreError> {
        self.read(|db| {
            db.query_opt(
                "SELECT size FROM witness_state WHERE witness = ?1",
                &[&witness],
                |row| row.get(0),
            )
        })
    }

    /// Record that `witness` holds `size` (from a 409 answer, or with a cosignature).
    pub async fn set_witness_size(&self, witness: String, size: u64) -> Result<(), StoreError> {
        self.transact(move |log| {
            set_size(log.transaction, &witness, size)?;
            Ok(())
        })
        .await
    }

    /// Keep verified cosignature lines (each ending in a newline) on the checkpoint of `size`, one per
    /// witness, in one transaction, and record that those witnesses hold `size`.
    pub async fn add_cosignatures(&self, size: u64, lines: Vec<(String, String)>) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        self.transact(move |log| {
            let current: Option<String> = log.transaction.query_opt(
                "SELECT cosignatures FROM checkpoints WHERE size = ?1",
                &[&size],
                |row| row.get(0),
            )?;
            let Some(mut current) = current else {
                return Err(StoreError::Damaged(format!(
                    "no checkpoint of size {size} to cosign"
                )));
            };
            for (witness, line) in &lines {
                if !current
                    .split_terminator('\n')
                    .any(|kept| format!("{kept}\n") == *line)
                {
                    current.push_str(line);
                }
                set_size(log.transaction, witness, size)?;
            }
            log.transaction.execute(
                "UPDATE checkpoints SET cosignatures = ?1 WHERE size = ?2",
                &[&current, &size],
            )?;
            Ok(())
        })
        .await
    }

    /// The latest checkpoints that carry any cosignature, newest first (at most `limit`).
    pub fn cosigned_checkpoints(&self, limit: u64) -> Result<Vec<Checkpoint>, StoreError> {
        self.read(|db| {
            db.query_all(
                "SELECT size, root, note, time, cosignatures FROM checkpoints WHERE cosignatures <> ''
                 ORDER BY size DESC LIMIT ?1",
                &[&limit],
                checkpoint_row,
            )
        })
    }
}

fn set_size(db: Db<'_>, witness: &str, size: u64) -> Result<(), StoreError> {
    let updated = warrant_core::event::format_time(&chrono::Utc::now());
    db.execute(
        "INSERT INTO witness_state (witness, size, updated) VALUES (?1, ?2, ?3)
         ON CONFLICT (witness) DO UPDATE SET size = excluded.size, updated = excluded.updated",
        &[&witness, &size, &updated],
    )?;
    Ok(())
}
