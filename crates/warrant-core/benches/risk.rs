//! Risk analysis over a large registry: 1,000 agents and 10,000 tools (budget from the risk issue: under a
//! second). Run with `cargo bench -p warrant-core --bench risk`.
//!
//! The registry is shaped like a large organisation, not a best case: 500 data sources (a fifth of them
//! confidential or restricted); tools that read, write and execute, a tenth with external egress, a tenth
//! irreversible, a twentieth returning untrusted content and some moving amounts; each agent holds 12 grants
//! and 3 data sources; agents come in teams of 10 under one owner and trigger the next agent of their team,
//! so chains are up to 10 deep; one team in ten has a group limit. The observed side has a call for half the
//! grants, so the least-privilege and declared-vs-observed checks run too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Write;

use criterion::{Criterion, criterion_group, criterion_main};
use warrant_core::registry::Registry;
use warrant_core::risk::{AccessGraph, Observed, analyze, classify};

const AGENTS: usize = 1_000;
const TOOLS: usize = 10_000;
const SOURCES: usize = 500;

fn registry() -> Registry {
    let mut text = String::new();
    for source in 0..SOURCES {
        let sensitivity = [
            "public",
            "internal",
            "internal",
            "internal",
            "confidential",
            "restricted",
        ][source % 6];
        let _ = write!(
            text,
            "kind: DataSource\nid: ds-{source}\nsensitivity: {sensitivity}\n---\n"
        );
    }
    for tool in 0..TOOLS {
        let access = ["read", "read", "write", "execute"][tool % 4];
        let egress = if tool % 10 == 3 { "external" } else { "internal" };
        let irreversible = tool % 10 == 7;
        let untrusted = tool % 20 == 0;
        let sensitivity = ["internal", "confidential", "public"][tool % 3];
        let _ = write!(
            text,
            "kind: Tool\nid: tool-{tool}\naccess: {access}\negress: {egress}\nirreversible: {irreversible}\nuntrusted_output: {untrusted}\nsensitivity: {sensitivity}\n"
        );
        if tool % 40 == 7 {
            text.push_str("amount_arg: amount\n");
        }
        text.push_str("---\n");
    }
    for team in 0..AGENTS / 10 {
        if team % 10 == 0 {
            let _ = write!(
                text,
                "kind: Group\nid: group-{team}\nlimits:\n  - {{id: daily, max_total: 10000, window_hours: 24}}\n---\n"
            );
        }
    }
    for agent in 0..AGENTS {
        let team = agent / 10;
        let scope = if agent % 3 == 0 { "recommend" } else { "execute" };
        let _ = write!(
            text,
            "kind: Agent\nid: agent-{agent}\npurpose: handles case type {agent}\nowner: owner-{team}\nrisk_class: limited\ndecision_scope: {scope}\noversight: human-on-the-loop\n"
        );
        if team % 10 == 0 {
            let _ = writeln!(text, "group: group-{team}");
        }
        if agent % 10 != 9 {
            let _ = writeln!(text, "downstream: [agent-{}]", agent + 1);
        }
        let _ = writeln!(
            text,
            "data_sources: [ds-{}, ds-{}, ds-{}]",
            agent % SOURCES,
            (agent * 7 + 1) % SOURCES,
            (agent * 13 + 4) % SOURCES
        );
        text.push_str("tools:\n");
        for grant in 0..12 {
            let tool = (agent * 10 + grant * 997) % TOOLS;
            let access = ["read", "read", "write", "execute"][tool % 4];
            let _ = writeln!(
                text,
                "  - {{tool: tool-{tool}, access: {access}, approved_by: ciso}}"
            );
        }
        text.push_str("---\n");
    }
    let mut registry = Registry::default();
    let plan = registry
        .plan_apply(&text)
        .unwrap_or_else(|errors| panic!("{:?}", &errors[..3]));
    registry.apply(&plan.changes);
    registry
}

fn observed(registry: &Registry) -> Observed {
    let mut observed = Observed {
        unused_since_hour: Some(0),
        ..Observed::default()
    };
    for agent in registry.agents() {
        observed.agents.insert(agent.id.clone());
        for grant in agent.tools.iter().step_by(2) {
            observed.calls.push((agent.id.clone(), grant.tool.clone(), 10));
        }
    }
    observed
}

fn bench(criterion: &mut Criterion) {
    let registry = registry();
    assert_eq!(registry.agents().count(), AGENTS);
    let observed = observed(&registry);
    let findings = analyze(&registry, Some(&observed));
    eprintln!(
        "{} findings over {AGENTS} agents and {TOOLS} tools",
        findings.len()
    );
    let mut group = criterion.benchmark_group("risk");
    group.sample_size(10);
    group.bench_function("analyze+classify 1000 agents, 10000 tools", |bench| {
        bench.iter(|| {
            let findings = analyze(&registry, Some(&observed));
            classify(&registry, &findings)
        });
    });
    group.bench_function("graph 1000 agents, 10000 tools", |bench| {
        bench.iter(|| AccessGraph::build(&registry));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
