//! Decision trails: the path of one decision rebuilt from the log as a tree, one node per step.
//!
//! The store gathers the events (a trace, the traces of a session, and the traces linked to them); this module
//! arranges them. Where a node hangs:
//! - events of one span (a tool call, its data access and its result) hang under the span's main event;
//! - a span hangs under the main event of its parent span, in the same trace;
//! - a span whose trace was started from another trace (a span link, `attrs.link`) hangs under the span it
//!   links to, so agent B's run sits under agent A's call that started it;
//! - an event that names only a parent span (a policy decision asked inside a tool call) hangs under that span;
//! - an approval hangs under the policy decision that asked for it (`attrs.requested_seq`);
//! - an event whose parent never arrived hangs under its trace's root, or at the top.
//!
//! Children are in time order (then log order). The arrangement never loops: a parent chain that comes back on
//! itself (only forged ids can do that) is cut and the event placed at the top.

use std::collections::HashMap;
use warrant_log::Seq;

use serde_json::{Map, Value};

/// An event as the store returns it for a trail: the committed body and the clear content (where not erased).
#[derive(Debug, Clone, PartialEq)]
pub struct TrailEvent {
    pub seq: Seq,
    pub body: Value,
    pub content: Map<String, Value>,
}

/// One step of a trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub seq: Seq,
    pub kind: String,
    pub time: String,
    pub agent: Option<String>,
    /// Who wrote the record: the principal's name (a token, a workload, a person, or `warrant:…`).
    pub by: Option<String>,
    /// One line saying what happened, for people.
    pub summary: String,
    pub latency_ms: Option<f64>,
    pub cost_usd: Option<f64>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attrs: Map<String, Value>,
    /// Clear content; a field erased since is absent (its digest stays in the log).
    pub content: Map<String, Value>,
    pub children: Vec<Node>,
}

/// Totals over a trail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub events: usize,
    pub agents: Vec<String>,
    pub traces: Vec<String>,
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Decisions as `name = outcome`, in order.
    pub decisions: Vec<String>,
    /// Outcomes as `name: status`, in order.
    pub outcomes: Vec<String>,
    pub policy_decisions: usize,
}

/// Arrange `events` into trees, roots in time order.
pub fn build(mut events: Vec<TrailEvent>) -> Vec<Node> {
    // Times are compared as instants: their text differs in sub-second precision (`09:00:02Z` is earlier
    // than `09:00:02.5Z` but sorts after it as text).
    events.sort_by_cached_key(|event| {
        let time = chrono::DateTime::parse_from_rfc3339(text(&event.body, "time")).ok();
        (time, event.seq)
    });
    let parents = parents(&events);
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    let mut roots = Vec::new();
    for (index, parent) in parents.iter().enumerate() {
        match parent.and_then(|parent| children.get_mut(parent)) {
            Some(siblings) => siblings.push(index),
            None => roots.push(index),
        }
    }
    let mut slots: Vec<Option<TrailEvent>> = events.into_iter().map(Some).collect();
    roots
        .into_iter()
        .filter_map(|root| assemble(root, &mut slots, &children, None))
        .collect()
}

/// Totals over the trees.
pub fn summarize(roots: &[Node]) -> Summary {
    let mut summary = Summary::default();
    let mut stack: Vec<&Node> = roots.iter().rev().collect();
    while let Some(node) = stack.pop() {
        summary.events += 1;
        if let Some(agent) = &node.agent
            && !summary.agents.contains(agent)
        {
            summary.agents.push(agent.clone());
        }
        if let Some(trace) = &node.trace_id
            && !summary.traces.contains(trace)
        {
            summary.traces.push(trace.clone());
        }
        summary.cost_usd += node.cost_usd.unwrap_or(0.0);
        let tokens = |name: &str| node.attrs.get(name).and_then(Value::as_u64).unwrap_or(0);
        summary.input_tokens += tokens("input_tokens");
        summary.output_tokens += tokens("output_tokens");
        let attr = |name: &str| node.attrs.get(name).and_then(Value::as_str).unwrap_or("?");
        match node.kind.as_str() {
            "decision" => summary
                .decisions
                .push(format!("{} = {}", attr("name"), attr("outcome"))),
            "outcome" => summary
                .outcomes
                .push(format!("{}: {}", attr("name"), attr("status"))),
            "policy_decision" => summary.policy_decisions += 1,
            _ => {}
        }
        stack.extend(node.children.iter().rev());
    }
    summary.cost_usd = (summary.cost_usd * 1_000_000.0).round() / 1_000_000.0;
    summary
}

