//! The console's pages. Each parses, checks the role table, calls `warrant-service` and renders.

use std::collections::BTreeMap;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use warrant_api::gate::ApprovalStatus as WireStatus;
use warrant_core::change::ChangeContext;
use warrant_core::registry::manifest::Kind;
use warrant_core::role::Action;
use warrant_service::{approvals, blocking, compliance, monitor, reviews, risk, trails};
use warrant_store::ApprovalStatus;

use super::{Cell, PageError, PageResult, Table, Viewer, csv_answer, encode, page, raw, reads};
use crate::AppState;

fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[derive(Deserialize, Default)]
pub struct CsvQuery {
    csv: Option<String>,
}

fn seq_link(seq: impl std::fmt::Display) -> Cell {
    Cell::link(format!("#{seq}"), format!("/events/{seq}"))
}

// ---------------------------------------------------------------------------------------------------------
// Overview

pub async fn overview(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let now = Utc::now();
    let store = state.store.clone();
    let (alerts, incidents, pending, overdue, checkpoint) = blocking(move || {
        let registry = store.registry();
        Ok((
            monitor::alerts(&store, Some("firing"))?.items,
            monitor::incidents(&store, now)?.items,
            approvals::list(&store, Some(ApprovalStatus::Pending), now)?,
            reviews::due(&registry, now.date_naive(), true),
            store.latest_checkpoint()?,
        ))
    })
    .await?;
    // The log's state as of this page: the latest checkpoint's signature checked with the log's key, and the
    // size and root it signs compared with the stored ones.
    let store = state.store.clone();
    let verified = blocking(move || warrant_service::log::verify_latest(&store)).await?;
    let readiness = compliance::readiness(&state.store, now).await?;
    let mut alert_table = Table::new(
        "alerts",
        "Firing alerts",
        &["Alert", "Severity", "Agent", "Summary", "Fired"],
    );
    for alert in &alerts {
        alert_table.row(vec![
            Cell::link(&alert.id, format!("/alerts/{}", alert.id)),
            Cell::text(alert.severity.as_str()),
            Cell::link(&alert.agent, format!("/agents/{}", alert.agent)),
            Cell::text(&alert.summary),
            Cell::text(time(&alert.fired_at)),
        ]);
    }
    let mut incident_table = Table::new(
        "incidents",
        "Open incidents",
        &["Incident", "Severity", "Title", "Status", "Art. 73 deadline"],
    );
    for view in incidents
        .iter()
        .filter(|view| view.incident.status.as_str() != "closed")
    {
        let deadline = view.art73.as_ref().map_or_else(
            || "-".to_owned(),
            |clock| {
                format!(
                    "{}{}",
                    time(&clock.deadline),
                    if clock.overdue { " (OVERDUE)" } else { "" }
                )
            },
        );
        incident_table.row(vec![
            Cell::link(&view.incident.id, format!("/incidents/{}", view.incident.id)),
            Cell::text(view.incident.severity.to_string()),
            Cell::text(&view.incident.title),
            Cell::text(view.incident.status.as_str()),
            Cell::text(deadline),
        ]);
    }
    let mut review_table = Table::new("reviews", "Access reviews past due", &["Agent", "Tool", "Due"]);
    for review in &overdue {
        review_table.row(vec![
            Cell::link(&review.agent, format!("/agents/{}", review.agent)),
            Cell::text(&review.tool),
            Cell::text(review.due.clone().unwrap_or_default()),
        ]);
    }
    if let Some(answer) = csv_answer(
        &[&alert_table, &incident_table, &review_table],
        query.csv.as_deref(),
    ) {
        return answer;
    }
    let gaps = &readiness.gaps;
    let content = html! {
        div class="cards" {
            a class="card" href="/approvals" { strong { (pending.len()) } " calls wait for an approver" }
            a class="card" href="/monitoring" { strong { (alerts.len()) } " alerts firing" }
            a class="card" href="/incidents" { strong { (incident_table.rows.len()) } " open incidents" }
            a class="card" href="/compliance" {
                strong { (readiness.readiness.stage) } " readiness stage; controls "
                (gaps.controls.have) " have / " (gaps.controls.partial) " partial / " (gaps.controls.missing) " missing"
            }
            a class="card" href="/evidence" {
                "Evidence log: " strong { (state.store.size()) } " events; "
                @match &checkpoint {
                    Some(checkpoint) => { "latest signed checkpoint " (checkpoint.size) " at " (time(&checkpoint.time)) }
                    None => { "no checkpoint signed yet" }
                }
                @match verified {
                    Some(true) => { "; its signature and root verified at " (time(&now)) }
                    Some(false) => { strong class="error" { "; it does NOT verify: its signature or its stored root is wrong" } }
                    None => {}
                }
            }
        }
        (alert_table.render("/"))
        (incident_table.render("/"))
        (review_table.render("/"))
    };
    Ok(page(&viewer, "Overview", "Overview", content))
}

// ---------------------------------------------------------------------------------------------------------
// Approvals

/// The held calls with what a person needs to decide them: the exact arguments (from the decision's
/// recorded content), the rule and why, and the session's trail.
async fn inbox(state: &AppState, viewer: &Viewer) -> Result<(Table, Markup), PageError> {
    let now = Utc::now();
    let store = state.store.clone();
    let pending = blocking(move || {
        let pending = approvals::list(&store, Some(ApprovalStatus::Pending), now)?;
        let mut args = BTreeMap::new();
        for approval in &pending {
            args.insert(approval.id.clone(), approvals::arguments(&store, approval)?);
        }
        Ok((pending, args))
    })
    .await?;
    let (pending, args) = pending;
    let mut table = Table::new(
        "pending",
        format!("Held calls ({})", pending.len()),
        &[
            "Approval",
            "Agent",
            "Tool",
            "Arguments",
            "Why it was held",
            "Session",
            "Expires",
            "Decide",
        ],
    );
    for approval in &pending {
        let arguments = args
            .get(&approval.id)
            .map(|value| serde_json::to_string_pretty(value).unwrap_or_default())
            .unwrap_or_default();
        let decide = if viewer.may(Action::DecideApproval) {
            decide_form(viewer, &approval.id)
        } else {
            html! { span class="muted" { "approvers decide" } }
        };
        table.row(vec![
            Cell::link(&approval.id, format!("/approvals/{}", approval.id)),
            Cell::link(&approval.agent, format!("/agents/{}", approval.agent)),
            Cell::text(&approval.tool),
            Cell::markup(arguments.clone(), html! { pre class="args" { (arguments) } }),
            Cell::text(approvals::reasons_text(&approval.reasons)),
            match &approval.session {
                Some(session) => Cell::link(session, format!("/trails/{}", encode(session))),
                None => Cell::text("-"),
            },
            Cell::text(time(&approval.expires_at)),
            Cell::markup("", decide),
        ]);
    }
    let rendered = table.render("/approvals");
    Ok((table, rendered))
}

fn decide_form(viewer: &Viewer, id: &str) -> Markup {
    html! {
        form class="decide" method="post" action=(format!("/approvals/{id}/decide")) {
            (viewer.csrf_field())
            label for=(format!("reason-{id}")) { "Reason" }
            input id=(format!("reason-{id}")) name="reason" type="text" placeholder="needed to deny";
            button type="submit" name="decision" value="approve" { "Approve" }
            button type="submit" name="decision" value="deny" class="danger" { "Deny" }
        }
    }
}

