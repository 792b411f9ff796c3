//! Risk findings, each kind with a fixture that has it and one that does not.

use warrant_core::registry::Registry;
use warrant_core::registry::manifest::Access;
use warrant_core::risk::{AccessGraph, AccessTarget, Finding, Observed, ObservedAccess, analyze, classify};

const TOOLS: &str = "\
kind: DataSource
id: crm
sensitivity: confidential
---
kind: DataSource
id: handbook
sensitivity: internal
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
kind: Tool
id: inbox
access: read
egress: internal
untrusted_output: true
---
kind: Tool
id: ticket
access: write
egress: internal
---
kind: Tool
id: pay
access: execute
egress: external
irreversible: true
amount_arg: amount
";

pub(crate) fn registry(agents: &str) -> Registry {
    let mut registry = Registry::default();
    let plan = registry
        .plan_apply(&format!("{TOOLS}---\n{agents}"))
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    registry.apply(&plan.changes);
    registry
}

pub(crate) fn agent(id: &str, body: &str) -> String {
    format!(
        "kind: Agent\nid: {id}\npurpose: helps\nowner: ops\nrisk_class: limited\ndecision_scope: execute\noversight: human-on-the-loop\n{body}"
    )
}

fn of_kind<'a>(findings: &'a [Finding], kind: &str) -> Vec<&'a Finding> {
    findings.iter().filter(|finding| finding.kind == kind).collect()
}

#[test]
fn an_exfiltration_path_within_an_agent_is_mitigated_by_the_taint_rule_and_open_without_it() {
    let tools = "tools:\n  - {tool: crm-read, access: read, approved_by: x}\n  - {tool: send-email, access: write, approved_by: x}\n";
    let with_rule = analyze(&registry(&agent("mailer", tools)), None);
    let paths = of_kind(&with_rule, "exfiltration_path");
    assert_eq!(paths.len(), 1, "{paths:#?}");
    assert_eq!(paths[0].status, "mitigated");
    assert_eq!(
        paths[0].path,
        ["tool:crm-read", "agent:mailer", "tool:send-email", "external"]
    );
    let off = agent(
        "mailer",
        &format!("{tools}taint: {{external_after_sensitive: off}}\n"),
    );
    let without = analyze(&registry(&off), None);
    assert_eq!(of_kind(&without, "exfiltration_path")[0].status, "open");
    // Negative: internal data only.
    let harmless = agent(
        "mailer",
        "data_sources: [handbook]\ntools:\n  - {tool: send-email, access: write, approved_by: x}\n",
    );
    assert!(of_kind(&analyze(&registry(&harmless), None), "exfiltration_path").is_empty());
}

#[test]
fn a_two_agent_chain_is_open_until_a_policy_holds_the_last_leg() {
    let reader = agent("reader", "data_sources: [crm]\ndownstream: [sender]\n");
    let sender = agent(
        "sender",
        "tools:\n  - {tool: send-email, access: write, approved_by: x}\n",
    );
    let chain = format!("{reader}---\n{sender}");
    let findings = analyze(&registry(&chain), None);
    let paths = of_kind(&findings, "exfiltration_path");
    assert_eq!(paths.len(), 1, "{paths:#?}");
    assert_eq!(
        paths[0].path,
        [
            "datasource:crm",
            "agent:reader",
            "agent:sender",
            "tool:send-email",
            "external"
        ]
    );
    assert_eq!(
        paths[0].status, "open",
        "the taint rule sees one agent's session, not the chain"
    );
    let policy = "kind: Policy\nid: hold-email\npolicy: |\n  @outcome(\"approval_required\")\n  forbid(principal, action, resource == Tool::\"send-email\");\n";
    let covered = format!("{chain}---\n{policy}");
    let findings = analyze(&registry(&covered), None);
    let path = of_kind(&findings, "exfiltration_path")[0];
    assert_eq!(path.status, "mitigated");
    assert!(
        path.mitigation.as_deref().unwrap().contains("hold-email"),
        "{path:?}"
    );
}

