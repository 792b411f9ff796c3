//! The sequencer: the one thread that writes. It owns the write connection, the registry and the tree's right
//! edge, and turns requests into transactions.
//!
//! Group commit: the thread takes every request waiting in its queue, runs all waiting appends in one
//! transaction, and answers each only after that transaction is durable. Under load many requests share one
//! fsync; with one client each request gets its own. A failed commit answers every request in it with the
//! error, and the in-memory tree is left as it was before the transaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock, Weak};
use std::time::Instant;
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use warrant_core::change::{ChangeContext, change_event};
use warrant_core::event::{Event, format_time};
use warrant_core::registry::manifest::Kind;
use warrant_core::registry::{PlannedChange, Registry};
use warrant_log::frontier::{Frontier, Subtree};
use warrant_log::note::sign_note;

use crate::approvals::{Approval, ApprovalError, ApprovalStatus, NewApproval, stamp};
use crate::db::{Backend, Conn, Db, Param, Value};
use crate::entry::{Prepared, prepare_single};
use crate::keys::LogIdentity;
use crate::read::{Checkpoint, latest_checkpoint};
use crate::rollups::{FLUSH_EVENTS, FLUSH_INTERVAL, RollupBatch, SequenceCache, set_next_seq};
use crate::timing::{WriteKind, WriteTimes};
use crate::tree::{TILE_LEVEL, TreeCache};
use crate::{
    Appended, AppliedChange, ApplyError, ApplyOutcome, Erased, ErasureTarget, RemoveError, Shared, StoreError,
};

/// Begin a write transaction in the sequencer. On PostgreSQL several servers may append to one log, so the
/// transaction first takes the log's lock and follows what other servers committed since this one last
/// wrote ([`follow`]), before it assigns a seq. A macro, not a method: the transaction borrows the
/// connection while `follow` updates the writer's other fields.
macro_rules! begin {
    ($writer:ident) => {{
        $writer.reconnect()?;
        let transaction = $writer.connection.transaction()?;
        if transaction.db().backend() == Backend::Postgres {
            follow(
                transaction.db(),
                &mut Following {
                    frontier: &mut $writer.frontier,
                    registry: &mut $writer.registry,
                    registry_seq: &mut $writer.registry_seq,
                    last_checkpoint_size: &mut $writer.last_checkpoint_size,
                    sequences: &mut $writer.sequences,
                    tree: &$writer.tree,
                    shared: &$writer.shared,
                },
            )?;
        }
        transaction
    }};
}

/// What a writer must see again when another server wrote to the log.
struct Following<'a> {
    frontier: &'a mut Frontier,
    registry: &'a mut Registry,
    registry_seq: &'a mut Option<Seq>,
    last_checkpoint_size: &'a mut u64,
    sequences: &'a mut SequenceCache,
    tree: &'a Arc<RwLock<TreeCache>>,
    shared: &'a Weak<Shared>,
}

