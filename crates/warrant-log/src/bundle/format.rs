//! The evidence bundle's format, once: the paths of its files, `manifest.json` ([`Manifest`] and its
//! [`FileEntry`]s), the lines of `events.ndjson` ([`EventLine`], with [`ClearContent`] when exported with
//! content) and the proofs (`proofs/*.json`). The writer ([`super::BundleWriter`]) serializes these types and
//! the verifier ([`super::BundleVerifier`]) deserializes them, so the two cannot drift apart.
//!
//! Hashes are lowercase hex on the wire (uppercase is read too). The fields an older or hand-built bundle may
//! lack are optional when read; the writer always fills them.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// The manifest's `format`.
pub const FORMAT: &str = "warrant-evidence-bundle/1";

/// The manifest: every other file with its SHA-256 and size.
pub const MANIFEST_FILE: &str = "manifest.json";
/// A signed note by the log key over the manifest's SHA-256 ([`signature_body`]).
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// The latest checkpoint at or before the period's start; absent when the period starts at the empty log.
pub const START_CHECKPOINT: &str = "checkpoints/start.txt";
/// The first checkpoint at or after the period's end.
pub const END_CHECKPOINT: &str = "checkpoints/end.txt";
/// [`StartFrontier`].
pub const START_FRONTIER: &str = "proofs/start-frontier.json";
/// [`ConsistencyProof`].
pub const CONSISTENCY: &str = "proofs/consistency.json";
/// [`Boundary`]; present exactly when the start checkpoint is.
pub const BOUNDARY: &str = "proofs/boundary.json";
/// One [`EventLine`] per seq from the start size to the end size.
pub const EVENTS_FILE: &str = "events.ndjson";
/// The bodies of the `change` events among the events carried in full, one a line, in seq order.
pub const CHANGES_FILE: &str = "registry/changes.ndjson";
/// `documents/<sha256>`: the documents whose hashes `document` events log.
pub const DOCUMENTS_DIR: &str = "documents/";

/// The files every bundle holds (the start checkpoint and the boundary too, unless the period starts at the
/// empty log).
pub const REQUIRED: [&str; 4] = [END_CHECKPOINT, START_FRONTIER, CONSISTENCY, EVENTS_FILE];

/// The body of `manifest.sig`: what the log key signs.
pub fn signature_body(manifest: &[u8]) -> String {
    format!("{FORMAT}\nsha256 {}\n", hex(&Sha256::digest(manifest)))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// 64 hex digits (either case) as 32 bytes.
pub(crate) fn unhex32(text: &str) -> Option<Hash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, slot) in out.iter_mut().enumerate() {
        let digit = |at: usize| char::from(*bytes.get(at)?).to_digit(16);
        *slot = u8::try_from(digit(index * 2)? * 16 + digit(index * 2 + 1)?).ok()?;
    }
    Some(out)
}

/// `manifest.json`. Its fields serialize in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    #[serde(default)]
    pub format: String,
    /// The log's origin (its checkpoints' first line).
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub organization: Option<String>,
    /// The period asked for; the checkpoints widen it to the events between them.
    #[serde(default)]
    pub period: Period,
    /// When the bundle was written (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// The log's verifier key, for information: an auditor verifies with the key they hold, not this one.
    #[serde(default)]
    pub key: Option<String>,
    pub start: CheckpointRef,
    pub end: CheckpointRef,
    #[serde(default)]
    pub events: Option<EventsInfo>,
    /// Every other file of the bundle, in the order a verifier reads them.
    #[serde(default)]
    pub files: Vec<FileEntry>,
}

/// The period a bundle was asked for (RFC 3339 text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// One of the bundle's two checkpoints: its size, and when it was signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    pub size: u64,
    #[serde(default)]
    pub time: Option<String>,
}

