//! The MCP gateway inside the server (`/mcp/{upstream}`, Streamable HTTP): the live sessions, and the
//! governor that answers the relay by calling the service layer in-process (no HTTP hop to ourselves).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Map, Value};
use warrant_api::gate::{ApprovalStatus, AuthorizeRequest, AuthorizeResponse};
use warrant_api::mcp::{ResourceAccess, ToolListing, ToolReview};
use warrant_core::identity::Principal;
use warrant_log::Seq;
use warrant_mcp::governor::Answer;
use warrant_mcp::http::HttpSession;
use warrant_mcp::{Governor, GovernorError};
use warrant_service::{approvals, events, gate, mcp};

use crate::AppState;

/// A session unused this long is closed (its upstream child stopped).
const IDLE: Duration = Duration::from_secs(30 * 60);
/// At most this many sessions at once; more is a 503 until some end or go idle.
pub const MAX_SESSIONS: usize = 1024;

struct Entry {
    session: Arc<HttpSession>,
    agent: String,
    upstream: String,
    last_used: Instant,
}

/// The gateway's sessions by id: `Mcp-Session-Id` for handshake-era clients, one shared session per agent
/// and upstream for stateless (2026-07-28) ones.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Entry>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    /// The session `id`, if it exists and belongs to `agent` and `upstream` (another agent's id is unknown).
    pub fn get(&self, id: &str, agent: &str, upstream: &str) -> Option<Arc<HttpSession>> {
        let mut live = lock(&self.live);
        let entry = live.get_mut(id)?;
        if entry.agent != agent || entry.upstream != upstream {
            return None;
        }
        entry.last_used = Instant::now();
        Some(entry.session.clone())
    }

    /// Keep `session` as `id`; if one with that id appeared meanwhile, that one wins (a stateless session
    /// started by two requests at once). `None` when full.
    pub fn insert(
        &self,
        id: &str,
        agent: &str,
        upstream: &str,
        session: HttpSession,
    ) -> Option<Arc<HttpSession>> {
        let mut live = lock(&self.live);
        live.retain(|_, entry| entry.last_used.elapsed() < IDLE);
        if let Some(existing) = live.get(id) {
            return Some(existing.session.clone());
        }
        if live.len() >= MAX_SESSIONS {
            return None;
        }
        let session = Arc::new(session);
        live.insert(
            id.to_owned(),
            Entry {
                session: session.clone(),
                agent: agent.to_owned(),
                upstream: upstream.to_owned(),
                last_used: Instant::now(),
            },
        );
        Some(session)
    }

    /// End session `id` (its upstream child stops). False if there is no such session for `agent` on
    /// `upstream`.
    pub fn remove(&self, id: &str, agent: &str, upstream: &str) -> bool {
        let mut live = lock(&self.live);
        if live
            .get(id)
            .is_some_and(|entry| entry.agent == agent && entry.upstream == upstream)
        {
            live.remove(id);
            return true;
        }
        false
    }

    /// End every session of `agent` on `upstream`; how many there were.
    pub fn remove_all(&self, agent: &str, upstream: &str) -> usize {
        let mut live = lock(&self.live);
        let before = live.len();
        live.retain(|_, entry| entry.agent != agent || entry.upstream != upstream);
        before - live.len()
    }
}

/// The relay's questions answered by the service layer, as the caller that opened the session.
pub struct ServiceGovernor {
    pub state: AppState,
    pub principal: Principal,
    pub server: String,
    pub agent: String,
}

fn refused(error: warrant_service::ServiceError) -> GovernorError {
    GovernorError(error.message)
}

impl Governor for ServiceGovernor {
    fn review_tools(&self, tools: Vec<Map<String, Value>>) -> Answer<'_, ToolReview> {
        Box::pin(async move {
            mcp::review_tools(
                &self.state.store,
                &self.principal,
                &self.server,
                &self.agent,
                ToolListing { tools },
                Utc::now(),
            )
            .await
            .map_err(refused)
        })
    }

    fn authorize(&self, request: AuthorizeRequest) -> Answer<'_, AuthorizeResponse> {
        Box::pin(async move {
            gate::authorize(
                &self.state.store,
                &self.state.gate,
                self.state.gate_settings(),
                &self.principal,
                &request,
                Utc::now(),
            )
            .await
            .map_err(refused)
        })
    }

    fn approval(&self, id: String) -> Answer<'_, ApprovalStatus> {
        Box::pin(async move {
            approvals::get(&self.state.store, &self.principal, &id, Utc::now())
                .map(|approval| approval.status)
                .map_err(refused)
        })
    }

    fn resource(&self, uri: String) -> Answer<'_, ResourceAccess> {
        Box::pin(async move {
            mcp::resource(
                &self.state.store,
                &self.principal,
                &self.server,
                &self.agent,
                &uri,
            )
            .map_err(refused)
        })
    }

    fn record(&self, events: Vec<Value>) -> Answer<'_, Vec<Seq>> {
        Box::pin(async move {
            let raw: Vec<String> = events.iter().map(Value::to_string).collect();
            let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
            let accepted = events::append(
                &self.state.store,
                &self.state.gate,
                &self.principal,
                &raw,
                Utc::now(),
            )
            .await
            .map_err(refused)?;
            Ok(accepted.seqs)
        })
    }
}
