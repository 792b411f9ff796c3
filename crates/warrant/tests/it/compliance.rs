//! The compliance engine through the CLI on a data directory: applicability decisions refuse invented
//! controls, documents become evidence, the SoA and gap report follow the evidence (and `--fail-on` fails),
//! an internal audit verifies its samples' proofs and records a nonconformity for a control whose evidence
//! is stale, samples are reproducible, and the crosswalk checks log retention.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::support::{Scratch, local};

const REGISTRY: &str = "\
kind: Organization
id: acme
name: Acme Lending
regulated_industry: true
eu_customers: true
log_retention_days: 365
---
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: internal
---
kind: Agent
id: helper
purpose: Answers customer questions
owner: head-of-support
risk_class: limited
decision_scope: recommend
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: head-of-support}
---
kind: Applicability
id: A.9.2
applicable: true
justification: agents answer customers, so responsible-use processes apply
owner: head-of-support
---
kind: Applicability
id: A.10.4
applicable: false
justification: no customers outside the bank use the agents
";

fn row<'a>(rows: &'a Value, id: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| row["control"] == id || row["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing"))
}

#[test]
fn the_soa_gaps_and_audit_follow_the_evidence() {
    let scratch = Scratch::new();
    let dir = scratch.data();
    let invented = scratch.file(
        "invented.yaml",
        "kind: Applicability\nid: A.9.5\napplicable: true\njustification: made up\n",
    );
    let refused = local(&dir, &["apply", "-f", &invented]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stdout.contains("not an ISO/IEC 42001 Annex A control")
            || refused.stderr.contains("not an ISO/IEC 42001 Annex A control"),
        "{refused:?}"
    );
    local(&dir, &["apply", "-f", &scratch.file("registry.yaml", REGISTRY)]).expect_code(0);

    // Today's work, and approvals that are two months old: the oversight evidence is stale.
    let now = Utc::now();
    let old = now - Duration::days(60);
    let mut lines = Vec::new();
    for index in 0..5 {
        lines.push(
            json!({"time": now.to_rfc3339(), "agent": "helper", "kind": "decision",
            "attrs": {"name": "answer", "outcome": format!("o{}", index % 2)}}),
        );
        lines.push(
            json!({"time": old.to_rfc3339(), "agent": "helper", "kind": "approval",
            "attrs": {"approval_id": format!("apr-{index}"), "decision": "approved", "approver": "lead"}}),
        );
    }
    let events = lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    local(&dir, &["ingest", &scratch.file("events.ndjson", &events)]).expect_code(0);

    // A document is evidence; the same bytes again are not kept twice; an unknown control is refused.
    let policy = scratch.file("policy.md", "Acme AI policy: agents act within their grants.");
    let kept = local(
        &dir,
        &[
            "-o",
            "json",
            "docs",
            "add",
            &policy,
            "--control",
            "A.2.2",
            "--control",
            "5.2",
            "--title",
            "AI policy",
        ],
    )
    .expect_code(0)
    .json();
    assert_eq!(kept["new"], true);
    let again = local(
        &dir,
        &["-o", "json", "docs", "add", &policy, "--control", "A.2.2"],
    )
    .expect_code(0)
    .json();
    assert_eq!(again["new"], false);
    assert_eq!(
        local(&dir, &["docs", "add", &policy, "--control", "A.9.9"]).code,
        2
    );

    let soa = local(&dir, &["-o", "json", "soa"]).expect_code(0).json();
    let controls = &soa["controls"];
    assert_eq!(controls.as_array().unwrap().len(), 38);
    assert_eq!(row(controls, "A.2.2")["status"], "implemented");
    assert_eq!(
        row(controls, "A.2.2")["sample_seqs"],
        json!([kept["document"]["seq"]])
    );
    assert_eq!(row(controls, "A.10.4")["status"], "excluded");
    assert_eq!(
        row(controls, "A.9.2")["status"],
        "partial",
        "{}",
        row(controls, "A.9.2")
    );
    assert_eq!(row(controls, "A.9.2")["owner"], "head-of-support");
    assert_eq!(
        row(controls, "A.6.2.8")["status"],
        "implemented",
        "{}",
        row(controls, "A.6.2.8")
    );
    assert!(row(controls, "A.6.2.8")["evidence_count"].as_u64().unwrap() >= 10);

    let csv = local(&dir, &["-o", "csv", "soa"]).expect_code(0);
    assert!(
        csv.stdout
            .starts_with("control,title,objective,applicable,decided,justification,status"),
        "{csv:?}"
    );
    assert_eq!(csv.stdout.lines().count(), 39);
    let markdown = local(&dir, &["-o", "md", "soa"]).expect_code(0);
    assert!(
        markdown.stdout.contains("# Statement of Applicability") && markdown.stdout.contains("Acme Lending")
    );

    let gaps = local(&dir, &["-o", "json", "gaps"]).expect_code(0).json();
    let stale = row(&gaps["controls"], "A.9.2");
    assert_eq!(stale["gap"], "partial");
    assert!(
        stale["reason"].as_str().unwrap().contains("in the last 30 days"),
        "{stale}"
    );
    assert_eq!(gaps["agent_areas"].as_array().unwrap().len(), 8);
    let failing = local(&dir, &["gaps", "--fail-on", "missing"]);
    assert_eq!(failing.code, 1, "{failing:?}");
    assert_eq!(local(&dir, &["gaps", "--fail-on", "everything"]).code, 2);

    // The internal audit: proofs of every sample verify; the stale control is a nonconformity.
    let audit = local(&dir, &["-o", "json", "audit", "run", "--n", "2", "--seed", "11"])
        .expect_code(0)
        .json();
    let sampled: Vec<&Value> = audit["controls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|control| control["sampled"].as_array())
        .flatten()
        .collect();
    assert!(!sampled.is_empty(), "{audit}");
    assert!(sampled.iter().all(|item| item["verified"] == true), "{audit}");
    let nc = audit["nonconformities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|nc| nc["control"] == "A.9.2")
        .unwrap_or_else(|| panic!("no nonconformity for the stale control: {audit}"));
    assert_eq!(
        (nc["grade"].as_str(), nc["owner"].as_str()),
        (Some("minor"), Some("head-of-support"))
    );
    assert!(
        nc["due"].as_str().is_some() && nc["corrective_action"].as_str().is_some(),
        "{nc}"
    );
    assert!(
        audit["management_review"]["performance"]["controls"].is_object(),
        "{audit}"
    );
    // Nonconformities are tracked: listed open, closed with the corrective action, refused twice.
    let ncs = local(&dir, &["-o", "json", "audit", "ncs"]).expect_code(0).json();
    let tracked = ncs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|nc| nc["control"] == "A.9.2")
        .unwrap();
    assert_eq!(tracked["status"], "open", "{tracked}");
    let id = tracked["id"].as_str().unwrap().to_owned();
    assert_eq!(local(&dir, &["audit", "close", &id, "--action", " "]).code, 2);
    local(
        &dir,
        &[
            "audit",
            "close",
            &id,
            "--action",
            "oversight approvals reinstated",
        ],
    )
    .expect_code(0);
    assert_eq!(local(&dir, &["audit", "close", &id, "--action", "again"]).code, 2);
    // The next audit reopens what is still wrong and closes what is now evidenced.
    local(
        &dir,
        &[
            "docs",
            "add",
            &scratch.file("concerns.md", "speak-up channel"),
            "--control",
            "A.3.3",
        ],
    )
    .expect_code(0);
    local(&dir, &["audit", "run", "--n", "1"]).expect_code(0);
    let ncs = local(&dir, &["-o", "json", "audit", "ncs"]).expect_code(0).json();
    let by_control = |control: &str| {
        ncs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|nc| nc["control"] == control)
            .unwrap()
            .clone()
    };
    assert_eq!(by_control("A.9.2")["status"], "open", "still stale, so reopened");
    assert!(by_control("A.9.2")["reopened_at"].is_string());
    let fixed = by_control("A.3.3");
    assert_eq!(fixed["status"], "closed", "{fixed}");
    assert!(
        fixed["closure"].as_str().unwrap().contains("not raised again"),
        "{fixed}"
    );
    let listed = local(&dir, &["-o", "json", "audit", "list"])
        .expect_code(0)
        .json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    // The audit is evidence of clause 9.2 now.
    let soa = local(&dir, &["-o", "json", "gaps"]).expect_code(0).json();
    assert_eq!(row(&soa["clauses"], "9.2.1")["gap"], "have");

    // Samples are reproducible by seed, and their proofs verify.
    let sample = |seed: &str| {
        local(
            &dir,
            &[
                "-o",
                "json",
                "evidence",
                "sample",
                "--control",
                "A.6.2.8",
                "--n",
                "4",
                "--seed",
                seed,
            ],
        )
        .expect_code(0)
        .json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["seq"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let first = sample("7");
    assert_eq!(first.len(), 4);
    assert_eq!(sample("7"), first);
    let counted = local(
        &dir,
        &[
            "-o",
            "json",
            "evidence",
            "count",
            "--control",
            "A.9.2",
            "--to",
            &(now - Duration::days(30)).date_naive().to_string(),
        ],
    )
    .expect_code(0)
    .json();
    assert_eq!(
        counted["count"], 5,
        "the old approvals, and nothing after: {counted}"
    );

    let crosswalk = local(&dir, &["-o", "json", "crosswalk"]).expect_code(0).json();
    let retention = crosswalk["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["id"] == "log-retention")
        .unwrap();
    assert!(
        retention["check"].as_str().unwrap().starts_with("met"),
        "{retention}"
    );
    let art12 = crosswalk["articles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|article| article["article"] == "Art.12")
        .unwrap();
    assert!(
        art12["supports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|support| support["reference"] == "A.6.2.8" && support["status"] == "implemented"),
        "{art12}"
    );
    let ready = local(&dir, &["-o", "json", "readiness"]).expect_code(0).json();
    assert_eq!(
        ready["readiness"]["stage"], "gap assessment",
        "36 controls have no decision yet: {ready}"
    );
    assert_eq!(
        ready["readiness"]["decision"]["recommendation"],
        "certify within 12 months"
    );

    // Rules are data: a user rule binds today's decisions to A.2.4; a rule with two forms is refused.
    let rule = scratch.file(
        "rule.yaml",
        "kind: EvidenceRule\nid: concerns-channel\ndescription: decisions are reviewed daily\ncontrols: [A.2.4]\nevents:\n  kinds: [decision]\nfresh_days: 7\nnext_step: keep reviewing\n",
    );
    let soa = local(&dir, &["-o", "json", "soa"]).expect_code(0).json();
    assert_eq!(row(&soa["controls"], "A.2.4")["status"], "not_started");
    local(&dir, &["apply", "-f", &rule]).expect_code(0);
    let soa = local(&dir, &["-o", "json", "soa"]).expect_code(0).json();
    let user = row(&soa["controls"], "A.2.4");
    assert_eq!(
        user["status"], "partial",
        "the user rule is met, the document rule is not: {user}"
    );
    assert!(
        user["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rule| rule["rule"] == "concerns-channel" && rule["met"] == "implemented"),
        "{user}"
    );
    let broken = scratch.file(
        "broken.yaml",
        "kind: EvidenceRule\nid: both\ndescription: x\ncontrols: [A.2.4]\nevents:\n  kinds: [decision]\ndocuments: true\nfresh_days: 7\nnext_step: x\n",
    );
    assert_eq!(local(&dir, &["apply", "-f", &broken]).code, 2);
    local(&dir, &["verify"]).expect_code(0);
}
