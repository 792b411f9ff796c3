//! Incidents: what happened, when it was detected, the alerts and evidence behind it (frozen as seqs plus the
//! checkpoint that covered them), what was done, the root cause and the preventive measures, and the EU AI
//! Act Art. 73 reporting clock for a serious incident.
//!
//! Art. 73: a serious incident is reported no later than 15 days after awareness; 2 days for a widespread
//! infringement or one touching critical infrastructure (Art. 3(49)(b)); 10 days in the event of a death.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use warrant_log::Seq;

use crate::registry::manifest::Severity;

/// Whether an alert's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<AlertStatus> {
        [AlertStatus::Firing, AlertStatus::Resolved]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    #[default]
    Open,
    Investigating,
    Mitigated,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentStatus> {
        match text {
            "open" => Some(IncidentStatus::Open),
            "investigating" => Some(IncidentStatus::Investigating),
            "mitigated" => Some(IncidentStatus::Mitigated),
            "closed" => Some(IncidentStatus::Closed),
            _ => None,
        }
    }
}

/// The Art. 73 deadline class of a serious incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Art73Category {
    /// 15 days.
    #[default]
    General,
    /// A widespread infringement or a serious and irreversible disruption of critical infrastructure: 2 days.
    WidespreadOrCriticalInfrastructure,
    /// The death of a person: 10 days.
    Death,
}

impl Art73Category {
    pub fn parse(text: &str) -> Option<Art73Category> {
        match text {
            "general" => Some(Art73Category::General),
            "widespread" | "critical_infrastructure" | "widespread_or_critical_infrastructure" => {
                Some(Art73Category::WidespreadOrCriticalInfrastructure)
            }
            "death" => Some(Art73Category::Death),
            _ => None,
        }
    }

    pub fn days(self) -> i64 {
        match self {
            Art73Category::General => 15,
            Art73Category::WidespreadOrCriticalInfrastructure => 2,
            Art73Category::Death => 10,
        }
    }
}

/// A note in an incident's record: an action taken or a communication made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
}

/// The checkpoint that covered an incident's evidence when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frozen {
    pub size: u64,
    pub root: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    #[serde(default)]
    pub status: IncidentStatus,
    #[serde(default)]
    pub owner: Option<String>,
    pub what_happened: String,
    pub detected_at: DateTime<Utc>,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Evidence seqs: the alert, the decisions behind it, the change that preceded it.
    #[serde(default)]
    pub related_seqs: Vec<Seq>,
    #[serde(default)]
    pub checkpoint: Option<Frozen>,
    #[serde(default)]
    pub actions: Vec<Note>,
    #[serde(default)]
    pub communications: Vec<Note>,
    #[serde(default)]
    pub root_cause: Option<String>,
    #[serde(default)]
    pub preventive_measures: Option<String>,
    #[serde(default)]
    pub serious: bool,
    #[serde(default)]
    pub category: Option<Art73Category>,
    /// When the organisation became aware; the Art. 73 clock starts here (the detection time if unset).
    #[serde(default)]
    pub aware_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// The Art. 73 clock of a serious incident, as of a moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Art73Clock {
    pub category: Art73Category,
    pub aware_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub reported_at: Option<DateTime<Utc>>,
    /// Past the deadline and not reported.
    pub overdue: bool,
}

impl Incident {
    /// The reporting clock, for a serious incident.
    pub fn art73(&self, now: DateTime<Utc>) -> Option<Art73Clock> {
        if !self.serious {
            return None;
        }
        let category = self.category.unwrap_or_default();
        let aware = self.aware_at.unwrap_or(self.detected_at);
        let deadline = aware + Duration::days(category.days());
        Some(Art73Clock {
            category,
            aware_at: aware,
            deadline,
            reported_at: self.reported_at,
            overdue: self
                .reported_at
                .map_or(now > deadline, |reported| reported > deadline),
        })
    }
}

/// A change to an incident; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    pub title: Option<String>,
    pub status: Option<String>,
    pub owner: Option<String>,
    pub what_happened: Option<String>,
    pub root_cause: Option<String>,
    pub preventive_measures: Option<String>,
    /// An action taken, appended to the record.
    pub action: Option<String>,
    /// A communication made (to the provider, an authority, the people affected), appended.
    pub communication: Option<String>,
    pub serious: Option<bool>,
    pub category: Option<String>,
    pub aware_at: Option<String>,
    pub reported_at: Option<String>,
}

