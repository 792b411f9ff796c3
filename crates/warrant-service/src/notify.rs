//! Notifications: telling people about held calls, alerts, incidents and access reviews, off every request
//! path.
//!
//! Two steps, both run by the server's notifier loop:
//! - [`Planner::plan`] reads what changed in the log since its cursor (approvals requested and decided,
//!   alerts fired and resolved, incidents opened and updated) and what is due now (Art. 73 clocks past their
//!   deadline, access reviews falling due), builds a notice for each, and queues one delivery per notifier
//!   that wants it, with the cursor, in one transaction. The gate and ingest never wait for it: they write
//!   their rows as always and the planner reads them afterwards.
//! - [`deliver_due`] sends each due delivery (signed the Standard Webhooks way: `webhook-id`,
//!   `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) and records
//!   the attempt as a `notification` event with the delivery's new state; a failure is retried with backoff
//!   until the notifier's retry window closes, and survives restarts (the outbox is in the store).

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use warrant_api::notify as wire;
use warrant_api::{ErrorCode, Items};
use warrant_core::change::ChangeContext;
use warrant_core::notify::{Notice, Topic, Verdict, body, retry_delay, verdict};
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::{Kind, Manifest, Notifier};
use warrant_log::Seq;
use warrant_store::{
    Attempt, Delivery, DeliveryFilter, DeliveryState, NewDelivery, NotifySources, Principal, Store,
};

use crate::{Result, ServiceError, blocking};

/// How long one attempt may take, connecting included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many deliveries are sent at once.
pub const BATCH: usize = 32;
/// A planner that queued nothing still saves its cursor this often, so a restart re-reads little.
const SAVE_CURSOR_EVERY: Duration = Duration::from_secs(30);

/// The planner's position in the log, and the state-based notices (overdue clocks, reviews due) it has
/// already queued since it started; the store's `UNIQUE (notifier, key)` covers the time before.
#[derive(Debug)]
pub struct Planner {
    cursor: Option<Seq>,
    saved: std::time::Instant,
    queued: HashSet<(String, String)>,
    /// The console's address, for the links in messages (`https://warrant.example`).
    link_base: Option<String>,
}

impl Planner {
    pub fn new(link_base: Option<String>) -> Planner {
        Planner {
            cursor: None,
            saved: std::time::Instant::now(),
            queued: HashSet::new(),
            link_base: link_base.map(|base| base.trim_end_matches('/').to_owned()),
        }
    }

    /// Queue the deliveries for what happened since the last plan; returns their ids.
    pub async fn plan(&mut self, store: &Store, now: DateTime<Utc>) -> Result<Vec<String>> {
        let registry = store.registry();
        let notifiers: Vec<Notifier> = registry
            .list(Kind::Notifier)
            .filter_map(|manifest| match manifest {
                Manifest::Notifier(notifier) => Some(notifier.clone()),
                _ => None,
            })
            .collect();
        let from = match self.cursor {
            Some(cursor) => cursor,
            None => {
                let reader = store.clone();
                blocking(move || Ok(reader.notify_cursor()?)).await?
            }
        };
        if notifiers.is_empty() {
            // Nothing wants to hear; the cursor stays, and a notifier applied later hears of what comes
            // after it (see `since` below), not of the history.
            self.cursor = Some(from);
            return Ok(Vec::new());
        }
        let reader = store.clone();
        let sources = blocking(move || Ok(reader.notify_sources(from, now)?)).await?;
        let to = sources.size;
        let mut deliveries = Vec::new();
        for (notice, at) in notices(&sources, &registry, self.link_base.as_deref(), now) {
            for notifier in &notifiers {
                let since = sources
                    .notifiers_since
                    .iter()
                    .find(|(id, _)| *id == notifier.id)
                    .map(|(_, seq)| *seq);
                // A notifier hears of what happened after it was applied; a state (an overdue clock, a
                // review due) is news whenever it holds.
                if at.is_some_and(|at| since.is_some_and(|since| at < since)) {
                    continue;
                }
                if at.is_none() && self.queued.contains(&(notifier.id.clone(), notice.key.clone())) {
                    continue;
                }
                if notifier.wants(&notice, &registry) {
                    if at.is_none() {
                        self.queued.insert((notifier.id.clone(), notice.key.clone()));
                    }
                    deliveries.push(new_delivery(notifier, &notice, now)?);
                }
            }
        }
        let moved = to > from;
        let save = !deliveries.is_empty() || (moved && self.saved.elapsed() >= SAVE_CURSOR_EVERY);
        let queued = if save {
            self.saved = std::time::Instant::now();
            store.queue_notifications(deliveries, Some(to)).await?
        } else {
            Vec::new()
        };
        self.cursor = Some(to);
        Ok(queued)
    }
}

