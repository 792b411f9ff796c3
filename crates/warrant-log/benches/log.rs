//! In-process figures for the log format: leaf hashing and canonical encoding of a typical event, frontier
//! appends, and inclusion proof verification at ten million leaves (budget: ≤ 50 µs). Run with
//! `cargo bench -p warrant-log --bench log`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;
use warrant_log::frontier::Frontier;
use warrant_log::hash::{Hash, leaf_hash, node_hash};
use warrant_log::proof::{SubtreeSource, inclusion_proof, verify_inclusion};

/// A synthetic tree of any size whose subtree roots are computed on demand from a formula, so a proof at
/// ten million leaves costs no memory: leaf i is leaf_hash(i as bytes).
struct Synthetic;

impl SubtreeSource for Synthetic {
    type Error = std::convert::Infallible;

    fn subtree_root(&mut self, start: u64, end: u64) -> Result<Hash, Self::Error> {
        if end - start == 1 {
            return Ok(leaf_hash(&start.to_be_bytes()));
        }
        let split = (end - start).next_power_of_two() / 2;
        let left = self.subtree_root(start, start + split)?;
        let right = self.subtree_root(start + split, end)?;
        Ok(node_hash(&left, &right))
    }
}

fn benches(c: &mut Criterion) {
    let event = json!({"agent": "onboarding-agent", "attrs": {"name": "verification_path", "outcome": "enhanced",
        "segment": {"client_value": "high"}}, "kind": "decision", "received": "2026-11-26T09:30:00.125Z", "seq": 123456,
        "span_id": "b7ad6b7169203331", "time": "2026-11-26T09:30:00.123Z", "trace_id": "0af7651916cd43dd8448eb211c80319c"});
    c.bench_function("canonicalize a decision event", |b| {
        b.iter(|| warrant_log::canonical::canonicalize(&event))
    });
    let bytes = warrant_log::canonical::canonicalize(&event);
    c.bench_function("leaf hash of a decision event", |b| b.iter(|| leaf_hash(&bytes)));
    c.bench_function("frontier push (amortised)", |b| {
        b.iter_batched(
            Frontier::new,
            |mut frontier| {
                for i in 0..1024u64 {
                    frontier.push(leaf_hash(&i.to_be_bytes()));
                }
                frontier
            },
            BatchSize::SmallInput,
        )
    });

    // A proof in a 10M-leaf tree: computing it from the formula is slow, so build a few once.
    let size = 10_000_000u64;
    let seqs = [0u64, 4_242_424, size - 1];
    let cases: Vec<(Hash, u64, Vec<Hash>)> = seqs
        .iter()
        .map(|&seq| {
            (
                leaf_hash(&seq.to_be_bytes()),
                seq,
                inclusion_proof(&mut Synthetic, seq, size).unwrap(),
            )
        })
        .collect();
    let root = Synthetic.subtree_root(0, size).unwrap();
    c.bench_function("verify inclusion proof, 10M leaves", |b| {
        b.iter(|| {
            for (leaf, seq, proof) in &cases {
                verify_inclusion(leaf, *seq, size, proof, &root).unwrap();
            }
        })
    });
}

criterion_group! {
    name = log;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(log);
