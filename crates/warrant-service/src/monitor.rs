//! Monitoring as operations: read the rollups for a window, run the detectors of `warrant_core::monitor`, and turn
//! alert rules into recorded alerts and incidents. Shared by the `/v1/monitor/*` routes, the evaluator that
//! runs in the server, and `warrant monitor --evaluate`.

use std::collections::BTreeMap;
use warrant_log::Seq;

use crate::ServiceError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use warrant_api::monitor as wire;
use warrant_api::{ErrorCode, Items};
use warrant_core::change::ChangeContext;
use warrant_core::incident::AlertStatus;
use warrant_core::incident::{
    Art73Category, Art73Clock, Frozen, Incident, IncidentStatus, IncidentUpdate, Note,
};
use warrant_core::monitor::detect::{
    self, Anomaly, AnomalyLimits, ApproverStats, BigramRow, BigramSpan, ChiSquareJson, CostLine,
    DecidedApproval, Disparity, Drift, Gap, RubberStamp, SegmentRates, Shift, ToolRow, ToolSpan, UsageRow,
    Window, Windows,
};
use warrant_core::monitor::facts::hour_of;
use warrant_core::monitor::rules::{self, Findings, Firing};
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::{Detector, Severity};
use warrant_store::{
    Alert, AlertRun, ApprovalStatus, ChangeFilter, IncidentOp, IncidentOutcome, Store, StoreError,
};

/// The window settings of a report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub agent: Option<String>,
    pub decision: Option<String>,
    #[serde(default = "current_hours")]
    pub current_hours: u32,
    #[serde(default = "baseline_hours")]
    pub baseline_hours: u32,
    #[serde(default = "min_samples")]
    pub min_samples: u64,
}

fn current_hours() -> u32 {
    24
}

fn baseline_hours() -> u32 {
    168
}

fn min_samples() -> u64 {
    detect::DEFAULT_MIN_SAMPLES
}

impl Default for Params {
    fn default() -> Params {
        Params {
            agent: None,
            decision: None,
            current_hours: current_hours(),
            baseline_hours: baseline_hours(),
            min_samples: min_samples(),
        }
    }
}

impl Params {
    /// The windows ending now. Each is capped at a year: the rollups are hourly, and nobody means more.
    pub fn windows(&self, now: DateTime<Utc>) -> Windows {
        const YEAR: u32 = 366 * 24;
        Windows::ending(
            hour_of(&now),
            self.current_hours.min(YEAR),
            self.baseline_hours.min(YEAR),
        )
    }

    fn keeps(&self, agent: &str, decision: Option<&str>) -> bool {
        self.agent.as_deref().is_none_or(|wanted| wanted == agent)
            && match (self.decision.as_deref(), decision) {
                (Some(wanted), Some(decision)) => wanted == decision,
                _ => true,
            }
    }
}

pub fn drift(store: &Store, params: &Params, now: DateTime<Utc>) -> Result<Vec<Drift>, StoreError> {
    let windows = params.windows(now);
    let rows = store.decision_rows(windows.baseline.from, windows.current.to)?;
    Ok(detect::drift(&rows, &windows, params.min_samples)
        .into_iter()
        .filter(|drift| params.keeps(&drift.agent, Some(&drift.decision)))
        .collect())
}

pub fn disparity(store: &Store, params: &Params, now: DateTime<Utc>) -> Result<Vec<Disparity>, StoreError> {
    let windows = params.windows(now);
    let rows = store.decision_rows(windows.baseline.from, windows.current.to)?;
    Ok(detect::disparity(&rows, &windows, params.min_samples)
        .into_iter()
        .filter(|disparity| params.keeps(&disparity.agent, Some(&disparity.decision)))
        .collect())
}

pub fn anomalies(
    store: &Store,
    registry: &Registry,
    params: &Params,
    limits: &AnomalyLimits,
    now: DateTime<Utc>,
) -> Result<Vec<Anomaly>, StoreError> {
    let windows = params.windows(now);
    let data = ToolData::load(store, &windows)?;
    Ok(data.anomalies(registry, params, &windows, limits, now))
}

