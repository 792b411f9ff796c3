//! What an evidence bundle reads from the store: checkpoints around a period, the start tree's compact range,
//! events in seq order with their salts (for content), and the registry as it stood at a seq. The bundle
//! itself is written by `warrant_server::bundle`.

use std::collections::BTreeMap;
use warrant_log::Seq;

use serde_json::{Map, Value};
use warrant_log::hash::Hash;
use warrant_log::note::sign_note;
use warrant_log::proof::{ProofError, SubtreeSource};

use crate::read::{Checkpoint, checkpoint_row};
use crate::{ProofRequestError, Store, StoreError};

/// One event as a bundle carries it.
#[derive(Debug, Clone)]
pub struct ExportedEvent {
    pub seq: Seq,
    pub leaf: Hash,
    /// The committed body (canonical JSON, content as digests).
    pub body: Value,
    /// Clear content with its salt (hex), by field, where not erased; only when asked for.
    pub content: Map<String, Value>,
}

impl Store {
    /// The latest checkpoint signed at or before `time` (RFC 3339, as checkpoints store it).
    pub fn checkpoint_before(&self, time: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_where(
            "SELECT size, root, note, time, cosignatures FROM checkpoints WHERE time <= ?1 ORDER BY size DESC LIMIT 1",
            time,
        )
    }

    /// The first checkpoint signed at or after `time`.
    pub fn checkpoint_after(&self, time: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.checkpoint_where(
            "SELECT size, root, note, time, cosignatures FROM checkpoints WHERE time >= ?1 ORDER BY size LIMIT 1",
            time,
        )
    }

    fn checkpoint_where(&self, sql: &str, time: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.read(|db| db.query_opt(sql, &[&time], checkpoint_row))
    }

    /// The roots of the perfect subtrees that make up the first `size` leaves, largest first: the compact
    /// range a verifier extends with later leaves to rebuild a later root.
    pub fn compact_range(&self, size: u64) -> Result<Vec<Hash>, ProofRequestError> {
        self.with_tree(size, |source| {
            let mut hashes = Vec::new();
            let mut start = 0u64;
            for level in (0..64).rev() {
                let width = 1u64 << level;
                if size & width != 0 {
                    hashes.push(
                        source
                            .subtree_root(start, start + width)
                            .map_err(ProofError::Source)?,
                    );
                    start += width;
                }
            }
            Ok(hashes)
        })
    }

    /// Events `[from, to)` in seq order, at most `limit` of them, with their clear content and salts when
    /// `content` is set.
    pub fn export_events(
        &self,
        from: u64,
        to: u64,
        limit: usize,
        content: bool,
    ) -> Result<Vec<ExportedEvent>, StoreError> {
        self.read(|db| {
            let mut events = Vec::new();
            db.query_each(
                "SELECT seq, body, leaf FROM events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq LIMIT ?3",
                &[&from, &to, &limit],
                |row| {
                    let seq: Seq = row.get(0)?;
                    let body: Vec<u8> = row.get(1)?;
                    let leaf: Vec<u8> = row.get(2)?;
                    let leaf: Hash = leaf.try_into().map_err(|_| {
                        StoreError::Damaged(format!("event {seq}: the leaf hash is not 32 bytes"))
                    })?;
                    let body: Value = serde_json::from_slice(&body)
                        .map_err(|_| StoreError::Damaged(format!("event {seq}: the body does not parse")))?;
                    events.push(ExportedEvent {
                        seq,
                        leaf,
                        body,
                        content: Map::new(),
                    });
                    Ok(true)
                },
            )?;
            if content
                && let (Some(first), Some(last)) = (
                    events.first().map(|event| event.seq),
                    events.last().map(|event| event.seq),
                )
            {
                let mut by_seq: BTreeMap<Seq, Map<String, Value>> = BTreeMap::new();
                db.query_each(
                    "SELECT seq, field, salt, text FROM content WHERE seq >= ?1 AND seq <= ?2",
                    &[&first, &last],
                    |row| {
                        let salt: Vec<u8> = row.get(2)?;
                        let text: String = row.get(3)?;
                        by_seq.entry(row.get(0)?).or_default().insert(
                            row.get(1)?,
                            serde_json::json!({"salt": hex::encode(salt), "text": text}),
                        );
                        Ok(true)
                    },
                )?;
                for event in &mut events {
                    if let Some(content) = by_seq.remove(&event.seq) {
                        event.content = content;
                    }
                }
            }
            Ok(events)
        })
    }

    /// Every registry object as it stood before event `seq`: (kind, id, version, spec), deleted ones left out.
    pub fn registry_at(&self, seq: u64) -> Result<Vec<Value>, StoreError> {
        let rows = self.read(|db| {
            db.query_all(
                "SELECT v.kind, v.id, v.version, v.spec FROM registry_versions v
                 WHERE v.seq < ?1 AND v.version = (SELECT max(version) FROM registry_versions w
                   WHERE w.kind = v.kind AND w.id = v.id AND w.seq < ?1)
                 ORDER BY v.kind, v.id",
                &[&seq],
                |row| {
                    Ok((
                        row.get::<String>(0)?,
                        row.get::<String>(1)?,
                        row.get::<u64>(2)?,
                        row.get::<Option<String>>(3)?,
                    ))
                },
            )
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, id, version, spec)| {
                let spec: Value = serde_json::from_str(&spec?).ok()?;
                Some(serde_json::json!({"kind": kind, "id": id, "version": version, "spec": spec}))
            })
            .collect())
    }

    /// Sign `body` as a C2SP signed note with the log's key (for a bundle's manifest).
    pub fn sign(&self, body: &str) -> Result<String, StoreError> {
        sign_note(body, &self.shared.signer).map_err(|error| StoreError::Damaged(error.to_string()))
    }
}
