//! How an event becomes a log entry: the committed JSON body (content replaced by salted digests, plus the
//! server-assigned `seq` and receive time), its RFC 8785 canonical bytes and its RFC 9162 leaf hash.
//!
//! The work is split so the sequencer does as little as possible. [`prepare`] runs on the caller's thread
//! (in parallel across requests): it canonicalises everything but `seq`, draws salts and digests content.
//! [`Prepared::seal`] runs in the sequencer: it splices `"seq":N` into the canonical bytes and hashes the leaf.
//! The splice is exact because JCS serialises members in key order, independently of each other: every key
//! of a body sorts either before `seq` (`agent` … `principal`, `received`) or after it (`session` … `trace_id`).
//!
//! `principal` is who wrote the event (`{"id", "name"}`): inside the hashed body, so an inclusion proof also
//! proves who said so.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use warrant_core::change::ChangeContext;
use warrant_core::event::{Event, format_time};
use warrant_core::identity::Principal;
use warrant_log::Seq;
use warrant_log::canonical::canonicalize;

use crate::StoreError;

/// An event as stored: the committed body and, where not erased, the clear content beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: Seq,
    /// The committed JSON (what the leaf hash covers), with content as digests.
    pub body: Value,
    /// Clear content by field, for fields not erased.
    pub content: Map<String, Value>,
    pub leaf: [u8; 32],
}

/// An event ready for the sequencer: everything but its seq is encoded.
pub(crate) struct Prepared {
    /// Canonical members that sort before `seq`, starting with `{`, without a trailing comma.
    before_seq: Vec<u8>,
    /// Canonical members that sort after `seq`, without braces; empty if there are none.
    after_seq: Vec<u8>,
    pub content: Vec<ContentRow>,
    pub columns: Columns,
    /// What the event adds to the monitoring rollups.
    pub facts: warrant_core::monitor::facts::Facts,
}

/// The lookup columns stored beside the body.
pub(crate) struct Columns {
    pub kind: &'static str,
    pub agent: Option<String>,
    pub time: String,
    pub trace_id: Option<String>,
    pub session: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// The trace this event's trace was started from (`attrs.link.trace_id`).
    pub link_trace: Option<String>,
}

pub(crate) struct ContentRow {
    pub field: String,
    pub salt: [u8; 32],
    pub text: String,
}

/// Encode every event of a batch except for its seq. Salts for the whole batch come from one read of the
/// system's randomness.
pub(crate) fn prepare(
    events: Vec<Event>,
    principal: &Principal,
    received: &DateTime<Utc>,
) -> Result<Vec<Prepared>, StoreError> {
    let fields: usize = events.iter().map(|event| event.content.len()).sum();
    let mut salts = vec![0u8; fields * 32];
    if !salts.is_empty() {
        getrandom::getrandom(&mut salts)
            .map_err(|error| StoreError::Damaged(format!("no system randomness: {error}")))?;
    }
    let mut salts = salts
        .chunks_exact(32)
        .map(|chunk| <[u8; 32]>::try_from(chunk).unwrap_or_default());
    let received = format_time(received);
    let principal = principal.record();
    Ok(events
        .into_iter()
        .map(|event| prepare_one(event, &principal, &received, &mut salts))
        .collect())
}

/// One event of a governance operation (a change, an erasure, a decision), written by `context.principal`
/// and received at `context.time`.
pub(crate) fn prepare_single(event: Event, context: &ChangeContext) -> Result<Prepared, StoreError> {
    prepare(vec![event], &context.principal, &context.time)?
        .pop()
        .ok_or_else(|| StoreError::Damaged("an event vanished while encoding".into()))
}

