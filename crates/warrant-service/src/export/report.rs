//! The documents inside an evidence bundle (SoA, gaps, crosswalk, readiness, risks, impact assessments,
//! incidents, alerts, monitoring, access reviews, approvals, the internal audit) and the one self-contained
//! HTML report an auditor opens offline: no external assets, charts as inline SVG, every claim linked to the
//! events behind it (an appendix carries those events), and a print stylesheet for PDF.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use warrant_api::monitor as monitor_wire;
use warrant_api::risk as risk_wire;
use warrant_core::compliance::report::SoaRow;
use warrant_core::event::format_time;
use warrant_core::monitor::facts::hour_of;
use warrant_store::Store;

use crate::compliance::{assess, soa_csv, soa_markdown, wire};
use crate::export::{ExportError, ExportRequest};

/// Appendix events at most (the latest referenced).
const MAX_APPENDIX: usize = 400;

/// Everything the bundle's documents hold, and what the HTML draws from.
pub struct Reports {
    pub organization: Option<String>,
    pub origin: String,
    pub key: String,
    /// (path in the bundle, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    pub soa: Vec<SoaRow>,
    pub gaps: Value,
    pub incidents: Vec<monitor_wire::IncidentView>,
    pub risks: Vec<risk_wire::Risk>,
    pub drift: Vec<monitor_wire::Drift>,
    /// Day → outcome → decisions.
    pub decisions: BTreeMap<i64, BTreeMap<String, u64>>,
    /// Day → cost in US dollars.
    pub cost: BTreeMap<i64, f64>,
    pub audit: Option<Value>,
    /// Referenced events by seq, for the appendix.
    pub appendix: BTreeMap<Seq, Value>,
    /// The seqs the bundle carries: `[start, end)`.
    pub range: (u64, u64),
    /// The time the reports are as of: the period's end, or the export when the period has not ended.
    pub as_of: DateTime<Utc>,
}

/// What the bundle's checkpoints and events cover, for the report's header.
pub struct Seal {
    pub start_size: u64,
    pub end_size: u64,
    pub end_root: String,
    pub events: u64,
    pub in_period: u64,
    /// When the bundle was written.
    pub generated: DateTime<Utc>,
}

fn json_bytes(value: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// What `as_of` is, in words: the period's end, or the export for a period not over.
fn as_of_is(as_of: DateTime<Utc>, request: &ExportRequest) -> &'static str {
    if as_of < request.to {
        "the export, as the period has not ended"
    } else {
        "the period's end"
    }
}

/// The SoA's Markdown with the time its statuses are as of, under its "Generated" line.
fn with_as_of(mut markdown: String, as_of: DateTime<Utc>, request: &ExportRequest) -> String {
    let line = format!(
        "- As of: {} ({}; the evidence rules' clocks are set to it)\n",
        as_of.format("%Y-%m-%d %H:%M UTC"),
        as_of_is(as_of, request)
    );
    let at = markdown.find("\n- Generated:").and_then(|generated| {
        let rest = markdown.get(generated + 1..)?;
        Some(generated + 1 + rest.find('\n')? + 1)
    });
    match at {
        Some(at) => markdown.insert_str(at, &line),
        None => markdown.push_str(&format!("\n{line}")),
    }
    markdown
}

fn failed(error: impl std::fmt::Display) -> ExportError {
    ExportError::Other(error.to_string())
}