pub async fn approvals(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    viewer.require(Action::Read)?;
    let (pending, rendered) = inbox(&state, &viewer).await?;
    let now = Utc::now();
    let store = state.store.clone();
    let recent = blocking(move || approvals::list(&store, None, now)).await?;
    let mut decided = Table::new(
        "decided",
        "Recently decided",
        &["Approval", "Agent", "Tool", "Status", "By", "Reason", "When"],
    );
    for approval in recent
        .iter()
        .filter(|approval| !matches!(approval.status, WireStatus::Pending))
        .take(50)
    {
        decided.row(vec![
            Cell::link(&approval.id, format!("/approvals/{}", approval.id)),
            Cell::text(&approval.agent),
            Cell::text(&approval.tool),
            Cell::text(approval.status.as_str()),
            Cell::text(approval.decided_by.clone().unwrap_or_default()),
            Cell::text(approval.decision_reason.clone().unwrap_or_default()),
            Cell::text(approval.decided_at.as_ref().map(time).unwrap_or_default()),
        ]);
    }
    if let Some(answer) = csv_answer(&[&pending, &decided], query.csv.as_deref()) {
        return answer;
    }
    let content = html! {
        p class="muted" { "New requests appear here by themselves. Four eyes: nobody decides a call they raised." }
        div id="inbox" data-refresh="/approvals/inbox" data-every="2" aria-live="polite" { (rendered) }
        (decided.render("/approvals"))
    };
    Ok(page(&viewer, "Approvals", "Approvals", content))
}

/// The inbox alone, for the page's script to refresh it in place.
pub async fn approvals_inbox(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    viewer.require(Action::Read)?;
    let (_, rendered) = inbox(&state, &viewer).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], rendered).into_response())
}

pub async fn approval(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    viewer.require(Action::Read)?;
    let now = Utc::now();
    let store = state.store.clone();
    let principal = viewer.principal.clone();
    let lookup = id.clone();
    let (approval, args, trail) = blocking(move || {
        let approval = approvals::get(&store, &principal, &lookup, now)?;
        let args = approvals::arguments(&store, &approval)?;
        let trail = approval
            .session
            .as_deref()
            .map(|session| trails::get(&store, session))
            .transpose()?;
        Ok((approval, args, trail))
    })
    .await?;
    let content = html! {
        dl class="facts" {
            dt { "Agent" } dd { a href=(format!("/agents/{}", approval.agent)) { (approval.agent) } }
            dt { "Tool" } dd { (approval.tool) }
            dt { "Status" } dd { (approval.status.as_str()) }
            dt { "Why it was held" } dd { (approvals::reasons_text(&approval.reasons)) }
            dt { "Requested" } dd { (time(&approval.requested_at)) " (event " a href=(format!("/events/{}", approval.requested_seq)) { "#" (approval.requested_seq) } ")" }
            dt { "Expires" } dd { (time(&approval.expires_at)) }
            @if let Some(by) = &approval.decided_by { dt { "Decided by" } dd { (by) } }
        }
        h2 { "Arguments" }
        pre class="args" { (serde_json::to_string_pretty(&args).unwrap_or_default()) }
        @if matches!(approval.status, WireStatus::Pending) && viewer.may(Action::DecideApproval) {
            h2 { "Decide" }
            (decide_form(&viewer, &approval.id))
        }
        @if let Some(trail) = &trail {
            h2 { "The session so far" }
            (trail_rows_markup(&flatten_trail(trail), 0, usize::MAX))
        }
    };
    Ok(page(&viewer, &format!("Approval {id}"), "Approvals", content))
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: String,
    decision: String,
    reason: Option<String>,
}

pub async fn decide(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<DecideForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::DecideApproval)?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        other => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown decision `{other}`"),
            ));
        }
    };
    approvals::decide(
        &state.store,
        id,
        approve,
        form.reason,
        &viewer.principal,
        Utc::now(),
    )
    .await?;
    Ok(Redirect::to("/approvals").into_response())
}

// ---------------------------------------------------------------------------------------------------------
// Agents

pub async fn agents(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let registry = state.store.registry();
    let mut table = Table::new(
        "agents",
        "Agents",
        &[
            "Agent",
            "Purpose",
            "Owner",
            "Risk class",
            "Scope",
            "Status",
            "Tools",
            "Data sources",
        ],
    );
    for value in warrant_service::registry::list(&registry, Kind::Agent) {
        let text = |field: &str| {
            value
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let count = |field: &str| value.get(field).and_then(Value::as_array).map_or(0, Vec::len);
        table.row(vec![
            Cell::link(text("id"), format!("/agents/{}", text("id"))),
            Cell::text(text("purpose")),
            Cell::text(text("owner")),
            Cell::text(text("risk_class")),
            Cell::text(text("decision_scope")),
            Cell::text(text("status")),
            Cell::text(count("tools").to_string()),
            Cell::text(count("data_sources").to_string()),
        ]);
    }
    if let Some(answer) = csv_answer(&[&table], query.csv.as_deref()) {
        return answer;
    }
    Ok(page(&viewer, "Agents", "Agents", table.render("/agents")))
}

pub async fn agent(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let registry = state.store.registry();
    let manifest = warrant_service::registry::get(&registry, Kind::Agent, &id)?;
    let today = Utc::now().date_naive();
    let due: BTreeMap<String, warrant_api::reviews::ReviewDue> = reviews::due(&registry, today, false)
        .into_iter()
        .filter(|review| review.agent == id)
        .map(|review| (review.tool.clone(), review))
        .collect();
    let text = |value: &Value, field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut grants = Table::new(
        "grants",
        "Tool grants",
        &[
            "Tool",
            "Access",
            "Approved by",
            "Last reviewed",
            "Review due",
            "Review status",
        ],
    );
    for grant in manifest
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let tool = text(grant, "tool");
        let review = due.get(&tool);
        grants.row(vec![
            Cell::text(&tool),
            Cell::text(text(grant, "access")),
            Cell::text(text(grant, "approved_by")),
            Cell::text(text(grant, "last_reviewed")),
            Cell::text(review.and_then(|review| review.due.clone()).unwrap_or_default()),
            Cell::text(if review.is_some_and(|review| review.overdue) {
                "OVERDUE"
            } else {
                "ok"
            }),
        ]);
    }
    let store = state.store.clone();
    let filter_agent = id.clone();
    let changes = blocking(move || {
        warrant_service::registry::changes(
            &store,
            &warrant_store::ChangeFilter {
                agent: Some(filter_agent),
                ..Default::default()
            },
        )
    })
    .await?;
    let mut log = Table::new(
        "changes",
        "Change log",
        &["Seq", "When", "By", "Change", "Substantial", "Diff", "Reason"],
    );
    for change in changes.iter().rev() {
        let attr = |name: &str| {
            change
                .pointer(&format!("/attrs/{name}"))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let diff: Vec<String> = attr("diff")
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                format!(
                    "{}: {} → {}",
                    item.get("path").and_then(Value::as_str).unwrap_or_default(),
                    item.get("old").map(Value::to_string).unwrap_or_default(),
                    item.get("new").map(Value::to_string).unwrap_or_default()
                )
            })
            .collect();
        let substantial: Vec<String> = attr("substantial_reasons")
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        log.row(vec![
            seq_link(change.get("seq").and_then(Value::as_u64).unwrap_or_default()),
            Cell::text(change.get("time").and_then(Value::as_str).unwrap_or_default()),
            Cell::text(attr("by").as_str().unwrap_or_default()),
            Cell::text(format!(
                "{} {} {}",
                attr("op").as_str().unwrap_or_default(),
                attr("object_kind").as_str().unwrap_or_default(),
                attr("object_id").as_str().unwrap_or_default()
            )),
            Cell::text(if substantial.is_empty() {
                "no".to_owned()
            } else {
                format!("YES: {}", substantial.join("; "))
            }),
            Cell::markup(
                diff.join("\n"),
                html! { ul class="diff" { @for line in &diff { li { code { (line) } } } } },
            ),
            Cell::text(attr("reason").as_str().unwrap_or_default()),
        ]);
    }
    if let Some(answer) = csv_answer(&[&grants, &log], query.csv.as_deref()) {
        return answer;
    }
    let status = text(&manifest, "status");
    let path = format!("/agents/{id}");
    let list = |field: &str| -> Vec<String> {
        manifest
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let content = html! {
        dl class="facts" {
            dt { "Purpose" } dd { (text(&manifest, "purpose")) }
            dt { "Owner" } dd { (text(&manifest, "owner")) }
            dt { "Risk class" } dd { (text(&manifest, "risk_class")) }
            dt { "Decision scope" } dd { (text(&manifest, "decision_scope")) }
            dt { "Status" } dd { strong id="agent-status" { (status) } }
            dt { "Data sources" } dd { (list("data_sources").join(", ")) }
            dt { "Downstream agents" } dd { (list("downstream").join(", ")) }
            dt { "Oversight" } dd { (text(&manifest, "oversight")) }
        }
        @if viewer.may(Action::Administer) {
            section class="kill" aria-labelledby="kill-switch" {
                h2 id="kill-switch" { "Kill switch" }
                form method="post" action=(format!("/agents/{id}/status")) {
                    (viewer.csrf_field())
                    label for="status-reason" { "Reason (recorded in the change log)" }
                    input id="status-reason" name="reason" type="text" required;
                    @if status == "suspended" {
                        button type="submit" name="status" value="active" { "Resume agent" }
                    } @else {
                        button type="submit" name="status" value="suspended" class="danger" { "Suspend agent" }
                    }
                }
            }
        }
        (grants.render(&path))
        (log.render(&path))
        h2 { "Manifest" }
        pre class="args" { (serde_json::to_string_pretty(&manifest).unwrap_or_default()) }
    };
    Ok(page(&viewer, &format!("Agent {id}"), "Agents", content))
}

