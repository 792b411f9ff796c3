//! The gate's runtime state in the server: the compiled gate (recompiled when the registry changes), session
//! taint per (agent, session id) (a session belongs to its agent: another agent using the same id has its own),
//! and the group ledger that limits combined authority. Held in memory and rebuilt from
//! the evidence log after a restart: the ledger from recent `policy_decision` events before the first decision,
//! a session from its own events before its first decision.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use warrant_core::event::Event;
use warrant_core::gate::provenance::Provenance;
use warrant_core::gate::{CallRequest, CompileError, Decision, Gate, GroupCharge, Outcome, SessionState};
use warrant_core::registry::Registry;
use warrant_store::StoredEvent;

#[derive(Default)]
pub struct GateRuntime {
    compiled: Mutex<Option<(Arc<Registry>, Arc<Gate>)>>,
    state: Mutex<Runtime>,
}

#[derive(Default)]
struct Runtime {
    /// Sessions whose history has been loaded from the log; a session absent here is loaded before use.
    sessions: HashMap<SessionKey, SessionState>,
    /// Sessions whose history is being read from the log, with the events ingested for them meanwhile.
    loading: HashMap<SessionKey, Vec<(Event, Option<u64>)>>,
    ledger: Ledger,
    ledger_loaded: bool,
    /// Per loaded session, the seq its next catch-up reads from (several servers on one log, see
    /// [`GateRuntime::catch_up_session`]).
    synced: HashMap<SessionKey, u64>,
}

/// A session is its agent's: (agent, session id).
type SessionKey = (String, String);

fn key(agent: &str, session: &str) -> SessionKey {
    (agent.to_owned(), session.to_owned())
}

/// What a session's first call may do with the recipients the user named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// No recipients given, or none new: nothing to take.
    Nothing,
    /// The session's first call: the recipients are taken.
    Take,
    /// A later call tries to name new recipients: refused (and recorded), so a compromised agent cannot
    /// widen its own exfiltration allow-list mid-session.
    Refuse,
}

/// Per (group, limit): the amounts moved, oldest first.
type Ledger = HashMap<(String, String), VecDeque<(DateTime<Utc>, f64)>>;

/// One call to decide, as the API received it.
pub struct GateCall<'a> {
    pub agent: &'a str,
    pub tool: &'a str,
    pub args: &'a serde_json::Value,
    pub session: Option<&'a str>,
    /// Recipients the user named; taken on a session's first call only.
    pub user_named: &'a [String],
}

impl GateRuntime {
    /// The gate for `registry`, compiled once per registry version.
    pub fn gate(&self, registry: Arc<Registry>) -> Result<Arc<Gate>, CompileError> {
        let mut compiled = self
            .compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((seen, gate)) = compiled.as_ref()
            && Arc::ptr_eq(seen, &registry)
        {
            return Ok(gate.clone());
        }
        let gate = Arc::new(Gate::compile(&registry)?);
        *compiled = Some((registry, gate.clone()));
        Ok(gate)
    }

    /// Decide a call and, if it is allowed, update its session and the group ledger, atomically with respect
    /// to other calls (two calls in one session must not both see the untainted state).
    pub fn decide(&self, gate: &Gate, call: &GateCall<'_>, now: DateTime<Utc>) -> Decision {
        let GateCall {
            agent,
            tool,
            args,
            session: session_id,
            user_named,
        } = *call;
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Runtime { sessions, ledger, .. } = &mut *state;
        let mut scratch = SessionState::default();
        let session = match session_id {
            Some(id) => sessions.entry(key(agent, id)).or_default(),
            None => &mut scratch,
        };
        if !user_named.is_empty() {
            session.name_recipients(user_named.iter().map(String::as_str));
        }
        let totals = |group: &str, limit: &str, window_hours: u32| {
            let cutoff = now - Duration::hours(i64::from(window_hours));
            ledger
                .get(&(group.to_owned(), limit.to_owned()))
                .map_or(0.0, |entries| {
                    entries
                        .iter()
                        .filter(|(time, _)| *time > cutoff)
                        .map(|(_, amount)| amount)
                        .sum()
                })
        };
        let decision = gate.decide(
            &CallRequest {
                agent,
                tool,
                args,
                session,
            },
            &totals,
        );
        if decision.outcome == Outcome::Allow {
            session.observe_call(gate.registry(), tool);
            if let Some(charge) = &decision.charge {
                record_charge(ledger, charge, now);
            }
        } else {
            // Any call, allowed or not, starts the session: recipients can no longer be named after it.
            session.history += 1;
        }
        decision
    }

