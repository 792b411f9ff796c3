//! The policy gate as tables: registry + session history + request → expected outcome and deciding rules.

use serde_json::{Value, json};
use warrant_core::event::Event;
use warrant_core::gate::{CallRequest, Gate, Outcome, SessionState};
use warrant_core::registry::Registry;

const REGISTRY: &str = r#"
kind: DataSource
id: customers
sensitivity: confidential
personal_data: true
---
kind: DataSource
id: kb
sensitivity: internal
---
kind: DataSource
id: credit-reports
sensitivity: restricted
---
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: confidential
---
kind: Tool
id: kb-search
access: read
egress: internal
sensitivity: internal
---
kind: Tool
id: send-email
access: write
egress: external
recipient_arg: to
---
kind: Tool
id: web-search
access: read
egress: external
untrusted_output: true
---
kind: Tool
id: refund
access: execute
egress: external
irreversible: true
amount_arg: amount
---
kind: Tool
id: payment
access: execute
egress: external
irreversible: true
sensitivity: restricted
amount_arg: amount
---
kind: Group
id: payments-group
limits:
  - {id: daily, max_total: 10000, window_hours: 24}
---
kind: Agent
id: support
purpose: Answers customers
owner: head-of-support
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cso}
  - {tool: kb-search, access: read, approved_by: cso}
  - {tool: send-email, access: write, approved_by: cso}
  - {tool: web-search, access: read, approved_by: cso}
  - {tool: refund, access: execute, approved_by: cso}
data_sources: [customers, kb]
---
kind: Agent
id: strict
purpose: Same tools, but the exfiltration rule denies outright
owner: head-of-support
risk_class: high
decision_scope: execute
oversight: human-in-the-loop
taint: {external_after_sensitive: deny, irreversible_after_untrusted: off}
tools:
  - {tool: crm-read, access: read, approved_by: cso}
  - {tool: send-email, access: write, approved_by: cso}
  - {tool: web-search, access: read, approved_by: cso}
  - {tool: refund, access: execute, approved_by: cso}
data_sources: [customers]
---
kind: Agent
id: payer-a
purpose: Pays invoices
owner: head-of-payments
risk_class: high
decision_scope: execute
oversight: human-in-the-loop
group: payments-group
tools:
  - {tool: payment, access: execute, approved_by: cfo}
---
kind: Agent
id: frozen
purpose: A suspended agent
owner: head-of-support
risk_class: limited
decision_scope: recommend
status: suspended
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cso}
---
kind: Agent
id: reader
purpose: Granted send-email at read access only
owner: head-of-support
risk_class: limited
decision_scope: recommend
oversight: human-on-the-loop
tools:
  - {tool: send-email, access: read, approved_by: cso}
---
kind: Policy
id: big-refunds
description: Refunds above 500 need a second pair of eyes
policy: |
  @outcome("approval_required")
  forbid(principal, action == Action::"call", resource == Tool::"refund")
  when { context has amount && context.amount > 500 };
---
kind: Policy
id: no-web-for-strict
policy: |
  @reason("the strict agent may not browse")
  forbid(principal == Agent::"strict", action == Action::"call", resource == Tool::"web-search");
"#;