/// Build every report of the bundle (blocking reads; called from the export), as of `as_of`: the period's
/// end (or the export, for a period not over yet). The clocks are set to it (the assessment and its evidence
/// windows, the crosswalk's date, the risk analysis, incidents' Art. 73 deadlines, access reviews due,
/// approvals expired, the monitoring windows); what they read is the store as it stands at the export.
pub async fn reports(
    store: &Store,
    request: &ExportRequest,
    reviews: &[Value],
    start_size: u64,
    end_size: u64,
    as_of: DateTime<Utc>,
    generated: DateTime<Utc>,
) -> Result<Reports, ExportError> {
    let now = as_of;
    let assessment = assess(store, now).map_err(|error| failed(error.message))?;
    let registry = assessment.registry.clone();
    let soa = assessment.soa().map_err(|error| failed(error.message))?;
    let gaps = json!(wire::gaps(
        &assessment.gaps().map_err(|error| failed(error.message))?
    ));
    let crosswalk = json!(wire::crosswalk(
        &assessment
            .crosswalk(now.date_naive())
            .map_err(|error| failed(error.message))?
    ));
    let (findings, classification) = crate::risk::analysis(store, &registry, now)?;
    let risks: Vec<_> = store.risks()?.iter().map(crate::risk::risk_to_wire).collect();
    let findings: Vec<_> = findings.iter().map(crate::risk::finding_to_wire).collect();
    let classification: Vec<_> = classification
        .iter()
        .map(crate::risk::classification_to_wire)
        .collect();
    let incidents: Vec<_> = store
        .incidents()?
        .iter()
        .map(|incident| crate::monitor::incident_view_told(store, incident, now))
        .collect::<Result<_, _>>()
        .map_err(|error| failed(error.message))?;
    let alerts: Vec<_> = store
        .alerts(None)?
        .iter()
        .map(crate::monitor::alert_to_wire)
        .collect();
    let params: crate::monitor::Params = serde_json::from_value(json!({})).map_err(failed)?;
    let monitoring = crate::monitor::full_report(store, &registry, &params, now)?;
    let mut impacts = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for agent in registry.agents() {
        let stored = store.impact_versions(&agent.id)?;
        if let Some(latest) = stored.last() {
            let version = json!(crate::risk::impact_version_to_wire(latest));
            files.push((
                format!("reports/impact/{}.md", agent.id),
                latest.assessment.to_markdown(Some(&version)).into_bytes(),
            ));
        }
        let versions: Vec<_> = stored.iter().map(crate::risk::impact_version_to_wire).collect();
        if !versions.is_empty() {
            impacts.push(json!({"agent": agent.id, "versions": versions}));
        }
    }
    let audits = store.audits()?;
    let audit = audits.first().map(|audit| audit.report.clone());
    let checkpoint = store.latest_checkpoint()?;
    files.extend([
        (
            "reports/soa.json".to_owned(),
            json_bytes(&json!({"controls": soa.iter().map(wire::soa_row).collect::<Vec<_>>()})),
        ),
        ("reports/soa.csv".to_owned(), soa_csv(&soa).into_bytes()),
        (
            "reports/soa.md".to_owned(),
            with_as_of(
                soa_markdown(
                    registry.organization().map(|org| org.name.as_str()),
                    checkpoint.as_ref(),
                    &soa,
                    generated,
                ),
                as_of,
                request,
            )
            .into_bytes(),
        ),
        ("reports/gaps.json".to_owned(), json_bytes(&gaps)),
        ("reports/crosswalk.json".to_owned(), json_bytes(&crosswalk)),
        (
            "reports/risks.json".to_owned(),
            json_bytes(&json!({"register": risks, "findings": findings, "classification": classification})),
        ),
        (
            "reports/impact-assessments.json".to_owned(),
            json_bytes(&json!(impacts)),
        ),
        ("reports/incidents.json".to_owned(), json_bytes(&json!(incidents))),
        ("reports/alerts.json".to_owned(), json_bytes(&json!(alerts))),
        ("reports/monitoring.json".to_owned(), json_bytes(&monitoring)),
        (
            "reports/access-reviews.json".to_owned(),
            json_bytes(&json!({
                "due": warrant_core::reviews::due(&registry, now.date_naive()),
                "recorded_in_period": reviews,
            })),
        ),
        (
            "reports/approvals.json".to_owned(),
            json_bytes(&json!(
                store
                    .approvals(None, now)?
                    .iter()
                    .map(crate::approvals::to_wire)
                    .collect::<Vec<_>>()
            )),
        ),
    ]);
    if let Some(audit) = &audit {
        files.push(("reports/internal-audit.json".to_owned(), json_bytes(audit)));
    }

    // Charts: decisions per day by outcome, and model cost per day, over the period.
    let (from_hour, to_hour) = (hour_of(&request.from), hour_of(&request.to));
    let mut decisions: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    for row in store.decision_rows(from_hour, to_hour)? {
        *decisions
            .entry(row.hour.div_euclid(24))
            .or_default()
            .entry(format!("{}: {}", row.name, row.outcome))
            .or_default() += row.count;
    }
    let mut cost: BTreeMap<i64, f64> = BTreeMap::new();
    for row in store.usage_rows(from_hour, to_hour)? {
        if row.scope == "model" {
            *cost.entry(row.hour.div_euclid(24)).or_default() += row.cost_usd;
        }
    }

    // The events the documents cite, within the bundle's range.
    let mut cited: BTreeSet<Seq> = BTreeSet::new();
    cited.extend(soa.iter().flat_map(|row| row.sample_seqs.iter().copied()));
    for incident in &incidents {
        cited.extend(incident.incident.related_seqs.iter().copied());
        cited.extend(
            incident
                .notifications
                .iter()
                .filter_map(|delivery| delivery.last_seq),
        );
    }
    let mut appendix = BTreeMap::new();
    for seq in cited
        .into_iter()
        .rev()
        .filter(|seq| seq.within(end_size))
        .take(MAX_APPENDIX)
    {
        if seq.get() < start_size {
            continue;
        }
        if let Some(event) = store.event(seq)? {
            // An agent filter withholds other agents' events from the bundle, and so from its report.
            let agent = event.body.get("agent").and_then(Value::as_str);
            if request.agents.is_empty()
                || agent.is_none_or(|agent| request.agents.iter().any(|a| a == agent))
            {
                appendix.insert(seq, event.body);
            }
        }
    }
    Ok(Reports {
        range: (start_size, end_size),
        as_of,
        organization: registry.organization().map(|org| org.name.clone()),
        origin: store.origin().to_owned(),
        key: store.verifier_key().to_owned(),
        files,
        soa,
        gaps,
        incidents,
        risks,
        drift: monitoring.drift.clone(),
        decisions,
        cost,
        audit,
        appendix,
    })
}