/// What `events.ndjson` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsInfo {
    /// Always [`EVENTS_FILE`].
    #[serde(default = "events_file")]
    pub file: String,
    #[serde(default)]
    pub first_seq: u64,
    /// Lines in the file.
    #[serde(default)]
    pub count: u64,
    /// Events received within the period.
    #[serde(default)]
    pub in_period: u64,
    /// Whether clear content (with its salts) is beside each event's digests.
    #[serde(default)]
    pub with_content: bool,
    /// The agents whose events are in full (the others' as leaf hashes only); `null` for every event in full.
    #[serde(default)]
    pub agents: Option<Vec<String>>,
}

fn events_file() -> String {
    EVENTS_FILE.to_owned()
}

/// A file of the bundle in its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the bundle, `/`-separated.
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
}

impl Manifest {
    /// A manifest of this format between checkpoints of these sizes; the rest is filled by the writer's
    /// caller, the files by the writer.
    pub fn new(start_size: u64, end_size: u64) -> Manifest {
        Manifest {
            format: FORMAT.to_owned(),
            origin: None,
            organization: None,
            period: Period::default(),
            created_at: None,
            key: None,
            start: CheckpointRef {
                size: start_size,
                time: None,
            },
            end: CheckpointRef {
                size: end_size,
                time: None,
            },
            events: None,
            files: Vec::new(),
        }
    }

    /// Read `manifest.json`. What is wrong is said precisely: the format, a checkpoint size or a file entry
    /// missing, or else where the JSON does not fit.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        serde_json::from_slice(bytes).map_err(|error| match serde_json::from_slice::<Value>(bytes) {
            Err(error) => error.to_string(),
            Ok(value) => diagnose(&value).unwrap_or_else(|| error.to_string()),
        })
    }

    /// The manifest as the writer writes it: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The rules every manifest follows (the writer checks them before it writes one, the verifier when it
    /// opens one): the format, paths inside the bundle, the start checkpoint no larger than the end, the
    /// files every bundle holds, and the events in [`EVENTS_FILE`].
    pub fn check(&self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err("wrong or missing `format`".into());
        }
        if let Some(problem) = self.files.iter().find_map(|file| path_problem(&file.path)) {
            return Err(problem);
        }
        if self.start.size > self.end.size {
            return Err("the start checkpoint is larger than the end".into());
        }
        let mut required: Vec<&str> = REQUIRED.to_vec();
        if self.start.size > 0 {
            required.push(START_CHECKPOINT);
            required.push(BOUNDARY);
        }
        if let Some(missing) = required
            .iter()
            .find(|path| !self.files.iter().any(|file| file.path == **path))
        {
            return Err(format!("it does not list {missing}, which every bundle holds"));
        }
        if self
            .events
            .as_ref()
            .is_some_and(|events| events.file != EVENTS_FILE)
        {
            return Err("the events must be in events.ndjson".into());
        }
        Ok(())
    }

    /// Whether every event is carried in full (no agent filter).
    pub fn all_in_full(&self) -> bool {
        self.events.as_ref().is_none_or(|events| events.agents.is_none())
    }

    /// Whether clear content was exported.
    pub fn with_content(&self) -> bool {
        self.events.as_ref().is_some_and(|events| events.with_content)
    }
}

/// Why a path cannot be a file of the bundle, if it cannot.
pub(crate) fn path_problem(path: &str) -> Option<String> {
    (path.starts_with('/')
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == ".."))
    .then(|| format!("`{path}` is not a path inside the bundle"))
}

/// The first problem of a manifest that does not deserialize, in the order the verifier reads it.
fn diagnose(value: &Value) -> Option<String> {
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Some("wrong or missing `format`".into());
    }
    for pointer in ["/start/size", "/end/size"] {
        if value.pointer(pointer).and_then(Value::as_u64).is_none() {
            return Some(format!("`{pointer}` is missing"));
        }
    }
    for file in value.get("files").and_then(Value::as_array).into_iter().flatten() {
        let (Some(path), Some(_), Some(_)) = (
            file.get("path").and_then(Value::as_str),
            file.get("sha256").and_then(Value::as_str),
            file.get("size").and_then(Value::as_u64),
        ) else {
            return Some("a file entry lacks path, sha256 or size".into());
        };
        if let Some(problem) = path_problem(path) {
            return Some(problem);
        }
    }
    None
}