/// The notices in `sources`, each with the seq of the event it reports (none for a state that holds now).
fn notices(
    sources: &NotifySources,
    registry: &Registry,
    link_base: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<(Notice, Option<Seq>)> {
    let link = |path: String| link_base.map(|base| format!("{base}{path}"));
    let mut notices = Vec::new();
    for (approval, seq) in &sources.requested {
        let mut notice = Notice::new(
            Topic::ApprovalRequested,
            &approval.id,
            format!(
                "{} asks to call {}: approval needed",
                approval.agent, approval.tool
            ),
            approval.requested_at,
        )
        .detail("Agent", &approval.agent)
        .detail("Tool", &approval.tool)
        .detail("Why", crate::approvals::reasons_text(&approval.reasons))
        .detail("Expires", stamp(&approval.expires_at));
        if let Some(session) = &approval.session {
            notice = notice.detail("Session", session);
        }
        notice.agent = Some(approval.agent.clone());
        notice.link = link(format!("/approvals/{}", approval.id));
        notices.push((notice, Some(*seq)));
    }
    for (approval, seq) in &sources.decided {
        let mut notice = Notice::new(
            Topic::ApprovalDecided,
            &approval.id,
            format!(
                "{}'s call to {} was {}",
                approval.agent,
                approval.tool,
                approval.status.as_str()
            ),
            approval.decided_at.unwrap_or(now),
        )
        .detail("Decision", approval.status.as_str())
        .detail("By", approval.decided_by.clone().unwrap_or_default());
        if let Some(reason) = &approval.decision_reason {
            notice = notice.detail("Reason", reason);
        }
        notice.agent = Some(approval.agent.clone());
        notice.link = link(format!("/approvals/{}", approval.id));
        notices.push((notice, Some(*seq)));
    }
    for alert in &sources.fired {
        let mut notice = Notice::new(
            Topic::AlertFired,
            &alert.id,
            format!("[{}] {}", alert.severity.as_str(), alert.summary),
            alert.fired_at,
        )
        .detail("Rule", &alert.rule)
        .detail("Agent", &alert.agent)
        .detail(
            "Value",
            format!("{} (threshold {})", alert.value, alert.threshold),
        );
        notice.agent = Some(alert.agent.clone()).filter(|agent| !agent.is_empty());
        notice.severity = Some(alert.severity);
        notice.link = link(format!("/alerts/{}", alert.id));
        notices.push((notice, Some(alert.fired_seq)));
    }
    for alert in &sources.resolved {
        let Some(seq) = alert.resolved_seq else { continue };
        let mut notice = Notice::new(
            Topic::AlertResolved,
            &alert.id,
            format!("Resolved: {}", alert.summary),
            alert.resolved_at.unwrap_or(now),
        )
        .detail("Rule", &alert.rule)
        .detail("Agent", &alert.agent);
        notice.agent = Some(alert.agent.clone()).filter(|agent| !agent.is_empty());
        notice.severity = Some(alert.severity);
        notice.link = link(format!("/alerts/{}", alert.id));
        notices.push((notice, Some(seq)));
    }
    for (incident, opened, updated) in &sources.incidents {
        let is_new = *opened >= sources.from;
        let (topic, title) = if is_new {
            (
                Topic::IncidentOpened,
                format!("Incident {} opened: {}", incident.id, incident.title),
            )
        } else {
            (
                Topic::IncidentUpdated,
                format!("Incident {} updated: {}", incident.id, incident.title),
            )
        };
        let mut notice = incident_notice(topic, incident, title, now, &link);
        if !is_new {
            notice.key = format!("{}:{}", notice.key, updated.0);
        }
        notices.push((notice, Some(*updated)));
    }
    for incident in &sources.open_incidents {
        let Some(clock) = incident.art73(now).filter(|clock| clock.overdue) else {
            continue;
        };
        let title = format!(
            "Incident {}: the EU AI Act Art. 73 report was due {}",
            incident.id,
            stamp(&clock.deadline)
        );
        let notice = incident_notice(Topic::IncidentOverdue, incident, title, now, &link)
            .detail("Deadline", stamp(&clock.deadline));
        notices.push((notice, None));
    }
    for review in warrant_core::reviews::due(registry, now.date_naive()) {
        let Some(due) = review.due.filter(|due| *due <= now.date_naive()) else {
            continue;
        };
        let about = format!("{}/{}", review.agent, review.tool);
        let mut notice = Notice::new(
            Topic::ReviewDue,
            &about,
            format!(
                "Access review of {}'s grant of {} is due ({due})",
                review.agent, review.tool
            ),
            now,
        )
        .detail("Agent", &review.agent)
        .detail("Tool", &review.tool)
        .detail("Due", due.to_string());
        notice.key = format!("{}:{due}", notice.key);
        notice.agent = Some(review.agent.clone());
        notice.link = link(format!("/agents/{}", review.agent));
        notices.push((notice, None));
    }
    notices
}

fn incident_notice(
    topic: Topic,
    incident: &warrant_core::incident::Incident,
    title: String,
    now: DateTime<Utc>,
    link: &dyn Fn(String) -> Option<String>,
) -> Notice {
    let mut notice = Notice::new(topic, &incident.id, title, now)
        .detail("Severity", incident.severity.as_str())
        .detail("Status", incident.status.as_str())
        .detail("What happened", &incident.what_happened);
    if let Some(owner) = &incident.owner {
        notice = notice.detail("Owner", owner);
    }
    if let Some(clock) = incident.art73(now) {
        notice = notice.detail("Art. 73 deadline", stamp(&clock.deadline));
    }
    notice.agent = incident.agent.clone();
    notice.severity = Some(incident.severity);
    notice.link = link(format!("/incidents/{}", incident.id));
    notice
}

fn stamp(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_delivery(notifier: &Notifier, notice: &Notice, now: DateTime<Utc>) -> Result<NewDelivery> {
    let id = warrant_store::random_id("ntf_")?;
    let body = body(notice, notifier.format, &id);
    Ok(NewDelivery {
        body: body.to_string(),
        id,
        notifier: notifier.id.clone(),
        key: notice.key.clone(),
        topic: notice.topic.as_str().to_owned(),
        about_kind: notice.topic.about_kind().to_owned(),
        about_id: notice.about.clone(),
        agent: notice.agent.clone(),
        title: notice.title.clone(),
        created_at: now,
        deadline: now + notifier.retry_window(),
    })
}

/// Send every delivery due at `now` (at most [`BATCH`], concurrently) and record the attempts, all in one
/// transaction. Returns how many were attempted: [`BATCH`] means more may be due.
pub async fn deliver_due(store: &Store, now: DateTime<Utc>) -> Result<usize> {
    let reader = store.clone();
    let due = blocking(move || Ok(reader.due_deliveries(now, BATCH)?)).await?;
    let count = due.len();
    if count > 0 {
        attempt(store, due).await?;
    }
    Ok(count)
}

/// One attempt at each of `deliveries`, sent concurrently and recorded together; returns them as they now
/// are.
async fn attempt(store: &Store, deliveries: Vec<Delivery>) -> Result<Vec<Delivery>> {
    let registry = store.registry();
    let mut sends = tokio::task::JoinSet::new();
    for delivery in deliveries {
        let notifier = match registry.get(Kind::Notifier, &delivery.notifier) {
            Some(Manifest::Notifier(notifier)) => Some(notifier.clone()),
            _ => None,
        };
        sends.spawn_blocking(move || {
            let sent = notifier
                .as_ref()
                .map(|notifier| send(notifier, &delivery, Utc::now()));
            (delivery, notifier.and_then(|notifier| notifier.audience), sent)
        });
    }
    let mut attempts = Vec::new();
    while let Some(joined) = sends.join_next().await {
        let (delivery, audience, sent) = joined.map_err(|error| ServiceError::internal(&error))?;
        let (status, error, verdict) = match sent {
            None => (
                None,
                Some("the notifier was removed".to_owned()),
                Verdict::Refused,
            ),
            Some(Sent { status, error }) => (status, error, verdict(status)),
        };
        let now = Utc::now();
        let failed_attempts = delivery.attempts + 1;
        let (state, next_at, error) = match verdict {
            Verdict::Delivered => (DeliveryState::Delivered, None, None),
            Verdict::Refused => (DeliveryState::Failed, None, error),
            Verdict::Retry => {
                let next = now + retry_delay(failed_attempts, spread(&delivery.id));
                if next > delivery.deadline {
                    let error = format!(
                        "{}; gave up after {failed_attempts} attempts, when the retry window closed",
                        error.unwrap_or_else(|| "failed".into())
                    );
                    (DeliveryState::Failed, None, Some(error))
                } else {
                    (DeliveryState::Pending, Some(next), error)
                }
            }
        };
        attempts.push(Attempt {
            delivery: delivery.id,
            audience,
            status,
            error,
            state,
            next_at,
        });
    }
    let context = ChangeContext {
        principal: Principal::warrant("notify"),
        reason: None,
        time: Utc::now(),
    };
    Ok(store.record_attempts(attempts, context).await?)
}

/// A number drawn from the delivery's id, to spread retries.
fn spread(id: &str) -> u64 {
    id.bytes().fold(0u64, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u64::from(byte))
    })
}

