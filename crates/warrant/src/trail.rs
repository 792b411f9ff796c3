//! `warrant trail ID`: a decision path as a tree on the terminal.

use serde_json::Value;

/// The trail answer of `GET /v1/trails/{id}` as text: a header with the totals, then one line per step.
pub fn render(answer: &Value) -> String {
    let text = |pointer: &str| {
        answer
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let list = |pointer: &str| -> Vec<String> {
        answer
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let number = |pointer: &str| answer.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0);
    let mut out = format!(
        "trail {} ({} {}): {} steps, {} trace(s), agents {}\n",
        text("/id"),
        text("/resolved/kind"),
        answer.pointer("/resolved/value").map(plain).unwrap_or_default(),
        number("/summary/events"),
        list("/traces").len(),
        join_or_none(&list("/summary/agents")),
    );
    out.push_str(&format!(
        "cost ${:.6}, tokens {} in / {} out, {} policy decision(s)\n",
        number("/summary/cost_usd"),
        number("/summary/input_tokens"),
        number("/summary/output_tokens"),
        number("/summary/policy_decisions"),
    ));
    out.push_str(&format!(
        "decisions: {}\n",
        join_or_none(&list("/summary/decisions"))
    ));
    out.push_str(&format!(
        "outcomes:  {}\n",
        join_or_none(&list("/summary/outcomes"))
    ));
    match answer.pointer("/checkpoint/size").and_then(Value::as_u64) {
        Some(size) => out.push_str(&format!(
            "proofs: every step marked ✓ is in checkpoint {size} (`warrant log proof --seq N`)\n"
        )),
        None => out.push_str("proofs: no checkpoint yet\n"),
    }
    if answer.get("truncated").and_then(Value::as_bool) == Some(true) {
        out.push_str("note: the cascade was too large and was cut\n");
    }
    out.push('\n');
    let nodes = answer
        .get("nodes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for node in nodes {
        line(node, "", "", None, &mut out);
    }
    out
}

fn line(node: &Value, lead: &str, rest: &str, parent_agent: Option<&str>, out: &mut String) {
    let field = |name: &str| node.get(name).and_then(Value::as_str);
    // The clock to the millisecond; the date is the same for nearly every step of a trail.
    let time: String = field("time")
        .and_then(|time| time.split_once('T'))
        .map(|(_, clock)| clock.trim_end_matches('Z').chars().take(12).collect())
        .unwrap_or_default();
    let mut facts = Vec::new();
    let agent = field("agent");
    if let Some(agent) = agent.filter(|agent| Some(*agent) != parent_agent) {
        facts.push(format!("[{agent}]"));
    }
    if let Some(latency) = node.get("latency_ms").and_then(Value::as_f64) {
        facts.push(format!("{latency} ms"));
    }
    if let Some(cost) = node.get("cost_usd").and_then(Value::as_f64) {
        facts.push(format!("${cost}"));
    }
    let proved = if node.get("proof").is_some_and(Value::is_string) {
        " ✓"
    } else {
        ""
    };
    facts.push(format!(
        "#{}{proved}",
        node.get("seq").and_then(Value::as_u64).unwrap_or_default()
    ));
    out.push_str(&format!(
        "{lead}{time}  {}  {}\n",
        field("summary").unwrap_or_default(),
        facts.join(" ")
    ));
    let children = node
        .get("children")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (position, child) in children.iter().enumerate() {
        let last = position + 1 == children.len();
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
