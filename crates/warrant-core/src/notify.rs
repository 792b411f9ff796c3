//! Notifications, the pure part: the topics warrant tells people about, which `Notifier` wants a notice
//! (its topics, agents, groups and severity floor), the message as generic JSON or for a Slack-compatible
//! webhook, and the retry policy (the backoff, and which answers are worth retrying).
//!
//! Who sends, when and how it is recorded is the service layer's (`warrant_service::notify`); a notice is
//! built there from the approval, alert, incident or review it is about.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::registry::Registry;
use crate::registry::manifest::{Notifier, NotifierFormat, Severity};

/// What a notice is about. The spelling (`approval.requested`) is what manifests list and bodies carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Topic {
    ApprovalRequested,
    ApprovalDecided,
    AlertFired,
    AlertResolved,
    IncidentOpened,
    IncidentUpdated,
    /// An incident's EU AI Act Art. 73 reporting deadline has passed without a report.
    IncidentOverdue,
    /// A tool grant's access review is due (or past due).
    ReviewDue,
    /// `warrant notifiers test`: a message that says only that the channel works.
    Test,
}

impl Topic {
    pub const ALL: [Topic; 9] = [
        Topic::ApprovalRequested,
        Topic::ApprovalDecided,
        Topic::AlertFired,
        Topic::AlertResolved,
        Topic::IncidentOpened,
        Topic::IncidentUpdated,
        Topic::IncidentOverdue,
        Topic::ReviewDue,
        Topic::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::ApprovalRequested => "approval.requested",
            Topic::ApprovalDecided => "approval.decided",
            Topic::AlertFired => "alert.fired",
            Topic::AlertResolved => "alert.resolved",
            Topic::IncidentOpened => "incident.opened",
            Topic::IncidentUpdated => "incident.updated",
            Topic::IncidentOverdue => "incident.overdue",
            Topic::ReviewDue => "review.due",
            Topic::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == text)
    }

    /// The kind of record a notice on this topic is about (`approval`, `alert`, `incident`, `review`).
    pub fn about_kind(self) -> &'static str {
        match self {
            Topic::ApprovalRequested | Topic::ApprovalDecided => "approval",
            Topic::AlertFired | Topic::AlertResolved => "alert",
            Topic::IncidentOpened | Topic::IncidentUpdated | Topic::IncidentOverdue => "incident",
            Topic::ReviewDue => "review",
            Topic::Test => "notifier",
        }
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to tell: what happened, to which record, for which agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub topic: Topic,
    /// The record's id (an approval, alert or incident id; `agent/tool` for a review).
    pub about: String,
    pub agent: Option<String>,
    pub severity: Option<Severity>,
    /// One line a person reads first.
    pub title: String,
    /// Labelled lines under it, in order.
    pub details: Vec<(String, String)>,
    /// Where a person acts on it (the console's page), when there is one.
    pub link: Option<String>,
    pub time: DateTime<Utc>,
    /// Names the notice across plannings, so it is queued once per notifier: `approval.requested:apr_…`.
    pub key: String,
}

impl Notice {
    pub fn new(
        topic: Topic,
        about: impl Into<String>,
        title: impl Into<String>,
        time: DateTime<Utc>,
    ) -> Notice {
        let about = about.into();
        Notice {
            key: format!("{topic}:{about}"),
            topic,
            about,
            agent: None,
            severity: None,
            title: title.into(),
            details: Vec::new(),
            link: None,
            time,
        }
    }

    pub fn detail(mut self, label: &str, value: impl Into<String>) -> Notice {
        self.details.push((label.to_owned(), value.into()));
        self
    }
}

impl Notifier {
    /// Whether this notifier wants `notice`: its topic is listed (or none are), it is about one of the
    /// listed agents or an agent of a listed group (or neither is listed), and an alert or incident is at or
    /// above the severity floor. A test message goes to the notifier it names whatever its filters.
    pub fn wants(&self, notice: &Notice, registry: &Registry) -> bool {
        if notice.topic == Topic::Test {
            return true;
        }
        if !self.topics.is_empty() && !self.topics.iter().any(|topic| topic == notice.topic.as_str()) {
            return false;
        }
        if let (Some(floor), Some(severity)) = (self.min_severity, notice.severity)
            && severity < floor
        {
            return false;
        }
        if self.agents.is_empty() && self.groups.is_empty() {
            return true;
        }
        let Some(agent) = notice.agent.as_deref() else {
            // A notice about no agent cannot match an agent filter.
            return false;
        };
        self.agents.iter().any(|listed| listed == agent)
            || registry
                .agent(agent)
                .and_then(|manifest| manifest.group.as_deref())
                .is_some_and(|group| self.groups.iter().any(|listed| listed == group))
    }

