//! The compliance catalogs against the reference, and every evidence rule flipped between implemented,
//! partial and missing.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, Duration, TimeZone, Utc};
use warrant_core::compliance::catalog::Catalog;
use warrant_core::compliance::report::{Implementation, ReadinessFacts, gaps, readiness, soa, status_of};
use warrant_core::compliance::rules::{
    AlertFact, ChangeFact, DocumentFact, EvidenceRule, Facts, ImpactFact, Met, evaluate,
};
use warrant_core::registry::Registry;
use warrant_core::risk::{analyze, classify};

#[test]
fn the_catalog_has_exactly_the_38_real_annex_a_controls() {
    let catalog = Catalog::builtin().unwrap();
    let csv = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog/reference/iso42001_annex_a.csv"),
    )
    .expect("the Annex A reference kept in the repository");
    let reference: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.splitn(3, ',');
            (
                fields.next().unwrap().to_owned(),
                fields.next().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(reference.len(), 38);
    let ours: Vec<(String, String)> = catalog
        .iso
        .controls
        .iter()
        .map(|control| (control.id.clone(), control.title.clone()))
        .collect();
    assert_eq!(ours, reference);
    assert_eq!(catalog.iso.objectives.len(), 10);
    for invented in ["A.5.6", "A.9.5", "A.10.5", "A.6.10.2"] {
        assert!(catalog.control(invented).is_none(), "{invented}");
    }
    for clause in ["4.1", "6.1.2", "6.1.3", "6.1.4", "8.4", "9.1", "9.2.1", "10.2"] {
        assert!(catalog.subclause(clause).is_some(), "{clause}");
    }
    for article in [
        "Art.4", "Art.5", "Art.6", "Art.9", "Art.12", "Art.14", "Art.17", "Art.19", "Art.26", "Art.27",
        "Art.43", "Art.47", "Art.48", "Art.49", "Art.50", "Art.71", "Art.72", "Art.73",
    ] {
        assert!(catalog.article(article).is_some(), "{article}");
    }
    // High-risk obligations carry both dates: the original and the one 2026/1744 set.
    let art26 = catalog.article("Art.26").unwrap();
    let annex_iii = art26
        .applies
        .iter()
        .find(|applies| applies.category == "high_risk_annex_iii")
        .unwrap();
    assert_eq!(
        (annex_iii.original.to_string(), annex_iii.amended.to_string()),
        ("2026-08-02".into(), "2027-12-02".into())
    );
    let functions: Vec<usize> = catalog
        .nist
        .functions
        .iter()
        .map(|function| function.categories.len())
        .collect();
    assert_eq!(functions, [6, 5, 4, 4]);
    assert_eq!(catalog.areas.areas.len(), 8);
    for task in ["conformity-assessment", "log-retention"] {
        assert!(
            catalog.crosswalk.tasks.iter().any(|known| known.id == task),
            "{task}"
        );
    }
    // Every Annex A control is covered by at least one evidence rule.
    for control in &catalog.iso.controls {
        assert!(
            catalog
                .rules
                .iter()
                .any(|rule| rule.controls.contains(&control.id)),
            "no rule for {}",
            control.id
        );
    }
    for rule in &catalog.rules {
        assert_eq!(rule.problem(), None, "{}", rule.id);
    }
}

const REGISTRY: &str = "\
kind: DataSource
id: crm
sensitivity: confidential
personal_data: true
owner: dpo
retention_days: 365
---
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: confidential
---
kind: Agent
id: scorer
purpose: Ranks support tickets
owner: ops
risk_class: high
decision_scope: recommend
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: ops, approved_on: 2026-10-01, last_reviewed: 2026-11-01}
data_sources: [crm]
";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

fn registry(text: &str) -> Registry {
    let mut registry = Registry::default();
    let plan = registry
        .plan_apply(text)
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    registry.apply(&plan.changes);
    registry
}

