//! The Merkle tree's interior, kept so proofs never rehash the whole log.
//!
//! Every perfect subtree of 256 leaves or more (level >= 8) is stored in the `tiles` table and held in memory
//! (about 2.5 MB at ten million events). A subtree below level 8 is recomputed from at most 256 leaf hashes,
//! read in one range query. Together that bounds a proof to one small read and a few hundred hashes.

use warrant_log::frontier::{Frontier, Subtree};
use warrant_log::hash::{Hash, root_from_leaf_hashes};
use warrant_log::proof::SubtreeSource;

use crate::StoreError;
use crate::db::Db;

/// The lowest level whose perfect subtrees are stored.
pub(crate) const TILE_LEVEL: u32 = 8;

/// The tree as of the last commit: its right edge and the stored interior nodes.
#[derive(Debug, Default)]
pub(crate) struct TreeCache {
    pub frontier: Frontier,
    /// `levels[k][i]` is the root of the perfect subtree `i` at level `TILE_LEVEL + k`.
    levels: Vec<Vec<Hash>>,
}

impl TreeCache {
    /// Rebuild from the database: the tiles, and the leaves below the lowest tile for the right edge.
    pub fn load(db: Db<'_>) -> Result<TreeCache, StoreError> {
        let size: u64 = db.query_one("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", &[], |row| {
            row.get(0)
        })?;
        let mut cache = TreeCache::default();
        db.query_each(
            "SELECT level, idx, hash FROM tiles ORDER BY level, idx",
            &[],
            |row| {
                cache.record(Subtree {
                    level: row.get(0)?,
                    index: row.get(1)?,
                    hash: row.get(2)?,
                })?;
                Ok(true)
            },
        )?;
        cache.frontier = cache.frontier_at(db, size)?;
        Ok(cache)
    }

    /// Catch up with a log another server extended to `size` events: the tiles completed since (a tile at level
    /// `l`, index `i` is new when its last leaf lies past the events this cache covered, i.e. when
    /// `i >= covered >> l`; one index range per level), and the new right edge.
    pub fn follow(&mut self, db: Db<'_>, size: u64) -> Result<(), StoreError> {
        let covered = self.frontier.size();
        let top = u64::BITS - size.leading_zeros();
        for level in TILE_LEVEL..top {
            // A tile at this level completed only if the log crossed a multiple of its width.
            if size >> level == covered >> level {
                continue;
            }
            db.query_each(
                "SELECT idx, hash FROM tiles WHERE level = ?1 AND idx >= ?2 ORDER BY idx",
                &[&level, &(covered >> level)],
                |row| {
                    self.record(Subtree {
                        level,
                        index: row.get(0)?,
                        hash: row.get(1)?,
                    })?;
                    Ok(true)
                },
            )?;
        }
        self.frontier = self.frontier_at(db, size)?;
        Ok(())
    }

    /// The right edge of the tree of the first `size` events: one perfect subtree per set bit of `size`,
    /// largest first. Its root is the root of that tree.
    pub fn frontier_at(&self, db: Db<'_>, size: u64) -> Result<Frontier, StoreError> {
        let mut source = TreeSource {
            cache: self,
            db,
            chunk: None,
        };
        let mut hashes = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1 << level) == 0 {
                continue;
            }
            hashes.push(source.perfect(level, start)?);
            start += 1 << level;
        }
        Frontier::from_parts(size, hashes).map_err(|error| StoreError::Damaged(error.to_string()))
    }

    /// Keep a completed subtree if it is at a stored level. Subtrees arrive in order.
    pub fn record(&mut self, subtree: Subtree) -> Result<(), StoreError> {
        let Some(offset) = subtree.level.checked_sub(TILE_LEVEL) else {
            return Ok(());
        };
        let offset = offset as usize;
        while self.levels.len() <= offset {
            self.levels.push(Vec::new());
        }
        let level = self
            .levels
            .get_mut(offset)
            .ok_or_else(|| StoreError::Damaged("tile level".into()))?;
        if level.len() as u64 != subtree.index {
            return Err(StoreError::Damaged(format!(
                "tile {} at level {} is out of order (expected {})",
                subtree.index,
                subtree.level,
                level.len()
            )));
        }
        level.push(subtree.hash);
        Ok(())
    }

    fn stored(&self, level: u32, index: u64) -> Option<Hash> {
        let offset = level.checked_sub(TILE_LEVEL)? as usize;
        self.levels
            .get(offset)?
            .get(usize::try_from(index).ok()?)
            .copied()
    }
}