    /// How long a failing delivery is retried.
    pub fn retry_window(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::from(self.retry_seconds.unwrap_or(24 * 3600)))
    }
}

/// The body sent for `notice` in `format`. `delivery` is the delivery's id, also sent as `webhook-id`.
pub fn body(notice: &Notice, format: NotifierFormat, delivery: &str) -> Value {
    match format {
        NotifierFormat::Json => {
            let mut about = Map::new();
            about.insert("kind".into(), notice.topic.about_kind().into());
            about.insert("id".into(), notice.about.clone().into());
            let details: Map<String, Value> = notice
                .details
                .iter()
                .map(|(label, value)| (label.clone(), Value::String(value.clone())))
                .collect();
            json!({
                "id": delivery,
                "type": notice.topic.as_str(),
                "time": notice.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "about": about,
                "agent": notice.agent,
                "severity": notice.severity.map(Severity::as_str),
                "title": notice.title,
                "details": details,
                "link": notice.link,
            })
        }
        NotifierFormat::Slack => {
            let mut text = format!("*{}*", slack_escape(&notice.title));
            for (label, value) in &notice.details {
                text.push_str(&format!("\n*{}:* {}", slack_escape(label), slack_escape(value)));
            }
            if let Some(link) = &notice.link {
                text.push_str(&format!("\n<{link}|Open in warrant>"));
            }
            json!({
                "text": format!("[warrant] {}", notice.title),
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                        "{} · {} · delivery {}", notice.topic, notice.about, delivery
                    )}]}
                ]
            })
        }
    }
}

/// Slack's mrkdwn reserves `&`, `<` and `>`.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth trying again: the receiver was unreachable, timed out, overloaded or failing.
    Retry,
    /// The receiver refused the message itself (a 4xx other than 408 and 429): sending it again changes nothing.
    Refused,
}

/// The verdict for an HTTP status, or for no answer at all (`None`: connection refused, timeout, TLS).
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(408 | 429) | None => Verdict::Retry,
        Some(400..=499) => Verdict::Refused,
        Some(_) => Verdict::Retry,
    }
}