#[derive(Deserialize)]
pub struct StatusForm {
    csrf: String,
    status: String,
    reason: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<StatusForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Administer)?;
    reviews::set_status(
        &state.store,
        id.clone(),
        &form.status,
        form.reason,
        &viewer.principal,
        Utc::now(),
    )
    .await?;
    state.compile_gate().await;
    Ok(Redirect::to(&format!("/agents/{}", encode(&id))).into_response())
}

// ---------------------------------------------------------------------------------------------------------
// Trails

/// Rows shown per request of a trail; the rest load on demand.
const TRAIL_PAGE: usize = 200;

/// A trail's steps in tree order, with their depth.
struct TrailRow {
    depth: usize,
    seq: u64,
    time: String,
    kind: String,
    agent: String,
    summary: String,
    proof: bool,
}

fn flatten_trail(trail: &warrant_api::trails::Trail) -> Vec<TrailRow> {
    fn walk(node: &warrant_api::trails::TrailNode, depth: usize, out: &mut Vec<TrailRow>) {
        out.push(TrailRow {
            depth,
            seq: node.seq.0,
            time: node.time.clone(),
            kind: node.kind.clone(),
            agent: node.agent.clone().unwrap_or_default(),
            summary: node.summary.clone(),
            proof: node.proof.is_some(),
        });
        for child in &node.children {
            walk(child, depth + 1, out);
        }
    }
    let mut rows = Vec::new();
    for node in &trail.nodes {
        walk(node, 0, &mut rows);
    }
    rows
}

/// The steps in the order of `view`: the tree (steps under their cause), or the timeline (by time, flat).
fn steps_in_view(trail: &warrant_api::trails::Trail, view: Option<&str>) -> (Vec<TrailRow>, &'static str) {
    let mut rows = flatten_trail(trail);
    if view == Some("timeline") {
        rows.sort_by(|a, b| a.time.cmp(&b.time).then(a.seq.cmp(&b.seq)));
        for row in &mut rows {
            row.depth = 0;
        }
        (rows, "timeline")
    } else {
        (rows, "tree")
    }
}

