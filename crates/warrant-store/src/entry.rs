//! How an event becomes a log entry: the committed JSON body (content replaced by salted digests, plus the
//! server-assigned `seq` and receive time), its RFC 8785 canonical bytes and its RFC 9162 leaf hash.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use warrant_core::event::{Event, format_time};

/// An event as stored: the committed body and, where not erased, the clear content beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: u64,
    /// The committed JSON (what the leaf hash covers), with content as digests.
    pub body: Value,
    /// Clear content by field, for fields not erased.
    pub content: Map<String, Value>,
    pub leaf: [u8; 32],
}

/// The rows one event adds.
pub(crate) struct Encoded {
    pub body: Vec<u8>,
    pub leaf: [u8; 32],
    pub content: Vec<ContentRow>,
}

pub(crate) struct ContentRow {
    pub field: String,
    pub salt: [u8; 32],
    pub text: String,
}

/// Encode `event` as entry `seq`, received at `received`. `salt` supplies fresh random salts.
pub(crate) fn encode(
    seq: u64,
    received: &DateTime<Utc>,
    event: &Event,
    mut salt: impl FnMut() -> [u8; 32],
) -> Encoded {
    let mut body = match event.to_json() {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    body.remove("content");
    let mut digests = Map::new();
    let mut content = Vec::with_capacity(event.content.len());
    for (field, value) in &event.content {
        // Every value, a string included, is committed as its canonical JSON text, so it decodes back to
        // exactly the value that came in.
        let text = String::from_utf8_lossy(&warrant_log::canonical::canonicalize(value)).into_owned();
        let salt = salt();
        digests.insert(field.clone(), Value::String(content_digest(&salt, &text)));
        content.push(ContentRow {
            field: field.clone(),
            salt,
            text,
        });
    }
    if !digests.is_empty() {
        body.insert("content".into(), Value::Object(digests));
    }
    body.insert("seq".into(), Value::from(seq));
    body.insert("received".into(), Value::String(format_time(received)));
    let bytes = warrant_log::canonical::canonicalize(&Value::Object(body));
    let leaf = warrant_log::hash::leaf_hash(&bytes);
    Encoded {
        body: bytes,
        leaf,
        content,
    }
}

/// `sha256:` and the hex SHA-256 of the salt followed by the value's canonical JSON text. The salt keeps a short or guessable
/// text (a name, a yes/no) from being confirmed against the digest once the text is erased.
pub fn content_digest(salt: &[u8; 32], text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(text.as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
