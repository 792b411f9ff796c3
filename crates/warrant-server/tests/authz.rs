//! The role table, checked on every route of the router: each route × {no token, a bad token, an agent token
//! acting for its own agent, the same token naming another agent, approver, auditor, admin, an expired token,
//! a revoked token}. The routes come from the router itself, so a new route cannot be left out; the agent
//! routes each need a sample request below, so a new one cannot skip the binding check either.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use axum::http::Method;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::{Event, EventKind};
use warrant_core::role::{Action, Role};
use warrant_server::{AppState, RouteSpec, ServerConfig};
use warrant_store::{NewApproval, Principal, Store, StoreConfig, TokenSpec};

mod support;

use support::{OTHER, OWN, Payload, Scratch, two_agents};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    BadToken,
    AgentOwn,
    AgentOther,
    Approver,
    Auditor,
    Admin,
    Expired,
    Revoked,
}

const EVERYONE: [Who; 9] = [
    Who::NoToken,
    Who::BadToken,
    Who::AgentOwn,
    Who::AgentOther,
    Who::Approver,
    Who::Auditor,
    Who::Admin,
    Who::Expired,
    Who::Revoked,
];

struct Fixture {
    _scratch: Scratch,
    router: axum::Router,
    routes: Vec<RouteSpec>,
    agent: String,
    approver: String,
    auditor: String,
    admin: String,
    expired: String,
    revoked: String,
    approval: String,
}

fn admin_context() -> ChangeContext {
    ChangeContext::new(Principal::warrant("test"), None, Utc::now())
}

async fn token(
    store: &Store,
    name: &str,
    role: Role,
    agents: &[&str],
    expires: Option<chrono::DateTime<Utc>>,
) -> String {
    let spec = TokenSpec {
        name: name.into(),
        role,
        agents: agents
            .iter()
            .map(|agent| (*agent).to_owned())
            .collect::<BTreeSet<_>>(),
        person: None,
        expires,
    };
    store.create_token(spec, admin_context()).await.unwrap().secret
}

async fn fixture(name: &str) -> Fixture {
    let scratch = Scratch::new(&format!("authz-{name}"));
    let store = Store::open(&scratch.0.join("data"), &StoreConfig::default()).unwrap();
    store.apply(two_agents(), admin_context()).await.unwrap();
    let agent = token(&store, "agent", Role::Agent, &[OWN], None).await;
    let approver = token(&store, "approver", Role::Approver, &[], None).await;
    let auditor = token(&store, "auditor", Role::Auditor, &[], None).await;
    let admin = token(&store, "admin", Role::Admin, &[], None).await;
    let expired = token(
        &store,
        "expired",
        Role::Admin,
        &[],
        Some(Utc::now() - Duration::seconds(1)),
    )
    .await;
    let revoked = token(&store, "revoked", Role::Admin, &[], None).await;
    let revoked_id = store
        .tokens()
        .unwrap()
        .into_iter()
        .find(|token| token.name == "revoked")
        .unwrap()
        .id;
    store.revoke_token(revoked_id, admin_context()).await.unwrap();
    // A held call of each agent, so approval routes have something to read and decide.
    let raiser = Principal::local_as("raiser", Role::Admin);
    for agent in [OWN, OTHER] {
        hold(&store, &raiser, agent).await;
    }
    let state = AppState::new(store, ServerConfig::default());
    let routes = warrant_server::route_table(&state);
    Fixture {
        _scratch: scratch,
        router: warrant_server::router(state),
        routes,
        agent,
        approver,
        auditor,
        admin,
        expired,
        revoked,
        approval: approval_of(OWN),
    }
}

fn approval_of(agent: &str) -> String {
    format!("apr_{agent}")
}

/// Record a call of `agent` held for approval, raised by `raiser`.
async fn hold(store: &Store, raiser: &Principal, agent: &str) {
    let now = Utc::now();
    let decision = Event::from_json(
        0,
        json!({"time": warrant_core::event::format_time(&now), "kind": "policy_decision", "agent": agent,
               "attrs": {"tool": "lookup", "decision": "approval_required"}}),
    )
    .unwrap();
    assert_eq!(decision.kind, EventKind::PolicyDecision);
    let approval = NewApproval {
        id: approval_of(agent),
        agent: agent.into(),
        tool: "lookup".into(),
        session: None,
        args_hash: "0".repeat(64),
        reasons: json!([]),
        requested_at: now,
        expires_at: now + Duration::hours(1),
        requested_by: raiser.id.clone(),
        requested_person: raiser.person.clone(),
    };
    store
        .record_decision(decision, raiser, Some(approval), None, None)
        .await
        .unwrap();
}

