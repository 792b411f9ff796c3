//! Snapshots of the documents an auditor reads: the Statement of Applicability (Markdown and CSV), the gap
//! report, an agent's impact assessment, and the evidence bundle's manifest. Each is built from a real store
//! in a temporary directory holding a small fixed registry and a few events at fixed times, as of a fixed
//! `now`; what is random by design (salts, so leaf hashes and roots; the log id and key; checkpoint times) is
//! kept out of the documents or redacted.
//!
//! After an intended change to a document, refresh the snapshots with
//! `UPDATE_EXPECT=1 cargo test -p warrant-service --test snapshots` and review the diff.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use expect_test::expect_file;
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::Event;
use warrant_core::role::Role;
use warrant_service::compliance::{assess, soa_csv, soa_markdown};
use warrant_service::export::{ExportRequest, export};
use warrant_store::{Principal, Store, StoreConfig};

/// An organisation, two agents (one with an exfiltration path the taint rule mitigates) and two
/// applicability decisions, one of them an exclusion.
const REGISTRY: &str = "\
kind: Organization
id: acme
name: Acme Lending
sells_ai_to_enterprises: false
regulated_industry: true
eu_customers: true
iso27001_certified: false
log_retention_days: 365
---
kind: DataSource
id: crm
sensitivity: confidential
personal_data: true
owner: head-of-data
---
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: confidential
---
kind: Tool
id: send-email
access: write
egress: external
recipient_arg: to
---
kind: Agent
id: mailer
purpose: Answers customers by email
owner: head-of-support
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cso}
  - {tool: send-email, access: write, approved_by: cso}
data_sources: [crm]
---
kind: Agent
id: scorer
purpose: Recommends a credit limit
owner: chief-credit-officer
risk_class: high
decision_scope: recommend
oversight: human-in-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cro}
data_sources: [crm]
---
kind: Applicability
id: A.2.2
applicable: true
justification: Agents act for customers; a board-approved AI policy is required.
owner: chief-risk-officer
---
kind: Applicability
id: A.10.4
applicable: false
justification: Acme offers no AI to customers of its own as a product.
owner: chief-risk-officer
";