fn trail_rows_markup(rows: &[TrailRow], offset: usize, limit: usize) -> Markup {
    html! {
        @for row in rows.iter().skip(offset).take(limit) {
            tr class=(format!("kind-{}", row.kind)) {
                td class="time" { (row.time) }
                td style=(format!("padding-left: {}rem", 0.4 + row.depth as f32 * 1.2)) {
                    span class="kind" { (row.kind) } " " (row.summary)
                }
                td { (row.agent) }
                td { a href=(format!("/events/{}", row.seq)) { "#" (row.seq) } }
                td { @if row.proof { span class="ok" title="in the latest signed checkpoint" { "✓ proven" } } @else { span class="muted" { "not yet checkpointed" } } }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct TrailQuery {
    id: Option<String>,
    /// `tree` (the default: steps under the step that caused them) or `timeline` (every step by time).
    view: Option<String>,
    offset: Option<usize>,
    csv: Option<String>,
}

pub async fn trails(viewer: Viewer, Query(query): Query<TrailQuery>) -> PageResult {
    reads(&viewer)?;
    if let Some(id) = query.id.filter(|id| !id.trim().is_empty()) {
        return Ok(Redirect::to(&format!("/trails/{}", encode(id.trim()))).into_response());
    }
    let content = html! {
        form method="get" action="/trails" class="inline" {
            label for="trail-id" { "Trace id, session id or seq" }
            input id="trail-id" name="id" type="text" required;
            button type="submit" { "Open trail" }
        }
    };
    Ok(page(&viewer, "Trails", "Trails", content))
}

async fn load_trail(state: &AppState, id: &str) -> Result<warrant_api::trails::Trail, PageError> {
    let store = state.store.clone();
    let id = id.to_owned();
    Ok(blocking(move || trails::get(&store, &id)).await?)
}

pub async fn trail(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<TrailQuery>,
) -> PageResult {
    reads(&viewer)?;
    let trail = load_trail(&state, &id).await?;
    let (rows, view) = steps_in_view(&trail, query.view.as_deref());
    if query.csv.as_deref() == Some("steps") {
        let mut table = Table::new(
            "steps",
            "Steps",
            &["Seq", "Time", "Depth", "Kind", "Agent", "Summary", "Proven"],
        );
        for row in &rows {
            table.row(vec![
                Cell::text(row.seq.to_string()),
                Cell::text(&row.time),
                Cell::text(row.depth.to_string()),
                Cell::text(&row.kind),
                Cell::text(&row.agent),
                Cell::text(&row.summary),
                Cell::text(if row.proof { "yes" } else { "no" }),
            ]);
        }
        if let Some(answer) = csv_answer(&[&table], Some("steps")) {
            return answer;
        }
    }
    let offset = query.offset.unwrap_or(0).min(rows.len());
    let next = offset + TRAIL_PAGE;
    let summary = &trail.summary;
    let content = html! {
        p {
            (summary.events) " steps in " (summary.traces.len()) " trace(s); agents " (summary.agents.join(", "))
            "; cost $" (format!("{:.6}", summary.cost_usd)) "; " (summary.policy_decisions) " policy decision(s)."
            @if let Some(checkpoint) = &trail.checkpoint { " Proofs against checkpoint " (checkpoint.size) "." }
        }
        @if !summary.decisions.is_empty() { p { "Decisions: " (summary.decisions.join(", ")) } }
        @if !summary.outcomes.is_empty() { p { "Outcomes: " (summary.outcomes.join(", ")) } }
        div class="table-head" {
            h2 { @if view == "tree" { "Decision path as a tree" } @else { "Decision path as a timeline" } }
            @if view == "tree" {
                a href=(format!("/trails/{}?view=timeline", encode(&id))) { "Show as a timeline" }
            } @else {
                a href=(format!("/trails/{}", encode(&id))) { "Show as a tree" }
            }
            a class="csv" href=(format!("/trails/{}?csv=steps&view={view}", encode(&id))) download { "Download CSV" }
        }
        div class="scroll" {
            table id="trail" {
                thead { tr { th scope="col" { "Time" } th scope="col" { "Step" } th scope="col" { "Agent" } th scope="col" { "Event" } th scope="col" { "Proof" } } }
                tbody id="trail-rows" { (trail_rows_markup(&rows, offset, TRAIL_PAGE)) }
            }
        }
        @if next < rows.len() {
            p {
                a id="more" class="button" href=(format!("/trails/{}?offset={next}&view={view}", encode(&id)))
                    data-more=(format!("/trails/{}/rows?offset={next}&view={view}", encode(&id))) data-into="trail-rows" {
                    "Show the next steps (" (rows.len() - next) " more)"
                }
            }
        }
    };
    Ok(page(&viewer, &format!("Trail {id}"), "Trails", content))
}

/// The next page of a trail's rows, for the page's script; answers with a header naming the page after.
pub async fn trail_rows(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<TrailQuery>,
) -> PageResult {
    reads(&viewer)?;
    let trail = load_trail(&state, &id).await?;
    let (rows, view) = steps_in_view(&trail, query.view.as_deref());
    let offset = query.offset.unwrap_or(0).min(rows.len());
    let next = offset + TRAIL_PAGE;
    let more = if next < rows.len() {
        format!("/trails/{}/rows?offset={next}&view={view}", encode(&id))
    } else {
        String::new()
    };
    Ok((
        [("x-next-page", more)],
        trail_rows_markup(&rows, offset, TRAIL_PAGE),
    )
        .into_response())
}

pub async fn event(State(state): State<AppState>, viewer: Viewer, Path(seq): Path<String>) -> PageResult {
    reads(&viewer)?;
    let store = state.store.clone();
    let lookup = seq.clone();
    let event = blocking(move || warrant_service::events::get(&store, &lookup)).await?;
    let content = html! {
        dl class="facts" {
            dt { "Seq" } dd { (event.seq) }
            dt { "Leaf hash" } dd { code { (event.leaf_hash) } }
            dt { "Proof" } dd {
                @match (&event.checkpoint, &event.inclusion_proof) {
                    (Some(checkpoint), Some(proof)) => {
                        "included in signed checkpoint " (checkpoint.size) " (" (proof.len()) " hashes); "
                        code { "warrant log proof --seq " (event.seq) }
                    }
                    _ => { "newer than every signed checkpoint" }
                }
            }
        }
        h2 { "Committed body" }
        pre class="args" { (serde_json::to_string_pretty(&event.event).unwrap_or_default()) }
        @if !event.content.is_empty() {
            h2 { "Content (beside the log; erasable)" }
            pre class="args" { (serde_json::to_string_pretty(&event.content).unwrap_or_default()) }
        }
    };
    Ok(page(&viewer, &format!("Event #{seq}"), "Trails", content))
}

// ---------------------------------------------------------------------------------------------------------
// Monitoring

/// Bars of outcome shares, baseline against current, as inline SVG.
fn share_bars(outcomes: &[String], baseline: &[u64], current: &[u64]) -> Markup {
    let total = |counts: &[u64]| counts.iter().sum::<u64>().max(1) as f64;
    let (base_total, current_total) = (total(baseline), total(current));
    let height = 18 * outcomes.len() as u32 * 2 + 8;
    let mut svg = format!(
        "<svg class=\"bars\" viewBox=\"0 0 320 {height}\" width=\"320\" height=\"{height}\" role=\"img\" aria-label=\"outcome shares, baseline and current\">"
    );
    for (index, outcome) in outcomes.iter().enumerate() {
        let y = index as u32 * 36 + 4;
        let base = baseline.get(index).copied().unwrap_or(0) as f64 / base_total;
        let now = current.get(index).copied().unwrap_or(0) as f64 / current_total;
        let name = escape(outcome);
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"label\">{name}</text>\
             <rect x=\"110\" y=\"{}\" width=\"{:.1}\" height=\"14\" class=\"base\"><title>baseline {:.1}%</title></rect>\
             <rect x=\"110\" y=\"{}\" width=\"{:.1}\" height=\"14\" class=\"now\"><title>current {:.1}%</title></rect>\
             <text x=\"{:.1}\" y=\"{}\" class=\"value\">{:.0}% → {:.0}%</text>",
            y + 22,
            y,
            base * 150.0,
            base * 100.0,
            y + 16,
            now * 150.0,
            now * 100.0,
            115.0 + base.max(now) * 150.0,
            y + 22,
            base * 100.0,
            now * 100.0,
        ));
    }
    svg.push_str("</svg>");
    raw(svg)
}

/// Decisions per day, stacked by outcome, as inline SVG (one colour per outcome, in the legend's order).
fn daily_chart(series: &[(DateTime<Utc>, String, u64)]) -> Markup {
    const COLOURS: [&str; 6] = ["#34495e", "#b8c2cc", "#c0392b", "#2e86c1", "#8e44ad", "#d68910"];
    let colour = |position: usize| COLOURS.get(position % COLOURS.len()).copied().unwrap_or("#000");
    let mut outcomes: Vec<&str> = series.iter().map(|(_, outcome, _)| outcome.as_str()).collect();
    outcomes.sort_unstable();
    outcomes.dedup();
    let mut days: Vec<DateTime<Utc>> = series.iter().map(|(day, _, _)| *day).collect();
    days.sort_unstable();
    days.dedup();
    let total = |day: &DateTime<Utc>| -> u64 {
        series
            .iter()
            .filter(|(d, _, _)| d == day)
            .map(|(_, _, c)| c)
            .sum()
    };
    let peak = days.iter().map(total).max().unwrap_or(1).max(1) as f64;
    let (width, height, bar) = (14.0 * days.len().max(3) as f64, 90.0, 12.0);
    let mut svg = format!(
        "<svg class=\"daily\" viewBox=\"0 0 {width:.0} {:.0}\" width=\"{width:.0}\" height=\"{:.0}\" role=\"img\" aria-label=\"decisions per day by outcome\">",
        height + 16.0,
        height + 16.0
    );
    for (index, day) in days.iter().enumerate() {
        let mut y = height;
        for (position, outcome) in outcomes.iter().enumerate() {
            let count: u64 = series
                .iter()
                .filter(|(d, o, _)| d == day && o == outcome)
                .map(|(_, _, c)| *c)
                .sum();
            if count == 0 {
                continue;
            }
            let h = count as f64 / peak * height;
            y -= h;
            svg.push_str(&format!(
                "<rect x=\"{:.0}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {count}</title></rect>",
                index as f64 * 14.0,
                colour(position),
                day.format("%Y-%m-%d"),
                escape(outcome),
            ));
        }
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{:.0}\" class=\"axis\">{}</text><text x=\"{width:.0}\" y=\"{:.0}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            height + 14.0,
            first.format("%m-%d"),
            height + 14.0,
            last.format("%m-%d"),
        ));
    }
    svg.push_str("</svg>");
    html! {
        (raw(svg))
        ul class="legend" {
            @for (position, outcome) in outcomes.iter().enumerate() {
                li { span class="swatch" style=(format!("background: {}", colour(position))) {} (outcome) }
            }
        }
    }
}

