//! The demo's agent activity, sent as real OTLP: onboarding runs of the last four weeks, built as
//! OpenTelemetry GenAI spans and posted to `POST /v1/traces` as protobuf, the same door and the same mapping
//! an instrumented agent uses.
//!
//! The seed story: for four weeks, high-value clients were mostly routed to the enhanced verification path
//! (risk-based: large assets need source-of-wealth checks). In the last day, after the prompt change that
//! shortened the questions for premium clients, most of them take a new `expedited` path that skips
//! document verification, and only they do.
//! Clients who also apply for a loan start the underwriting agent in a trace of its own, linked to the
//! onboarding call that started it.

use axum::Router;
use axum::http::Method;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use warrant_otlp::ExportTraceServiceResponse;
use warrant_otlp::Message;
use warrant_otlp::build::{int, link, request, span, string};
use warrant_otlp::common::KeyValue;
use warrant_otlp::trace::Span;

use crate::Failure;
use crate::client::{answer, call_router_as};

/// Runs before the prompt change (28 to 1 days ago) and after it (the last day).
const BASELINE_RUNS: u64 = 810;
const CURRENT_RUNS: u64 = 40;
/// Runs per OTLP request.
const RUNS_PER_REQUEST: usize = 16;

/// The run the demo shows as a trail: a high-value client onboarded a minute ago, routed to the standard
/// path, who also applied for a loan.
pub struct Featured {
    pub client: String,
    pub trace_id: String,
}

/// A small deterministic generator (SplitMix64): the demo tells the same story on every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        let (high, low) = id.split_at_mut(8);
        high.copy_from_slice(&self.next().to_be_bytes());
        low.copy_from_slice(&(self.next() | 1).to_be_bytes());
        id
    }

    fn span_id(&mut self) -> [u8; 8] {
        (self.next() | 1).to_be_bytes()
    }
}

struct Run {
    client: String,
    high_value: bool,
    path: &'static str,
    loan: bool,
    start: DateTime<Utc>,
}

/// Send every run, then the featured one (whose routing call also asks the policy gate, inside its span).
/// Send the runs as the onboarding service would, with its token (bound to the onboarding and underwriting
/// agents).
pub async fn send(router: &Router, token: &str) -> Result<Featured, Failure> {
    let mut dice = Dice(0x5eed_2026);
    let now = Utc::now();
    let mut runs = Vec::new();
    for index in 0..BASELINE_RUNS + CURRENT_RUNS {
        let current = index >= BASELINE_RUNS;
        let (from, span_minutes) = if current {
            (now - Duration::hours(24), 24 * 60 - 10)
        } else {
            (now - Duration::days(28), 27 * 24 * 60)
        };
        let high_value = dice.chance(30);
        let roll = dice.next() % 100;
        // The regression: after the prompt change, premium clients mostly take a new expedited path.
        let path = match (high_value, current) {
            (true, false) if roll < 90 => "enhanced",
            (true, true) if roll < 75 => "expedited",
            (true, true) if roll < 90 => "enhanced",
            (false, _) if roll < 15 => "enhanced",
            _ => "standard",
        };
        runs.push(Run {
            client: format!("client-{:04}", 1000 + index),
            high_value,
            path,
            loan: dice.chance(25),
            start: from + Duration::minutes(i64::try_from(dice.between(0, span_minutes)).unwrap_or(0)),
        });
    }
    let mut spans_sent = 0;
    for chunk in runs.chunks(RUNS_PER_REQUEST) {
        let mut spans = Vec::new();
        for run in chunk {
            spans.extend(run_spans(run, &mut dice).0);
        }
        spans_sent += spans.len();
        export(router, token, spans).await?;
    }
    let featured = Run {
        client: "client-7731".into(),
        high_value: true,
        path: "expedited",
        loan: true,
        start: Utc::now() - Duration::milliseconds(1400),
    };
    let (spans, trace, route_span) = run_spans(&featured, &mut dice);
    spans_sent += spans.len();
    // The routing call asks the gate while its span is open, naming the trace and span it runs in.
    let ask = json!({"agent": "onboarding-agent", "tool": "route-verification",
        "session": session_of(&featured.client), "trace_id": hex::encode(trace), "span_id": hex::encode(route_span),
        "args": {"client_id": featured.client, "path": "expedited"}});
    let body = serde_json::to_vec(&ask).map_err(|error| Failure::Check(error.into()))?;
    let (status, bytes) = call_router_as(
        router,
        Some(token),
        Method::POST,
        "/v1/authorize",
        Some(("application/json", body)),
    )
    .await?;
    answer(status, &bytes)?;
    export(router, token, spans).await?;
    println!(
        "agent activity: {} onboarding runs arrived as OTLP ({spans_sent} spans, protobuf on /v1/traces)",
        runs.len() + 1
    );
    Ok(Featured {
        client: featured.client,
        trace_id: hex::encode(trace),
    })
}

