#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

//! The span → event mapping, on requests built with the OTLP wire types.

use serde_json::{Value, json};
use warrant_core::event::{Event, EventKind};
use warrant_core::registry::Registry;
use warrant_otlp::build::{double, int, link, request, span, string};
use warrant_otlp::map::map_request;

const TRACE: [u8; 16] = [0x5b; 16];
const OTHER_TRACE: [u8; 16] = [0x6c; 16];
const START: u64 = 1_795_687_200_000_000_000;

fn registry() -> Registry {
    let mut registry = Registry::default();
    let plan = registry
        .plan_apply(
            "kind: Model\nid: gpt-4.1\ninput_usd_per_million: 2\noutput_usd_per_million: 8\n---\n\
             kind: DataSource\nid: crm\nsensitivity: confidential\n",
        )
        .unwrap();
    registry.apply(&plan.changes);
    registry
}

fn id(n: u8) -> [u8; 8] {
    [0, 0, 0, 0, 0, 0, 0, n]
}

fn ms(n: u64) -> u64 {
    START + n * 1_000_000
}

fn find(events: &[Event], kind: EventKind) -> &Event {
    events
        .iter()
        .find(|event| event.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {events:#?}"))
}

#[test]
fn a_genai_agent_trace_maps_to_evidence_events() {
    let spans = vec![
        // Children first, as batch exporters send them.
        span(
            TRACE,
            id(2),
            Some(id(1)),
            "chat gpt-4.1",
            (ms(1), ms(801)),
            vec![
                string("gen_ai.operation.name", "chat"),
                string("gen_ai.request.model", "gpt-4.1"),
                int("gen_ai.usage.input_tokens", 1200),
                int("gen_ai.usage.output_tokens", 300),
                string(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"Jane Roe"}]}]"#,
                ),
                double("gen_ai.request.temperature", 0.2),
            ],
        ),
        span(
            TRACE,
            id(3),
            Some(id(1)),
            "execute_tool lookup-crm",
            (ms(802), ms(830)),
            vec![
                string("gen_ai.operation.name", "execute_tool"),
                string("gen_ai.tool.name", "lookup-crm"),
                string("gen_ai.tool.call.id", "call_1"),
                string("gen_ai.tool.call.arguments", r#"{"client_id":"C-1042"}"#),
                string("gen_ai.tool.call.result", r#"{"name":"Jane Roe"}"#),
                string("warrant.data.source", "crm"),
                int("warrant.data.records", 1),
            ],
        ),
        span(
            TRACE,
            id(4),
            Some(id(1)),
            "decide",
            (ms(831), ms(832)),
            vec![
                string("warrant.decision.name", "verification_path"),
                string("warrant.decision.outcome", "enhanced"),
                string("warrant.decision.segment.client_value", "high"),
                string("warrant.decision.reason", "assets above 1M EUR"),
            ],
        ),
        // Plain HTTP instrumentation: not evidence.
        span(
            TRACE,
            id(5),
            Some(id(1)),
            "GET /healthz",
            (ms(833), ms(834)),
            vec![string("http.method", "GET")],
        ),
        span(
            TRACE,
            id(1),
            None,
            "invoke_agent onboarding-agent",
            (ms(0), ms(900)),
            vec![
                string("gen_ai.operation.name", "invoke_agent"),
                string("gen_ai.agent.id", "asst_123"),
                string("gen_ai.agent.name", "onboarding-agent"),
                string("gen_ai.conversation.id", "sess-1"),
                string("warrant.outcome.name", "account_opened"),
                string("warrant.outcome.status", "succeeded"),
            ],
        ),
    ];
    let mut registry = registry();
    let plan = registry
        .plan_apply(
            "kind: Agent\nid: onboarding-agent\npurpose: p\nowner: o\nrisk_class: high\n\
             decision_scope: execute\noversight: human-on-the-loop\n",
        )
        .unwrap();
    registry.apply(&plan.changes);
    let mapping = map_request(
        &request(vec![string("service.name", "onboarding")], spans),
        &registry,
    );
    assert_eq!((mapping.spans, mapping.skipped), (5, 1));
    assert!(mapping.rejected.is_empty(), "{:?}", mapping.rejected);
    let events = &mapping.events;
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "llm_call",
            "tool_call",
            "tool_result",
            "data_access",
            "decision",
            "invocation",
            "outcome"
        ]
    );
    // Agent and session come from the root, which arrived after its children; the registered name wins.
    for event in events {
        assert_eq!(event.agent.as_deref(), Some("onboarding-agent"), "{event:?}");
        assert_eq!(event.session.as_deref(), Some("sess-1"));
        assert_eq!(event.trace_id.as_deref(), Some(hex::encode(TRACE).as_str()));
    }
    let llm = find(events, EventKind::LlmCall);
    assert_eq!(llm.attrs["model"], json!("gpt-4.1"));
    assert_eq!(llm.attrs["input_tokens"], json!(1200));
    assert_eq!(llm.attrs["cost_usd"], json!(0.0048));
    assert_eq!(llm.attrs["latency_ms"], json!(800.0));
    assert_eq!(llm.attrs["otel"], json!({"gen_ai.request.temperature": 0.2}));
    assert_eq!(llm.content["input"][0]["role"], json!("user"));
    assert_eq!(llm.parent_span_id.as_deref(), Some("0000000000000001"));
    assert_eq!(
        llm.id.as_deref(),
        Some(format!("otlp:{}:0000000000000002:llm_call", hex::encode(TRACE)).as_str())
    );
    // Personal data stays in content, never in attrs.
    let call = find(events, EventKind::ToolCall);
    assert_eq!(call.attrs["tool"], json!("lookup-crm"));
    assert_eq!(call.content["args"], json!({"client_id": "C-1042"}));
    assert!(!Value::Object(call.attrs.clone()).to_string().contains("C-1042"));
    let result = find(events, EventKind::ToolResult);
    assert_eq!(result.content["result"], json!({"name": "Jane Roe"}));
    assert_eq!(result.attrs["status"], json!("ok"));
    let data = find(events, EventKind::DataAccess);
    assert_eq!(data.attrs["source"], json!("crm"));
    assert_eq!(data.attrs["sensitivity"], json!("confidential"));
    let decision = find(events, EventKind::Decision);
    assert_eq!(decision.attrs["name"], json!("verification_path"));
    assert_eq!(decision.attrs["segment"], json!({"client_value": "high"}));
    assert_eq!(decision.content["reason"], json!("assets above 1M EUR"));
    let invocation = find(events, EventKind::Invocation);
    assert_eq!(invocation.attrs["service"], json!("onboarding"));
    assert!(invocation.attrs.get("otel").is_none(), "{:?}", invocation.attrs);
    let outcome = find(events, EventKind::Outcome);
    assert_eq!(
        outcome.attrs,
        json!({"name": "account_opened", "status": "succeeded"})
            .as_object()
            .unwrap()
            .clone()
    );
}