/// The wait before attempt `failed + 1`, after `failed` failed attempts: 1 s doubling to at most 10 min,
/// spread by up to a fifth (from `spread`, a number drawn for the delivery) so receivers coming back from an
/// outage are not hit by every queued delivery at once.
pub fn retry_delay(failed: u32, spread: u64) -> chrono::Duration {
    let base_ms: i64 = 1000i64.saturating_mul(1i64 << failed.saturating_sub(1).min(20));
    let base_ms = base_ms.min(600_000);
    let jitter = (spread % 1000) as i64 * base_ms / 5000;
    chrono::Duration::milliseconds(base_ms + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let text = "\
kind: Group
id: payments
limits: []
---
kind: Tool
id: t
access: read
egress: internal
---
kind: Agent
id: pay-agent
purpose: pays
owner: ops
risk_class: high
decision_scope: execute
group: payments
oversight: human-in-the-loop
---
kind: Agent
id: chat
purpose: talks
owner: ops
risk_class: limited
decision_scope: recommend
oversight: human-in-the-loop
";
        let mut registry = Registry::default();
        let plan = registry.plan_apply(text).expect("valid registry");
        registry.apply(&plan.changes);
        registry
    }

    fn notifier(extra: &str) -> Notifier {
        let text = format!("kind: Notifier\nid: n\nurl: https://hooks.example/x\nsecret_env: S\n{extra}");
        let plan = registry().plan_apply(&text).expect("valid notifier");
        let spec = plan.changes[0].spec.clone().expect("a spec");
        serde_json::from_value(spec).expect("a notifier")
    }

    fn notice(topic: Topic, agent: &str, severity: Option<Severity>) -> Notice {
        let mut notice = Notice::new(topic, "x", "t", Utc::now());
        notice.agent = Some(agent.into());
        notice.severity = severity;
        notice
    }

    #[test]
    fn a_notifier_filters_by_topic_agent_group_and_severity() {
        let registry = registry();
        let all = notifier("");
        assert!(all.wants(&notice(Topic::AlertFired, "chat", Some(Severity::Low)), &registry));

        let incidents = notifier("topics: [incident.opened]\nmin_severity: high\n");
        assert!(!incidents.wants(
            &notice(Topic::AlertFired, "chat", Some(Severity::High)),
            &registry
        ));
        assert!(!incidents.wants(
            &notice(Topic::IncidentOpened, "chat", Some(Severity::Medium)),
            &registry
        ));
        assert!(incidents.wants(
            &notice(Topic::IncidentOpened, "chat", Some(Severity::Critical)),
            &registry
        ));
        // Approvals have no severity: a floor does not hold them back.
        let approvals = notifier("min_severity: critical\n");
        assert!(approvals.wants(&notice(Topic::ApprovalRequested, "chat", None), &registry));

        let by_group = notifier("groups: [payments]\n");
        assert!(by_group.wants(&notice(Topic::ApprovalRequested, "pay-agent", None), &registry));
        assert!(!by_group.wants(&notice(Topic::ApprovalRequested, "chat", None), &registry));
        let by_agent = notifier("agents: [chat]\n");
        assert!(by_agent.wants(&notice(Topic::ApprovalRequested, "chat", None), &registry));
        assert!(!by_agent.wants(&notice(Topic::ApprovalRequested, "pay-agent", None), &registry));
    }

    #[test]
    fn a_notifier_names_its_secret_once_and_only_known_topics() {
        let missing = Registry::default()
            .plan_apply("kind: Notifier\nid: n\nurl: https://x\ntopics: [approval.asked]\n")
            .expect_err("no secret, unknown topic");
        let messages: Vec<String> = missing.iter().map(ToString::to_string).collect();
        assert!(messages.iter().any(|m| m.contains("secret_env")), "{messages:?}");
        assert!(
            messages.iter().any(|m| m.contains("approval.asked")),
            "{messages:?}"
        );
        let not_http = Registry::default()
            .plan_apply("kind: Notifier\nid: n\nurl: ftp://x\nsecret_env: S\n")
            .expect_err("not http");
        assert!(not_http[0].to_string().contains("not an http(s) URL"));
    }

    #[test]
    fn bodies_carry_the_topic_record_and_link() {
        let mut notice = Notice::new(
            Topic::ApprovalRequested,
            "apr_1",
            "pay-agent asks to call pay",
            Utc::now(),
        )
        .detail("Tool", "pay <bank>");
        notice.link = Some("https://warrant.example/approvals/apr_1".into());
        let generic = body(&notice, NotifierFormat::Json, "ntf_1");
        assert_eq!(generic["type"], "approval.requested");
        assert_eq!(generic["about"], json!({"kind": "approval", "id": "apr_1"}));
        assert_eq!(generic["details"]["Tool"], "pay <bank>");
        assert_eq!(generic["link"], "https://warrant.example/approvals/apr_1");
        let slack = body(&notice, NotifierFormat::Slack, "ntf_1");
        let text = slack["blocks"][0]["text"]["text"].as_str().unwrap_or_default();
        assert!(text.contains("pay &lt;bank&gt;"), "{text}");
        assert!(
            text.contains("<https://warrant.example/approvals/apr_1|Open in warrant>"),
            "{text}"
        );
    }

    #[test]
    fn failures_are_retried_with_a_doubling_capped_delay() {
        assert_eq!(verdict(Some(204)), Verdict::Delivered);
        assert_eq!(verdict(Some(503)), Verdict::Retry);
        assert_eq!(verdict(Some(429)), Verdict::Retry);
        assert_eq!(verdict(None), Verdict::Retry);
        assert_eq!(verdict(Some(404)), Verdict::Refused);
        assert_eq!(retry_delay(1, 0), chrono::Duration::seconds(1));
        assert_eq!(retry_delay(2, 0), chrono::Duration::seconds(2));
        assert_eq!(retry_delay(30, 0), chrono::Duration::minutes(10));
        assert!(retry_delay(3, 999) < chrono::Duration::milliseconds(4 * 1200));
    }
}