pub async fn monitoring(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let now = Utc::now();
    let store = state.store.clone();
    let report = blocking(move || {
        let registry = store.registry();
        let params: monitor::Params = serde_json::from_value(serde_json::json!({}))
            .map_err(|error| warrant_service::ServiceError::internal(&error))?;
        Ok(monitor::full_report(&store, &registry, &params, now)?)
    })
    .await?;
    let mut drift = Table::new(
        "drift",
        "Decision drift (current 24 h against the 7 days before)",
        &["Agent", "Decision", "Distribution", "PSI", "JS distance", "Level"],
    );
    for line in &report.drift {
        drift.row(vec![
            Cell::link(&line.agent, format!("/agents/{}", line.agent)),
            Cell::text(&line.decision),
            Cell::markup(
                format!("{:?} → {:?}", line.baseline, line.current),
                share_bars(&line.outcomes, &line.baseline, &line.current),
            ),
            Cell::text(
                line.psi
                    .map(|psi| format!("{psi:.3}"))
                    .unwrap_or_else(|| line.status.clone()),
            ),
            Cell::text(line.js_distance.map(|js| format!("{js:.3}")).unwrap_or_default()),
            Cell::text(&line.level),
        ]);
    }
    let mut disparity = Table::new(
        "disparity",
        "Disparity between segments",
        &[
            "Agent",
            "Decision",
            "Segment",
            "Largest gap now",
            "Gap in baseline",
            "Change",
            "Status",
        ],
    );
    for line in &report.disparity {
        disparity.row(vec![
            Cell::text(&line.agent),
            Cell::text(&line.decision),
            Cell::text(&line.segment),
            Cell::text(
                line.max_gap
                    .as_ref()
                    .map(|gap| format!("{:.3}", gap.gap))
                    .unwrap_or_default(),
            ),
            Cell::text(
                line.baseline_gap
                    .map(|gap| format!("{gap:.3}"))
                    .unwrap_or_default(),
            ),
            Cell::text(
                line.change
                    .map(|change| format!("{change:.3}"))
                    .unwrap_or_default(),
            ),
            Cell::text(&line.status),
        ]);
    }
    let mut cost = Table::new(
        "cost",
        "Cost and latency per agent and model",
        &[
            "Scope",
            "Agent",
            "Name",
            "Calls",
            "Errors",
            "Cost (USD)",
            "p50 ms",
            "p95 ms",
            "p99 ms",
        ],
    );
    let ms = |value: Option<f64>| value.map(|ms| format!("{ms:.0}")).unwrap_or_default();
    let shown: Vec<_> = report
        .cost
        .iter()
        .filter(|line| matches!(line.scope.as_str(), "agent" | "model"))
        .collect();
    let max_cost = shown
        .iter()
        .map(|line| line.cost_usd)
        .fold(0.0, f64::max)
        .max(f64::EPSILON);
    let max_p95 = shown
        .iter()
        .filter_map(|line| line.p95_ms)
        .fold(0.0, f64::max)
        .max(f64::EPSILON);
    // A bar beside a number: its share of the largest in the table.
    let bar = |value: f64, max: f64, text: String| {
        let width = (value / max * 120.0).clamp(0.0, 120.0);
        Cell::markup(
            text.clone(),
            html! {
                span class="meter" {
                    (raw(format!("<svg width=\"124\" height=\"10\" aria-hidden=\"true\"><rect width=\"{width:.1}\" height=\"10\" class=\"meter\"></rect></svg>")))
                    " " (text)
                }
            },
        )
    };
    for line in &shown {
        cost.row(vec![
            Cell::text(&line.scope),
            Cell::text(&line.agent),
            Cell::text(&line.name),
            Cell::text(line.calls.to_string()),
            Cell::text(line.errors.to_string()),
            bar(line.cost_usd, max_cost, format!("{:.4}", line.cost_usd)),
            Cell::text(ms(line.p50_ms)),
            bar(line.p95_ms.unwrap_or(0.0), max_p95, ms(line.p95_ms)),
            Cell::text(ms(line.p99_ms)),
        ]);
    }
    let store = state.store.clone();
    let series = blocking(move || Ok(monitor::decision_series(&store, 30, now)?)).await?;
    let mut over_time = Table::new(
        "decisions",
        "Decisions per day over 30 days, by outcome",
        &["Agent", "Decision", "Per day", "Total"],
    );
    for ((agent, decision), points) in &series {
        let total: u64 = points.iter().map(|(_, _, count)| count).sum();
        let text = points
            .iter()
            .map(|(day, outcome, count)| format!("{} {outcome} {count}", day.format("%Y-%m-%d")))
            .collect::<Vec<_>>()
            .join("; ");
        over_time.row(vec![
            Cell::text(agent),
            Cell::text(decision),
            Cell::markup(text, daily_chart(points)),
            Cell::text(total.to_string()),
        ]);
    }
    let store = state.store.clone();
    let alerts = blocking(move || Ok(monitor::alerts(&store, None)?.items)).await?;
    let mut alert_table = Table::new(
        "alerts",
        "Alerts",
        &[
            "Alert",
            "Status",
            "Severity",
            "Rule",
            "Agent",
            "Summary",
            "Value / threshold",
            "Fired",
        ],
    );
    for alert in alerts.iter().take(200) {
        alert_table.row(vec![
            Cell::link(&alert.id, format!("/alerts/{}", alert.id)),
            Cell::text(alert.status.as_str()),
            Cell::text(alert.severity.as_str()),
            Cell::text(&alert.rule),
            Cell::text(&alert.agent),
            Cell::text(&alert.summary),
            Cell::text(format!("{:.3} / {:.3}", alert.value, alert.threshold)),
            Cell::text(time(&alert.fired_at)),
        ]);
    }
    if let Some(answer) = csv_answer(
        &[&over_time, &drift, &disparity, &cost, &alert_table],
        query.csv.as_deref(),
    ) {
        return answer;
    }
    let content = html! {
        p class="muted" { "Bars: grey the baseline share of each outcome, dark the current one. Drift is significant at PSI ≥ 0.25." }
        (over_time.render("/monitoring"))
        (drift.render("/monitoring"))
        (disparity.render("/monitoring"))
        (cost.render("/monitoring"))
        (alert_table.render("/monitoring"))
    };
    Ok(page(&viewer, "Monitoring", "Monitoring", content))
}

pub async fn alert(State(state): State<AppState>, viewer: Viewer, Path(id): Path<String>) -> PageResult {
    reads(&viewer)?;
    let store = state.store.clone();
    let lookup = id.clone();
    let alert = blocking(move || monitor::alert(&store, &lookup)).await?;
    let content = html! {
        dl class="facts" {
            dt { "Summary" } dd { (alert.summary) }
            dt { "Status" } dd { (alert.status.as_str()) }
            dt { "Severity" } dd { (alert.severity.as_str()) }
            dt { "Rule" } dd { (alert.rule) }
            dt { "Agent" } dd { a href=(format!("/agents/{}", alert.agent)) { (alert.agent) } }
            dt { "Value / threshold" } dd { (format!("{:.3} / {:.3}", alert.value, alert.threshold)) }
            dt { "Fired" } dd { (time(&alert.fired_at)) }
            @if let Some(incident) = &alert.incident { dt { "Incident" } dd { a href=(format!("/incidents/{incident}")) { (incident) } } }
            dt { "Evidence" } dd { @for seq in &alert.related { a href=(format!("/events/{seq}")) { "#" (seq) } " " } }
        }
    };
    Ok(page(&viewer, &format!("Alert {id}"), "Monitoring", content))
}

