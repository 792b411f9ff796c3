//! The evidence bundle (`warrant evidence export`): its format ([`Manifest`], [`FileEntry`], [`EventLine`] and
//! the proofs, in `format`), its writer ([`BundleWriter`]) and its offline verification ([`BundleVerifier`]),
//! with nothing but the log's public key. The caller feeds the verifier the files (from a directory or a tar
//! archive, in the manifest's order); it reads each once, streaming, and reports exactly what failed.
//!
//! A bundle holds:
//! - `manifest.json`: every other file with its SHA-256 and size, the period, and the two checkpoints' sizes;
//! - `manifest.sig`: a signed note by the log key over the manifest's SHA-256;
//! - `checkpoints/start.txt` (absent when the period starts at the empty log) and `checkpoints/end.txt`;
//! - `proofs/start-frontier.json`: the roots of the perfect subtrees of the start tree (its compact range);
//! - `proofs/consistency.json`: the RFC 9162 consistency proof from the start to the end checkpoint;
//! - `proofs/boundary.json` (with the start checkpoint): the last event before it, with its inclusion proof;
//! - `events.ndjson`: one line per seq from the start size to the end size, in order: `{seq, leaf, event}`
//!   (and `content` with clear text and salts when exported with content), or `{seq, leaf}` for events left
//!   out by an agent filter;
//! - `registry/changes.ndjson`: the change events among them; `documents/<sha256>`: the documents they log;
//! - reports (SoA, gaps, risks, incidents ...), checked by their hashes.
//!
//! Every event's inclusion in the end checkpoint is proven by rebuilding the end root from the start tree's
//! compact range and the events' own leaves, in order: that is each event's RFC 9162 audit path computed
//! from the bundle itself, and it also proves that no event between the checkpoints is missing, which
//! per-event proofs alone would not.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::canonicalize;
use crate::checkpoint::Checkpoint;
use crate::frontier::Frontier;
use crate::hash::{Hash, empty_root, leaf_hash};
use crate::note::{NoteVerifier, open_note};
use crate::proof::verify_consistency;

mod format;
mod writer;

pub use self::format::{
    BOUNDARY, Boundary, CHANGES_FILE, CONSISTENCY, CheckpointRef, ClearContent, ConsistencyProof,
    DOCUMENTS_DIR, END_CHECKPOINT, EVENTS_FILE, EventLine, EventsInfo, FORMAT, FileEntry, MANIFEST_FILE,
    Manifest, Period, REQUIRED, SIGNATURE_FILE, START_CHECKPOINT, START_FRONTIER, StartFrontier, hex,
    signature_body,
};
pub use self::writer::{BundleWriteError, BundleWriter, FileWriter, UnsignedBundle};

use self::format::unhex32;

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleReport {
    /// Each failure, precise (naming the file, the seq or the checkpoint).
    pub failures: Vec<String>,
    pub files: usize,
    pub events: u64,
    pub events_with_body: u64,
    pub start_size: u64,
    pub end_size: u64,
    /// Events the bundle carries only as leaf hashes (an agent filter).
    pub events_withheld: u64,
    /// Content digests without their clear text in a bundle exported with content (erased content).
    pub content_missing: u64,
    /// The end checkpoint's root, hex: compare it with a checkpoint you already hold.
    pub end_root: Option<String>,
    /// The receive time of the last event before the period's events (none when they start at the empty
    /// log), and of the last event in the bundle.
    pub covered_from: Option<String>,
    pub last_received: Option<String>,
    /// The size of the held checkpoint the bundle's log was found to agree with.
    pub held_matched: Option<u64>,
    /// The trusted witnesses whose cosignatures on the end checkpoint verified.
    pub end_cosigned_by: Vec<String>,
}

/// What the auditor brings beside the log's key: a checkpoint held from before, and the witnesses (with how
/// many of them must have cosigned the end checkpoint).
#[derive(Debug, Clone, Default)]
pub struct BundleTrust {
    pub held: Option<(u64, Hash)>,
    pub witnesses: Vec<crate::cosignature::CosignatureVerifier>,
    pub quorum: usize,
}

impl BundleReport {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a bundle cannot be verified at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("manifest.sig does not verify with the key given: {0}")]
    Signature(String),
    #[error("manifest.sig signs a different manifest (the manifest was changed)")]
    ManifestChanged,
    #[error("manifest.json is not a {FORMAT} manifest: {0}")]
    Manifest(String),
}