#[test]
fn untrusted_input_meeting_consequential_tools_is_exposure() {
    let exposed = agent(
        "support",
        "tools:\n  - {tool: inbox, access: read, approved_by: x}\n  - {tool: ticket, access: write, approved_by: x}\n",
    );
    let findings = analyze(&registry(&exposed), None);
    let exposure = of_kind(&findings, "prompt_injection_exposure");
    assert_eq!(exposure.len(), 1);
    assert_eq!((exposure[0].severity, exposure[0].status), ("medium", "open"));
    let reader_only = agent(
        "support",
        "tools:\n  - {tool: inbox, access: read, approved_by: x}\n",
    );
    assert!(
        of_kind(
            &analyze(&registry(&reader_only), None),
            "prompt_injection_exposure"
        )
        .is_empty()
    );
}

#[test]
fn irreversible_actions_need_a_human_or_a_limit() {
    let alone = agent(
        "payer",
        "tools:\n  - {tool: pay, access: execute, approved_by: x}\n",
    );
    let findings = analyze(&registry(&alone), None);
    assert_eq!(
        of_kind(&findings, "irreversible_without_oversight")[0].status,
        "open"
    );
    let in_loop = alone.replace("oversight: human-on-the-loop", "oversight: human-in-the-loop");
    let findings = analyze(&registry(&in_loop), None);
    assert_eq!(
        of_kind(&findings, "irreversible_without_oversight")[0].status,
        "mitigated"
    );
    let recommends = alone.replace("decision_scope: execute", "decision_scope: recommend");
    assert!(
        of_kind(
            &analyze(&registry(&recommends), None),
            "irreversible_without_oversight"
        )
        .is_empty()
    );
}

#[test]
fn combined_authority_is_found_until_a_group_limits_the_holders() {
    let grant = "tools:\n  - {tool: pay, access: execute, approved_by: x}\n";
    let two = format!("{}---\n{}", agent("payer-a", grant), agent("payer-b", grant));
    let findings = analyze(&registry(&two), None);
    let combined = of_kind(&findings, "combined_authority");
    assert_eq!((combined.len(), combined[0].status), (1, "open"));
    let group = "kind: Group\nid: money\nlimits:\n  - {id: daily, max_total: 1000, window_hours: 24}\n";
    let grouped = format!(
        "{group}---\n{}---\n{}",
        agent("payer-a", &format!("group: money\n{grant}")),
        agent("payer-b", &format!("group: money\n{grant}"))
    );
    let findings = analyze(&registry(&grouped), None);
    assert_eq!(of_kind(&findings, "combined_authority")[0].status, "mitigated");
    assert!(
        of_kind(
            &analyze(&registry(&agent("payer-a", grant)), None),
            "combined_authority"
        )
        .is_empty()
    );
}

#[test]
fn a_cascade_reports_its_reach_and_depth() {
    let chain = format!(
        "{}---\n{}---\n{}",
        agent("a", "downstream: [b]\n"),
        agent("b", "downstream: [c]\n"),
        agent("c", "tools:\n  - {tool: pay, access: execute, approved_by: x}\n")
    );
    let findings = analyze(&registry(&chain), None);
    let cascade: Vec<&Finding> = of_kind(&findings, "cascade")
        .into_iter()
        .filter(|finding| finding.agent == "a")
        .collect();
    assert!(
        cascade[0].summary.contains("can start 2 agent(s), 2 deep"),
        "{}",
        cascade[0].summary
    );
    assert!(
        cascade[0].summary.contains("1 irreversible"),
        "{}",
        cascade[0].summary
    );
    assert!(
        of_kind(&findings, "cascade")
            .iter()
            .all(|finding| finding.agent != "c"),
        "c starts nothing"
    );
}