// ---------------------------------------------------------------------------------------------------------
// Incidents and risks

pub async fn incidents(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let now = Utc::now();
    let store = state.store.clone();
    let views = blocking(move || Ok(monitor::incidents(&store, now)?.items)).await?;
    let mut table = Table::new(
        "incidents",
        "Incidents",
        &[
            "Incident",
            "Severity",
            "Title",
            "Status",
            "Owner",
            "Detected",
            "Art. 73 deadline",
        ],
    );
    for view in &views {
        let incident = &view.incident;
        table.row(vec![
            Cell::link(&incident.id, format!("/incidents/{}", incident.id)),
            Cell::text(incident.severity.to_string()),
            Cell::text(&incident.title),
            Cell::text(incident.status.as_str()),
            Cell::text(incident.owner.clone().unwrap_or_default()),
            Cell::text(time(&incident.detected_at)),
            Cell::text(
                view.art73
                    .as_ref()
                    .map(|clock| {
                        format!(
                            "{}{}",
                            time(&clock.deadline),
                            if clock.overdue { " (OVERDUE)" } else { "" }
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
            ),
        ]);
    }
    if let Some(answer) = csv_answer(&[&table], query.csv.as_deref()) {
        return answer;
    }
    Ok(page(
        &viewer,
        "Incidents",
        "Incidents",
        table.render("/incidents"),
    ))
}

pub async fn incident(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let now = Utc::now();
    let store = state.store.clone();
    let lookup = id.clone();
    let view = blocking(move || monitor::incident(&store, &lookup, now)).await?;
    let incident = &view.incident;
    let mut told = Table::new(
        "told",
        "Who was told",
        &[
            "Audience",
            "Topic",
            "Message",
            "State",
            "Attempts",
            "Delivered",
            "Event",
        ],
    );
    for delivery in &view.notifications {
        told.row(vec![
            Cell::text(
                delivery
                    .audience
                    .clone()
                    .unwrap_or_else(|| delivery.notifier.clone()),
            ),
            Cell::text(&delivery.topic),
            Cell::text(&delivery.title),
            Cell::text(&delivery.state),
            Cell::text(delivery.attempts.to_string()),
            Cell::text(delivery.delivered_at.as_ref().map(time).unwrap_or_default()),
            delivery.last_seq.map(seq_link).unwrap_or_else(|| Cell::text("")),
        ]);
    }
    let mut notes = Table::new(
        "notes",
        "Actions and communications",
        &["Kind", "When", "By", "Text"],
    );
    for (kind, list) in [
        ("action", &incident.actions),
        ("communication", &incident.communications),
    ] {
        for note in list {
            notes.row(vec![
                Cell::text(kind),
                Cell::text(time(&note.at)),
                Cell::text(&note.by),
                Cell::text(&note.text),
            ]);
        }
    }
    if let Some(answer) = csv_answer(&[&told, &notes], query.csv.as_deref()) {
        return answer;
    }
    let path = format!("/incidents/{id}");
    let content = html! {
        dl class="facts" {
            dt { "Title" } dd { (incident.title) }
            dt { "Severity" } dd { (incident.severity) }
            dt { "Status" } dd { strong id="incident-status" { (incident.status.as_str()) } }
            dt { "Owner" } dd { (incident.owner.clone().unwrap_or_else(|| "-".into())) }
            dt { "What happened" } dd { (incident.what_happened) }
            dt { "Detected" } dd { (time(&incident.detected_at)) }
            @if let Some(clock) = &view.art73 {
                dt { "EU AI Act Art. 73" } dd { "report by " (time(&clock.deadline)) @if clock.overdue { strong { " OVERDUE" } } }
            }
            dt { "Evidence" } dd { @for seq in &incident.related_seqs { a href=(format!("/events/{seq}")) { "#" (seq) } " " } }
            dt { "Root cause" } dd { (incident.root_cause.clone().unwrap_or_else(|| "-".into())) }
            dt { "Preventive measures" } dd { (incident.preventive_measures.clone().unwrap_or_else(|| "-".into())) }
        }
        (told.render(&path))
        (notes.render(&path))
        @if viewer.may(Action::Oversee) && incident.status.as_str() != "closed" {
            h2 { "Work the incident" }
            form class="stack" method="post" action=(path) {
                (viewer.csrf_field())
                label for="owner" { "Owner" }
                input id="owner" name="owner" type="text" value=(incident.owner.clone().unwrap_or_default());
                label for="status" { "Status" }
                select id="status" name="status" {
                    @for status in ["open", "investigating", "mitigated", "closed"] {
                        option value=(status) selected[status == incident.status.as_str()] { (status) }
                    }
                }
                label for="action" { "Action taken (added to the record)" }
                input id="action" name="action" type="text";
                label for="communication" { "Communication (who was told what)" }
                input id="communication" name="communication" type="text";
                label for="root_cause" { "Root cause (needed to close)" }
                textarea id="root_cause" name="root_cause" rows="3" { (incident.root_cause.clone().unwrap_or_default()) }
                label for="preventive_measures" { "Preventive measures" }
                textarea id="preventive_measures" name="preventive_measures" rows="3" { (incident.preventive_measures.clone().unwrap_or_default()) }
                button type="submit" { "Save" }
            }
        }
    };
    Ok(page(&viewer, &format!("Incident {id}"), "Incidents", content))
}

#[derive(Deserialize)]
pub struct IncidentForm {
    csrf: String,
    owner: Option<String>,
    status: Option<String>,
    action: Option<String>,
    communication: Option<String>,
    root_cause: Option<String>,
    preventive_measures: Option<String>,
}

pub async fn update_incident(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<IncidentForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Oversee)?;
    let now = Utc::now();
    let store = state.store.clone();
    let lookup = id.clone();
    let current = blocking(move || monitor::incident(&store, &lookup, now))
        .await?
        .incident;
    let given = |value: Option<String>| {
        value
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    // Only what changed goes into the record (and its event).
    let changed =
        |value: Option<String>, old: Option<&str>| given(value).filter(|value| Some(value.as_str()) != old);
    let update = warrant_core::incident::IncidentUpdate {
        owner: changed(form.owner, current.owner.as_deref()),
        status: changed(form.status, Some(current.status.as_str())),
        action: given(form.action),
        communication: given(form.communication),
        root_cause: changed(form.root_cause, current.root_cause.as_deref()),
        preventive_measures: changed(form.preventive_measures, current.preventive_measures.as_deref()),
        ..Default::default()
    };
    let context = ChangeContext::new(viewer.principal.as_ref().clone(), None, now);
    monitor::update_incident(&state.store, id.clone(), update, context).await?;
    Ok(Redirect::to(&format!("/incidents/{}", encode(&id))).into_response())
}

pub async fn risks(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let today = Utc::now().date_naive();
    let store = state.store.clone();
    let register = blocking(move || risk::register(&store, None, None, today)).await?;
    let mut table = Table::new(
        "register",
        "Risk register",
        &[
            "Risk",
            "Agent",
            "Summary",
            "Level",
            "Score",
            "Status",
            "Treatment",
            "Owner",
            "Review due",
            "Decide",
        ],
    );
    for item in &register.items {
        let decide = if viewer.may(Action::Oversee) && item.status != warrant_api::risk::RiskStatus::Closed {
            html! {
                form class="decide" method="post" action=(format!("/risks/{}/treat", encode(&item.id))) {
                    (viewer.csrf_field())
                    label for=(format!("treat-{}", item.id)) { "Treatment" }
                    select id=(format!("treat-{}", item.id)) name="treatment" {
                        @for treatment in ["mitigate", "accept", "avoid", "transfer"] { option value=(treatment) { (treatment) } }
                    }
                    label for=(format!("plan-{}", item.id)) { "Plan" }
                    input id=(format!("plan-{}", item.id)) name="plan" type="text" required;
                    button type="submit" { "Record" }
                }
            }
        } else {
            html! {}
        };
        table.row(vec![
            Cell::text(&item.id),
            Cell::text(&item.agent),
            Cell::text(&item.summary),
            Cell::text(&item.level),
            Cell::text(item.score.to_string()),
            Cell::text(item.status.as_str()),
            Cell::text(
                item.treatment
                    .map(|treatment| treatment.as_str())
                    .unwrap_or_default(),
            ),
            Cell::text(&item.owner),
            Cell::text(item.review_due.to_string()),
            Cell::markup("", decide),
        ]);
    }
    if let Some(answer) = csv_answer(&[&table], query.csv.as_deref()) {
        return answer;
    }
    Ok(page(&viewer, "Risks", "Risks", table.render("/risks")))
}

#[derive(Deserialize)]
pub struct TreatForm {
    csrf: String,
    treatment: String,
    plan: String,
}

pub async fn treat_risk(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TreatForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Oversee)?;
    let request: warrant_core::risk::register::TreatRequest = serde_json::from_value(serde_json::json!({
        "treatment": form.treatment, "plan": form.plan,
    }))
    .map_err(|error| PageError::new(StatusCode::BAD_REQUEST, error.to_string()))?;
    let context = ChangeContext::new(viewer.principal.as_ref().clone(), None, Utc::now());
    risk::treat(&state.store, id, request, context).await?;
    Ok(Redirect::to("/risks").into_response())
}

// ---------------------------------------------------------------------------------------------------------
// Compliance

pub async fn compliance(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<CsvQuery>,
) -> PageResult {
    reads(&viewer)?;
    let now = Utc::now();
    let (soa, gaps, readiness, crosswalk, audits, nonconformities) =
        compliance::assessed(&state.store, now, move |store, assessment| {
            let rows = assessment.soa()?;
            Ok((
                compliance::soa_report(store, &assessment, &rows, now),
                compliance::gaps_report(&assessment)?,
                compliance::readiness_report(store, &assessment, now)?,
                compliance::crosswalk_report(&assessment, now.date_naive())?,
                warrant_service::audit::audits(store)?,
                warrant_service::audit::nonconformities(store)?,
            ))
        })
        .await?;
    let mut soa_table = Table::new(
        "soa",
        format!(
            "Statement of Applicability ({} controls, {} applicable)",
            soa.summary.controls, soa.summary.applicable
        ),
        &[
            "Control",
            "Title",
            "Applicable",
            "Status",
            "Evidence",
            "Latest",
            "Samples",
            "Owner",
            "Since",
        ],
    );
    for row in &soa.controls {
        let samples: Vec<String> = row.sample_seqs.iter().map(ToString::to_string).collect();
        let latest_time = row
            .rules
            .iter()
            .filter_map(|rule| rule.evidence.latest.clone())
            .max()
            .unwrap_or_default();
        soa_table.row(vec![
            Cell::text(&row.control),
            Cell::text(&row.title),
            Cell::text(if row.applicable { "yes" } else { "no" }),
            Cell::markup(
                row.status.as_str(),
                html! { span class=(format!("status {}", row.status.as_str())) { (row.status.as_str()) } },
            ),
            Cell::text(row.evidence_count.to_string()),
            row.latest_seq.map(seq_link).unwrap_or_else(|| Cell::text("")),
            Cell::markup(
                samples.join(" "),
                html! { @for seq in &row.sample_seqs { a href=(format!("/events/{seq}")) { "#" (seq) } " " } },
            ),
            Cell::text(&row.owner),
            Cell::text(latest_time),
        ]);
    }
    let mut gap_table = Table::new("gaps", "Gaps", &["Item", "Title", "Gap", "Why", "Next step"]);
    for row in gaps
        .controls
        .iter()
        .chain(&gaps.clauses)
        .filter(|row| row.gap != "have")
    {
        gap_table.row(vec![
            Cell::text(&row.id),
            Cell::text(&row.title),
            Cell::text(&row.gap),
            Cell::text(&row.reason),
            Cell::text(row.next_step.clone().unwrap_or_default()),
        ]);
    }
    let mut stages = Table::new(
        "readiness",
        "Certification readiness",
        &["Stage", "Status", "Detail"],
    );
    for stage in &readiness.readiness.stages {
        let value = serde_json::to_value(stage).unwrap_or(Value::Null);
        let text = |field: &str| {
            value
                .get(field)
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                .unwrap_or_default()
        };
        stages.row(vec![
            Cell::text(text("name")),
            Cell::text(text("status")),
            Cell::text(text("detail")),
        ]);
    }
    let mut articles = Table::new(
        "crosswalk",
        format!("EU AI Act crosswalk ({})", crosswalk.regulation),
        &["Article", "Title", "ISO/IEC 42001 coverage", "Not covered"],
    );
    for row in &crosswalk.articles {
        articles.row(vec![
            Cell::text(&row.article),
            Cell::text(&row.title),
            Cell::text(&row.coverage),
            Cell::text(row.not_covered.clone().unwrap_or_default()),
        ]);
    }
    let mut tasks = Table::new(
        "tasks",
        "Obligations ISO/IEC 42001 does not cover",
        &["Task", "Article", "Title", "Owner", "Due", "Status"],
    );
    for task in &crosswalk.tasks {
        tasks.row(vec![
            Cell::text(&task.id),
            Cell::text(&task.article),
            Cell::text(&task.title),
            Cell::text(task.owner.clone().unwrap_or_default()),
            Cell::text(task.due.map(|due| due.to_string()).unwrap_or_default()),
            Cell::text(format!(
                "{}{}",
                task.status,
                if task.overdue { " (OVERDUE)" } else { "" }
            )),
        ]);
    }
    let mut audit_table = Table::new(
        "audits",
        "Internal audits",
        &[
            "Audit",
            "When",
            "Controls sampled",
            "Items verified",
            "Nonconformities",
            "Event",
        ],
    );
    for audit in &audits {
        audit_table.row(vec![
            Cell::text(audit.id.clone().unwrap_or_default()),
            Cell::text(audit.at.clone().unwrap_or_default()),
            Cell::text(audit.summary.controls_sampled.to_string()),
            Cell::text(audit.summary.items_verified.to_string()),
            Cell::text(audit.summary.nonconformities.to_string()),
            audit.seq.map(seq_link).unwrap_or_else(|| Cell::text("")),
        ]);
    }
    let mut nc_table = Table::new(
        "nonconformities",
        "Nonconformities",
        &[
            "Id",
            "Control",
            "Grade",
            "Finding",
            "Corrective action",
            "Owner",
            "Due",
            "Status",
        ],
    );
    for nc in &nonconformities {
        let value = serde_json::to_value(nc).unwrap_or(Value::Null);
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        nc_table.row(vec![
            Cell::text(&nc.id),
            Cell::text(&nc.control),
            Cell::text(field("grade")),
            Cell::text(&nc.finding),
            Cell::text(&nc.corrective_action),
            Cell::text(&nc.owner),
            Cell::text(nc.due.to_string()),
            Cell::text(field("status")),
        ]);
    }
    if let Some(answer) = csv_answer(
        &[
            &soa_table,
            &gap_table,
            &stages,
            &articles,
            &tasks,
            &audit_table,
            &nc_table,
        ],
        query.csv.as_deref(),
    ) {
        return answer;
    }
    let content = html! {
        p {
            "Readiness stage " strong { (readiness.readiness.stage) } ": " (readiness.readiness.decision.recommendation)
            " (" (readiness.readiness.estimate.months) ", " (readiness.readiness.estimate.cost_usd) ")."
        }
        p class="muted" {
            @for (status, count) in &soa.summary.by_status { (status) " " (count) "; " }
            "statuses are computed from the log at this moment."
        }
        (soa_table.render("/compliance"))
        (gap_table.render("/compliance"))
        (stages.render("/compliance"))
        (articles.render("/compliance"))
        (tasks.render("/compliance"))
        (audit_table.render("/compliance"))
        (nc_table.render("/compliance"))
    };
    Ok(page(&viewer, "Compliance", "Compliance", content))
}

// ---------------------------------------------------------------------------------------------------------
// Evidence

pub async fn evidence(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    reads(&viewer)?;
    let store = state.store.clone();
    let (checkpoints, key) = blocking(move || {
        Ok((
            warrant_service::log::checkpoints(&store)?,
            warrant_service::log::key(&store),
        ))
    })
    .await?;
    let today = Utc::now().date_naive();
    let content = evidence_content(&viewer, &checkpoints, &key.verifier_key, today, None);
    Ok(page(&viewer, "Evidence", "Evidence", content))
}

fn evidence_content(
    viewer: &Viewer,
    checkpoints: &[warrant_api::log::Checkpoint],
    key: &str,
    today: chrono::NaiveDate,
    verified: Option<Markup>,
) -> Markup {
    let from = today - chrono::Duration::days(90);
    html! {
        p { "Log key (give it to the auditor with the bundle): " code id="log-key" { (key) } }
        p { "Latest signed checkpoints: "
            @for checkpoint in checkpoints.iter().rev().take(3) { (checkpoint.size) " at " (checkpoint.time) "; " }
        }
        @if let Some(verified) = verified { (verified) }
        @if viewer.may(Action::Export) {
            section aria-labelledby="export-h" {
                h2 id="export-h" { "Export a bundle for a period" }
                form class="stack" method="post" action="/evidence/export" {
                    (viewer.csrf_field())
                    label for="from" { "From (inclusive)" }
                    input id="from" name="from" type="date" value=(from.to_string()) required;
                    label for="to" { "To (exclusive)" }
                    input id="to" name="to" type="date" value=((today + chrono::Duration::days(1)).to_string()) required;
                    button type="submit" { "Export and download" }
                }
            }
        }
        section aria-labelledby="verify-h" {
            h2 id="verify-h" { "Verify a bundle" }
            p class="muted" { "Checks the signature, every file's hash and every event against the end checkpoint, with this log's key." }
            form class="stack" method="post" action="/evidence/verify" enctype="multipart/form-data" {
                (viewer.csrf_field())
                label for="bundle" { "Bundle (.tar.gz)" }
                input id="bundle" name="bundle" type="file" accept=".gz,application/gzip" required;
                button type="submit" { "Verify" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ExportForm {
    csrf: String,
    from: String,
    to: String,
}

pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::Form(form): axum::Form<ExportForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Export)?;
    let request = warrant_service::export::ExportRequest::parse(&form.from, &form.to, Vec::new(), false)?;
    let archive = warrant_service::export::archive(&state.store, request, Utc::now()).await?;
    let file = tokio::fs::File::open(&archive.path)
        .await
        .map_err(|error| PageError::from(warrant_service::ServiceError::internal(&error)))?;
    // The open handle keeps the bytes readable; the name goes now so nothing is left behind.
    let _ = tokio::fs::remove_file(&archive.path).await;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", archive.name),
            ),
        ],
        axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file)),
    )
        .into_response())
}