/// The moment every document is generated at.
const NOW: &str = "2026-03-02T12:00:00Z";

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// A fresh directory under the system's temporary directory, removed when dropped.
/// With `WARRANT_TEST_POSTGRES`, its `data` directory is bound to a fresh PostgreSQL database of its own.
struct Scratch(
    PathBuf,
    // Held, not read: dropping it drops the test database.
    #[allow(dead_code)] Option<warrant_store::testing::TestDatabase>,
);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("warrant-service-snapshots-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let database = warrant_store::testing::TestDatabase::bind(&dir.join("data"));
        Scratch(dir, database)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Who writes everything: a local principal, so no token id (random) goes into the log.
fn tester() -> Principal {
    Principal::local_as("tester", Role::Admin)
}

/// A store with the registry applied the day before `NOW` and a morning of activity, every event at a fixed
/// time and received at a fixed time.
async fn store(test: &str) -> (Scratch, Store) {
    let scratch = Scratch::new(test);
    let store = Store::open(&scratch.0.join("data"), &StoreConfig::default()).unwrap();
    let context = ChangeContext::new(
        tester(),
        Some("initial registry".into()),
        time("2026-03-01T09:00:00Z"),
    );
    store.apply(REGISTRY.to_owned(), context).await.unwrap();
    // The credit decision the override below reverses: the sixth event after the registry's changes.
    let credit_decision = store.size() + 5;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let events = [
        json!({"time": "2026-03-02T08:00:00Z", "kind": "invocation", "agent": "mailer", "trace_id": trace,
               "span_id": "00f067aa0ba902b7", "attrs": {"name": "answer_email"}}),
        json!({"time": "2026-03-02T08:00:01Z", "kind": "tool_call", "agent": "mailer", "trace_id": trace,
               "span_id": "00f067aa0ba902b8", "attrs": {"tool": "crm-read", "call_id": "c-1", "latency_ms": 40.0}}),
        json!({"time": "2026-03-02T08:00:02Z", "kind": "data_access", "agent": "mailer", "trace_id": trace,
               "attrs": {"source": "crm", "records": 1}}),
        json!({"time": "2026-03-02T08:00:03Z", "kind": "llm_call", "agent": "mailer", "trace_id": trace,
               "attrs": {"model": "gpt-4.1-mini", "input_tokens": 900, "output_tokens": 120, "cost_usd": 0.0006}}),
        json!({"time": "2026-03-02T08:00:04Z", "kind": "decision", "agent": "mailer", "trace_id": trace,
               "attrs": {"name": "reply", "outcome": "sent", "subject": "cust-1"},
               "content": {"text": "Dear customer, your limit is unchanged."}}),
        json!({"time": "2026-03-02T08:30:00Z", "kind": "decision", "agent": "scorer",
               "attrs": {"name": "credit_limit", "outcome": "raise", "segment": {"tier": "gold"}}}),
        json!({"time": "2026-03-02T08:31:00Z", "kind": "escalation", "agent": "scorer",
               "attrs": {"reason": "limit above policy", "by": "tester", "to": "credit-desk"}}),
        json!({"time": "2026-03-02T08:40:00Z", "kind": "override", "agent": "scorer",
               "attrs": {"overrides_seq": credit_decision, "original_kind": "decision", "original": "raise",
                         "replacement": "hold", "reason": "income not verified", "by": "tester"}}),
    ];
    let events: Vec<Event> = events
        .into_iter()
        .enumerate()
        .map(|(index, value)| Event::from_json(index, value).unwrap())
        .collect();
    store
        .append(events, &tester(), time("2026-03-02T09:00:00Z"))
        .await
        .unwrap();
    store.flush_rollups().await.unwrap();
    (scratch, store)
}

/// Run blocking store reads off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_of_applicability_as_markdown_and_csv() {
    let (_scratch, store) = store("soa").await;
    let (markdown, csv) = blocking(move || {
        let assessment = assess(&store, time(NOW)).unwrap();
        let rows = assessment.soa().unwrap();
        let organization = assessment.registry.organization().map(|org| org.name.clone());
        // No checkpoint: its root would differ on every run (salted leaves).
        assert!(store.latest_checkpoint().unwrap().is_none());
        (
            soa_markdown(organization.as_deref(), None, &rows, time(NOW)),
            soa_csv(&rows),
        )
    })
    .await;
    expect_file!["snapshots/soa.md"].assert_eq(&markdown);
    expect_file!["snapshots/soa.csv"].assert_eq(&csv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_report() {
    let (_scratch, store) = store("gaps").await;
    let gaps = blocking(move || {
        let gaps = warrant_service::compliance::gaps_report(&assess(&store, time(NOW)).unwrap()).unwrap();
        serde_json::to_string_pretty(&gaps).unwrap() + "\n"
    })
    .await;
    expect_file!["snapshots/gaps.json"].assert_eq(&gaps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impact_assessment_as_markdown() {
    let (_scratch, store) = store("impact").await;
    let (mailer, scorer) = blocking(move || {
        let markdown = |agent: &str| {
            warrant_service::risk::impact(&store, agent, time(NOW))
                .unwrap()
                .markdown()
        };
        (markdown("mailer"), markdown("scorer"))
    })
    .await;
    expect_file!["snapshots/impact-mailer.md"].assert_eq(&mailer);
    expect_file!["snapshots/impact-scorer.md"].assert_eq(&scorer);
}

/// The manifest with what differs between runs replaced: the log's random id and key, the times of the
/// checkpoints signed now, and each file's hash (events carry salted digests).
fn redacted(mut manifest: Value) -> Value {
    let redact = |value: &mut Value, placeholder: &str| {
        if !value.is_null() {
            *value = json!(placeholder);
        }
    };
    for pointer in ["/origin", "/key", "/created_at", "/start/time", "/end/time"] {
        if let Some(value) = manifest.pointer_mut(pointer) {
            redact(value, "[redacted]");
        }
    }
    for file in manifest["files"].as_array_mut().unwrap() {
        redact(&mut file["sha256"], "[sha256]");
        // Sizes of files that hold hashes, times or the log id vary with them; the event count and the rest
        // of the manifest say what is in the bundle.
        redact(&mut file["size"], "[size]");
    }
    manifest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_bundle_manifest() {
    let (scratch, store) = store("bundle").await;
    let dir = scratch.0.join("bundle");
    let request = ExportRequest {
        from: time("2026-03-01T00:00:00Z"),
        to: time("2026-03-03T00:00:00Z"),
        agents: Vec::new(),
        with_content: false,
    };
    let summary = export(&store, &request, &dir, |_, _| {}).await.unwrap();
    assert_eq!((summary.start_size, summary.end_size), (0, summary.events));
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest["origin"]
            .as_str()
            .unwrap()
            .starts_with("warrant/default/"),
        "{manifest}"
    );
    // Every file in the directory is in the manifest (besides the manifest and its signature), and back.
    let mut on_disk: Vec<String> = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                on_disk.push(path.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["path"].as_str().unwrap().to_owned())
        .chain(["manifest.json".to_owned(), "manifest.sig".to_owned()])
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    let text = serde_json::to_string_pretty(&redacted(manifest)).unwrap() + "\n";
    expect_file!["snapshots/bundle-manifest.json"].assert_eq(&text);
}
