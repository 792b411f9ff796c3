//! The store: the only crate that touches disk or SQL. It owns the data directory (database, signing key,
//! server lock) and offers one narrow interface to the rest of warrant:
//!
//! - writes go through one sequencer thread ([`writer`]) that batches concurrent requests into one durable
//!   transaction (group commit) and is the only writer of the evidence log;
//! - reads use a small pool of read-only connections and in-memory snapshots (registry, tokens, tree tiles).
//!
//! Only SQLite exists today; a PostgreSQL backend will sit behind the same methods.

mod approvals;
mod compliance;
mod db;
mod entry;
mod export;
mod head;
mod incidents;
mod keys;
mod lock;
pub mod logs;
mod notifications;
mod pcache;
mod read;
mod records;
mod rollups;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod timing;
mod tokens;
mod trail;
mod tree;
mod verify;
mod witness_db;
mod witnessing;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use warrant_core::change::ChangeContext;
use warrant_core::event::Event;
use warrant_core::gate::GroupCharge;
use warrant_core::registry::manifest::Kind;
use warrant_core::registry::parse::ManifestError;
use warrant_core::registry::{DeleteError, PlannedChange, Registry};
use warrant_core::role::Role;

pub use crate::approvals::{Approval, ApprovalError, ApprovalStatus, NewApproval, args_hash};
pub use crate::compliance::{AuditRecord, Document, SplitMix64};
pub use crate::db::Backend;
pub use crate::entry::{StoredEvent, content_digest};
pub use crate::export::ExportedEvent;
pub use crate::incidents::{Alert, AlertRun, IncidentError, IncidentOp, IncidentOutcome};
pub use crate::lock::{DataDirLock, LockError};
pub use crate::notifications::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, NewDelivery, NotifySources,
};
pub use crate::read::{ChangeFilter, Checkpoint, ProofRequestError};
pub use crate::records::{ImpactVersion, RecordError};
pub use crate::rollups::{KindRow, SEQUENCE_START};
pub use crate::timing::{WRITE_BUCKETS, WriteHistogram, WriteKind, WriteTimes};
pub use crate::tokens::{AuthError, NewToken, TokenInfo, TokenSpec};
pub use crate::trail::{MAX_EVENTS, MAX_TRACES, TrailEvents, TrailRoot};
pub use crate::verify::{verify_data_dir, verify_data_dir_on};
pub use crate::witness_db::{RefusedRequest, TrustedLogs, WitnessDb};
pub use warrant_core::identity::{Principal, PrincipalKind};

use crate::db::{Conn, Db, PgConn};
use crate::tree::TreeCache;
use crate::writer::{Request, Writer};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "warrant.db";

/// The file in a data directory that binds it to a PostgreSQL database (the connection string, owner-only):
/// later commands on the directory find the database without being told again. The directory's signing key
/// and the database's sealed head must agree (head.rs), so a directory pointed at another log's database is
/// refused at open.
pub const DATABASE_BINDING: &str = "database";

/// Whether `dir` is a data directory with a log: its SQLite file, or a binding to a PostgreSQL database.
pub fn holds_log(dir: &Path) -> bool {
    dir.join(DATABASE_FILE).exists() || dir.join(DATABASE_BINDING).exists()
}

