//! The demo bank's support tools as a small MCP server over stdio (`warrant demo-upstream`, hidden from
//! help): the upstream the demo puts behind the MCP gateway, so `warrant demo` needs nothing beside the
//! binary. It speaks the handshake-era protocol (newline-delimited JSON-RPC), lists three tools and answers
//! every call with canned data; it decides nothing, as a real upstream would not.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

/// The protocol versions it answers to; a client asking for another gets the newest.
const VERSIONS: [&str; 2] = ["2025-11-25", "2025-06-18"];

pub fn run() -> ExitCode {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let Some(answer) = answer(&line) else {
            continue;
        };
        if writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// The answer to one message; `None` for a notification or a response.
fn answer(line: &str) -> Option<Value> {
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        return Some(error(Value::Null, -32700, "not JSON"));
    };
    let id = message.get("id").cloned()?;
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return None; // a response to a request of ours: we send none
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let version = asked
                .filter(|asked| VERSIONS.contains(asked))
                .unwrap_or(VERSIONS[0]);
            json!({
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "northwind-support-tools", "version": "1.0.0"},
            })
        }
        "ping" => json!({}),
        "tools/list" => json!({"tools": tools()}),
        "tools/call" => call(&params),
        _ => return Some(error(id, -32601, &format!("no method `{method}`"))),
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn tools() -> Value {
    let schema = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required});
    json!([
        {
            "name": "lookup_customer",
            "description": "Look up a customer's profile by id.",
            "inputSchema": schema(json!({"customer_id": {"type": "string"}}), &["customer_id"]),
        },
        {
            "name": "send_email",
            "description": "Send an email to one recipient.",
            "inputSchema": schema(
                json!({"to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}}),
                &["to", "subject"],
            ),
        },
        {
            "name": "issue_refund",
            "description": "Issue a refund to a customer's account.",
            "inputSchema": schema(
                json!({"customer_id": {"type": "string"}, "amount_eur": {"type": "number"}}),
                &["customer_id", "amount_eur"],
            ),
        },
    ])
}

fn call(params: &Value) -> Value {
    let args = params.get("arguments").cloned().unwrap_or(Value::Null);
    let text = |key: &str| args.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let reply = match params.get("name").and_then(Value::as_str) {
        Some("lookup_customer") => json!({
            "customer_id": text("customer_id"),
            "name": "Anna Berg",
            "email": "anna.berg@northwind-customer.example",
            "segment": "retail",
            "open_tickets": 1,
        })
        .to_string(),
        Some("send_email") => format!("queued for {}", text("to")),
        Some("issue_refund") => format!(
            "refund of {} EUR issued to {}",
            args.get("amount_eur").cloned().unwrap_or(Value::Null),
            text("customer_id")
        ),
        other => {
            return json!({
                "content": [{"type": "text", "text": format!("no tool {other:?}")}],
                "isError": true,
            });
        }
    };
    json!({"content": [{"type": "text", "text": reply}], "isError": false})
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_answers_the_handshake_listing_and_calls() {
        let init = answer(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        )
        .unwrap();
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(
            answer(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        let list = answer(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).unwrap();
        assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 3);
        let call = answer(
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"send_email","arguments":{"to":"a@b.example"}}}"#,
        )
        .unwrap();
        assert_eq!(call["result"]["content"][0]["text"], "queued for a@b.example");
        let unknown = answer(r#"{"jsonrpc":"2.0","id":4,"method":"resources/list"}"#).unwrap();
        assert_eq!(unknown["error"]["code"], -32601);
    }
}