/// The rows the tool-usage detectors read for one pair of windows: hourly rows of both windows, and the
/// span tables that say what is new or unused (no history scan). Loaded once per evaluation and windows,
/// whatever number of anomaly rules read them.
struct ToolData {
    tools: Vec<ToolRow>,
    bigrams: Vec<BigramRow>,
    tool_spans: Vec<ToolSpan>,
    bigram_spans: Vec<BigramSpan>,
    usage: Vec<UsageRow>,
}

impl ToolData {
    fn load(store: &Store, windows: &Windows) -> Result<ToolData, StoreError> {
        Ok(ToolData {
            tools: store.tool_rows(windows.baseline.from, windows.current.to)?,
            bigrams: store.bigram_rows(windows.baseline.from, windows.current.to)?,
            tool_spans: store.tool_spans()?,
            bigram_spans: store.new_bigrams(windows.current.from)?,
            usage: store.usage_rows(windows.baseline.from, windows.current.to)?,
        })
    }

    fn anomalies(
        &self,
        registry: &Registry,
        params: &Params,
        windows: &Windows,
        limits: &AnomalyLimits,
        now: DateTime<Utc>,
    ) -> Vec<Anomaly> {
        let usage_of_tools = detect::ToolUsage {
            tools: &self.tools,
            bigrams: &self.bigrams,
            tool_spans: &self.tool_spans,
            bigram_spans: &self.bigram_spans,
        };
        let mut found = detect::anomalies(usage_of_tools, windows, registry, hour_of(&now), limits);
        found.extend(detect::usage_anomalies(&self.usage, &self.tools, windows, limits));
        found
            .into_iter()
            .filter(|anomaly| params.keeps(&anomaly.agent, None))
            .collect()
    }
}

pub fn cost(store: &Store, params: &Params, now: DateTime<Utc>) -> Result<Vec<CostLine>, StoreError> {
    let window = params.windows(now).current;
    let usage = store.usage_rows(window.from, window.to)?;
    let tools = store.tool_rows(window.from, window.to)?;
    Ok(detect::cost(&usage, &tools, &window)
        .into_iter()
        .filter(|line| params.keeps(&line.agent, None))
        .collect())
}

#[derive(Debug, Clone)]
pub struct Oversight {
    pub window: Window,
    pub approvers: Vec<ApproverStats>,
    pub pending: u64,
    pub expired: u64,
    /// Median time from request to decision, over every decided approval in the window.
    pub median_latency_s: Option<f64>,
    pub overrides: BTreeMap<String, u64>,
    pub escalations: BTreeMap<String, u64>,
}

pub fn oversight(
    store: &Store,
    params: &Params,
    limits: &RubberStamp,
    now: DateTime<Utc>,
) -> Result<Oversight, StoreError> {
    let window = params.windows(now).current;
    let in_window = |time: &DateTime<Utc>| window.contains(hour_of(time));
    let approvals = store.approvals(None, now)?;
    let mut decided = Vec::new();
    let (mut pending, mut expired) = (0, 0);
    for approval in approvals
        .iter()
        .filter(|approval| params.keeps(&approval.agent, None))
    {
        match approval.status {
            ApprovalStatus::Pending => pending += 1,
            ApprovalStatus::Expired if in_window(&approval.expires_at) => expired += 1,
            ApprovalStatus::Approved | ApprovalStatus::Used | ApprovalStatus::Denied => {
                let (Some(by), Some(at)) = (&approval.decided_by, &approval.decided_at) else {
                    continue;
                };
                if !in_window(at) {
                    continue;
                }
                let latency = (*at - approval.requested_at).num_milliseconds().max(0) as f64 / 1000.0;
                decided.push(DecidedApproval {
                    approver: by.clone(),
                    approved: approval.status != ApprovalStatus::Denied,
                    latency_s: latency,
                });
            }
            _ => {}
        }
    }
    let mut latencies: Vec<f64> = decided.iter().map(|approval| approval.latency_s).collect();
    latencies.sort_by(f64::total_cmp);
    let mut overrides = BTreeMap::new();
    let mut escalations = BTreeMap::new();
    for row in store.kind_rows(window.from, window.to)? {
        let target = match row.kind.as_str() {
            "override" => &mut overrides,
            "escalation" => &mut escalations,
            _ => continue,
        };
        if params.keeps(&row.agent, None) {
            *target.entry(row.agent).or_insert(0) += row.count;
        }
    }
    Ok(Oversight {
        window,
        approvers: detect::approvers(&decided, limits),
        pending,
        expired,
        median_latency_s: latencies.get(latencies.len() / 2).copied(),
        overrides,
        escalations,
    })
}