impl Fixture {
    fn bearer(&self, who: Who) -> Option<&str> {
        match who {
            Who::NoToken => None,
            Who::BadToken => Some("wrt_not-a-token"),
            Who::AgentOwn | Who::AgentOther => Some(&self.agent),
            Who::Approver => Some(&self.approver),
            Who::Auditor => Some(&self.auditor),
            Who::Admin => Some(&self.admin),
            Who::Expired => Some(&self.expired),
            Who::Revoked => Some(&self.revoked),
        }
    }

    async fn call(&self, who: Who, method: Method, path: &str, body: Payload) -> (u16, Value) {
        support::call(&self.router, self.bearer(who), method, path, body).await
    }
}

/// A request of `route` naming `agent` where the route speaks for an agent; `None` if the route needs none.
fn sample(route: &RouteSpec, agent: &str) -> Option<(String, Payload)> {
    let json = |value: Value| Some(("application/json", serde_json::to_vec(&value).unwrap()));
    let time = warrant_core::event::format_time(&Utc::now());
    match (route.action, route.path) {
        (Action::ActForAgent, "/v1/events") => Some((
            route.path.into(),
            json(
                json!({"time": time, "kind": "decision", "agent": agent, "attrs": {"name": "x", "outcome": "y"}}),
            ),
        )),
        (Action::ActForAgent, "/v1/authorize") => {
            Some((route.path.into(), json(json!({"agent": agent, "tool": "lookup"}))))
        }
        (Action::ActForAgent, "/v1/escalations") => Some((
            route.path.into(),
            json(json!({"agent": agent, "reason": "needs a person"})),
        )),
        (Action::ActForAgent, "/v1/traces") => Some((route.path.into(), json(otlp_span(agent)))),
        (Action::ActForAgent, "/v1/mcp/{server}/agents/{agent}") => {
            Some((format!("/v1/mcp/crm/agents/{agent}"), None))
        }
        (Action::ActForAgent, "/v1/mcp/{server}/agents/{agent}/tools") => Some((
            format!("/v1/mcp/crm/agents/{agent}/tools"),
            json(serde_json::json!({"tools": [{"name": "lookup", "inputSchema": {"type": "object"}}]})),
        )),
        (Action::ActForAgent, "/v1/mcp/{server}/agents/{agent}/resources") => Some((
            format!("/v1/mcp/crm/agents/{agent}/resources"),
            json(json!({"uri": "crm://customers/c1"})),
        )),
        (Action::ActForAgent, "/mcp/{upstream}") if route.method == Method::POST => Some((
            format!("/mcp/crm?agent={agent}"),
            json(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
        )),
        (Action::ActForAgent, "/mcp/{upstream}") => Some((format!("/mcp/crm?agent={agent}"), None)),
        (Action::ReadApproval, "/v1/approvals/{id}") => {
            Some((format!("/v1/approvals/{}", approval_of(agent)), None))
        }
        (Action::ActForAgent | Action::ReadApproval, path) => {
            panic!("route {path} speaks for an agent: give it a sample request naming one")
        }
        _ => None,
    }
}

fn otlp_span(agent: &str) -> Value {
    let now = Utc::now().timestamp_nanos_opt().unwrap();
    json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
    "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "name": format!("invoke_agent {agent}"),
    "kind": 1, "startTimeUnixNano": (now - 1_000_000).to_string(), "endTimeUnixNano": now.to_string(),
    "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
        {"key": "gen_ai.agent.id", "value": {"stringValue": agent}}
    ]}]}]}]})
}

/// Placeholders for path parameters.
fn concrete(path: &str, approval: &str) -> String {
    path.replace("{collection}", "agents")
        .replace(
            "{id}",
            if path.starts_with("/v1/approvals/") {
                approval
            } else {
                "no-such-id"
            },
        )
        .replace("{seq}", "0")
        .replace("{report}", "drift")
        .replace("{agent}", OWN)
        .replace("{version}", "1")
        .replace("{sha256}", &"0".repeat(64))
}