#[test]
fn a_linked_trace_and_a_failed_tool() {
    let spans = vec![
        {
            let mut root = span(
                OTHER_TRACE,
                id(9),
                None,
                "invoke_agent notify-agent",
                (ms(0), ms(10)),
                vec![
                    string("gen_ai.operation.name", "invoke_agent"),
                    string("gen_ai.agent.id", "notify-agent"),
                ],
            );
            root.links.push(link(TRACE, id(3)));
            root
        },
        {
            let mut tool = span(
                OTHER_TRACE,
                id(10),
                Some(id(9)),
                "tools/call send-email",
                (ms(1), ms(5)),
                vec![string("mcp.method.name", "tools/call")],
            );
            tool.status = Some(warrant_otlp::trace::Status {
                code: warrant_otlp::trace::status::StatusCode::Error as i32,
                message: "smtp refused".into(),
            });
            tool
        },
    ];
    let mapping = map_request(&request(Vec::new(), spans), &registry());
    let invocation = find(&mapping.events, EventKind::Invocation);
    assert_eq!(
        invocation.attrs["link"],
        json!({"trace_id": hex::encode(TRACE), "span_id": "0000000000000003"})
    );
    let call = find(&mapping.events, EventKind::ToolCall);
    assert_eq!(call.attrs["tool"], json!("send-email"));
    assert_eq!(call.agent.as_deref(), Some("notify-agent"));
    let result = find(&mapping.events, EventKind::ToolResult);
    assert_eq!(result.attrs["status"], json!("error"));
}