struct Sent {
    status: Option<u16>,
    error: Option<String>,
}

/// POST the delivery's body to the notifier's URL, signed. Blocking: run it on a blocking thread.
fn send(notifier: &Notifier, delivery: &Delivery, now: DateTime<Utc>) -> Sent {
    let failed = |error: String| Sent {
        status: None,
        error: Some(error),
    };
    let secret = match secret(notifier) {
        Ok(secret) => secret,
        Err(error) => return failed(error),
    };
    let timestamp = now.timestamp();
    // One agent for every delivery: its TLS configuration is built once, and connections to a receiver
    // that keeps them open are reused.
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::AgentBuilder::new()
            .timeout(ATTEMPT_TIMEOUT)
            .redirects(0)
            .build()
    });
    let mut request = agent
        .post(&notifier.url)
        .set("content-type", "application/json")
        .set("user-agent", concat!("warrant/", env!("CARGO_PKG_VERSION")))
        .set("webhook-id", &delivery.id)
        .set("webhook-timestamp", &timestamp.to_string())
        .set(
            "webhook-signature",
            &signature(&secret, &delivery.id, timestamp, delivery.body.as_bytes()),
        );
    for (header, variable) in &notifier.headers_from_env {
        match std::env::var(variable) {
            Ok(value) => request = request.set(header, &value),
            Err(_) => {
                return failed(format!(
                    "environment variable `{variable}` (header `{header}`) is not set"
                ));
            }
        }
    }
    match request.send_bytes(delivery.body.as_bytes()) {
        Ok(response) => Sent {
            status: Some(response.status()),
            error: None,
        },
        Err(ureq::Error::Status(status, response)) => Sent {
            status: Some(status),
            error: Some(format!(
                "the receiver answered {status} {}",
                response.status_text()
            )),
        },
        Err(ureq::Error::Transport(transport)) => failed(transport.to_string()),
    }
}