    /// A held call that goes ahead on a human's approval counts like an allowed one.
    pub fn observe_approved(
        &self,
        gate: &Gate,
        call: &GateCall<'_>,
        charge: Option<&GroupCharge>,
        now: DateTime<Utc>,
    ) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(id) = call.session {
            state
                .sessions
                .entry(key(call.agent, id))
                .or_default()
                .observe_call(gate.registry(), call.tool);
        }
        if let Some(charge) = charge {
            record_charge(&mut state.ledger, charge, now);
        }
    }

    /// Take back a charge `decide` recorded for a call that did not go ahead after all (the store refused it).
    pub fn refund(&self, charge: &GroupCharge, now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (limit, _) in &charge.limits {
            if let Some(entries) = state.ledger.get_mut(&(charge.group.clone(), limit.clone()))
                && let Some(index) = entries
                    .iter()
                    .rposition(|(time, amount)| *time == now && *amount == charge.amount)
            {
                entries.remove(index);
            }
        }
    }

    /// Events ingested with a session id feed that session's taint. Sessions not loaded yet are skipped: they
    /// read these events from the log when they are loaded.
    ///
    /// Parsing an event's output (JSON, YAML, up to 256 KiB) happens outside the lock decisions take: first a
    /// short look at which events belong to a loaded session, then the parsing, then a short fold. A session
    /// that starts loading in between reads these events from the log (they are committed before this runs).
    pub fn observe_events(&self, registry: &Registry, events: &[(Event, Option<u64>)]) {
        if events.iter().all(|(event, _)| event.session.is_none()) {
            return;
        }
        let wanted: Vec<bool> = {
            let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            events
                .iter()
                .map(|(event, _)| match (&event.agent, &event.session) {
                    (Some(agent), Some(id)) => {
                        let key = key(agent, id);
                        state.sessions.contains_key(&key) || state.loading.contains_key(&key)
                    }
                    _ => false,
                })
                .collect()
        };
        let prepared: Vec<Option<Provenance>> = events
            .iter()
            .zip(&wanted)
            .map(|((event, seq), wanted)| wanted.then(|| SessionState::provenance_of(registry, event, *seq)))
            .collect();
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Runtime {
            sessions, loading, ..
        } = &mut *state;
        for ((event, seq), seen) in events.iter().zip(prepared) {
            let (Some(agent), Some(id), Some(seen)) = (&event.agent, &event.session, seen) else {
                continue;
            };
            let key = key(agent, id);
            if let Some(session) = sessions.get_mut(&key) {
                session.observe_prepared(registry, event, seen);
            } else if let Some(buffer) = loading.get_mut(&key) {
                // Its history read may not include this event: keep it for when the load lands.
                buffer.push((event.clone(), *seq));
            }
        }
    }

    pub fn ledger_loaded(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .ledger_loaded
    }

    /// Rebuild the group ledger from the `policy_decision` events of the longest window (once).
    pub fn load_ledger(&self, decisions: &[Value]) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.ledger_loaded {
            return;
        }
        for body in decisions {
            let allowed = body.pointer("/attrs/decision").and_then(Value::as_str) == Some("allow");
            let time = body
                .get("time")
                .and_then(Value::as_str)
                .and_then(|time| DateTime::parse_from_rfc3339(time).ok());
            let charge = body.pointer("/attrs/charge").and_then(charge_from_json);
            if let (true, Some(time), Some(charge)) = (allowed, time, charge) {
                record_charge(&mut state.ledger, &charge, time.with_timezone(&Utc));
            }
        }
        state.ledger_loaded = true;
    }

    /// What to do with `named` on a call in `agent`'s session `id` (loaded): take them on its first call,
    /// accept a repeat of what was already taken, refuse anything new later.
    pub fn naming(&self, agent: &str, id: &str, named: &[String]) -> Naming {
        if named.is_empty() {
            return Naming::Nothing;
        }
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match state.sessions.get(&key(agent, id)) {
            None => Naming::Take,
            Some(session) if session.history == 0 => Naming::Take,
            Some(session) if named.iter().all(|recipient| session.was_named(recipient)) => Naming::Nothing,
            Some(_) => Naming::Refuse,
        }
    }

    /// Start loading a session: events ingested for it from now on are kept until [`Self::load_session`]
    /// lands, so none falls between the history read and the load.
    pub fn begin_load(&self, agent: &str, id: &str) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = key(agent, id);
        if !state.sessions.contains_key(&key) {
            state.loading.entry(key).or_default();
        }
    }

    pub fn needs_session(&self, agent: &str, id: &str) -> bool {
        !self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .sessions
            .contains_key(&key(agent, id))
    }

    /// Rebuild a session's taint from its events in the log (once): the gate's own allowed calls and the
    /// recipients named on the first, and every other event ingested with the session id.
    pub fn load_session(&self, registry: &Registry, agent: &str, id: &str, history: &[StoredEvent]) {
        let mut session = SessionState::default();
        for stored in history {
            replay(&mut session, registry, stored);
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Events buffered while reading; one also in the history is observed twice, which taint tolerates
        // (it only ever raises what the session has read or taken in).
        let key = key(agent, id);
        for (event, seq) in state.loading.remove(&key).unwrap_or_default() {
            session.observe_event_at(registry, &event, seq);
        }
        let next = history.last().map_or(0, |stored| stored.seq.0 + 1);
        state.synced.insert(key.clone(), next);
        state.sessions.entry(key).or_insert(session);
    }

    /// Where the next catch-up of a loaded session reads from.
    pub fn session_synced(&self, agent: &str, id: &str) -> Option<u64> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .synced
            .get(&key(agent, id))
            .copied()
    }

    /// Fold into a loaded session what the log holds for it since it was last read: with several servers on
    /// one log (PostgreSQL), another server's decisions and ingested results for the same session. This
    /// server's own events come back too and are observed twice, which taint tolerates.
    pub fn catch_up_session(&self, registry: &Registry, agent: &str, id: &str, events: &[StoredEvent]) {
        let Some(last) = events.last() else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = key(agent, id);
        let Some(session) = state.sessions.get_mut(&key) else {
            return;
        };
        for stored in events {
            replay(session, registry, stored);
        }
        let next = last.seq.0 + 1;
        let synced = state.synced.entry(key).or_default();
        *synced = (*synced).max(next);
    }
}