struct Expected {
    sha256: String,
    size: u64,
}

/// Verifies a bundle file by file.
pub struct BundleVerifier {
    key: NoteVerifier,
    expected: BTreeMap<String, Expected>,
    order: Vec<String>,
    seen: BTreeSet<String>,
    report: BundleReport,
    start: Option<Hash>,
    end: Option<Hash>,
    frontier: Option<Frontier>,
    events_file: String,
    /// Whether every event must come in full (no agent filter in the manifest).
    all_in_full: bool,
    /// Whether clear content was exported.
    with_content: bool,
    /// SHA-256 of each change event's canonical form, to check `registry/changes.ndjson` against.
    changes: BTreeSet<String>,
    /// Hashes the bundle's `document` events log.
    documents: BTreeSet<String>,
    /// The period the manifest claims (RFC 3339 text, compared as such).
    period: (Option<String>, Option<String>),
    /// A checkpoint the auditor already holds (size, root): the bundle's log must agree with it.
    held: Option<(u64, Hash)>,
    /// Witnesses trusted, and how many must have cosigned the end checkpoint.
    witnesses: Vec<crate::cosignature::CosignatureVerifier>,
    quorum: usize,
}

impl BundleVerifier {
    /// Check the manifest's signature and read it.
    pub fn open(manifest: &[u8], signature: &str, key: NoteVerifier) -> Result<BundleVerifier, BundleError> {
        let opened = open_note(signature, std::slice::from_ref(&key))
            .map_err(|error| BundleError::Signature(error.to_string()))?;
        if opened.body != signature_body(manifest) {
            return Err(BundleError::ManifestChanged);
        }
        let manifest = Manifest::parse(manifest).map_err(BundleError::Manifest)?;
        manifest.check().map_err(BundleError::Manifest)?;
        let mut expected = BTreeMap::new();
        let mut order = Vec::new();
        for file in &manifest.files {
            order.push(file.path.clone());
            expected.insert(
                file.path.clone(),
                Expected {
                    sha256: file.sha256.clone(),
                    size: file.size,
                },
            );
        }
        let report = BundleReport {
            start_size: manifest.start.size,
            end_size: manifest.end.size,
            files: expected.len(),
            ..BundleReport::default()
        };
        Ok(BundleVerifier {
            key,
            expected,
            order,
            seen: BTreeSet::new(),
            report,
            start: None,
            end: None,
            frontier: None,
            events_file: EVENTS_FILE.to_owned(),
            all_in_full: manifest.all_in_full(),
            with_content: manifest.with_content(),
            changes: BTreeSet::new(),
            documents: BTreeSet::new(),
            held: None,
            witnesses: Vec::new(),
            quorum: 0,
            period: (manifest.period.from, manifest.period.to),
        })
    }

    /// Apply what the auditor trusts beside the key (see [`BundleTrust`]).
    pub fn trust(&mut self, trust: BundleTrust) {
        if let Some((size, root)) = trust.held {
            self.hold(size, root);
        }
        self.witnesses = trust.witnesses;
        self.quorum = trust.quorum;
    }

    /// Compare the bundle's log with a checkpoint the auditor already holds (from an earlier bundle, or
    /// published): its size must fall within the bundle's checkpoints, and the tree the bundle rebuilds must
    /// have the same root at that size. A different root means the log was rewritten (or two versions of it
    /// were shown). Call before feeding the files.
    pub fn hold(&mut self, size: u64, root: Hash) {
        if size < self.report.start_size || size > self.report.end_size {
            self.fail(format!(
                "the checkpoint you hold (size {size}) is outside this bundle's checkpoints ({} to {}): it cannot be compared",
                self.report.start_size, self.report.end_size
            ));
        } else {
            self.held = Some((size, root));
        }
    }

    fn check_held(&mut self, size: u64, root: &Hash) {
        if let Some((held, expected)) = self.held
            && held == size
        {
            self.held = None;
            if expected != *root {
                self.fail(format!(
                    "at size {size} the bundle's log has root {}, but the checkpoint you hold has {}: the log was rewritten",
                    short(&hex(root)),
                    short(&hex(&expected))
                ));
            } else {
                self.report.held_matched = Some(size);
            }
        }
    }

    /// The files the manifest lists, in the order they should be fed.
    pub fn files(&self) -> &[String] {
        &self.order
    }

    fn fail(&mut self, message: String) {
        self.report.failures.push(message);
    }

