//! The gate's runtime state in the server: the compiled gate (recompiled when the registry changes), session
//! taint per session id, and the group ledger that limits combined authority. In memory; see ARCHITECTURE.md
//! for what a restart forgets.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use warrant_core::event::Event;
use warrant_core::gate::{CallRequest, CompileError, Decision, Gate, GroupCharge, Outcome, SessionState};
use warrant_core::registry::Registry;

#[derive(Default)]
pub struct GateRuntime {
    compiled: Mutex<Option<(Arc<Registry>, Arc<Gate>)>>,
    state: Mutex<Runtime>,
}

#[derive(Default)]
struct Runtime {
    sessions: HashMap<String, SessionState>,
    ledger: Ledger,
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
        let Runtime { sessions, ledger } = &mut *state;
        let mut scratch = SessionState::default();
        let session = match session_id {
            Some(id) => sessions.entry(id.to_owned()).or_default(),
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
                .entry(id.to_owned())
                .or_default()
                .observe_call(gate.registry(), call.tool);
        }
        if let Some(charge) = charge {
            record_charge(&mut state.ledger, charge, now);
        }
    }

    /// Events ingested with a session id feed that session's taint.
    pub fn observe_events(&self, registry: &Registry, events: &[Event]) {
        if events.iter().all(|event| event.session.is_none()) {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            if let Some(id) = &event.session {
                state
                    .sessions
                    .entry(id.clone())
                    .or_default()
                    .observe_event(registry, event);
            }
        }
    }
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