impl IncidentUpdate {
    /// Apply to `incident`; returns the names of the fields that changed. An invalid value changes nothing.
    pub fn apply(
        &self,
        incident: &mut Incident,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<&'static str>, String> {
        let mut next = incident.clone();
        let mut changed = Vec::new();
        let time = |field: &str, text: &Option<String>| -> Result<Option<DateTime<Utc>>, String> {
            text.as_deref()
                .map(|text| {
                    DateTime::parse_from_rfc3339(text)
                        .map(|time| time.with_timezone(&Utc))
                        .map_err(|error| format!("`{field}`: `{text}` is not an RFC 3339 time: {error}"))
                })
                .transpose()
        };
        fn set<T: PartialEq>(
            changed: &mut Vec<&'static str>,
            field: &'static str,
            target: &mut Option<T>,
            value: Option<T>,
        ) {
            if value.is_some() && *target != value {
                *target = value;
                changed.push(field);
            }
        }
        set(&mut changed, "owner", &mut next.owner, self.owner.clone());
        set(
            &mut changed,
            "root_cause",
            &mut next.root_cause,
            self.root_cause.clone(),
        );
        set(
            &mut changed,
            "preventive_measures",
            &mut next.preventive_measures,
            self.preventive_measures.clone(),
        );
        set(
            &mut changed,
            "aware_at",
            &mut next.aware_at,
            time("aware_at", &self.aware_at)?,
        );
        set(
            &mut changed,
            "reported_at",
            &mut next.reported_at,
            time("reported_at", &self.reported_at)?,
        );
        if let Some(title) = self.title.clone().filter(|title| *title != next.title) {
            next.title = title;
            changed.push("title");
        }
        if let Some(text) = self
            .what_happened
            .clone()
            .filter(|text| *text != next.what_happened)
        {
            next.what_happened = text;
            changed.push("what_happened");
        }
        if let Some(status) = &self.status {
            let status = IncidentStatus::parse(status).ok_or_else(|| {
                format!("`status`: `{status}` is not one of open, investigating, mitigated, closed")
            })?;
            if status != next.status {
                let has_root_cause = next
                    .root_cause
                    .as_deref()
                    .is_some_and(|cause| !cause.trim().is_empty());
                if status == IncidentStatus::Closed && !has_root_cause {
                    return Err("an incident is closed with its root cause: set `root_cause`".into());
                }
                next.status = status;
                next.closed_at = (status == IncidentStatus::Closed).then_some(now);
                changed.push("status");
            }
        }
        if let Some(serious) = self.serious.filter(|serious| *serious != next.serious) {
            next.serious = serious;
            changed.push("serious");
        }
        if let Some(category) = &self.category {
            let category = Art73Category::parse(category).ok_or_else(|| {
                format!("`category`: `{category}` is not one of general, widespread, critical_infrastructure, death")
            })?;
            if next.category != Some(category) {
                next.category = Some(category);
                changed.push("category");
            }
        }
        let note = |text: &String| Note {
            at: now,
            by: by.to_owned(),
            text: text.clone(),
        };
        if let Some(action) = &self.action {
            next.actions.push(note(action));
            changed.push("actions");
        }
        if let Some(communication) = &self.communication {
            next.communications.push(note(communication));
            changed.push("communications");
        }
        *incident = next;
        Ok(changed)
    }
}

/// Clear evaluations in a row before a firing alert resolves.
pub const RESOLVE_AFTER: u64 = 3;

/// Whether a newly fired alert of `severity` opens an incident (or joins the open one for its condition).
pub fn opens_incident(severity: Severity) -> bool {
    severity >= Severity::High
}

/// What one evaluation does to an alert that is firing and was not fired again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearing {
    /// Its rule was not evaluated this time: nothing is known, nothing changes.
    Unknown,
    /// One more clear run; it resolves after [`RESOLVE_AFTER`] in a row.
    Count,
    /// It resolves: its rule is no longer in force.
    RuleGone,
}

/// The step for a firing alert of a rule `in_force` (or not) that this run `evaluated` (or not) and did not
/// fire again.
pub fn clearing(in_force: bool, evaluated: bool) -> Clearing {
    match (in_force, evaluated) {
        (false, _) => Clearing::RuleGone,
        (true, true) => Clearing::Count,
        (true, false) => Clearing::Unknown,
    }
}

/// Whether an alert with `clear_runs` clear evaluations in a row is resolved.
pub fn resolved_after(clear_runs: u64) -> bool {
    clear_runs >= RESOLVE_AFTER
}

/// What an incident opened for an alert starts from.
pub struct AlertRef<'a> {
    pub id: &'a str,
    pub rule: &'a str,
    pub subject: &'a str,
    pub summary: &'a str,
    pub severity: Severity,
    pub agent: &'a str,
    pub fired_seq: Seq,
    pub fired_at: DateTime<Utc>,
}