    /// Check one file of the bundle.
    pub fn file(&mut self, path: &str, reader: &mut dyn Read) -> std::io::Result<()> {
        let mut hashing = HashingReader {
            inner: reader,
            hasher: Sha256::new(),
            size: 0,
        };
        if !self.seen.insert(path.to_owned()) {
            self.fail(format!("{path}: appears twice"));
        }
        if path == self.events_file {
            self.events(&mut hashing)?;
        } else {
            let mut bytes = Vec::new();
            hashing.read_to_end(&mut bytes)?;
            self.small_file(path, &bytes);
        }
        let digest = hex(&hashing.hasher.finalize());
        match self.expected.get(path) {
            None => self.fail(format!("{path}: not listed in the manifest (a file was added)")),
            Some(expected) if expected.sha256 != digest || expected.size != hashing.size => {
                self.fail(format!(
                    "{path}: SHA-256 {} differs from the manifest's {} (the file was changed)",
                    short(&digest),
                    short(&expected.sha256)
                ))
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn checkpoint(&mut self, path: &str, bytes: &[u8], size: u64) -> Option<Hash> {
        let text = String::from_utf8_lossy(bytes);
        let opened = match open_note(&text, std::slice::from_ref(&self.key)) {
            Ok(opened) => opened,
            Err(error) => {
                self.fail(format!(
                    "{path}: the checkpoint's signature does not verify with the key: {error}"
                ));
                return None;
            }
        };
        match Checkpoint::parse(&opened.body) {
            Ok(checkpoint) if checkpoint.size == size => Some(checkpoint.root),
            Ok(checkpoint) => {
                self.fail(format!(
                    "{path}: a checkpoint of size {} where the manifest names size {size} (a checkpoint was swapped)",
                    checkpoint.size
                ));
                None
            }
            Err(error) => {
                self.fail(format!("{path}: not a checkpoint: {error}"));
                None
            }
        }
    }

    /// The end checkpoint's cosignatures by the trusted witnesses, against the quorum asked for.
    fn cosignatures(&mut self, path: &str, bytes: &[u8]) {
        if self.witnesses.is_empty() && self.quorum == 0 {
            return;
        }
        let text = String::from_utf8_lossy(bytes);
        match crate::cosignature::verify_cosignatures(&text, &self.witnesses) {
            Ok(found) => {
                self.report.end_cosigned_by =
                    found.into_iter().map(|cosignature| cosignature.witness).collect();
            }
            Err(error) => {
                self.fail(format!("{path}: a cosignature does not verify: {error}"));
                return;
            }
        }
        let have = self.report.end_cosigned_by.len();
        if have < self.quorum {
            let missing: Vec<&str> = self
                .witnesses
                .iter()
                .map(|witness| witness.name())
                .filter(|name| !self.report.end_cosigned_by.iter().any(|found| found == name))
                .collect();
            self.fail(format!(
                "{path}: cosigned by {have} of the {} witnesses required (missing: {}): the checkpoint was not witnessed",
                self.quorum,
                missing.join(", ")
            ));
        }
    }

    fn small_file(&mut self, path: &str, bytes: &[u8]) {
        match path {
            START_CHECKPOINT => self.start = self.checkpoint(path, bytes, self.report.start_size),
            END_CHECKPOINT => {
                self.end = self.checkpoint(path, bytes, self.report.end_size);
                if self.end.is_some() {
                    self.cosignatures(path, bytes);
                }
            }
            START_FRONTIER => {
                let start_root = if self.report.start_size == 0 {
                    Some(empty_root())
                } else {
                    self.start
                };
                let Some(start_root) = start_root else {
                    self.fail(format!("{path}: read before checkpoints/start.txt verified"));
                    return;
                };
                let hashes = serde_json::from_slice::<StartFrontier>(bytes)
                    .ok()
                    .map(|frontier| frontier.hashes);
                match hashes.and_then(|hashes| Frontier::from_parts(self.report.start_size, hashes).ok()) {
                    Some(frontier) if frontier.root() == start_root => {
                        self.check_held(frontier.size(), &start_root);
                        self.frontier = Some(frontier);
                    }
                    Some(_) => self.fail(format!("{path}: does not rebuild the start checkpoint's root")),
                    None => self.fail(format!(
                        "{path}: not a compact range of {} leaves",
                        self.report.start_size
                    )),
                }
            }
            BOUNDARY => self.boundary(path, bytes),
            CHANGES_FILE => {
                for (number, line) in String::from_utf8_lossy(bytes).lines().enumerate() {
                    let digest = serde_json::from_str::<Value>(line)
                        .ok()
                        .map(|event| hex(&Sha256::digest(canonicalize(&event))));
                    if !digest.is_some_and(|digest| self.changes.remove(&digest)) {
                        self.fail(format!(
                            "{path}: line {} is not a change event of events.ndjson",
                            number + 1
                        ));
                    }
                }
                if !self.changes.is_empty() {
                    self.fail(format!(
                        "{path}: {} change event(s) of events.ndjson are left out",
                        self.changes.len()
                    ));
                }
            }
            _ if path.starts_with(DOCUMENTS_DIR) => {
                let name = path.trim_start_matches(DOCUMENTS_DIR);
                let digest = hex(&Sha256::digest(bytes));
                if digest != name {
                    self.fail(format!("{path}: its SHA-256 is {}, not its name", short(&digest)));
                } else if !self.documents.contains(name) {
                    self.fail(format!("{path}: no document event of the bundle logs this hash"));
                }
            }
            CONSISTENCY => {
                let start_root = if self.report.start_size == 0 {
                    Some(empty_root())
                } else {
                    self.start
                };
                let (Some(start_root), Some(end_root)) = (start_root, self.end) else {
                    self.fail(format!("{path}: read before both checkpoints verified"));
                    return;
                };
                let proof = serde_json::from_slice::<ConsistencyProof>(bytes)
                    .ok()
                    .map(|proof| proof.proof);
                let Some(proof) = proof else {
                    self.fail(format!("{path}: not a consistency proof"));
                    return;
                };
                if self.report.start_size > 0
                    && verify_consistency(
                        self.report.start_size,
                        self.report.end_size,
                        &start_root,
                        &end_root,
                        &proof,
                    )
                    .is_err()
                {
                    self.fail(format!(
                        "{path}: the end checkpoint ({}) is not consistent with the start checkpoint ({})",
                        self.report.end_size, self.report.start_size
                    ));
                }
            }
            _ => {}
        }
    }

    /// The last event before the start checkpoint: proven in it, and received before the period starts.
    fn boundary(&mut self, path: &str, bytes: &[u8]) {
        let Some(start_root) = self.start else {
            self.fail(format!("{path}: read before checkpoints/start.txt verified"));
            return;
        };
        let seq = self.report.start_size.saturating_sub(1);
        let Ok(Boundary { event, proof, .. }) = serde_json::from_slice::<Boundary>(bytes) else {
            self.fail(format!("{path}: not the boundary event with its proof"));
            return;
        };
        let leaf = leaf_hash(&canonicalize(&event));
        if event.get("seq").and_then(Value::as_u64) != Some(seq)
            || crate::proof::verify_inclusion(&leaf, seq, self.report.start_size, &proof, &start_root)
                .is_err()
        {
            self.fail(format!(
                "{path}: event seq {seq} is not proven in the start checkpoint ({})",
                self.report.start_size
            ));
            return;
        }
        let received = event.get("received").and_then(Value::as_str).unwrap_or_default();
        if let Some(from) = &self.period.0
            && received >= from.as_str()
        {
            self.fail(format!(
                "the period's start is not covered: event seq {seq}, before the start checkpoint, was received at {received}, after the period starts ({from}); events of the period were left out"
            ));
        }
        self.report.covered_from = Some(received.to_owned());
    }

    fn events(&mut self, reader: &mut dyn Read) -> std::io::Result<()> {
        let Some(mut frontier) = self.frontier.take() else {
            self.fail(format!(
                "{}: read before proofs/start-frontier.json verified, so its events cannot be proven",
                self.events_file
            ));
            return std::io::copy(reader, &mut std::io::sink()).map(|_| ());
        };
        let mut lines = BufReader::new(reader);
        let mut line = String::new();
        let mut broken = false;
        loop {
            line.clear();
            if lines.read_line(&mut line)? == 0 {
                break;
            }
            if broken {
                continue;
            }
            let expected_seq = frontier.size();
            let Some((parsed, malformed)) = self.event_line(&line, expected_seq) else {
                broken = true;
                continue;
            };
            match &parsed.event {
                None => {
                    self.report.events_withheld += 1;
                    if self.all_in_full {
                        self.fail(format!(
                            "event seq {expected_seq} is withheld (only its leaf hash), but the manifest exports every event in full"
                        ));
                    }
                }
                Some(event) => self.event(&parsed, event, &malformed),
            }
            if let Some(received) = parsed
                .event
                .as_ref()
                .and_then(|event| event.get("received"))
                .and_then(Value::as_str)
            {
                self.report.last_received = Some(received.to_owned());
            }
            frontier.push(parsed.leaf);
            if self.held.is_some_and(|(size, _)| size == frontier.size()) {
                self.check_held(frontier.size(), &frontier.root());
            }
            self.report.events += 1;
        }
        if broken {
            return Ok(());
        }
        if self.end.is_none() {
            self.fail("the events cannot be checked against the end checkpoint, which did not verify".into());
        } else if frontier.size() != self.report.end_size {
            self.fail(format!(
                "the events stop at seq {}, but the end checkpoint covers {} events: events were dropped",
                frontier.size(),
                self.report.end_size
            ));
        } else if Some(frontier.root()) != self.end {
            self.fail(format!(
                "the events do not rebuild the end checkpoint's root (size {}): the log was changed",
                self.report.end_size
            ));
        }
        Ok(())
    }

    /// Read the line for `expected_seq`: its [`EventLine`], and the content fields whose clear text does not
    /// fit [`ClearContent`]; `None` (with the failure recorded) when the events cannot be followed past it.
    fn event_line(&mut self, text: &str, expected_seq: u64) -> Option<(EventLine, BTreeSet<String>)> {
        // Every line the writer writes reads as an `EventLine`; the rest are read field by field, to say
        // what is wrong with them.
        match serde_json::from_str::<EventLine>(text) {
            Ok(line) if self.out_of_place(line.seq, expected_seq) => None,
            Ok(line) => Some((line, BTreeSet::new())),
            Err(_) => self.irregular_line(text, expected_seq),
        }
    }

    /// Whether a line's seq is not the one expected there (the failure recorded).
    fn out_of_place(&mut self, seq: u64, expected_seq: u64) -> bool {
        if seq == expected_seq {
            return false;
        }
        self.fail(if seq > expected_seq {
            format!(
                "event seq {expected_seq} is missing (the events jump to seq {seq}): an event was dropped or moved"
            )
        } else {
            format!("event seq {seq} is out of order or repeated (expected seq {expected_seq})")
        });
        true
    }

    /// A line that does not read as an [`EventLine`]: what is wrong with it, in order, and what of it can
    /// still be checked.
    fn irregular_line(&mut self, text: &str, expected_seq: u64) -> Option<(EventLine, BTreeSet<String>)> {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            self.fail(format!(
                "{}: the line for seq {expected_seq} is not JSON",
                self.events_file
            ));
            return None;
        };
        let Some(seq) = value.get("seq").and_then(Value::as_u64) else {
            self.fail(format!(
                "{}: a line without a seq after seq {expected_seq}",
                self.events_file
            ));
            return None;
        };
        if self.out_of_place(seq, expected_seq) {
            return None;
        }
        let Some(leaf) = value.get("leaf").and_then(Value::as_str).and_then(unhex32) else {
            self.fail(format!("event seq {expected_seq}: no leaf hash"));
            return None;
        };
        if let Some(key) = value.as_object().and_then(|line| {
            line.keys()
                .find(|key| !matches!(key.as_str(), "seq" | "leaf" | "event" | "content"))
        }) {
            self.fail(format!(
                "event seq {expected_seq}: unexpected field `{key}` beside the event"
            ));
        }
        let mut line = EventLine::withheld(seq, leaf);
        line.event = value.get("event").cloned();
        let mut malformed = BTreeSet::new();
        if let Some(Value::Object(content)) = value.get("content") {
            for (field, clear) in content {
                match serde_json::from_value::<ClearContent>(clear.clone()) {
                    Ok(clear) => {
                        line.content.insert(field.clone(), clear);
                    }
                    Err(_) => {
                        malformed.insert(field.clone());
                    }
                }
            }
        }
        Some((line, malformed))
    }

    /// The checks of an event carried in full (`line.event`): its leaf, its seq, and its clear content against
    /// its digests; change and document events are noted for their own files.
    fn event(&mut self, line: &EventLine, event: &Value, malformed: &BTreeSet<String>) {
        let seq = line.seq;
        self.report.events_with_body += 1;
        match event.get("kind").and_then(Value::as_str) {
            Some("change") => {
                self.changes.insert(hex(&Sha256::digest(canonicalize(event))));
            }
            Some("document") => {
                if let Some(sha) = event.pointer("/attrs/sha256").and_then(Value::as_str) {
                    self.documents.insert(sha.to_owned());
                }
            }
            _ => {}
        }
        let digests = event.get("content").and_then(Value::as_object);
        if self.with_content
            && let Some(digests) = digests
        {
            let missing = digests
                .keys()
                .filter(|field| !line.content.contains_key(*field) && !malformed.contains(*field))
                .count();
            self.report.content_missing += missing as u64;
        }
        if leaf_hash(&canonicalize(event)) != line.leaf {
            self.fail(format!(
                "event seq {seq} was changed: its canonical form does not hash to the leaf the log committed"
            ));
        }
        if event.get("seq").and_then(Value::as_u64) != Some(seq) {
            self.fail(format!("event seq {seq}: the event names another seq"));
        }
        let fields: BTreeSet<&String> = line.content.keys().chain(malformed).collect();
        for field in fields {
            let digest = digests
                .and_then(|digests| digests.get(field))
                .and_then(Value::as_str);
            let computed = line.content.get(field).map(ClearContent::digest);
            if computed.is_none() || computed.as_deref() != digest {
                self.fail(format!(
                    "event seq {seq}: content `{field}` does not match its committed digest"
                ));
            }
        }
    }

    /// Finish: every listed file seen, every check done.
    pub fn finish(mut self) -> BundleReport {
        if let Some((size, _)) = self.held {
            self.fail(format!(
                "the checkpoint you hold (size {size}) could not be compared: the events did not reach it"
            ));
        }
        self.report.end_root = self.end.map(|root| hex(&root));
        let missing: Vec<String> = self
            .expected
            .keys()
            .filter(|path| !self.seen.contains(*path))
            .cloned()
            .collect();
        for path in missing {
            self.fail(format!(
                "{path}: listed in the manifest but missing from the bundle"
            ));
        }
        if self.report.events + self.report.start_size != self.report.end_size
            && self.report.failures.is_empty()
        {
            self.fail("the bundle's events do not cover the period between its checkpoints".into());
        }
        self.report
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    size: u64,
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.inner.read(buffer)?;
        let read = buffer.get(..count).unwrap_or_default();
        self.hasher.update(read);
        self.size += count as u64;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::note::{NoteSigner, sign_note};
    use crate::proof::{LeafSlice, consistency_proof};

    const ORIGIN: &str = "warrant/test/0001";

    /// A bundle's files in order: (path, bytes).
    type Files = Vec<(String, Vec<u8>)>;

    /// A bundle of `total` events whose period starts after `start` of them: (path, bytes) in order.
    fn bundle(signer: &NoteSigner, start: u64, total: u64) -> (Vec<u8>, String, Files) {
        bundle_from(signer, start, total, None)
    }

    /// Event `seq` is received on 2026-01-(seq + 1); `from` is the period the manifest claims.
    fn bundle_from(
        signer: &NoteSigner,
        start: u64,
        total: u64,
        from: Option<&str>,
    ) -> (Vec<u8>, String, Files) {
        let events: Vec<Value> = (0..total)
            .map(|seq| {
                json!({"seq": seq, "kind": "decision", "n": seq * 7, "received": format!("2026-01-{:02}T00:00:00Z", seq + 1)})
            })
            .collect();
        let leaves: Vec<Hash> = events
            .iter()
            .map(|event| leaf_hash(&canonicalize(event)))
            .collect();
        let mut before = Frontier::new();
        for leaf in leaves.iter().take(start as usize) {
            before.push(*leaf);
        }
        let checkpoint = |size: u64, root: Hash| {
            sign_note(
                &Checkpoint {
                    origin: ORIGIN.into(),
                    size,
                    root,
                }
                .to_body(),
                signer,
            )
            .unwrap()
        };
        let mut full = before.clone();
        for leaf in leaves.iter().skip(start as usize) {
            full.push(*leaf);
        }
        let proof = consistency_proof(&mut LeafSlice(&leaves), start, total).unwrap();
        let mut files = vec![
            (
                "checkpoints/start.txt".to_owned(),
                checkpoint(start, before.root()).into_bytes(),
            ),
            (
                "checkpoints/end.txt".to_owned(),
                checkpoint(total, full.root()).into_bytes(),
            ),
            (
                "proofs/start-frontier.json".to_owned(),
                json!({"hashes": before.hashes().iter().map(|hash| hex(hash)).collect::<Vec<_>>()})
                    .to_string()
                    .into_bytes(),
            ),
            (
                "proofs/consistency.json".to_owned(),
                json!({"proof": proof.iter().map(|hash| hex(hash)).collect::<Vec<_>>()})
                    .to_string()
                    .into_bytes(),
            ),
        ];
        let lines: String = events
            .iter()
            .zip(&leaves)
            .skip(start as usize)
            .map(|(event, leaf)| {
                format!(
                    "{}\n",
                    json!({"seq": event["seq"], "leaf": hex(leaf), "event": event})
                )
            })
            .collect();
        if start > 0 {
            let proof =
                crate::proof::inclusion_proof(&mut LeafSlice(&leaves[..start as usize]), start - 1, start)
                    .unwrap();
            files.push((
                "proofs/boundary.json".to_owned(),
                json!({"event": events[start as usize - 1], "proof": proof.iter().map(|hash| hex(hash)).collect::<Vec<_>>()})
                    .to_string()
                    .into_bytes(),
            ));
        }
        files.push(("events.ndjson".to_owned(), lines.into_bytes()));
        let listed: Vec<Value> = files
            .iter()
            .map(|(path, bytes)| json!({"path": path, "sha256": hex(&Sha256::digest(bytes)), "size": bytes.len()}))
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "format": FORMAT, "start": {"size": start}, "end": {"size": total}, "files": listed,
            "period": {"from": from},
        }))
        .unwrap();
        let signature = sign_note(&signature_body(&manifest), signer).unwrap();
        (manifest, signature, files)
    }

