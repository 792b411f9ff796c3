//! Monitoring as operations: read the rollups for a window, run the detectors of `warrant_core::monitor`, and turn
//! alert rules into recorded alerts and incidents. Shared by the `/v1/monitor/*` routes, the evaluator that
//! runs in the server, and `warrant monitor --evaluate`.

use std::collections::BTreeMap;

use crate::ServiceError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_core::change::ChangeContext;
use warrant_core::incident::{Frozen, Incident, IncidentUpdate};
use warrant_core::monitor::detect::{
    self, Anomaly, AnomalyLimits, ApproverStats, BigramRow, BigramSpan, CostLine, DecidedApproval, Disparity,
    Drift, RubberStamp, ToolRow, ToolSpan, UsageRow, Window, Windows,
};
use warrant_core::monitor::facts::hour_of;
use warrant_core::monitor::rules::{self, Findings, Firing};
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::Detector;
use warrant_store::{AlertRun, ApprovalStatus, ChangeFilter, IncidentOp, IncidentOutcome, Store, StoreError};

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

#[derive(Debug, Clone, Serialize)]
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
    let in_window = |time: &str| {
        DateTime::parse_from_rfc3339(time)
            .is_ok_and(|time| window.contains(hour_of(&time.with_timezone(&Utc))))
    };
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
                let seconds =
                    |time: &str| DateTime::parse_from_rfc3339(time).map(|time| time.timestamp_millis());
                let latency = match (seconds(at), seconds(&approval.requested_at)) {
                    (Ok(decided), Ok(requested)) => (decided - requested).max(0) as f64 / 1000.0,
                    _ => 0.0,
                };
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
    for rule in &rules {
        let (current_hours, baseline_hours, min_samples) = rules::rule_windows(rule);
        let params = Params {
            agent: rule.agent.clone(),
            decision: rule.decision.clone(),
            current_hours,
            baseline_hours,
            min_samples,
        };
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
            },
        ));
    }
    // The change that may explain it: the agent's latest substantial modification.
    let mut changes: BTreeMap<String, Option<u64>> = BTreeMap::new();
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

/// The whole report, as `warrant monitor` prints it.
pub fn report(
    store: &Store,
    registry: &Registry,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Value, StoreError> {
    Ok(json!({
        "windows": params.windows(now),
        "drift": drift(store, params, now)?,
        "disparity": disparity(store, params, now)?,
        "anomalies": anomalies(store, registry, params, &AnomalyLimits::default(), now)?,
        "cost": cost(store, params, now)?,
        "oversight": oversight(store, params, &RubberStamp::default(), now)?,
    }))
}

/// An incident with its Art. 73 clock as of `now`.
pub fn incident_json(incident: &Incident, now: DateTime<Utc>) -> Value {
    let mut value = json!(incident);
    if let Some(object) = value.as_object_mut() {
        object.insert("art73".into(), json!(incident.art73(now)));
    }
    value
}

/// Alerts in `status` (`firing` or `resolved`; all without one).
pub fn alerts(store: &Store, status: Option<&str>) -> Result<Value, ServiceError> {
    if let Some(status) = status.filter(|status| !matches!(*status, "firing" | "resolved")) {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidQuery,
            format!("`status` is `firing` or `resolved`, not `{status}`"),
        ));
    }
    Ok(json!({"items": store.alerts(status)?}))
}

pub fn alert(store: &Store, id: &str) -> Result<Value, ServiceError> {
    let alert = store
        .alert(id)?
        .ok_or_else(|| ServiceError::not_found(format!("no alert `{id}`")))?;
    Ok(json!(alert))
}

pub fn incidents(store: &Store, now: DateTime<Utc>) -> Result<Value, ServiceError> {
    let items: Vec<Value> = store
        .incidents()?
        .iter()
        .map(|incident| incident_json(incident, now))
        .collect();
    Ok(json!({"items": items}))
}

pub fn incident(store: &Store, id: &str, now: DateTime<Utc>) -> Result<Value, ServiceError> {
    let incident = store
        .incident(id)?
        .ok_or_else(|| ServiceError::not_found(format!("no incident `{id}`")))?;
    Ok(incident_json(&incident, now))
}

/// Open an incident for an alert by hand.
pub async fn promote(store: &Store, alert: String, context: ChangeContext) -> Result<Value, ServiceError> {
    let checkpoint = frozen_checkpoint(store)?;
    let now = context.time;
    let outcome = store
        .incident_op(IncidentOp::Promote { alert, checkpoint }, context)
        .await?;
    Ok(outcome
        .opened
        .first()
        .map_or(Value::Null, |incident| incident_json(incident, now)))
}

/// Change an incident (status, owner, root cause, Art. 73 classification, ...).
pub async fn update_incident(
    store: &Store,
    id: String,
    update: IncidentUpdate,
    context: ChangeContext,
) -> Result<Value, ServiceError> {
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
    Ok(outcome
        .updated
        .as_ref()
        .map_or(Value::Null, |incident| incident_json(incident, now)))
}

/// One report by name, as of `now`: `drift`, `disparity`, `anomalies`, `cost` or `oversight`; all of them
/// without a name.
pub fn named_report(
    store: &Store,
    registry: &Registry,
    which: Option<&str>,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<Value, ServiceError> {
    let items = match which {
        None => return Ok(report(store, registry, params, now)?),
        Some("drift") => json!(drift(store, params, now)?),
        Some("disparity") => json!(disparity(store, params, now)?),
        Some("anomalies") => json!(anomalies(
            store,
            registry,
            params,
            &AnomalyLimits::default(),
            now
        )?),
        Some("cost") => json!(cost(store, params, now)?),
        Some("oversight") => return Ok(json!(oversight(store, params, &RubberStamp::default(), now)?)),
        Some(other) => {
            return Err(ServiceError::not_found(format!(
                "no report `{other}`; reports: drift, disparity, anomalies, cost, oversight"
            )));
        }
    };
    Ok(json!({"windows": params.windows(now), "items": items}))
}