/// Serves subtree roots for proofs from the cache and, below the tile level, from leaf hashes.
pub(crate) struct TreeSource<'a> {
    pub cache: &'a TreeCache,
    pub db: Db<'a>,
    /// The last 256-leaf chunk read: proofs touch one chunk many times.
    pub chunk: Option<(u64, Vec<Hash>)>,
}

impl TreeSource<'_> {
    /// The root of the perfect subtree of `2^level` leaves starting at leaf `start`.
    fn perfect(&mut self, level: u32, start: u64) -> Result<Hash, StoreError> {
        if level >= TILE_LEVEL {
            return self.cache.stored(level, start >> level).ok_or_else(|| {
                StoreError::Damaged(format!("missing tile at level {level} for leaf {start}"))
            });
        }
        let leaves = self.leaves(start, start + (1 << level))?;
        Ok(root_from_leaf_hashes(&leaves))
    }

    /// Leaf hashes `[start, end)`, within one 256-leaf chunk.
    fn leaves(&mut self, start: u64, end: u64) -> Result<Vec<Hash>, StoreError> {
        let chunk_start = start >> TILE_LEVEL << TILE_LEVEL;
        let cached = matches!(&self.chunk, Some((cached_start, _)) if *cached_start == chunk_start);
        if !cached {
            let chunk_end = chunk_start + (1 << TILE_LEVEL);
            let mut leaves = Vec::with_capacity(1 << TILE_LEVEL);
            self.db.query_each(
                "SELECT leaf FROM events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq",
                &[&chunk_start, &chunk_end],
                |row| {
                    leaves.push(row.get::<Hash>(0)?);
                    Ok(true)
                },
            )?;
            self.chunk = Some((chunk_start, leaves));
        }
        let (_, leaves) = self
            .chunk
            .as_ref()
            .ok_or_else(|| StoreError::Damaged("leaf chunk".into()))?;
        let range = usize::try_from(start - chunk_start).unwrap_or(usize::MAX)
            ..usize::try_from(end - chunk_start).unwrap_or(usize::MAX);
        leaves
            .get(range)
            .map(<[Hash]>::to_vec)
            .ok_or_else(|| StoreError::Damaged(format!("leaves {start}..{end} are missing")))
    }
}

impl SubtreeSource for TreeSource<'_> {
    type Error = StoreError;

    fn subtree_root(&mut self, start: u64, end: u64) -> Result<Hash, StoreError> {
        let width = end - start;
        if width.is_power_of_two() {
            return self.perfect(width.trailing_zeros(), start);
        }
        // A truncated right edge: the left half is perfect, the right half recurses.
        let half = width.next_power_of_two() / 2;
        if half >= 1 << TILE_LEVEL {
            let left = self.perfect(half.trailing_zeros(), start)?;
            let right = self.subtree_root(start + half, end)?;
            return Ok(warrant_log::hash::node_hash(&left, &right));
        }
        let leaves = self.leaves(start, end)?;
        Ok(root_from_leaf_hashes(&leaves))
    }
}

pub(crate) fn blob_hash(blob: &[u8]) -> Result<Hash, StoreError> {
    Hash::try_from(blob)
        .map_err(|_| StoreError::Damaged(format!("a stored hash is {} bytes, not 32", blob.len())))
}
