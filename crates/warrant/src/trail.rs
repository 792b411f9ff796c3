//! `warrant trail ID`: a decision path as a tree on the terminal.

use serde_json::Value;
use warrant_api::trails::{Trail, TrailNode};

/// The trail answer of `GET /v1/trails/{id}` as text: a header with the totals, then one line per step.
pub fn render(trail: &Trail) -> String {
    let summary = &trail.summary;
    let mut out = format!(
        "trail {} ({} {}): {} steps, {} trace(s), agents {}\n",
        trail.id,
        trail.resolved.kind,
        plain(&trail.resolved.value),
        summary.events,
        trail.traces.len(),
        join_or_none(&summary.agents),
    );
    out.push_str(&format!(
        "cost ${:.6}, tokens {} in / {} out, {} policy decision(s)\n",
        summary.cost_usd, summary.input_tokens, summary.output_tokens, summary.policy_decisions,
    ));
    out.push_str(&format!("decisions: {}\n", join_or_none(&summary.decisions)));
    out.push_str(&format!("outcomes:  {}\n", join_or_none(&summary.outcomes)));
    match &trail.checkpoint {
        Some(checkpoint) => out.push_str(&format!(
            "proofs: every step marked ✓ is in checkpoint {} (`warrant log proof --seq N`)\n",
            checkpoint.size
        )),
        None => out.push_str("proofs: no checkpoint yet\n"),
    }
    if trail.truncated {
        out.push_str("note: the cascade was too large and was cut\n");
    }
    out.push('\n');
    for node in &trail.nodes {
        line(node, "", "", None, &mut out);
    }
    out
}

fn line(node: &TrailNode, lead: &str, rest: &str, parent_agent: Option<&str>, out: &mut String) {
    // The clock to the millisecond; the date is the same for nearly every step of a trail.
    let time: String = node
        .time
        .split_once('T')
        .map(|(_, clock)| clock.trim_end_matches('Z').chars().take(12).collect())
        .unwrap_or_default();
    let mut facts = Vec::new();
    let agent = node.agent.as_deref();
    if let Some(agent) = agent.filter(|agent| Some(*agent) != parent_agent) {
        facts.push(format!("[{agent}]"));
    }
    if let Some(latency) = node.latency_ms {
        facts.push(format!("{latency} ms"));
    }
    if let Some(cost) = node.cost_usd {
        facts.push(format!("${cost}"));
    }
    let proved = if node.proof.is_some() { " ✓" } else { "" };
    facts.push(format!("#{}{proved}", node.seq));
    out.push_str(&format!("{lead}{time}  {}  {}\n", node.summary, facts.join(" ")));
    for (position, child) in node.children.iter().enumerate() {
        let last = position + 1 == node.children.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        line(
            child,
            &format!("{rest}{branch}"),
            &format!("{rest}{next}"),
            agent.or(parent_agent),
            out,
        );
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn join_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