fn prepare_one(
    event: Event,
    principal: &Value,
    received: &str,
    salts: &mut impl Iterator<Item = [u8; 32]>,
) -> Prepared {
    let facts = warrant_core::monitor::facts::of_event(&event);
    let columns = Columns {
        kind: event.kind.as_str(),
        agent: event.agent.clone(),
        time: format_time(&event.time),
        trace_id: event.trace_id.clone(),
        session: event.session.clone(),
        subject: event
            .attrs
            .get("subject")
            .and_then(Value::as_str)
            .map(str::to_owned),
        client_id: event.id.clone(),
        // Indexed only when it is a real trace id: a trail follows it.
        link_trace: event
            .attrs
            .get("link")
            .and_then(|link| link.get("trace_id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|trace| warrant_core::event::check_hex_id(&Some(trace.clone()), 32).is_ok()),
    };
    let mut digests = Map::new();
    let mut content = Vec::with_capacity(event.content.len());
    for (field, value) in &event.content {
        // Every value, a string included, is committed as its canonical JSON text, so it decodes back to
        // exactly the value that came in.
        let text = String::from_utf8_lossy(&canonicalize(value)).into_owned();
        let salt = salts.next().unwrap_or_default();
        digests.insert(field.clone(), Value::String(content_digest(&salt, &text)));
        content.push(ContentRow {
            field: field.clone(),
            salt,
            text,
        });
    }
    let Event {
        id,
        time: _,
        agent,
        kind: _,
        trace_id,
        span_id,
        parent_span_id,
        session,
        attrs,
        content: _,
    } = event;
    let mut before = Map::new();
    let put = |map: &mut Map<String, Value>, key: &str, value: Option<String>| {
        if let Some(value) = value {
            map.insert(key.to_owned(), Value::String(value));
        }
    };
    put(&mut before, "agent", agent);
    before.insert("attrs".into(), Value::Object(attrs));
    if !digests.is_empty() {
        before.insert("content".into(), Value::Object(digests));
    }
    put(&mut before, "id", id);
    before.insert("kind".into(), Value::String(columns.kind.to_owned()));
    put(&mut before, "parent_span_id", parent_span_id);
    before.insert("principal".into(), principal.clone());
    before.insert("received".into(), Value::String(received.to_owned()));
    let mut after = Map::new();
    put(&mut after, "session", session);
    put(&mut after, "span_id", span_id);
    after.insert("time".into(), Value::String(columns.time.clone()));
    put(&mut after, "trace_id", trace_id);

    let mut before_seq = canonicalize(&Value::Object(before));
    before_seq.pop(); // the closing brace
    let mut after_seq = canonicalize(&Value::Object(after));
    after_seq.pop();
    after_seq.remove(0);
    Prepared {
        before_seq,
        after_seq,
        content,
        columns,
        facts,
    }
}

impl Prepared {
    /// The entry's canonical bytes at `seq`, and its leaf hash.
    pub fn seal(&self, seq: Seq) -> (Vec<u8>, [u8; 32]) {
        let mut body = Vec::with_capacity(self.before_seq.len() + self.after_seq.len() + 32);
        body.extend_from_slice(&self.before_seq);
        body.extend_from_slice(b",\"seq\":");
        body.extend_from_slice(seq.to_string().as_bytes());
        if !self.after_seq.is_empty() {
            body.push(b',');
            body.extend_from_slice(&self.after_seq);
        }
        body.push(b'}');
        let leaf = warrant_log::hash::leaf_hash(&body);
        (body, leaf)
    }
}

/// `sha256:` and the hex SHA-256 of the salt followed by the value's canonical JSON text. The salt keeps a
/// short or guessable value (a name, a yes/no) from being confirmed against the digest once it is erased.
pub fn content_digest(salt: &[u8; 32], text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(text.as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {

    use chrono::Utc;
    use serde_json::json;
    use warrant_core::event::Event;
    use warrant_log::canonical::canonicalize;

    use super::prepare;

    /// The spliced bytes must be exactly the canonical form of the whole body, for every shape of event.
    #[test]
    fn sealed_bytes_are_the_canonical_form_of_the_body() {
        let events = [
            json!({"time": "2026-11-26T09:30:00Z", "kind": "decision"}),
            json!({"time": "2026-11-26T09:30:00Z", "kind": "decision", "agent": "a", "id": "x", "session": "s",
                   "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
                   "parent_span_id": "b7ad6b7169203332", "attrs": {"z": [1, 2.5, "é"], "a": {"b": null}},
                   "content": {"input": "Jane", "args": {"k": 1}}}),
        ];
        for (index, value) in events.into_iter().enumerate() {
            let event = Event::from_json(index, value).unwrap();
            let principal = warrant_core::identity::Principal::warrant("test");
            let prepared = prepare(vec![event], &principal, &Utc::now())
                .unwrap()
                .pop()
                .unwrap();
            for seq in [0, 7, 12_345_678_901] {
                let (bytes, _) = prepared.seal(warrant_log::Seq(seq));
                let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(parsed["seq"], json!(seq));
                assert_eq!(
                    parsed["principal"],
                    json!({"id": "warrant", "name": "warrant:test"})
                );
                assert_eq!(
                    canonicalize(&parsed),
                    bytes,
                    "{}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
}