    /// Build and verify a bundle while holding a checkpoint (size, root).
    pub(super) fn run_holding(
        signer: &NoteSigner,
        start: u64,
        total: u64,
        held: Option<(u64, Hash)>,
    ) -> BundleReport {
        let (manifest, signature, files) = bundle_from(signer, start, total, None);
        let mut verifier = BundleVerifier::open(&manifest, &signature, signer.verifier()).unwrap();
        if let Some((size, root)) = held {
            verifier.hold(size, root);
        }
        for (path, bytes) in &files {
            verifier.file(path, &mut bytes.as_slice()).unwrap();
        }
        verifier.finish()
    }

    /// Build and verify a bundle whose manifest claims a period starting at `from`.
    pub(super) fn run_bundle(start: u64, total: u64, from: Option<&str>) -> BundleReport {
        let signer = NoteSigner::from_secret_bytes(ORIGIN, &[3; 32]).unwrap();
        let (manifest, signature, files) = bundle_from(&signer, start, total, from);
        run(&manifest, &signature, &files, signer.verifier())
    }

    fn run(manifest: &[u8], signature: &str, files: &[(String, Vec<u8>)], key: NoteVerifier) -> BundleReport {
        let mut verifier = BundleVerifier::open(manifest, signature, key).unwrap();
        for (path, bytes) in files {
            verifier.file(path, &mut bytes.as_slice()).unwrap();
        }
        verifier.finish()
    }