/// HTML-escape text.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A link to a cited event: to the appendix when it is there, else its place in the events file, or a plain
/// note that the bundle does not carry it.
fn seq_link(seq: Seq, reports: &Reports) -> String {
    if reports.appendix.contains_key(&seq) {
        format!("<a href=\"#seq-{seq}\">#{seq}</a>")
    } else if (reports.range.0..reports.range.1).contains(&seq.get()) {
        format!("<span title=\"in events.ndjson\">#{seq}</span>")
    } else {
        format!(
            "<span class=\"muted\" title=\"outside this bundle's checkpoints\">#{seq} (not in this bundle)</span>"
        )
    }
}

fn plural(count: u64, word: &str) -> String {
    format!("{count} {word}{}", if count == 1 { "" } else { "s" })
}

fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|time| time.format("%m-%d").to_string())
        .unwrap_or_default()
}

/// A chart with nothing to draw says so, in place.
fn empty_chart(id: &str, message: &str) -> String {
    format!(
        "<svg class=\"chart\" id=\"{id}\" viewBox=\"0 0 720 40\" role=\"img\" aria-label=\"{message}\"><text x=\"10\" y=\"25\" font-size=\"12\" fill=\"#718096\">{message}</text></svg>"
    )
}

const PALETTE: [&str; 8] = [
    "#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#718096", "#b7791f", "#319795",
];

/// The same series gets the same colour in every bundle: chosen by its name, not its position.
fn colour(name: &str) -> &'static str {
    let hash = name.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u32::from(byte))
    });
    PALETTE
        .get(hash as usize % PALETTE.len())
        .copied()
        .unwrap_or("#000")
}