fn role_of(who: Who) -> Option<Role> {
    match who {
        Who::AgentOwn | Who::AgentOther => Some(Role::Agent),
        Who::Approver => Some(Role::Approver),
        Who::Auditor => Some(Role::Auditor),
        Who::Admin => Some(Role::Admin),
        Who::NoToken | Who::BadToken | Who::Expired | Who::Revoked => None,
    }
}

fn code(answer: &Value) -> &str {
    answer
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_the_role_table_for_every_kind_of_caller() {
    let fixture = fixture("table").await;
    assert!(
        fixture.routes.len() > 60,
        "the route table was not read: {}",
        fixture.routes.len()
    );
    let mut checked = 0;
    for route in &fixture.routes {
        for who in EVERYONE {
            let agent = if who == Who::AgentOther { OTHER } else { OWN };
            let (path, body) = sample(route, agent).unwrap_or_else(|| {
                let body = (route.method == Method::POST).then(|| ("application/json", b"{}".to_vec()));
                (concrete(route.path, &fixture.approval), body)
            });
            let (status, answer) = fixture.call(who, route.method.clone(), &path, body).await;
            let what = format!("{who:?} on {} {}: {status} {answer}", route.method, route.path);
            checked += 1;
            if route.action == Action::Public {
                assert!(status != 401 && status != 403, "public: {what}");
                continue;
            }
            let Some(role) = role_of(who) else {
                assert_eq!((status, code(&answer)), (401, "unauthorized"), "{what}");
                continue;
            };
            if !role.may(route.action) {
                assert_eq!((status, code(&answer)), (403, "forbidden"), "{what}");
                continue;
            }
            let binds = matches!(route.action, Action::ActForAgent | Action::ReadApproval);
            if who == Who::AgentOther && binds {
                if route.path == "/v1/traces" {
                    // OTLP answers a partial success: the span for the other agent is rejected, nothing stored.
                    assert_eq!(status, 200, "{what}");
                    // (OTLP/JSON writes 64-bit integers as strings.)
                    assert_eq!(
                        answer.pointer("/partialSuccess/rejectedSpans"),
                        Some(&json!("1")),
                        "{what}"
                    );
                } else {
                    assert_eq!((status, code(&answer)), (403, "agent_mismatch"), "{what}");
                }
                continue;
            }
            assert!(status != 401 && status != 403, "allowed by the table: {what}");
            if binds && status != 200 {
                panic!("the sample request for an agent route must succeed for its own agent: {what}");
            }
        }
    }
    assert_eq!(checked, fixture.routes.len() * EVERYONE.len());
}

/// The OpenAPI document describes every route of the router with its action in the role table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_names_every_routes_action() {
    let fixture = fixture("openapi").await;
    let (status, document) = fixture
        .call(Who::NoToken, Method::GET, "/v1/openapi.json", None)
        .await;
    assert_eq!(status, 200);
    for route in &fixture.routes {
        let method = route.method.as_str().to_lowercase();
        let operation = document
            .pointer(&format!(
                "/paths/{}/{method}",
                route.path.replace('~', "~0").replace('/', "~1")
            ))
            .unwrap_or_else(|| panic!("{method} {} is not documented", route.path));
        assert_eq!(
            operation["x-warrant-action"],
            json!(route.action.as_str()),
            "{method} {}",
            route.path
        );
    }
}

/// A method a path does not take is a 405 in the error shape, and so is a bad query string a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_and_bad_queries_answer_in_the_error_shape() {
    let fixture = fixture("shape").await;
    let (status, answer) = fixture.call(Who::Admin, Method::PUT, "/v1/events", None).await;
    assert_eq!((status, code(&answer)), (405, "method_not_allowed"), "{answer}");
    let (status, answer) = fixture
        .call(Who::Admin, Method::GET, "/v1/approvals?status=", None)
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(!code(&answer).is_empty(), "{answer}");
    let (status, answer) = fixture
        .call(Who::Admin, Method::GET, "/v1/changes?limit=many", None)
        .await;
    assert_eq!((status, code(&answer)), (400, "invalid_query"), "{answer}");
    let (status, answer) = fixture
        .call(Who::Admin, Method::GET, "/v1/events/18446744073709551615", None)
        .await;
    assert_eq!((status, code(&answer)), (404, "not_found"), "{answer}");
}
