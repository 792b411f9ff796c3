//! `warrant demo`: builds the demo bank and replays the seed story (DESIGN.md) into the data directory through
//! the same API the CLI and agents use, reports what it found, then serves.
//!
//! The story so far: the bank registers its agents, tools, data sources and models; then the onboarding
//! agent's prompt is changed, which the change log records as a substantial modification. The policy gate
//! holds an exfiltration chain and counts combined authority. Eight days of onboarding runs arrive as real
//! OTLP ([`runs`]), and the demo ends on the trail of one high-value client. Later parts of the story (drift,
//! the alert and the incident) arrive with the issues that build them.

mod inbox;
mod mcp;
mod runs;
pub mod upstream;

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use axum::http::Method;
use serde_json::{Value, json};
use warrant_api::registry::Applied;
use warrant_api::{compliance, gate, risk, tokens};
use warrant_core::registry::manifest::Kind;
use warrant_core::role::Role;
use warrant_server::{AppState, ServerConfig};
use warrant_store::{DataDirLock, Principal, Store};

use crate::Failure;
use crate::cli::{Cli, ServeArgs};
use crate::client::{answer, answer_as, call_router, call_router_as};
use crate::commands::serve_store;

/// The demo organisation's registry.
const BANK: &str = include_str!("demo/bank.yaml");
const SOA: &str = include_str!("demo/soa.yaml");
const PROMPT_BEFORE: &str = "prompt_version: onboarding-v1.3";
/// The support agent as first deployed: the gate's exfiltration rule off. The risk treatment removes it.
const TAINT_OFF: &str = "taint: {external_after_sensitive: \"off\"}\n";
const PROMPT_AFTER: &str = "prompt_version: onboarding-v1.4";

