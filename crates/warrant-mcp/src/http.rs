//! Streamable HTTP on the host's side (`/mcp/{upstream}` in `warrant serve`), independent of the web
//! framework: the server hands each POST body here and writes back what [`HttpSession::handle`] answers.
//!
//! A request from a host that accepts `text/event-stream` is answered with a stream: what the upstream (or
//! the gateway) sends the host while the request is open (progress, list changes, logging, elicitation
//! and other requests to the host) travels on it, and the request's answer ends it. A progress notification
//! goes to the stream of the request that asked for it; anything else to the newest open stream. A host
//! that takes JSON only gets a single JSON answer, and messages with no stream to travel on are dropped
//! (a request to the host is answered for it with an error, so the upstream never waits on it).

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
#[derive(Debug)]
pub enum Reply {
    /// 200 with this JSON-RPC answer.
    Answer(Value),
    /// 200 as `text/event-stream`: each message an event; the request's answer is the last.
    Stream(mpsc::UnboundedReceiver<Value>),
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

/// Who waits for a request's answer: a JSON POST, or the stream of an SSE one.
enum Waiter {
    Json(oneshot::Sender<Value>, Restore),
    Stream(mpsc::UnboundedSender<Value>, Restore),
}

/// What a shared session changed in a host's request, to give back in what the host receives: its id, and
/// its progress token.
#[derive(Clone, Default)]
struct Restore {
    id: Option<Value>,
    progress: Option<(Value, Value)>,
}

impl Restore {
    /// `message` as the host knows it: its own id on the answer, its own token on progress.
    fn apply(&self, mut message: Value) -> Value {
        if let Some(object) = message.as_object_mut() {
            if let Some(id) = &self.id
                && object.contains_key("id")
                && !object.contains_key("method")
            {
                object.insert("id".into(), id.clone());
            }
            if let Some((ours, theirs)) = &self.progress
                && let Some(token) = object
                    .get_mut("params")
                    .and_then(|params| params.get_mut("progressToken"))
                && token == ours
            {
                *token = theirs.clone();
            }
        }
        message
    }
}

/// An SSE request still open: its id key, its progress token, its stream.
struct Open {
    key: String,
    progress: Option<Value>,
    stream: mpsc::UnboundedSender<Value>,
    restore: Restore,
}

#[derive(Default)]
struct Routes {
    waiting: HashMap<String, Waiter>,
    open: Vec<Open>,
}

impl Routes {
    /// The request `key` is answered (or given up): it waits no more and its stream closes after `answer`.
    fn finish(&mut self, key: &str, answer: Value) {
        self.open.retain(|open| open.key != key);
        match self.waiting.remove(key) {
            Some(Waiter::Json(waiter, restore)) => {
                let _ = waiter.send(restore.apply(answer));
            }
            Some(Waiter::Stream(stream, restore)) => {
                let _ = stream.send(restore.apply(answer));
            }
            None => {}
        }
    }

