//! One gateway session: the messages between one host and one upstream, for one agent.
//!
//! Client messages arrive through [`Gateway::from_client`], upstream messages through
//! [`Gateway::from_upstream`]; what the gateway sends goes out on the two channels given to
//! [`Gateway::new`], in order. A transport (stdio here, Streamable HTTP in the server) owns the wires.
//!
//! What is governed:
//! - `tools/list` answers: the governor sorts the listed definitions; only the visible ones reach the host.
//! - `tools/call`: a tool the agent cannot see is an unknown tool (JSON-RPC -32602). Otherwise the gate
//!   decides with the full arguments and the session; only an `allow` is forwarded, and the call and its
//!   result are recorded. A deny or a hold is a tool result with `isError: true` that says why, so the model
//!   can correct itself. A held call, made again with the same arguments once approved, carries its approval.
//! - nothing else: the handshake, notifications, resources and upstream-to-host requests pass unchanged.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use warrant_api::gate::{ApprovalStatus, AuthorizeContext, AuthorizeRequest, AuthorizeResponse, Decision};

use crate::bridge;
use crate::governor::Governor;
use crate::jsonrpc::{
    self, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Message, PARSE_ERROR, RESOURCE_NOT_FOUND,
};

/// `_meta` keys a host may set for warrant; they are removed before the call goes upstream.
pub const META_SESSION: &str = "warrant/session";
pub const META_USER_NAMED: &str = "warrant/user_named";
pub const META_APPROVAL: &str = "warrant/approval_id";
/// The decision a refused call's result carries in its `_meta`.
pub const META_DECISION: &str = "warrant/decision";
/// Every `_meta` key of warrant's starts so; none reaches the upstream.
const WARRANT_META_PREFIX: &str = "warrant/";

const MAX_LIST_PAGES: usize = 100;
/// Why a waiting call did not go ahead once approved: nobody was left to hear its result.
const HOST_GONE: &str =
    "the host went away while it waited, so the approval is kept for the same call made again";
/// Held calls a session remembers for their retry.
const MAX_HELD: usize = 1024;
/// Tries to record an allowed call's result (100 ms, 400 ms, 1.6 s apart).
const RECORD_ATTEMPTS: u32 = 4;
/// How long a decision waits for the records of earlier calls to land before it asks the gate anyway.
const RECORDS_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The `McpServer` id of the upstream.
    pub server: String,
    pub agent: String,
    /// The gateway's session id: the gate's session unless a call names its own in `_meta`.
    pub session: String,
    /// How long to wait for the upstream's answer to a call.
    pub call_timeout: Duration,
    /// How long to wait for the upstream's answer to the gateway's own requests (a tool listing).
    pub own_timeout: Duration,
    /// How long a held call waits for an approver, when the host's user chose to wait (elicitation).
    pub approval_wait: Duration,
    /// How often a waiting call asks warrant whether its approval was decided.
    pub approval_poll: Duration,
}

impl GatewayConfig {
    pub fn new(server: &str, agent: &str) -> GatewayConfig {
        GatewayConfig {
            server: server.to_owned(),
            agent: agent.to_owned(),
            session: format!("mcp-{}", random_hex(8)),
            call_timeout: Duration::from_secs(300),
            own_timeout: Duration::from_secs(60),
            approval_wait: Duration::from_secs(600),
            approval_poll: Duration::from_millis(500),
        }
    }
}

/// Why a request sent upstream got no answer.
enum NoAnswer {
    /// The upstream went away (its requests were failed).
    Gone,
    /// None came in time.
    Late,
}

/// A request sent upstream whose answer someone waits for, by the gateway's id for it. Every request goes
/// upstream under an id of the gateway's own, so a host's id can never collide with another request in
/// flight (its own, or the gateway's) and an answer can only reach whoever asked.
enum Pending {
    /// A client request relayed as it came: the answer goes back with the client's id restored.
    Relay(Value),
    /// A governed client request (with the client's id) or the gateway's own (none): the answer goes to the
    /// task that sent it.
    Waiter(oneshot::Sender<Value>, Option<Value>),
}

impl Pending {
    fn client_id(&self) -> Option<&Value> {
        match self {
            Pending::Relay(id) => Some(id),
            Pending::Waiter(_, id) => id.as_ref(),
        }
    }
}

pub struct Gateway {
    config: GatewayConfig,
    governor: Arc<dyn Governor>,
    to_client: mpsc::UnboundedSender<Value>,
    to_upstream: mpsc::UnboundedSender<Value>,
    pending: Mutex<HashMap<String, Pending>>,
    /// The gateway's own requests to the client (an elicitation), by id, and who waits for the answer.
    asked: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Requests whose host went away before the answer (by the host's id): a held call waiting for its
    /// approver does not use the approval for them (the same call made again will).
    abandoned: Mutex<HashSet<String>>,
    /// Records of allowed calls still being written.
    recording: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Held for reading by each record in flight; a decision takes it for writing first, so the gate has seen
    /// every earlier result (its values, their provenance) before it decides the next call.
    records_landed: Arc<tokio::sync::RwLock<()>>,
    /// Whether the gateway knows yet what the upstream speaks (probed on the first 2026-07-28 request).
    settled: AtomicBool,
    probing: tokio::sync::Mutex<()>,
    /// The upstream's `initialize` result when it speaks only the handshake era and the host 2026-07-28:
    /// the gateway then bridges (see [`crate::bridge`]).
    bridged: Mutex<Option<Value>>,
    /// Bridged requests awaiting their answer, by id: the method, to give the answer its modern fields.
    modern_requests: Mutex<HashMap<String, String>>,
    /// Upstream tool name → registry Tool id, for the tools the agent may see; `None` until listed.
    visible: Mutex<Option<HashMap<String, String>>>,
    /// Held calls by (tool, arguments): the approval a retry carries.
    held: Mutex<HashMap<String, String>>,
    /// The client's `initialize` params (handshake-era protocols), replayed to a restarted upstream.
    handshake: Mutex<Option<Map<String, Value>>>,
    /// Sessions whose `invocation` event is recorded, with the trace and root span of each: a session is
    /// one trace (one trail), unless its calls carry a W3C `traceparent` of their own.
    started: tokio::sync::Mutex<HashMap<String, (String, String)>>,
    next_own: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gateway {
    pub fn new(
        config: GatewayConfig,
        governor: Arc<dyn Governor>,
        to_client: mpsc::UnboundedSender<Value>,
        to_upstream: mpsc::UnboundedSender<Value>,
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            config,
            governor,
            to_client,
            to_upstream,
            pending: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
            abandoned: Mutex::new(HashSet::new()),
            recording: Mutex::new(Vec::new()),
            records_landed: Arc::new(tokio::sync::RwLock::new(())),
            settled: AtomicBool::new(false),
            probing: tokio::sync::Mutex::new(()),
            bridged: Mutex::new(None),
            modern_requests: Mutex::new(HashMap::new()),
            visible: Mutex::new(None),
            held: Mutex::new(HashMap::new()),
            handshake: Mutex::new(None),
            started: tokio::sync::Mutex::new(HashMap::new()),
            next_own: AtomicU64::new(1),
        })
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The client's `initialize` params, if it used the handshake.
    pub fn handshake(&self) -> Option<Map<String, Value>> {
        lock(&self.handshake).clone()
    }

    /// One message from the host (a line of stdio, the body of an HTTP POST).
    pub fn from_client(self: &Arc<Self>, bytes: &[u8]) {
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(error) => {
                self.send_client(jsonrpc::error(
                    None,
                    PARSE_ERROR,
                    format!("not JSON: {error}"),
                    None,
                ));
                return;
            }
        };
        let modern_request = bridge::version(&value).is_some()
            || value.get("method").and_then(Value::as_str) == Some("server/discover");
        if modern_request && !self.settled.load(Ordering::Acquire) {
            // What the upstream speaks decides how this request goes to it: find out first.
            let gateway = self.clone();
            tokio::spawn(async move {
                gateway.settle(&value).await;
                gateway.dispatch(value);
            });
            return;
        }
        self.dispatch(value);
    }

