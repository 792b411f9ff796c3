//! Between a 2026-07-28 host and a handshake-era upstream. The stateless protocol carries its version,
//! client info and capabilities in every request's `_meta` (the envelope) and starts with `server/discover`;
//! an upstream that only knows `initialize` gets the gateway's own handshake instead (made from the first
//! request's envelope), requests without the envelope, and the host gets answers in the modern shape. An
//! upstream that answers `server/discover` itself needs none of this: its messages pass as they are.

use serde_json::{Map, Value, json};

/// The envelope's key prefix, and the keys the gateway reads.
pub const ENVELOPE_PREFIX: &str = "io.modelcontextprotocol/";
pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The newest handshake-era version the gateway offers an upstream it initialises itself.
pub const HANDSHAKE_VERSION: &str = "2025-11-25";

/// Methods whose 2026-07-28 results carry caching directives (`ttlMs`, `cacheScope`).
const CACHEABLE: &[&str] = &[
    "server/discover",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
];

/// The envelope of a request: the version it names, if it is a 2026-07-28 request.
pub fn version(message: &Value) -> Option<&str> {
    message
        .pointer("/params/_meta")
        .and_then(|meta| meta.get(PROTOCOL_VERSION))
        .and_then(Value::as_str)
}

/// The `initialize` params the gateway sends a handshake-era upstream for a host that sent `message`.
pub fn initialize_params(message: &Value) -> Map<String, Value> {
    let meta = message.pointer("/params/_meta");
    let field = |key: &str, default: Value| meta.and_then(|meta| meta.get(key)).cloned().unwrap_or(default);
    let mut params = Map::new();
    params.insert("protocolVersion".into(), HANDSHAKE_VERSION.into());
    // The host's capabilities are not passed on: a 2026-07-28 host takes no requests outside its own
    // (elicitation, sampling and roots travel as input_required rounds), so the upstream is told of none.
    params.insert("capabilities".into(), json!({}));
    params.insert(
        "clientInfo".into(),
        field(
            CLIENT_INFO,
            json!({"name": "warrant-mcp-gateway", "version": "1"}),
        ),
    );
    params
}

/// Remove the envelope from a request going to a handshake-era upstream (an emptied `_meta` goes too).
pub fn strip_envelope(message: &mut Value) {
    crate::jsonrpc::strip_meta(message, ENVELOPE_PREFIX);
}

/// The answer to a host's `server/discover`, from the upstream's `initialize` result.
pub fn discover(id: &Value, initialized: &Value, version: &str) -> Value {
    let mut result = Map::new();
    result.insert("supportedVersions".into(), json!([version]));
    result.insert(
        "capabilities".into(),
        initialized
            .get("capabilities")
            .cloned()
            .unwrap_or_else(|| json!({})),
    );
    if let Some(instructions) = initialized.get("instructions") {
        result.insert("instructions".into(), instructions.clone());
    }
    if let Some(info) = initialized.get("serverInfo") {
        result.insert("_meta".into(), json!({SERVER_INFO: info}));
    }
    let mut answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
    modernise(&mut answer, "server/discover");
    answer
}

/// Give a handshake-era result the fields a 2026-07-28 result must carry: `resultType`, and the caching
/// directives (immediately stale, private) where the method's result is cacheable.
pub fn modernise(answer: &mut Value, method: &str) {
    let Some(result) = answer.get_mut("result").and_then(Value::as_object_mut) else {
        return;
    };
    result.entry("resultType").or_insert_with(|| "complete".into());
    if CACHEABLE.contains(&method) {
        result.entry("ttlMs").or_insert_with(|| 0.into());
        result.entry("cacheScope").or_insert_with(|| "private".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_modern_request_loses_its_envelope_and_its_answer_gains_the_modern_fields() {
        let mut request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
            PROTOCOL_VERSION: "2026-07-28", CLIENT_INFO: {"name": "ide", "version": "2"},
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}}});
        assert_eq!(version(&request), Some("2026-07-28"));
        let params = initialize_params(&request);
        assert_eq!(params["clientInfo"]["name"], "ide");
        assert_eq!(
            params["capabilities"],
            json!({}),
            "the host's capabilities are not promised"
        );
        strip_envelope(&mut request);
        assert_eq!(request["params"], json!({}));

        let mut answer = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": []}});
        modernise(&mut answer, "tools/list");
        assert_eq!(
            answer["result"],
            json!({"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private"})
        );
        let found = discover(
            &json!(7),
            &json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                    "serverInfo": {"name": "old", "version": "1"}}),
            "2026-07-28",
        );
        assert_eq!(found["result"]["supportedVersions"], json!(["2026-07-28"]));
        assert_eq!(found["result"]["_meta"][SERVER_INFO]["name"], "old");
    }
}