/// Facts where every check is met; each test then breaks one thing.
struct World {
    registry: Registry,
    classification: Vec<warrant_core::risk::Classification>,
    risks: Vec<warrant_core::risk::register::Risk>,
    incidents: Vec<warrant_core::incident::Incident>,
}

impl World {
    fn new(text: &str) -> World {
        let registry = registry(text);
        let findings = analyze(&registry, None);
        let classification = classify(&registry, &findings);
        let risks = warrant_core::risk::register::sync(&[], &findings, &registry, now(), "x")
            .into_iter()
            .map(|change| change.risk)
            .collect();
        World {
            registry,
            classification,
            risks,
            incidents: Vec::new(),
        }
    }

    fn facts(&self) -> Facts<'_> {
        let hour = now().timestamp().div_euclid(3600);
        let day = now().timestamp().div_euclid(86_400);
        Facts {
            now: now(),
            registry: &self.registry,
            classification: &self.classification,
            risks: &self.risks,
            impacts: BTreeMap::from([(
                "scorer".to_owned(),
                ImpactFact {
                    version: 1,
                    approved_at: Some(now() - Duration::days(10)),
                    seq: Seq(7),
                },
            )]),
            incidents: &self.incidents,
            firing_alerts: Vec::new(),
            monitoring_rules: 8,
            agent_last_hour: BTreeMap::from([("scorer".to_owned(), hour - 2)]),
            kind_days: BTreeMap::from([("approval".to_owned(), BTreeMap::from([(day - 3, 4)]))]),
            checkpoint: Some((100, now() - Duration::hours(1), true)),
            documents: vec![DocumentFact {
                sha256: "ab".repeat(32),
                title: "AI policy".into(),
                controls: vec!["A.2.2".into()],
                added_at: now() - Duration::days(30),
                seq: Seq(9),
            }],
            changes: vec![ChangeFact {
                seq: Seq(1),
                object: "Agent/scorer".into(),
                substantial: true,
                has_reason: true,
            }],
            audits: vec![(now() - Duration::days(40), Seq(50))],
            recent_seqs: BTreeMap::new(),
            nonconformities: Vec::new(),
            incidents_told: BTreeMap::new(),
        }
    }
}

fn rule(id: &str) -> EvidenceRule {
    Catalog::builtin()
        .unwrap()
        .rules
        .iter()
        .find(|rule| rule.id == id)
        .unwrap()
        .clone()
}

fn met(rule_id: &str, facts: &Facts<'_>) -> Met {
    let results = evaluate(&rule(rule_id), facts);
    assert!(!results.is_empty());
    results[0].met
}

#[test]
fn agent_inventory_flips() {
    let world = World::new(REGISTRY);
    assert_eq!(met("agent-inventory", &world.facts()), Met::Implemented);
    // Declared limited, but the analysis computes high (restricted data, external egress): partial.
    let understated = World::new(
        &REGISTRY
            .replace("risk_class: high", "risk_class: limited")
            .replace(
                "sensitivity: confidential\npersonal_data",
                "sensitivity: restricted\npersonal_data",
            ),
    );
    assert_eq!(met("agent-inventory", &understated.facts()), Met::Partial);
    let empty = World::new(&REGISTRY[..REGISTRY.find("---\nkind: Agent").unwrap()]);
    assert_eq!(met("agent-inventory", &empty.facts()), Met::Missing);
}

#[test]
fn resource_inventory_flips() {
    let world = World::new(REGISTRY);
    assert_eq!(met("resource-inventory", &world.facts()), Met::Implemented);
    let unowned = World::new(&REGISTRY.replace("owner: dpo\n", ""));
    assert_eq!(met("resource-inventory", &unowned.facts()), Met::Partial);
    let empty = World::new("kind: Group\nid: g\nlimits: []\n");
    assert_eq!(met("resource-inventory", &empty.facts()), Met::Missing);
}