/// Bring the database of data directory `dir` (or `database`) to this warrant's schema without opening the
/// store (no writer starts, no server lock is taken). Returns the schema versions before and after, each in
/// its backend's own numbering. `Store::open` does the same at every start; this is for running it apart,
/// before rolling out a new version to several servers.
pub fn migrate(dir: &Path, database: Option<&Database>) -> Result<(usize, usize), StoreError> {
    let database = Database::resolve(dir, database)?;
    if database == Database::Sqlite && !dir.join(DATABASE_FILE).exists() {
        return Err(StoreError::Io {
            path: dir.join(DATABASE_FILE),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let mut connection = open_connection(dir, &database)?;
    let before = schema::version(connection.db())?;
    schema::migrate(&mut connection)?;
    Ok((before, schema::version(connection.db())?))
}

/// Back up the SQLite log of data directory `dir` into `dest`, a new data directory: a consistent snapshot
/// of the database (`VACUUM INTO`, safe while a server writes) and the signing key. The copy is a complete
/// data directory: `warrant verify` checks it and `warrant serve` runs on it. Returns the events it holds.
/// A PostgreSQL log is backed up with PostgreSQL's own tools (`pg_dump`; README).
pub fn backup(dir: &Path, dest: &Path) -> Result<u64, StoreError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    if Database::resolve(dir, None)? != Database::Sqlite {
        return Err(StoreError::Damaged(format!(
            "{} keeps its log in PostgreSQL: back it up with pg_dump (see the README), and keep log.key",
            dir.display()
        )));
    }
    let source = dir.join(DATABASE_FILE);
    if !source.exists() {
        return Err(io(&source)(std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    if dest.exists() && std::fs::read_dir(dest).map_err(io(dest))?.next().is_some() {
        return Err(StoreError::Damaged(format!(
            "{} exists and is not empty: back up into a new directory",
            dest.display()
        )));
    }
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    pcache::install();
    let connection =
        rusqlite::Connection::open_with_flags(&source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let target = dest.join(DATABASE_FILE);
    let target_text = target
        .to_str()
        .ok_or_else(|| StoreError::Damaged(format!("{} is not a UTF-8 path", target.display())))?;
    connection.execute("VACUUM INTO ?1", [target_text])?;
    let key = dir.join(keys::SIGNING_KEY_FILE);
    let copy = dest.join(keys::SIGNING_KEY_FILE);
    std::fs::copy(&key, &copy).map_err(io(&key))?;
    let copied = rusqlite::Connection::open_with_flags(&target, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(copied.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))?)
}

/// Errors of the store itself: the disk or the database failed, or the data directory is not usable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database value error: {0}")]
    SqlValue(#[from] rusqlite::types::FromSqlError),
    #[error("database error: {0}")]
    Database(String),
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    #[error("i/o error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "the database has schema version {found}, newer than this warrant supports ({supported}); upgrade warrant"
    )]
    NewerSchema { found: usize, supported: usize },
    #[error("the store's writer has stopped")]
    WriterStopped,
    #[error("the store's writer has as many requests waiting as it takes; retry shortly")]
    Busy,
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Incident(#[from] IncidentError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("{0}")]
    LimitReached(String),
    #[error("a token named `{0}` already exists")]
    TokenNameTaken(String),
    #[error("no token `{0}`")]
    TokenNotFound(String),
    #[error("token `{0}` is already revoked")]
    TokenRevoked(String),
    #[error("a log `{0}` already exists in this deployment")]
    LogExists(String),
}

/// Why an apply did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the manifest file is invalid ({} problem(s)); nothing was applied", .0.len())]
    Invalid(Vec<ManifestError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a delete did nothing.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Refused(#[from] DeleteError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A registry change as applied: the plan, the object's new version and the seq of its `change` event.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedChange {
    pub change: PlannedChange,
    pub version: u64,
    pub seq: Seq,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApplyOutcome {
    pub changes: Vec<AppliedChange>,
    pub unchanged: usize,
}

/// Where one appended event landed. `duplicate` is true when its `id` was already in the log, in which case
/// `seq` is the original's and nothing new was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub seq: Seq,
    pub duplicate: bool,
}

/// Which events' content to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureTarget {
    Seqs(Vec<Seq>),
    /// Every event whose `attrs.subject` is this data subject.
    Subject(String),
    /// Content past its agent's or data source's retention period at `now`.
    Expired {
        now: DateTime<Utc>,
    },
}

/// What an erasure did: the events whose content went, how many fields, and the seq of the `erasure` event
/// (none for a retention sweep that found nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    pub events: Vec<Seq>,
    pub fields: u64,
    pub seq: Option<Seq>,
}

/// Settings fixed when a data directory is first created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The organisation, used in the log's origin line (`warrant/<org>/<log-id>`).
    pub org: String,
    /// Where the tables live: `None` for wherever the data directory is bound to (its own SQLite file unless
    /// it was first opened with a PostgreSQL database, see [`DATABASE_BINDING`]).
    pub database: Option<Database>,
    /// For one of a deployment's further logs (logs.rs), its id, which names the log in its origin.
    pub log: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            org: "default".into(),
            database: None,
            log: None,
        }
    }
}

/// Where a store's tables live. The data directory holds the signing key and the server lock either way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Database {
    /// `warrant.db` inside the data directory.
    #[default]
    Sqlite,
    /// A PostgreSQL database, by connection string (`postgres://user:password@host/db` or `host=… dbname=…`).
    Postgres(String),
}

impl Database {
    /// `postgres://…` or `postgresql://…` is PostgreSQL, `sqlite` the data directory's file; anything else is
    /// refused; nothing is whatever the data directory is bound to.
    pub fn parse(url: Option<&str>) -> Result<Option<Database>, String> {
        match url.map(str::trim).filter(|url| !url.is_empty()) {
            None => Ok(None),
            Some("sqlite") => Ok(Some(Database::Sqlite)),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Some(Database::Postgres(url.to_owned())))
            }
            Some(other) => Err(format!(
                "unsupported database `{}`: give a postgres:// URL, or nothing for the data directory's SQLite file",
                other.split('@').next_back().unwrap_or(other)
            )),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// The database of data directory `dir`: `chosen` if given (binding the directory to it), else the one
    /// the directory is bound to, else its SQLite file. A directory whose SQLite file already holds a log is
    /// not moved to PostgreSQL by naming one: that would start a second log under the same key.
    pub fn resolve(dir: &Path, chosen: Option<&Database>) -> Result<Database, StoreError> {
        let binding = dir.join(DATABASE_BINDING);
        let io = |source| StoreError::Io {
            path: binding.clone(),
            source,
        };
        let bound = match std::fs::read_to_string(&binding) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(io(error)),
        };
        match (chosen, bound) {
            (None, None) => Ok(Database::Sqlite),
            (None, Some(url)) => match Database::parse(Some(&url)) {
                Ok(Some(database)) => Ok(database),
                _ => Err(StoreError::Damaged(format!(
                    "{} does not hold a postgres:// URL",
                    binding.display()
                ))),
            },
            (Some(Database::Sqlite), None) => Ok(Database::Sqlite),
            (Some(Database::Sqlite), Some(_)) => Err(StoreError::Damaged(format!(
                "{} is bound to a PostgreSQL database ({}); remove that file to use the SQLite file instead",
                dir.display(),
                binding.display()
            ))),
            (Some(Database::Postgres(url)), bound) => {
                if bound.is_none() && dir.join(DATABASE_FILE).exists() {
                    return Err(StoreError::Damaged(format!(
                        "{} already holds a SQLite log; give PostgreSQL a fresh data directory",
                        dir.display()
                    )));
                }
                if bound.as_deref() != Some(url.as_str()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                        path: dir.to_owned(),
                        source,
                    })?;
                    if bound.is_some() {
                        // A new address for the database (a moved server, a rotated password): the seal check
                        // at open still refuses another log's database.
                        std::fs::remove_file(&binding).map_err(io)?;
                    }
                    keys::write_private(&binding, url.as_bytes()).map_err(io)?;
                }
                Ok(Database::Postgres(url.clone()))
            }
        }
    }
}