/// Largest bundle the page accepts for verification.
pub(super) const MAX_UPLOAD: usize = 512 * 1024 * 1024;

pub async fn verify(State(state): State<AppState>, viewer: Viewer, mut multipart: Multipart) -> PageResult {
    reads(&viewer)?;
    let bad = |error: axum::extract::multipart::MultipartError| {
        PageError::new(StatusCode::BAD_REQUEST, error.to_string())
    };
    let internal = |error: std::io::Error| PageError::from(warrant_service::ServiceError::internal(&error));
    let mut csrf = None;
    let mut upload: Option<std::path::PathBuf> = None;
    let mut result = Ok(());
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await.map_err(bad)?),
            Some("bundle") => {
                // Streamed to a file beside the data, never held whole in memory.
                let path =
                    std::env::temp_dir().join(format!("warrant-upload-{}.tar.gz", super::random_hex()?));
                let mut file = tokio::fs::File::create(&path).await.map_err(internal)?;
                upload = Some(path);
                let mut size = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    size += chunk.len();
                    if size > MAX_UPLOAD {
                        result = Err(PageError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "the bundle is larger than 512 MiB",
                        ));
                        break;
                    }
                    tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                        .await
                        .map_err(internal)?;
                }
                tokio::io::AsyncWriteExt::flush(&mut file)
                    .await
                    .map_err(internal)?;
            }
            _ => {}
        }
    }
    let outcome = verify_upload(&state, &viewer, csrf, upload.clone(), result).await;
    if let Some(path) = upload {
        let _ = tokio::fs::remove_file(path).await;
    }
    outcome
}