    #[test]
    fn a_bundle_verifies_and_each_tamper_is_named() {
        let signer = NoteSigner::from_secret_bytes(ORIGIN, &[3; 32]).unwrap();
        let (manifest, signature, files) = bundle(&signer, 5, 13);
        let report = run(&manifest, &signature, &files, signer.verifier());
        assert!(report.ok(), "{report:?}");
        assert_eq!((report.events, report.start_size, report.end_size), (8, 5, 13));

        let edited = |edit: &dyn Fn(&str) -> String| {
            let mut files = files.clone();
            let events = files
                .iter_mut()
                .find(|(path, _)| path == "events.ndjson")
                .unwrap();
            events.1 = edit(std::str::from_utf8(&events.1).unwrap()).into_bytes();
            run(&manifest, &signature, &files, signer.verifier()).failures
        };
        let changed = edited(&|text| text.replacen("\"n\":56", "\"n\":57", 1));
        assert!(changed[0].contains("event seq 8 was changed"), "{changed:?}");
        let dropped = edited(&|text| {
            text.lines()
                .filter(|line| !line.contains("\"n\":63,"))
                .map(|line| format!("{line}\n"))
                .collect()
        });
        assert!(
            dropped
                .first()
                .is_some_and(|failure| failure.contains("event seq 9 is missing")),
            "{dropped:?}"
        );
        let truncated = edited(&|text| text.lines().take(7).map(|line| format!("{line}\n")).collect());
        assert!(
            truncated[0].contains("the events stop at seq 12"),
            "{truncated:?}"
        );

        let other = NoteSigner::from_secret_bytes("warrant/other/0002", &[4; 32]).unwrap();
        let forged = sign_note(&signature_body(&manifest), &other).unwrap();
        assert!(matches!(
            BundleVerifier::open(&manifest, &forged, signer.verifier()),
            Err(BundleError::Signature(_))
        ));
        let mut bigger = manifest.clone();
        bigger.push(b' ');
        assert_eq!(
            BundleVerifier::open(&bigger, &signature, signer.verifier()).err(),
            Some(BundleError::ManifestChanged)
        );
        // Files missing and files added are both named.
        let mut fewer = files.clone();
        fewer.retain(|(path, _)| path != "proofs/consistency.json");
        fewer.push(("extra.txt".into(), b"x".to_vec()));
        let failures = run(&manifest, &signature, &fewer, signer.verifier()).failures;
        assert!(
            failures
                .iter()
                .any(|failure| failure.contains("extra.txt: not listed")),
            "{failures:?}"
        );
        assert!(
            failures.iter().any(
                |failure| failure.contains("proofs/consistency.json: listed in the manifest but missing")
            ),
            "{failures:?}"
        );
    }