    /// Route one parsed message from the host.
    fn dispatch(self: &Arc<Self>, value: Value) {
        match jsonrpc::classify(&value) {
            Message::Invalid { id, reason } => {
                // An invalid response cannot be answered; anything else gets an error naming the problem.
                let answer = jsonrpc::error(id, INVALID_REQUEST, reason, None);
                self.send_client(answer);
            }
            Message::Request { id, method, params } => {
                let id = id.clone();
                let bridged = lock(&self.bridged).clone();
                if let Some(initialized) = bridged
                    && let Some(version) = bridge::version(&value).map(str::to_owned)
                {
                    if method == "server/discover" {
                        self.send_client(bridge::discover(&id, &initialized, &version));
                        return;
                    }
                    lock(&self.modern_requests).insert(jsonrpc::id_key(&id), method.to_owned());
                }
                match method {
                    "tools/call" => {
                        let gateway = self.clone();
                        tokio::spawn(async move {
                            let answer = gateway.call(&id, value).await;
                            gateway.send_client(answer);
                        });
                    }
                    "tools/list" => {
                        let gateway = self.clone();
                        tokio::spawn(async move {
                            let answer = gateway.list(&id, value).await;
                            gateway.send_client(answer);
                        });
                    }
                    "resources/read" => {
                        let gateway = self.clone();
                        tokio::spawn(async move {
                            let answer = gateway.read_resource(&id, value).await;
                            gateway.send_client(answer);
                        });
                    }
                    _ => {
                        if method == "initialize" {
                            *lock(&self.handshake) = params.cloned();
                        }
                        let mut value = value;
                        let ours = self.next_upstream_id();
                        set_id(&mut value, ours.clone());
                        lock(&self.pending).insert(jsonrpc::id_key(&ours), Pending::Relay(id));
                        self.send_upstream(value);
                    }
                }
            }
            Message::Response { id } => {
                // An answer to the gateway's own question stays here; any other goes to the upstream.
                match lock(&self.asked).remove(&jsonrpc::id_key(id)) {
                    Some(waiter) => {
                        let _ = waiter.send(value);
                    }
                    None => self.send_upstream(value),
                }
            }
            Message::Notification { method } => {
                let cancelling = method == "notifications/cancelled";
                let mut value = value;
                if cancelling {
                    // The host cancels by its id; the upstream knows the request by the gateway's.
                    let cancelled = value.pointer("/params/requestId").cloned();
                    let ours = cancelled.and_then(|cancelled| {
                        lock(&self.pending)
                            .iter()
                            .find(|(_, pending)| pending.client_id() == Some(&cancelled))
                            .and_then(|(key, _)| serde_json::from_str::<Value>(key).ok())
                    });
                    match ours {
                        Some(ours) => {
                            if let Some(slot) = value.pointer_mut("/params/requestId") {
                                *slot = ours;
                            }
                        }
                        None => return, // nothing of the host's is in flight under that id
                    }
                }
                self.send_upstream(value);
            }
        }
    }

