//! Streamable HTTP on the host's side (`/mcp/{upstream}` in `warrant serve`), independent of the web
//! framework: the server hands each POST body here and writes back what [`HttpSession::handle`] answers.
//!
//! Every answer is a single JSON body (the transport lets a server choose JSON over an SSE stream). Messages
//! the upstream sends on its own (notifications, and requests to the host such as elicitation) have no
//! stream to travel on, so notifications are dropped and requests are answered for the host with an error,
//! so the upstream never waits on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::governor::Governor;
use crate::jsonrpc::{self, INTERNAL_ERROR, INVALID_REQUEST, Message, PARSE_ERROR};
use crate::session::{Gateway, GatewayConfig};
use crate::upstream::{UpstreamSpec, connect};

/// What to send back for one POST.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// 200 with this JSON-RPC answer.
    Answer(Value),
    /// 202: a notification or a response from the host; nothing to answer.
    Accepted,
    /// 400 with this JSON-RPC error: the body was not a message the session could take.
    Refused(Value),
}

/// The MCP headers of a 2026-07-28 request, checked against its body.
#[derive(Debug, Default, Clone)]
pub struct Headers {
    pub method: Option<String>,
    pub name: Option<String>,
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One gateway session reached over HTTP: its upstream child and the POSTs waiting for answers.
pub struct HttpSession {
    gateway: Arc<Gateway>,
    waiting: Waiting,
    upstream: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
}

impl Drop for HttpSession {
    fn drop(&mut self) {
        // Stops delivering to the upstream (the supervisor's child is killed as it drops) and routing answers.
        self.upstream.abort();
        self.dispatcher.abort();
    }
}

impl HttpSession {
    /// Connect the upstream (a stdio child starts now) and the session around it.
    pub async fn start(
        config: GatewayConfig,
        governor: Arc<dyn Governor>,
        upstream: UpstreamSpec,
    ) -> Result<HttpSession, String> {
        let (to_client, mut answers) = mpsc::unbounded_channel::<Value>();
        let (to_upstream, upstream_queue) = mpsc::unbounded_channel::<Value>();
        let gateway = Gateway::new(config, governor, to_client, to_upstream);
        let upstream = connect(gateway.clone(), upstream, upstream_queue).await?;
        let waiting: Waiting = Arc::default();
        let routes = waiting.clone();
        let answering = gateway.clone();
        let dispatcher = tokio::spawn(async move {
            while let Some(message) = answers.recv().await {
                match jsonrpc::classify(&message) {
                    Message::Response { id } => {
                        if let Some(waiter) = lock(&routes).remove(&jsonrpc::id_key(id)) {
                            let _ = waiter.send(message);
                        }
                    }
                    Message::Request { id, method, .. } => {
                        let refusal = jsonrpc::error(
                            Some(id),
                            jsonrpc::METHOD_NOT_FOUND,
                            format!(
                                "the host is reached through warrant's HTTP gateway, which carries no `{method}` to it"
                            ),
                            None,
                        );
                        answering.from_client(refusal.to_string().as_bytes());
                    }
                    Message::Notification { method } => {
                        tracing::debug!(%method, "an upstream notification has no stream to the host; dropped");
                    }
                    Message::Invalid { .. } => {}
                }
            }
        });
        Ok(HttpSession {
            gateway,
            waiting,
            upstream,
            dispatcher,
        })
    }

    pub fn config(&self) -> &GatewayConfig {
        self.gateway.config()
    }

    /// One POST body.
    pub async fn handle(&self, body: &[u8], headers: &Headers) -> Reply {
        let value: Value = match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(error) => {
                return Reply::Refused(jsonrpc::error(
                    None,
                    PARSE_ERROR,
                    format!("not JSON: {error}"),
                    None,
                ));
            }
        };
        let (id, method, name) = match jsonrpc::classify(&value) {
            Message::Invalid { id, reason } => {
                return Reply::Refused(jsonrpc::error(id, INVALID_REQUEST, reason, None));
            }
            Message::Notification { .. } | Message::Response { .. } => {
                self.gateway.from_client(body);
                return Reply::Accepted;
            }
            Message::Request { id, method, params } => {
                let name = params
                    .and_then(|params| params.get("name"))
                    .and_then(Value::as_str);
                (id.clone(), method.to_owned(), name.map(str::to_owned))
            }
        };
        if let Some(mismatch) = header_mismatch(headers, &method, name.as_deref()) {
            return Reply::Refused(jsonrpc::error(Some(&id), INVALID_REQUEST, mismatch, None));
        }
        let (sender, receiver) = oneshot::channel();
        let key = jsonrpc::id_key(&id);
        if lock(&self.waiting).insert(key.clone(), sender).is_some() {
            return Reply::Refused(jsonrpc::error(
                Some(&id),
                INVALID_REQUEST,
                "a request with this id is already in flight in this session",
                None,
            ));
        }
        self.gateway.from_client(body);
        let timeout = self.gateway.config().call_timeout + Duration::from_secs(5);
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(answer)) => Reply::Answer(answer),
            Ok(Err(_)) | Err(_) => {
                lock(&self.waiting).remove(&key);
                Reply::Answer(jsonrpc::error(
                    Some(&id),
                    INTERNAL_ERROR,
                    "no answer came from the upstream in time",
                    None,
                ))
            }
        }
    }
}

/// The 2026-07-28 `Mcp-Method` / `Mcp-Name` headers must say what the body says.
fn header_mismatch(headers: &Headers, method: &str, name: Option<&str>) -> Option<String> {
    if let Some(header) = &headers.method
        && header != method
    {
        return Some(format!(
            "the Mcp-Method header says `{header}` but the body's method is `{method}`"
        ));
    }
    if let (Some(header), Some(name)) = (&headers.name, name)
        && header != name
    {
        return Some(format!(
            "the Mcp-Name header says `{header}` but the body names `{name}`"
        ));
    }
    None
}
