//! Prometheus metrics, kept as plain atomics: a handful of counters does not need a metrics framework.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    responses: [AtomicU64; 5],
    events_appended: AtomicU64,
    events_duplicate: AtomicU64,
    spans_received: AtomicU64,
    spans_skipped: AtomicU64,
    spans_rejected: AtomicU64,
}

impl Metrics {
    pub fn record_response(&self, status: u16) {
        let class = usize::from(status / 100).saturating_sub(1).min(4);
        if let Some(counter) = self.responses.get(class) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_append(&self, stored: u64, duplicates: u64) {
        self.events_appended.fetch_add(stored, Ordering::Relaxed);
        self.events_duplicate.fetch_add(duplicates, Ordering::Relaxed);
    }

    /// OTLP spans: received, skipped (not agent evidence) and rejected (partial success).
    pub fn record_spans(&self, received: u64, skipped: u64, rejected: u64) {
        self.spans_received.fetch_add(received, Ordering::Relaxed);
        self.spans_skipped.fetch_add(skipped, Ordering::Relaxed);
        self.spans_rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the gauges the caller reads at scrape time.
    pub fn render(&self, log_size: u64, registry_objects: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP warrant_http_responses_total HTTP responses by status class."
        );
        let _ = writeln!(out, "# TYPE warrant_http_responses_total counter");
        for (index, counter) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "warrant_http_responses_total{{class=\"{}xx\"}} {}",
                index + 1,
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP warrant_events_appended_total Events stored in the evidence log by this process."
        );
        let _ = writeln!(out, "# TYPE warrant_events_appended_total counter");
        let _ = writeln!(
            out,
            "warrant_events_appended_total {}",
            self.events_appended.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP warrant_events_duplicate_total Resent events answered with their original seq."
        );
        let _ = writeln!(out, "# TYPE warrant_events_duplicate_total counter");
        let _ = writeln!(
            out,
            "warrant_events_duplicate_total {}",
            self.events_duplicate.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP warrant_otlp_spans_total OTLP spans received, by what became of them."
        );
        let _ = writeln!(out, "# TYPE warrant_otlp_spans_total counter");
        let received = self.spans_received.load(Ordering::Relaxed);
        let skipped = self.spans_skipped.load(Ordering::Relaxed);
        let rejected = self.spans_rejected.load(Ordering::Relaxed);
        let mapped = received.saturating_sub(skipped + rejected);
        for (result, count) in [("mapped", mapped), ("skipped", skipped), ("rejected", rejected)] {
            let _ = writeln!(out, "warrant_otlp_spans_total{{result=\"{result}\"}} {count}");
        }
        let _ = writeln!(out, "# HELP warrant_log_size Events in the evidence log.");
        let _ = writeln!(out, "# TYPE warrant_log_size gauge");
        let _ = writeln!(out, "warrant_log_size {log_size}");
        let _ = writeln!(
            out,
            "# HELP warrant_registry_objects Agents, tools, data sources and AI systems registered."
        );
        let _ = writeln!(out, "# TYPE warrant_registry_objects gauge");
        let _ = writeln!(out, "warrant_registry_objects {registry_objects}");
        out
    }
}