    /// One message from the upstream.
    pub fn from_upstream(&self, bytes: &[u8]) {
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(server = %self.config.server, "the upstream sent a line that is not JSON ({error}); dropped");
                return;
            }
        };
        match jsonrpc::classify(&value) {
            Message::Response { id } => {
                let waiting = lock(&self.pending).remove(&jsonrpc::id_key(id));
                match waiting {
                    Some(Pending::Waiter(waiter, client)) => {
                        let mut value = value;
                        if let Some(client) = client {
                            set_id(&mut value, client);
                        }
                        let _ = waiter.send(value);
                    }
                    Some(Pending::Relay(client)) => {
                        let mut value = value;
                        set_id(&mut value, client);
                        self.send_client(value);
                    }
                    // Nobody waits (it timed out, or the id is not one of ours): an answer to a governed
                    // request must not reach the agent outside its path, so it goes nowhere.
                    None => {
                        tracing::warn!(server = %self.config.server, "an answer nobody waits for came from the upstream; dropped");
                    }
                }
            }
            Message::Notification { method } => {
                if method == "notifications/tools/list_changed" {
                    *lock(&self.visible) = None;
                }
                self.send_client(value);
            }
            Message::Request { .. } => self.send_client(value),
            Message::Invalid { id, reason } => {
                tracing::warn!(server = %self.config.server, "the upstream sent an invalid message ({reason}); dropped");
                // A request the upstream botched still deserves an answer, so it does not wait forever.
                if let Some(id) = id {
                    let waiting = lock(&self.pending).remove(&jsonrpc::id_key(id));
                    let answer = jsonrpc::error(
                        Some(id),
                        INTERNAL_ERROR,
                        format!(
                            "the upstream `{}` answered with an invalid message: {reason}",
                            self.config.server
                        ),
                        None,
                    );
                    match waiting {
                        Some(Pending::Waiter(waiter, client)) => {
                            let mut answer = answer;
                            if let Some(client) = client {
                                set_id(&mut answer, client);
                            }
                            let _ = waiter.send(answer);
                        }
                        Some(Pending::Relay(client)) => {
                            let mut answer = answer;
                            set_id(&mut answer, client);
                            self.send_client(answer);
                        }
                        None => {}
                    }
                }
            }
        }
    }

    /// The upstream went away: every request waiting on it is answered with an error now.
    pub fn upstream_gone(&self, why: &str) {
        let pending: Vec<Pending> = lock(&self.pending).drain().map(|(_, pending)| pending).collect();
        for pending in pending {
            match pending {
                Pending::Relay(id) => self.send_client(jsonrpc::error(
                    Some(&id),
                    INTERNAL_ERROR,
                    format!("the upstream `{}` {why}; try again", self.config.server),
                    None,
                )),
                // The waiting task sees its channel close and answers for itself.
                Pending::Waiter(..) => {}
            }
        }
    }

    /// A request id of the gateway's own and the channel its answer arrives on. The caller sends the request.
    pub fn own_request_id(&self) -> (Value, oneshot::Receiver<Value>) {
        let id = self.next_upstream_id();
        let (sender, receiver) = oneshot::channel();
        lock(&self.pending).insert(jsonrpc::id_key(&id), Pending::Waiter(sender, None));
        (id, receiver)
    }

    /// The host no longer waits for its request `id` (an HTTP host that hung up).
    pub fn abandon(&self, id: &Value) {
        let mut abandoned = lock(&self.abandoned);
        if abandoned.len() >= MAX_HELD {
            abandoned.clear();
        }
        abandoned.insert(jsonrpc::id_key(id));
    }

    /// Whether the host gave up on request `id` (and forget it).
    fn gave_up(&self, id: &Value) -> bool {
        lock(&self.abandoned).remove(&jsonrpc::id_key(id))
    }

    /// Stop waiting for the answer to the gateway's own request `id` (it will not come, or nobody cares).
    pub fn forget_request(&self, id: &Value) {
        lock(&self.pending).remove(&jsonrpc::id_key(id));
    }

    /// A fresh id for a request going upstream.
    fn next_upstream_id(&self) -> Value {
        json!(format!(
            "warrant-{}",
            self.next_own.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn send_client(&self, mut value: Value) {
        if let Some(id) = value.get("id").filter(|_| value.get("method").is_none())
            && let Some(method) = lock(&self.modern_requests).remove(&jsonrpc::id_key(id))
        {
            bridge::modernise(&mut value, &method);
        }
        let _ = self.to_client.send(value);
    }

    fn send_upstream(&self, mut value: Value) {
        // What a host says to warrant (`_meta` keys `warrant/...`) stays here.
        jsonrpc::strip_meta(&mut value, WARRANT_META_PREFIX);
        if lock(&self.bridged).is_some() {
            bridge::strip_envelope(&mut value);
        }
        let _ = self.to_upstream.send(value);
    }

    /// Find out, once, whether the upstream speaks 2026-07-28 (it answers `server/discover` with the host's
    /// version among its own) or only the handshake era: then the gateway initialises it with a handshake
    /// made from `first`'s envelope and bridges from then on.
    async fn settle(&self, first: &Value) {
        let _probing = self.probing.lock().await;
        if self.settled.load(Ordering::Acquire) {
            return;
        }
        let version = bridge::version(first).unwrap_or("2026-07-28").to_owned();
        let mut params = Map::new();
        if let Some(Value::Object(meta)) = first.pointer("/params/_meta") {
            let envelope: Map<String, Value> = meta
                .iter()
                .filter(|(key, _)| key.starts_with(bridge::ENVELOPE_PREFIX))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            params.insert("_meta".into(), Value::Object(envelope));
        }
        let Some(discovered) = self.ask_upstream("server/discover", params).await else {
            // No answer at all (the upstream is down or slow): try again with the next request.
            return;
        };
        let modern = discovered
            .pointer("/result/supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|versions| versions.iter().any(|known| known == version.as_str()));
        if !modern {
            let handshake = bridge::initialize_params(first);
            let Some(initialized) = self.ask_upstream("initialize", handshake.clone()).await else {
                return;
            };
            if let Some(result) = initialized.get("result").cloned() {
                // Kept as the session's handshake, so a restarted upstream gets it again.
                *lock(&self.handshake) = Some(handshake);
                *lock(&self.bridged) = Some(result);
                let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
                let _ = self.to_upstream.send(initialized);
            } else {
                tracing::warn!(server = %self.config.server, "the upstream answered neither server/discover nor initialize; messages pass as they are");
            }
        }
        self.settled.store(true, Ordering::Release);
    }

    /// A request of the gateway's own to the upstream; its answer, or `None` if none came in time.
    async fn ask_upstream(&self, method: &str, params: Map<String, Value>) -> Option<Value> {
        let request = jsonrpc::request(Value::Null, method, params);
        self.request_upstream(request, None, self.config.own_timeout)
            .await
            .ok()
    }

    /// Send `message` (a client request with id `id`) upstream and wait for its answer.
    async fn exchange(&self, id: &Value, message: Value, timeout: Duration) -> Result<Value, String> {
        self.request_upstream(message, Some(id), timeout)
            .await
            .map_err(|missing| match missing {
                NoAnswer::Gone => format!("the upstream `{}` went away before answering", self.config.server),
                NoAnswer::Late => format!(
                    "the upstream `{}` did not answer within {} s",
                    self.config.server,
                    timeout.as_secs()
                ),
            })
    }

    /// Send request `message` upstream under an id of the gateway's own and wait up to `timeout` for its
    /// answer, which carries `client`'s id again when the request is a host's.
    async fn request_upstream(
        &self,
        mut message: Value,
        client: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, NoAnswer> {
        let (sender, receiver) = oneshot::channel();
        let ours = self.next_upstream_id();
        set_id(&mut message, ours.clone());
        lock(&self.pending).insert(jsonrpc::id_key(&ours), Pending::Waiter(sender, client.cloned()));
        self.send_upstream(message);
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(NoAnswer::Gone),
            Err(_) => {
                self.forget_request(&ours);
                Err(NoAnswer::Late)
            }
        }
    }

    /// A client's `tools/list`: forwarded, and its answer cut to what the agent may see.
    async fn list(&self, id: &Value, message: Value) -> Value {
        let first_page = message.pointer("/params/cursor").is_none();
        let answer = match self.exchange(id, message, self.config.call_timeout).await {
            Ok(answer) => answer,
            Err(why) => return jsonrpc::error(Some(id), INTERNAL_ERROR, why, None),
        };
        let Some(tools) = answer.pointer("/result/tools").and_then(Value::as_array) else {
            return answer; // an error, or a result without tools: nothing to hide
        };
        match self.sort(tools).await {
            Ok((kept, visible)) => {
                let mut cache = lock(&self.visible);
                match cache.as_mut() {
                    Some(known) if !first_page => known.extend(visible),
                    _ => *cache = Some(visible),
                }
                drop(cache);
                let mut answer = answer;
                if let Some(slot) = answer.pointer_mut("/result/tools") {
                    *slot = Value::Array(kept);
                }
                answer
            }
            Err(why) => jsonrpc::error(Some(id), INTERNAL_ERROR, why, None),
        }
    }

    /// Sort listed definitions with the governor: the ones to show (in the upstream's order) and the
    /// visible names' registry ids.
    async fn sort(&self, tools: &[Value]) -> Result<(Vec<Value>, HashMap<String, String>), String> {
        let definitions: Vec<Map<String, Value>> = tools
            .iter()
            .filter_map(|tool| tool.as_object().cloned())
            .collect();
        let review = self.governor.review_tools(definitions).await.map_err(|error| {
            format!(
                "warrant could not check the tools of `{}`, so none are shown: {error}",
                self.config.server
            )
        })?;
        let visible: HashMap<String, String> = review
            .visible
            .into_iter()
            .map(|tool| (tool.name, tool.tool))
            .collect();
        let mut shown = HashSet::new();
        let kept = tools
            .iter()
            .filter(|tool| {
                tool.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| visible.contains_key(name) && shown.insert(name.to_owned()))
            })
            .cloned()
            .collect();
        Ok((kept, visible))
    }

    /// The registry Tool `name` is, if the agent may see it; lists the upstream's tools first if this
    /// session has not yet (`envelope`: the 2026-07-28 `_meta` keys to send with that listing).
    async fn visible_tool(
        &self,
        name: &str,
        envelope: &Map<String, Value>,
    ) -> Result<Option<String>, String> {
        if let Some(known) = lock(&self.visible).as_ref() {
            return Ok(known.get(name).cloned());
        }
        let mut all = HashMap::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..MAX_LIST_PAGES {
            let mut params = Map::new();
            if !envelope.is_empty() {
                params.insert("_meta".into(), Value::Object(envelope.clone()));
            }
            if let Some(cursor) = cursor.take() {
                params.insert("cursor".into(), cursor);
            }
            let request = jsonrpc::request(Value::Null, "tools/list", params);
            let answer = match self
                .request_upstream(request, None, self.config.own_timeout)
                .await
            {
                Ok(answer) => answer,
                Err(NoAnswer::Gone) => {
                    return Err(format!(
                        "the upstream `{}` went away while listing its tools",
                        self.config.server
                    ));
                }
                Err(NoAnswer::Late) => {
                    return Err(format!(
                        "the upstream `{}` did not list its tools in time",
                        self.config.server
                    ));
                }
            };
            let Some(tools) = answer.pointer("/result/tools").and_then(Value::as_array) else {
                return Err(format!(
                    "the upstream `{}` did not list its tools: {}",
                    self.config.server,
                    answer.get("error").unwrap_or(&Value::Null)
                ));
            };
            let (_, visible) = self.sort(tools).await?;
            all.extend(visible);
            match answer.pointer("/result/nextCursor") {
                Some(next) if !next.is_null() => cursor = Some(next.clone()),
                _ => break,
            }
        }
        let tool = all.get(name).cloned();
        *lock(&self.visible) = Some(all);
        Ok(tool)
    }

    /// A client's `tools/call`, governed. Returns the answer for the client.
    async fn call(&self, id: &Value, mut message: Value) -> Value {
        // A request abandoned earlier under the same id is not this one.
        self.gave_up(id);
        let invalid = |why: String| jsonrpc::error(Some(id), INVALID_PARAMS, why, None);
        let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
            return invalid("tools/call needs `params` with the tool's `name`".into());
        };
        let Some(name) = params.get("name").and_then(Value::as_str).map(str::to_owned) else {
            return invalid("tools/call needs a string `name`".into());
        };
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(args)) => args.clone(),
            Some(_) => return invalid("`arguments` must be an object".into()),
        };
        let (context, envelope) = match CallContext::take(params) {
            Ok(read) => read,
            Err(why) => return invalid(why),
        };
        let modern = envelope.contains_key(bridge::PROTOCOL_VERSION);
        // A 2026-07-28 retry answering the gateway's elicitation (any other round trip is the upstream's).
        let answered = take_approval_round(params);

        let tool = match self.visible_tool(&name, &envelope).await {
            Ok(Some(tool)) => tool,
            Ok(None) => return invalid(format!("unknown tool: {name}")),
            Err(why) => return jsonrpc::error(Some(id), INTERNAL_ERROR, why, None),
        };
        let (session, trace_id, parent_span) = match self.place(&context).await {
            Ok(place) => place,
            Err(why) => return not_forwarded(id, &why),
        };
        let held_key = format!(
            "{name}\u{0}{}",
            String::from_utf8_lossy(&warrant_log::canonicalize(&Value::Object(args.clone())))
        );
        let mut approval_id = context
            .approval_id
            .clone()
            .or_else(|| lock(&self.held).get(&held_key).cloned());
        // The user chose to wait for the approver (the answer to a 2026-07-28 elicitation round).
        let mut waited = false;
        // Only a round this gateway started, for this very call, counts: a made-up state waits for nothing.
        let answered = answered.filter(|(approval, _)| lock(&self.held).get(&held_key) == Some(approval));
        if let Some((approval, accepted)) = answered {
            waited = true;
            if !accepted {
                let why = "the user chose not to wait for it; once an approver approves it, the same call \
                           with the same arguments is allowed once";
                return waited_text(id, &approval, why, modern);
            }
            if let Some(unusable) = self.await_approval(&approval).await {
                return waited_text(id, &approval, &unusable, modern);
            }
            if self.gave_up(id) {
                return waited_text(id, &approval, HOST_GONE, modern);
            }
            approval_id = Some(approval);
        }
        let span = random_hex(8);
        // Until an `allow`: a held call whose user waits for the approver is decided again with it.
        // The results of earlier calls are recorded off their answers' path; the gate must have them before
        // it decides this one (an address a result showed is judged by where it came from). Bounded: a record
        // that cannot land in time does not hold the agent up for good, and the gate then judges without it.
        let _ = tokio::time::timeout(RECORDS_WAIT, self.records_landed.write()).await;
        loop {
            let request = AuthorizeRequest {
                agent: self.config.agent.clone(),
                tool: tool.clone(),
                args: Some(args.clone()),
                session: Some(session.clone()),
                trace_id: Some(trace_id.clone()),
                span_id: Some(span.clone()),
                approval_id: approval_id.clone(),
                context: AuthorizeContext {
                    user_named: context.user_named.clone(),
                },
            };
            let decision = match self.governor.authorize(request).await {
                Ok(decision) => decision,
                Err(error) => {
                    return not_forwarded(id, &format!("warrant could not decide it: {error}"));
                }
            };
            match decision.decision {
                Decision::Deny => return refusal(id, &decision, modern, denied_text(&name, &decision)),
                Decision::ApprovalRequired => {
                    let Some(approval) = decision.approval_id.clone() else {
                        return refusal(id, &decision, modern, held_text(&name, &decision));
                    };
                    self.remember_held(&held_key, &approval);
                    let question = elicitation(&name, &decision, &approval);
                    if waited || !self.client_elicits(&envelope) {
                        return refusal(id, &decision, modern, held_text(&name, &decision));
                    }
                    if modern {
                        // The stateless protocol asks the client through the result; it retries with the
                        // user's answer, and the retry waits for the approver.
                        return input_required(id, &approval, question);
                    }
                    waited = true;
                    match self.ask_client("elicitation/create", question).await {
                        Some(answer) if elicitation_accepted(&answer) => {}
                        _ => return refusal(id, &decision, modern, held_text(&name, &decision)),
                    }
                    if let Some(unusable) = self.await_approval(&approval).await {
                        return waited_text(id, &approval, &unusable, modern);
                    }
                    if self.gave_up(id) {
                        return waited_text(id, &approval, HOST_GONE, modern);
                    }
                    approval_id = Some(approval);
                }
                Decision::Allow => {
                    lock(&self.held).remove(&held_key);
                    break;
                }
            }
        }

        let started = Utc::now();
        let clock = Instant::now();
        let answer = match self.exchange(id, message, self.config.call_timeout).await {
            Ok(answer) => answer,
            Err(why) => jsonrpc::error(Some(id), INTERNAL_ERROR, why, None),
        };
        let latency_ms = clock.elapsed().as_secs_f64() * 1000.0;
        let call = Call {
            id,
            name: &name,
            tool: &tool,
            session: &session,
            trace_id: &trace_id,
            parent_span: &parent_span,
            span: &span,
        };
        let events = self.call_events(&call, args, &answer, started, latency_ms);
        self.record_in_background(name, events);
        answer
    }

    /// Record an allowed call and its result off the answer's path. The decision that let the call through
    /// is durable before the upstream saw it, and the gate counted the call then; the upstream has acted,
    /// so the agent gets its answer at once (holding it back would only make the agent act twice). The
    /// record is retried (its events have idempotency keys), and a failure after that is said loudly.
    fn record_in_background(&self, tool: String, events: Vec<Value>) {
        let governor = self.governor.clone();
        let server = self.config.server.clone();
        // Taken before the task starts, so a decision that follows this answer waits for the record.
        let landed = self.records_landed.clone();
        let held = landed.clone().try_read_owned().ok();
        let task = tokio::spawn(async move {
            let _landing = match held {
                Some(guard) => guard,
                None => landed.read_owned().await,
            };
            let mut pause = Duration::from_millis(100);
            for attempt in 1..=RECORD_ATTEMPTS {
                match governor.record(events.clone()).await {
                    Ok(_) => return,
                    Err(error) if attempt == RECORD_ATTEMPTS => {
                        tracing::error!(%server, %tool, "the result of an allowed call could not be recorded: {error}");
                    }
                    Err(_) => {
                        tokio::time::sleep(pause).await;
                        pause *= 4;
                    }
                }
            }
        });
        // Detached, not aborted with the session: a record in flight when the host leaves still lands.
        let mut recording = lock(&self.recording);
        recording.retain(|task| !task.is_finished());
        recording.push(task);
    }

    /// Wait until every call's record is written (or given up): before the gateway goes away.
    pub async fn drain_records(&self) {
        let recording = std::mem::take(&mut *lock(&self.recording));
        for task in recording {
            let _ = task.await;
        }
    }

    /// Remember the approval a held call's retry carries. Bounded: past [`MAX_HELD`] the calls held so far
    /// lose their link (made again they are held again, or name their approval in `_meta`).
    fn remember_held(&self, held_key: &str, approval: &str) {
        let mut held = lock(&self.held);
        if held.len() >= MAX_HELD && !held.contains_key(held_key) {
            held.clear();
        }
        held.insert(held_key.to_owned(), approval.to_owned());
    }

    /// Whether the host can put a question to its user (the elicitation capability).
    fn client_elicits(&self, envelope: &Map<String, Value>) -> bool {
        if envelope.contains_key(bridge::PROTOCOL_VERSION) {
            // A 2026-07-28 request says what its own client can do; a shared session's handshake is not it.
            return envelope
                .get("io.modelcontextprotocol/clientCapabilities")
                .and_then(|capabilities| capabilities.get("elicitation"))
                .is_some();
        }
        let handshake = self.handshake().and_then(|params| {
            params
                .get("capabilities")
                .and_then(|capabilities| capabilities.get("elicitation"))
                .cloned()
        });
        handshake.is_some()
    }

    /// Put a request to the client (handshake-era: the gateway is its server) and wait for the answer;
    /// `None` if none came in time.
    async fn ask_client(&self, method: &str, params: Value) -> Option<Value> {
        let id = json!(format!(
            "warrant-ask-{}",
            self.next_own.fetch_add(1, Ordering::Relaxed)
        ));
        let (sender, receiver) = oneshot::channel();
        lock(&self.asked).insert(jsonrpc::id_key(&id), sender);
        let params = params.as_object().cloned().unwrap_or_default();
        self.send_client(jsonrpc::request(id.clone(), method, params));
        match tokio::time::timeout(self.config.approval_wait, receiver).await {
            Ok(Ok(answer)) => Some(answer),
            _ => {
                lock(&self.asked).remove(&jsonrpc::id_key(&id));
                None
            }
        }
    }

    /// Wait for an approver to decide `approval`: `None` once it is approved (usable), else why not (its
    /// status, or that the wait ran out).
    async fn await_approval(&self, approval: &str) -> Option<String> {
        let deadline = Instant::now() + self.config.approval_wait;
        loop {
            match self.governor.approval(approval.to_owned()).await {
                Ok(ApprovalStatus::Approved) => return None,
                Ok(ApprovalStatus::Pending) => {}
                Ok(status) => return Some(format!("it was {}", status.as_str())),
                Err(error) => tracing::warn!(%approval, "reading the approval: {error}"),
            }
            if Instant::now() >= deadline {
                return Some(format!(
                    "no approver decided it within {} s",
                    self.config.approval_wait.as_secs()
                ));
            }
            tokio::time::sleep(self.config.approval_poll).await;
        }
    }

    /// Where a governed request belongs: its session, trace and parent span. A session without a trace of
    /// its own gets the gateway's, rooted in an `invocation` recorded before its first request.
    async fn place(&self, context: &CallContext) -> Result<(String, String, String), String> {
        let session = context
            .session
            .clone()
            .unwrap_or_else(|| self.config.session.clone());
        match &context.trace {
            Some((trace, span)) => Ok((session, trace.clone(), span.clone())),
            None => {
                let (trace, span) = self.start(&session).await?;
                Ok((session, trace, span))
            }
        }
    }

    /// A client's `resources/read`: a read of the data source the resource belongs to. Forwarded only if the
    /// agent may read it; its content reaches the agent only once the read is recorded as a `data_access`
    /// (which raises the session's sensitivity, as any read does).
    async fn read_resource(&self, id: &Value, mut message: Value) -> Value {
        let invalid = |why: String| jsonrpc::error(Some(id), INVALID_PARAMS, why, None);
        let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
            return invalid("resources/read needs `params` with the resource's `uri`".into());
        };
        let Some(uri) = params.get("uri").and_then(Value::as_str).map(str::to_owned) else {
            return invalid("resources/read needs a string `uri`".into());
        };
        let context = match CallContext::take(params) {
            Ok((context, _)) => context,
            Err(why) => return invalid(why),
        };
        let access = match self.governor.resource(uri.clone()).await {
            Ok(access) => access,
            Err(error) => {
                return not_forwarded(id, &format!("warrant could not decide the read: {error}"));
            }
        };
        let (Some(source), None) = (&access.source, &access.refused) else {
            let why = access.refused.as_deref().unwrap_or("no data source");
            return jsonrpc::error(
                Some(id),
                RESOURCE_NOT_FOUND,
                format!("resource not available: {why}"),
                Some(json!({"uri": uri})),
            );
        };
        let (session, trace_id, parent_span) = match self.place(&context).await {
            Ok(place) => place,
            Err(why) => return not_forwarded(id, &why),
        };
        let answer = match self.exchange(id, message, self.config.call_timeout).await {
            Ok(answer) => answer,
            Err(why) => return jsonrpc::error(Some(id), INTERNAL_ERROR, why, None),
        };
        let Some(contents) = answer.pointer("/result/contents").and_then(Value::as_array) else {
            return answer; // an error: nothing was read
        };
        let span = random_hex(8);
        let event = json!({
            "id": record_key(Utc::now(), &span, "read"),
            "time": now(),
            "agent": self.config.agent,
            "kind": "data_access",
            "trace_id": trace_id,
            "span_id": span,
            "parent_span_id": parent_span,
            "session": session,
            "attrs": {
                "source": source,
                "sensitivity": access.sensitivity,
                "operation": "read",
                "records": contents.len(),
                "uri": uri,
                "mcp_server": self.config.server,
            },
            "content": {"contents": contents},
        });
        if let Err(error) = self.governor.record(vec![event]).await {
            // The agent must not hold data whose reading the session's taint does not know of.
            return jsonrpc::error(
                Some(id),
                INTERNAL_ERROR,
                format!(
                    "the resource was read but warrant could not record the read, so it is withheld: {error}"
                ),
                None,
            );
        }
        answer
    }

    /// Record the session's `invocation` (the root of its trail) once, before its first request is decided;
    /// the session's trace id and root span.
    async fn start(&self, session: &str) -> Result<(String, String), String> {
        let mut started = self.started.lock().await;
        if let Some(root) = started.get(session) {
            return Ok(root.clone());
        }
        let client = self
            .handshake()
            .and_then(|params| params.get("clientInfo").cloned())
            .unwrap_or(Value::Null);
        let (trace_id, span_id) = (random_hex(16), random_hex(8));
        let event = json!({
            "id": format!("mcp-invocation:{trace_id}"),
            "time": now(),
            "agent": self.config.agent,
            "kind": "invocation",
            "trace_id": trace_id,
            "span_id": span_id,
            "session": session,
            "attrs": {
                "name": format!("mcp {}", self.config.server),
                "workflow": format!("mcp:{}", self.config.server),
                "mcp_server": self.config.server,
                "mcp_client": client,
            },
        });
        self.governor
            .record(vec![event])
            .await
            .map_err(|error| format!("warrant could not record the session's start: {error}"))?;
        started.insert(session.to_owned(), (trace_id.clone(), span_id.clone()));
        Ok((trace_id, span_id))
    }

    fn call_events(
        &self,
        call: &Call<'_>,
        args: Map<String, Value>,
        answer: &Value,
        started: chrono::DateTime<Utc>,
        latency_ms: f64,
    ) -> Vec<Value> {
        let call_id = jsonrpc::id_key(call.id);
        let failed = answer.get("error").is_some()
            || answer.pointer("/result/isError").and_then(Value::as_bool) == Some(true);
        let result = answer
            .get("result")
            .or_else(|| answer.get("error"))
            .cloned()
            .unwrap_or(Value::Null);
        vec![
            json!({
                "id": record_key(started, call.span, "call"),
                "time": started.to_rfc3339_opts(SecondsFormat::Micros, true),
                "agent": self.config.agent,
                "kind": "tool_call",
                "trace_id": call.trace_id,
                "span_id": call.span,
                "parent_span_id": call.parent_span,
                "session": call.session,
                "attrs": {
                    "tool": call.tool,
                    "call_id": call_id,
                    "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
                    "mcp_server": self.config.server,
                    "mcp_tool": call.name,
                },
                "content": {"args": args},
            }),
            json!({
                "id": record_key(started, call.span, "result"),
                "time": now(),
                "agent": self.config.agent,
                "kind": "tool_result",
                "trace_id": call.trace_id,
                "parent_span_id": call.span,
                "session": call.session,
                "attrs": {
                    "tool": call.tool,
                    "call_id": call_id,
                    "status": if failed { "error" } else { "ok" },
                },
                "content": {"result": result},
            }),
        ]
    }
}

