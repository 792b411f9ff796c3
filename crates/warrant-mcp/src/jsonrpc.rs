//! The few JSON-RPC 2.0 facts the relay needs: what kind of message a value is, how ids are compared, and
//! how an error answer is written.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// MCP's code for a resource that does not exist (or, here, that the agent may not read).
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// One message, by shape (JSON-RPC 2.0 §4–5). Batches are not part of MCP since 2025-06-18.
#[derive(Debug, PartialEq)]
pub enum Message<'a> {
    Request {
        id: &'a Value,
        method: &'a str,
        params: Option<&'a Map<String, Value>>,
    },
    Notification {
        method: &'a str,
    },
    Response {
        id: &'a Value,
    },
    /// Not a JSON-RPC 2.0 message; the reason, and the id if one could be read.
    Invalid {
        id: Option<&'a Value>,
        reason: &'static str,
    },
}

pub fn classify(value: &Value) -> Message<'_> {
    let Some(object) = value.as_object() else {
        let reason = if value.is_array() {
            "batches are not part of MCP"
        } else {
            "a message must be a JSON object"
        };
        return Message::Invalid { id: None, reason };
    };
    let id = object.get("id").filter(|id| id.is_string() || id.is_number());
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Message::Invalid {
            id,
            reason: "`jsonrpc` must be \"2.0\"",
        };
    }
    match (object.get("method"), id) {
        (Some(Value::String(method)), Some(id)) => match object.get("params") {
            None => Message::Request {
                id,
                method,
                params: None,
            },
            Some(Value::Object(params)) => Message::Request {
                id,
                method,
                params: Some(params),
            },
            Some(_) => Message::Invalid {
                id: Some(id),
                reason: "`params` must be an object",
            },
        },
        (Some(Value::String(method)), None) if !object.contains_key("id") => Message::Notification { method },
        (Some(_), _) => Message::Invalid {
            id,
            reason: "`method` must be a string and `id` a string or a number",
        },
        (None, Some(id)) if object.contains_key("result") || object.contains_key("error") => {
            Message::Response { id }
        }
        (None, _) => Message::Invalid {
            id,
            reason: "neither a request, a notification nor a response",
        },
    }
}

/// A key for an id: `1` and `"1"` are different ids.
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// An error answer to request `id` (`null` when the id could not be read).
pub fn error(id: Option<&Value>, code: i64, message: impl Into<String>, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message.into()});
    if let (Some(data), Some(object)) = (data, error.as_object_mut()) {
        object.insert("data".into(), data);
    }
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error})
}

pub fn request(id: Value, method: &str, params: Map<String, Value>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Remove the `params._meta` keys starting with `prefix` from a message (an emptied `_meta` goes too).
pub fn strip_meta(message: &mut Value, prefix: &str) {
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(Value::Object(meta)) = params.get_mut("_meta") {
        meta.retain(|key, _| !key.starts_with(prefix));
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_told_apart_by_shape() {
        let request = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
        assert!(matches!(
            classify(&request),
            Message::Request {
                method: "tools/list",
                params: None,
                ..
            }
        ));
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(
            classify(&notification),
            Message::Notification {
                method: "notifications/initialized"
            }
        );
        let response = json!({"jsonrpc": "2.0", "id": "a", "result": {}});
        assert!(matches!(classify(&response), Message::Response { .. }));
        for (bad, reason) in [
            (json!([1]), "batches are not part of MCP"),
            (json!("x"), "a message must be a JSON object"),
            (json!({"id": 1, "method": "x"}), "`jsonrpc` must be \"2.0\""),
            (
                json!({"jsonrpc": "2.0", "id": 1, "method": "x", "params": [1]}),
                "`params` must be an object",
            ),
            (
                json!({"jsonrpc": "2.0", "id": {}, "method": "x"}),
                "`method` must be a string and `id` a string or a number",
            ),
            (
                json!({"jsonrpc": "2.0", "id": 1}),
                "neither a request, a notification nor a response",
            ),
        ] {
            assert!(
                matches!(classify(&bad), Message::Invalid { reason: r, .. } if r == reason),
                "{bad}"
            );
        }
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }
}
