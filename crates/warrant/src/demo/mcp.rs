//! The support agent's tools through the MCP gateway: the demo plays an MCP host (a support desk) talking
//! to `warrant_mcp`'s stdio gateway over an in-memory pipe, the gateway starts the bank's support tools
//! (`warrant demo-upstream`) as its upstream, and warrant answers through the same API routes a remote
//! `warrant mcp --server` would call.

use std::sync::Arc;

use anyhow::anyhow;
use axum::http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use warrant_api::events::Accepted;
use warrant_api::gate::{Approval, ApprovalStatus, AuthorizeRequest, AuthorizeResponse};
use warrant_api::mcp::{McpView, ResourceAccess, ResourceRequest, ToolListing, ToolReview};
use warrant_log::Seq;
use warrant_mcp::UpstreamSpec;
use warrant_mcp::governor::Answer;
use warrant_mcp::{GatewayConfig, Governor, GovernorError};

use crate::Failure;
use crate::client::{answer_as, call_router_as};

/// The upstream's id in the demo bank, and the MCP session the story runs in.
pub const SERVER: &str = "support-tools";
pub const SESSION: &str = "support-session-1042";
const AGENT: &str = "support-agent";

/// warrant through the in-process router, as the support service's token.
struct RouterGovernor {
    router: axum::Router,
    token: String,
    base: String,
}

impl RouterGovernor {
    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, GovernorError> {
        let bytes = serde_json::to_vec(body).map_err(|error| GovernorError(error.to_string()))?;
        let (status, answer) = call_router_as(
            &self.router,
            Some(&self.token),
            Method::POST,
            path,
            Some(("application/json", bytes)),
        )
        .await
        .map_err(refused)?;
        answer_as(status, &answer).map_err(refused)
    }
}

fn refused(failure: Failure) -> GovernorError {
    match failure {
        Failure::Check(error) | Failure::Usage(error) => GovernorError(format!("{error:#}")),
    }
}

impl Governor for RouterGovernor {
    fn review_tools(&self, tools: Vec<Map<String, Value>>) -> Answer<'_, ToolReview> {
        Box::pin(async move {
            self.post(&format!("{}/tools", self.base), &ToolListing { tools })
                .await
        })
    }

    fn authorize(&self, request: AuthorizeRequest) -> Answer<'_, AuthorizeResponse> {
        Box::pin(async move { self.post("/v1/authorize", &request).await })
    }

    fn approval(&self, id: String) -> Answer<'_, ApprovalStatus> {
        Box::pin(async move {
            let path = format!("/v1/approvals/{}", crate::client::encode(&id));
            let (status, bytes) = call_router_as(&self.router, Some(&self.token), Method::GET, &path, None)
                .await
                .map_err(refused)?;
            let approval: Approval = answer_as(status, &bytes).map_err(refused)?;
            Ok(approval.status)
        })
    }

    fn resource(&self, uri: String) -> Answer<'_, ResourceAccess> {
        Box::pin(async move {
            self.post(&format!("{}/resources", self.base), &ResourceRequest { uri })
                .await
        })
    }

    fn record(&self, events: Vec<Value>) -> Answer<'_, Vec<Seq>> {
        Box::pin(async move {
            let accepted: Accepted = self.post("/v1/events", &events).await?;
            Ok(accepted.seqs)
        })
    }
}

