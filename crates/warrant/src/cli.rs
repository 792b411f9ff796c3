//! The command line, as clap definitions. Names follow DESIGN.md's interface contract.

use std::path::PathBuf;
use warrant_log::Seq;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "warrant",
    version,
    about = "Governance and audit evidence for autonomous AI agents"
)]
pub struct Cli {
    /// Data directory of the embedded store.
    #[arg(long, global = true, env = "WARRANT_DATA", default_value = "./warrant-data")]
    pub data: PathBuf,

    /// Keep the store's tables in PostgreSQL (`postgres://user:password@host/db`) instead of the data
    /// directory's SQLite file. The data directory still holds the log's signing key.
    #[arg(long, global = true, env = "WARRANT_DATABASE", hide_env_values = true)]
    pub database: Option<String>,

    /// Act on one of the deployment's further logs (`warrant logs create ID`) instead of its first: the data
    /// directory's `logs/ID`, or `/logs/ID/` on `--server`.
    #[arg(long = "log-id", global = true, env = "WARRANT_LOG_ID", value_name = "ID")]
    pub log: Option<String>,

    /// Act on a running server instead of the data directory (token in $WARRANT_TOKEN).
    #[arg(long, global = true, env = "WARRANT_SERVER")]
    pub server: Option<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// With `--log-id ID`, point the command at that log of the deployment: its data directory (`logs/ID` in
    /// `--data`, on the database the first log's follows), or its path on `--server`.
    pub fn select_log(&mut self) -> Result<(), String> {
        let Some(id) = self.log.as_deref() else {
            return Ok(());
        };
        let id = warrant_store::logs::LogId::parse(id)?;
        match &self.command {
            Command::Serve(_) | Command::Demo { .. } => {
                return Err("a server serves every log of its data directory; leave out --log-id".into());
            }
            Command::Logs { .. } => {
                return Err(
                    "logs are listed and created on the deployment's first log; leave out --log-id".into(),
                );
            }
            Command::Witness(_) | Command::DemoUpstream => {
                return Err("--log-id names a log of a deployment; this command has none".into());
            }
            _ => {}
        }
        if let Some(server) = &mut self.server {
            *server = format!("{}/logs/{id}", server.trim_end_matches('/'));
            return Ok(());
        }
        let dir = warrant_store::logs::log_dir(&self.data, &id);
        if !warrant_store::holds_log(&dir) && !matches!(self.command, Command::Restore { .. }) {
            return Err(format!(
                "{} holds no log `{id}`; create it with `warrant logs create {id}`",
                self.data.display()
            ));
        }
        // A further log's tables follow the first log's database (a schema of their own on PostgreSQL).
        if let Some(database) = warrant_store::Database::parse(self.database.as_deref())? {
            let database =
                warrant_store::logs::log_database(&database, &id).map_err(|error| error.to_string())?;
            self.database = match database {
                warrant_store::Database::Postgres(url) => Some(url),
                warrant_store::Database::Sqlite => Some("sqlite".into()),
            };
        }
        self.data = dir;
        Ok(())
    }