/// The idempotency key of a record the gateway writes (a retry of the record lands once). Time first: the
/// keys of every session's records then arrive in order at one end of the log's client-id index, one page
/// per commit, where keys led by the session's trace id touched one page per session.
fn record_key(at: chrono::DateTime<Utc>, span: &str, what: &str) -> String {
    format!("mcp:{:014x}:{span}:{what}", at.timestamp_micros().max(0))
}

struct Call<'a> {
    id: &'a Value,
    name: &'a str,
    tool: &'a str,
    session: &'a str,
    trace_id: &'a str,
    parent_span: &'a str,
    span: &'a str,
}

/// What a call's `_meta` tells warrant.
#[derive(Debug, Default, PartialEq)]
struct CallContext {
    session: Option<String>,
    user_named: Vec<String>,
    approval_id: Option<String>,
    /// (trace id, parent span id) from a W3C `traceparent`.
    trace: Option<(String, String)>,
}

impl CallContext {
    /// Read what a request's `params._meta` tells warrant and remove it, so the upstream sees the rest of
    /// `_meta`. Also returns the 2026-07-28 envelope keys the request carries.
    fn take(params: &mut Map<String, Value>) -> Result<(CallContext, Map<String, Value>), String> {
        let meta = match params.get_mut("_meta") {
            None => Map::new(),
            Some(Value::Object(meta)) => {
                let seen = meta.clone();
                for key in [META_SESSION, META_USER_NAMED, META_APPROVAL] {
                    meta.remove(key);
                }
                if meta.is_empty() {
                    params.remove("_meta");
                }
                seen
            }
            Some(_) => return Err("`_meta` must be an object".into()),
        };
        let context = CallContext::read(&meta)?;
        let envelope = meta
            .into_iter()
            .filter(|(key, _)| key.starts_with(bridge::ENVELOPE_PREFIX))
            .collect();
        Ok((context, envelope))
    }

