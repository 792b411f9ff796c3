//! The risk register and impact assessments through the CLI on a data directory: the analysis opens risks
//! (also from what ingested events show), re-running it changes nothing, a treatment is recorded, turning the
//! gate's rule on mitigates the path, revoking the grant closes the risk with evidence, and an impact
//! assessment is kept as versions that a person approves. Every change is an event.

use serde_json::Value;

use crate::support::{Scratch, local, warrant};

const REGISTRY: &str = "\
kind: DataSource
id: crm
sensitivity: confidential
personal_data: true
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
purpose: Answers customer e-mail
owner: head-of-support
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: head-of-support}
  - {tool: send-email, access: write, approved_by: head-of-support}
data_sources: [crm]
TAINT";

const PATH: &str = "exfiltration:mailer:send-email";

fn log_size(dir: &std::path::Path) -> u64 {
    local(dir, &["-o", "json", "log", "checkpoint"])
        .expect_code(0)
        .json()["size"]
        .as_u64()
        .unwrap()
}

fn changed<'a>(answer: &'a Value, id: &str) -> Option<&'a Value> {
    answer["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["risk"]["id"] == id)
}

#[test]
fn risks_follow_the_registry_and_the_log_and_impact_assessments_are_versioned() {
    let scratch = Scratch::new();
    let dir = scratch.data();
    let off = scratch.file(
        "off.yaml",
        &REGISTRY.replace("TAINT", "taint: {external_after_sensitive: \"off\"}\n"),
    );
    local(&dir, &["apply", "-f", &off]).expect_code(0);
    // The log shows a data source nobody declared, and reads through the send grant.
    let events = scratch.file(
        "events.ndjson",
        concat!(
            r#"{"time":"2026-11-26T09:00:00Z","agent":"mailer","kind":"data_access","attrs":{"source":"shadow-db","records":3}}"#,
            "\n"
        ),
    );
    local(&dir, &["ingest", &events]).expect_code(0);

    let first = local(&dir, &["-o", "json", "risk", "assess"])
        .expect_code(0)
        .json();
    let risk = &changed(&first, PATH).unwrap()["risk"];
    assert_eq!(
        (risk["status"].as_str(), risk["level"].as_str()),
        (Some("open"), Some("high"))
    );
    assert!(
        changed(&first, "undeclared_data_source:mailer:shadow-db").is_some(),
        "{first}"
    );
    let size = log_size(&dir);
    let again = local(&dir, &["-o", "json", "risk", "assess"])
        .expect_code(0)
        .json();
    assert_eq!(
        again["changed"],
        Value::Array(Vec::new()),
        "a second run duplicates: {again}"
    );
    assert_eq!(log_size(&dir), size, "a run that changes nothing writes nothing");

    let listed = local(&dir, &["-o", "json", "risk", "list", "--status", "open"])
        .expect_code(0)
        .json();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|risk| risk["id"] == PATH)
    );
    let shown = local(&dir, &["risk", "show", PATH]).expect_code(0);
    assert!(
        shown
            .stdout
            .contains("agent:mailer -> tool:send-email -> external"),
        "{shown:?}"
    );

    // Accepting needs a justification; a mitigation plan is recorded as an event.
    let refused = local(&dir, &["risk", "treat", PATH, "--treatment", "accept"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("justification"), "{refused:?}");
    local(&dir, &["risk", "treat", "no-such-risk", "--owner", "x"]).expect_code(2);
    local(
        &dir,
        &[
            "risk",
            "treat",
            PATH,
            "--treatment",
            "mitigate",
            "--plan",
            "turn the taint rule on",
            "--owner",
            "dpo",
        ],
    )
    .expect_code(0);
    assert_eq!(log_size(&dir), size + 1);

    // The rule goes on: the same risk is mitigated, with the owner's decision kept.
    let on = scratch.file("on.yaml", &REGISTRY.replace("TAINT", ""));
    local(&dir, &["apply", "-f", &on]).expect_code(0);
    let second = local(&dir, &["-o", "json", "risk", "assess"])
        .expect_code(0)
        .json();
    let risk = &changed(&second, PATH).unwrap()["risk"];
    assert_eq!(
        (risk["status"].as_str(), risk["owner"].as_str()),
        (Some("mitigated"), Some("dpo"))
    );
    assert_eq!(changed(&second, PATH).unwrap()["op"], "updated");

    // The impact assessment: a draft, a recorded version, approval, and a new version once facts change.
    let draft = local(&dir, &["-o", "md", "impact", "mailer"]).expect_code(0);
    assert!(
        draft.stdout.starts_with("# Impact assessment: mailer"),
        "{draft:?}"
    );
    assert!(draft.stdout.contains("Draft generated"), "{draft:?}");
    let recorded = local(&dir, &["-o", "json", "impact", "mailer", "--record"])
        .expect_code(0)
        .json();
    assert_eq!(
        (recorded["new"].as_bool(), recorded["version"]["version"].as_u64()),
        (Some(true), Some(1))
    );
    let same = local(&dir, &["-o", "json", "impact", "mailer", "--record"])
        .expect_code(0)
        .json();
    assert_eq!(same["new"], false);
    // The person who recorded a version does not approve it; someone else does, once.
    let own = local(&dir, &["impact", "mailer", "--approve", "1"]);
    assert_ne!(own.code, 0, "{own:?}");
    assert!(own.stderr.contains("cannot also approve"), "{own:?}");
    let data = dir.to_str().unwrap();
    let as_bob = |args: &[&str]| {
        let mut all = vec!["--data", data];
        all.extend_from_slice(args);
        warrant(&all, &[("USER", "bob")])
    };
    as_bob(&["impact", "mailer", "--approve", "1", "--reason", "reviewed"]).expect_code(0);
    let twice = as_bob(&["impact", "mailer", "--approve", "1"]);
    assert_ne!(twice.code, 0, "{twice:?}");
    assert!(twice.stderr.contains("already approved"), "{twice:?}");
    let document = local(&dir, &["-o", "md", "impact", "mailer"]).expect_code(0);
    assert!(document.stdout.contains("Version 1 recorded"), "{document:?}");
    local(&dir, &["impact", "nobody"]).expect_code(2);

    // The egress grant is revoked: the path is gone and the risk closes with the evidence.
    let revoked = scratch.file(
        "revoked.yaml",
        &REGISTRY.replace("TAINT", "").replace(
            "  - {tool: send-email, access: write, approved_by: head-of-support}\n",
            "",
        ),
    );
    local(&dir, &["apply", "-f", &revoked]).expect_code(0);
    let third = local(&dir, &["-o", "json", "risk", "assess"])
        .expect_code(0)
        .json();
    let closed = changed(&third, PATH).unwrap();
    assert_eq!(
        (closed["op"].as_str(), closed["risk"]["status"].as_str()),
        (Some("closed"), Some("closed"))
    );
    assert!(
        closed["risk"]["closed_evidence"]
            .as_str()
            .unwrap()
            .contains("registry as of change seq"),
        "{closed}"
    );
    let status = local(&dir, &["-o", "json", "impact", "mailer"])
        .expect_code(0)
        .json();
    assert_eq!(status["changed_since_latest"], true, "{status}");
    local(&dir, &["verify"]).expect_code(0);
}