/// Inside a PostgreSQL write transaction: take the log's lock, then catch up with what other servers
/// committed since this writer last wrote. The sealed head says how far the log reaches; the tree's new
/// tiles, its right edge, the registry (when a change landed), the tokens (when one was issued or revoked)
/// and the latest checkpoint are read again, and published to this server's readers. An idle server follows
/// at least as often as it checkpoints (every second by default): signing a checkpoint is a write.
fn follow(db: Db<'_>, state: &mut Following<'_>) -> Result<(), StoreError> {
    crate::db::lock_log(db)?;
    let size: u64 = db
        .query_opt("SELECT size FROM head WHERE id = 1", &[], |row| row.get(0))?
        .unwrap_or(0);
    if size == state.frontier.size() {
        return Ok(());
    }
    // What else another server may have changed, in one round trip: the registry, the tokens, the latest
    // checkpoint.
    let (registry_seq, tokens_changed, last_checkpoint): (Option<Seq>, bool, Option<u64>) = db.query_one(
        "SELECT (SELECT MAX(seq) FROM registry_versions),
                EXISTS (SELECT 1 FROM events WHERE seq >= ?1 AND kind = 'token'),
                (SELECT MAX(size) FROM checkpoints)",
        &[&state.frontier.size()],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    if registry_seq != *state.registry_seq {
        *state.registry = crate::read::load_registry(db)?;
        *state.registry_seq = registry_seq;
        if let Some(shared) = state.shared.upgrade() {
            shared.publish_registry(state.registry.clone());
        }
    }
    // A token issued or revoked on another server works, or stops working, here too.
    if tokens_changed && let Some(shared) = state.shared.upgrade() {
        shared.reload_tokens(db)?;
    }
    *state.last_checkpoint_size = last_checkpoint.unwrap_or(0);
    // The transition rollup's memory of each trace's last tool may be stale: the log answers instead.
    *state.sequences = SequenceCache::default();
    let mut cache = match state.tree.write() {
        Ok(cache) => cache,
        Err(poisoned) => poisoned.into_inner(),
    };
    cache.follow(db, size)?;
    *state.frontier = cache.frontier.clone();
    Ok(())
}

/// The seq of the latest registry change: a writer that has seen it has the registry as it stands.
fn latest_registry_seq(db: Db<'_>) -> Result<Option<Seq>, StoreError> {
    db.query_one("SELECT MAX(seq) FROM registry_versions", &[], |row| row.get(0))
}

/// Appends waiting beyond this many events go to the next transaction, so one commit stays bounded.
const MAX_EVENTS_PER_COMMIT: usize = 50_000;

pub(crate) enum Request {
    Append {
        events: Vec<Prepared>,
        /// The events' rollup sums, computed by the caller with each event's index in place of its seq.
        rollups: Box<RollupBatch>,
        reply: oneshot::Sender<Result<Vec<Appended>, StoreError>>,
    },
    Apply {
        text: String,
        context: ChangeContext,
        reply: oneshot::Sender<Result<ApplyOutcome, ApplyError>>,
    },
    EditAgent {
        id: String,
        edit: AgentEdit,
        context: ChangeContext,
        reply: oneshot::Sender<Result<ApplyOutcome, ApplyError>>,
    },
    Remove {
        kind: Kind,
        id: String,
        context: ChangeContext,
        reply: oneshot::Sender<Result<AppliedChange, RemoveError>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<Option<Checkpoint>, StoreError>>,
    },
    RecordDecision {
        event: Box<Prepared>,
        approval: Option<Box<NewApproval>>,
        consume: Option<String>,
        charge: Option<Box<warrant_core::gate::GroupCharge>>,
        now: DateTime<Utc>,
        reply: oneshot::Sender<Result<Seq, StoreError>>,
    },
    DecideApproval {
        id: String,
        approve: bool,
        context: ChangeContext,
        reply: oneshot::Sender<Result<Approval, StoreError>>,
    },
    Erase {
        target: ErasureTarget,
        context: ChangeContext,
        reply: oneshot::Sender<Result<Erased, StoreError>>,
    },
    RebuildRollups {
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    FlushRollups {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Any operation on warrant's own records, run in one transaction with the events it appends.
    Transact {
        run: Operation,
        reply: oneshot::Sender<Result<Box<dyn std::any::Any + Send>, StoreError>>,
    },
}

impl Request {
    /// What the request's write is counted as in `warrant_store_write_seconds`.
    fn kind(&self) -> WriteKind {
        match self {
            Request::Append { .. } => WriteKind::Append,
            Request::RecordDecision { .. } => WriteKind::Decision,
            Request::DecideApproval { .. } => WriteKind::Approval,
            Request::Apply { .. } | Request::EditAgent { .. } | Request::Remove { .. } => WriteKind::Registry,
            Request::Checkpoint { .. } => WriteKind::Checkpoint,
            Request::RebuildRollups { .. } | Request::FlushRollups { .. } => WriteKind::Rollups,
            Request::Erase { .. } | Request::Transact { .. } => WriteKind::Other,
        }
    }
}

/// An operation for [`Request::Transact`]; its answer is downcast by `Store::transact`.
pub(crate) type Operation =
    Box<dyn FnOnce(&mut Log<'_>) -> Result<Box<dyn std::any::Any + Send>, StoreError> + Send>;

/// The writer's state for one transaction of warrant's own records (alerts, incidents, risks, impact
/// assessments): rows and the events that describe them commit together.
pub(crate) struct Log<'a> {
    pub transaction: Db<'a>,
    pub frontier: &'a mut warrant_log::frontier::Frontier,
    pub tiles: &'a mut Vec<warrant_log::frontier::Subtree>,
    pub rollups: &'a mut crate::rollups::RollupBatch,
}

impl Log<'_> {
    /// Append one event of warrant's own; returns its seq.
    pub fn append(
        &mut self,
        kind: warrant_core::event::EventKind,
        agent: &str,
        attrs: serde_json::Map<String, serde_json::Value>,
        context: &ChangeContext,
    ) -> Result<Seq, StoreError> {
        let event = warrant_core::event::Event {
            id: None,
            time: context.time,
            agent: (!agent.is_empty()).then(|| agent.to_owned()),
            kind,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            session: None,
            attrs,
            content: serde_json::Map::new(),
        };
        append_one(
            self.transaction,
            self.frontier,
            self.tiles,
            crate::entry::prepare_single(event, context)?,
            self.rollups,
        )
    }

    /// The seq the next event will get.
    pub fn next_seq(&self) -> Seq {
        Seq(self.frontier.size())
    }
}

pub(crate) struct Writer {
    connection: Conn,
    /// Where to connect again when the database drops the connection (a PostgreSQL restart or failover).
    database: crate::Database,
    registry: Registry,
    /// The seq of the latest registry change this writer has seen (another server may make one).
    registry_seq: Option<Seq>,
    /// The store's shared state, to publish what another server changed.
    shared: Weak<Shared>,
    tree: Arc<RwLock<TreeCache>>,
    frontier: Frontier,
    identity: LogIdentity,
    last_checkpoint_size: u64,
    /// The last tool of recent (agent, trace) sequences, for the transition rollup.
    sequences: SequenceCache,
    /// Rollup sums of committed events not yet written (see `rollups`), and since when.
    pending: RollupBatch,
    pending_since: std::time::Instant,
    /// How long each write took, for `/metrics`.
    times: Arc<WriteTimes>,
    /// Set when the WAL checkpointer has caught up with a WAL due to start over ([`Writer::restart_wal`]).
    restart_wanted: Arc<AtomicBool>,
}

/// A change to one agent, made on the sequencer's current copy. An error message refuses the edit.
pub(crate) type AgentEdit =
    Box<dyn FnOnce(&mut warrant_core::registry::manifest::Agent) -> Result<(), String> + Send>;

type AppendReply = oneshot::Sender<Result<Vec<Appended>, StoreError>>;

/// One append request waiting for the next group commit: its events, their rollup sums, the reply.
type PendingAppend = (Vec<Prepared>, RollupBatch, AppendReply);

impl Writer {
    pub fn new(
        connection: Conn,
        database: crate::Database,
        registry: Registry,
        tree: Arc<RwLock<TreeCache>>,
        identity: LogIdentity,
        shared: Weak<Shared>,
    ) -> Result<Writer, StoreError> {
        let (times, restart_wanted) = shared
            .upgrade()
            .map(|shared| (shared.write_times.clone(), shared.restart_wanted.clone()))
            .ok_or(StoreError::WriterStopped)?;
        let frontier = match tree.read() {
            Ok(cache) => cache.frontier.clone(),
            Err(poisoned) => poisoned.into_inner().frontier.clone(),
        };
        let last_checkpoint_size =
            latest_checkpoint(connection.db())?.map_or(0, |checkpoint| checkpoint.size);
        let registry_seq = latest_registry_seq(connection.db())?;
        Ok(Writer {
            connection,
            database,
            registry,
            registry_seq,
            shared,
            tree,
            frontier,
            identity,
            last_checkpoint_size,
            sequences: SequenceCache::default(),
            pending: RollupBatch::default(),
            pending_since: std::time::Instant::now(),
            times,
            restart_wanted,
        })
    }

    /// Replace a connection the database closed. Until the database answers again every write fails with
    /// [`StoreError::Unavailable`] (the server answers 503) and nothing is half-written; the first write after
    /// it is back reconnects, and `follow` catches up with whatever other servers wrote meanwhile. A commit
    /// whose answer was lost with the connection is found the same way: the sealed head says how far the log
    /// reaches.
    fn reconnect(&mut self) -> Result<(), StoreError> {
        if !self.connection.is_closed() {
            return Ok(());
        }
        if let crate::Database::Postgres(url) = &self.database {
            self.connection = Conn::Postgres(crate::db::PgConn::connect(url)?);
            tracing::info!("reconnected the sequencer to PostgreSQL");
        }
        Ok(())
    }

    /// Serve requests until every store handle is gone.
    pub fn run(mut self, requests: Receiver<Request>, shared: Weak<Shared>) {
        while let Ok(first) = requests.recv() {
            let mut appends: Vec<PendingAppend> = Vec::new();
            let mut pending_events = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append {
                        events,
                        rollups,
                        reply,
                    } => {
                        pending_events += events.len();
                        appends.push((events, *rollups, reply));
                    }
                    other => {
                        // Keep order: appends queued before this request commit before it runs.
                        self.commit_timed(std::mem::take(&mut appends), pending_events);
                        pending_events = 0;
                        let (kind, started) = (other.kind(), Instant::now());
                        self.handle(other, &shared);
                        self.times.record(kind, started.elapsed(), 0);
                    }
                }
                if pending_events < MAX_EVENTS_PER_COMMIT {
                    next = requests.try_recv().ok();
                }
            }
            self.commit_timed(appends, pending_events);
            if self.restart_wanted.swap(false, Ordering::AcqRel) {
                self.restart_wal();
            }
        }
    }

    /// Start the SQLite WAL over, between two transactions, once the checkpointer has copied all but a few
    /// frames (`spawn_wal_checkpointer`): a RESTART pass copies those, syncs the database file and waits for
    /// readers still on the old WAL, in 100 µs steps for at most 20 ms (`restart_waits`; one that gives up is
    /// asked for again after the next pass). Every write waits meanwhile; `wal_restart` in `/metrics` says
    /// how long.
    fn restart_wal(&mut self) {
        let Conn::Sqlite(connection) = &self.connection else {
            return;
        };
        let _ = connection.busy_handler(Some(crate::restart_waits));
        let started = Instant::now();
        let outcome = crate::wal_checkpoint(connection, "RESTART");
        self.times.record(WriteKind::WalRestart, started.elapsed(), 0);
        let _ = connection.busy_handler(Some(crate::waits));
        if let Err(error) = outcome {
            tracing::warn!(%error, "WAL restart failed; the checkpointer will ask again");
        }
    }

    fn commit_timed(&mut self, appends: Vec<PendingAppend>, events: usize) {
        if appends.is_empty() {
            return;
        }
        let started = Instant::now();
        self.commit_appends(appends);
        self.times.record(WriteKind::Append, started.elapsed(), events);
    }

    fn handle(&mut self, request: Request, shared: &Weak<Shared>) {
        // Requests that read before they write, or write outside `begin!`, need a live connection too; if the
        // database is still away, their own statements report it.
        if let Err(error) = self.reconnect() {
            tracing::warn!(%error, "the database is still unreachable");
        }
        match request {
            Request::Append {
                events,
                rollups,
                reply,
            } => self.commit_appends(vec![(events, *rollups, reply)]),
            Request::Apply { text, context, reply } => {
                let result = self.apply(&text, &context);
                if result.is_ok() {
                    self.publish_registry(shared);
                }
                let _ = reply.send(result);
            }
            Request::EditAgent {
                id,
                edit,
                context,
                reply,
            } => {
                let result = self.edit_agent(&id, edit, &context);
                if result.is_ok() {
                    self.publish_registry(shared);
                }
                let _ = reply.send(result);
            }
            Request::Remove {
                kind,
                id,
                context,
                reply,
            } => {
                let result = self.remove(kind, &id, &context);
                if result.is_ok() {
                    self.publish_registry(shared);
                }
                let _ = reply.send(result);
            }
            Request::Checkpoint { reply } => {
                let _ = reply.send(self.checkpoint());
            }
            Request::Erase {
                target,
                context,
                reply,
            } => {
                let _ = reply.send(self.erase(target, &context));
            }
            Request::RecordDecision {
                event,
                approval,
                consume,
                charge,
                now,
                reply,
            } => {
                let _ = reply.send(self.record_decision(
                    *event,
                    approval.map(|approval| *approval),
                    consume,
                    charge.as_deref(),
                    now,
                ));
            }
            Request::DecideApproval {
                id,
                approve,
                context,
                reply,
            } => {
                let _ = reply.send(self.decide_approval(&id, approve, &context));
            }
            Request::RebuildRollups { reply } => {
                // The rebuild counts every committed event: held sums and cached sequences are redundant.
                self.sequences = SequenceCache::default();
                self.pending = RollupBatch::default();
                let _ = reply.send(crate::rollups::rebuild(&mut self.connection));
            }
            Request::FlushRollups { reply } => {
                let _ = reply.send(self.flush_rollups());
            }
            Request::Transact { run, reply } => {
                let _ = reply.send(self.transact(run));
            }
        }
    }

    /// Make the registry as of the last commit visible to readers.
    fn publish_registry(&self, shared: &Weak<Shared>) {
        if let Some(shared) = shared.upgrade() {
            shared.publish_registry(self.registry.clone());
        }
    }

    /// Commit many append requests in one transaction and answer each.
    fn commit_appends(&mut self, mut appends: Vec<PendingAppend>) {
        if appends.is_empty() {
            return;
        }
        let seal = self.identity.seal.clone();
        let mut tiles = Vec::new();
        let result = (|| {
            let transaction = begin!(self);
            let mut frontier = self.frontier.clone();
            // Sums held long enough are written first, with the seq they reach (every event committed so far).
            let flushing = !self.pending.is_empty()
                && (self.pending_since.elapsed() >= FLUSH_INTERVAL || self.pending.events >= FLUSH_EVENTS);
            if flushing {
                self.pending.flush(transaction.db(), &mut self.sequences)?;
                set_next_seq(transaction.db(), self.frontier.size())?;
            }
            let mut seen = HashMap::new();
            let mut outcomes = Vec::with_capacity(appends.len());
            let mut rollups = RollupBatch::default();
            let mut rows = Vec::new();
            for (events, sums, _) in &mut appends {
                let events: &[Prepared] = events;
                let appended = append_events(
                    transaction.db(),
                    &mut frontier,
                    &mut tiles,
                    &mut seen,
                    events,
                    &mut rows,
                )?;
                if appended.iter().any(|appended| appended.duplicate) {
                    // Resent events are not counted again: count the stored ones one by one.
                    for (event, appended) in events.iter().zip(&appended) {
                        if !appended.duplicate {
                            rollups.add(appended.seq.get(), &event.facts);
                        }
                    }
                } else {
                    let seqs: Vec<Seq> = appended.iter().map(|appended| appended.seq).collect();
                    let sums = std::mem::take(sums);
                    rollups.absorb(sums.with_seqs(|index| {
                        usize::try_from(index)
                            .ok()
                            .and_then(|index| seqs.get(index))
                            .map(|seq| seq.get())
                            .unwrap_or(0)
                    }));
                }
                outcomes.push(appended);
            }
            insert_rows(transaction.db(), &rows)?;
            store_tree(
                transaction.db(),
                &frontier,
                &tiles,
                &seal,
                &mut rollups,
                &mut self.sequences,
            )?;
            transaction.commit()?;
            Ok::<_, StoreError>((outcomes, rollups, flushing, frontier))
        })();
        match result {
            Ok((outcomes, rollups, flushed, frontier)) => {
                if flushed {
                    self.pending = RollupBatch::default();
                }
                self.hold(rollups);
                self.publish_tree(frontier, tiles);
                for ((_, _, reply), outcome) in appends.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                // The rolled-back transaction may have advanced sequences; forget them (the log answers).
                self.sequences = SequenceCache::default();
                let message = error.to_string();
                tracing::error!(%message, "append transaction failed");
                let unavailable = matches!(error, StoreError::Unavailable(_));
                for (_, _, reply) in appends {
                    let _ = reply.send(Err(if unavailable {
                        StoreError::Unavailable(format!("the append was not committed: {message}"))
                    } else {
                        StoreError::Damaged(format!("the append was not committed: {message}"))
                    }));
                }
            }
        }
    }

    /// Keep the rollup sums of a committed transaction until they are written.
    fn hold(&mut self, rollups: RollupBatch) {
        if self.pending.is_empty() {
            self.pending_since = std::time::Instant::now();
        }
        self.pending.absorb(rollups);
    }

    /// Write the held rollup sums now (before a report reads the rollups).
    fn flush_rollups(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let transaction = begin!(self);
        let result = self
            .pending
            .flush(transaction.db(), &mut self.sequences)
            .and_then(|()| set_next_seq(transaction.db(), self.frontier.size()));
        if let Err(error) = result {
            self.sequences = SequenceCache::default();
            return Err(error);
        }
        transaction.commit()?;
        self.pending = RollupBatch::default();
        Ok(())
    }

    /// Read, edit and write back one agent inside the sequencer, so no other change can slip in between (a
    /// review written back from a stale copy must not undo a suspension made meanwhile).
    fn edit_agent(
        &mut self,
        id: &str,
        edit: AgentEdit,
        context: &ChangeContext,
    ) -> Result<ApplyOutcome, ApplyError> {
        let not_found = |message: String| {
            ApplyError::Invalid(vec![warrant_core::registry::parse::ManifestError {
                document: 1,
                kind: Some("Agent".into()),
                id: Some(id.to_owned()),
                field: String::new(),
                message,
            }])
        };
        let mut agent = self
            .registry
            .agent(id)
            .cloned()
            .ok_or_else(|| not_found(format!("no agent `{id}`")))?;
        edit(&mut agent).map_err(not_found)?;
        let mut manifest = serde_json::Map::new();
        manifest.insert("kind".into(), "Agent".into());
        if let serde_json::Value::Object(spec) =
            warrant_core::registry::manifest::Manifest::Agent(agent).spec()
        {
            manifest.extend(spec);
        }
        self.apply(&serde_json::Value::Object(manifest).to_string(), context)
    }

    fn apply(&mut self, text: &str, context: &ChangeContext) -> Result<ApplyOutcome, ApplyError> {
        let plan = self.registry.plan_apply(text).map_err(ApplyError::Invalid)?;
        let changes = self.commit_changes(plan.changes, context)?;
        Ok(ApplyOutcome {
            changes,
            unchanged: plan.unchanged,
        })
    }

    fn remove(
        &mut self,
        kind: Kind,
        id: &str,
        context: &ChangeContext,
    ) -> Result<AppliedChange, RemoveError> {
        let change = self.registry.plan_delete(kind, id)?;
        let mut applied = self.commit_changes(vec![change], context)?;
        applied
            .pop()
            .ok_or_else(|| RemoveError::Store(StoreError::Damaged("delete recorded nothing".into())))
    }

    /// Write registry changes and their `change` events in one transaction.
    fn commit_changes(
        &mut self,
        changes: Vec<PlannedChange>,
        context: &ChangeContext,
    ) -> Result<Vec<AppliedChange>, StoreError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let seal = self.identity.seal.clone();
        let mut tiles = Vec::new();
        let mut rollups = RollupBatch::default();
        let transaction = begin!(self);
        let mut frontier = self.frontier.clone();
        let mut applied = Vec::with_capacity(changes.len());
        for change in changes {
            let kind = change.kind.as_str();
            let previous: Option<u64> = transaction.db().query_one(
                "SELECT MAX(version) FROM registry_versions WHERE kind = ?1 AND id = ?2",
                &[&kind, &change.id],
                |row| row.get(0),
            )?;
            let version = previous.unwrap_or(0) + 1;
            let event = prepare_single(change_event(&change, version, context), context)?;
            let seq = append_one(transaction.db(), &mut frontier, &mut tiles, event, &mut rollups)?;
            let spec_text = change.spec.as_ref().map(|spec| spec.to_string());
            match &spec_text {
                Some(spec) => transaction.db().execute(
                    "INSERT INTO registry (kind, id, version, spec, seq) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, spec = excluded.spec, seq = excluded.seq",
                    &[&kind, &change.id, &version, spec, &seq],
                )?,
                None => transaction
                    .db()
                    .execute("DELETE FROM registry WHERE kind = ?1 AND id = ?2", &[&kind, &change.id])?,
            };
            transaction.db().execute(
                "INSERT INTO registry_versions (kind, id, version, spec, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                &[&kind, &change.id, &version, &spec_text, &seq],
            )?;
            applied.push(AppliedChange { change, version, seq });
        }
        store_tree(
            transaction.db(),
            &frontier,
            &tiles,
            &seal,
            &mut rollups,
            &mut self.sequences,
        )?;
        transaction.commit()?;
        let planned: Vec<PlannedChange> = applied.iter().map(|applied| applied.change.clone()).collect();
        self.registry.apply(&planned);
        self.registry_seq = applied
            .iter()
            .map(|applied| applied.seq)
            .max()
            .or(self.registry_seq);
        self.hold(rollups);
        self.publish_tree(frontier, tiles);
        Ok(applied)
    }

    /// Sign a checkpoint of the tree as it stands, unless one of this size exists. On PostgreSQL the log's lock
    /// makes it a compare-and-swap across servers: exactly one signed checkpoint per size.
    fn checkpoint(&mut self) -> Result<Option<Checkpoint>, StoreError> {
        let transaction = begin!(self);
        let size = self.frontier.size();
        if size == 0 || size == self.last_checkpoint_size {
            return latest_checkpoint(transaction.db());
        }
        if transaction.db().backend() == Backend::Postgres {
            // Another server may have signed this size already (the log did not grow, so `follow` did not look).
            let latest = latest_checkpoint(transaction.db())?;
            if let Some(latest) = latest.filter(|latest| latest.size >= size) {
                self.last_checkpoint_size = latest.size;
                return Ok(Some(latest));
            }
        }
        let root = self.frontier.root();
        let body = warrant_log::checkpoint::Checkpoint {
            origin: self.identity.origin.clone(),
            size,
            root,
        }
        .to_body();
        let note = sign_note(&body, &self.identity.signer)
            .map_err(|error| StoreError::Damaged(format!("cannot sign checkpoint: {error}")))?;
        let time = Utc::now();
        transaction.db().execute(
            "INSERT INTO checkpoints (size, root, note, time) VALUES (?1, ?2, ?3, ?4)",
            &[&size, &root, &note, &format_time(&time)],
        )?;
        transaction.commit()?;
        self.last_checkpoint_size = size;
        Ok(Some(Checkpoint {
            size,
            root,
            note,
            time,
            cosignatures: String::new(),
        }))
    }

    /// Delete the clear content (text and salt) of the targeted events and record an `erasure` event. The
    /// committed digests stay, so every leaf, root and proof still verifies.
    fn erase(&mut self, target: ErasureTarget, context: &ChangeContext) -> Result<Erased, StoreError> {
        let seal = self.identity.seal.clone();
        let mut tiles = Vec::new();
        let mut rollups = RollupBatch::default();
        let transaction = begin!(self);
        let mut frontier = self.frontier.clone();
        let (seqs, subject) = match &target {
            ErasureTarget::Seqs(seqs) => (seqs.clone(), None),
            ErasureTarget::Subject(subject) => {
                let seqs = transaction.db().query_all(
                    "SELECT seq FROM events WHERE subject = ?1 ORDER BY seq",
                    &[subject],
                    |row| row.get(0),
                )?;
                (seqs, Some(subject.clone()))
            }
            ErasureTarget::Expired { now } => (expired_content(transaction.db(), &self.registry, now)?, None),
        };
        let mut fields = 0u64;
        let mut erased_seqs = Vec::new();
        for seq in &seqs {
            let deleted = transaction
                .db()
                .execute("DELETE FROM content WHERE seq = ?1", &[seq])?;
            if deleted > 0 {
                erased_seqs.push(*seq);
                fields += deleted;
            }
        }
        // A retention sweep that found nothing leaves no trace; an explicit request is always recorded.
        if matches!(target, ErasureTarget::Expired { .. }) && fields == 0 {
            return Ok(Erased {
                events: Vec::new(),
                fields: 0,
                seq: None,
            });
        }
        let event = prepare_single(
            erasure_event(&target, subject, &erased_seqs, fields, context),
            context,
        )?;
        let seq = append_one(transaction.db(), &mut frontier, &mut tiles, event, &mut rollups)?;
        store_tree(
            transaction.db(),
            &frontier,
            &tiles,
            &seal,
            &mut rollups,
            &mut self.sequences,
        )?;
        transaction.commit()?;
        self.hold(rollups);
        self.publish_tree(frontier, tiles);
        Ok(Erased {
            events: erased_seqs,
            fields,
            seq: Some(seq),
        })
    }

    fn record_decision(
        &mut self,
        event: Prepared,
        approval: Option<NewApproval>,
        consume: Option<String>,
        charge: Option<&warrant_core::gate::GroupCharge>,
        now: DateTime<Utc>,
    ) -> Result<Seq, StoreError> {
        let seal = self.identity.seal.clone();
        let mut tiles = Vec::new();
        let mut rollups = RollupBatch::default();
        let transaction = begin!(self);
        let mut frontier = self.frontier.clone();
        let seq = append_one(transaction.db(), &mut frontier, &mut tiles, event, &mut rollups)?;
        if let Some(charge) = charge {
            charge_group(
                transaction.db(),
                &self.registry,
                charge,
                consume.is_none(),
                seq,
                &now,
            )?;
        }
        if let Some(id) = consume {
            let used = transaction.db().execute(
                "UPDATE approvals SET status = 'used', used_seq = ?1
                 WHERE id = ?2 AND status = 'approved' AND used_seq IS NULL AND expires_at > ?3",
                &[&seq, &id, &stamp(&now)],
            )?;
            if used == 0 {
                return Err(ApprovalError::Raced(id).into());
            }
        }
        if let Some(approval) = approval {
            transaction.db().execute(
                "INSERT INTO approvals (id, agent, tool, session, args_hash, reasons, status, requested_seq,
                 requested_at, expires_at, requested_by, requested_person)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9, ?10, ?11)",
                &[
                    &approval.id,
                    &approval.agent,
                    &approval.tool,
                    &approval.session,
                    &approval.args_hash,
                    &approval.reasons.to_string(),
                    &seq,
                    &stamp(&approval.requested_at),
                    &stamp(&approval.expires_at),
                    &approval.requested_by,
                    &approval.requested_person,
                ],
            )?;
        }
        store_tree(
            transaction.db(),
            &frontier,
            &tiles,
            &seal,
            &mut rollups,
            &mut self.sequences,
        )?;
        transaction.commit()?;
        self.hold(rollups);
        self.publish_tree(frontier, tiles);
        Ok(seq)
    }

    /// Record alerts, promote one, or update an incident: the rows and their events in one transaction.
    fn transact(&mut self, run: Operation) -> Result<Box<dyn std::any::Any + Send>, StoreError> {
        let seal = self.identity.seal.clone();
        let mut tiles = Vec::new();
        let mut rollups = RollupBatch::default();
        let transaction = begin!(self);
        let mut frontier = self.frontier.clone();
        let outcome = run(&mut Log {
            transaction: transaction.db(),
            frontier: &mut frontier,
            tiles: &mut tiles,
            rollups: &mut rollups,
        })?;
        store_tree(
            transaction.db(),
            &frontier,
            &tiles,
            &seal,
            &mut rollups,
            &mut self.sequences,
        )?;
        transaction.commit()?;
        self.hold(rollups);
        self.publish_tree(frontier, tiles);
        Ok(outcome)
    }

    fn decide_approval(
        &mut self,
        id: &str,
        approve: bool,
        context: &ChangeContext,
    ) -> Result<Approval, StoreError> {
        let current = crate::approvals::load(self.connection.db(), id, context.time)?
            .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
        if current.status != ApprovalStatus::Pending {
            return Err(ApprovalError::NotPending {
                id: id.to_owned(),
                status: current.status.as_str(),
            }
            .into());
        }
        // Four eyes: whoever raised the call (by any of their credentials) does not decide it.
        if let (Some(by), Some(person)) = (&current.requested_by, &current.requested_person)
            && context.principal.same_person(by, person)
        {
            return Err(ApprovalError::SelfApproval(id.to_owned()).into());
        }
        let decision = if approve { "approved" } else { "denied" };
        let latency_ms = (context.time - current.requested_at).num_milliseconds().max(0);
        let mut attrs = serde_json::Map::new();
        attrs.insert("approval_id".into(), id.into());
        attrs.insert("tool".into(), current.tool.clone().into());
        attrs.insert("decision".into(), decision.into());
        attrs.insert("approver".into(), context.actor().to_owned().into());
        attrs.insert("latency_ms".into(), latency_ms.into());
        attrs.insert("requested_seq".into(), current.requested_seq.into());
        if let Some(reason) = &context.reason {
            attrs.insert("reason".into(), reason.clone().into());
        }
        // The approval joins the trace of the call that asked for it, so the call's trail shows it.
        let trace_id: Option<String> = self
            .connection
            .db()
            .query_opt(
                "SELECT trace_id FROM events WHERE seq = ?1",
                &[&current.requested_seq],
                |row| row.get(0),
            )?
            .flatten();
        let event = Event {
            id: None,
            time: context.time,
            agent: Some(current.agent.clone()),
            kind: warrant_core::event::EventKind::Approval,
            trace_id,
            span_id: None,
            parent_span_id: None,
            session: current.session.clone(),
            attrs,
            content: serde_json::Map::new(),
        };
        let event = prepare_single(event, context)?;
        let seal = self.identity.seal.clone();
        let mut tiles = Vec::new();
        let mut rollups = RollupBatch::default();
        let transaction = begin!(self);
        let mut frontier = self.frontier.clone();
        let seq = append_one(transaction.db(), &mut frontier, &mut tiles, event, &mut rollups)?;
        let updated = transaction.db().execute(
            "UPDATE approvals SET status = ?1, decided_by = ?2, decided_at = ?3, decision_reason = ?4, decided_seq = ?5
             WHERE id = ?6 AND status = 'pending'",
            &[&decision, &context.actor(), &stamp(&context.time), &context.reason, &seq, &id],
        )?;
        if updated == 0 {
            return Err(ApprovalError::Raced(id.to_owned()).into());
        }
        store_tree(
            transaction.db(),
            &frontier,
            &tiles,
            &seal,
            &mut rollups,
            &mut self.sequences,
        )?;
        transaction.commit()?;
        self.hold(rollups);
        self.publish_tree(frontier, tiles);
        crate::approvals::load(self.connection.db(), id, context.time)?
            .ok_or_else(|| ApprovalError::NotFound(id.to_owned()).into())
    }

    /// Make a committed tree visible to readers.
    fn publish_tree(&mut self, frontier: Frontier, tiles: Vec<Subtree>) {
        let mut cache = match self.tree.write() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        for tile in tiles {
            if let Err(error) = cache.record(tile) {
                tracing::error!(%error, "tile cache out of step; proofs may fail until restart");
            }
        }
        cache.frontier = frontier.clone();
        self.frontier = frontier;
    }
}