async fn verify_upload(
    state: &AppState,
    viewer: &Viewer,
    csrf: Option<String>,
    upload: Option<std::path::PathBuf>,
    received: Result<(), PageError>,
) -> PageResult {
    viewer.check_csrf(csrf.as_deref().unwrap_or_default())?;
    received?;
    let path =
        upload.ok_or_else(|| PageError::new(StatusCode::BAD_REQUEST, "choose a bundle file to verify"))?;
    let store = state.store.clone();
    let (report, checkpoints, key) = blocking(move || {
        let key = warrant_service::log::key(&store);
        let verifier = warrant_log::note::NoteVerifier::parse_vkey(&key.verifier_key)
            .map_err(|error| warrant_service::ServiceError::internal(&error))?;
        let report = match std::fs::File::open(&path) {
            Ok(file) => warrant_service::export::verify_archive(
                std::io::BufReader::new(file),
                verifier,
                warrant_log::bundle::BundleTrust::default(),
            ),
            Err(error) => Err(format!("reading the upload: {error}")),
        };
        Ok((report, warrant_service::log::checkpoints(&store)?, key))
    })
    .await?;
    let verified = match report {
        Ok(report) if report.ok() => html! {
            div class="result ok" role="status" id="verify-result" {
                h2 { "Bundle verified" }
                p { "Signed by this log's key; " (report.files) " files match their hashes; " (report.events)
                    " events rebuild checkpoint " (report.end_size) " from checkpoint " (report.start_size) "." }
                p { "End root " code { (report.end_root.clone().unwrap_or_default()) } }
            }
        },
        Ok(report) => html! {
            div class="result failed" role="alert" id="verify-result" {
                h2 { "Bundle verification FAILED (" (report.failures.len()) " problems)" }
                ul { @for failure in &report.failures { li { (failure) } } }
            }
        },
        Err(error) => html! {
            div class="result failed" role="alert" id="verify-result" { h2 { "Not a bundle" } p { (error) } }
        },
    };
    let content = evidence_content(
        viewer,
        &checkpoints,
        &key.verifier_key,
        Utc::now().date_naive(),
        Some(verified),
    );
    Ok(page(viewer, "Evidence", "Evidence", content))
}

/// Text for hand-built markup (the SVG charts).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