/// Build the node of `index` and its subtree (at most [`MAX_DEPTH`] deep). A step that names no agent shows
/// its parent's: a span exported before its agent's invocation arrived still reads as that agent's.
fn assemble(
    index: usize,
    slots: &mut [Option<TrailEvent>],
    children: &[Vec<usize>],
    agent: Option<&str>,
) -> Option<Node> {
    let event = slots.get_mut(index)?.take()?;
    let mut node = node(event);
    if node.agent.is_none() {
        node.agent = agent.map(str::to_owned);
    }
    let inherited = node.agent.clone();
    for &child in children.get(index).map(Vec::as_slice).unwrap_or_default() {
        if let Some(child) = assemble(child, slots, children, inherited.as_deref()) {
            node.children.push(child);
        }
    }
    Some(node)
}

/// The parent of each event (an index into `events`), or `None` for a root.
fn parents(events: &[TrailEvent]) -> Vec<Option<usize>> {
    // The main event of each span: the first of the most telling kind.
    let mut main: HashMap<(String, String), usize> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        let (Some(trace), Some(span)) = (opt(&event.body, "trace_id"), opt(&event.body, "span_id")) else {
            continue;
        };
        let key = (trace.to_owned(), span.to_owned());
        let better = main
            .get(&key)
            .and_then(|&current| events.get(current))
            .is_none_or(|current| rank(event) < rank(current));
        if better {
            main.insert(key, index);
        }
    }
    let by_seq: HashMap<Seq, usize> = events
        .iter()
        .enumerate()
        .map(|(index, event)| (event.seq, index))
        .collect();
    // A trace's root: the main event of a span without a parent span.
    let mut trace_roots: HashMap<&str, usize> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        if let Some(trace) = opt(&event.body, "trace_id")
            && opt(&event.body, "span_id").is_some()
            && opt(&event.body, "parent_span_id").is_none()
            && is_main(&main, event, index)
        {
            trace_roots.entry(trace).or_insert(index);
        }
    }
    let span_main = |trace: &str, span: &str| main.get(&(trace.to_owned(), span.to_owned())).copied();
    let mut parents: Vec<Option<usize>> = events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let body = &event.body;
            let trace = opt(body, "trace_id");
            if let (Some(trace), Some(span)) = (trace, opt(body, "span_id"))
                && let Some(owner) = span_main(trace, span)
                && owner != index
            {
                return Some(owner);
            }
            if let Some(requested) = body.pointer("/attrs/requested_seq").and_then(Value::as_u64)
                && let Some(&asked) = by_seq.get(&Seq(requested))
            {
                return Some(asked);
            }
            if let Some(trace) = trace
                && let Some(parent) = opt(body, "parent_span_id")
                && let Some(found) = span_main(trace, parent)
            {
                return Some(found);
            }
            // A trace started from another: under the span it links to, even when its own parent span (an
            // HTTP or queue span, not evidence) was never stored.
            let link = |name: &str| {
                body.pointer(&format!("/attrs/link/{name}"))
                    .and_then(Value::as_str)
            };
            if let (Some(trace), Some(span)) = (link("trace_id"), link("span_id"))
                && let Some(found) = span_main(trace, span)
            {
                return Some(found);
            }
            // A parent that never arrived: hang under the trace's root rather than float loose.
            match (trace, opt(body, "parent_span_id")) {
                (Some(trace), Some(_)) => trace_roots.get(trace).copied().filter(|root| *root != index),
                _ => None,
            }
        })
        .collect();
    break_cycles(&mut parents);
    cap_depth(&mut parents);
    parents
}

/// Trails deeper than this are folded: a step further down hangs at this depth (an agent calling itself in
/// a loop would otherwise make a tree thousands deep, which no reader follows and no stack should walk).
pub const MAX_DEPTH: usize = 48;