/// On PostgreSQL the rollups are written in the transaction of the events they count, and `next_seq` moves
/// with every commit. SQLite's writer holds sums and writes them at most every second (rollups.rs), which is
/// exact only with one writer: with several servers on one log, held sums and a shared `next_seq` would
/// disagree, and a server opening would count again what another still holds.
fn settle_rollups(
    db: Db<'_>,
    rollups: &mut RollupBatch,
    sequences: &mut SequenceCache,
    size: u64,
) -> Result<(), StoreError> {
    if db.backend() != Backend::Postgres {
        return Ok(());
    }
    rollups.flush(db, sequences)?;
    set_next_seq(db, size)?;
    *rollups = RollupBatch::default();
    Ok(())
}

/// Record an allowed call's group charge, one row per limit it counts against. With `enforce`, first check
/// each limit's recorded total in its window: past the group's `max_total` the call is refused with
/// [`StoreError::LimitReached`] and the transaction (its decision event too) is rolled back. The writer's
/// transaction is the one place every server's charges meet (on PostgreSQL under the log's lock), so the
/// check cannot race another server's.
fn charge_group(
    db: Db<'_>,
    registry: &Registry,
    charge: &warrant_core::gate::GroupCharge,
    enforce: bool,
    seq: Seq,
    now: &DateTime<Utc>,
) -> Result<(), StoreError> {
    let group = match registry.get(Kind::Group, &charge.group) {
        Some(warrant_core::registry::manifest::Manifest::Group(group)) => Some(group),
        _ => None,
    };
    let at = format_time(now);
    for (limit_id, window_hours) in &charge.limits {
        let limit = group.and_then(|group| group.limits.iter().find(|limit| &limit.id == limit_id));
        if enforce && let Some(limit) = limit {
            let since = format_time(&(*now - chrono::Duration::hours(i64::from(*window_hours))));
            let used: f64 = db.query_one(
                "SELECT COALESCE(SUM(amount), 0) FROM group_charges WHERE grp = ?1 AND lim = ?2 AND at > ?3",
                &[&charge.group, limit_id, &since],
                |row| row.get(0),
            )?;
            if used + charge.amount > limit.max_total {
                return Err(StoreError::LimitReached(format!(
                    "group `{}` limit `{}` allows {} per {} h; {} already used across servers, this call adds {}",
                    charge.group, limit_id, limit.max_total, window_hours, used, charge.amount
                )));
            }
        }
        db.execute(
            "INSERT INTO group_charges (grp, lim, at, amount, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[&charge.group, limit_id, &at, &charge.amount, &seq],
        )?;
        // Charges older than any window the limit could be given soon are only the log's history now (every
        // charge is also in its decision event): pruned here, a small indexed range that is usually empty,
        // so the table holds about a month, not everything ever charged.
        let kept = chrono::Duration::hours(i64::from((*window_hours).max(CHARGES_KEPT_HOURS)));
        db.execute(
            "DELETE FROM group_charges WHERE grp = ?1 AND lim = ?2 AND at <= ?3",
            &[&charge.group, limit_id, &format_time(&(*now - kept))],
        )?;
    }
    Ok(())
}

