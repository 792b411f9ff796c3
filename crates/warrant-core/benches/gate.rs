//! Policy decisions in process, as the policy set grows: 20, 200 and 2,000 policies (budget at 200: p99 ≤ 20 µs).
//! Also the principal check each agent request adds (`may_act_for`).
//! Run with `cargo bench -p warrant-core --bench gate`.
//!
//! The registry has one agent per four grants (so N policies are mostly N grant permits, plus each agent's
//! built-in taint and data-source rules) and one user policy per 20 grants, half of them naming one agent
//! and half unscoped (those reach every agent's set). Decisions are on a tainted session, so the taint rules'
//! conditions are evaluated, not skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Write;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use warrant_core::gate::{CallRequest, Gate, SessionState};
use warrant_core::identity::{Principal, PrincipalKind};
use warrant_core::registry::Registry;
use warrant_core::role::Role;

fn registry(policies: usize) -> Registry {
    let tools = 40;
    let mut text = String::new();
    for tool in 0..tools {
        let egress = if tool % 2 == 0 { "external" } else { "internal" };
        let _ = write!(
            text,
            "kind: Tool\nid: tool-{tool}\naccess: write\negress: {egress}\nrecipient_arg: to\namount_arg: amount\n---\n"
        );
    }
    let agents = (policies / 4).max(1);
    for agent in 0..agents {
        let _ = write!(
            text,
            "kind: Agent\nid: agent-{agent}\npurpose: bench\nowner: o\nrisk_class: high\ndecision_scope: execute\noversight: human-on-the-loop\ntools:\n"
        );
        for grant in 0..4 {
            let _ = writeln!(
                text,
                "  - {{tool: tool-{}, access: write, approved_by: x}}",
                (agent + grant * 7) % tools
            );
        }
        text.push_str("---\n");
    }
    for policy in 0..(policies / 20).max(1) {
        let principal = if policy % 2 == 0 {
            format!("principal == Agent::\"agent-{}\"", policy % agents)
        } else {
            "principal".into()
        };
        let _ = write!(
            text,
            "kind: Policy\nid: user-{policy}\npolicy: |\n  @outcome(\"approval_required\")\n  forbid({principal}, action == Action::\"call\", resource == Tool::\"tool-{}\") when {{ context has amount && context.amount > {} }};\n---\n",
            policy % tools,
            1000 + policy
        );
    }
    let mut registry = Registry::default();
    let plan = registry
        .plan_apply(&text)
        .unwrap_or_else(|errors| panic!("{:?}", errors.first()));
    registry.apply(&plan.changes);
    registry
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for policies in [20, 200, 2000] {
        let registry = registry(policies);
        let gate = Gate::compile(&registry).unwrap();
        let session = SessionState {
            untrusted_from: Some("web".into()),
            ..SessionState::default()
        };
        let args = json!({"to": "someone@example.org", "amount": 50});
        let agents = (policies / 4).max(1);
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(policies), &policies, |b, _| {
            b.iter(|| {
                next = (next + 1) % agents;
                let agent = format!("agent-{next}");
                let tool = format!("tool-{}", next % 40);
                gate.decide(
                    &CallRequest {
                        agent: &agent,
                        tool: &tool,
                        args: &args,
                        session: &session,
                    },
                    &|_: &str, _: &str, _: u32| 0.0,
                )
            })
        });
    }
    group.finish();
}

/// The principal check every agent request adds before the gate: may this token act for the agent it names?
/// A token bound to one agent, and an orchestrator's bound to 1,000.
fn principal_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("may_act_for");
    for bound in [1usize, 1000] {
        let principal = Principal {
            id: "tok_0123456789abcdef".into(),
            kind: PrincipalKind::Token,
            name: "orchestrator".into(),
            role: Role::Agent,
            agents: (0..bound).map(|agent| format!("agent-{agent}")).collect(),
            person: "orchestrator".into(),
            expires: None,
        };
        let asked = format!("agent-{}", bound / 2);
        group.bench_with_input(BenchmarkId::from_parameter(bound), &bound, |b, _| {
            b.iter(|| std::hint::black_box(principal.may_act_for(std::hint::black_box(&asked))))
        });
    }
    group.finish();
}

criterion_group! {
    name = gate;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(4));
    targets = decisions, principal_check
}
criterion_main!(gate);