    #[test]
    fn a_bundle_from_the_empty_log_needs_no_start_checkpoint() {
        let signer = NoteSigner::from_secret_bytes(ORIGIN, &[3; 32]).unwrap();
        let (_, _, files) = bundle(&signer, 0, 4);
        let files: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .filter(|(path, _)| path != "checkpoints/start.txt")
            .collect();
        let listed: Vec<Value> = files
            .iter()
            .map(|(path, bytes)| json!({"path": path, "sha256": hex(&Sha256::digest(bytes)), "size": bytes.len()}))
            .collect();
        let manifest = serde_json::to_vec(
            &json!({"format": FORMAT, "start": {"size": 0}, "end": {"size": 4}, "files": listed}),
        )
        .unwrap();
        let signature = sign_note(&signature_body(&manifest), &signer).unwrap();
        let report = run(&manifest, &signature, &files, signer.verifier());
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.events, 4);
    }
}

#[cfg(test)]
mod period_tests {

    use super::tests::run_bundle;

    #[test]
    fn a_period_start_cut_off_by_a_later_start_checkpoint_fails() {
        // Events 0..12 are received on Jan 1..12; the start checkpoint is at 5, so event 4 (Jan 5) is the boundary.
        assert!(run_bundle(5, 12, Some("2026-01-06T00:00:00Z")).ok());
        let cut = run_bundle(5, 12, Some("2026-01-03T00:00:00Z"));
        assert!(
            cut.failures
                .iter()
                .any(|failure| failure.contains("the period's start is not covered")),
            "{cut:?}"
        );
    }
}

