//! The schema and its migrations, one versioned list per backend. Each migration runs once, in order, inside
//! one transaction, and records the version it reaches (SQLite: `PRAGMA user_version`; PostgreSQL: the
//! `schema_version` table); a database from a newer warrant is refused rather than misread.
//!
//! SQLite's list is the history of the embedded store since its first release. PostgreSQL's starts at the
//! shape SQLite reached at its version [`HEAD_VERSION`]: the same tables, columns and indexes, with
//! PostgreSQL's types (`BYTEA` for `BLOB`, `BIGINT` for the rowid `INTEGER`) and without `WITHOUT ROWID`.
//! Both lists grow together from here: a change is a migration in each.

use crate::StoreError;
use crate::db::{Conn, Db};

/// The SQLite migrations, oldest first. Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    // 1: registry, evidence log, content beside the log, checkpoints, tokens.
    "
    CREATE TABLE registry (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE registry_versions (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT,
        seq BIGINT NOT NULL,
        PRIMARY KEY (kind, id, version)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        body BLOB NOT NULL,
        leaf BLOB NOT NULL,
        kind TEXT NOT NULL,
        agent TEXT,
        time TEXT NOT NULL,
        trace_id TEXT,
        session TEXT,
        subject TEXT,
        client_id TEXT
    );
    -- Partial indexes: most events have no idempotency key, session or subject, and an index entry per NULL
    -- would cost every insert. Reports read rollups, not scans, so `kind` gets no index of its own.
    CREATE UNIQUE INDEX events_by_client_id ON events (client_id) WHERE client_id IS NOT NULL;
    CREATE INDEX events_changes ON events (agent, seq) WHERE kind = 'change';
    CREATE INDEX events_by_trace ON events (trace_id) WHERE trace_id IS NOT NULL;
    CREATE INDEX events_by_session ON events (session) WHERE session IS NOT NULL;
    CREATE INDEX events_by_subject ON events (subject) WHERE subject IS NOT NULL;
    CREATE TABLE content (
        seq BIGINT NOT NULL,
        field TEXT NOT NULL,
        salt BLOB NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (seq, field)
    ) WITHOUT ROWID;
    CREATE TABLE tiles (
        level BIGINT NOT NULL,
        idx BIGINT NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        size BIGINT PRIMARY KEY,
        root BLOB NOT NULL,
        note TEXT NOT NULL,
        time TEXT NOT NULL
    );
    CREATE TABLE tokens (
        hash BLOB PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        created TEXT NOT NULL
    );
    ",
    // 2: human approvals asked for by the policy gate.
    "
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        tool TEXT NOT NULL,
        session TEXT,
        args_hash TEXT NOT NULL,
        reasons TEXT NOT NULL,
        status TEXT NOT NULL,
        requested_seq BIGINT NOT NULL,
        requested_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        decision_reason TEXT,
        decided_seq BIGINT,
        used_seq BIGINT
    );
    CREATE INDEX approvals_by_status ON approvals (status, requested_at);
    ",
    // 3: the trace another trace was started from (`attrs.link.trace_id`), so a trail can follow a cascade
    // of agents from the caller's trace down to the traces it started.
    "
    ALTER TABLE events ADD COLUMN link_trace TEXT;
    UPDATE events SET link_trace = json_extract(CAST(body AS TEXT), '$.attrs.link.trace_id')
        WHERE instr(CAST(body AS TEXT), '\"link\":') > 0
        AND length(json_extract(CAST(body AS TEXT), '$.attrs.link.trace_id')) = 32;
    CREATE INDEX events_by_link_trace ON events (link_trace) WHERE link_trace IS NOT NULL;
    ",
    // 4: monitoring rollups, hourly, updated in the transaction of the events they count (rollups.rs), and
    // the alerts and incidents monitoring raises (incidents.rs). An existing log is counted into the rollups
    // when the migration runs (Store::open).
    "
    CREATE TABLE rollup_kinds (
        hour BIGINT NOT NULL,
        agent TEXT NOT NULL,
        kind TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (hour, agent, kind)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_decisions (
        hour BIGINT NOT NULL,
        agent TEXT NOT NULL,
        name TEXT NOT NULL,
        segment TEXT NOT NULL,
        outcome TEXT NOT NULL,
        count BIGINT NOT NULL,
        sample_seq BIGINT NOT NULL,
        PRIMARY KEY (hour, agent, name, segment, outcome)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_tools (
        hour BIGINT NOT NULL,
        agent TEXT NOT NULL,
        tool TEXT NOT NULL,
        calls BIGINT NOT NULL,
        errors BIGINT NOT NULL,
        latency TEXT NOT NULL,
        PRIMARY KEY (hour, agent, tool)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_bigrams (
        hour BIGINT NOT NULL,
        agent TEXT NOT NULL,
        prev TEXT NOT NULL,
        tool TEXT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (hour, agent, prev, tool)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_usage (
        hour BIGINT NOT NULL,
        agent TEXT NOT NULL,
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        calls BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_micro_usd BIGINT NOT NULL,
        latency TEXT NOT NULL,
        PRIMARY KEY (hour, agent, scope, name)
    ) WITHOUT ROWID;
    -- When each agent first and last called each tool, and first made each transition: never-before and
    -- unused-for-N-days checks without reading all history.
    -- The rollups count every event below next_seq; a store catches up from there when it opens.
    CREATE TABLE rollup_state (
        id BIGINT PRIMARY KEY,
        next_seq BIGINT NOT NULL
    );
    INSERT INTO rollup_state (id, next_seq) VALUES (0, 0);
    CREATE TABLE rollup_tool_span (
        agent TEXT NOT NULL,
        tool TEXT NOT NULL,
        first_hour BIGINT NOT NULL,
        last_hour BIGINT NOT NULL,
        PRIMARY KEY (agent, tool)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_bigram_span (
        agent TEXT NOT NULL,
        prev TEXT NOT NULL,
        tool TEXT NOT NULL,
        first_hour BIGINT NOT NULL,
        PRIMARY KEY (agent, prev, tool)
    ) WITHOUT ROWID;
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        rule TEXT NOT NULL,
        detector TEXT NOT NULL,
        severity TEXT NOT NULL,
        agent TEXT NOT NULL,
        subject TEXT NOT NULL,
        summary TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        threshold DOUBLE PRECISION NOT NULL,
        related TEXT NOT NULL,
        status TEXT NOT NULL,
        clear_runs BIGINT NOT NULL DEFAULT 0,
        fired_seq BIGINT NOT NULL,
        fired_at TEXT NOT NULL,
        resolved_seq BIGINT,
        resolved_at TEXT,
        incident TEXT
    );
    CREATE UNIQUE INDEX alerts_firing ON alerts (key) WHERE status = 'firing';
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        status TEXT NOT NULL,
        opened_seq BIGINT NOT NULL,
        updated_seq BIGINT NOT NULL
    );
    ",
    // 5: what agents touched (data sources, and tool calls that say whether they read or wrote), the risk
    // register, and the versioned impact assessments. The rollups are counted again from the start, so
    // the new access rollup covers the events stored before it.
    "
    CREATE TABLE rollup_access (
        agent TEXT NOT NULL,
        target TEXT NOT NULL,
        mode TEXT NOT NULL,
        first_hour BIGINT NOT NULL,
        last_hour BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (agent, target, mode)
    ) WITHOUT ROWID;
    DELETE FROM rollup_kinds;
    DELETE FROM rollup_decisions;
    DELETE FROM rollup_tools;
    DELETE FROM rollup_bigrams;
    DELETE FROM rollup_usage;
    DELETE FROM rollup_tool_span;
    DELETE FROM rollup_bigram_span;
    UPDATE rollup_state SET next_seq = 0;
    CREATE TABLE risks (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        status TEXT NOT NULL,
        opened_seq BIGINT NOT NULL,
        updated_seq BIGINT NOT NULL
    );
    CREATE TABLE impact_assessments (
        agent TEXT NOT NULL,
        version BIGINT NOT NULL,
        record TEXT NOT NULL,
        digest TEXT NOT NULL,
        recorded_seq BIGINT NOT NULL,
        approved_seq BIGINT,
        PRIMARY KEY (agent, version)
    );
    ",
    // 6: the evidence index (events tagged with the controls they evidence, per hour), documents kept as
    // evidence (content-addressed), and internal audits. The rollups are counted again so the index covers
    // the events stored before it.
    "
    CREATE TABLE rollup_evidence (
        hour BIGINT NOT NULL,
        control TEXT NOT NULL,
        count BIGINT NOT NULL,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        PRIMARY KEY (control, hour)
    ) WITHOUT ROWID;
    DELETE FROM rollup_kinds;
    DELETE FROM rollup_decisions;
    DELETE FROM rollup_tools;
    DELETE FROM rollup_bigrams;
    DELETE FROM rollup_usage;
    DELETE FROM rollup_tool_span;
    DELETE FROM rollup_bigram_span;
    DELETE FROM rollup_access;
    UPDATE rollup_state SET next_seq = 0;
    CREATE TABLE documents (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        title TEXT NOT NULL,
        controls TEXT NOT NULL,
        size BIGINT NOT NULL,
        content BLOB NOT NULL,
        added_at TEXT NOT NULL,
        added_by TEXT NOT NULL,
        seq BIGINT NOT NULL
    );
    CREATE TABLE audits (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        at TEXT NOT NULL,
        seq BIGINT NOT NULL
    );
    ",
    // 7: nonconformities from internal audits, tracked until closed (ISO/IEC 42001 10.2).
    "
    CREATE TABLE nonconformities (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        status TEXT NOT NULL,
        updated_seq BIGINT NOT NULL
    );
    ",
    // 8: identity. Tokens get a stable public id, the agents an agent token may act for (a JSON array; NULL on
    // agent tokens from before, which no longer authenticate), the person behind them, an expiry, revocation
    // and when they were last used. Approvals remember who raised them, for four eyes.
    "
    ALTER TABLE tokens ADD COLUMN id TEXT;
    UPDATE tokens SET id = 'tok_' || lower(hex(substr(hash, 1, 8)));
    CREATE UNIQUE INDEX tokens_by_id ON tokens (id);
    ALTER TABLE tokens ADD COLUMN agents TEXT;
    ALTER TABLE tokens ADD COLUMN person TEXT;
    ALTER TABLE tokens ADD COLUMN expires TEXT;
    ALTER TABLE tokens ADD COLUMN revoked TEXT;
    ALTER TABLE tokens ADD COLUMN last_used TEXT;
    UPDATE tokens SET agents = '[]' WHERE role <> 'agent';
    ALTER TABLE approvals ADD COLUMN requested_by TEXT;
    ALTER TABLE approvals ADD COLUMN requested_person TEXT;
    ",
    // 9: notifications. The outbox of deliveries (one per notifier and notice, kept after delivery as the
    // list `GET /v1/notifications` shows), the planner's cursor into the log, and indexes on the seqs the
    // planner reads approvals, alerts and incidents by.
    "
    CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        notifier TEXT NOT NULL,
        key TEXT NOT NULL,
        topic TEXT NOT NULL,
        about_kind TEXT NOT NULL,
        about_id TEXT NOT NULL,
        agent TEXT,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        next_at TEXT NOT NULL,
        deadline TEXT NOT NULL,
        last_status BIGINT,
        last_error TEXT,
        delivered_at TEXT,
        last_seq BIGINT,
        UNIQUE (notifier, key)
    );
    CREATE INDEX notifications_due ON notifications (state, next_at);
    CREATE INDEX notifications_by_about ON notifications (about_kind, about_id);
    CREATE TABLE notify_state (
        id BIGINT PRIMARY KEY,
        cursor BIGINT NOT NULL
    );
    CREATE INDEX approvals_by_requested_seq ON approvals (requested_seq);
    CREATE INDEX approvals_by_decided_seq ON approvals (decided_seq) WHERE decided_seq IS NOT NULL;
    CREATE INDEX alerts_by_fired_seq ON alerts (fired_seq);
    CREATE INDEX alerts_by_resolved_seq ON alerts (resolved_seq) WHERE resolved_seq IS NOT NULL;
    CREATE INDEX incidents_by_updated_seq ON incidents (updated_seq);
    ",
    // 10: witnesses. Each checkpoint keeps the cosignature lines witnesses returned for it; `witness_state` is
    // the size each witness last cosigned (the `old` of the next request). `head` is the tree head sealed by
    // the sequencer in every write transaction (head.rs): events past it were not written by warrant.
    "
    ALTER TABLE checkpoints ADD COLUMN cosignatures TEXT NOT NULL DEFAULT '';
    CREATE TABLE witness_state (
        witness TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE TABLE head (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        size BIGINT NOT NULL,
        root BLOB NOT NULL,
        seal BLOB NOT NULL
    );
    ",
    // 11: group charges, one row per limit an allowed call counted against: the writer checks a group's total
    // in the same transaction that records the decision, so several servers never together pass a limit.
    "
    CREATE TABLE group_charges (
        grp TEXT NOT NULL,
        lim TEXT NOT NULL,
        at TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        seq BIGINT NOT NULL
    );
    CREATE INDEX group_charges_window ON group_charges (grp, lim, at);
    ",
];

/// The PostgreSQL migrations, oldest first. Never edit one that has shipped: add another (and its SQLite twin).
const PG_MIGRATIONS: &[&str] = &[
    PG_SCHEMA_1,
    // 2: group charges (SQLite's 11).
    "
    CREATE TABLE group_charges (
        grp TEXT COLLATE \"C\" NOT NULL,
        lim TEXT COLLATE \"C\" NOT NULL,
        at TEXT COLLATE \"C\" NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        seq BIGINT NOT NULL
    );
    CREATE INDEX group_charges_window ON group_charges (grp, lim, at);
    ",
];

/// PostgreSQL's first version: the SQLite schema as of its version 10. Text sorts and compares by bytes
/// (`COLLATE "C"`), as in SQLite, whatever the database's default collation: listings come out in the same
/// order on both backends, and the indexes skip locale rules.
const PG_SCHEMA_1: &str = "
    CREATE TABLE registry (
        kind TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT COLLATE \"C\" NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE TABLE registry_versions (
        kind TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT COLLATE \"C\",
        seq BIGINT NOT NULL,
        PRIMARY KEY (kind, id, version)
    );
    CREATE TABLE events (
        seq BIGINT PRIMARY KEY,
        body BYTEA NOT NULL,
        leaf BYTEA NOT NULL,
        kind TEXT COLLATE \"C\" NOT NULL,
        agent TEXT COLLATE \"C\",
        time TEXT COLLATE \"C\" NOT NULL,
        trace_id TEXT COLLATE \"C\",
        session TEXT COLLATE \"C\",
        subject TEXT COLLATE \"C\",
        client_id TEXT COLLATE \"C\",
        link_trace TEXT COLLATE \"C\"
    );
    CREATE UNIQUE INDEX events_by_client_id ON events (client_id) WHERE client_id IS NOT NULL;
    CREATE INDEX events_changes ON events (agent, seq) WHERE kind = 'change';
    CREATE INDEX events_by_trace ON events (trace_id) WHERE trace_id IS NOT NULL;
    CREATE INDEX events_by_session ON events (session) WHERE session IS NOT NULL;
    CREATE INDEX events_by_subject ON events (subject) WHERE subject IS NOT NULL;
    CREATE INDEX events_by_link_trace ON events (link_trace) WHERE link_trace IS NOT NULL;
    CREATE TABLE content (
        seq BIGINT NOT NULL,
        field TEXT COLLATE \"C\" NOT NULL,
        salt BYTEA NOT NULL,
        text TEXT COLLATE \"C\" NOT NULL,
        PRIMARY KEY (seq, field)
    );
    CREATE TABLE tiles (
        level BIGINT NOT NULL,
        idx BIGINT NOT NULL,
        hash BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE checkpoints (
        size BIGINT PRIMARY KEY,
        root BYTEA NOT NULL,
        note TEXT COLLATE \"C\" NOT NULL,
        time TEXT COLLATE \"C\" NOT NULL,
        cosignatures TEXT COLLATE \"C\" NOT NULL DEFAULT ''
    );
    CREATE TABLE tokens (
        hash BYTEA PRIMARY KEY,
        name TEXT COLLATE \"C\" NOT NULL UNIQUE,
        role TEXT COLLATE \"C\" NOT NULL,
        created TEXT COLLATE \"C\" NOT NULL,
        id TEXT COLLATE \"C\" UNIQUE,
        agents TEXT COLLATE \"C\",
        person TEXT COLLATE \"C\",
        expires TEXT COLLATE \"C\",
        revoked TEXT COLLATE \"C\",
        last_used TEXT COLLATE \"C\"
    );
    CREATE TABLE approvals (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        agent TEXT COLLATE \"C\" NOT NULL,
        tool TEXT COLLATE \"C\" NOT NULL,
        session TEXT COLLATE \"C\",
        args_hash TEXT COLLATE \"C\" NOT NULL,
        reasons TEXT COLLATE \"C\" NOT NULL,
        status TEXT COLLATE \"C\" NOT NULL,
        requested_seq BIGINT NOT NULL,
        requested_at TEXT COLLATE \"C\" NOT NULL,
        expires_at TEXT COLLATE \"C\" NOT NULL,
        decided_by TEXT COLLATE \"C\",
        decided_at TEXT COLLATE \"C\",
        decision_reason TEXT COLLATE \"C\",
        decided_seq BIGINT,
        used_seq BIGINT,
        requested_by TEXT COLLATE \"C\",
        requested_person TEXT COLLATE \"C\"
    );
    CREATE INDEX approvals_by_status ON approvals (status, requested_at);
    CREATE INDEX approvals_by_requested_seq ON approvals (requested_seq);
    CREATE INDEX approvals_by_decided_seq ON approvals (decided_seq) WHERE decided_seq IS NOT NULL;
    CREATE TABLE rollup_kinds (
        hour BIGINT NOT NULL,
        agent TEXT COLLATE \"C\" NOT NULL,
        kind TEXT COLLATE \"C\" NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (hour, agent, kind)
    );
    CREATE TABLE rollup_decisions (
        hour BIGINT NOT NULL,
        agent TEXT COLLATE \"C\" NOT NULL,
        name TEXT COLLATE \"C\" NOT NULL,
        segment TEXT COLLATE \"C\" NOT NULL,
        outcome TEXT COLLATE \"C\" NOT NULL,
        count BIGINT NOT NULL,
        sample_seq BIGINT NOT NULL,
        PRIMARY KEY (hour, agent, name, segment, outcome)
    );
    CREATE TABLE rollup_tools (
        hour BIGINT NOT NULL,
        agent TEXT COLLATE \"C\" NOT NULL,
        tool TEXT COLLATE \"C\" NOT NULL,
        calls BIGINT NOT NULL,
        errors BIGINT NOT NULL,
        latency TEXT COLLATE \"C\" NOT NULL,
        PRIMARY KEY (hour, agent, tool)
    );
    CREATE TABLE rollup_bigrams (
        hour BIGINT NOT NULL,
        agent TEXT COLLATE \"C\" NOT NULL,
        prev TEXT COLLATE \"C\" NOT NULL,
        tool TEXT COLLATE \"C\" NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (hour, agent, prev, tool)
    );
    CREATE TABLE rollup_usage (
        hour BIGINT NOT NULL,
        agent TEXT COLLATE \"C\" NOT NULL,
        scope TEXT COLLATE \"C\" NOT NULL,
        name TEXT COLLATE \"C\" NOT NULL,
        calls BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_micro_usd BIGINT NOT NULL,
        latency TEXT COLLATE \"C\" NOT NULL,
        PRIMARY KEY (hour, agent, scope, name)
    );
    CREATE TABLE rollup_state (
        id BIGINT PRIMARY KEY,
        next_seq BIGINT NOT NULL
    );
    INSERT INTO rollup_state (id, next_seq) VALUES (0, 0);
    CREATE TABLE rollup_tool_span (
        agent TEXT COLLATE \"C\" NOT NULL,
        tool TEXT COLLATE \"C\" NOT NULL,
        first_hour BIGINT NOT NULL,
        last_hour BIGINT NOT NULL,
        PRIMARY KEY (agent, tool)
    );
    CREATE TABLE rollup_bigram_span (
        agent TEXT COLLATE \"C\" NOT NULL,
        prev TEXT COLLATE \"C\" NOT NULL,
        tool TEXT COLLATE \"C\" NOT NULL,
        first_hour BIGINT NOT NULL,
        PRIMARY KEY (agent, prev, tool)
    );
    CREATE TABLE rollup_access (
        agent TEXT COLLATE \"C\" NOT NULL,
        target TEXT COLLATE \"C\" NOT NULL,
        mode TEXT COLLATE \"C\" NOT NULL,
        first_hour BIGINT NOT NULL,
        last_hour BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (agent, target, mode)
    );
    CREATE TABLE rollup_evidence (
        hour BIGINT NOT NULL,
        control TEXT COLLATE \"C\" NOT NULL,
        count BIGINT NOT NULL,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        PRIMARY KEY (control, hour)
    );
    CREATE TABLE alerts (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        key TEXT COLLATE \"C\" NOT NULL,
        rule TEXT COLLATE \"C\" NOT NULL,
        detector TEXT COLLATE \"C\" NOT NULL,
        severity TEXT COLLATE \"C\" NOT NULL,
        agent TEXT COLLATE \"C\" NOT NULL,
        subject TEXT COLLATE \"C\" NOT NULL,
        summary TEXT COLLATE \"C\" NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        threshold DOUBLE PRECISION NOT NULL,
        related TEXT COLLATE \"C\" NOT NULL,
        status TEXT COLLATE \"C\" NOT NULL,
        clear_runs BIGINT NOT NULL DEFAULT 0,
        fired_seq BIGINT NOT NULL,
        fired_at TEXT COLLATE \"C\" NOT NULL,
        resolved_seq BIGINT,
        resolved_at TEXT COLLATE \"C\",
        incident TEXT COLLATE \"C\"
    );
    CREATE UNIQUE INDEX alerts_firing ON alerts (key) WHERE status = 'firing';
    CREATE INDEX alerts_by_fired_seq ON alerts (fired_seq);
    CREATE INDEX alerts_by_resolved_seq ON alerts (resolved_seq) WHERE resolved_seq IS NOT NULL;
    CREATE TABLE incidents (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        record TEXT COLLATE \"C\" NOT NULL,
        status TEXT COLLATE \"C\" NOT NULL,
        opened_seq BIGINT NOT NULL,
        updated_seq BIGINT NOT NULL
    );
    CREATE INDEX incidents_by_updated_seq ON incidents (updated_seq);
    CREATE TABLE risks (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        record TEXT COLLATE \"C\" NOT NULL,
        status TEXT COLLATE \"C\" NOT NULL,
        opened_seq BIGINT NOT NULL,
        updated_seq BIGINT NOT NULL
    );
    CREATE TABLE impact_assessments (
        agent TEXT COLLATE \"C\" NOT NULL,
        version BIGINT NOT NULL,
        record TEXT COLLATE \"C\" NOT NULL,
        digest TEXT COLLATE \"C\" NOT NULL,
        recorded_seq BIGINT NOT NULL,
        approved_seq BIGINT,
        PRIMARY KEY (agent, version)
    );
    CREATE TABLE documents (
        sha256 TEXT COLLATE \"C\" PRIMARY KEY,
        name TEXT COLLATE \"C\" NOT NULL,
        title TEXT COLLATE \"C\" NOT NULL,
        controls TEXT COLLATE \"C\" NOT NULL,
        size BIGINT NOT NULL,
        content BYTEA NOT NULL,
        added_at TEXT COLLATE \"C\" NOT NULL,
        added_by TEXT COLLATE \"C\" NOT NULL,
        seq BIGINT NOT NULL
    );
    CREATE TABLE audits (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        record TEXT COLLATE \"C\" NOT NULL,
        at TEXT COLLATE \"C\" NOT NULL,
        seq BIGINT NOT NULL
    );
    CREATE TABLE nonconformities (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        record TEXT COLLATE \"C\" NOT NULL,
        status TEXT COLLATE \"C\" NOT NULL,
        updated_seq BIGINT NOT NULL
    );
    CREATE TABLE notifications (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        notifier TEXT COLLATE \"C\" NOT NULL,
        key TEXT COLLATE \"C\" NOT NULL,
        topic TEXT COLLATE \"C\" NOT NULL,
        about_kind TEXT COLLATE \"C\" NOT NULL,
        about_id TEXT COLLATE \"C\" NOT NULL,
        agent TEXT COLLATE \"C\",
        title TEXT COLLATE \"C\" NOT NULL,
        body TEXT COLLATE \"C\" NOT NULL,
        state TEXT COLLATE \"C\" NOT NULL,
        attempts BIGINT NOT NULL,
        created_at TEXT COLLATE \"C\" NOT NULL,
        next_at TEXT COLLATE \"C\" NOT NULL,
        deadline TEXT COLLATE \"C\" NOT NULL,
        last_status BIGINT,
        last_error TEXT COLLATE \"C\",
        delivered_at TEXT COLLATE \"C\",
        last_seq BIGINT,
        UNIQUE (notifier, key)
    );
    CREATE INDEX notifications_due ON notifications (state, next_at);
    CREATE INDEX notifications_by_about ON notifications (about_kind, about_id);
    CREATE TABLE notify_state (
        id BIGINT PRIMARY KEY,
        cursor BIGINT NOT NULL
    );
    CREATE TABLE witness_state (
        witness TEXT COLLATE \"C\" PRIMARY KEY,
        size BIGINT NOT NULL,
        updated TEXT COLLATE \"C\" NOT NULL
    );
    CREATE TABLE head (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        size BIGINT NOT NULL,
        root BYTEA NOT NULL,
        seal BYTEA NOT NULL
    );
";

/// The schema version that added the sealed tree head (head.rs), in SQLite's numbering.
pub(crate) const HEAD_VERSION: usize = 10;

/// Bring the database to the latest schema; returns the version it was at, in SQLite's numbering (a
/// PostgreSQL database at any version of its own has every table SQLite had at [`HEAD_VERSION`]). (A log
/// that predates the rollups is counted into them by the catch-up every open runs: `rollup_state` starts at
/// seq 0.)
pub(crate) fn migrate(connection: &mut Conn) -> Result<usize, StoreError> {
    match connection {
        Conn::Sqlite(connection) => migrate_sqlite(connection),
        Conn::Postgres(_) => {
            let current = migrate_postgres(connection)?;
            Ok(if current == 0 {
                0
            } else {
                HEAD_VERSION + current - 1
            })
        }
    }
}

fn migrate_sqlite(connection: &mut rusqlite::Connection) -> Result<usize, StoreError> {
    let current: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
    }
    Ok(current)
}

/// PostgreSQL: every migration in one transaction that first takes a transaction-scoped advisory lock, so two
/// servers starting at once do not both migrate (the second waits, then finds nothing to do). One of a
/// deployment's further logs (logs.rs) connects with its own schema as the `search_path`; the first migration
/// creates that schema.
fn migrate_postgres(connection: &mut Conn) -> Result<usize, StoreError> {
    let transaction = connection.transaction()?;
    let db = transaction.db();
    db.execute_batch(
        "SELECT pg_advisory_xact_lock(7310895242081829729);
         DO $$ BEGIN
           IF current_schema() IS NULL AND current_setting('search_path') ~ '^warrant_log_[a-z0-9_]+$' THEN
             EXECUTE format('CREATE SCHEMA %I', current_setting('search_path'));
           END IF;
         END $$;
         CREATE TABLE IF NOT EXISTS schema_version (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);",
    )?;
    let current: usize = db
        .query_opt("SELECT version FROM schema_version WHERE id = 1", &[], |row| {
            row.get(0)
        })?
        .unwrap_or(0);
    if current > PG_MIGRATIONS.len() {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: PG_MIGRATIONS.len(),
        });
    }
    for sql in PG_MIGRATIONS.iter().skip(current) {
        db.execute_batch(sql)?;
    }
    let latest = PG_MIGRATIONS.len();
    db.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        &[&latest],
    )?;
    transaction.commit()?;
    Ok(current)
}

/// The schema version of the database `db` is on, in its backend's own numbering.
pub(crate) fn version(db: Db<'_>) -> Result<usize, StoreError> {
    match db {
        Db::Sqlite(connection) => Ok(connection.query_row("PRAGMA user_version", [], |row| row.get(0))?),
        Db::Postgres(_) => Ok(db
            .query_opt("SELECT version FROM schema_version WHERE id = 1", &[], |row| {
                row.get(0)
            })?
            .unwrap_or(0)),
    }
}