/// How long group charges stay in `group_charges` at least (31 days): a limit's window may grow up to this
/// and still count every charge in it.
const CHARGES_KEPT_HOURS: u32 = 31 * 24;

/// Seal one request's events inside `transaction`: assign seqs, extend the tree, and add the rows to insert
/// to `rows` (the caller inserts every request's rows of a commit at once: on PostgreSQL one `COPY`, not one
/// per request). Events whose `id` is already in the log (or earlier in this transaction) are answered with
/// the original seq and not stored again.
fn append_events<'a>(
    db: Db<'_>,
    frontier: &mut Frontier,
    tiles: &mut Vec<Subtree>,
    seen: &mut HashMap<String, Seq>,
    events: &'a [Prepared],
    rows: &mut Vec<SealedRow<'a>>,
) -> Result<Vec<Appended>, StoreError> {
    let mut appended = Vec::with_capacity(events.len());
    for event in events {
        if let Some(id) = &event.columns.client_id {
            let existing = match seen.get(id) {
                Some(seq) => Some(*seq),
                None => db.query_opt("SELECT seq FROM events WHERE client_id = ?1", &[id], |row| {
                    row.get(0)
                })?,
            };
            if let Some(seq) = existing {
                appended.push(Appended { seq, duplicate: true });
                continue;
            }
        }
        let seq = Seq(frontier.size());
        let (body, leaf) = event.seal(seq);
        frontier.push_with(leaf, |subtree| {
            if subtree.level >= TILE_LEVEL {
                tiles.push(subtree);
            }
        });
        if let Some(id) = &event.columns.client_id {
            seen.insert(id.clone(), seq);
        }
        appended.push(Appended {
            seq,
            duplicate: false,
        });
        rows.push(SealedRow {
            seq,
            body,
            leaf,
            event,
        });
    }
    Ok(appended)
}