/// A handle on an open data directory. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    database: Database,
    requests: Mutex<std::sync::mpsc::SyncSender<Request>>,
    registry: RwLock<Arc<Registry>>,
    tokens: RwLock<tokens::Tokens>,
    tree: Arc<RwLock<TreeCache>>,
    readers: ReaderPool,
    origin: String,
    verifier_key: String,
    /// The log's signing key, for what the store signs outside the sequencer (a bundle's manifest).
    signer: warrant_log::note::NoteSigner,
    /// How long the sequencer's writes take (`/metrics`).
    write_times: Arc<WriteTimes>,
    /// Set by the WAL checkpointer once it has caught up with a WAL due to start over; the sequencer starts it
    /// over between two transactions and clears it.
    restart_wanted: Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    /// Open (creating if needed) the data directory `dir`: database, migrations, signing key.
    pub fn open(dir: &Path, config: &StoreConfig) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let database = Database::resolve(dir, config.database.as_ref())?;
        let mut connection = open_connection(dir, &database)?;
        let migrated_from = schema::migrate(&mut connection)?;
        // Count what the rollups missed: the sums a crashed writer held, or a log older than the rollups. Not
        // while a server holds the directory: its writer still holds sums for those events and would write
        // them again.
        if DataDirLock::holder(dir).is_none() {
            rollups::catch_up(&mut connection)?;
        }
        let log_identity = keys::load_or_create(dir, config)?;
        // On PostgreSQL other servers may be writing this log: a connection of its own holds the log's lock
        // while the registry, the tokens and the tree are read and checked against the sealed head, so they
        // are one state (a commit landing between the reads would look like events added or removed).
        let hold = match &database {
            Database::Postgres(url) => {
                let held = PgConn::connect(url)?;
                Db::Postgres(&held).execute_batch("BEGIN")?;
                db::lock_log(Db::Postgres(&held))?;
                Some(held)
            }
            Database::Sqlite => None,
        };
        let registry = read::load_registry(connection.db())?;
        let tokens = tokens::load(connection.db())?;
        let cache = TreeCache::load(connection.db())?;
        // Nothing is signed over events warrant did not write (head.rs). A running server checks its own at
        // its start.
        if DataDirLock::holder(dir).is_none() {
            head::check_at_open(
                &mut connection,
                migrated_from < schema::HEAD_VERSION,
                &log_identity.seal,
                &log_identity.signer.verifier(),
                cache.frontier.size(),
                |connection, size| Ok(cache.frontier_at(connection, size)?.root()),
            )?;
        }
        if let Some(held) = hold {
            Db::Postgres(&held).execute_batch("ROLLBACK")?;
        }
        let tree = Arc::new(RwLock::new(cache));
        let (sender, receiver) = std::sync::mpsc::sync_channel(WRITER_QUEUE);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            database,
            requests: Mutex::new(sender),
            registry: RwLock::new(Arc::new(registry.clone())),
            tokens: RwLock::new(tokens),
            tree: tree.clone(),
            readers: ReaderPool::default(),
            origin: log_identity.origin.clone(),
            verifier_key: log_identity.verifier_key.clone(),
            signer: log_identity.signer.clone(),
            write_times: Arc::new(WriteTimes::default()),
            restart_wanted: Arc::default(),
        });
        // A background thread copies the WAL into the database file, from its own connection; when the WAL is
        // due to start over it catches up and asks the sequencer to (`spawn_wal_checkpointer`).
        if let Conn::Sqlite(connection) = &connection {
            connection.pragma_update(None, "wal_autocheckpoint", 0)?;
            connection.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            spawn_wal_checkpointer(dir, Arc::downgrade(&shared))?;
        }
        let weak = Arc::downgrade(&shared);
        let writer = Writer::new(
            connection,
            shared.database.clone(),
            registry,
            tree,
            log_identity,
            weak.clone(),
        )?;
        std::thread::Builder::new()
            .name("warrant-sequencer".into())
            .spawn(move || writer.run(receiver, weak))
            .map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Store { shared })
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// How long the sequencer's writes have taken in this process.
    pub fn write_times(&self) -> &WriteTimes {
        &self.shared.write_times
    }

    /// Which database the store's tables are in.
    pub fn backend(&self) -> Backend {
        self.shared.database.backend()
    }

    /// The log's origin line, `warrant/<org>/<log-id>`.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// The signed-note verifier key of the log (`<name>+<key id>+<base64 key>`), for auditors.
    pub fn verifier_key(&self) -> &str {
        &self.shared.verifier_key
    }

    /// The registry as of the last committed change.
    pub fn registry(&self) -> Arc<Registry> {
        match self.shared.registry.read() {
            Ok(registry) => registry.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Validate and apply a manifest file atomically, recording a `change` event per changed object.
    pub async fn apply(&self, text: String, context: ChangeContext) -> Result<ApplyOutcome, ApplyError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::Apply { text, context, reply })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Edit one agent atomically against the current registry (read, change, write in the sequencer).
    pub async fn edit_agent(
        &self,
        id: String,
        edit: impl FnOnce(&mut warrant_core::registry::manifest::Agent) -> Result<(), String> + Send + 'static,
        context: ChangeContext,
    ) -> Result<ApplyOutcome, ApplyError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::EditAgent {
            id,
            edit: Box::new(edit),
            context,
            reply,
        })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Remove one registry object, recording a `change` event.
    pub async fn remove(
        &self,
        kind: Kind,
        id: String,
        context: ChangeContext,
    ) -> Result<AppliedChange, RemoveError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::Remove {
            kind,
            id,
            context,
            reply,
        })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Append a batch of validated events, all or nothing, acknowledged once durable on disk.
    /// `principal` is who wrote them: its record goes into every event's committed body.
    pub async fn append(
        &self,
        events: Vec<Event>,
        principal: &Principal,
        received: DateTime<Utc>,
    ) -> Result<Vec<Appended>, StoreError> {
        // Encoding happens here, on the caller's thread, so concurrent requests encode in parallel and the
        // sequencer only assigns seqs, hashes leaves and writes.
        let events = entry::prepare(events, principal, &received)?;
        // The rollup sums too, keyed by each event's index in the request; the sequencer maps them to seqs.
        let mut rollups = rollups::RollupBatch::default();
        for (index, event) in events.iter().enumerate() {
            rollups.add(index as u64, &event.facts);
        }
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::Append {
            events,
            rollups: Box::new(rollups),
            reply,
        })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Record a gate decision: its `policy_decision` event, the approval it asks for (if any), the approval it
    /// uses up (if any) and the group charge of an allowed call (if any), in one transaction. Returns the
    /// event's seq. Using an approval fails with [`ApprovalError::Raced`] if it is no longer approved and
    /// unused; a charge (unless an approval is used: a person allowed it past the limit) fails with
    /// [`StoreError::LimitReached`] when the group's recorded total in a window, with this amount, would pass
    /// its limit: the check every server's decision passes through, so two servers cannot both spend the
    /// last of a limit. Either way nothing is written.
    pub async fn record_decision(
        &self,
        event: Event,
        principal: &Principal,
        approval: Option<NewApproval>,
        consume: Option<String>,
        charge: Option<GroupCharge>,
    ) -> Result<Seq, StoreError> {
        let time = event.time;
        if approval.is_none() && consume.is_none() && charge.is_none() {
            // Most decisions touch no approval: they share group commits with every other append.
            let appended = self.append(vec![event], principal, time).await?;
            return appended
                .first()
                .map(|appended| appended.seq)
                .ok_or_else(|| StoreError::Damaged("decision not appended".into()));
        }
        let event = entry::prepare(vec![event], principal, &time)?
            .pop()
            .ok_or_else(|| StoreError::Damaged("an event vanished while encoding".into()))?;
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::RecordDecision {
            event: Box::new(event),
            approval: approval.map(Box::new),
            consume,
            charge: charge.map(Box::new),
            now: time,
            reply,
        })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Approve or deny a pending approval, recording an `approval` event.
    pub async fn decide_approval(
        &self,
        id: String,
        approve: bool,
        context: ChangeContext,
    ) -> Result<Approval, StoreError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::DecideApproval {
            id,
            approve,
            context,
            reply,
        })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Record alerts, promote an alert to an incident, or update an incident; each change is an event.
    pub async fn incident_op(
        &self,
        op: IncidentOp,
        context: ChangeContext,
    ) -> Result<IncidentOutcome, StoreError> {
        self.transact(move |log| crate::incidents::run(log, op, &context))
            .await
    }

    /// Run `op` in the writer, in one transaction with the events it appends; nothing is kept if it fails.
    pub(crate) async fn transact<T: Send + 'static>(
        &self,
        op: impl FnOnce(&mut crate::writer::Log<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::Transact {
            run: Box::new(move |log| op(log).map(|answer| Box::new(answer) as Box<dyn std::any::Any + Send>)),
            reply,
        })?;
        let answer = response.await.map_err(|_| StoreError::WriterStopped)??;
        answer
            .downcast::<T>()
            .map(|answer| *answer)
            .map_err(|_| StoreError::WriterStopped)
    }

    /// Alerts, newest first (at most 1,000), optionally only those with `status` .
    pub fn alerts(
        &self,
        status: Option<warrant_core::incident::AlertStatus>,
    ) -> Result<Vec<Alert>, StoreError> {
        self.read(|connection| incidents::list_alerts(connection, status))
    }

    pub fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.read(|connection| incidents::load_alert(connection, id))
    }

    /// Incidents, newest first (at most 1,000).
    pub fn incidents(&self) -> Result<Vec<warrant_core::incident::Incident>, StoreError> {
        self.read(incidents::list_incidents)
    }

    pub fn incident(&self, id: &str) -> Result<Option<warrant_core::incident::Incident>, StoreError> {
        self.read(|connection| incidents::load_incident(connection, id))
    }

    /// Write the rollup sums the writer holds, so a report sees every event committed so far.
    pub async fn flush_rollups(&self) -> Result<(), StoreError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::FlushRollups { reply })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Recompute every rollup from the log (after a restore, or to check them). It runs in the writer, in
    /// turn with appends, so ingest waits for it rather than failing.
    pub async fn rebuild_rollups(&self) -> Result<u64, StoreError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::RebuildRollups { reply })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Sign a checkpoint of the current tree if it grew since the last one. Returns the latest checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::Checkpoint { reply })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Erase the clear content of events; the log keeps their digests, so proofs still verify.
    pub async fn erase(&self, target: ErasureTarget, context: ChangeContext) -> Result<Erased, StoreError> {
        let (reply, response) = tokio::sync::oneshot::channel();
        self.send(Request::Erase {
            target,
            context,
            reply,
        })?;
        response.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Issue a token, with its `token` event. The secret is returned once; the store keeps its hash. The token
    /// works as soon as this returns.
    pub async fn create_token(
        &self,
        spec: TokenSpec,
        context: ChangeContext,
    ) -> Result<NewToken, StoreError> {
        let (token, hash) = self
            .transact(move |log| tokens::create(log, &spec, &context))
            .await?;
        self.shared.publish_token(hash, tokens::entry(&token.info));
        Ok(token)
    }

    /// Revoke a token by id, with its `token` event. It is refused from the moment this returns.
    pub async fn revoke_token(&self, id: String, context: ChangeContext) -> Result<TokenInfo, StoreError> {
        let (info, hash) = self
            .transact(move |log| tokens::revoke(log, &id, &context))
            .await?;
        self.shared.publish_token(hash, tokens::entry(&info));
        Ok(info)
    }

    /// Every token ever issued (revoked ones included), oldest first, with its last use as known now.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let mut listed = self.read(tokens::list)?;
        let used: std::collections::HashMap<String, i64> = self.tokens_read(|tokens| {
            tokens
                .values()
                .map(|entry| {
                    let used = entry.last_used.load(std::sync::atomic::Ordering::Relaxed);
                    (entry.principal.id.clone(), used)
                })
                .collect()
        });
        for token in &mut listed {
            if let Some(time) = used
                .get(&token.id)
                .filter(|millis| **millis > 0)
                .and_then(|millis| DateTime::<Utc>::from_timestamp_millis(*millis))
            {
                token.last_used = Some(time);
            }
        }
        Ok(listed)
    }

    /// Write the tokens' last-use times that changed since the last flush (not evidence: no event).
    pub async fn flush_token_use(&self) -> Result<(), StoreError> {
        let changed: Vec<(String, DateTime<Utc>)> = self.tokens_read(|tokens| {
            tokens
                .values()
                .filter_map(|entry| {
                    let used = entry.last_used.load(std::sync::atomic::Ordering::Relaxed);
                    let flushed = entry
                        .last_flushed
                        .swap(used, std::sync::atomic::Ordering::Relaxed);
                    (used > flushed)
                        .then(|| DateTime::<Utc>::from_timestamp_millis(used))
                        .flatten()
                        .map(|time| (entry.principal.id.clone(), time))
                })
                .collect()
        });
        if changed.is_empty() {
            return Ok(());
        }
        self.transact(move |log| tokens::flush_use(log.transaction, &changed))
            .await
    }

    /// Whether any usable token with `role` exists (the first server start creates an admin token if none does).
    pub fn has_token_with_role(&self, role: Role) -> bool {
        self.tokens_read(|tokens| {
            tokens.values().any(|entry| {
                entry.principal.role == role && !entry.revoked && !entry.principal.is_expired(Utc::now())
            })
        })
    }

    /// The holder of `secret`, if it is a valid token: known, not revoked, not expired, and (for an agent
    /// token) bound to agents.
    pub fn authenticate(&self, secret: &str, now: DateTime<Utc>) -> Result<Arc<Principal>, AuthError> {
        let hash = keys::token_hash(secret);
        self.tokens_read(|tokens| {
            tokens
                .get(&hash)
                .ok_or(AuthError::Unknown)
                .and_then(|entry| entry.authenticate(now))
        })
    }

    /// Whether `secret` is one of this log's tokens (valid or not): which of a deployment's logs a request is
    /// for (logs.rs). In memory, like [`Store::authenticate`].
    pub fn knows_token(&self, secret: &str) -> bool {
        let hash = keys::token_hash(secret);
        self.tokens_read(|tokens| tokens.get(&hash).is_some())
    }

    /// Run `read` on a pooled read-only connection. The pool never has more than [`READERS`] connections: a
    /// caller finding them all busy waits for one, up to [`READER_WAIT`], and past that is refused with
    /// [`StoreError::Busy`] (the server answers 503): a burst of readers queues, it is never given new
    /// connections, and a read that nests another cannot wait forever.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(Db<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lease = self
            .shared
            .readers
            .take(|| open_reader(&self.shared.dir, &self.shared.database))?;
        read(lease.connection().db())
    }

    /// Whether the database answers (for `/healthz`): a trivial query on a pooled connection.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|db| db.query_one("SELECT 1", &[], |row| row.get::<i64>(0)).map(|_| ()))
    }

    /// The reader pool: connections open now, the most ever open at once, and the most it may open.
    pub fn reader_stats(&self) -> ReaderStats {
        let state = match self.shared.readers.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        ReaderStats {
            open: state.open,
            peak: state.peak,
            limit: READERS,
            refused: state.refused,
        }
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let sender = self
            .shared
            .requests
            .lock()
            .map_err(|_| StoreError::WriterStopped)?;
        sender.try_send(request).map_err(|error| match error {
            std::sync::mpsc::TrySendError::Full(_) => StoreError::Busy,
            std::sync::mpsc::TrySendError::Disconnected(_) => StoreError::WriterStopped,
        })
    }

    fn tokens_read<T>(&self, f: impl FnOnce(&tokens::Tokens) -> T) -> T {
        match self.shared.tokens.read() {
            Ok(tokens) => f(&tokens),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}

impl Shared {
    fn publish_registry(&self, registry: Registry) {
        let mut slot = match self.registry.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(registry);
    }

    /// Every token as the database has them (another server issued or revoked one). Last-use times this server
    /// had not flushed yet are dropped: they are a convenience, not evidence.
    fn reload_tokens(&self, db: Db<'_>) -> Result<(), StoreError> {
        let fresh = tokens::load(db)?;
        let mut tokens = match self.tokens.write() {
            Ok(tokens) => tokens,
            Err(poisoned) => poisoned.into_inner(),
        };
        *tokens = fresh;
        Ok(())
    }

    fn publish_token(&self, hash: [u8; 32], entry: tokens::Entry) {
        let mut tokens = match self.tokens.write() {
            Ok(tokens) => tokens,
            Err(poisoned) => poisoned.into_inner(),
        };
        tokens.insert(hash, Arc::new(entry));
    }
}

/// How often the background checkpointer copies the WAL into the database file; more often in the store's own
/// tests, so one can see the WAL start over.
const CHECKPOINT_INTERVAL: std::time::Duration =
    std::time::Duration::from_millis(if cfg!(test) { 20 } else { 200 });
/// WAL frames (pages) past which the WAL is started over: 64 MiB at SQLite's default page size, the
/// `journal_size_limit` the file is trimmed to then.
const WAL_RESTART_FRAMES: i64 = if cfg!(test) { 256 } else { 16_384 };
/// A restart is asked for once a catch-up pass had at most this many frames to copy: it was short, so
/// little arrived during it, and the restart, which copies that much with every write held, is short too.
const WAL_RESTART_BACKLOG: i64 = 64;
/// Catch-up passes before a restart is asked for whatever is left (under writes faster than a pass copies).
const WAL_CATCH_UP_PASSES: usize = 8;

/// Copy the WAL into the database file every [`CHECKPOINT_INTERVAL`] while the store is open, from a
/// connection of its own. PASSIVE passes never block the writer or readers, but under sustained writes they
/// never catch up either, so the WAL would never start over (it grew by about a page per event: 360 MB in ten
/// seconds of 32 clients deciding). Starting it over (a RESTART pass) holds new writes off while it copies
/// what is left and syncs the database file, so the checkpointer first catches up, with further passive
/// passes until one had at most [`WAL_RESTART_BACKLOG`] frames to copy, and then asks the sequencer
/// (`restart_wanted`), which runs the RESTART between two of its transactions (`Writer::restart_wal`). Run
/// from here instead, the RESTART had to win the write lock in the gaps between the sequencer's
/// back-to-back transactions; run by the sequencer whenever it chose, it copied up to a whole interval's
/// frames with every decision in flight waiting.
fn spawn_wal_checkpointer(dir: &Path, shared: std::sync::Weak<Shared>) -> Result<(), StoreError> {
    let connection = open_sqlite(&dir.join(DATABASE_FILE))?;
    // It only copies WAL frames into the database file: it needs no page cache of its own (the default
    // connection's 64 MiB filled up with the pages it copied and was never read from).
    connection.pragma_update(None, "cache_size", -1024)?;
    std::thread::Builder::new()
        .name("warrant-wal".into())
        .spawn(move || {
            while let Some(wanted) = shared.upgrade().map(|shared| shared.restart_wanted.clone()) {
                std::thread::sleep(CHECKPOINT_INTERVAL);
                let mut pass = wal_checkpoint(&connection, "PASSIVE");
                // Frames copied into the database file as of the previous pass (None: this interval's first).
                let mut before: Option<i64> = None;
                for tries in 1..=WAL_CATCH_UP_PASSES {
                    match pass {
                        Ok((_, frames, copied)) if frames >= WAL_RESTART_FRAMES => {
                            let short = before.is_some_and(|before| copied - before <= WAL_RESTART_BACKLOG);
                            if short || tries == WAL_CATCH_UP_PASSES {
                                wanted.store(true, std::sync::atomic::Ordering::Release);
                                break;
                            }
                            before = Some(copied);
                            pass = wal_checkpoint(&connection, "PASSIVE");
                        }
                        _ => break,
                    }
                }
                if let Err(error) = pass {
                    tracing::warn!(%error, "WAL checkpoint failed; will retry");
                }
            }
        })
        .map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
    Ok(())
}

/// A `PRAGMA wal_checkpoint` pass: `(busy, frames in the WAL, frames copied into the database file)`.
pub(crate) fn wal_checkpoint(
    connection: &rusqlite::Connection,
    mode: &str,
) -> rusqlite::Result<(i64, i64, i64)> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

/// A fresh random identifier: `prefix` and 128 random bits in hex.
pub fn random_id(prefix: &str) -> Result<String, StoreError> {
    Ok(format!("{prefix}{}", hex::encode(keys::random_bytes::<16>()?)))
}

/// Write requests waiting for the sequencer, at most; past it a write is refused with [`StoreError::Busy`] at
/// once (the server answers 503) instead of queueing without bound. Far above what the server's in-flight
/// limit lets through, so it only ever bites on a sequencer that has stalled.
const WRITER_QUEUE: usize = 4096;

/// Connections the reader pool keeps open.
const READERS: usize = 8;
/// How long a read waits for a pooled connection before it opens one of its own.
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Page cache per reader: with [`READERS`] of them, the writer's 64 MiB and the WAL checkpointer's 1 MiB, the
/// process's page caches stay under 130 MiB however many requests read at once. Readers read at random over
/// the log (proofs, events, trails), where the operating system's file cache serves as well: with 16 MiB each,
/// 64 concurrent proof readers on a 1M-event log took the server to 262-321 MB RSS and 5,400 proofs/s; with 8
/// MiB, 197-212 MB and 6,100 proofs/s.
const READER_CACHE_KIB: i64 = 8 * 1024;

/// The reader connections: at most [`READERS`] open and kept; callers wait for a free one.
#[derive(Default)]
struct ReaderPool {
    state: Mutex<PoolState>,
    freed: std::sync::Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    /// Pooled connections open, idle or lent.
    open: usize,
    /// The most connections ever open at once.
    peak: usize,
    /// Reads refused after waiting [`READER_WAIT`].
    refused: u64,
}

/// What [`Store::reader_stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderStats {
    pub open: usize,
    pub peak: usize,
    pub limit: usize,
    pub refused: u64,
}

