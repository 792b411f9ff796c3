//! A mergeable latency histogram with relative error: values fall into log-spaced buckets (8 per doubling,
//! so a quantile is off by at most about 4.5 %). Merging adds counts, so hourly rollups combine into any
//! window.
//!
//! Why not a sketch crate: rollups are stored for years as evidence, so their format must be ours to keep
//! stable; a sparse `{bucket: count}` map is that format, and it is twenty lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Buckets per doubling of the value.
const PER_DOUBLING: f64 = 8.0;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram {
    /// Bucket index → count. Bucket `i` holds values in (γ^(i-1), γ^i] milliseconds, γ = 2^(1/8); values
    /// at or below 0.001 ms share the lowest bucket.
    buckets: BTreeMap<i32, u64>,
}

impl Histogram {
    pub fn record(&mut self, millis: f64) {
        *self.buckets.entry(bucket(millis)).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (bucket, count) in &other.buckets {
            *self.buckets.entry(*bucket).or_insert(0) += count;
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    /// The value at quantile `q` (0..=1): the upper edge of the bucket it falls in. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(upper_edge(*bucket));
            }
        }
        self.buckets.keys().next_back().map(|bucket| upper_edge(*bucket))
    }
}

fn bucket(millis: f64) -> i32 {
    if !millis.is_finite() || millis <= 0.001 {
        return lowest();
    }
    (millis.log2() * PER_DOUBLING)
        .ceil()
        .clamp(f64::from(lowest()), 400.0) as i32
}

fn lowest() -> i32 {
    (0.001f64.log2() * PER_DOUBLING).ceil() as i32
}

fn upper_edge(bucket: i32) -> f64 {
    let value = 2f64.powf(f64::from(bucket) / PER_DOUBLING);
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {

    use super::Histogram;

    #[test]
    fn quantiles_are_within_the_relative_error_and_merge() {
        let mut low = Histogram::default();
        let mut high = Histogram::default();
        for value in 1..=1000 {
            if value <= 500 {
                low.record(f64::from(value));
            } else {
                high.record(f64::from(value));
            }
        }
        low.merge(&high);
        assert_eq!(low.count(), 1000);
        for (q, truth) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let estimate = low.quantile(q).unwrap();
            assert!(
                estimate >= truth && estimate <= truth * 1.09,
                "p{q}: {estimate} vs {truth}"
            );
        }
        assert_eq!(Histogram::default().quantile(0.5), None);
        let text = serde_json::to_string(&low).unwrap();
        assert_eq!(serde_json::from_str::<Histogram>(&text).unwrap(), low);
    }
}