/// Stacked bars of decisions per day by outcome.
fn decisions_chart(decisions: &BTreeMap<i64, BTreeMap<String, u64>>) -> String {
    if decisions.is_empty() {
        return empty_chart("chart-decisions", "No decisions in the period");
    }
    let outcomes: BTreeSet<&str> = decisions
        .values()
        .flat_map(|day| day.keys().map(String::as_str))
        .collect();
    let outcomes: Vec<&str> = outcomes.into_iter().collect();
    let max = decisions
        .values()
        .map(|day| day.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let (width, height, left, bottom) = (720.0, 220.0, 40.0, 30.0);
    let bar = (width - left) / decisions.len() as f64;
    let mut svg = format!(
        "<svg class=\"chart\" id=\"chart-decisions\" viewBox=\"0 0 {width} {}\" role=\"img\" aria-label=\"Decisions per day by outcome\">",
        height + 8.0 + outcomes.len().div_ceil(3) as f64 * 14.0
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{width}\" y2=\"{}\" stroke=\"#999\"/><text x=\"0\" y=\"12\" font-size=\"10\">{max}</text>",
        height - bottom,
        height - bottom
    );
    for (index, (day, counts)) in decisions.iter().enumerate() {
        let x = left + index as f64 * bar;
        let mut y = height - bottom;
        for outcome in &outcomes {
            let count = counts.get(*outcome).copied().unwrap_or(0);
            let h = (height - bottom - 10.0) * count as f64 / max as f64;
            y -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {count}</title></rect>",
                (bar - 2.0).max(1.0),
                colour(outcome),
                day_label(*day),
                esc(outcome)
            );
        }
        if index % decisions.len().div_ceil(10).max(1) == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{}\" font-size=\"9\">{}</text>",
                height - bottom + 12.0,
                day_label(*day)
            );
        }
    }
    // The legend, three series a row.
    for (index, outcome) in outcomes.iter().enumerate() {
        let (x, y) = (
            left + (index % 3) as f64 * 230.0,
            height + 2.0 + (index / 3) as f64 * 14.0,
        );
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>",
            colour(outcome),
            x + 14.0,
            y + 9.0,
            esc(outcome)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A line of model cost per day.
fn cost_chart(cost: &BTreeMap<i64, f64>) -> String {
    if cost.is_empty() {
        return empty_chart("chart-cost", "No model usage in the period");
    }
    let max = cost.values().copied().fold(0.0_f64, f64::max).max(0.000_001);
    let (width, height, left) = (720.0, 160.0, 50.0);
    let step = (width - left) / (cost.len().max(2) - 1) as f64;
    let points: Vec<String> = cost
        .values()
        .enumerate()
        .map(|(index, value)| {
            format!(
                "{:.1},{:.1}",
                left + index as f64 * step,
                height - 20.0 - (height - 30.0) * value / max
            )
        })
        .collect();
    format!(
        "<svg class=\"chart\" id=\"chart-cost\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Model cost per day\"><text x=\"0\" y=\"12\" font-size=\"10\">${max:.2}</text><line x1=\"{left}\" y1=\"{}\" x2=\"{width}\" y2=\"{}\" stroke=\"#999\"/><polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"2\" points=\"{}\"/><text x=\"{left}\" y=\"{}\" font-size=\"9\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"9\">{}</text></svg>",
        height - 20.0,
        height - 20.0,
        points.join(" "),
        height - 5.0,
        cost.keys().next().map(|day| day_label(*day)).unwrap_or_default(),
        width - 40.0,
        height - 5.0,
        cost.keys().last().map(|day| day_label(*day)).unwrap_or_default()
    )
}

/// Bars of the drift PSI per decision, with the alert threshold.
fn drift_chart(drift: &[monitor_wire::Drift]) -> String {
    let items: Vec<(String, f64)> = drift
        .iter()
        .filter_map(|item| Some((format!("{} / {}", item.agent, item.decision), item.psi?)))
        .collect();
    if items.is_empty() {
        return empty_chart("chart-drift", "Not enough decisions for a drift measure");
    }
    let max = items.iter().map(|(_, psi)| *psi).fold(0.25_f64, f64::max);
    let (width, row) = (720.0, 22.0);
    let height = row * items.len() as f64 + 10.0;
    let mut svg = format!(
        "<svg class=\"chart\" id=\"chart-drift\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Decision drift (PSI)\">"
    );
    let scale = (width - 300.0) / max;
    for (index, (label, psi)) in items.iter().enumerate() {
        let y = 4.0 + index as f64 * row;
        let color = if *psi >= 0.25 { "#c53030" } else { "#38a169" };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"10\">{}</text><rect x=\"250\" y=\"{y:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\"><title>PSI {psi:.3}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{psi:.3}</text>",
            y + 11.0,
            esc(label),
            (psi * scale).max(1.0),
            254.0 + psi * scale,
            y + 11.0
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{:.1}\" y1=\"0\" x2=\"{:.1}\" y2=\"{height}\" stroke=\"#c53030\" stroke-dasharray=\"4 3\"><title>alert threshold 0.25</title></line></svg>",
        250.0 + 0.25 * scale,
        250.0 + 0.25 * scale
    );
    svg
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1a202c;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #e2e8f0;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}th,td{border:1px solid #e2e8f0;padding:.3rem .4rem;text-align:left;vertical-align:top}
th{background:#f7fafc}.muted{color:#718096}code.wrap{word-break:break-all;white-space:normal}.ok{color:#276749;font-weight:600}.bad{color:#c53030;font-weight:600}
.status-implemented{color:#276749}.status-partial{color:#b7791f}.status-not_started,.status-planned{color:#c53030}.status-excluded{color:#718096}
.chart{width:100%;height:auto;border:1px solid #e2e8f0;margin:.5rem 0}pre{white-space:pre-wrap;word-break:break-all;font-size:.75rem;background:#f7fafc;padding:.4rem}
.summary td{font-size:.95rem}@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}table,svg,section{page-break-inside:auto}tr{page-break-inside:avoid}a{color:inherit;text-decoration:none}}";

/// The self-contained HTML report.
pub fn html(reports: &Reports, seal: &Seal, request: &ExportRequest) -> String {
    let Seal {
        start_size,
        end_size,
        end_root,
        events,
        in_period,
        generated,
    } = seal;
    let organization = reports
        .organization
        .clone()
        .unwrap_or_else(|| "(organisation not declared)".into());
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evidence report: {org}</title><style>{STYLE}</style></head><body>\
<header id=\"summary\"><h1>Evidence report: {org}</h1><p class=\"muted\">ISO/IEC 42001 and EU AI Act evidence from warrant's tamper-evident log</p>\
<table class=\"summary\"><tr><th>Period</th><td>{from} to {to}</td></tr><tr><th>Log</th><td>{origin}</td></tr>\
<tr><th>Checkpoints</th><td>start {start_size} events, end {end_size} events, end root <code class=\"wrap\">{end_root}</code>{consistency}</td></tr>\
<tr><th>Events</th><td>{events_text} between the checkpoints ({in_period} received in the period){filter}</td></tr>\
<tr><th>Verification</th><td id=\"verification\">This page does not verify itself. Run <code class=\"wrap\">warrant verify BUNDLE --key KEY</code> \
with the log key you hold (this log's key is <code class=\"wrap\">{key}</code>: compare it, and the end root above, with what you received \
before). It checks the manifest's signature, every file's hash and both checkpoints, and rebuilds the end root from the start checkpoint and \
every event, so a changed, dropped, reordered or withheld event fails. The reports are warrant's statements as of {as_of} ({as_of_is}): \
deadlines, reviews due and evidence windows are judged at that time, from the records warrant held at the export. They are sealed by \
their hashes, not recomputed from the events.</td></tr><tr><th>Reports as of</th><td id=\"as-of\">{as_of} ({as_of_is})</td></tr>\
<tr><th>Generated</th><td>{generated} (when the bundle was exported)</td></tr></table></header>",
        org = esc(&organization),
        from = esc(&warrant_core::event::format_time(&request.from)),
        to = esc(&warrant_core::event::format_time(&request.to)),
        origin = esc(&reports.origin),
        key = esc(&reports.key),
        end_root = esc(end_root),
        consistency = if *start_size == 0 {
            "; the period starts at the empty log".to_owned()
        } else {
            "; the consistency proof between them is in <code>proofs/</code>".to_owned()
        },
        events_text = plural(*events, "event"),
        filter = if request.agents.is_empty() {
            String::new()
        } else {
            format!("; in full only for {}", esc(&request.agents.join(", ")))
        },
        as_of = esc(&warrant_core::event::format_time(&reports.as_of)),
        as_of_is = as_of_is(reports.as_of, request),
        generated = esc(&warrant_core::event::format_time(generated)),
    );
    // Statement of Applicability.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &reports.soa {
        *counts.entry(row.status.as_str()).or_default() += 1;
    }
    let _ = write!(
        out,
        "<section id=\"soa\"><h2>Statement of Applicability (ISO/IEC 42001 Annex A)</h2><p>{}</p><table><tr><th>Control</th><th>Applicable</th><th>Status</th><th>Owner</th><th>Evidence</th><th>Justification</th></tr>",
        counts
            .iter()
            .map(|(status, count)| format!("{count} {}", status.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    for row in &reports.soa {
        let links: Vec<String> = row
            .sample_seqs
            .iter()
            .map(|seq| seq_link(*seq, reports))
            .collect();
        let basis: Vec<String> = row.rules.iter().map(|rule| esc(&rule.reason)).collect();
        let _ = write!(
            out,
            "<tr><td>{} {}</td><td>{}</td><td class=\"status-{}\">{}</td><td>{}</td><td>{} {}</td><td>{}<br><span class=\"muted\">{}</span></td></tr>",
            esc(&row.control),
            esc(&row.title),
            if row.applicable { "yes" } else { "no" },
            row.status.as_str(),
            row.status.as_str().replace('_', " "),
            esc(&row.owner),
            plural(row.evidence_count, "event"),
            links.join(" "),
            esc(&row.justification),
            basis.join("; ")
        );
    }
    out.push_str("</table></section>");
    // Gaps.
    let _ = write!(
        out,
        "<section id=\"gaps\"><h2>Gaps</h2><p>Annex A controls: {} have, {} partial, {} missing; clauses 4-10: {} have, {} partial, {} missing.</p><table><tr><th>Item</th><th>Gap</th><th>Why</th><th>Next step</th></tr>",
        text(&reports.gaps, "/controls_summary/have"),
        text(&reports.gaps, "/controls_summary/partial"),
        text(&reports.gaps, "/controls_summary/missing"),
        text(&reports.gaps, "/clauses_summary/have"),
        text(&reports.gaps, "/clauses_summary/partial"),
        text(&reports.gaps, "/clauses_summary/missing"),
    );
    for group in ["/controls", "/clauses"] {
        for row in reports
            .gaps
            .pointer(group)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|row| {
                matches!(
                    row.get("gap").and_then(Value::as_str),
                    Some("partial" | "missing")
                )
            })
        {
            let _ = write!(
                out,
                "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&text(row, "/id")),
                esc(&text(row, "/title")),
                esc(&text(row, "/gap")),
                esc(&text(row, "/reason")),
                esc(&text(row, "/next_step"))
            );
        }
    }
    out.push_str("</table></section>");
    // Incidents with their trails of evidence.
    out.push_str("<section id=\"incidents\"><h2>Incidents</h2>");
    if reports.incidents.is_empty() {
        out.push_str("<p class=\"muted\">No incidents.</p>");
    }
    for monitor_wire::IncidentView {
        incident,
        notifications,
        ..
    } in &reports.incidents
    {
        let related: Vec<String> = incident
            .related_seqs
            .iter()
            .map(|seq| seq_link(*seq, reports))
            .collect();
        let _ = write!(
            out,
            "<h3>{} [{}] {}</h3><p>{}</p><p>Status {}; owner {}; detected {}; root cause: {}. Evidence frozen at checkpoint {}. Trail: {}</p>",
            esc(&incident.id),
            incident.severity.as_str(),
            esc(&incident.title),
            esc(&incident.what_happened),
            incident.status.as_str(),
            esc(incident.owner.as_deref().unwrap_or_default()),
            format_time(&incident.detected_at),
            esc(incident.root_cause.as_deref().unwrap_or_default()),
            incident
                .checkpoint
                .as_ref()
                .map(|frozen| frozen.size.to_string())
                .unwrap_or_default(),
            related.join(" → ")
        );
        // Who was told, what and when (A.8.4): each delivery, with the event of its last attempt.
        if !notifications.is_empty() {
            out.push_str("<p>Told:</p><ul>");
            for delivery in notifications {
                let _ = write!(
                    out,
                    "<li>{} ({}): {} — {} after {} attempt(s){}{}</li>",
                    esc(delivery.audience.as_deref().unwrap_or(&delivery.notifier)),
                    esc(&delivery.topic),
                    esc(&delivery.title),
                    esc(&delivery.state),
                    delivery.attempts,
                    delivery
                        .delivered_at
                        .map(|at| format!(", {}", format_time(&at)))
                        .unwrap_or_default(),
                    delivery
                        .last_seq
                        .map(|seq| format!(", event {}", seq_link(seq, reports)))
                        .unwrap_or_default(),
                );
            }
            out.push_str("</ul>");
        }
    }
    out.push_str("</section>");
    // Risks.
    out.push_str("<section id=\"risks\"><h2>Risk register</h2><table><tr><th>Risk</th><th>Level</th><th>Status</th><th>Treatment</th><th>Owner</th><th>Review</th></tr>");
    let mut risks: Vec<&risk_wire::Risk> = reports
        .risks
        .iter()
        .filter(|risk| risk.status != risk_wire::RiskStatus::Closed)
        .collect();
    risks.sort_by_key(|risk| std::cmp::Reverse(risk.score));
    let shown = risks.len().min(25);
    for risk in risks.iter().take(shown) {
        let _ = write!(
            out,
            "<tr><td>{}<br><span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&risk.id),
            esc(&risk.summary),
            esc(&risk.level),
            risk.status.as_str(),
            risk.treatment
                .map(risk_wire::Treatment::as_str)
                .unwrap_or_default(),
            esc(&risk.owner),
            risk.review_due
        );
    }
    out.push_str("</table>");
    if risks.len() > shown {
        let _ = write!(
            out,
            "<p class=\"muted\">The {shown} highest of {} risks not closed; all are in <code>reports/risks.json</code>.</p>",
            risks.len()
        );
    }
    out.push_str("</section>");
    // Monitoring charts.
    let _ = write!(
        out,
        "<section id=\"monitoring\"><h2>Monitoring</h2><h3>Decisions per day, by outcome</h3>{}<h3>Decision drift (population stability index; alert at 0.25)</h3>{}<h3>Model cost per day (US dollars)</h3>{}</section>",
        decisions_chart(&reports.decisions),
        drift_chart(&reports.drift),
        cost_chart(&reports.cost)
    );
    // Internal audit.
    out.push_str("<section id=\"audit\"><h2>Internal audit</h2>");
    match &reports.audit {
        None => out.push_str("<p class=\"muted\">No internal audit has run.</p>"),
        Some(audit) => {
            let _ = write!(
                out,
                "<p>{} ({}): {} evidence items' inclusion proofs verified; {} nonconformities.</p><table><tr><th>Nonconformity</th><th>Grade</th><th>Finding</th><th>Owner</th><th>Due</th></tr>",
                esc(&text(audit, "/id")),
                esc(&text(audit, "/at")),
                esc(&text(audit, "/summary/items_verified")),
                esc(&text(audit, "/summary/nonconformities"))
            );
            for nc in audit
                .get("nonconformities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&text(nc, "/id")),
                    esc(&text(nc, "/grade")),
                    esc(&text(nc, "/finding")),
                    esc(&text(nc, "/owner")),
                    esc(&text(nc, "/due"))
                );
            }
            out.push_str("</table>");
        }
    }
    out.push_str("</section>");
    // The cited events.
    let _ = write!(
        out,
        "<section id=\"events\"><h2>Cited events</h2><p class=\"muted\">Each event as the log committed it (content as salted digests); its line in <code>events.ndjson</code> carries its leaf hash. At most the latest {MAX_APPENDIX} cited events{}.</p>",
        if request.agents.is_empty() {
            ""
        } else {
            "; other agents' events are withheld"
        }
    );
    for (seq, body) in &reports.appendix {
        let _ = write!(
            out,
            "<div id=\"seq-{seq}\"><h4>#{seq} {} {} <span class=\"muted\">written by {}</span></h4><pre>{}</pre></div>",
            esc(&text(body, "/kind")),
            esc(&text(body, "/agent")),
            esc(&text(body, "/principal/name")),
            esc(&serde_json::to_string_pretty(body).unwrap_or_default())
        );
    }
    out.push_str("</section></body></html>\n");
    out
}
