//! A Streamable HTTP upstream (`transport: http` in the `McpServer` manifest): every message the gateway sends
//! upstream is one POST; the answer comes back as a JSON body or as an SSE stream that may carry the
//! upstream's own requests and notifications before the answer. The session id the upstream issues at
//! `initialize` (`Mcp-Session-Id`) and the negotiated version (`MCP-Protocol-Version`) go on every later
//! request; a 2026-07-28 request also carries `Mcp-Method` / `Mcp-Name`. When the upstream forgets the
//! session (404), the host's handshake is replayed and the request sent once more, as a restarted stdio
//! child gets it.
//!
//! POSTs run on blocking threads (ureq): a call may stream for minutes, and each has its own. Not done: the
//! optional GET stream for messages the upstream sends outside any request.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::jsonrpc::{self, Message};
use crate::session::Gateway;

/// How to reach a Streamable HTTP upstream.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub url: String,
    /// Headers sent with every request (their values read from warrant's environment at start).
    pub headers: Vec<(String, String)>,
}

/// The most a single answer (a JSON body, or one SSE event) may hold.
const MAX_MESSAGE: u64 = 16 << 20;
/// POSTs one upstream connection has in flight at once; more wait their turn.
const MAX_IN_FLIGHT: usize = 32;

struct Connection {
    agent: ureq::Agent,
    target: HttpTarget,
    /// `Mcp-Session-Id`, once the upstream issued one.
    session: Mutex<Option<String>>,
    /// The version negotiated at `initialize` (handshake-era protocols).
    version: Mutex<Option<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Deliver `queue` to the upstream at `target` until the queue closes or the task is aborted.
pub fn connect(
    gateway: Arc<Gateway>,
    target: HttpTarget,
    mut queue: mpsc::UnboundedReceiver<Value>,
) -> tokio::task::JoinHandle<()> {
    let connection = Arc::new(Connection {
        agent: ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            // The whole exchange, body included: a stream kept open by keep-alive comments ends too.
            .timeout(gateway.config().call_timeout + Duration::from_secs(5))
            .build(),
        target,
        session: Mutex::new(None),
        version: Mutex::new(None),
    });
    // POSTs in flight at once: each holds a blocking thread, which the store's reads share.
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            let (connection, gateway) = (connection.clone(), gateway.clone());
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            // An `initialize` must have its session id before anything else goes out: it is sent in line.
            let initialize = message.get("method").and_then(Value::as_str) == Some("initialize");
            let post = tokio::task::spawn_blocking(move || {
                connection.deliver(&gateway, &message);
                drop(slot);
            });
            if initialize {
                let _ = post.await;
            }
        }
        let session = lock(&connection.session).take();
        if let Some(session) = session {
            // The host is gone: tell the upstream it may forget the session (best effort).
            let _ = tokio::task::spawn_blocking(move || connection.end(&session)).await;
        }
    })
}

impl Connection {
    /// POST one message and hand what comes back to the gateway; a request that gets no answer is answered
    /// with an error, so nobody waits forever.
    fn deliver(&self, gateway: &Gateway, message: &Value) {
        let (id, method) = match jsonrpc::classify(message) {
            Message::Request { id, method, .. } => (Some(id.clone()), method.to_owned()),
            _ => (None, String::new()),
        };
        let mut result = self.post(gateway, message, &method);
        if matches!(result, Err(Failure::SessionGone)) && method != "initialize" {
            result = self
                .replay_handshake(gateway)
                .and_then(|()| self.post(gateway, message, &method));
        }
        let why = match result {
            Ok(true) => return,
            Ok(false) => "answered without a response to the request".to_owned(),
            Err(failure) => failure.to_string(),
        };
        let server = &gateway.config().server;
        match id {
            Some(id) => {
                let answer = jsonrpc::error(
                    Some(&id),
                    jsonrpc::INTERNAL_ERROR,
                    format!("the upstream `{server}` {why}"),
                    None,
                );
                gateway.from_upstream(answer.to_string().as_bytes());
            }
            None => tracing::warn!(%server, "a message to the upstream was not delivered: {why}"),
        }
    }