/// The notifier's signing secret: `whsec_<base64>` decoded, any other value as its bytes.
fn secret(notifier: &Notifier) -> std::result::Result<Vec<u8>, String> {
    let text = match (&notifier.secret_env, &notifier.secret_file) {
        (Some(variable), _) => std::env::var(variable)
            .map_err(|_| format!("the secret's environment variable `{variable}` is not set"))?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|error| format!("the secret file `{path}` cannot be read: {error}"))?,
        (None, None) => return Err("the notifier names no secret".into()),
    };
    let text = text.trim();
    if text.is_empty() {
        return Err("the signing secret is empty".into());
    }
    match text.strip_prefix("whsec_") {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "the `whsec_` secret is not base64".to_owned()),
        None => Ok(text.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, the Standard Webhooks signature.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// `POST /v1/notifiers/{id}/test`: send a test message to the notifier now, once, and say how it went
/// (the attempt is recorded like any other).
pub async fn test(
    store: &Store,
    id: &str,
    link_base: Option<&str>,
    now: DateTime<Utc>,
) -> Result<wire::Delivery> {
    let registry = store.registry();
    let Some(Manifest::Notifier(notifier)) = registry.get(Kind::Notifier, id) else {
        return Err(ServiceError::not_found(format!("no notifier `{id}`")));
    };
    let mut notice = Notice::new(
        Topic::Test,
        id,
        format!(
            "Test message from warrant to {}",
            notifier.audience.as_deref().unwrap_or(id)
        ),
        now,
    );
    notice.key = format!("test:{}", warrant_store::random_id("")?);
    notice.link = link_base.map(|base| format!("{}/", base.trim_end_matches('/')));
    let mut delivery = new_delivery(notifier, &notice, now)?;
    // One attempt: a test says how the channel is now, it is not retried.
    delivery.deadline = now;
    let queued = store.queue_notifications(vec![delivery], None).await?;
    let Some(id) = queued.first() else {
        return Err(ServiceError::internal(&"the test delivery was not queued"));
    };
    let reader = store.clone();
    let queued_id = id.clone();
    let delivery = blocking(move || Ok(reader.delivery(&queued_id)?))
        .await?
        .ok_or_else(|| ServiceError::internal(&"the test delivery vanished"))?;
    let delivery = attempt(store, vec![delivery])
        .await?
        .pop()
        .ok_or_else(|| ServiceError::internal(&"the test attempt was not recorded"))?;
    Ok(to_wire(&delivery, &registry))
}

/// Query of `GET /v1/notifications`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub notifier: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub state: Option<String>,
    /// `kind:id`, e.g. `incident:inc_…`.
    pub about: Option<String>,
    /// At most this many, newest first (default 100, at most 1,000).
    pub limit: Option<usize>,
}