/// One line of `events.ndjson`: an event in full (`event`, the body the log committed, content as salted
/// digests; and `content`, the clear text with its salt by field, when exported with content), or only its
/// leaf hash (an event an agent filter withholds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLine {
    pub seq: u64,
    /// RFC 9162 leaf hash of the event's canonical form.
    #[serde(with = "hex_hash")]
    pub leaf: Hash,
    /// Absent for a withheld event; `null` is an event (one that will not hash to its leaf).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub event: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub content: BTreeMap<String, ClearContent>,
}

impl EventLine {
    /// An event in full.
    pub fn full(seq: u64, leaf: Hash, event: Value) -> EventLine {
        EventLine {
            seq,
            leaf,
            event: Some(event),
            content: BTreeMap::new(),
        }
    }

    /// An event withheld: its leaf hash only.
    pub fn withheld(seq: u64, leaf: Hash) -> EventLine {
        EventLine {
            seq,
            leaf,
            event: None,
            content: BTreeMap::new(),
        }
    }

    /// The event's `kind`, when it is in full.
    pub fn kind(&self) -> Option<&str> {
        self.event.as_ref()?.get("kind")?.as_str()
    }
}

/// A content field in clear, with the salt its committed digest was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearContent {
    #[serde(with = "hex_hash")]
    pub salt: [u8; 32],
    pub text: String,
}

impl ClearContent {
    /// The digest the event commits for this field: `sha256:` and SHA-256(salt ‖ text) in hex.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        hasher.update(self.text.as_bytes());
        format!("sha256:{}", hex(&hasher.finalize()))
    }
}

/// `proofs/start-frontier.json`: the roots of the perfect subtrees of the start tree (its compact range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartFrontier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(with = "hex_hashes")]
    pub hashes: Vec<Hash>,
}

/// `proofs/consistency.json`: the RFC 9162 consistency proof from the start to the end checkpoint (empty when
/// the period starts at the empty log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    #[serde(with = "hex_hashes")]
    pub proof: Vec<Hash>,
}

/// `proofs/boundary.json`: the last event before the start checkpoint with its inclusion proof in it, so the
/// period's start is shown covered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Boundary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex_hash_option")]
    pub leaf: Option<Hash>,
    pub event: Value,
    #[serde(with = "hex_hashes")]
    pub proof: Vec<Hash>,
}

/// A field present in the JSON, whatever its value (`null` too).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

fn invalid_hash<E: serde::de::Error>(text: &str) -> E {
    E::invalid_value(serde::de::Unexpected::Str(text), &"64 hex digits")
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::hash::Hash;

    pub fn serialize<S: Serializer>(hash: &Hash, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::hex(hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::unhex32(&text).ok_or_else(|| super::invalid_hash(&text))
    }
}

mod hex_hash_option {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::hash::Hash;

    pub fn serialize<S: Serializer>(hash: &Option<Hash>, serializer: S) -> Result<S::Ok, S::Error> {
        match hash {
            Some(hash) => serializer.serialize_some(&super::hex(hash)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Hash>, D::Error> {
        match <Option<String>>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => super::unhex32(&text)
                .map(Some)
                .ok_or_else(|| super::invalid_hash(&text)),
        }
    }
}

mod hex_hashes {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::hash::Hash;

    pub fn serialize<S: Serializer>(hashes: &[Hash], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(hashes.len()))?;
        for hash in hashes {
            seq.serialize_element(&super::hex(hash))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
        <Vec<String>>::deserialize(deserializer)?
            .iter()
            .map(|text| super::unhex32(text).ok_or_else(|| super::invalid_hash(text)))
            .collect()
    }
}