/// A connection lent by the pool; it goes back when the lease is dropped (also when the read panics).
struct Lease<'a> {
    pool: &'a ReaderPool,
    connection: Option<Conn>,
}

impl Lease<'_> {
    fn connection(&self) -> &Conn {
        match &self.connection {
            Some(connection) => connection,
            None => unreachable!("a lease holds its connection until it is dropped"),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        match self.pool.state.lock() {
            Ok(mut state) => state.idle.push(connection),
            Err(_) => return,
        }
        self.pool.freed.notify_one();
    }
}

impl ReaderPool {
    fn take(&self, open: impl Fn() -> Result<Conn, StoreError>) -> Result<Lease<'_>, StoreError> {
        let lease = |connection| Lease {
            pool: self,
            connection: Some(connection),
        };
        let deadline = std::time::Instant::now() + READER_WAIT;
        let mut state = self.state.lock().map_err(|_| StoreError::WriterStopped)?;
        loop {
            if let Some(connection) = state.idle.pop() {
                if !connection.is_closed() {
                    return Ok(lease(connection));
                }
                // The database went away under it (a PostgreSQL restart): open a new one in its place.
                state.open -= 1;
                continue;
            }
            if state.open < READERS {
                state.open += 1;
                state.peak = state.peak.max(state.open);
                drop(state);
                return match open() {
                    Ok(connection) => Ok(lease(connection)),
                    Err(error) => {
                        if let Ok(mut state) = self.state.lock() {
                            state.open -= 1;
                        }
                        Err(error)
                    }
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                state.refused += 1;
                drop(state);
                tracing::warn!("every pooled reader was busy for {READER_WAIT:?}; refusing the read");
                return Err(StoreError::Busy);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map_err(|_| StoreError::WriterStopped)?
                .0;
        }
    }
}

/// A reader connection: for SQLite, the common settings with a smaller page cache.
fn open_reader(dir: &Path, database: &Database) -> Result<Conn, StoreError> {
    let connection = open_connection(dir, database)?;
    if let Conn::Sqlite(connection) = &connection {
        connection.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    }
    Ok(connection)
}

/// A connection to the store's database.
fn open_connection(dir: &Path, database: &Database) -> Result<Conn, StoreError> {
    match database {
        Database::Sqlite => Ok(Conn::Sqlite(open_sqlite(&dir.join(DATABASE_FILE))?)),
        Database::Postgres(url) => Ok(Conn::Postgres(PgConn::connect(url)?)),
    }
}

/// How a SQLite connection waits for a lock another connection holds: 100 µs at a time for its first 10 ms,
/// then 1 ms at a time, for 10 s in all. SQLite's own handler (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25
/// ... ms between tries, so a writer held off for 2 ms by a WAL restart slept 8 and more: every decision in
/// flight waited for the sleep, not for the lock.
pub(crate) fn waits(tries: i32) -> bool {
    match tries {
        0..100 => std::thread::sleep(std::time::Duration::from_micros(100)),
        100..10_100 => std::thread::sleep(std::time::Duration::from_millis(1)),
        _ => return false,
    }
    true
}

/// How a WAL restart waits for readers still on the old WAL: 100 µs at a time, for at most 20 ms, with new
/// writes held off meanwhile; one that gives up is asked for again after the checkpointer's next pass.
pub(crate) fn restart_waits(tries: i32) -> bool {
    if tries >= 200 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(100));
    true
}