#[test]
fn openinference_spans_map_too() {
    let spans = vec![
        span(
            TRACE,
            id(1),
            None,
            "support-agent",
            (ms(0), ms(30)),
            vec![
                string("openinference.span.kind", "AGENT"),
                string("agent.name", "helper-agent"),
                string("session.id", "oi-1"),
                string("input.value", "Where is my card?"),
            ],
        ),
        span(
            TRACE,
            id(2),
            Some(id(1)),
            "llm",
            (ms(1), ms(9)),
            vec![
                string("openinference.span.kind", "LLM"),
                string("llm.model_name", "gpt-4.1"),
                int("llm.token_count.prompt", 800),
                int("llm.token_count.completion", 120),
                string("llm.input_messages.0.message.role", "user"),
                string("llm.input_messages.0.message.content", "Where is my card?"),
            ],
        ),
        span(
            TRACE,
            id(3),
            Some(id(1)),
            "retrieve",
            (ms(10), ms(14)),
            vec![
                string("openinference.span.kind", "RETRIEVER"),
                string("input.value", "card delivery policy"),
                string("retrieval.documents.0.document.id", "kb-12"),
                string("retrieval.documents.0.document.content", "Cards ship in 2 days"),
                double("retrieval.documents.0.document.score", 0.91),
                string("retrieval.documents.0.document.metadata", r#"{"source":"crm"}"#),
            ],
        ),
    ];
    let mapping = map_request(&request(Vec::new(), spans), &registry());
    let llm = find(&mapping.events, EventKind::LlmCall);
    assert_eq!(llm.agent.as_deref(), Some("helper-agent"));
    assert_eq!(llm.session.as_deref(), Some("oi-1"));
    assert_eq!(llm.attrs["cost_usd"], json!(0.00256));
    assert_eq!(
        llm.content["input"]["0.message.content"],
        json!("Where is my card?")
    );
    assert!(llm.attrs.get("otel").is_none(), "{:?}", llm.attrs);
    let data = find(&mapping.events, EventKind::DataAccess);
    assert_eq!(data.attrs["source"], json!("crm"));
    assert_eq!(data.attrs["records"], json!(1));
    assert_eq!(
        data.attrs["documents"],
        json!([{"id": "kb-12", "score": 0.91, "source": "crm"}])
    );
    assert_eq!(data.content["query"], json!("card delivery policy"));
    assert_eq!(
        data.content["documents"]["0.document.content"],
        json!("Cards ship in 2 days")
    );
    assert!(!Value::Object(data.attrs.clone()).to_string().contains("ship in"));
}

#[test]
fn bad_spans_are_rejected_alone() {
    let spans = vec![
        span(
            [0; 16],
            id(1),
            None,
            "zero trace",
            (ms(0), ms(1)),
            vec![string("gen_ai.operation.name", "chat")],
        ),
        {
            let mut short = span(
                TRACE,
                id(2),
                None,
                "short id",
                (ms(0), ms(1)),
                vec![string("gen_ai.operation.name", "chat")],
            );
            short.span_id = vec![1, 2, 3];
            short
        },
        span(
            TRACE,
            id(3),
            None,
            "no time",
            (0, 0),
            vec![string("gen_ai.operation.name", "chat")],
        ),
        span(
            TRACE,
            id(4),
            None,
            "fine",
            (ms(0), ms(1)),
            vec![string("gen_ai.operation.name", "chat")],
        ),
    ];
    let mapping = map_request(&request(Vec::new(), spans), &registry());
    assert_eq!(mapping.events.len(), 1);
    assert_eq!(mapping.rejected.len(), 3, "{:?}", mapping.rejected);
    assert!(
        mapping.rejected[0].contains("all zeros"),
        "{}",
        mapping.rejected[0]
    );
    assert!(
        mapping.rejected[1].contains("3 bytes, not 8"),
        "{}",
        mapping.rejected[1]
    );
    assert!(
        mapping.rejected[2].contains("no start time"),
        "{}",
        mapping.rejected[2]
    );
}

#[test]
fn an_oversized_span_is_rejected() {
    let huge = "x".repeat(warrant_core::event::MAX_EVENT_BYTES + 10);
    let spans = vec![span(
        TRACE,
        id(1),
        None,
        "chat",
        (ms(0), ms(1)),
        vec![
            string("gen_ai.operation.name", "chat"),
            string("gen_ai.input.messages", huge),
        ],
    )];
    let mapping = map_request(&request(Vec::new(), spans), &registry());
    assert!(mapping.events.is_empty());
    assert!(
        mapping.rejected[0].contains("more than the limit"),
        "{:?}",
        mapping.rejected
    );
}

#[test]
fn unknown_text_is_content_and_only_safe_values_stay_in_attrs() {
    let spans = vec![{
        let mut rerank = span(
            TRACE,
            id(1),
            Some([0; 8]),
            "rerank",
            (ms(0), ms(3)),
            vec![
                string("openinference.span.kind", "RERANKER"),
                string("reranker.query", "Jane Roe's overdraft"),
                string("llm.prompts.0.prompt.text", "Summarise Jane Roe's file"),
                int("reranker.top_k", 3),
                string("server.address", "rerank.internal"),
                string("warrant.data.source", "crm"),
                int("warrant.data.records", 4),
            ],
        );
        rerank.status = Some(warrant_otlp::trace::Status {
            code: warrant_otlp::trace::status::StatusCode::Error as i32,
            message: "no documents for Jane Roe".into(),
        });
        rerank
    }];
    let mapping = map_request(&request(Vec::new(), spans), &registry());
    assert!(mapping.rejected.is_empty(), "{:?}", mapping.rejected);
    let data = find(&mapping.events, EventKind::DataAccess);
    // An all-zero parent is a root, not a bad id.
    assert_eq!(data.parent_span_id, None);
    let attrs = Value::Object(data.attrs.clone()).to_string();
    assert!(!attrs.contains("Jane"), "personal text in attrs: {attrs}");
    assert_eq!(
        data.attrs["otel"],
        json!({"reranker.top_k": 3, "server.address": "rerank.internal"})
    );
    assert_eq!(data.attrs["error"], json!("error"));
    assert_eq!(data.attrs["records"], json!(4));
    assert_eq!(data.content["error_message"], json!("no documents for Jane Roe"));
    assert_eq!(
        data.content["attributes"],
        json!({"reranker.query": "Jane Roe's overdraft", "llm.prompts.0.prompt.text": "Summarise Jane Roe's file"})
    );
}

#[test]
fn a_dated_snapshot_model_is_priced_by_its_requested_name() {
    let spans = vec![span(
        TRACE,
        id(1),
        None,
        "chat",
        (ms(0), ms(3)),
        vec![
            string("gen_ai.operation.name", "chat"),
            string("gen_ai.request.model", "gpt-4.1"),
            string("gen_ai.response.model", "gpt-4.1-2025-04-14"),
            int("gen_ai.usage.input_tokens", 1_000_000),
        ],
    )];
    let mapping = map_request(&request(Vec::new(), spans), &registry());
    let llm = find(&mapping.events, EventKind::LlmCall);
    assert_eq!(llm.attrs["model"], json!("gpt-4.1-2025-04-14"));
    assert_eq!(llm.attrs["request_model"], json!("gpt-4.1"));
    assert_eq!(llm.attrs["cost_usd"], json!(2.0));
}