#[test]
fn grant_reviews_flip() {
    let two = REGISTRY.replace(
        "data_sources: [crm]\n",
        "data_sources: [crm]\n---\nkind: Agent\nid: other\npurpose: p\nowner: o\nrisk_class: high\ndecision_scope: recommend\noversight: human-on-the-loop\ntools:\n  - {tool: crm-read, access: read, approved_by: o, approved_on: 2026-11-01}\n",
    );
    assert_eq!(met("grant-reviews", &World::new(&two).facts()), Met::Implemented);
    let stale = two.replace("approved_on: 2026-11-01", "approved_on: 2025-01-01");
    assert_eq!(met("grant-reviews", &World::new(&stale).facts()), Met::Partial);
    let all_stale = stale.replace("last_reviewed: 2026-11-01", "last_reviewed: 2025-01-01");
    assert_eq!(
        met("grant-reviews", &World::new(&all_stale).facts()),
        Met::Missing
    );
}

#[test]
fn event_logging_flips() {
    let world = World::new(REGISTRY);
    let mut facts = world.facts();
    assert_eq!(met("event-logging", &facts), Met::Implemented);
    facts
        .agent_last_hour
        .insert("scorer".into(), now().timestamp().div_euclid(3600) - 50);
    facts.agent_last_hour.insert("old-agent".into(), 0);
    assert_eq!(met("event-logging", &facts), Met::Partial);
    facts.checkpoint = Some((100, now(), false));
    assert_eq!(met("event-logging", &facts), Met::Missing);
    facts.checkpoint = None;
    assert_eq!(met("event-logging", &facts), Met::Missing);
}

#[test]
fn monitoring_flips() {
    let world = World::new(REGISTRY);
    let mut facts = world.facts();
    facts.firing_alerts.push(AlertFact {
        id: "alt-1".into(),
        severity: warrant_core::registry::manifest::Severity::High,
        fired_at: now() - Duration::hours(3),
        incident: None,
        seq: Seq(3),
    });
    assert_eq!(met("monitoring", &facts), Met::Implemented);
    facts.firing_alerts[0].fired_at = now() - Duration::days(2);
    assert_eq!(met("monitoring", &facts), Met::Partial);
    facts.firing_alerts[0].incident = Some("inc-1".into());
    assert_eq!(met("monitoring", &facts), Met::Implemented);
    facts.monitoring_rules = 0;
    assert_eq!(met("monitoring", &facts), Met::Missing);
}

#[test]
fn impact_assessments_flip() {
    let two = REGISTRY.replace(
        "data_sources: [crm]\n",
        "data_sources: [crm]\n---\nkind: Agent\nid: other\npurpose: p\nowner: o\nrisk_class: high\ndecision_scope: recommend\noversight: human-on-the-loop\n",
    );
    let world = World::new(&two);
    let mut facts = world.facts();
    facts.impacts.insert(
        "other".into(),
        ImpactFact {
            version: 2,
            approved_at: Some(now() - Duration::days(100)),
            seq: Seq(8),
        },
    );
    assert_eq!(met("impact-assessments", &facts), Met::Implemented);
    // Older than 12 months, or recorded but never approved: not current.
    facts.impacts.get_mut("other").unwrap().approved_at = Some(now() - Duration::days(400));
    assert_eq!(met("impact-assessments", &facts), Met::Partial);
    facts.impacts.get_mut("scorer").unwrap().approved_at = None;
    assert_eq!(met("impact-assessments", &facts), Met::Missing);
}

fn incident(communications: usize) -> warrant_core::incident::Incident {
    let mut value = serde_json::json!({
        "id": "inc-1", "title": "drift", "severity": "high", "status": "open", "what_happened": "x",
        "detected_at": "2026-11-25T10:00:00Z", "alerts": [], "related_seqs": [4], "actions": [],
        "communications": [], "serious": false
    });
    for index in 0..communications {
        value["communications"].as_array_mut().unwrap().push(
            serde_json::json!({"at": "2026-11-25T11:00:00Z", "by": "ops", "text": format!("note {index}")}),
        );
    }
    serde_json::from_value(value).unwrap()
}