/// Open a SQLite connection with the settings every connection needs. WAL lets readers run beside the one
/// writer; `synchronous = FULL` makes each commit durable before it returns, which acknowledgements rely on.
fn open_sqlite(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    pcache::install();
    let connection = rusqlite::Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // 64 MiB of page cache (the default is 2 MiB): index inserts at ten million events stay in memory.
    connection.pragma_update(None, "cache_size", -65536)?;
    connection.busy_handler(Some(waits))?;
    // The store's statements are a fixed set; keep them all prepared.
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_readers_waits_for_the_pool_and_leaves_no_more_connections_than_it_keeps() {
        let dir = std::env::temp_dir().join(format!("warrant-pool-{}", random_id("").unwrap_or_default()));
        let store = Store::open(&dir, &StoreConfig::default()).unwrap_or_else(|error| panic!("{error}"));
        let answers: Vec<u64> = std::thread::scope(|scope| {
            let readers: Vec<_> = (0..4 * READERS)
                .map(|_| {
                    scope.spawn(|| {
                        store.read(|db| {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            db.query_one("SELECT 7", &[], |row| row.get::<u64>(0))
                        })
                    })
                })
                .collect();
            readers
                .into_iter()
                .map(|reader| match reader.join() {
                    Ok(Ok(answer)) => answer,
                    other => panic!("a reader failed: {other:?}"),
                })
                .collect()
        });
        assert_eq!(answers, vec![7; 4 * READERS]);
        let state = store
            .shared
            .readers
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        assert_eq!(state.open, READERS, "the pool opened only as many as it keeps");
        assert_eq!(state.peak, READERS, "never more at once");
        assert_eq!(state.idle.len(), READERS, "every connection came back");
        drop(state);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_sustained_writes_and_reads() {
        let dir = std::env::temp_dir().join(format!("warrant-wal-{}", random_id("").unwrap_or_default()));
        let store = Store::open(&dir, &StoreConfig::default()).unwrap_or_else(|error| panic!("{error}"));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // A reader that never pauses, as under load: some snapshot always holds the WAL, so the background
        // checkpointer's passes alone never let it start over.
        let reader = {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    store
                        .read(|db| db.query_one("SELECT COUNT(*) FROM events", &[], |row| row.get::<u64>(0)))
                        .unwrap_or_else(|error| panic!("{error}"));
                }
            })
        };
        // One event per commit: without restarts the WAL would hold at least one frame per event.
        let events = 3_000;
        for index in 0..events {
            let event = Event::from_json(
                0,
                serde_json::json!({"time": Utc::now(), "agent": "a", "kind": "tool_call", "attrs": {"n": index}}),
            )
            .unwrap_or_else(|error| panic!("{error}"));
            store
                .append(vec![event], &Principal::warrant("test"), Utc::now())
                .await
                .unwrap_or_else(|error| panic!("{error}"));
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap_or_else(|_| panic!("the reader panicked"));
        let connection =
            rusqlite::Connection::open(dir.join(DATABASE_FILE)).unwrap_or_else(|error| panic!("{error}"));
        let frames: i64 = connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap_or_else(|error| panic!("{error}"));
        assert!(
            frames < events / 2,
            "the WAL holds {frames} frames after {events} commits: it never started over"
        );
        drop(connection);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_charges_are_checked_in_their_window_and_pruned_after_a_month() {
        let dir = std::env::temp_dir().join(format!("warrant-charges-{}", random_id("").unwrap_or_default()));
        let store = Store::open(&dir, &StoreConfig::default()).unwrap_or_else(|error| panic!("{error}"));
        let registry =
            "kind: Group\nid: treasury\nlimits:\n  - {id: daily, max_total: 50000, window_hours: 24}\n";
        let context = || ChangeContext::new(Principal::warrant("test"), None, Utc::now());
        store
            .apply(registry.into(), context())
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        let decide = |days_ago: i64, amount: f64| {
            let time = Utc::now() - chrono::Duration::days(days_ago);
            let event = Event::from_json(
                0,
                serde_json::json!({"time": time, "agent": "clerk", "kind": "policy_decision", "attrs": {}}),
            )
            .unwrap_or_else(|error| panic!("{error}"));
            let charge = GroupCharge {
                group: "treasury".into(),
                limits: vec![("daily".into(), 24)],
                amount,
            };
            let store = store.clone();
            async move {
                store
                    .record_decision(event, &Principal::warrant("test"), None, None, Some(charge))
                    .await
            }
        };
        let charges = |store: &Store| {
            store
                .read(|db| db.query_one("SELECT COUNT(*) FROM group_charges", &[], |row| row.get::<u64>(0)))
                .unwrap_or_else(|error| panic!("{error}"))
        };
        decide(40, 45_000.0)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        decide(20, 45_000.0)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            charges(&store),
            2,
            "charges younger than a month (as of the latest) stay"
        );
        decide(2, 45_000.0)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(charges(&store), 2, "the 40-day-old charge was pruned");
        // Today's window holds none of them: 45,000 fits, and 5,001 more would pass 50,000.
        decide(0, 45_000.0)
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(charges(&store), 3);
        let refused = decide(0, 5_001.0).await;
        assert!(matches!(refused, Err(StoreError::LimitReached(_))), "{refused:?}");
        assert_eq!(charges(&store), 3, "a refused charge leaves nothing behind");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_read_that_waits_too_long_is_refused_not_given_a_connection_of_its_own() {
        let dir = std::env::temp_dir().join(format!("warrant-pool-{}", random_id("").unwrap_or_default()));
        let store = Store::open(&dir, &StoreConfig::default()).unwrap_or_else(|error| panic!("{error}"));
        let held: Vec<Lease<'_>> = (0..READERS)
            .map(|_| {
                store
                    .shared
                    .readers
                    .take(|| open_reader(&dir, &Database::Sqlite))
                    .unwrap_or_else(|error| panic!("{error}"))
            })
            .collect();
        let refused = store.read(|db| db.query_one("SELECT 1", &[], |row| row.get::<u64>(0)));
        assert!(matches!(refused, Err(StoreError::Busy)), "{refused:?}");
        let stats = store.reader_stats();
        assert_eq!((stats.open, stats.peak, stats.refused), (READERS, READERS, 1));
        drop(held);
        let answer = store.read(|db| db.query_one("SELECT 1", &[], |row| row.get::<u64>(0)));
        assert_eq!(answer.ok(), Some(1), "a freed connection serves the next read");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
