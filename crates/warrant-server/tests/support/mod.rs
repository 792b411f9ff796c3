//! What the server's router tests share: a scratch directory, the two-agent registry, and one call through
//! the router in process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::Value;
use tower::ServiceExt;

pub const OWN: &str = "own-agent";
pub const OTHER: &str = "other-agent";

/// A fresh directory under the system's temporary directory, removed when dropped.
/// With `WARRANT_TEST_POSTGRES`, its `data` directory is bound to a fresh PostgreSQL database of its own.
pub struct Scratch(
    pub std::path::PathBuf,
    // Held, not read: dropping it drops the test database.
    #[allow(dead_code)] Option<warrant_store::testing::TestDatabase>,
);

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("warrant-server-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let database = warrant_store::testing::TestDatabase::bind(&dir.join("data"));
        Scratch(dir, database)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two agents, [`OWN`] and [`OTHER`], each granted the read-only tool `lookup`, and the MCP upstream `crm`.
pub fn two_agents() -> String {
    [OWN, OTHER]
        .iter()
        .map(|agent| {
            format!(
                "kind: Agent\nid: {agent}\npurpose: test\nowner: someone\nrisk_class: minimal\n\
                 decision_scope: recommend\noversight: human-on-the-loop\n\
                 tools:\n  - {{tool: lookup, access: read, approved_by: someone}}\n---\n"
            )
        })
        .collect::<String>()
        + "kind: Tool\nid: lookup\naccess: read\negress: internal\n---\n"
        + &format!(
            "kind: McpServer\nid: crm\ntransport: stdio\ncommand: python3\nargs: [-c, {}]\n",
            serde_json::to_string(UPSTREAM).unwrap()
        )
}

/// An MCP upstream that answers every request with an empty result (for routes that reach one).
const UPSTREAM: &str = "import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if 'id' in message and 'method' in message:
        print(json.dumps({'jsonrpc': '2.0', 'id': message['id'], 'result': {}}), flush=True)
";

/// A request body and its content type.
pub type Payload = Option<(&'static str, Vec<u8>)>;

/// One request through `router`: the status and the JSON answer (`Null` if it is not JSON).
pub async fn call(
    router: &axum::Router,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Payload,
) -> (u16, Value) {
    let answer = call_raw(router, bearer, method, path, &[], body).await;
    (answer.status, answer.json())
}

/// A JSON request body.
pub fn json_body(value: &Value) -> Payload {
    Some(("application/json", serde_json::to_vec(value).unwrap()))
}

/// A whole answer: status, headers and the body's bytes.
pub struct Raw {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Raw {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
    }
}

/// One request through `router` with extra headers, answered in full (status, headers, bytes).
pub async fn call_raw(
    router: &axum::Router,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Payload,
) -> Raw {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(bearer) = bearer {
        request = request.header("Authorization", format!("Bearer {bearer}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some((content_type, bytes)) => {
            request = request.header("Content-Type", content_type);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let response = router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Raw {
        status,
        headers,
        body,
    }
}
