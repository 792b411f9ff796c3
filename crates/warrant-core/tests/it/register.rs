//! The risk register follows the analysis without duplicating risks, closes fixed paths with evidence and
//! keeps people's decisions; impact assessments are generated from the same facts; and the analysis names
//! what a reviewer would on AgentDojo's four tool suites.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use warrant_core::registry::Registry;
use warrant_core::risk::impact::assess;
use warrant_core::risk::register::{RiskOp, RiskStatus, TreatRequest, Treatment, sync, treat};
use warrant_core::risk::{analyze, classify};

use super::risk::{agent, registry};

const LEAKY: &str = "data_sources: [crm]\ntools:\n  - {tool: send-email, access: write, approved_by: x}\ntaint: {external_after_sensitive: \"off\"}\n";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap()
}

#[test]
fn the_register_opens_updates_closes_and_reopens_without_duplicates() {
    let open = registry(&agent("helper", LEAKY));
    let findings = analyze(&open, None);
    let id = "exfiltration:helper:send-email";
    let changes = sync(&[], &findings, &open, now(), "log size 10");
    let first = changes.iter().find(|change| change.risk.id == id).unwrap();
    assert_eq!((first.op, first.risk.status), (RiskOp::Opened, RiskStatus::Open));
    assert_eq!(
        (
            first.risk.likelihood,
            first.risk.impact,
            first.risk.level.as_str()
        ),
        (3, 4, "high")
    );
    assert_eq!(first.risk.owner, "ops");
    let register: Vec<_> = changes.into_iter().map(|change| change.risk).collect();

    // The same analysis again changes nothing.
    assert!(sync(&register, &findings, &open, now(), "log size 11").is_empty());

    // A person decides; the decision survives the next run.
    let treated = treat(
        register.iter().find(|risk| risk.id == id).unwrap(),
        &TreatRequest {
            treatment: Some(Treatment::Mitigate),
            owner: Some("head-of-support".into()),
            plan: Some("turn the taint rule on".into()),
            review_due: None,
        },
        now(),
    )
    .unwrap();
    assert_eq!(treated.changed, ["treatment", "owner", "plan"]);
    let register: Vec<_> = register
        .into_iter()
        .map(|risk| if risk.id == id { treated.risk.clone() } else { risk })
        .collect();

    // The taint rule goes on: the risk is updated to mitigated, not opened again.
    let guarded = registry(&agent("helper", &LEAKY.replace("\"off\"", "approval_required")));
    let changes = sync(
        &register,
        &analyze(&guarded, None),
        &guarded,
        now(),
        "log size 20",
    );
    let update = changes.iter().find(|change| change.risk.id == id).unwrap();
    assert_eq!(
        (update.op, update.risk.status),
        (RiskOp::Updated, RiskStatus::Mitigated)
    );
    assert!(update.changed.contains(&"status") && update.changed.contains(&"mitigation"));
    assert_eq!(update.risk.owner, "head-of-support");
    assert_eq!(update.risk.likelihood, 1);
    assert_eq!(changes.iter().filter(|change| change.risk.id == id).count(), 1);
    let register: Vec<_> = register
        .into_iter()
        .map(|risk| if risk.id == id { update.risk.clone() } else { risk })
        .collect();

    // The egress tool is revoked: the path is gone and the risk closes with the evidence.
    let fixed = registry(&agent("helper", "data_sources: [crm]\n"));
    let changes = sync(
        &register,
        &analyze(&fixed, None),
        &fixed,
        now(),
        "log size 30, registry as of change seq 29",
    );
    let closed = changes.iter().find(|change| change.risk.id == id).unwrap();
    assert_eq!(
        (closed.op, closed.risk.status),
        (RiskOp::Closed, RiskStatus::Closed)
    );
    assert!(
        closed
            .risk
            .closed_evidence
            .as_deref()
            .unwrap()
            .contains("change seq 29"),
        "{:?}",
        closed.risk.closed_evidence
    );
    let register: Vec<_> = register
        .into_iter()
        .map(|risk| if risk.id == id { closed.risk.clone() } else { risk })
        .collect();
    assert!(treat(&closed.risk, &TreatRequest::default(), now()).is_err());

    // The grant comes back: the same risk reopens.
    let changes = sync(&register, &findings, &open, now(), "log size 40");
    let reopened = changes.iter().find(|change| change.risk.id == id).unwrap();
    assert_eq!(
        (reopened.op, reopened.risk.status),
        (RiskOp::Reopened, RiskStatus::Open)
    );
    assert_eq!(reopened.risk.closed_evidence, None);
}