/// What happened in the session before the call.
enum Before {
    Called(&'static str),
    /// An ingested event, as JSON text (kind and attrs; time and agent are filled in).
    Ingested(&'static str),
    Named(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    before: &'static [Before],
    agent: &'static str,
    tool: &'static str,
    args: Value,
    group_total: f64,
    outcome: Outcome,
    /// Every deciding rule must start with one of these, and each must be matched.
    rules: &'static [&'static str],
}

fn gate() -> Gate {
    let registry = Registry::default();
    let plan = registry
        .plan_apply(REGISTRY)
        .unwrap_or_else(|errors| panic!("{errors:?}"));
    let mut registry = registry;
    registry.apply(&plan.changes);
    Gate::compile(&registry).unwrap()
}

#[test]
fn the_gate_decides_each_rule_as_the_table_says() {
    use Before::{Called, Ingested, Named};
    let cases = [
        Case {
            name: "a granted read is allowed",
            before: &[],
            agent: "support",
            tool: "crm-read",
            args: json!({}),
            group_total: 0.0,
            outcome: Outcome::Allow,
            rules: &["grant:support:crm-read"],
        },
        Case {
            name: "no grant",
            before: &[],
            agent: "support",
            tool: "payment",
            args: json!({"amount": 5}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["no-grant"],
        },
        Case {
            name: "unknown agent",
            before: &[],
            agent: "ghost",
            tool: "crm-read",
            args: json!({}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["unknown-agent"],
        },
        Case {
            name: "unknown tool",
            before: &[],
            agent: "support",
            tool: "teleport",
            args: json!({}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["unknown-tool"],
        },
        Case {
            name: "suspended agent (kill switch)",
            before: &[],
            agent: "frozen",
            tool: "crm-read",
            args: json!({}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["agent-status"],
        },
        Case {
            name: "email in a clean session is allowed",
            before: &[],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "someone@outside.example"}),
            group_total: 0.0,
            outcome: Outcome::Allow,
            rules: &["grant:support:send-email"],
        },
        Case {
            name: "taint by sensitivity: confidential read, then email out",
            before: &[Called("crm-read")],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "someone@outside.example"}),
            group_total: 0.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["taint:external:support"],
        },
        Case {
            name: "taint by an ingested data access event",
            before: &[Ingested(
                r#"{"kind": "data_access", "attrs": {"source": "customers"}}"#,
            )],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "x@outside.example"}),
            group_total: 0.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["taint:external:support"],
        },
        Case {
            name: "an internal read does not taint",
            before: &[Called("kb-search")],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "x@outside.example"}),
            group_total: 0.0,
            outcome: Outcome::Allow,
            rules: &["grant:support:send-email"],
        },
        Case {
            name: "a recipient the user named is allowed",
            before: &[Named(&["Client@Example.com"]), Called("crm-read")],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "client@example.com"}),
            group_total: 0.0,
            outcome: Outcome::Allow,
            rules: &["grant:support:send-email"],
        },
        Case {
            name: "recipients named after the session started do not count",
            before: &[Called("crm-read"), Named(&["attacker@evil.example"])],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "attacker@evil.example"}),
            group_total: 0.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["taint:external:support"],
        },
        Case {
            name: "taint by untrusted content, then email out",
            before: &[Called("web-search")],
            agent: "support",
            tool: "send-email",
            args: json!({"to": "x@outside.example"}),
            group_total: 0.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["taint:external:support"],
        },
        Case {
            name: "irreversible after untrusted content",
            before: &[Ingested(
                r#"{"kind": "tool_result", "attrs": {"tool": "web-search"}}"#,
            )],
            agent: "support",
            tool: "refund",
            args: json!({"amount": 20}),
            group_total: 0.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["taint:irreversible:support", "taint:external:support"],
        },
        Case {
            name: "an agent configured to deny outright",
            before: &[Called("crm-read")],
            agent: "strict",
            tool: "send-email",
            args: json!({"to": "x@outside.example"}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["taint:external:strict"],
        },
        Case {
            name: "a user policy requiring approval",
            before: &[],
            agent: "support",
            tool: "refund",
            args: json!({"amount": 600}),
            group_total: 0.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["policy:big-refunds"],
        },
        Case {
            name: "a user policy below its threshold",
            before: &[],
            agent: "support",
            tool: "refund",
            args: json!({"amount": 60}),
            group_total: 0.0,
            outcome: Outcome::Allow,
            rules: &["grant:support:refund"],
        },
        Case {
            name: "a user deny policy beats a grant",
            before: &[],
            agent: "strict",
            tool: "web-search",
            args: json!({}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["policy:no-web-for-strict"],
        },
        Case {
            name: "a data source the agent is not granted",
            before: &[],
            agent: "support",
            tool: "crm-read",
            args: json!({"source": "credit-reports"}),
            group_total: 0.0,
            outcome: Outcome::Deny,
            rules: &["data-sources:support"],
        },
        Case {
            name: "group limit: within the combined authority",
            before: &[],
            agent: "payer-a",
            tool: "payment",
            args: json!({"amount": 3000}),
            group_total: 5000.0,
            outcome: Outcome::Allow,
            rules: &["grant:payer-a:payment"],
        },
        Case {
            name: "group limit: the call would exceed it",
            before: &[],
            agent: "payer-a",
            tool: "payment",
            args: json!({"amount": 3000}),
            group_total: 8000.0,
            outcome: Outcome::ApprovalRequired,
            rules: &["group-limit:payments-group:daily"],
        },
    ];
    let gate = gate();
    let mut failures = Vec::new();
    for case in &cases {
        let mut session = SessionState::default();
        for step in case.before {
            match step {
                Called(tool) => session.observe_call(gate.registry(), tool),
                Ingested(partial) => {
                    let mut value: Value = serde_json::from_str(partial).unwrap();
                    value["time"] = json!("2026-11-26T09:30:00Z");
                    value["agent"] = json!(case.agent);
                    session.observe_event(gate.registry(), &Event::from_json(0, value).unwrap());
                }
                Named(recipients) => {
                    session.name_recipients(recipients.iter().copied());
                }
            }
        }
        let request = CallRequest {
            agent: case.agent,
            tool: case.tool,
            args: &case.args,
            session: &session,
        };
        let total = case.group_total;
        let decision = gate.decide(&request, &move |_: &str, _: &str, _: u32| total);
        // Calls no user policy reaches are decided natively; Cedar, given every policy, must agree.
        let in_cedar = gate.decide_in_cedar(&request, &move |_: &str, _: &str, _: u32| total);
        if crate::provenance::comparable(&decision) != crate::provenance::comparable(&in_cedar) {
            failures.push(format!(
                "{}: decided {decision:?}, but in Cedar {in_cedar:?}",
                case.name
            ));
        }
        let rules: Vec<&str> = decision
            .reasons
            .iter()
            .map(|reason| reason.rule.as_str())
            .collect();
        let rules_match =
            rules.len() == case.rules.len() && case.rules.iter().all(|rule| rules.contains(rule));
        if decision.outcome != case.outcome || !rules_match {
            failures.push(format!(
                "{}: expected {:?} by {:?}, got {:?} by {:?} ({:?})",
                case.name, case.outcome, case.rules, decision.outcome, rules, decision.reasons
            ));
        }
        assert!(
            decision.reasons.iter().all(|reason| !reason.text.is_empty()),
            "{}: empty reason",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn reasons_explain_the_taint_in_words() {
    let gate = gate();
    let mut session = SessionState::default();
    session.observe_call(gate.registry(), "crm-read");
    let args = json!({"to": "someone@outside.example"});
    let decision = gate.decide(
        &CallRequest {
            agent: "support",
            tool: "send-email",
            args: &args,
            session: &session,
        },
        &|_: &str, _: &str, _: u32| 0.0,
    );
    expect_test::expect!["the session has read confidential data; tool `send-email` sends data outside the organisation to `someone@outside.example`, which the user did not name and no trusted data showed"]
        .assert_eq(&decision.reasons[0].text);
}

#[test]
fn a_policy_that_fails_validation_is_refused_with_cedars_diagnostic() {
    let manifest = "kind: Policy\nid: broken\npolicy: |\n  permit(principal, action == Action::\"call\", resource) when { resource.colour == \"red\" };\n";
    let errors = Registry::default().plan_apply(manifest).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(
        text.starts_with("document 1 (Policy broken), field `policy`: does not validate"),
        "{text}"
    );
    assert!(
        text.contains("colour"),
        "Cedar's diagnostic names the attribute: {text}"
    );

    let unparsable = "kind: Policy\nid: garbage\npolicy: allow everything please\n";
    let errors = Registry::default().plan_apply(unparsable).unwrap_err();
    assert!(errors[0].to_string().contains("not a Cedar policy"), "{errors:?}");
}