#[test]
fn the_log_is_compared_with_the_registry() {
    let helper = agent("helper", "decision_scope: recommend\ntools:\n  - {tool: crm-read, access: read, approved_by: x}\n  - {tool: ticket, access: write, approved_by: x}\n")
        .replace("decision_scope: execute\n", "");
    let registry = registry(&helper);
    let observed = Observed {
        calls: vec![
            ("helper".into(), "crm-read".into(), 100),
            ("helper".into(), "web-fetch".into(), 100),
            ("helper".into(), "send-email".into(), 100),
            ("helper".into(), "ticket".into(), 100),
        ],
        agents: ["helper".to_owned(), "ghost".to_owned()].into(),
        unused_since_hour: Some(50),
        accesses: Vec::new(),
        gate: Default::default(),
        hidden_tools: Vec::new(),
    };
    let findings = analyze(&registry, Some(&observed));
    let kinds: Vec<(&str, &str)> = findings
        .iter()
        .filter(|finding| finding.path.len() <= 2 && finding.kind != "cascade")
        .map(|finding| (finding.kind, finding.id.as_str()))
        .collect();
    for expected in [
        ("shadow_agent", "shadow_agent:ghost"),
        ("undeclared_tool", "undeclared_tool:helper:web-fetch"),
        ("ungranted_tool_use", "ungranted_tool_use:helper:send-email"),
        (
            "recommend_scope_executed",
            "recommend_scope_executed:helper:ticket",
        ),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} missing from {kinds:?}");
    }
    assert!(
        !kinds.iter().any(|(kind, _)| *kind == "unused_grant"),
        "every grant was used: {kinds:?}"
    );
    let idle = Observed {
        calls: vec![("helper".into(), "crm-read".into(), 10)],
        agents: ["helper".to_owned()].into(),
        unused_since_hour: Some(50),
        ..Observed::default()
    };
    // An agent the log has never seen is not running yet: no unused-grant findings for it.
    let unseen = Observed {
        unused_since_hour: Some(50),
        ..Observed::default()
    };
    assert!(
        !analyze(&registry, Some(&unseen))
            .iter()
            .any(|finding| finding.kind == "unused_grant")
    );
    let unused: Vec<String> = analyze(&registry, Some(&idle))
        .into_iter()
        .filter(|finding| finding.kind == "unused_grant")
        .map(|finding| finding.id)
        .collect();
    assert_eq!(
        unused,
        ["unused_grant:helper:crm-read", "unused_grant:helper:ticket"]
    );
}

