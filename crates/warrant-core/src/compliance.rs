//! The ISO/IEC 42001 and EU AI Act engine: the catalogs ([`catalog`]), the evidence rules that bind
//! warrant's records to controls ([`rules`]), the tags every event gets when it is written ([`tags`]), and
//! the documents built from them: the Statement of Applicability, the gap report, the crosswalk and the
//! readiness assessment ([`report`]).

pub mod audit;
pub mod catalog;
pub mod report;
pub mod rules;

use serde_json::{Map, Value};

/// The controls, clauses and articles an event evidences, from its kind (and, for documents, the controls
/// it names). Every event evidences event logging (A.6.2.8, Art. 12); the rest follow what the event is.
/// The writer counts these per hour into the evidence index, so "evidence for A.6.2.8 in Q3" is a lookup.
pub fn tags(kind: &str, attrs: &Map<String, Value>) -> Vec<String> {
    let mut tags: Vec<String> = vec!["A.6.2.8".into(), "Art.12".into()];
    let more: &[&str] = match kind {
        "invocation" | "llm_call" | "decision" | "tool_call" | "tool_result" | "outcome" => {
            &["A.6.2.6", "9.1"]
        }
        "data_access" => &["A.6.2.6", "A.7.4", "A.7.5"],
        "policy_decision" => &["A.9.2", "A.9.4", "A.6.2.6"],
        "approval" | "override" | "escalation" => &["A.9.2", "A.9.3", "Art.14", "Art.26"],
        "review" => &["A.9.2", "A.10.3"],
        "change" => &["6.3", "8.1", "A.4.2", "A.6.2.5"],
        "alert" => &["A.6.2.6", "9.1", "Art.72"],
        "incident" => &["A.8.4", "10.2", "Art.73"],
        "risk" => &["6.1.2", "6.1.3", "8.2", "8.3", "Art.9"],
        "impact_assessment" => &["A.5.2", "A.5.3", "A.5.4", "A.5.5", "6.1.4", "8.4", "Art.27"],
        "erasure" => &["A.7.4"],
        "audit" => &["9.2.1", "9.2.2", "10.2"],
        _ => &[],
    };
    tags.extend(more.iter().map(|tag| (*tag).to_owned()));
    // Telling people is evidence for what it was about: incidents communicated (A.8.4, Art. 73), approvers
    // reached (human oversight), alerts raised with someone (monitoring).
    if kind == "notification" {
        let about: &[&str] = match attrs
            .get("about")
            .and_then(|about| about.get("kind"))
            .and_then(Value::as_str)
        {
            Some("incident") => &["A.8.4", "Art.73"],
            Some("approval") => &["A.9.2", "Art.14"],
            Some("alert") => &["A.6.2.6", "9.1"],
            Some("review") => &["A.9.2", "A.10.3"],
            _ => &[],
        };
        tags.extend(about.iter().map(|tag| (*tag).to_owned()));
    }
    if kind == "document"
        && let Some(Value::Array(controls)) = attrs.get("controls")
    {
        tags.extend(controls.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    tags.sort();
    tags.dedup();
    tags
}