/// Apply one stored event of a session: the gate's own decisions (allowed calls, the recipients named on the
/// first), and every other event with its clear content put back.
fn replay(session: &mut SessionState, registry: &Registry, stored: &StoredEvent) {
    let body = &stored.body;
    let attrs = body.get("attrs");
    let text = |key: &str| attrs.and_then(|attrs| attrs.get(key)).and_then(Value::as_str);
    if body.get("kind").and_then(Value::as_str) == Some("policy_decision") {
        if let Some(named) = attrs
            .and_then(|attrs| attrs.get("user_named"))
            .and_then(Value::as_array)
        {
            session.name_recipients(named.iter().filter_map(Value::as_str));
        }
        match (text("decision"), text("tool")) {
            (Some("allow"), Some(tool)) => session.observe_call(registry, tool),
            _ => session.history += 1,
        }
        return;
    }
    // The committed body is the event plus seq and receive time, content as digests: put back the clear
    // content (the prompt, the tool outputs) that provenance reads; erased content stays out.
    let mut event = body.clone();
    if let Some(object) = event.as_object_mut() {
        for key in ["seq", "received", "content", "principal"] {
            object.remove(key);
        }
        if !stored.content.is_empty() {
            object.insert("content".into(), Value::Object(stored.content.clone()));
        }
    }
    if let Ok(event) = Event::from_json(0, event) {
        session.observe_event_at(registry, &event, Some(stored.seq.0));
    }
}

/// The `charge` attribute of an allowed decision, as recorded by [`charge_json`].
fn charge_from_json(value: &Value) -> Option<GroupCharge> {
    let limits = value.get("limits")?.as_array()?;
    Some(GroupCharge {
        group: value.get("group")?.as_str()?.to_owned(),
        limits: limits
            .iter()
            .filter_map(|limit| {
                Some((
                    limit.get("id")?.as_str()?.to_owned(),
                    u32::try_from(limit.get("window_hours")?.as_u64()?).ok()?,
                ))
            })
            .collect(),
        amount: value.get("amount")?.as_f64()?,
    })
}

/// How an allowed call's group charge is recorded in its decision event, so the ledger can be rebuilt.
pub fn charge_json(charge: &GroupCharge) -> Value {
    let limits: Vec<Value> = charge
        .limits
        .iter()
        .map(|(id, hours)| serde_json::json!({"id": id, "window_hours": hours}))
        .collect();
    serde_json::json!({"group": charge.group, "amount": charge.amount, "limits": limits})
}

fn record_charge(ledger: &mut Ledger, charge: &GroupCharge, now: DateTime<Utc>) {
    for (limit, window_hours) in &charge.limits {
        let entries = ledger.entry((charge.group.clone(), limit.clone())).or_default();
        let cutoff = now - Duration::hours(i64::from(*window_hours));
        while entries.front().is_some_and(|(time, _)| *time <= cutoff) {
            entries.pop_front();
        }
        entries.push_back((now, charge.amount));
    }
}