/// Run every rule in force over the rollups; the firings, with the latest substantial change of each agent
/// concerned added to its evidence.
pub fn evaluate(store: &Store, registry: &Registry, now: DateTime<Utc>) -> Result<AlertRun, StoreError> {
    let rules = rules::effective_rules(registry);
    let mut firings: Vec<Firing> = Vec::new();
    let mut tool_data: BTreeMap<(i64, i64, i64), ToolData> = BTreeMap::new();
    let mut hidden_tools = None;
    for rule in &rules {
        let (current_hours, baseline_hours, min_samples) = rules::rule_windows(rule);
        let params = Params {
            agent: rule.agent.clone(),
            decision: rule.decision.clone(),
            current_hours,
            baseline_hours,
            min_samples,
        };
        if rule.detector == Detector::HiddenTool {
            if hidden_tools.is_none() {
                let records = crate::mcp::records(store)?;
                hidden_tools = Some(
                    records
                        .still_hidden(registry)
                        .map(|(record, reason)| (record.clone(), reason))
                        .collect::<Vec<_>>(),
                );
            }
            let hidden = hidden_tools.as_deref().unwrap_or_default();
            firings.extend(rules::fire(
                rule,
                &Findings {
                    hidden_tools: hidden,
                    ..Findings::default()
                },
            ));
            continue;
        }
        let (drift, disparity, anomalies, approvers) = match rule.detector {
            Detector::Drift => (
                self::drift(store, &params, now)?,
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
            Detector::Disparity => (
                Vec::new(),
                self::disparity(store, &params, now)?,
                Vec::new(),
                Vec::new(),
            ),
            Detector::RubberStamp => {
                let oversight = oversight(store, &params, &rules::rubber_stamp_limits(rule), now)?;
                (Vec::new(), Vec::new(), Vec::new(), oversight.approvers)
            }
            _ => {
                let limits = rules::anomaly_limits(rule);
                let windows = params.windows(now);
                let key = (windows.current.from, windows.baseline.from, windows.current.to);
                let data = match tool_data.entry(key) {
                    std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::btree_map::Entry::Vacant(entry) => {
                        entry.insert(ToolData::load(store, &windows)?)
                    }
                };
                (
                    Vec::new(),
                    Vec::new(),
                    data.anomalies(registry, &params, &windows, &limits, now),
                    Vec::new(),
                )
            }
        };
        firings.extend(rules::fire(
            rule,
            &Findings {
                drift: &drift,
                disparity: &disparity,
                anomalies: &anomalies,
                approvers: &approvers,
                ..Findings::default()
            },
        ));
    }
    // The change that may explain it: the agent's latest substantial modification.
    let mut changes: BTreeMap<String, Option<Seq>> = BTreeMap::new();
    for firing in firings.iter_mut().filter(|firing| !firing.agent.is_empty()) {
        let change = match changes.get(&firing.agent) {
            Some(change) => *change,
            None => {
                let latest = store
                    .changes(&ChangeFilter {
                        agent: Some(firing.agent.clone()),
                        ..ChangeFilter::default()
                    })?
                    .iter()
                    .rev()
                    .find(|change| change.body.pointer("/attrs/substantial") == Some(&Value::Bool(true)))
                    .map(|change| change.seq);
                changes.insert(firing.agent.clone(), latest);
                latest
            }
        };
        if let Some(seq) = change {
            firing.related.push(seq);
            firing
                .summary
                .push_str(&format!("; the agent's latest substantial change is seq {seq}"));
        }
    }
    let checkpoint = frozen_checkpoint(store)?;
    let ids: Vec<String> = rules.into_iter().map(|rule| rule.id).collect();
    Ok(AlertRun {
        firings,
        evaluated: ids.clone(),
        rules: ids,
        checkpoint,
    })
}

/// The latest checkpoint, as an incident freezes it with its evidence.
pub fn frozen_checkpoint(store: &Store) -> Result<Option<Frozen>, StoreError> {
    Ok(store.latest_checkpoint()?.map(|checkpoint| Frozen {
        size: checkpoint.size,
        root: hex::encode(checkpoint.root),
    }))
}

/// Evaluate and record: new alerts fire, cleared ones resolve, high ones open incidents.
pub async fn evaluate_and_record(
    store: &Store,
    principal: &warrant_store::Principal,
) -> Result<IncidentOutcome, StoreError> {
    // Count every committed event, and sign, so the checkpoint frozen into an incident covers its evidence.
    store.flush_rollups().await?;
    store.checkpoint().await?;
    let now = Utc::now();
    let registry = store.registry();
    let reader = store.clone();
    let run = tokio::task::spawn_blocking(move || evaluate(&reader, &registry, now))
        .await
        .map_err(|error| StoreError::Damaged(format!("the evaluator stopped: {error}")))??;
    store
        .incident_op(
            IncidentOp::Record(run),
            ChangeContext {
                principal: principal.clone(),
                reason: Some("monitoring evaluation".into()),
                time: now,
            },
        )
        .await
}

/// Decisions of one outcome on one day: `(day start, outcome, count)`.
pub type DayCount = (DateTime<Utc>, String, u64);

/// Decisions per day and outcome over the last `days` days (to `now`), per agent and decision name, from the
/// hourly rollups: the distribution over time that drift summarises. Keys are `(agent, decision)`; each
/// value is in day order.
pub fn decision_series(
    store: &Store,
    days: i64,
    now: DateTime<Utc>,
) -> Result<BTreeMap<(String, String), Vec<DayCount>>, StoreError> {
    let to_hour = now.timestamp().div_euclid(3600) + 1;
    let from_hour = to_hour - days * 24;
    let mut days_of: BTreeMap<(String, String), BTreeMap<(i64, String), u64>> = BTreeMap::new();
    for row in store.decision_rows(from_hour, to_hour)? {
        *days_of
            .entry((row.agent, row.name))
            .or_default()
            .entry((row.hour.div_euclid(24), row.outcome))
            .or_default() += row.count;
    }
    Ok(days_of
        .into_iter()
        .map(|(key, counts)| {
            let series = counts
                .into_iter()
                .filter_map(|((day, outcome), count)| {
                    DateTime::from_timestamp(day * 86_400, 0).map(|start| (start, outcome, count))
                })
                .collect();
            (key, series)
        })
        .collect())
}

/// The whole report, as `warrant monitor` prints it.
pub fn full_report(
    store: &Store,
    registry: &Registry,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<wire::MonitorReport, StoreError> {
    Ok(wire::MonitorReport {
        windows: windows_to_wire(&params.windows(now)),
        drift: drift(store, params, now)?.iter().map(drift_to_wire).collect(),
        disparity: disparity(store, params, now)?
            .iter()
            .map(disparity_to_wire)
            .collect(),
        anomalies: anomalies(store, registry, params, &AnomalyLimits::default(), now)?
            .iter()
            .map(anomaly_to_wire)
            .collect(),
        cost: cost(store, params, now)?.iter().map(cost_to_wire).collect(),
        oversight: oversight_to_wire(&oversight(store, params, &RubberStamp::default(), now)?),
    })
}

/// An incident with its Art. 73 clock as of `now`.
pub fn incident_view(incident: &Incident, now: DateTime<Utc>) -> wire::IncidentView {
    wire::IncidentView {
        incident: incident_to_wire(incident),
        art73: incident.art73(now).as_ref().map(clock_to_wire),
        notifications: Vec::new(),
    }
}

/// An incident's view with who was told about it (its notification deliveries).
pub fn incident_view_told(
    store: &Store,
    incident: &Incident,
    now: DateTime<Utc>,
) -> Result<wire::IncidentView, ServiceError> {
    Ok(wire::IncidentView {
        notifications: crate::notify::about(store, "incident", &incident.id)?,
        ..incident_view(incident, now)
    })
}

/// Alerts in `status` (`firing` or `resolved`; all without one).
pub fn alerts(store: &Store, status: Option<&str>) -> Result<Items<wire::Alert>, ServiceError> {
    let status = status
        .map(|text| {
            AlertStatus::parse(text).ok_or_else(|| {
                ServiceError::invalid(
                    ErrorCode::InvalidQuery,
                    format!("`status` is `firing` or `resolved`, not `{text}`"),
                )
            })
        })
        .transpose()?;
    Ok(Items {
        items: store.alerts(status)?.iter().map(alert_to_wire).collect(),
    })
}

pub fn alert(store: &Store, id: &str) -> Result<wire::Alert, ServiceError> {
    let alert = store
        .alert(id)?
        .ok_or_else(|| ServiceError::not_found(format!("no alert `{id}`")))?;
    Ok(alert_to_wire(&alert))
}

pub fn incidents(store: &Store, now: DateTime<Utc>) -> Result<Items<wire::IncidentView>, ServiceError> {
    Ok(Items {
        items: store
            .incidents()?
            .iter()
            .map(|incident| incident_view(incident, now))
            .collect(),
    })
}

pub fn incident(store: &Store, id: &str, now: DateTime<Utc>) -> Result<wire::IncidentView, ServiceError> {
    let incident = store
        .incident(id)?
        .ok_or_else(|| ServiceError::not_found(format!("no incident `{id}`")))?;
    incident_view_told(store, &incident, now)
}

/// Open an incident for an alert by hand.
pub async fn promote(
    store: &Store,
    alert: String,
    context: ChangeContext,
) -> Result<wire::IncidentView, ServiceError> {
    let checkpoint = frozen_checkpoint(store)?;
    let now = context.time;
    let outcome = store
        .incident_op(IncidentOp::Promote { alert, checkpoint }, context)
        .await?;
    outcome
        .opened
        .first()
        .map(|incident| incident_view(incident, now))
        .ok_or_else(|| ServiceError::internal(&"promoting an alert opened no incident"))
}

/// Change an incident (status, owner, root cause, Art. 73 classification, ...).
pub async fn update_incident(
    store: &Store,
    id: String,
    update: IncidentUpdate,
    context: ChangeContext,
) -> Result<wire::IncidentView, ServiceError> {
    let now = context.time;
    let outcome = store
        .incident_op(
            IncidentOp::Update {
                id,
                update: Box::new(update),
            },
            context,
        )
        .await?;
    outcome
        .updated
        .as_ref()
        .map(|incident| incident_view(incident, now))
        .ok_or_else(|| ServiceError::internal(&"updating an incident returned no incident"))
}

/// Recompute the rollups from the log.
pub async fn rebuild(store: &Store) -> Result<wire::Rebuilt, ServiceError> {
    Ok(wire::Rebuilt {
        events: store.rebuild_rollups().await?,
    })
}

/// One report by name, as of `now`: `drift`, `disparity`, `anomalies`, `cost` or `oversight`; all of them
/// without a name.
pub fn named_report(
    store: &Store,
    registry: &Registry,
    which: Option<&str>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<wire::Report, ServiceError> {
    fn windowed<T, W>(windows: &Windows, items: &[T], to_wire: impl Fn(&T) -> W) -> wire::Windowed<W> {
        wire::Windowed {
            windows: windows_to_wire(windows),
            items: items.iter().map(to_wire).collect(),
        }
    }
    let windows = params.windows(now);
    Ok(match which {
        None => wire::Report::All(full_report(store, registry, params, now)?),
        Some("drift") => wire::Report::Drift(windowed(&windows, &drift(store, params, now)?, drift_to_wire)),
        Some("disparity") => wire::Report::Disparity(windowed(
            &windows,
            &disparity(store, params, now)?,
            disparity_to_wire,
        )),
        Some("anomalies") => wire::Report::Anomalies(windowed(
            &windows,
            &anomalies(store, registry, params, &AnomalyLimits::default(), now)?,
            anomaly_to_wire,
        )),
        Some("cost") => wire::Report::Cost(windowed(&windows, &cost(store, params, now)?, cost_to_wire)),
        Some("oversight") => wire::Report::Oversight(oversight_to_wire(&oversight(
            store,
            params,
            &RubberStamp::default(),
            now,
        )?)),
        Some(other) => {
            return Err(ServiceError::not_found(format!(
                "no report `{other}`; reports: drift, disparity, anomalies, cost, oversight"
            )));
        }
    })
}

fn window_to_wire(window: &Window) -> wire::Window {
    wire::Window {
        from: window.from,
        to: window.to,
    }
}

pub fn windows_to_wire(windows: &Windows) -> wire::Windows {
    wire::Windows {
        current: window_to_wire(&windows.current),
        baseline: window_to_wire(&windows.baseline),
    }
}

fn chi_square_to_wire(test: &ChiSquareJson) -> wire::ChiSquare {
    wire::ChiSquare {
        statistic: test.statistic,
        dof: test.dof,
        p_value: test.p_value,
    }
}

pub fn drift_to_wire(drift: &Drift) -> wire::Drift {
    wire::Drift {
        agent: drift.agent.clone(),
        decision: drift.decision.clone(),
        outcomes: drift.outcomes.clone(),
        baseline: drift.baseline.clone(),
        current: drift.current.clone(),
        status: drift.status.to_owned(),
        psi: drift.psi,
        js_distance: drift.js_distance,
        chi_square: drift.chi_square.as_ref().map(chi_square_to_wire),
        level: drift.level.to_owned(),
        samples: drift.samples.clone(),
    }
}

pub fn disparity_to_wire(disparity: &Disparity) -> wire::Disparity {
    let segment = |rates: &SegmentRates| wire::SegmentRates {
        value: rates.value.clone(),
        total: rates.total,
        rates: rates.rates.clone(),
    };
    let gap = |gap: &Gap| wire::Gap {
        outcome: gap.outcome.clone(),
        high: gap.high.clone(),
        low: gap.low.clone(),
        gap: gap.gap,
    };
    let shift = |shift: &Shift| wire::Shift {
        outcome: shift.outcome.clone(),
        high: shift.high.clone(),
        low: shift.low.clone(),
        now: shift.now,
        baseline: shift.baseline,
        z: shift.z,
    };
    wire::Disparity {
        agent: disparity.agent.clone(),
        decision: disparity.decision.clone(),
        segment: disparity.segment.clone(),
        status: disparity.status.to_owned(),
        segments: disparity.segments.iter().map(segment).collect(),
        chi_square: disparity.chi_square.as_ref().map(chi_square_to_wire),
        max_gap: disparity.max_gap.as_ref().map(gap),
        baseline_gap: disparity.baseline_gap,
        change: disparity.change,
        shift: disparity.shift.as_ref().map(shift),
        samples: disparity.samples.clone(),
    }
}

pub fn anomaly_to_wire(anomaly: &Anomaly) -> wire::Anomaly {
    wire::Anomaly {
        kind: anomaly.kind.to_owned(),
        agent: anomaly.agent.clone(),
        subject: anomaly.subject.clone(),
        value: anomaly.value,
        baseline: anomaly.baseline,
        detail: anomaly.detail.clone(),
    }
}

pub fn cost_to_wire(line: &CostLine) -> wire::CostLine {
    wire::CostLine {
        scope: line.scope.to_owned(),
        agent: line.agent.clone(),
        name: line.name.clone(),
        calls: line.calls,
        errors: line.errors,
        input_tokens: line.input_tokens,
        output_tokens: line.output_tokens,
        cost_usd: line.cost_usd,
        p50_ms: line.p50_ms,
        p95_ms: line.p95_ms,
        p99_ms: line.p99_ms,
    }
}

fn approver_to_wire(stats: &ApproverStats) -> wire::ApproverStats {
    wire::ApproverStats {
        approver: stats.approver.clone(),
        decided: stats.decided,
        approved: stats.approved,
        denied: stats.denied,
        approve_ratio: stats.approve_ratio,
        median_latency_s: stats.median_latency_s,
        rubber_stamp: stats.rubber_stamp,
    }
}

pub fn oversight_to_wire(oversight: &Oversight) -> wire::Oversight {
    wire::Oversight {
        window: window_to_wire(&oversight.window),
        approvers: oversight.approvers.iter().map(approver_to_wire).collect(),
        pending: oversight.pending,
        expired: oversight.expired,
        median_latency_s: oversight.median_latency_s,
        overrides: oversight.overrides.clone(),
        escalations: oversight.escalations.clone(),
    }
}

pub fn alert_to_wire(alert: &Alert) -> wire::Alert {
    wire::Alert {
        id: alert.id.clone(),
        key: alert.key.clone(),
        rule: alert.rule.clone(),
        detector: alert.detector.clone(),
        severity: severity_to_wire(alert.severity),
        agent: alert.agent.clone(),
        subject: alert.subject.clone(),
        summary: alert.summary.clone(),
        value: alert.value,
        threshold: alert.threshold,
        related: alert.related.clone(),
        status: match alert.status {
            AlertStatus::Firing => wire::AlertStatus::Firing,
            AlertStatus::Resolved => wire::AlertStatus::Resolved,
        },
        fired_seq: alert.fired_seq,
        fired_at: alert.fired_at,
        resolved_seq: alert.resolved_seq,
        resolved_at: alert.resolved_at,
        incident: alert.incident.clone(),
    }
}

pub fn severity_to_wire(severity: Severity) -> wire::Severity {
    match severity {
        Severity::Low => wire::Severity::Low,
        Severity::Medium => wire::Severity::Medium,
        Severity::High => wire::Severity::High,
        Severity::Critical => wire::Severity::Critical,
    }
}

fn incident_status_to_wire(status: IncidentStatus) -> wire::IncidentStatus {
    match status {
        IncidentStatus::Open => wire::IncidentStatus::Open,
        IncidentStatus::Investigating => wire::IncidentStatus::Investigating,
        IncidentStatus::Mitigated => wire::IncidentStatus::Mitigated,
        IncidentStatus::Closed => wire::IncidentStatus::Closed,
    }
}

fn category_to_wire(category: Art73Category) -> wire::Art73Category {
    match category {
        Art73Category::General => wire::Art73Category::General,
        Art73Category::WidespreadOrCriticalInfrastructure => {
            wire::Art73Category::WidespreadOrCriticalInfrastructure
        }
        Art73Category::Death => wire::Art73Category::Death,
    }
}

fn clock_to_wire(clock: &Art73Clock) -> wire::Art73Clock {
    wire::Art73Clock {
        category: category_to_wire(clock.category),
        aware_at: clock.aware_at,
        deadline: clock.deadline,
        reported_at: clock.reported_at,
        overdue: clock.overdue,
    }
}

/// An incident as recorded, without its clock.
pub fn incident_to_wire(incident: &Incident) -> wire::Incident {
    let note = |note: &Note| wire::Note {
        at: note.at,
        by: note.by.clone(),
        text: note.text.clone(),
    };
    wire::Incident {
        id: incident.id.clone(),
        title: incident.title.clone(),
        severity: severity_to_wire(incident.severity),
        status: incident_status_to_wire(incident.status),
        owner: incident.owner.clone(),
        what_happened: incident.what_happened.clone(),
        detected_at: incident.detected_at,
        agent: incident.agent.clone(),
        alerts: incident.alerts.clone(),
        related_seqs: incident.related_seqs.clone(),
        checkpoint: incident.checkpoint.as_ref().map(|frozen| wire::FrozenCheckpoint {
            size: frozen.size,
            root: frozen.root.clone(),
        }),
        actions: incident.actions.iter().map(note).collect(),
        communications: incident.communications.iter().map(note).collect(),
        root_cause: incident.root_cause.clone(),
        preventive_measures: incident.preventive_measures.clone(),
        serious: incident.serious,
        category: incident.category.map(category_to_wire),
        aware_at: incident.aware_at,
        reported_at: incident.reported_at,
        closed_at: incident.closed_at,
    }
}

/// What an evaluation did, as `POST /v1/monitor/evaluate` answers.
pub fn outcome_to_wire(outcome: &IncidentOutcome) -> wire::Evaluated {
    wire::Evaluated {
        fired: outcome.fired.iter().map(alert_to_wire).collect(),
        resolved: outcome.resolved.clone(),
        opened: outcome.opened.iter().map(incident_to_wire).collect(),
        updated: outcome.updated.as_ref().map(incident_to_wire),
    }
}