    fn read(meta: &Map<String, Value>) -> Result<CallContext, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            match meta.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
                Some(_) => Err(format!("`_meta.{key}` must be a non-empty string")),
            }
        };
        let user_named = match meta.get(META_USER_NAMED) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("`_meta.{META_USER_NAMED}` must be a list of strings"))?,
            Some(_) => return Err(format!("`_meta.{META_USER_NAMED}` must be a list of strings")),
        };
        // A malformed traceparent is ignored, as W3C Trace Context asks of a receiver.
        let trace = meta
            .get("traceparent")
            .and_then(Value::as_str)
            .and_then(traceparent);
        Ok(CallContext {
            session: text(META_SESSION)?,
            user_named,
            approval_id: text(META_APPROVAL)?,
            trace,
        })
    }
}

/// (trace id, span id) of a version-00 W3C `traceparent`, if it is well formed and not all zeros.
fn traceparent(header: &str) -> Option<(String, String)> {
    let mut parts = header.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
            && text.bytes().any(|byte| byte != b'0')
    };
    (version == "00" && parts.next().is_none() && hex(trace, 32) && hex(span, 16) && flags.len() == 2)
        .then(|| (trace.to_owned(), span.to_owned()))
}

fn reasons_text(decision: &AuthorizeResponse) -> String {
    decision
        .reasons
        .iter()
        .map(|reason| format!("{}: {}", reason.rule, reason.text))
        .collect::<Vec<_>>()
        .join("; ")
}