/// Append one event of warrant's own (a change, an erasure, a decision) and return its seq.
pub(crate) fn append_one(
    db: Db<'_>,
    frontier: &mut Frontier,
    tiles: &mut Vec<Subtree>,
    event: Prepared,
    rollups: &mut RollupBatch,
) -> Result<Seq, StoreError> {
    let mut rows = Vec::with_capacity(1);
    let seq = append_events(
        db,
        frontier,
        tiles,
        &mut HashMap::new(),
        std::slice::from_ref(&event),
        &mut rows,
    )?
    .first()
    .map(|appended| appended.seq)
    .ok_or_else(|| StoreError::Damaged("an event was not appended".into()))?;
    insert_rows(db, &rows)?;
    rollups.add(seq.get(), &event.facts);
    Ok(seq)
}

/// An event with its seq, bytes and leaf, ready to insert.
struct SealedRow<'a> {
    seq: Seq,
    body: Vec<u8>,
    leaf: [u8; 32],
    event: &'a Prepared,
}

fn insert_rows(db: Db<'_>, rows: &[SealedRow<'_>]) -> Result<(), StoreError> {
    if db.backend() == Backend::Postgres {
        return copy_rows(db, rows);
    }
    for row in rows {
        let columns = &row.event.columns;
        db.execute(
            "INSERT INTO events (seq, body, leaf, kind, agent, time, trace_id, session, subject, client_id, link_trace)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &[
                &row.seq,
                &row.body,
                &row.leaf,
                &columns.kind,
                &columns.agent,
                &columns.time,
                &columns.trace_id,
                &columns.session,
                &columns.subject,
                &columns.client_id,
                &columns.link_trace,
            ],
        )?;
        for content in &row.event.content {
            db.execute(
                "INSERT INTO content (seq, field, salt, text) VALUES (?1, ?2, ?3, ?4)",
                &[&row.seq, &content.field, &content.salt, &content.text],
            )?;
        }
    }
    Ok(())
}