impl Incident {
    /// A new incident `id` for `alert`, linking its evidence: the alert's seq, `related` seqs and the
    /// checkpoint frozen with it. It was detected when monitoring fired the alert, also when promoted later by
    /// hand.
    pub fn open_for(
        id: String,
        alert: &AlertRef<'_>,
        related: Vec<Seq>,
        checkpoint: Option<Frozen>,
    ) -> Incident {
        let mut related_seqs = vec![alert.fired_seq];
        related_seqs.extend(related);
        related_seqs.dedup();
        Incident {
            id,
            title: format!("{}: {}", alert.rule, alert.subject),
            severity: alert.severity,
            status: IncidentStatus::default(),
            owner: None,
            what_happened: alert.summary.to_owned(),
            detected_at: alert.fired_at,
            agent: (!alert.agent.is_empty()).then(|| alert.agent.to_owned()),
            alerts: vec![alert.id.to_owned()],
            related_seqs,
            checkpoint,
            actions: Vec::new(),
            communications: Vec::new(),
            root_cause: None,
            preventive_measures: None,
            serious: false,
            category: None,
            aware_at: None,
            reported_at: None,
            closed_at: None,
        }
    }

    /// The same condition fired again while this incident is open: one incident, more evidence.
    pub fn join(&mut self, alert: &str, fired_seq: Seq) {
        self.alerts.push(alert.to_owned());
        self.related_seqs.push(fired_seq);
    }
}

#[cfg(test)]
mod tests {

    use chrono::{DateTime, Utc};

    use crate::registry::manifest::Severity;

    use super::{
        Clearing, Incident, IncidentUpdate, RESOLVE_AFTER, clearing, opens_incident, resolved_after,
    };

    fn incident() -> Incident {
        serde_json::from_value(serde_json::json!({
            "id": "inc-1", "title": "t", "severity": "high", "what_happened": "w",
            "detected_at": "2026-11-01T10:00:00Z"
        }))
        .unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_art73_clock_runs_from_awareness_and_goes_overdue() {
        let mut incident = incident();
        assert!(
            incident.art73(at("2026-12-30T00:00:00Z")).is_none(),
            "not serious: no clock"
        );
        let update = IncidentUpdate {
            serious: Some(true),
            category: Some("widespread".into()),
            aware_at: Some("2026-11-02T09:00:00+01:00".into()),
            ..IncidentUpdate::default()
        };
        let changed = update
            .apply(&mut incident, "dpo", at("2026-11-02T10:00:00Z"))
            .unwrap();
        assert_eq!(changed, vec!["aware_at", "serious", "category"]);
        let clock = incident.art73(at("2026-11-04T07:59:00Z")).unwrap();
        assert_eq!(clock.deadline, at("2026-11-04T08:00:00Z"));
        assert!(!clock.overdue);
        assert!(incident.art73(at("2026-11-04T08:01:00Z")).unwrap().overdue);
        // A death: 10 days; reported in time, never overdue.
        IncidentUpdate {
            category: Some("death".into()),
            reported_at: Some("2026-11-10T00:00:00Z".into()),
            ..IncidentUpdate::default()
        }
        .apply(&mut incident, "dpo", at("2026-11-10T00:00:00Z"))
        .unwrap();
        let clock = incident.art73(at("2027-01-01T00:00:00Z")).unwrap();
        assert_eq!(clock.deadline, at("2026-11-12T08:00:00Z"));
        assert!(!clock.overdue);
        // General: 15 days.
        let mut general = self::incident();
        general.serious = true;
        assert_eq!(
            general.art73(at("2026-11-16T10:00:01Z")).unwrap().deadline,
            at("2026-11-16T10:00:00Z")
        );
        assert!(general.art73(at("2026-11-16T10:00:01Z")).unwrap().overdue);
    }

    #[test]
    fn closing_needs_a_root_cause_and_bad_values_change_nothing() {
        let mut incident = incident();
        let close = IncidentUpdate {
            status: Some("closed".into()),
            ..IncidentUpdate::default()
        };
        assert!(
            close
                .apply(&mut incident, "x", Utc::now())
                .unwrap_err()
                .contains("root cause")
        );
        let bad = IncidentUpdate {
            owner: Some("o".into()),
            category: Some("flood".into()),
            ..IncidentUpdate::default()
        };
        assert!(bad.apply(&mut incident, "x", Utc::now()).is_err());
        assert_eq!(incident.owner, None, "nothing applied");
        let done = IncidentUpdate {
            status: Some("closed".into()),
            root_cause: Some("prompt v1.4 shortened the checks".into()),
            ..IncidentUpdate::default()
        };
        assert_eq!(
            done.apply(&mut incident, "x", Utc::now()).unwrap(),
            vec!["root_cause", "status"]
        );
        assert!(incident.closed_at.is_some());
    }

    #[test]
    fn an_alert_resolves_after_clear_runs_or_when_its_rule_is_gone() {
        assert_eq!(clearing(false, false), Clearing::RuleGone);
        assert_eq!(clearing(false, true), Clearing::RuleGone);
        assert_eq!(clearing(true, true), Clearing::Count);
        assert_eq!(clearing(true, false), Clearing::Unknown);
        assert!(!resolved_after(RESOLVE_AFTER - 1));
        assert!(resolved_after(RESOLVE_AFTER));
        assert!(opens_incident(Severity::High) && opens_incident(Severity::Critical));
        assert!(!opens_incident(Severity::Medium) && !opens_incident(Severity::Low));
    }
}