#[cfg(test)]
mod held_tests {

    use super::*;

    #[test]
    fn a_held_checkpoint_must_agree_with_the_bundles_log() {
        let signer = crate::note::NoteSigner::from_secret_bytes("warrant/test/0001", &[3; 32]).unwrap();
        // The same events the test bundles hold.
        let events: Vec<Value> = (0..12u64)
            .map(|seq| {
                serde_json::json!({"seq": seq, "kind": "decision", "n": seq * 7, "received": format!("2026-01-{:02}T00:00:00Z", seq + 1)})
            })
            .collect();
        let mut frontier = Frontier::new();
        let mut roots = Vec::new();
        for event in &events {
            frontier.push(leaf_hash(&canonicalize(event)));
            roots.push(frontier.root());
        }
        // Held at size 8 (inside a bundle of 5..12): the real root agrees, a different one does not.
        for (root, ok) in [(roots[7], true), ([9u8; 32], false)] {
            let report = super::tests::run_holding(&signer, 5, 12, Some((8, root)));
            assert_eq!(report.ok(), ok, "{report:?}");
            if !ok {
                assert!(
                    report
                        .failures
                        .iter()
                        .any(|failure| failure.contains("the log was rewritten")),
                    "{report:?}"
                );
            }
        }
        let outside = super::tests::run_holding(&signer, 5, 12, Some((3, roots[2])));
        assert!(
            outside
                .failures
                .iter()
                .any(|failure| failure.contains("outside this bundle's checkpoints"))
        );
    }
}