/// A nullable text column's value.
fn text(value: &Option<String>) -> Value<'_> {
    value.as_deref().map_or(Value::Null, Value::Text)
}

/// PostgreSQL: the events and their content in two binary `COPY`s, whatever their number.
fn copy_rows(db: Db<'_>, rows: &[SealedRow<'_>]) -> Result<(), StoreError> {
    use postgres_types::Type;
    let events: Vec<Vec<Value<'_>>> = rows
        .iter()
        .map(|row| {
            let columns = &row.event.columns;
            vec![
                row.seq.value(),
                Value::Blob(&row.body),
                Value::Blob(&row.leaf),
                Value::Text(columns.kind),
                text(&columns.agent),
                Value::Text(&columns.time),
                text(&columns.trace_id),
                text(&columns.session),
                text(&columns.subject),
                text(&columns.client_id),
                text(&columns.link_trace),
            ]
        })
        .collect();
    db.insert_many(
        "events (seq, body, leaf, kind, agent, time, trace_id, session, subject, client_id, link_trace)",
        &[
            Type::INT8,
            Type::BYTEA,
            Type::BYTEA,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
        ],
        &events,
    )?;
    let content: Vec<Vec<Value<'_>>> = rows
        .iter()
        .flat_map(|row| {
            row.event.content.iter().map(move |content| {
                vec![
                    row.seq.value(),
                    Value::Text(&content.field),
                    Value::Blob(&content.salt),
                    Value::Text(&content.text),
                ]
            })
        })
        .collect();
    db.insert_many(
        "content (seq, field, salt, text)",
        &[Type::INT8, Type::TEXT, Type::BYTEA, Type::TEXT],
        &content,
    )?;
    Ok(())
}