pub fn run(cli: &Cli, no_serve: bool, serve: &ServeArgs) -> Result<ExitCode, Failure> {
    if cli.server.is_some() {
        return Err(Failure::Usage(anyhow!(
            "demo builds into a local data directory (--data); it cannot use --server"
        )));
    }
    if let Some(url) = DataDirLock::holder(&cli.data) {
        return Err(Failure::Usage(anyhow!(
            "a warrant server is already using {} ({url}); stop it or pick another --data",
            cli.data.display()
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let org = if serve.org == "default" {
            "northwind-bank".to_owned()
        } else {
            serve.org.clone()
        };
        let store = Store::open(&cli.data, &cli.store_config(&org)?)
            .with_context(|| format!("cannot open {}", cli.data.display()))?;
        let inbox = inbox::Inbox::start(&cli.data)?;
        let featured = build(&store, &inbox).await?;
        report(&store);
        if let Some(featured) = featured {
            show_chain(&store).await?;
            show_trail(&store, &featured).await?;
            evidence_bundle(cli, &store).await?;
        }
        if no_serve {
            store.checkpoint().await.context("signing a checkpoint")?;
            println!(
                "\nconsole: run `warrant --data {} serve` and open http://{}/ (sign in with its admin token)",
                cli.data.display(),
                serve.listen
            );
            return Ok(());
        }
        repoint_notifier(&store, &inbox).await?;
        serve_store(cli, serve, store).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Apply the bank, then the prompt change, the gate's story and the agents' traces, unless an earlier run
/// already did. Returns the run to show as a trail.
async fn build(store: &Store, inbox: &inbox::Inbox) -> Result<Option<runs::Featured>, Failure> {
    if store.registry().agent("onboarding-agent").is_some() {
        println!("the demo bank is already in this data directory; nothing to build");
        return Ok(None);
    }
    let mut state = AppState::new(store.clone(), ServerConfig::default());
    state.local_principal = Some(Principal::local_as("demo:compliance-office", Role::Admin));
    let router = warrant_server::router(state);
    // Approvals come from another person than the one who recorded what is approved.
    let committee = warrant_server::router(AppState {
        local_principal: Some(Principal::local_as("demo:credit-risk-committee", Role::Approver)),
        ..AppState::new(store.clone(), ServerConfig::default())
    });
    let apply = |text: String, reason: &'static str| {
        let router = router.clone();
        async move {
            let path = format!("/v1/apply?reason={}", crate::client::encode(reason));
            let (status, bytes) = call_router(
                &router,
                Method::POST,
                &path,
                Some(("application/yaml", text.into_bytes())),
            )
            .await?;
            answer_as::<Applied>(status, &bytes)
        }
    };
    // The MCP upstream is this very binary, in its `demo-upstream` mode.
    let exe = std::env::current_exe().context("finding the warrant binary")?;
    let command = serde_json::to_string(&exe.to_string_lossy()).context("quoting the binary's path")?;
    let bank = BANK.replace("command: warrant-demo-upstream", &format!("command: {command}"));
    apply(bank.clone(), "initial inventory of Northwind Bank's AI systems").await?;
    apply(
        inbox.notifier(),
        "the compliance office hears of incidents and held calls",
    )
    .await?;
    let treated = bank.replace(TAINT_OFF, "");
    if treated == bank {
        return Err(Failure::Check(anyhow!(
            "the demo bank has no taint rule to treat"
        )));
    }
    risk_story(
        &router,
        &committee,
        apply(
            treated.clone(),
            "risk treatment: the gate holds support e-mail after customer data",
        ),
    )
    .await?;
    // Three weeks after certification the onboarding team shortens the verification questions for premium
    // clients. No model changes; the prompt does.
    let changed = apply(
        treated.replace(PROMPT_BEFORE, PROMPT_AFTER),
        "shorter verification questions for premium clients",
    )
    .await?;
    if !changed.changes.first().is_some_and(|change| change.substantial) {
        return Err(Failure::Check(anyhow!(
            "the demo's prompt change was not recorded as substantial"
        )));
    }
    let tokens = agent_tokens(&router).await?;
    gate_story(&router, &tokens).await?;
    let featured = runs::send(&router, &tokens.onboarding).await?;
    monitoring_story(&router).await?;
    show_told(store, inbox).await?;
    compliance_story(&router, &committee).await?;
    Ok(Some(featured))
}

/// The risk part: the first assessment finds the support agent's customer-data-to-e-mail path open, its owner
/// decides to mitigate, the change turns the gate's taint rule on, and the next assessment records the risk as
/// mitigated. The payments agents' combined authority is held by their group limit. The underwriting agent's
/// impact assessment is recorded and approved.
async fn risk_story(
    router: &axum::Router,
    committee: &axum::Router,
    treatment: impl std::future::Future<Output = Result<Applied, Failure>>,
) -> Result<(), Failure> {
    const PATH: &str = "exfiltration:support-agent:send-email";
    println!("risk assessment (warrant risk assess):");
    let assess = || {
        let router = router.clone();
        async move {
            let (status, bytes) = call_router(&router, Method::POST, "/v1/risk/assess", None).await?;
            answer_as::<risk::Assessed>(status, &bytes)
        }
    };
    let first = assess().await?;
    let show = |risk: &risk::Risk| {
        format!(
            "{} [{} {}x{}, {}]{}",
            risk.id,
            risk.level,
            risk.likelihood,
            risk.impact,
            risk.status.as_str(),
            risk.mitigation
                .as_deref()
                .map(|by| format!(" mitigated by {by}"))
                .unwrap_or_default()
        )
    };
    let find = |assessed: &risk::Assessed, id: &str| {
        assessed
            .changed
            .iter()
            .find(|change| change.risk.id == id)
            .map(|change| change.risk.clone())
    };
    println!(
        "  {} risks opened; {} open",
        first.changed.len(),
        first.register.by_status.get("open").copied().unwrap_or_default()
    );
    let exfiltration = find(&first, PATH)
        .ok_or_else(|| Failure::Check(anyhow!("the demo's exfiltration path was not found")))?;
    println!("  {}", show(&exfiltration));
    if let Some(combined) = find(&first, "combined:payments-agent+support-agent") {
        println!("  {}", show(&combined));
    }
    let treat = serde_json::json!({"treatment": "mitigate", "owner": "head-of-customer-service",
        "plan": "turn on the gate's exfiltration taint rule for the support agent"});
    let (status, bytes) = call_router(
        router,
        Method::POST,
        &format!("/v1/risk/register/{}/treat", crate::client::encode(PATH)),
        Some(("application/json", treat.to_string().into_bytes())),
    )
    .await?;
    answer(status, &bytes)?;
    treatment.await?;
    let second = assess().await?;
    let after = find(&second, PATH)
        .ok_or_else(|| Failure::Check(anyhow!("the treatment did not change the exfiltration risk")))?;
    println!("  after the treatment: {}", show(&after));
    let version = record_and_approve(
        router,
        committee,
        "underwriting-agent",
        "reviewed by the credit risk committee",
    )
    .await?;
    println!(
        "  impact assessment of underwriting-agent: version {version} recorded and approved (warrant impact underwriting-agent -o md)"
    );
    Ok(())
}

/// The documents the bank's AI governance office keeps as evidence: (name, title, controls, text).
const DOCUMENTS: [(&str, &str, &str, &str); 9] = [
    (
        "ai-policy.md",
        "AI policy (board-approved)",
        "A.2.2,A.2.3,5.1,5.2",
        "Northwind Bank AI policy. Agents act only within registered grants; high-risk uses need an approved impact assessment; every agent action is logged.",
    ),
    (
        "aims-scope.md",
        "AI management system: context, interested parties, scope and resources",
        "4.1,4.2,4.4,6.1.1,7.1",
        "Scope: all AI agents and AI systems in retail banking, lending and payments. Interested parties: customers, applicants, supervisors, staff.",
    ),
    (
        "ai-roles.md",
        "AI roles and responsibilities",
        "A.3.2,5.3,A.10.2",
        "Agent owners are accountable for their agents; the AI governance office runs the registry, reviews and audits; suppliers' duties are set in contracts.",
    ),
    (
        "ai-objectives.md",
        "AI objectives and responsible-use objectives",
        "6.2,A.6.1.2,A.9.3",
        "Objectives: no unexplained drift in customer-facing decisions; every high-risk agent under human oversight; incidents reported within deadlines.",
    ),
    (
        "ai-literacy-2026.md",
        "AI literacy training records 2026",
        "7.2,7.3,A.4.6,ai-literacy",
        "Role-based AI literacy training: 42 agent owners and approvers trained in 2026; attendance lists attached.",
    ),
    (
        "speak-up.md",
        "Reporting concerns about AI",
        "A.3.3,7.4",
        "Staff and customers can raise concerns about agent decisions through the speak-up channel; compliance triages within 5 days.",
    ),
    (
        "agent-change-process.md",
        "Agent design, change and validation process",
        "A.6.1.3,A.6.2.2,A.6.2.3,A.6.2.4,7.5.1,7.5.2,7.5.3",
        "Prompt and tool changes are specified, tested against recorded cases and applied through the registry with a reason.",
    ),
    (
        "agent-technical-file.md",
        "Agent technical documentation and user information",
        "A.6.2.7,A.8.2,A.8.5,A.10.4",
        "Technical file per agent: purpose, model, prompt version, tools, data, oversight; customers are told when an agent answers them.",
    ),
    (
        "fria-underwriting-draft.md",
        "Fundamental-rights impact assessment: underwriting agent (draft)",
        "Art.27,fundamental-rights-impact-assessment",
        "Draft FRIA for the consumer-credit underwriting agent: affected groups, risks to non-discrimination, oversight and redress.",
    ),
];

/// The end of the story: the evidence bundle of the demo period, exported and verified offline with the
/// log's public key, as an auditor would.
async fn evidence_bundle(cli: &Cli, store: &Store) -> Result<(), Failure> {
    let now = chrono::Utc::now();
    let dir = cli
        .data
        .join("evidence")
        .join(format!("bundle-{}", now.format("%Y-%m-%d")));
    let request = warrant_service::export::ExportRequest {
        from: now - chrono::Duration::days(35),
        to: now,
        agents: Vec::new(),
        with_content: false,
    };
    let summary = warrant_service::export::export(store, &request, &dir, |_, _| {})
        .await
        .map_err(|error| Failure::Check(anyhow!(error)))?;
    let key = warrant_log::note::NoteVerifier::parse_vkey(store.verifier_key())
        .map_err(|error| Failure::Check(anyhow!(error)))?;
    let report = crate::bundle::verify_dir(&dir, key, Default::default())?;
    if !report.ok() {
        return Err(Failure::Check(anyhow!(
            "the demo's evidence bundle did not verify: {}",
            report.failures.join("; ")
        )));
    }
    println!(
        "\nevidence bundle for the auditor (warrant evidence export): {}\n  {} events between checkpoints {} and {}, {} files; verified offline with the log key (warrant verify {} --key '{}')\n  report: {}",
        dir.display(),
        summary.events,
        summary.start_size,
        summary.end_size,
        summary.files,
        dir.display(),
        store.verifier_key(),
        summary.report.display()
    );
    Ok(())
}

/// Record an agent's impact assessment (as the compliance office) and approve it (as the committee: the
/// recorder may not approve); returns the version.
async fn record_and_approve(
    router: &axum::Router,
    committee: &axum::Router,
    agent: &str,
    reason: &str,
) -> Result<u64, Failure> {
    let (status, bytes) = call_router(router, Method::POST, &format!("/v1/impact/{agent}"), None).await?;
    let version = answer_as::<risk::ImpactRecorded>(status, &bytes)?.version.version;
    let body = serde_json::json!({"reason": reason}).to_string().into_bytes();
    let (status, bytes) = call_router(
        committee,
        Method::POST,
        &format!("/v1/impact/{agent}/versions/{version}/approve"),
        Some(("application/json", body)),
    )
    .await?;
    answer(status, &bytes)?;
    Ok(version)
}

/// The compliance part: the Statement of Applicability decisions, the governance office's documents, impact
/// assessments for the other high-risk agents and an internal audit; then what the SoA, the gap report and
/// readiness say, gaps included.
async fn compliance_story(router: &axum::Router, committee: &axum::Router) -> Result<(), Failure> {
    let call = |method: Method, path: String, body: Option<(&'static str, Vec<u8>)>| {
        let router = router.clone();
        async move {
            let (status, bytes) = call_router(&router, method, &path, body).await?;
            answer(status, &bytes)
        }
    };
    call(
        Method::POST,
        format!(
            "/v1/apply?reason={}",
            crate::client::encode("Statement of Applicability decisions")
        ),
        Some(("application/yaml", SOA.as_bytes().to_vec())),
    )
    .await?;
    for (name, title, controls, text) in DOCUMENTS {
        call(
            Method::POST,
            format!(
                "/v1/documents?name={name}&title={}&controls={}",
                crate::client::encode(title),
                crate::client::encode(controls)
            ),
            Some(("text/markdown", text.as_bytes().to_vec())),
        )
        .await?;
    }
    for agent in ["onboarding-agent", "payments-agent"] {
        record_and_approve(router, committee, agent, "reviewed by the AI governance board").await?;
    }
    // The register follows what four weeks of traffic showed (the server does this every minute).
    call(Method::POST, "/v1/risk/assess".into(), None).await?;
    let audit: compliance::AuditReport = typed(
        call(
            Method::POST,
            "/v1/audits/run".into(),
            Some(("application/json", br#"{"n": 3}"#.to_vec())),
        )
        .await?,
    )?;
    let soa: compliance::Soa = typed(call(Method::GET, "/v1/compliance/soa".into(), None).await?)?;
    let gaps: compliance::Gaps = typed(call(Method::GET, "/v1/compliance/gaps".into(), None).await?)?;
    let ready: compliance::ReadinessReport =
        typed(call(Method::GET, "/v1/compliance/readiness".into(), None).await?)?;
    println!("compliance (warrant soa, warrant gaps, warrant readiness):");
    println!(
        "  Statement of Applicability: {} controls, {} applicable; {}",
        soa.summary.controls,
        soa.summary.applicable,
        crate::output::counts(&soa.summary.by_status)
    );
    if let Some(row) = soa.controls.iter().find(|row| row.control == "A.8.4") {
        println!(
            "  A.8.4 Communication of incidents: {} ({}), evidence seqs {}",
            row.status.as_str(),
            row.rules
                .iter()
                .map(|rule| rule.reason.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            serde_json::to_string(&row.sample_seqs).unwrap_or_default()
        );
    }
    println!(
        "  gaps: controls {} have / {} partial / {} missing; clauses {} / {} / {}",
        gaps.controls_summary.have,
        gaps.controls_summary.partial,
        gaps.controls_summary.missing,
        gaps.clauses_summary.have,
        gaps.clauses_summary.partial,
        gaps.clauses_summary.missing
    );
    for row in gaps
        .controls
        .iter()
        .chain(&gaps.clauses)
        .filter(|row| matches!(row.gap.as_str(), "partial" | "missing"))
        .take(4)
    {
        println!("    [{}] {} {}: {}", row.gap, row.id, row.title, row.reason);
    }
    println!(
        "  internal audit {}: {} evidence items' proofs verified, {} nonconformities",
        audit.id.as_deref().unwrap_or_default(),
        audit.summary.items_verified,
        audit.summary.nonconformities
    );
    println!(
        "  readiness: stage `{}`; {} ({}, {})",
        ready.readiness.stage,
        ready.readiness.decision.recommendation,
        ready.readiness.estimate.months,
        ready.readiness.estimate.cost_usd
    );
    Ok(())
}

/// The monitoring part: the evaluator runs over four weeks of rollups, the routing drift and the new
/// disparity fire, and the high-severity alerts open an incident that links the prompt change.
async fn monitoring_story(router: &axum::Router) -> Result<(), Failure> {
    let (status, bytes) = call_router(router, Method::POST, "/v1/monitor/evaluate", None).await?;
    let outcome = answer_as::<warrant_api::monitor::Evaluated>(status, &bytes)?;
    println!("monitoring (warrant monitor --evaluate):");
    for line in crate::monitor::render_evaluated(&outcome).lines() {
        println!("  {line}");
    }
    if outcome.opened.is_empty() {
        return Err(Failure::Check(anyhow!(
            "the demo's routing change opened no incident; the monitoring story is broken"
        )));
    }
    Ok(())
}

/// The chain from change to incident: the prompt change, the alerts it led to, the incident that links both.
async fn show_chain(store: &Store) -> Result<(), Failure> {
    let incidents = store.incidents().context("reading incidents")?;
    let Some(incident) = incidents
        .iter()
        .find(|incident| incident.agent.as_deref() == Some("onboarding-agent"))
    else {
        return Ok(());
    };
    println!(
        "\nthe chain from change to incident (warrant incidents show {}):",
        incident.id
    );
    for seq in &incident.related_seqs {
        let Some(event) = store.event(*seq).context("reading evidence")? else {
            continue;
        };
        let body = &event.body;
        let attr = |name: &str| {
            body.pointer(&format!("/attrs/{name}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let line = match body.get("kind").and_then(Value::as_str).unwrap_or_default() {
            "change" => format!(
                "change: {}",
                body.pointer("/attrs/substantial_reasons/0")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
            "alert" => format!(
                "alert {} ({}): {}",
                attr("alert_id"),
                attr("severity"),
                attr("summary")
            ),
            "decision" => format!(
                "decision {} = {} {}",
                attr("name"),
                attr("outcome"),
                body.pointer("/attrs/segment")
                    .map(Value::to_string)
                    .unwrap_or_default()
            ),
            other => other.to_owned(),
        };
        println!("  seq {seq}: {line}");
    }
    println!(
        "  incident {} [{}]: {} (evidence frozen at checkpoint {})",
        incident.id,
        incident.severity,
        incident.title,
        incident
            .checkpoint
            .as_ref()
            .map_or(0, |checkpoint| checkpoint.size)
    );
    Ok(())
}

/// The inbox listens on a new port each run: before serving a data directory an earlier run built, point
/// its notifier at this run's inbox (a registry change like any other). Without a server nothing is sent, so
/// `--no-serve` leaves the registry alone.
async fn repoint_notifier(store: &Store, inbox: &inbox::Inbox) -> Result<(), Failure> {
    let current = match store.registry().get(Kind::Notifier, "compliance-office") {
        Some(warrant_core::registry::manifest::Manifest::Notifier(notifier)) => notifier.url.clone(),
        _ => return Ok(()),
    };
    if current == inbox.url {
        return Ok(());
    }
    let router = warrant_server::router(AppState {
        local_principal: Some(Principal::local_as("demo:compliance-office", Role::Admin)),
        ..AppState::new(store.clone(), ServerConfig::default())
    });
    let (status, bytes) = call_router(
        &router,
        Method::POST,
        &format!(
            "/v1/apply?reason={}",
            crate::client::encode("the demo inbox moved")
        ),
        Some(("application/yaml", inbox.notifier().into_bytes())),
    )
    .await?;
    answer_as::<Applied>(status, &bytes)?;
    Ok(())
}

/// Tell the compliance office (one round of what the server's notifier loop does on its cadence), and show
/// what its inbox accepted and the evidence of each delivery.
async fn show_told(store: &Store, inbox: &inbox::Inbox) -> Result<(), Failure> {
    let now = chrono::Utc::now();
    let mut planner = warrant_service::notify::Planner::new(None);
    planner
        .plan(store, now)
        .await
        .map_err(|error| anyhow!("planning notifications: {error}"))?;
    warrant_service::notify::deliver_due(store, now)
        .await
        .map_err(|error| anyhow!("delivering notifications: {error}"))?;
    let mut deliveries = store
        .deliveries(&warrant_store::DeliveryFilter {
            notifier: Some("compliance-office".into()),
            limit: 100,
            ..Default::default()
        })
        .context("reading deliveries")?;
    deliveries.sort_by_key(|delivery| delivery.last_seq);
    let accepted = inbox.accepted();
    println!("who was told (warrant notifications):");
    for delivery in &deliveries {
        let verified = accepted
            .iter()
            .any(|message| message.id == delivery.id && message.topic == delivery.topic);
        println!(
            "  {} {}: {} [{}{}], notification event seq {}",
            delivery.topic,
            delivery.about_id,
            delivery.title,
            delivery.state.as_str(),
            if verified {
                ", signature checked by the inbox"
            } else {
                ""
            },
            delivery
                .last_seq
                .map_or_else(|| "-".into(), |seq| seq.to_string()),
        );
    }
    if !deliveries.iter().any(|delivery| {
        delivery.topic == "incident.opened" && delivery.state == warrant_store::DeliveryState::Delivered
    }) {
        return Err(Failure::Check(anyhow!(
            "the compliance office was not told of the incident; the notification story is broken"
        )));
    }
    Ok(())
}

/// Print the featured client's trail, as `warrant trail` would, once a checkpoint covers it.
async fn show_trail(store: &Store, featured: &runs::Featured) -> Result<(), Failure> {
    store.checkpoint().await.context("signing a checkpoint")?;
    let router = warrant_server::router(AppState {
        local_principal: Some(Principal::local_as("demo:auditor", Role::Auditor)),
        ..AppState::new(store.clone(), ServerConfig::default())
    });
    print_trail(
        &router,
        &featured.trace_id,
        &format!(
            "the trail of high-value {} (warrant trail {})",
            featured.client, featured.trace_id
        ),
    )
    .await?;
    print_trail(
        &router,
        mcp::SESSION,
        &format!("the support desk's MCP session (warrant trail {})", mcp::SESSION),
    )
    .await
}

/// Print trail `id` under `heading`, as `warrant trail` would.
async fn print_trail(router: &axum::Router, id: &str, heading: &str) -> Result<(), Failure> {
    let (status, bytes) = call_router(router, Method::GET, &format!("/v1/trails/{id}"), None).await?;
    let trail: warrant_api::trails::Trail = serde_json::from_value(answer(status, &bytes)?)
        .map_err(|error| Failure::Check(anyhow::anyhow!("the trail's answer: {error}")))?;
    println!("\n{heading}:\n");
    print!("{}", crate::trail::render(&trail));
    Ok(())
}

/// The policy gate's part of the story: an exfiltration chain held for approval, and money-moving agents
/// approaching their combined authority.
/// The agents' own credentials: each token may act only for the agents it is bound to.
struct AgentTokens {
    /// The onboarding service runs the onboarding agent and the underwriting agent it hands off to.
    onboarding: String,
    support: String,
    payments: String,
}

async fn agent_tokens(router: &axum::Router) -> Result<AgentTokens, Failure> {
    let create = |name: &'static str, agents: &'static [&'static str]| {
        let router = router.clone();
        async move {
            let request = tokens::CreateToken {
                name: name.to_owned(),
                role: "agent".to_owned(),
                agents: agents.iter().map(|agent| (*agent).to_owned()).collect(),
                person: None,
                expires: None,
            };
            let body = serde_json::to_vec(&request).map_err(|error| Failure::Check(error.into()))?;
            let (status, bytes) = call_router(
                &router,
                Method::POST,
                "/v1/tokens",
                Some(("application/json", body)),
            )
            .await?;
            Ok::<String, Failure>(answer_as::<tokens::NewToken>(status, &bytes)?.token)
        }
    };
    let tokens = AgentTokens {
        onboarding: create("onboarding-service", &["onboarding-agent", "underwriting-agent"]).await?,
        support: create("support-service", &["support-agent"]).await?,
        payments: create("payments-service", &["payments-agent"]).await?,
    };
    println!(
        "identity: 3 agent tokens, each bound to the agents it runs (warrant token list); \
         every record names who wrote it"
    );
    Ok(tokens)
}

async fn gate_story(router: &axum::Router, tokens: &AgentTokens) -> Result<(), Failure> {
    mcp::story(router, &tokens.support).await?;
    println!("policy gate:");
    let call = |agent: &str, tool: &str, session: Option<&str>, args: Value, named: &[&str]| {
        gate::AuthorizeRequest {
            agent: agent.to_owned(),
            tool: tool.to_owned(),
            args: args.as_object().cloned(),
            session: session.map(str::to_owned),
            context: gate::AuthorizeContext {
                user_named: named.iter().map(|name| (*name).to_owned()).collect(),
            },
            ..gate::AuthorizeRequest::default()
        }
    };
    let steps = [
        call(
            "payments-agent",
            "payment-initiate",
            None,
            json!({"amount_eur": 22000}),
            &[],
        ),
        call(
            "support-agent",
            "refund-issue",
            None,
            json!({"amount_eur": 180}),
            &[],
        ),
        call(
            "payments-agent",
            "payment-initiate",
            None,
            json!({"amount_eur": 21000}),
            &[],
        ),
        call(
            "payments-agent",
            "payment-initiate",
            None,
            json!({"amount_eur": 9500}),
            &[],
        ),
    ];
    for step in steps {
        let body = serde_json::to_vec(&step).map_err(|error| Failure::Check(error.into()))?;
        let token = match step.agent.as_str() {
            "payments-agent" => &tokens.payments,
            _ => &tokens.support,
        };
        let (status, bytes) = call_router_as(
            router,
            Some(token),
            Method::POST,
            "/v1/authorize",
            Some(("application/json", body)),
        )
        .await?;
        let decision = answer_as::<gate::AuthorizeResponse>(status, &bytes)?;
        let reason = decision
            .reasons
            .first()
            .map(|reason| reason.text.as_str())
            .unwrap_or_default();
        println!(
            "  {} -> {} {}: {} ({reason})",
            step.agent,
            step.tool,
            Value::Object(step.args.clone().unwrap_or_default()),
            decision.decision.as_str(),
        );
    }
    Ok(())
}

fn report(store: &Store) {
    let registry = store.registry();
    let count = |kind| registry.list(kind).count();
    println!(
        "Northwind Bank: {} agents, {} tools, {} data sources, {} other AI systems, {} priced models",
        count(Kind::Agent),
        count(Kind::Tool),
        count(Kind::DataSource),
        count(Kind::AISystem),
        count(Kind::Model)
    );
    let changes = store
        .changes(&warrant_store::ChangeFilter::default())
        .unwrap_or_default();
    let substantial: Vec<&Value> = changes
        .iter()
        .map(|change| &change.body)
        .filter(|body| body.pointer("/attrs/substantial") == Some(&Value::Bool(true)))
        .collect();
    println!(
        "change log: {} changes, {} substantial",
        changes.len(),
        substantial.len()
    );
    for body in substantial {
        let reasons: Vec<&str> = body
            .pointer("/attrs/substantial_reasons")
            .and_then(Value::as_array)
            .map(|reasons| reasons.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!(
            "  seq {}: {} {} by {}: {} ({})",
            body.get("seq").and_then(Value::as_u64).unwrap_or_default(),
            body.pointer("/attrs/object_kind")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            body.pointer("/attrs/object_id")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            body.pointer("/attrs/by")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            reasons.join("; "),
            body.pointer("/attrs/reason")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
    }
    let now = chrono::Utc::now();
    let pending = store
        .approvals(Some(warrant_store::ApprovalStatus::Pending), now)
        .map_or(0, |approvals| approvals.len());
    let overdue = warrant_core::reviews::due(&registry, now.date_naive())
        .iter()
        .filter(|review| review.overdue)
        .count();
    println!(
        "oversight: {pending} calls wait for an approver (warrant approvals list); \
         {overdue} tool grants are past their access review (warrant reviews due)"
    );
    let risks = store.risks().unwrap_or_default();
    let count_status = |status: &str| risks.iter().filter(|risk| risk.status.as_str() == status).count();
    println!(
        "risk register: {} risks, {} open, {} mitigated (warrant risk list)",
        risks.len(),
        count_status("open"),
        count_status("mitigated")
    );
    println!(
        "evidence log: {} events ({} is the log's origin)",
        store.size(),
        store.origin()
    );
}

/// A JSON answer read into its wire type.
fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Failure> {
    serde_json::from_value(value)
        .map_err(|error| Failure::Check(anyhow!("an answer of another shape: {error}")))
}