async fn export(router: &Router, token: &str, spans: Vec<Span>) -> Result<(), Failure> {
    let resource = vec![
        string("service.name", "onboarding-service"),
        string("deployment.environment", "production"),
    ];
    let body = request(resource, spans).encode_to_vec();
    let (status, bytes) = call_router_as(
        router,
        Some(token),
        Method::POST,
        "/v1/traces",
        Some(("application/x-protobuf", body)),
    )
    .await?;
    if status != 200 {
        return Err(Failure::Check(anyhow::anyhow!(
            "the OTLP receiver answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    let response = ExportTraceServiceResponse::decode(bytes.as_slice())
        .map_err(|error| Failure::Check(anyhow::anyhow!("the OTLP answer does not decode: {error}")))?;
    if let Some(partial) = response
        .partial_success
        .filter(|partial| partial.rejected_spans > 0)
    {
        return Err(Failure::Check(anyhow::anyhow!(
            "the OTLP receiver rejected {} demo spans: {}",
            partial.rejected_spans,
            partial.error_message
        )));
    }
    Ok(())
}

fn session_of(client: &str) -> String {
    format!("onboarding-{client}")
}

/// One onboarding run as spans (children before parents, as exporters send them), its trace id and the span
/// of its routing call.
fn run_spans(run: &Run, dice: &mut Dice) -> (Vec<Span>, [u8; 16], [u8; 8]) {
    let trace = dice.trace_id();
    let root = dice.span_id();
    let at = |ms: u64| {
        let start = run.start.timestamp_nanos_opt().unwrap_or_default();
        u64::try_from(start).unwrap_or_default() + ms * 1_000_000
    };
    let client = run.client.as_str();
    let segment = if run.high_value { "high" } else { "standard" };
    let path = run.path;
    let mut spans = Vec::new();
    let mut tool = |dice: &mut Dice, name: &str, (from, to): (u64, u64), extra: Vec<KeyValue>| {
        let id = dice.span_id();
        let mut attributes = vec![
            string("gen_ai.operation.name", "execute_tool"),
            string("gen_ai.tool.name", name),
            string("gen_ai.tool.call.id", format!("call_{}", hex::encode(id))),
        ];
        attributes.extend(extra);
        spans.push(span(
            trace,
            id,
            Some(root),
            &format!("execute_tool {name}"),
            (at(from), at(to)),
            attributes,
        ));
        id
    };
    let input_tokens = i64::try_from(dice.between(1200, 2200)).unwrap_or(0);
    let output_tokens = i64::try_from(dice.between(150, 400)).unwrap_or(0);
    let chat = dice.span_id();
    tool(
        dice,
        "kyc-lookup",
        (910, 960),
        vec![
            string(
                "gen_ai.tool.call.arguments",
                json!({"client_id": client}).to_string(),
            ),
            string(
                "gen_ai.tool.call.result",
                json!({"documents_on_file": 3}).to_string(),
            ),
            string("warrant.data.source", "kyc-documents"),
            int("warrant.data.records", 3),
        ],
    );
    tool(
        dice,
        "sanctions-screening",
        (970, 1290),
        vec![
            string(
                "gen_ai.tool.call.arguments",
                json!({"client_id": client}).to_string(),
            ),
            string("gen_ai.tool.call.result", json!({"hits": 0}).to_string()),
        ],
    );
    let decide = dice.span_id();
    let route = tool(
        dice,
        "route-verification",
        (1300, 1700),
        vec![string(
            "gen_ai.tool.call.arguments",
            json!({"client_id": client, "path": path}).to_string(),
        )],
    );
    if path == "enhanced" {
        tool(dice, "document-verification", (1710, 2300), vec![
            string("gen_ai.tool.call.arguments", json!({"client_id": client, "documents": ["passport", "proof_of_address", "source_of_wealth"]}).to_string()),
            string("gen_ai.tool.call.result", json!({"verified": true}).to_string()),
            string("warrant.data.source", "kyc-documents"),
            int("warrant.data.records", 3),
        ]);
    }
    let crm_update = tool(
        dice,
        "crm-update",
        (2310, 2390),
        vec![string(
            "gen_ai.tool.call.arguments",
            json!({"client_id": client, "status": "active"}).to_string(),
        )],
    );
    spans.push(span(trace, chat, Some(root), "chat gpt-4.1", (at(20), at(900)), vec![
        string("gen_ai.operation.name", "chat"),
        string("gen_ai.provider.name", "openai"),
        string("gen_ai.request.model", "gpt-4.1"),
        int("gen_ai.usage.input_tokens", input_tokens),
        int("gen_ai.usage.output_tokens", output_tokens),
        string("gen_ai.input.messages", json!([{"role": "user", "parts": [{"type": "text", "content": format!("Onboard {client}")}]}]).to_string()),
    ]));
    spans.push(span(
        trace,
        decide,
        Some(root),
        "decide verification_path",
        (at(1292), at(1298)),
        vec![
            string("warrant.decision.name", "verification_path"),
            string("warrant.decision.outcome", path),
            string("warrant.decision.segment.client_value", segment),
            string(
                "warrant.decision.reason",
                match path {
                    "enhanced" => "risk factors call for enhanced checks",
                    "expedited" => "premium client: shortened questions",
                    _ => "profile fits the standard path",
                },
            ),
        ],
    ));
    spans.push(span(
        trace,
        root,
        None,
        "invoke_agent onboarding-agent",
        (at(0), at(2400)),
        vec![
            string("gen_ai.operation.name", "invoke_agent"),
            string("gen_ai.provider.name", "openai"),
            string("gen_ai.agent.id", "onboarding-agent"),
            string("gen_ai.agent.name", "onboarding-agent"),
            string("gen_ai.conversation.id", session_of(client)),
            string("warrant.outcome.name", "account_opened"),
            string("warrant.outcome.status", "succeeded"),
            string("warrant.outcome.decision", "verification_path"),
        ],
    ));
    if run.loan {
        spans.extend(underwriting_spans(run, dice, (trace, crm_update), at(2450)));
    }
    (spans, trace, route)
}

/// The underwriting agent, started by the onboarding run's CRM update: a trace of its own, linked back.
fn underwriting_spans(run: &Run, dice: &mut Dice, from: ([u8; 16], [u8; 8]), start: u64) -> Vec<Span> {
    let trace = dice.trace_id();
    let root = dice.span_id();
    let at = |ms: u64| start + ms * 1_000_000;
    let client = run.client.as_str();
    let segment = if run.high_value { "high" } else { "standard" };
    let outcome = if dice.chance(70) { "approved" } else { "referred" };
    let mut root_span = span(
        trace,
        root,
        None,
        "invoke_agent underwriting-agent",
        (at(0), at(1800)),
        vec![
            string("gen_ai.operation.name", "invoke_agent"),
            string("gen_ai.agent.id", "underwriting-agent"),
            string("gen_ai.conversation.id", format!("underwriting-{client}")),
            string("warrant.outcome.name", "loan_offer"),
            string(
                "warrant.outcome.status",
                if outcome == "approved" {
                    "sent"
                } else {
                    "held_for_review"
                },
            ),
            string("warrant.outcome.decision", "loan_decision"),
        ],
    );
    root_span.links.push(link(from.0, from.1));
    vec![
        span(
            trace,
            dice.span_id(),
            Some(root),
            "chat gpt-4.1",
            (at(10), at(700)),
            vec![
                string("gen_ai.operation.name", "chat"),
                string("gen_ai.request.model", "gpt-4.1"),
                int(
                    "gen_ai.usage.input_tokens",
                    i64::try_from(dice.between(2000, 3000)).unwrap_or(0),
                ),
                int(
                    "gen_ai.usage.output_tokens",
                    i64::try_from(dice.between(200, 500)).unwrap_or(0),
                ),
            ],
        ),
        span(
            trace,
            dice.span_id(),
            Some(root),
            "execute_tool credit-bureau-query",
            (at(710), at(1300)),
            vec![
                string("gen_ai.operation.name", "execute_tool"),
                string("gen_ai.tool.name", "credit-bureau-query"),
                string(
                    "gen_ai.tool.call.arguments",
                    json!({"client_id": client}).to_string(),
                ),
                string(
                    "gen_ai.tool.call.result",
                    json!({"score": dice.between(580, 820)}).to_string(),
                ),
                string("warrant.data.source", "credit-reports"),
                int("warrant.data.records", 1),
            ],
        ),
        span(
            trace,
            dice.span_id(),
            Some(root),
            "decide loan_decision",
            (at(1310), at(1320)),
            vec![
                string("warrant.decision.name", "loan_decision"),
                string("warrant.decision.outcome", outcome),
                string("warrant.decision.segment.client_value", segment),
            ],
        ),
        span(
            trace,
            dice.span_id(),
            Some(root),
            "execute_tool loan-decision",
            (at(1330), at(1700)),
            vec![
                string("gen_ai.operation.name", "execute_tool"),
                string("gen_ai.tool.name", "loan-decision"),
                string(
                    "gen_ai.tool.call.arguments",
                    json!({"client_id": client, "decision": outcome}).to_string(),
                ),
            ],
        ),
        root_span,
    ]
}