    /// The stream a message the host did not ask for travels on, if any: progress on the stream of the
    /// request it reports on; anything else on the newest open stream, unless the session is shared by
    /// several hosts.
    fn stream_for(&self, message: &Value, shared: bool) -> Option<(&mpsc::UnboundedSender<Value>, &Restore)> {
        let token = message.pointer("/params/progressToken");
        let own = token.and_then(|token| {
            self.open
                .iter()
                .find(|open| open.progress.as_ref() == Some(token))
        });
        own.or_else(|| if shared { None } else { self.open.last() })
            .map(|open| (&open.stream, &open.restore))
    }
}

type Shared = Arc<Mutex<Routes>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One gateway session reached over HTTP: its upstream and the POSTs waiting for answers.
pub struct HttpSession {
    gateway: Arc<Gateway>,
    routes: Shared,
    upstream: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
    /// Shared by several hosts (see [`HttpSession::start`]): their ids and progress tokens are replaced by
    /// the session's own, so two hosts that count alike never collide.
    shared: bool,
    renamed: std::sync::atomic::AtomicU64,
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
    /// `shared`: the session serves every stateless request of one agent on one upstream, from any host;
    /// then only progress for a request goes to that request's stream, and nothing else the upstream sends
    /// on its own reaches a host (it could be another host's).
    pub async fn start(
        config: GatewayConfig,
        governor: Arc<dyn Governor>,
        upstream: UpstreamSpec,
        shared: bool,
    ) -> Result<HttpSession, String> {
        let (to_client, mut answers) = mpsc::unbounded_channel::<Value>();
        let (to_upstream, upstream_queue) = mpsc::unbounded_channel::<Value>();
        let gateway = Gateway::new(config, governor, to_client, to_upstream);
        let upstream = connect(gateway.clone(), upstream, upstream_queue).await?;
        let routes: Shared = Arc::default();
        let routes_of_dispatcher = routes.clone();
        let answering = gateway.clone();
        let dispatcher = tokio::spawn(async move {
            while let Some(message) = answers.recv().await {
                match jsonrpc::classify(&message) {
                    Message::Response { id } => {
                        let key = jsonrpc::id_key(id);
                        lock(&routes_of_dispatcher).finish(&key, message);
                    }
                    Message::Request { id, method, .. } => {
                        let routes = lock(&routes_of_dispatcher);
                        if let Some((stream, restore)) = routes.stream_for(&message, shared) {
                            let _ = stream.send(restore.apply(message.clone()));
                            continue;
                        }
                        drop(routes);
                        let refusal = jsonrpc::error(
                            Some(id),
                            jsonrpc::METHOD_NOT_FOUND,
                            format!(
                                "the host has no open stream on warrant's HTTP gateway to carry `{method}` to it"
                            ),
                            None,
                        );
                        answering.from_client(refusal.to_string().as_bytes());
                    }
                    Message::Notification { method } => {
                        let routes = lock(&routes_of_dispatcher);
                        match routes.stream_for(&message, shared) {
                            Some((stream, restore)) => {
                                let _ = stream.send(restore.apply(message.clone()));
                            }
                            None => {
                                tracing::debug!(%method, "no stream open to the host for an upstream notification; dropped");
                            }
                        }
                    }
                    Message::Invalid { .. } => {}
                }
            }
        });
        Ok(HttpSession {
            gateway,
            routes,
            upstream,
            dispatcher,
            shared,
            renamed: std::sync::atomic::AtomicU64::new(1),
        })
    }

    pub fn config(&self) -> &GatewayConfig {
        self.gateway.config()
    }