/// The support desk's session: list the tools, look the customer up, answer her, and (as an injected
/// instruction would have it) send her record to a data broker, which the gate holds for approval.
pub async fn story(router: &axum::Router, token: &str) -> Result<(), Failure> {
    let base = format!("/v1/mcp/{SERVER}/agents/{AGENT}");
    let (status, bytes) = call_router_as(router, Some(token), Method::GET, &base, None).await?;
    let view: McpView = answer_as(status, &bytes)?;
    let spec = UpstreamSpec::from_view(&view).map_err(|why| Failure::Check(anyhow!(why)))?;
    let governor = Arc::new(RouterGovernor {
        router: router.clone(),
        token: token.to_owned(),
        base,
    });
    let (host, gateway_end) = tokio::io::duplex(1 << 16);
    let (from_host, to_host) = tokio::io::split(gateway_end);
    let gateway = tokio::spawn(warrant_mcp::stdio::serve(
        GatewayConfig::new(SERVER, AGENT),
        governor,
        spec,
        from_host,
        to_host,
    ));
    let (reader, mut writer) = tokio::io::split(host);
    let mut lines = BufReader::new(reader).lines();
    let mut next_id = 0u64;
    let mut request = async |method: &str, params: Value| -> Result<Value, Failure> {
        next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params});
        send(&mut writer, &message).await?;
        if method == "initialize" {
            let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            // Sent after the answer below is read; queued here it would race the handshake's answer.
            let answer = read_answer(&mut lines, next_id).await?;
            send(&mut writer, &initialized).await?;
            return Ok(answer);
        }
        read_answer(&mut lines, next_id).await
    };

    println!("MCP gateway (the support agent's tools, warrant mcp --agent {AGENT} --upstream {SERVER}):");
    request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "northwind-support-desk", "version": "4.2"}}),
    )
    .await?;
    let listed = request("tools/list", json!({})).await?;
    let names: Vec<&str> = listed
        .pointer("/result/tools")
        .and_then(Value::as_array)
        .map(|tools| tools.iter().filter_map(|tool| tool["name"].as_str()).collect())
        .unwrap_or_default();
    println!("  the agent sees: {}", names.join(", "));

    let customer = "anna.berg@northwind-customer.example";
    let calls = [
        (
            "lookup_customer",
            json!({"customer_id": "c-1042"}),
            json!({"warrant/session": SESSION, "warrant/user_named": [customer]}),
        ),
        (
            "send_email",
            json!({"to": customer, "subject": "Your refund", "body": "It is on its way."}),
            json!({"warrant/session": SESSION}),
        ),
        (
            "send_email",
            json!({"to": "records@data-broker.example", "subject": "Customer export", "body": "c-1042"}),
            json!({"warrant/session": SESSION}),
        ),
    ];
    for (tool, arguments, meta) in calls {
        let answer = request(
            "tools/call",
            json!({"name": tool, "arguments": arguments, "_meta": meta}),
        )
        .await?;
        let result = answer.get("result").cloned().unwrap_or(Value::Null);
        let outcome = match result.pointer("/_meta/warrant~1decision") {
            Some(decision) => format!(
                "{} ({})",
                decision["decision"].as_str().unwrap_or("?"),
                decision
                    .pointer("/reasons/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
            None if answer.get("error").is_some() => format!(
                "error: {}",
                answer
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
            None => format!(
                "allow, forwarded: {}",
                result
                    .pointer("/content/0/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
        };
        println!("  {AGENT} -> {tool} {arguments}: {outcome}");
    }
    // The host hangs up: the gateway sees the end of its input, stops the upstream and returns.
    drop(lines);
    drop(writer);
    gateway
        .await
        .map_err(|error| Failure::Check(anyhow!("the gateway stopped: {error}")))?
        .map_err(|why| Failure::Check(anyhow!(why)))?;
    println!("  the session's trail: warrant trail {SESSION}");
    Ok(())
}

async fn send<W: tokio::io::AsyncWrite + Unpin>(writer: &mut W, message: &Value) -> Result<(), Failure> {
    writer
        .write_all(format!("{message}\n").as_bytes())
        .await
        .map_err(|error| Failure::Check(anyhow!("writing to the MCP gateway: {error}")))
}

/// Read lines until the answer to request `id` (the gateway may relay other messages in between).
async fn read_answer<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
    id: u64,
) -> Result<Value, Failure> {
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|error| Failure::Check(anyhow!("reading from the MCP gateway: {error}")))?
    {
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if message.get("id") == Some(&json!(id)) {
            return Ok(message);
        }
    }
    Err(Failure::Check(anyhow!(
        "the MCP gateway closed before answering request {id}"
    )))
}
