//! How long the write path is held: every append group commit and every other write of the sequencer, and
//! every WAL restart (which holds new writes off), in a fixed-bucket histogram kept in atomics. A stall here
//! is what every decision and every acknowledged event in flight waits for, so `/metrics` shows it
//! (`warrant_store_write_seconds`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the histogram's buckets, in seconds (the last bucket, `+Inf`, is implied).
pub const WRITE_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What the sequencer was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// One group commit of appended events (ingest, most decisions, MCP records).
    Append,
    /// A decision that creates or uses an approval or counts against a group limit.
    Decision,
    /// Deciding an approval.
    Approval,
    /// A registry change (apply, an agent's edit, a removal).
    Registry,
    /// Signing a checkpoint.
    Checkpoint,
    /// Writing or rebuilding the rollup sums.
    Rollups,
    /// Alerts, incidents, records and erasures.
    Other,
    /// Starting the SQLite WAL over (`Writer::restart_wal`): new writes wait while it runs.
    WalRestart,
}

impl WriteKind {
    pub const ALL: [WriteKind; 8] = [
        WriteKind::Append,
        WriteKind::Decision,
        WriteKind::Approval,
        WriteKind::Registry,
        WriteKind::Checkpoint,
        WriteKind::Rollups,
        WriteKind::Other,
        WriteKind::WalRestart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Append => "append",
            WriteKind::Decision => "decision",
            WriteKind::Approval => "approval",
            WriteKind::Registry => "registry",
            WriteKind::Checkpoint => "checkpoint",
            WriteKind::Rollups => "rollups",
            WriteKind::Other => "other",
            WriteKind::WalRestart => "wal_restart",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last one counts what exceeds every bound.
    counts: [AtomicU64; WRITE_BUCKETS.len() + 1],
    micros: AtomicU64,
}

/// The sequencer's write times, shared with whoever renders them.
#[derive(Debug, Default)]
pub struct WriteTimes {
    kinds: [Histogram; WriteKind::ALL.len()],
    /// Events committed by append group commits.
    events: AtomicU64,
}

/// A histogram read at one moment: cumulative counts per bucket bound, then the total.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteHistogram {
    pub kind: WriteKind,
    /// `(upper bound in seconds, writes that took at most that long)`, for each of [`WRITE_BUCKETS`].
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl WriteTimes {
    pub(crate) fn record(&self, kind: WriteKind, elapsed: Duration, events: usize) {
        let Some(histogram) = self.kinds.get(kind.index()) else {
            return;
        };
        let seconds = elapsed.as_secs_f64();
        let bucket = WRITE_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(WRITE_BUCKETS.len());
        if let Some(count) = histogram.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        histogram.micros.fetch_add(micros, Ordering::Relaxed);
        if kind == WriteKind::Append {
            self.events.fetch_add(events as u64, Ordering::Relaxed);
        }
    }

    /// Every kind's histogram as of now.
    pub fn snapshot(&self) -> Vec<WriteHistogram> {
        WriteKind::ALL
            .iter()
            .filter_map(|&kind| {
                let histogram = self.kinds.get(kind.index())?;
                let mut cumulative = 0;
                let mut buckets = Vec::with_capacity(WRITE_BUCKETS.len());
                for (bound, count) in WRITE_BUCKETS.iter().zip(&histogram.counts) {
                    cumulative += count.load(Ordering::Relaxed);
                    buckets.push((*bound, cumulative));
                }
                let over = histogram
                    .counts
                    .last()
                    .map_or(0, |count| count.load(Ordering::Relaxed));
                Some(WriteHistogram {
                    kind,
                    buckets,
                    count: cumulative + over,
                    sum_seconds: histogram.micros.load(Ordering::Relaxed) as f64 / 1e6,
                })
            })
            .collect()
    }

    /// Events committed by append group commits so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_in_the_first_bucket_that_holds_them_and_counts_are_cumulative() {
        let times = WriteTimes::default();
        times.record(WriteKind::Append, Duration::from_micros(300), 4);
        times.record(WriteKind::Append, Duration::from_millis(1), 2);
        times.record(WriteKind::Append, Duration::from_millis(30), 1);
        times.record(WriteKind::WalRestart, Duration::from_secs(5), 0);
        let snapshot = times.snapshot();
        let append = &snapshot[0];
        assert_eq!(append.kind, WriteKind::Append);
        assert_eq!(append.buckets[0], (0.000_5, 1));
        assert_eq!(append.buckets[1], (0.001, 2), "a bound is inclusive");
        assert_eq!(append.buckets[5], (0.02, 2));
        assert_eq!(append.buckets[6], (0.05, 3));
        assert_eq!(append.count, 3);
        assert!((append.sum_seconds - 0.0313).abs() < 1e-9);
        assert_eq!(times.events(), 7);
        let restart = &snapshot[7];
        assert_eq!(
            restart.buckets.last(),
            Some(&(2.5, 0)),
            "five seconds exceeds every bound"
        );
        assert_eq!(restart.count, 1);
        assert_eq!(snapshot[1].count, 0);
        assert!(
            WriteKind::ALL
                .iter()
                .enumerate()
                .all(|(index, kind)| snapshot[index].kind == *kind),
            "snapshots come in the order of ALL"
        );
    }
}