fn denied_text(name: &str, decision: &AuthorizeResponse) -> String {
    format!(
        "warrant denied this call to `{name}` (evidence seq {}): {}. The call was not made.",
        decision.seq,
        reasons_text(decision)
    )
}

fn held_text(name: &str, decision: &AuthorizeResponse) -> String {
    let approval = decision.approval_id.as_deref().unwrap_or("(none)");
    format!(
        "warrant held this call to `{name}` for human approval: approval {approval} (evidence seq {}): {}. \
         The call was not made. An approver decides it with `warrant approvals approve {approval}` or \
         `warrant approvals deny {approval} --reason ...`; once approved, make the same call again with the \
         same arguments and it is allowed once.",
        decision.seq,
        reasons_text(decision)
    )
}

fn set_id(message: &mut Value, id: Value) {
    if let Some(object) = message.as_object_mut() {
        object.insert("id".into(), id);
    }
}

/// The `requestState` of the gateway's own 2026-07-28 elicitation round: it names the approval.
const APPROVAL_STATE: &str = "warrant-approval:";
/// The key of the gateway's question among a round's `inputRequests`.
const APPROVAL_INPUT: &str = "warrant/approval";

/// Take the user's answer to the gateway's elicitation out of a retried call's params: (approval id,
/// accepted). A round trip that is not the gateway's is left for the upstream.
fn take_approval_round(params: &mut Map<String, Value>) -> Option<(String, bool)> {
    let approval = params
        .get("requestState")
        .and_then(Value::as_str)
        .and_then(|state| state.strip_prefix(APPROVAL_STATE))?
        .to_owned();
    params.remove("requestState");
    let responses = params.remove("inputResponses");
    let accepted = responses
        .as_ref()
        .and_then(|responses| responses.get(APPROVAL_INPUT))
        .is_some_and(elicitation_accepted);
    Some((approval, accepted))
}