#[test]
fn the_graph_exports_and_classification_explains_itself() {
    let registry = registry(&agent(
        "payer",
        "data_sources: [crm]\ntools:\n  - {tool: pay, access: execute, approved_by: x}\n",
    ));
    let graph = AccessGraph::build(&registry);
    let dot = graph.to_dot();
    assert!(dot.starts_with("digraph access {"), "{dot}");
    assert!(
        dot.contains("label=\"tool:pay\"") && dot.contains("label=\"sends\""),
        "{dot}"
    );
    let json = graph.to_json();
    assert!(
        json["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|edge| edge["from"] == "datasource:crm" && edge["to"] == "agent:payer")
    );
    let findings = analyze(&registry, None);
    let classes = classify(&registry, &findings);
    assert_eq!(format!("{:?}", classes[0].computed), "High");
    assert!(
        classes[0]
            .reasons
            .iter()
            .any(|reason| reason.contains("irreversible")),
        "{classes:?}"
    );
}

fn access(agent: &str, target: AccessTarget, mode: Access) -> ObservedAccess {
    ObservedAccess {
        agent: agent.into(),
        target,
        mode,
        last_hour: 100,
    }
}

#[test]
fn data_sources_and_access_modes_in_the_log_are_compared_with_the_manifest() {
    let registry = registry(&agent(
        "helper",
        "data_sources: [handbook]\ntools:\n  - {tool: ticket, access: write, approved_by: x}\n  - {tool: crm-read, access: read, approved_by: x}\n",
    ));
    let ids = |accesses: Vec<ObservedAccess>| -> Vec<String> {
        let observed = Observed {
            agents: ["helper".to_owned()].into(),
            accesses,
            ..Observed::default()
        };
        analyze(&registry, Some(&observed))
            .into_iter()
            .filter(|finding| {
                matches!(
                    finding.kind,
                    "undeclared_data_source" | "undeclared_data_access" | "write_grant_only_reads"
                )
            })
            .map(|finding| finding.id)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    // Positive: a source nobody declared, a declared source not listed for the agent, and a write grant
    // through which only reads were seen.
    let found = ids(vec![
        access(
            "helper",
            AccessTarget::DataSource("shadow-db".into()),
            Access::Read,
        ),
        access("helper", AccessTarget::DataSource("crm".into()), Access::Read),
        access("helper", AccessTarget::Tool("ticket".into()), Access::Read),
    ]);
    assert_eq!(
        found,
        [
            "undeclared_data_access:helper:crm",
            "undeclared_data_source:helper:shadow-db",
            "write_grant_only_reads:helper:ticket"
        ]
    );
    // Negative: the listed source, a write seen through the write grant, reads through a read grant.
    let found = ids(vec![
        access(
            "helper",
            AccessTarget::DataSource("handbook".into()),
            Access::Read,
        ),
        access("helper", AccessTarget::Tool("ticket".into()), Access::Read),
        access("helper", AccessTarget::Tool("ticket".into()), Access::Write),
        access("helper", AccessTarget::Tool("crm-read".into()), Access::Read),
    ]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn a_group_limit_above_the_organisations_policy_is_combined_authority() {
    let agents = format!(
        "{}\n---\n{}\n---\nkind: Group\nid: movers\nlimits:\n  - {{id: daily, max_total: 90000, window_hours: 24}}\n---\nkind: Organization\nid: org\nname: Org\nmax_group_total: LIMIT\n",
        agent(
            "a",
            "group: movers\ntools:\n  - {tool: pay, access: execute, approved_by: x}\n"
        ),
        agent(
            "b",
            "group: movers\ntools:\n  - {tool: pay, access: execute, approved_by: x}\n"
        ),
    );
    let over = analyze(&registry(&agents.replace("LIMIT", "50000")), None);
    let finding = over
        .iter()
        .find(|finding| finding.id == "group_limit:movers:daily")
        .unwrap_or_else(|| panic!("{over:?}"));
    assert_eq!(
        (finding.kind, finding.status, finding.agent.as_str()),
        ("combined_authority", "open", "a,b")
    );
    let within = analyze(&registry(&agents.replace("LIMIT", "100000")), None);
    assert!(
        !within
            .iter()
            .any(|finding| finding.id.starts_with("group_limit:")),
        "{within:?}"
    );
}

#[test]
fn the_annex_iii_hint_matches_words_not_fragments() {
    let hint = |purpose: &str| {
        let registry = registry(&agent("a", "").replace("purpose: helps", &format!("purpose: {purpose}")));
        classify(&registry, &analyze(&registry, None))[0]
            .eu_ai_act_hint
            .clone()
    };
    assert!(
        hint("Assesses consumer loan applications")
            .unwrap()
            .contains("5(b)")
    );
    assert!(
        hint("Screens job applicants for interviews")
            .unwrap()
            .contains("Annex III 4")
    );
    assert_eq!(hint("Executes approved loan disbursements"), None);
    assert_eq!(hint("Answers questions, for example about fees"), None);
}

#[test]
fn a_gate_control_is_not_in_force_for_an_agent_whose_calls_bypass_the_gate() {
    let registry = registry(&agent(
        "mailer",
        "data_sources: [crm]\ntools:\n  - {tool: send-email, access: write, approved_by: x}\n",
    ));
    let status = |calls: u64, decisions: u64| {
        let observed = Observed {
            agents: ["mailer".to_owned()].into(),
            gate: [("mailer".to_owned(), (calls, decisions))].into(),
            ..Observed::default()
        };
        analyze(&registry, Some(&observed))
            .into_iter()
            .find(|finding| finding.id == "exfiltration:mailer:send-email")
            .unwrap()
    };
    assert_eq!(status(100, 100).status, "mitigated");
    let bypassed = status(100, 3);
    assert_eq!(bypassed.status, "open");
    assert!(bypassed.summary.contains("not in force"), "{}", bypassed.summary);
    assert!(
        bypassed.treatment.contains("/v1/authorize"),
        "{}",
        bypassed.treatment
    );
}