    /// One POST body; `stream`: the host accepts `text/event-stream`.
    pub async fn handle(&self, body: &[u8], headers: &Headers, stream: bool) -> Reply {
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
        let (value, restore) = self.rename(value);
        // The id the gateway knows the request by (the host's own, unless the session is shared).
        let gateway_id = value.get("id").cloned().unwrap_or(Value::Null);
        let key = jsonrpc::id_key(&gateway_id);
        // Long enough for a held call whose host chose to wait: the user's answer, the approver, the call.
        let config = self.gateway.config();
        let timeout = config.call_timeout + config.approval_wait * 2 + Duration::from_secs(5);
        let too_late = || {
            jsonrpc::error(
                Some(&id),
                INTERNAL_ERROR,
                "no answer came from the upstream in time",
                None,
            )
        };
        let registered = self.register(&key, &value, stream, restore);
        let Some(registered) = registered else {
            return Reply::Refused(jsonrpc::error(
                Some(&id),
                INVALID_REQUEST,
                "a request with this id is already in flight in this session",
                None,
            ));
        };
        self.gateway.from_client(value.to_string().as_bytes());
        match registered {
            Registered::Stream(receiver, ours) => {
                let (routes, answer, gateway) = (self.routes.clone(), too_late(), self.gateway.clone());
                // Watch the stream: answered (no sender left) ends the watch; a host that hung up abandons
                // the request; past the deadline it is answered for.
                tokio::spawn(async move {
                    let deadline = tokio::time::Instant::now() + timeout;
                    loop {
                        tokio::time::sleep(WATCH).await;
                        let Some(stream) = ours.upgrade() else {
                            return;
                        };
                        let mut routes = lock(&routes);
                        // Only if this very request still waits (a later one may reuse its id).
                        let still = matches!(
                            routes.waiting.get(&key),
                            Some(Waiter::Stream(waiting, _)) if waiting.same_channel(&stream)
                        );
                        if !still {
                            return;
                        }
                        if stream.is_closed() {
                            routes.waiting.remove(&key);
                            routes.open.retain(|open| open.key != key);
                            drop(routes);
                            gateway.abandon(&gateway_id);
                            return;
                        }
                        if tokio::time::Instant::now() >= deadline {
                            routes.finish(&key, answer);
                            return;
                        }
                    }
                });
                Reply::Stream(receiver)
            }
            Registered::Json(receiver) => {
                // Dropped before the answer came (the host hung up): the request is abandoned.
                let mut guard = Abandoned {
                    session: self,
                    key: &key,
                    id: &gateway_id,
                    armed: true,
                };
                let reply = match tokio::time::timeout(timeout, receiver).await {
                    Ok(Ok(answer)) => Reply::Answer(answer),
                    Ok(Err(_)) | Err(_) => {
                        lock(&self.routes).waiting.remove(&key);
                        Reply::Answer(too_late())
                    }
                };
                guard.armed = false;
                reply
            }
        }
    }

    /// Note who waits for request `key`'s answer; `None` if a request with that id is already in flight.
    fn register(&self, key: &str, request: &Value, stream: bool, restore: Restore) -> Option<Registered> {
        let mut routes = lock(&self.routes);
        if routes.waiting.contains_key(key) {
            return None;
        }
        if stream {
            let (sender, receiver) = mpsc::unbounded_channel();
            routes
                .waiting
                .insert(key.to_owned(), Waiter::Stream(sender.clone(), restore.clone()));
            routes.open.push(Open {
                key: key.to_owned(),
                progress: request.pointer("/params/_meta/progressToken").cloned(),
                stream: sender.clone(),
                restore,
            });
            return Some(Registered::Stream(receiver, sender.downgrade()));
        }
        let (sender, receiver) = oneshot::channel();
        routes
            .waiting
            .insert(key.to_owned(), Waiter::Json(sender, restore));
        Some(Registered::Json(receiver))
    }

    /// In a shared session, give a host's request an id (and a progress token) of the session's own; what to
    /// give back to the host. Elsewhere the request stays as it came.
    fn rename(&self, mut request: Value) -> (Value, Restore) {
        if !self.shared {
            return (request, Restore::default());
        }
        let serial = self.renamed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut restore = Restore::default();
        if let Some(object) = request.as_object_mut() {
            restore.id = object.insert("id".into(), format!("h{serial}").into());
        }
        if let Some(token) = request.pointer_mut("/params/_meta/progressToken") {
            let ours = Value::from(format!("p{serial}"));
            restore.progress = Some((ours.clone(), std::mem::replace(token, ours)));
        }
        (request, restore)
    }
}

/// Marks a JSON request abandoned if its POST goes away before the answer (see [`Gateway::abandon`]).
struct Abandoned<'a> {
    session: &'a HttpSession,
    key: &'a str,
    id: &'a Value,
    armed: bool,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.session.routes).waiting.remove(self.key);
            self.session.gateway.abandon(self.id);
        }
    }
}

/// How often an open stream is checked for a host that hung up.
const WATCH: Duration = Duration::from_secs(1);

/// How a registered request's answer will arrive.
enum Registered {
    Json(oneshot::Receiver<Value>),
    /// The stream, and a weak handle on its sender (to tell this request from a later one with the same
    /// id, without keeping the stream open once it is answered).
    Stream(mpsc::UnboundedReceiver<Value>, mpsc::WeakUnboundedSender<Value>),
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