#[test]
fn incident_handling_flips() {
    let mut world = World::new(REGISTRY);
    assert_eq!(met("incident-handling", &world.facts()), Met::Implemented);
    world.incidents.push(incident(0));
    assert_eq!(met("incident-handling", &world.facts()), Met::Partial);
    world.incidents[0] = incident(1);
    assert_eq!(met("incident-handling", &world.facts()), Met::Implemented);
    world.incidents.clear();
    let mut facts = world.facts();
    facts.monitoring_rules = 0;
    assert_eq!(met("incident-handling", &facts), Met::Missing);
}

#[test]
fn risk_treatment_flips() {
    let leaky = "kind: DataSource\nid: crm\nsensitivity: confidential\n---\nkind: Tool\nid: mail\naccess: write\negress: external\n---\nkind: Agent\nid: a\npurpose: p\nowner: o\nrisk_class: high\ndecision_scope: execute\noversight: human-on-the-loop\ndata_sources: [crm]\ntools:\n  - {tool: mail, access: write, approved_by: o}\ntaint: {external_after_sensitive: \"off\"}\n";
    let mut world = World::new(leaky);
    assert_eq!(
        met("risk-treatment", &world.facts()),
        Met::Partial,
        "an open high risk without a treatment"
    );
    for risk in &mut world.risks {
        risk.treatment = Some(warrant_core::risk::register::Treatment::Mitigate);
    }
    assert_eq!(met("risk-treatment", &world.facts()), Met::Implemented);
    world.risks.clear();
    assert_eq!(met("risk-treatment", &world.facts()), Met::Missing);
}

#[test]
fn change_records_flip() {
    let world = World::new(REGISTRY);
    let mut facts = world.facts();
    assert_eq!(met("change-records", &facts), Met::Implemented);
    facts.changes[0].has_reason = false;
    assert_eq!(met("change-records", &facts), Met::Partial);
    facts.changes.clear();
    assert_eq!(met("change-records", &facts), Met::Missing);
}

#[test]
fn internal_audit_flips() {
    let world = World::new(REGISTRY);
    let mut facts = world.facts();
    assert_eq!(met("internal-audit", &facts), Met::Implemented);
    facts.audits = vec![(now() - Duration::days(400), Seq(50))];
    assert_eq!(met("internal-audit", &facts), Met::Partial);
    facts.audits.clear();
    assert_eq!(met("internal-audit", &facts), Met::Missing);
}

#[test]
fn event_and_document_rules_flip() {
    let world = World::new(REGISTRY);
    let mut facts = world.facts();
    assert_eq!(met("human-oversight", &facts), Met::Implemented);
    let day = now().timestamp().div_euclid(86_400);
    facts
        .kind_days
        .insert("approval".into(), BTreeMap::from([(day - 90, 4)]));
    assert_eq!(
        met("human-oversight", &facts),
        Met::Partial,
        "only stale approvals"
    );
    facts.kind_days.clear();
    assert_eq!(met("human-oversight", &facts), Met::Missing);

    let policy = |facts: &Facts<'_>| {
        evaluate(&rule("documented-controls"), facts)
            .into_iter()
            .find(|result| result.control == "A.2.2")
            .unwrap()
            .met
    };
    assert_eq!(policy(&facts), Met::Implemented);
    facts.documents[0].added_at = now() - Duration::days(400);
    assert_eq!(policy(&facts), Met::Partial);
    facts.documents.clear();
    assert_eq!(policy(&facts), Met::Missing);
}