/// Whether an elicitation answer (a JSON-RPC response, or the bare result) says `accept`.
fn elicitation_accepted(answer: &Value) -> bool {
    let result = answer.get("result").unwrap_or(answer);
    result.get("action").and_then(Value::as_str) == Some("accept")
}

/// The question put to the host's user when a call is held: wait here for the approver, or not.
fn elicitation(name: &str, decision: &AuthorizeResponse, approval: &str) -> Value {
    json!({
        "message": format!(
            "warrant held the call to `{name}` for human approval ({approval}): {}. An approver decides it \
             (`warrant approvals approve {approval}`). Accept to wait here for the decision; decline to go on \
             without the call.",
            reasons_text(decision)
        ),
        "requestedSchema": {"type": "object", "properties": {}},
    })
}

/// A 2026-07-28 `input_required` result carrying the gateway's question; the state names the approval.
fn input_required(id: &Value, approval: &str, question: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "resultType": "input_required",
        "inputRequests": {APPROVAL_INPUT: {"method": "elicitation/create", "params": question}},
        "requestState": format!("{APPROVAL_STATE}{approval}"),
    }})
}

/// A held call the user waited for, which cannot go ahead.
fn waited_text(id: &Value, approval: &str, why: &str, modern: bool) -> Value {
    let mut result = json!({
        "content": [{"type": "text", "text": format!(
            "warrant held this call for approval {approval}, and {why}. The call was not made."
        )}],
        "isError": true,
    });
    if modern && let Some(object) = result.as_object_mut() {
        object.insert("resultType".into(), "complete".into());
    }
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A tool result that tells the model why the call did not happen.
fn refusal(id: &Value, decision: &AuthorizeResponse, modern: bool, text: String) -> Value {
    let mut result = json!({
        "content": [{"type": "text", "text": text}],
        "isError": true,
        "_meta": {META_DECISION: {
            "decision": decision.decision.as_str(),
            "reasons": decision.reasons,
            "seq": decision.seq,
            "approval_id": decision.approval_id,
        }},
    });
    if modern && let Some(object) = result.as_object_mut() {
        object.insert("resultType".into(), "complete".into());
    }
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// Fail closed: the call was not forwarded because warrant could not decide or record it.
fn not_forwarded(id: &Value, why: &str) -> Value {
    jsonrpc::error(
        Some(id),
        INTERNAL_ERROR,
        format!("the call was not forwarded: {why}"),
        None,
    )
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `bytes` random bytes as lowercase hex (never all zeros, as W3C ids must not be).
pub fn random_hex(bytes: usize) -> String {
    loop {
        let mut buffer = vec![0u8; bytes];
        if getrandom::getrandom(&mut buffer).is_err() {
            // No entropy source: fall back to the clock, still unique within this process.
            let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
            for (index, byte) in buffer.iter_mut().enumerate() {
                *byte = (nanos >> ((index % 8) * 8)) as u8 ^ index as u8;
            }
        }
        if buffer.iter().any(|byte| *byte != 0) {
            return hex::encode(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governor::{Answer, GovernorError};
    use warrant_api::mcp::{ResourceAccess, ToolReview};
    use warrant_log::Seq;

    /// A governor for the relay's own tests: nothing governed is asked of it.
    struct Unused;

    impl Governor for Unused {
        fn review_tools(&self, _: Vec<Map<String, Value>>) -> Answer<'_, ToolReview> {
            Box::pin(async { Err(GovernorError("not in this test".into())) })
        }
        fn authorize(&self, _: AuthorizeRequest) -> Answer<'_, AuthorizeResponse> {
            Box::pin(async { Err(GovernorError("not in this test".into())) })
        }
        fn approval(&self, _: String) -> Answer<'_, ApprovalStatus> {
            Box::pin(async { Err(GovernorError("not in this test".into())) })
        }
        fn resource(&self, _: String) -> Answer<'_, ResourceAccess> {
            Box::pin(async { Err(GovernorError("not in this test".into())) })
        }
        fn record(&self, _: Vec<Value>) -> Answer<'_, Vec<Seq>> {
            Box::pin(async { Err(GovernorError("not in this test".into())) })
        }
    }

    /// The upstream knows a relayed request by the gateway's id only: the answer goes back under the host's
    /// id, a host's cancellation is translated, one for nothing in flight goes nowhere, and an answer
    /// nobody waits for is dropped.
    #[tokio::test]
    async fn relayed_requests_travel_under_the_gateways_ids() {
        let (to_client, mut client) = mpsc::unbounded_channel();
        let (to_upstream, mut upstream) = mpsc::unbounded_channel();
        let gateway = Gateway::new(
            GatewayConfig::new("crm", "support"),
            Arc::new(Unused),
            to_client,
            to_upstream,
        );
        let host = |message: Value| gateway.from_client(message.to_string().as_bytes());

        host(
            json!({"jsonrpc": "2.0", "id": 5, "method": "prompts/get", "params": {"name": "p", "_meta": {"warrant/session": "s", "trace": 1}}}),
        );
        let sent = upstream.recv().await.unwrap();
        let ours = sent["id"].clone();
        assert_ne!(ours, json!(5));
        assert_eq!(
            sent["params"]["_meta"],
            json!({"trace": 1}),
            "warrant's keys stay here"
        );

        host(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}));
        let cancelled = upstream.recv().await.unwrap();
        assert_eq!(cancelled["params"]["requestId"], ours);
        host(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}));

        gateway.from_upstream(
            json!({"jsonrpc": "2.0", "id": ours, "result": {"messages": []}})
                .to_string()
                .as_bytes(),
        );
        let answer = client.recv().await.unwrap();
        assert_eq!(answer["id"], 5);
        gateway.from_upstream(
            json!({"jsonrpc": "2.0", "id": 5, "result": {}})
                .to_string()
                .as_bytes(),
        );
        host(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(
            upstream.recv().await.unwrap()["method"],
            "notifications/initialized",
            "the cancellation for nothing in flight was not sent"
        );
        assert!(client.try_recv().is_err(), "the stray answer was dropped");
    }

    #[test]
    fn a_call_meta_names_session_recipients_approval_and_trace() {
        let meta = json!({
            "warrant/session": "s1",
            "warrant/user_named": ["a@example.com"],
            "warrant/approval_id": "apr_1",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        });
        let context = CallContext::read(meta.as_object().unwrap()).unwrap();
        assert_eq!(
            context,
            CallContext {
                session: Some("s1".into()),
                user_named: vec!["a@example.com".into()],
                approval_id: Some("apr_1".into()),
                trace: Some((
                    "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                    "00f067aa0ba902b7".into()
                )),
            }
        );
        for bad in [
            json!({"warrant/session": 3}),
            json!({"warrant/user_named": "a"}),
            json!({"warrant/user_named": [1]}),
        ] {
            assert!(CallContext::read(bad.as_object().unwrap()).is_err(), "{bad}");
        }
        for ignored in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(traceparent(ignored), None, "{ignored}");
        }
        assert_eq!(random_hex(8).len(), 16);
    }
}