#[test]
fn treatments_are_validated() {
    let open = registry(&agent("helper", LEAKY));
    let risk = sync(&[], &analyze(&open, None), &open, now(), "x")
        .into_iter()
        .map(|change| change.risk)
        .find(|risk| risk.id == "exfiltration:helper:send-email")
        .unwrap();
    let accept = |plan: Option<&str>| TreatRequest {
        treatment: Some(Treatment::Accept),
        plan: plan.map(str::to_owned),
        ..TreatRequest::default()
    };
    assert!(
        treat(&risk, &accept(None), now())
            .unwrap_err()
            .contains("justification")
    );
    let accepted = treat(&risk, &accept(Some("customer e-mail is the product")), now()).unwrap();
    assert_eq!(accepted.risk.status, RiskStatus::Accepted);
    // An accepted risk stays accepted while its path is open.
    let again = sync(
        std::slice::from_ref(&accepted.risk),
        &analyze(&open, None),
        &open,
        now(),
        "x",
    );
    assert!(!again.iter().any(|change| change.risk.id == risk.id), "{again:?}");
    let past = TreatRequest {
        review_due: Some(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
        ..TreatRequest::default()
    };
    assert!(treat(&risk, &past, now()).unwrap_err().contains("past"));
    assert!(
        treat(&risk, &TreatRequest::default(), now())
            .unwrap_err()
            .contains("nothing to change")
    );
}

#[test]
fn the_impact_assessment_covers_what_the_agent_can_reach_through_others() {
    let text = format!(
        "{}\n---\n{}",
        agent("front", "affected: [loan applicants]\ndownstream: [payer]\ndata_sources: [crm]\ntools:\n  - {tool: ticket, access: write, approved_by: x}\n")
            .replace("purpose: helps", "purpose: decides consumer loan applications"),
        agent("payer", "tools:\n  - {tool: pay, access: execute, approved_by: x}\n"),
    );
    let registry = registry(&text);
    let findings = analyze(&registry, None);
    let classes = classify(&registry, &findings);
    let assessment = assess(&registry, "front", &findings, &classes).unwrap();
    assert_eq!(assessment.affected, ["loan applicants"]);
    assert_eq!(
        (assessment.cascade.as_slice(), assessment.cascade_depth),
        (["payer".to_owned()].as_slice(), 1)
    );
    let pay = assessment
        .reach
        .iter()
        .find(|reach| reach.object == "tool:pay")
        .unwrap();
    assert_eq!(pay.via, "payer");
    assert!(pay.nature.contains("irreversible"), "{pay:?}");
    assert!(assessment.eu_ai_act_hint.as_deref().unwrap().contains("5(b)"));
    assert!(assessment.controls.contains(&"Art.27".to_owned()));
    assert!(
        assessment
            .gaps
            .iter()
            .any(|gap| gap.contains("below the computed")),
        "{:?}",
        assessment.gaps
    );
    // Generation is deterministic, so versions differ only when facts do.
    assert_eq!(
        assess(&registry, "front", &findings, &classes).unwrap(),
        assessment
    );
    let markdown = assessment.to_markdown(None);
    for section in [
        "# Impact assessment: front",
        "## People affected",
        "## Access boundaries",
        "| tool:pay |",
        "## Oversight in place",
    ] {
        assert!(markdown.contains(section), "{section} missing:\n{markdown}");
    }
    let payer = assess(&registry, "payer", &findings, &classes).unwrap();
    assert!(payer.gaps.iter().any(|gap| gap.contains("not declared")));
    assert!(assess(&registry, "nobody", &findings, &classes).is_none());
}

#[derive(serde::Deserialize)]
struct Expected {
    agent: String,
    exfiltration_sinks: Vec<String>,
    not_exfiltration_sinks: Vec<String>,
    injection: Vec<(String, String)>,
    not_injection: Vec<(String, String)>,
}

#[test]
fn agentdojo_suites_get_the_findings_a_reviewer_names() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agentdojo");
    let expected: BTreeMap<String, Expected> =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("expected.yaml")).unwrap()).unwrap();
    assert_eq!(expected.len(), 4);
    for (suite, expected) in expected {
        let text = std::fs::read_to_string(dir.join(format!("{suite}.yaml"))).unwrap();
        let mut registry = Registry::default();
        let plan = registry
            .plan_apply(&text)
            .unwrap_or_else(|errors| panic!("{suite}: {errors:?}"));
        registry.apply(&plan.changes);
        let findings = analyze(&registry, None);
        let ids: Vec<&str> = findings.iter().map(|finding| finding.id.as_str()).collect();
        let agent = &expected.agent;
        for sink in &expected.exfiltration_sinks {
            let id = format!("exfiltration:{agent}:{sink}");
            assert!(ids.contains(&id.as_str()), "{suite}: {id} missing");
        }
        for sink in &expected.not_exfiltration_sinks {
            let id = format!("exfiltration:{agent}:{sink}");
            assert!(!ids.contains(&id.as_str()), "{suite}: {id} reported");
        }
        for (entry, tool) in &expected.injection {
            let id = format!("injection:{agent}:{entry}:{tool}");
            assert!(ids.contains(&id.as_str()), "{suite}: {id} missing");
        }
        for (entry, tool) in &expected.not_injection {
            let id = format!("injection:{agent}:{entry}:{tool}");
            assert!(!ids.contains(&id.as_str()), "{suite}: {id} reported");
        }
        // The gate's exfiltration rule is on by default, so within one agent these paths are mitigated; with
        // it off, every one of them is open.
        assert!(
            findings
                .iter()
                .filter(|finding| finding.kind == "exfiltration_path")
                .all(|finding| finding.status == "mitigated"),
            "{suite}"
        );
        let off = text.replace(
            "oversight: human-on-the-loop\n",
            "oversight: human-on-the-loop\ntaint: {external_after_sensitive: \"off\", irreversible_after_untrusted: \"off\"}\n",
        );
        let mut registry = Registry::default();
        let plan = registry
            .plan_apply(&off)
            .unwrap_or_else(|errors| panic!("{suite}: {errors:?}"));
        registry.apply(&plan.changes);
        let open = analyze(&registry, None);
        for sink in &expected.exfiltration_sinks {
            let id = format!("exfiltration:{agent}:{sink}");
            let finding = open.iter().find(|finding| finding.id == id).unwrap();
            assert_eq!(finding.status, "open", "{suite}: {id}");
        }
    }
}