#[test]
fn the_soa_and_gaps_follow_applicability_and_results() {
    let text = format!(
        "{REGISTRY}---\nkind: Applicability\nid: A.10.4\napplicable: false\njustification: no external customers use the agents\n---\nkind: Applicability\nid: A.2.3\napplicable: true\njustification: policies exist\nowner: ciso\nplan: align the AI policy with the security policy\ntarget_date: 2027-03-31\n---\nkind: Organization\nid: org\nname: Org\niso27001_certified: true\n"
    );
    let world = World::new(&text);
    let facts = world.facts();
    let catalog = Catalog::builtin().unwrap();
    let results: Vec<_> = catalog
        .rules
        .iter()
        .flat_map(|rule| evaluate(rule, &facts))
        .collect();
    let rows = soa(catalog, &world.registry, &results, &BTreeMap::new());
    assert_eq!(rows.len(), 38);
    let row = |id: &str| rows.iter().find(|row| row.control == id).unwrap();
    assert_eq!(row("A.10.4").status, Implementation::Excluded);
    assert_eq!(row("A.2.3").status, Implementation::Planned);
    assert_eq!(row("A.2.3").owner, "ciso");
    assert_eq!(row("A.2.2").status, Implementation::Implemented);
    assert_eq!(row("A.6.2.8").status, Implementation::Implemented);
    assert_eq!(row("A.3.3").status, Implementation::NotStarted);
    assert_eq!(row("A.2.2").decided, "default");
    let report = gaps(catalog, &world.registry, &results);
    assert_eq!(report.controls.len(), 38);
    assert_eq!(report.controls_summary.excluded, 1);
    let a_4_5 = report.controls.iter().find(|row| row.id == "A.4.5").unwrap();
    assert!(a_4_5.covered_by_iso27001);
    let missing = report.controls.iter().find(|row| row.id == "A.3.3").unwrap();
    assert_eq!(missing.gap, "missing");
    assert!(missing.next_step.as_deref().unwrap().contains("warrant docs add"));
    assert_eq!(report.agent_areas.len(), 8);
    let ready = readiness(
        catalog,
        &world.registry,
        &report,
        &ReadinessFacts {
            now: now(),
            first_event: Some(now() - Duration::days(10)),
            last_audit: None,
            high_risk_agents: 1,
        },
    );
    assert_eq!(ready.stage, "gap assessment");
    assert_eq!(status_of(&[], true), Implementation::Planned);
}

#[test]
fn the_decision_and_estimate_follow_the_profile() {
    use warrant_core::compliance::report::{decide, estimate};
    use warrant_core::registry::manifest::Organization;
    let org = |enterprise: bool, regulated: bool, eu: bool| Organization {
        id: "o".into(),
        name: "O".into(),
        sells_ai_to_enterprises: enterprise,
        regulated_industry: regulated,
        eu_customers: eu,
        iso27001_certified: false,
        log_retention_days: None,
        internal_domains: Vec::new(),
        internal_accounts: Vec::new(),
        max_group_total: None,
    };
    assert_eq!(
        decide(Some(&org(true, false, false)), 1, 0).recommendation,
        "pursue certification now"
    );
    assert_eq!(
        decide(Some(&org(false, true, true)), 3, 1).recommendation,
        "pursue certification now"
    );
    assert_eq!(
        decide(Some(&org(false, false, true)), 2, 0).recommendation,
        "certify within 12 months"
    );
    assert_eq!(
        decide(Some(&org(false, false, false)), 6, 0).recommendation,
        "certify within 12 months"
    );
    assert_eq!(
        decide(Some(&org(false, false, false)), 2, 0).recommendation,
        "monitor and prepare"
    );
    assert_eq!(estimate(3, false).cost_usd, "$15k-$40k");
    assert_eq!(estimate(12, false).months, "6-8 months");
    assert_eq!(estimate(25, false).cost_usd, "$100k-$200k+");
    assert_eq!(estimate(3, true).cost_usd, "$10k-$32k");
}

#[test]
fn corrective_actions_flip() {
    let world = World::new(REGISTRY);
    let mut facts = world.facts();
    let due = |days: i64| Some((now() + Duration::days(days)).date_naive());
    facts.nonconformities = vec![
        ("nc-A.2.4".into(), due(10), true),
        ("nc-A.3.3".into(), due(-40), false),
    ];
    assert_eq!(met("corrective-actions", &facts), Met::Implemented);
    facts.nonconformities.push(("nc-A.7.4".into(), due(-1), true));
    assert_eq!(met("corrective-actions", &facts), Met::Partial);
    facts.audits.clear();
    assert_eq!(met("corrective-actions", &facts), Met::Missing);
}