/// `GET /v1/notifications`: deliveries and their state, newest first.
pub fn list(store: &Store, query: Query) -> Result<Items<wire::Delivery>> {
    let state = query
        .state
        .map(|text| {
            DeliveryState::parse(&text).ok_or_else(|| {
                ServiceError::invalid(
                    ErrorCode::InvalidQuery,
                    format!("`state` is `pending`, `delivered` or `failed`, not `{text}`"),
                )
            })
        })
        .transpose()?;
    let about = query
        .about
        .map(|text| {
            text.split_once(':')
                .map(|(kind, id)| (kind.to_owned(), id.to_owned()))
                .ok_or_else(|| {
                    ServiceError::invalid(
                        ErrorCode::InvalidQuery,
                        format!("`about` is `kind:id` (e.g. `incident:inc_1`), not `{text}`"),
                    )
                })
        })
        .transpose()?;
    let (about_kind, about_id) = about.unzip();
    let filter = DeliveryFilter {
        notifier: query.notifier,
        state,
        about_kind,
        about_id,
        limit: query.limit.unwrap_or(100).clamp(1, 1000),
    };
    let registry = store.registry();
    Ok(Items {
        items: store
            .deliveries(&filter)?
            .iter()
            .map(|delivery| to_wire(delivery, &registry))
            .collect(),
    })
}

/// The deliveries about one record (`incident`, `inc_…`), newest first.
pub fn about(store: &Store, kind: &str, id: &str) -> Result<Vec<wire::Delivery>> {
    let filter = DeliveryFilter {
        about_kind: Some(kind.to_owned()),
        about_id: Some(id.to_owned()),
        limit: 1000,
        ..DeliveryFilter::default()
    };
    let registry = store.registry();
    Ok(store
        .deliveries(&filter)?
        .iter()
        .map(|delivery| to_wire(delivery, &registry))
        .collect())
}

/// Who a notifier tells, in words, as its manifest says.
pub fn audience(registry: &Registry, notifier: &str) -> Option<String> {
    match registry.get(Kind::Notifier, notifier) {
        Some(Manifest::Notifier(notifier)) => notifier.audience.clone(),
        _ => None,
    }
}

pub fn to_wire(delivery: &Delivery, registry: &Registry) -> wire::Delivery {
    wire::Delivery {
        id: delivery.id.clone(),
        notifier: delivery.notifier.clone(),
        audience: audience(registry, &delivery.notifier),
        topic: delivery.topic.clone(),
        about: wire::About {
            kind: delivery.about_kind.clone(),
            id: delivery.about_id.clone(),
        },
        agent: delivery.agent.clone(),
        title: delivery.title.clone(),
        state: delivery.state.as_str().to_owned(),
        attempts: delivery.attempts,
        created_at: delivery.created_at,
        next_attempt: (delivery.state == DeliveryState::Pending).then_some(delivery.next_at),
        deadline: delivery.deadline,
        last_status: delivery.last_status,
        last_error: delivery.last_error.clone(),
        delivered_at: delivery.delivered_at,
        last_seq: delivery.last_seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification: secret `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`,
        // id `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp 1614265330, body `{"test": 2432232314}`.
        let notifier: Notifier = serde_json::from_value(serde_json::json!({
            "id": "n", "url": "https://x", "secret_env": "WARRANT_TEST_SIGNING_SECRET_UNSET"
        }))
        .expect("a notifier");
        assert!(
            secret(&notifier).is_err(),
            "an unset variable is an error, not an empty key"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