    /// One POST. Ok(true) when the request's answer (or, for a notification or response, the 202) came.
    fn post(&self, gateway: &Gateway, message: &Value, method: &str) -> Result<bool, Failure> {
        let mut request = self
            .agent
            .post(&self.target.url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json, text/event-stream");
        for (name, value) in &self.target.headers {
            request = request.set(name, value);
        }
        if let Some(session) = lock(&self.session).as_deref() {
            request = request.set("Mcp-Session-Id", session);
        }
        // A 2026-07-28 request names its version in its envelope, and its method and target in headers.
        let envelope_version = message
            .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
            .and_then(Value::as_str);
        if let Some(version) = envelope_version {
            request = request
                .set("MCP-Protocol-Version", version)
                .set("Mcp-Method", method);
            let params = message.get("params");
            let name = params
                .and_then(|params| params.get("name").or_else(|| params.get("uri")))
                .and_then(Value::as_str);
            if let Some(name) = name {
                request = request.set("Mcp-Name", name);
            }
        } else if let Some(version) = lock(&self.version).as_deref() {
            request = request.set("MCP-Protocol-Version", version);
        }
        let response = match request.send_string(&message.to_string()) {
            Ok(response) => response,
            Err(ureq::Error::Status(404, _)) if lock(&self.session).is_some() => {
                lock(&self.session).take();
                return Err(Failure::SessionGone);
            }
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_string().unwrap_or_default();
                return Err(Failure::Refused(status, body.chars().take(300).collect()));
            }
            Err(ureq::Error::Transport(error)) => return Err(Failure::Unreachable(error.to_string())),
        };
        if method == "initialize"
            && let Some(session) = response.header("mcp-session-id")
        {
            *lock(&self.session) = Some(session.to_owned());
        }
        let id = message.get("id").filter(|_| !method.is_empty());
        if response.status() == 202 || id.is_none() {
            return Ok(true);
        }
        let streamed = response.content_type().eq_ignore_ascii_case("text/event-stream");
        let reader = response
            .into_reader()
            .take(if streamed { u64::MAX } else { MAX_MESSAGE });
        let mut answered = false;
        // Whether the request's answer has come: then the stream is not read further.
        let mut deliver = |bytes: &[u8]| -> bool {
            let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
                gateway.from_upstream(bytes); // the gateway says what was wrong with it
                return false;
            };
            if value.get("id") == id && value.get("method").is_none() {
                answered = true;
                if method == "initialize"
                    && let Some(version) = value.pointer("/result/protocolVersion").and_then(Value::as_str)
                {
                    *lock(&self.version) = Some(version.to_owned());
                }
            }
            gateway.from_upstream(bytes);
            answered
        };
        if streamed {
            read_events(reader, &mut deliver).map_err(|error| Failure::Unreachable(error.to_string()))?;
        } else {
            let mut body = Vec::new();
            BufReader::new(reader)
                .read_to_end(&mut body)
                .map_err(|error| Failure::Unreachable(error.to_string()))?;
            deliver(&body);
        }
        Ok(answered)
    }

    /// The upstream forgot the session: open a new one with the host's own `initialize`.
    fn replay_handshake(&self, gateway: &Gateway) -> Result<(), Failure> {
        let Some(params) = gateway.handshake() else {
            return Ok(()); // a stateless (2026-07-28) session: nothing to replay
        };
        let (id, _answer) = gateway.own_request_id();
        let sent = self.post(
            gateway,
            &jsonrpc::request(id.clone(), "initialize", params),
            "initialize",
        );
        gateway.forget_request(&id);
        sent?;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(gateway, &initialized, "").map(|_| ())
    }

    fn end(&self, session: &str) {
        let mut request = self.agent.delete(&self.target.url).set("Mcp-Session-Id", session);
        for (name, value) in &self.target.headers {
            request = request.set(name, value);
        }
        let _ = request.call();
    }
}

/// Why a POST did not bring its answer.
#[derive(Debug)]
enum Failure {
    /// 404 for the session id sent: the upstream no longer knows the session.
    SessionGone,
    Refused(u16, String),
    Unreachable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::SessionGone => f.write_str("forgot the session"),
            Failure::Refused(status, body) => write!(f, "answered HTTP {status}: {body}"),
            Failure::Unreachable(why) => write!(f, "is not reachable: {why}"),
        }
    }
}

/// Read a `text/event-stream` body, calling `event` with the data of each event (its `data:` lines joined
/// by newlines), as the HTML event-stream format defines it, until `event` says it has what it waited for.
/// An event the stream ends in the middle of is discarded, as that format says.
fn read_events(reader: impl Read, event: &mut impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    let mut lines = BufReader::new(reader);
    let mut data: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut lines).take(MAX_MESSAGE).read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            if !data.is_empty() {
                if event(&data) {
                    return Ok(());
                }
                data.clear();
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            if !data.is_empty() {
                data.push(b'\n');
            }
            data.extend_from_slice(rest);
            if data.len() as u64 > MAX_MESSAGE {
                return Err(std::io::Error::other("an event is larger than 16 MiB"));
            }
        }
        // `event:`, `id:`, `retry:` and comments carry nothing the gateway uses.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_the_joined_data_lines() {
        let stream =
            b": comment\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 7\ndata: [2]\n\ndata: 3";
        let mut seen = Vec::new();
        read_events(&stream[..], &mut |data: &[u8]| {
            seen.push(String::from_utf8_lossy(data).into_owned());
            false
        })
        .unwrap();
        assert_eq!(
            seen,
            ["{\"a\":\n1}", "[2]"],
            "the unterminated last event is discarded"
        );
        let mut first = Vec::new();
        read_events(&stream[..], &mut |data: &[u8]| {
            first.push(data.to_vec());
            true
        })
        .unwrap();
        assert_eq!(first.len(), 1, "reading stops once the answer is in");
    }
}