/// The end of every write transaction: the rollups of its events (on PostgreSQL, see [`settle_rollups`]),
/// its completed tiles, and the sealed tree head it leaves, so an event that reaches the database any other
/// way is seen as unaccounted for.
fn store_tree(
    db: Db<'_>,
    frontier: &Frontier,
    tiles: &[Subtree],
    seal: &crate::head::HeadSeal,
    rollups: &mut RollupBatch,
    sequences: &mut SequenceCache,
) -> Result<(), StoreError> {
    settle_rollups(db, rollups, sequences, frontier.size())?;
    for tile in tiles {
        db.execute(
            "INSERT INTO tiles (level, idx, hash) VALUES (?1, ?2, ?3)",
            &[&tile.level, &tile.index, &tile.hash],
        )?;
    }
    crate::head::write(db, seal, frontier.size(), &frontier.root())
}

/// Seqs of events whose content has outlived its retention: the agent's `retention_days`, or for
/// `data_access` events the data source's. Events without a retention setting keep their content.
fn expired_content(db: Db<'_>, registry: &Registry, now: &DateTime<Utc>) -> Result<Vec<Seq>, StoreError> {
    let cutoff = |days: u32| format_time(&(*now - chrono::Duration::days(i64::from(days))));
    let mut seqs = Vec::new();
    for agent in registry.agents() {
        if let Some(days) = agent.retention_days {
            seqs.extend(db.query_all(
                "SELECT DISTINCT e.seq FROM events e JOIN content c ON c.seq = e.seq WHERE e.agent = ?1 AND e.time < ?2",
                &[&agent.id, &cutoff(days)],
                |row| row.get::<Seq>(0),
            )?);
        }
    }
    // The data source is inside the event's body (JSON bytes): each backend has its own way in.
    let by_source = match db.backend() {
        Backend::Sqlite => {
            "SELECT DISTINCT e.seq FROM events e JOIN content c ON c.seq = e.seq
             WHERE e.kind = 'data_access' AND json_extract(CAST(e.body AS TEXT), '$.attrs.source') = ?1 AND e.time < ?2"
        }
        Backend::Postgres => {
            "SELECT DISTINCT e.seq FROM events e JOIN content c ON c.seq = e.seq
             WHERE e.kind = 'data_access' AND convert_from(e.body, 'UTF8')::jsonb #>> '{attrs,source}' = ?1
             AND e.time < ?2"
        }
    };
    for source in registry.list(Kind::DataSource) {
        if let warrant_core::registry::manifest::Manifest::DataSource(source) = source
            && let Some(days) = source.retention_days
        {
            seqs.extend(db.query_all(by_source, &[&source.id, &cutoff(days)], |row| row.get::<Seq>(0))?);
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    Ok(seqs)
}

/// The record of an erasure. The subject, itself personal data, goes in `content`, so it is committed by
/// digest and can be erased in turn.
fn erasure_event(
    target: &ErasureTarget,
    subject: Option<String>,
    seqs: &[Seq],
    fields: u64,
    context: &ChangeContext,
) -> Event {
    let mut attrs = serde_json::Map::new();
    let basis = match target {
        ErasureTarget::Seqs(_) => "request",
        ErasureTarget::Subject(_) => "subject_request",
        ErasureTarget::Expired { .. } => "retention",
    };
    attrs.insert("basis".into(), basis.into());
    attrs.insert(
        "seqs".into(),
        seqs.iter().copied().map(serde_json::Value::from).collect(),
    );
    attrs.insert("fields".into(), fields.into());
    attrs.insert("by".into(), context.actor().to_owned().into());
    if let Some(reason) = &context.reason {
        attrs.insert("reason".into(), reason.clone().into());
    }
    let mut content = serde_json::Map::new();
    if let Some(subject) = subject {
        content.insert("subject".into(), subject.into());
    }
    Event {
        id: None,
        time: context.time,
        agent: None,
        kind: warrant_core::event::EventKind::Erasure,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        session: None,
        attrs,
        content,
    }
}