/// Re-hang every event deeper than [`MAX_DEPTH`] under its ancestor at depth `MAX_DEPTH - 1`. Linear: each
/// event's depth is computed once, from its parent's. Parents have no cycles here.
fn cap_depth(parents: &mut [Option<usize>]) {
    const UNKNOWN: usize = usize::MAX;
    let mut depth = vec![UNKNOWN; parents.len()];
    // The ancestor at depth MAX_DEPTH - 1 of each event that deep or deeper.
    let mut anchor: Vec<Option<usize>> = vec![None; parents.len()];
    for start in 0..parents.len() {
        let mut chain = Vec::new();
        let mut at = start;
        while depth.get(at) == Some(&UNKNOWN) {
            chain.push(at);
            match parents.get(at).copied().flatten() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        for &node in chain.iter().rev() {
            let parent = parents.get(node).copied().flatten();
            let (mut level, mut above) = match parent {
                Some(parent) => (
                    depth.get(parent).copied().unwrap_or(0).saturating_add(1),
                    anchor.get(parent).copied().flatten(),
                ),
                None => (0, None),
            };
            if level > MAX_DEPTH
                && let (Some(slot), Some(ancestor)) = (parents.get_mut(node), above)
            {
                *slot = Some(ancestor);
                level = MAX_DEPTH;
            }
            if level == MAX_DEPTH - 1 {
                above = Some(node);
            }
            if let (Some(slot), Some(anchor_slot)) = (depth.get_mut(node), anchor.get_mut(node)) {
                *slot = level;
                *anchor_slot = above;
            }
        }
    }
}

fn is_main(main: &HashMap<(String, String), usize>, event: &TrailEvent, index: usize) -> bool {
    match (opt(&event.body, "trace_id"), opt(&event.body, "span_id")) {
        (Some(trace), Some(span)) => main.get(&(trace.to_owned(), span.to_owned())) == Some(&index),
        _ => false,
    }
}

/// Detach any event whose parent chain returns to itself.
fn break_cycles(parents: &mut [Option<usize>]) {
    // 0 = not visited, 1 = on the current chain, 2 = known to reach a root.
    let mut state = vec![0u8; parents.len()];
    for start in 0..parents.len() {
        let mut chain = Vec::new();
        let mut at = start;
        loop {
            match state.get(at).copied() {
                Some(2) | None => break,
                Some(1) => {
                    // `at` closes a loop: cut its link to its parent.
                    if let Some(parent) = parents.get_mut(at) {
                        *parent = None;
                    }
                    break;
                }
                _ => {}
            }
            if let Some(slot) = state.get_mut(at) {
                *slot = 1;
            }
            chain.push(at);
            match parents.get(at).copied().flatten() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        for index in chain {
            if let Some(slot) = state.get_mut(index) {
                *slot = 2;
            }
        }
    }
}

/// Which event of a span stands for it: the call itself before what came of it.
fn rank(event: &TrailEvent) -> u8 {
    match text(&event.body, "kind") {
        "invocation" => 0,
        "llm_call" => 1,
        "tool_call" => 2,
        "data_access" => 3,
        "decision" => 4,
        "policy_decision" => 5,
        "tool_result" => 6,
        "outcome" => 7,
        _ => 8,
    }
}

fn node(event: TrailEvent) -> Node {
    let TrailEvent { seq, body, content } = event;
    let attrs = match body.get("attrs") {
        Some(Value::Object(attrs)) => attrs.clone(),
        _ => Map::new(),
    };
    let number = |name: &str| attrs.get(name).and_then(Value::as_f64);
    Node {
        seq,
        kind: text(&body, "kind").to_owned(),
        time: text(&body, "time").to_owned(),
        agent: opt(&body, "agent").map(str::to_owned),
        by: body
            .pointer("/principal/name")
            .and_then(Value::as_str)
            .map(str::to_owned),
        summary: describe(text(&body, "kind"), opt(&body, "agent"), &attrs, &content),
        latency_ms: number("latency_ms"),
        cost_usd: number("cost_usd"),
        trace_id: opt(&body, "trace_id").map(str::to_owned),
        span_id: opt(&body, "span_id").map(str::to_owned),
        attrs,
        content,
        children: Vec::new(),
    }
}

/// One line per step, written for a reader scanning the tree.
fn describe(
    kind: &str,
    agent: Option<&str>,
    attrs: &Map<String, Value>,
    content: &Map<String, Value>,
) -> String {
    let attr = |name: &str| attrs.get(name).map(short).unwrap_or_default();
    let with = |label: &str, name: &str| {
        attrs
            .get(name)
            .map(|value| format!(" {label}{}", short(value)))
            .unwrap_or_default()
    };
    match kind {
        "invocation" => {
            let what = attrs
                .get("workflow")
                .map(short)
                .or_else(|| agent.map(str::to_owned))
                .unwrap_or_else(|| attr("span_name"));
            format!("invoke {what}")
        }
        "llm_call" => {
            let tokens = match (attrs.get("input_tokens"), attrs.get("output_tokens")) {
                (None, None) => String::new(),
                (input, output) => format!(
                    " {}→{} tokens",
                    input.map(short).unwrap_or_else(|| "?".into()),
                    output.map(short).unwrap_or_else(|| "?".into())
                ),
            };
            format!("llm {}{tokens}", attr("model"))
        }
        "tool_call" => {
            let args = content.get("args").map(short).unwrap_or_default();
            format!("tool {}({args})", attr("tool"))
        }
        "tool_result" => {
            let result = content.get("result").map(short).unwrap_or_default();
            format!("result{} {result}", with("", "status"))
                .trim_end()
                .to_owned()
        }
        "data_access" => format!(
            "data {}{}{}",
            attr("source"),
            with("sensitivity=", "sensitivity"),
            with("records=", "records")
        ),
        "decision" => {
            let segment = match attrs.get("segment") {
                Some(Value::Object(segment)) if !segment.is_empty() => {
                    let parts: Vec<String> = segment
                        .iter()
                        .map(|(key, value)| format!("{key}={}", short(value)))
                        .collect();
                    format!(" [{}]", parts.join(", "))
                }
                _ => String::new(),
            };
            format!("decision {} = {}{segment}", attr("name"), attr("outcome"))
        }
        "outcome" => format!("outcome {}{}", attr("name"), with("", "status")),
        "policy_decision" => format!("policy {} for {}", attr("decision"), attr("tool")),
        "approval" => format!("approval {} by {}", attr("decision"), attr("approver")),
        "escalation" | "override" | "alert" | "incident" | "review" | "change" | "erasure" | "session" => {
            format!("{kind}{}{}", with("", "name"), with("", "reason"))
        }
        other => other.to_owned(),
    }
}

/// A value in at most 60 characters.
fn short(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= 60 {
        text
    } else {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    }
}

fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    opt(body, name).unwrap_or_default()
}

fn opt<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {

    use serde_json::{Map, Value, json};

    use super::{Node, TrailEvent, build, summarize};

    const T1: &str = "0af7651916cd43dd8448eb211c80319c";
    const T2: &str = "1af7651916cd43dd8448eb211c80319c";

    fn event(seq: u64, body: Value) -> TrailEvent {
        TrailEvent {
            seq: warrant_log::Seq(seq),
            body,
            content: Map::new(),
        }
    }

    /// The tree as indented `seq kind` lines.
    fn shape(roots: &[Node]) -> String {
        fn walk(node: &Node, depth: usize, out: &mut String) {
            out.push_str(&format!("{}{} {}\n", "  ".repeat(depth), node.seq, node.kind));
            for child in &node.children {
                walk(child, depth + 1, out);
            }
        }
        let mut out = String::new();
        for root in roots {
            walk(root, 0, &mut out);
        }
        out
    }

    #[test]
    fn spans_nest_and_a_linked_trace_hangs_under_the_call_that_started_it() {
        let events = vec![
            // Arrival order is not time order: children came first.
            event(
                0,
                json!({"kind": "tool_call", "time": "2026-11-26T09:00:02Z", "trace_id": T1, "span_id": "00000000000000b2", "parent_span_id": "00000000000000a1", "attrs": {"tool": "start-kyc"}}),
            ),
            event(
                1,
                json!({"kind": "invocation", "time": "2026-11-26T09:00:05Z", "agent": "notify", "trace_id": T2, "span_id": "00000000000000c1", "attrs": {"link": {"trace_id": T1, "span_id": "00000000000000b2"}}}),
            ),
            event(
                2,
                json!({"kind": "invocation", "time": "2026-11-26T09:00:00Z", "agent": "onboarding", "trace_id": T1, "span_id": "00000000000000a1", "attrs": {}}),
            ),
            event(
                3,
                json!({"kind": "tool_result", "time": "2026-11-26T09:00:03Z", "trace_id": T1, "span_id": "00000000000000b2", "attrs": {}}),
            ),
            event(
                4,
                json!({"kind": "policy_decision", "time": "2026-11-26T09:00:02.5Z", "trace_id": T1, "parent_span_id": "00000000000000b2", "attrs": {"decision": "approval_required", "tool": "start-kyc"}}),
            ),
            event(
                5,
                json!({"kind": "approval", "time": "2026-11-26T09:00:02.7Z", "trace_id": T1, "attrs": {"requested_seq": 4, "decision": "approved"}}),
            ),
            event(
                6,
                json!({"kind": "outcome", "time": "2026-11-26T09:00:09Z", "trace_id": T1, "span_id": "00000000000000a1", "attrs": {"name": "account_opened", "status": "succeeded"}}),
            ),
            // Its parent never arrived: it hangs under the trace's root.
            event(
                7,
                json!({"kind": "llm_call", "time": "2026-11-26T09:00:01Z", "trace_id": T1, "span_id": "00000000000000d1", "parent_span_id": "00000000000000ff", "attrs": {"cost_usd": 0.25, "input_tokens": 10}}),
            ),
        ];
        let roots = build(events);
        expect_test::expect![[r#"
            2 invocation
              7 llm_call
              0 tool_call
                4 policy_decision
                  5 approval
                3 tool_result
                1 invocation
              6 outcome
        "#]]
        .assert_eq(&shape(&roots));
        let summary = summarize(&roots);
        assert_eq!(summary.events, 8);
        assert_eq!(summary.agents, vec!["onboarding", "notify"]);
        assert_eq!(summary.traces, vec![T1, T2]);
        assert_eq!(summary.cost_usd, 0.25);
        assert_eq!(summary.outcomes, vec!["account_opened: succeeded"]);
    }

    #[test]
    fn a_linked_trace_whose_parent_is_missing_still_hangs_under_its_link() {
        let events = vec![
            event(
                0,
                json!({"kind": "tool_call", "time": "2026-11-26T09:00:01Z", "trace_id": T1, "span_id": "00000000000000b2", "attrs": {}}),
            ),
            // Its parent (a queue consumer span) was not evidence and was never stored.
            event(
                1,
                json!({"kind": "invocation", "time": "2026-11-26T09:00:02Z", "trace_id": T2, "span_id": "00000000000000c1", "parent_span_id": "00000000000000c0", "attrs": {"link": {"trace_id": T1, "span_id": "00000000000000b2"}}}),
            ),
        ];
        expect_test::expect![[r#"
            0 tool_call
              1 invocation
        "#]]
        .assert_eq(&shape(&build(events)));
    }

    #[test]
    fn a_deep_chain_is_folded_at_the_depth_limit() {
        let events: Vec<TrailEvent> = (0..500u64)
            .map(|n| {
                let parent = if n == 0 {
                    Value::Null
                } else {
                    json!(format!("{:016x}", n))
                };
                event(
                    n,
                    json!({"kind": "invocation", "time": "2026-11-26T09:00:00Z", "trace_id": T1,
                    "span_id": format!("{:016x}", n + 1), "parent_span_id": parent, "attrs": {}}),
                )
            })
            .collect();
        let roots = build(events);
        fn depth(node: &Node) -> usize {
            1 + node.children.iter().map(depth).max().unwrap_or(0)
        }
        assert_eq!(roots.len(), 1);
        assert_eq!(depth(&roots[0]), super::MAX_DEPTH + 1);
        assert_eq!(summarize(&roots).events, 500);
    }

    #[test]
    fn forged_parent_loops_are_cut() {
        let events = vec![
            event(
                0,
                json!({"kind": "invocation", "time": "2026-11-26T09:00:00Z", "trace_id": T1, "span_id": "00000000000000a1", "parent_span_id": "00000000000000a2", "attrs": {}}),
            ),
            event(
                1,
                json!({"kind": "invocation", "time": "2026-11-26T09:00:01Z", "trace_id": T1, "span_id": "00000000000000a2", "parent_span_id": "00000000000000a1", "attrs": {}}),
            ),
        ];
        let roots = build(events);
        assert_eq!(summarize(&roots).events, 2, "{}", shape(&roots));
    }

    #[test]
    fn summaries_read_well() {
        let mut call = event(
            0,
            json!({"kind": "tool_call", "time": "2026-11-26T09:00:00Z", "attrs": {"tool": "lookup-crm"}}),
        );
        call.content.insert("args".into(), json!({"client_id": "C-1042"}));
        let decision = event(
            1,
            json!({"kind": "decision", "time": "2026-11-26T09:00:01Z", "attrs": {"name": "verification_path", "outcome": "enhanced", "segment": {"client_value": "high"}}}),
        );
        let data = event(
            2,
            json!({"kind": "data_access", "time": "2026-11-26T09:00:02Z", "attrs": {"source": "crm", "sensitivity": "confidential", "records": 1}}),
        );
        let roots = build(vec![call, decision, data]);
        let lines: Vec<&str> = roots.iter().map(|node| node.summary.as_str()).collect();
        assert_eq!(
            lines,
            vec![
                r#"tool lookup-crm({"client_id":"C-1042"})"#,
                "decision verification_path = enhanced [client_value=high]",
                "data crm sensitivity=confidential records=1",
            ]
        );
    }
}