    /// The store settings for this data directory: the organisation and the database `--database` names.
    pub fn store_config(&self, org: &str) -> anyhow::Result<warrant_store::StoreConfig> {
        Ok(warrant_store::StoreConfig {
            org: org.to_owned(),
            database: warrant_store::Database::parse(self.database.as_deref()).map_err(anyhow::Error::msg)?,
            log: None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Yaml,
    /// Graphviz, for `warrant risk graph`; other commands print their table.
    Dot,
    /// Markdown, for documents (`warrant impact`, `soa`, `gaps`, `readiness`); other commands print their table.
    Md,
    /// CSV, for `warrant soa`; other commands print their table.
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: API, OTLP and metrics.
    Serve(ServeArgs),
    /// Build the demo bank, replay its story into the data directory, then serve.
    Demo {
        /// Build and report, but do not start the server.
        #[arg(long)]
        no_serve: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Validate and apply a manifest file (all documents or none).
    Apply {
        /// The manifest file (YAML, several documents allowed; `-` for standard input).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Why: recorded in the change log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Remove an agent, tool, data source or AI system from the registry.
    Delete {
        /// agent, tool, datasource or system (singular or plural).
        kind: String,
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// List agents, tools, data sources or AI systems, or show one.
    Get {
        /// agents, tools, datasources or systems.
        collection: String,
        id: Option<String>,
    },
    /// The registry change log.
    Changes {
        #[arg(long)]
        agent: Option<String>,
        /// Only changes to this kind (Agent, Tool, DataSource, AISystem).
        #[arg(long)]
        kind: Option<String>,
        /// Only the last N changes.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Append events from an NDJSON file to the evidence log.
    Ingest {
        file: PathBuf,
        /// Events per request.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Evidence log: checkpoints, proofs and the verifier key.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Bring the data directory's database to this warrant's schema (every start does this too).
    Migrate,
    /// Back up a SQLite data directory into DEST, a new data directory (database snapshot and signing key).
    Backup { dest: PathBuf },
    /// Restore a backup into --data (which must hold no log), then verify it.
    Restore { from: PathBuf },
    /// Recompute the whole log from the stored events and check every checkpoint.
    Verify {
        /// A data directory (default: --data), or an evidence bundle (directory or `.tar.gz`).
        path: Option<PathBuf>,
        /// Verifier key the checkpoints must be signed with (default: the data directory's own key).
        #[arg(long)]
        key: Option<String>,
        /// For a bundle: a signed checkpoint you already hold (a file: an earlier bundle's
        /// checkpoints/end.txt, or one published); the bundle's log must agree with it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// For a bundle: a witness whose cosignature counts (`NAME=VKEY`, or the witness's vkey alone;
        /// repeatable).
        #[arg(long = "witness", value_name = "NAME=KEY")]
        witnesses: Vec<String>,
        /// For a bundle: how many of the --witness keys must have cosigned the end checkpoint (default: all).
        #[arg(long, value_name = "K")]
        policy: Option<usize>,
        /// For a data directory: also fail (exit 1) when events lie past the last signed checkpoint.
        #[arg(long)]
        strict: bool,
    },
    /// Ask the policy gate whether an agent may call a tool now (the decision is recorded as evidence).
    Authorize {
        #[arg(long)]
        agent: String,
        #[arg(long)]
        tool: String,
        /// The call's arguments as a JSON object.
        #[arg(long)]
        args: Option<String>,
        #[arg(long)]
        session: Option<String>,
        /// Recipients the user named at the start of the session (comma-separated; first call only).
        #[arg(long, value_delimiter = ',')]
        user_named: Vec<String>,
        /// Re-ask a held call with the approval a human granted for it.
        #[arg(long)]
        approval_id: Option<String>,
        /// The trace of the call (32 hex), so the decision shows in its trail.
        #[arg(long)]
        trace_id: Option<String>,
        /// The span of the tool call (16 hex) inside that trace.
        #[arg(long)]
        span_id: Option<String>,
    },
    /// Be the MCP server an MCP host starts (stdio): start the upstream `McpServer` as a child and relay,
    /// with the registry deciding what the agent sees and the gate deciding every tool call.
    Mcp {
        /// The agent the host runs (an agent token must be bound to it).
        #[arg(long)]
        agent: String,
        /// The `McpServer` id of the upstream.
        #[arg(long)]
        upstream: String,
    },
    /// A standalone C2SP witness for other logs (`serve`), and its key (`keygen`).
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// The demo bank's support tools as an MCP server on stdio: the upstream `warrant demo` puts behind
    /// the gateway.
    #[command(hide = true)]
    DemoUpstream,
    /// The decision path of a trace, a session or an event: every step as a tree, with its proof.
    Trail {
        /// A trace id (32 hex), a session id or an event seq.
        id: String,
    },
    /// Behavioural monitoring over the rollups: drift, disparity, anomalies, cost and oversight.
    Monitor(MonitorArgs),
    /// Alerts raised by the monitoring rules.
    Alerts {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Incidents: what happened, the evidence, actions, root cause and the EU AI Act Art. 73 clock.
    Incidents {
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Risk analysis over the tool-access graph: findings, the risk class computed per agent, and the risk
    /// register with its treatments.
    Risk {
        #[command(subcommand)]
        command: Option<RiskCommand>,
    },
    /// The Statement of Applicability: one row per ISO/IEC 42001 Annex A control, with its status from the
    /// evidence rules, the evidence and the owner (`-o md|csv|json`).
    Soa,
    /// The gap report: have, partial and missing per control and clause, with reasons and next steps.
    Gaps {
        /// Exit 1 when any applicable control or clause is missing (or, with `partial`, not fully implemented).
        #[arg(long, value_name = "missing|partial")]
        fail_on: Option<String>,
    },
    /// The EU AI Act crosswalk: per article, the ISO/IEC 42001 items that support it with their live status,
    /// and the obligations ISO/IEC 42001 does not cover, as tasks.
    Crosswalk,
    /// Where the organisation stands on the way to certification, what to do, and what it may cost.
    Readiness,
    /// Documents kept as evidence (policies, training records ...), content-addressed, their hash in the log.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// Internal audit (ISO/IEC 42001 9.2): plan, run (samples evidence and verifies its proofs), list.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Evidence for auditors: reproducible samples per control, with inclusion proofs.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// The impact assessment of an agent, generated from the registry and the findings, kept as versions
    /// that a person approves.
    Impact {
        agent: String,
        /// Keep the assessment as generated now as a new version (unless it equals the latest).
        #[arg(long, conflicts_with = "approve")]
        record: bool,
        /// Approve this version.
        #[arg(long, value_name = "VERSION")]
        approve: Option<u64>,
        /// Why: recorded in the event.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Calls the policy gate held for a human decision.
    Approvals {
        #[command(subcommand)]
        command: ApprovalCommand,
    },
    /// Periodic access reviews of tool grants (cadence by risk class).
    Reviews {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// Hand a case to a human (recorded as an escalation event).
    Escalate {
        #[arg(long)]
        agent: String,
        #[arg(long)]
        reason: String,
        /// The person or queue the case goes to.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        session: Option<String>,
        #[arg(long)]
        trace_id: Option<String>,
    },
    /// Reverse an agent's decision or output (recorded as an override event naming the original).
    Override {
        /// The seq of the event being overridden.
        #[arg(long)]
        seq: Seq,
        #[arg(long)]
        reason: String,
        /// What the human decided instead, as JSON (a bare word is taken as a string).
        #[arg(long)]
        replacement: Option<String>,
    },
    /// Agents: the kill switch.
    Agents {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Erase the personal content of events (by data subject or seq); the log and its proofs stay intact.
    Erase {
        /// Every event whose `attrs.subject` is this data subject.
        #[arg(long, conflicts_with = "seq")]
        subject: Option<String>,
        /// One event (repeatable).
        #[arg(long)]
        seq: Vec<Seq>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The deployment's logs: one Merkle log per organisation or business unit, each with its own key,
    /// origin, registry and tokens.
    Logs {
        #[command(subcommand)]
        command: LogsCommand,
    },
    /// Notifiers (`kind: Notifier` webhooks): send a test message.
    Notifiers {
        #[command(subcommand)]
        command: NotifierCommand,
    },
    /// Notification deliveries and their state, newest first.
    Notifications {
        /// Only this notifier's.
        #[arg(long)]
        notifier: Option<String>,
        /// pending, delivered or failed.
        #[arg(long)]
        state: Option<String>,
        /// Only those about this record: `kind:id` (`incident:inc_…`, `approval:apr_…`).
        #[arg(long)]
        about: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifierCommand {
    /// Send a test message to the notifier now, once, and say how it went (the attempt is recorded).
    Test { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: String,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub body_limit: usize,
    /// Milliseconds between checkpoints while there are new events.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_interval_ms: u64,
    /// Seconds an approval asked for by the policy gate stays open.
    #[arg(long, default_value_t = 3600)]
    pub approval_ttl_s: u64,
    /// How often the alert rules are evaluated, in seconds; 0 turns the evaluator off.
    #[arg(long, default_value_t = 60)]
    pub monitor_interval_s: u64,
    /// Seconds between retention sweeps (content past its retention period is erased).
    #[arg(long, default_value_t = 3600)]
    pub retention_interval_s: u64,
    /// Organisation name for a new data directory's log origin.
    #[arg(long, default_value = "default")]
    pub org: String,
    /// The address people reach this server's console at, for the links in notifications (default: the
    /// address it listens on).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Milliseconds between notification rounds (planning and sending what is due); 0 turns them off.
    #[arg(long, default_value_t = 500)]
    pub notify_interval_ms: u64,
    /// Requests handled at once; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Cosignatures a checkpoint needs from the `kind: Witness` witnesses (default: all of them).
    #[arg(long, value_name = "K")]
    pub witness_quorum: Option<usize>,
    /// `closed`: publish (serve and export) only checkpoints with the quorum's cosignatures; `open`: publish
    /// the latest and report the shortfall in /healthz and /metrics.
    #[arg(long, value_enum, default_value_t = WitnessFail::Open)]
    pub witness_fail: WitnessFail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WitnessFail {
    Open,
    Closed,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Run a C2SP tlog-witness: cosign the checkpoints of the logs given, each only if it is consistent with
    /// every checkpoint of that log cosigned before.
    Serve {
        /// The witness's key file (`PRIVATE+KEY+<name>+...`, from `warrant witness keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// A log to witness: `ORIGIN=VKEY` (or the log's vkey alone; see `warrant log key`). Repeatable.
        #[arg(long = "log", value_name = "ORIGIN=KEY", required = true)]
        logs: Vec<String>,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:7788")]
        listen: String,
        /// The witness's state (SQLite; default: `witness.db` beside the key file).
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
    },
    /// Create a witness key and print its verifier key (what logs and auditors configure).
    Keygen {
        /// The witness's name, a schema-less URL by convention (`witness.example.com/w1`).
        #[arg(long)]
        name: String,
        /// Where to write the secret key (refused if the file exists).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// The latest signed checkpoint.
    Checkpoint,
    /// Inclusion proof of one event (to the latest checkpoint unless --size).
    Proof {
        #[arg(long)]
        seq: Seq,
        #[arg(long)]
        size: Option<u64>,
    },
    /// Consistency proof between two tree sizes.
    Consistency {
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: u64,
    },
    /// The public key that verifies checkpoints (signed-note verifier key).
    Key,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub decision: Option<String>,
    /// The current window, in hours (`--window` for short).
    #[arg(long, alias = "window", default_value_t = 24)]
    pub current_hours: u32,
    /// The baseline window before it, in hours.
    #[arg(long, default_value_t = 168)]
    pub baseline_hours: u32,
    /// Below this many decisions in a window, drift and disparity say "insufficient data".
    #[arg(long, default_value_t = 30)]
    pub min_samples: u64,
    /// Evaluate the alert rules now (alerts fire or resolve; high ones open incidents).
    #[arg(long)]
    pub evaluate: bool,
    /// Recompute the rollups from the log.
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Findings (the default): exfiltration paths, injection exposure, irreversible actions without a human,
    /// combined authority, cascades, and what the log shows that the registry does not declare.
    Findings,
    /// The tool-access graph (`-o dot` for Graphviz, `-o json`).
    Graph,
    /// Run the analysis and update the register: new findings open risks, fixed paths close theirs.
    Assess,
    /// The risk register, highest score first.
    List {
        /// open, mitigated, accepted or closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        agent: Option<String>,
    },
    /// One risk.
    Show { id: String },
    /// Record a treatment decision.
    Treat {
        id: String,
        /// accept, mitigate, transfer or avoid.
        #[arg(long)]
        treatment: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// The treatment plan, or the justification of an acceptance.
        #[arg(long)]
        plan: Option<String>,
        /// The next review date (YYYY-MM-DD).
        #[arg(long)]
        review_due: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Alerts, newest first.
    List {
        /// firing or resolved.
        #[arg(long)]
        status: Option<String>,
    },
    /// Open an incident for an alert.
    Promote {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Incidents, newest first, with their Art. 73 clock.
    List,
    Show {
        id: String,
    },
    /// Change an incident; each change is recorded as an event.
    Update {
        id: String,
        #[arg(long)]
        title: Option<String>,
        /// open, investigating, mitigated or closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        what_happened: Option<String>,
        #[arg(long)]
        root_cause: Option<String>,
        #[arg(long)]
        preventive_measures: Option<String>,
        /// An action taken (appended).
        #[arg(long)]
        action: Option<String>,
        /// A communication made (appended).
        #[arg(long)]
        communication: Option<String>,
        /// A serious incident in the sense of EU AI Act Art. 3(49): starts the Art. 73 clock.
        #[arg(long)]
        serious: Option<bool>,
        /// general (15 days), widespread or critical_infrastructure (2 days), death (10 days).
        #[arg(long)]
        category: Option<String>,
        /// When the organisation became aware (RFC 3339); the clock starts here.
        #[arg(long)]
        aware_at: Option<String>,
        /// When the incident was reported to the authority (RFC 3339).
        #[arg(long)]
        reported_at: Option<String>,
    },
    /// Close an incident (it needs its root cause).
    Close {
        id: String,
        #[arg(long)]
        root_cause: Option<String>,
        #[arg(long)]
        preventive_measures: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// List approvals, newest first.
    List {
        /// pending, approved, denied, used or expired.
        #[arg(long)]
        status: Option<String>,
    },
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Grants by review due date; overdue ones flagged.
    Due {
        /// Only overdue grants.
        #[arg(long)]
        overdue: bool,
    },
    /// Record a review of one grant: keep it (resets its date) or revoke it.
    Record {
        #[arg(long)]
        agent: String,
        #[arg(long)]
        tool: String,
        /// keep or revoke.
        #[arg(long)]
        result: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Suspend an agent: the gate denies every call it asks for until it is resumed.
    Suspend {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume a suspended agent.
    Resume {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Every log: id, origin, size and where its API is.
    List,
    /// Create a further log and print its first admin token (shown once).
    Create {
        /// 1 to 32 lowercase letters, digits and inner hyphens (`retail`, `eu-wealth`).
        id: String,
        /// The organisation named in its origin; default: the first log's.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        /// For an agent token: an agent it may act for (repeat for an orchestrator that runs several).
        #[arg(long = "agent")]
        agents: Vec<String>,
        /// The person behind the token (four eyes counts one person's tokens as one); default: the name.
        #[arg(long)]
        person: Option<String>,
        /// Stop working after this long: `90d`, `12h`, `30m`, `2w`.
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Every token: id, role, agents, status, expiry and last use (never the secret).
    List,
    /// Revoke a token by id (`tok_…`); it is refused from then on, also by a running server.
    Revoke {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Keep FILE as evidence for the controls named (repeat --control).
    Add {
        file: PathBuf,
        /// An ISO/IEC 42001 control or clause, an EU AI Act article (`Art.43`) or a crosswalk task id.
        #[arg(long = "control", required = true)]
        controls: Vec<String>,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Documents, newest first.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// What the audit will sample and review.
    Plan,
    /// Run the audit: sample N evidence items per implemented control, verify their inclusion proofs, record
    /// nonconformities and the management-review inputs.
    Run {
        #[arg(long, default_value_t = 5)]
        n: usize,
        /// The sampling seed (default: taken from the checkpoint root).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Past audits, newest first.
    List,
    /// Nonconformities raised by audits, open ones first.
    Ncs,
    /// Close a nonconformity with the corrective action taken.
    Close {
        id: String,
        #[arg(long)]
        action: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Pick N evidence items of a control reproducibly (the same seed picks the same items), with proofs.
    Sample {
        #[arg(long)]
        control: String,
        #[arg(long, default_value_t = 25)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Export the signed evidence bundle of one audit period: a directory, or a `.tar.gz` when PATH ends so.
    Export {
        /// The period's start: a date (YYYY-MM-DD) or an RFC 3339 time.
        #[arg(long)]
        from: String,
        /// The period's end (exclusive).
        #[arg(long)]
        to: String,
        /// Only these agents' events in full (repeat); the others as their leaf hashes.
        #[arg(long = "agent")]
        agents: Vec<String>,
        /// Clear content (prompts, arguments) with its salts, beside the digests.
        #[arg(long)]
        with_content: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// How many events evidence a control in a period (dates or RFC 3339 times; `--to` is exclusive).
    Count {
        #[arg(long)]
        control: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    /// clap checks a command line's definition only when it is built: names used twice (a global flag and a
    /// subcommand's) fail here rather than at a user's first run.
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
