//! The evidence bundle for one audit period (`warrant evidence export`, `POST /v1/evidence/export`): a
//! directory (or `.tar.gz`) an auditor verifies offline with the log's public key (`warrant verify BUNDLE
//! --key KEY`, `warrant_log::bundle`). The format is described there.
//!
//! Events stream from the store in chunks and each file is hashed as it is written, so memory stays flat
//! however long the period. The period is widened to the checkpoints around it: the start checkpoint is the
//! latest signed at or before `from`, the end checkpoint the first signed at or after `to` (or one signed
//! now), and the bundle carries every event between them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warrant_core::event::format_time;
use warrant_log::bundle::{FORMAT, signature_body};
use warrant_store::{Store, StoreError};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Only these agents' events in full (others as their leaf hashes); all when empty.
    pub agents: Vec<String>,
    /// Clear content (with its salts) beside each event's digests.
    pub with_content: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportSummary {
    pub dir: PathBuf,
    pub start_size: u64,
    pub end_size: u64,
    pub events: u64,
    pub events_in_period: u64,
    pub files: usize,
    pub report: PathBuf,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the bundle at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

/// A file being written: hashed and counted as it goes.
struct Hashed {
    path: String,
    full: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Hashed {
    fn create(dir: &Path, path: &str) -> Result<Hashed, ExportError> {
        let full = dir.join(path);
        let io = |source| ExportError::Io {
            path: full.clone(),
            source,
        };
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        Ok(Hashed {
            path: path.to_owned(),
            out: BufWriter::new(File::create(&full).map_err(io)?),
            full,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        self.out.write_all(bytes).map_err(|source| ExportError::Io {
            path: self.full.clone(),
            source,
        })
    }

    fn finish(mut self) -> Result<Value, ExportError> {
        self.out.flush().map_err(|source| ExportError::Io {
            path: self.full.clone(),
            source,
        })?;
        Ok(json!({"path": self.path, "sha256": hex::encode(self.hasher.finalize()), "size": self.size}))
    }
}

/// Write one whole file into the bundle; returns its manifest entry.
fn write_file(dir: &Path, path: &str, bytes: &[u8]) -> Result<Value, ExportError> {
    let mut file = Hashed::create(dir, path)?;
    file.write(bytes)?;
    file.finish()
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Events per read from the store.
const CHUNK: usize = 5_000;

/// Export the bundle into the directory `dir` (created; must not exist or be empty). `progress` hears
/// (events written, events to write).
pub async fn export(
    store: &Store,
    request: &ExportRequest,
    dir: &Path,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<ExportSummary, ExportError> {
    if request.to <= request.from {
        return Err(ExportError::Invalid(
            "the period's end must be after its start".into(),
        ));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true)
    {
        return Err(ExportError::Invalid(format!(
            "{} exists and is not empty",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    store.flush_rollups().await?;
    store.checkpoint().await?;
    let from = format_time(&request.from);
    let to = format_time(&request.to);
    let start = store.checkpoint_before(&from)?;
    let end = match store.checkpoint_after(&to)? {
        Some(end) => end,
        None => store
            .latest_checkpoint()?
            .ok_or_else(|| ExportError::Invalid("the log is empty: nothing to export".into()))?,
    };
    let start_size = start.as_ref().map_or(0, |start| start.size);
    let mut files = Vec::new();
    if let Some(start) = &start {
        files.push(write_file(dir, "checkpoints/start.txt", start.note.as_bytes())?);
    }
    files.push(write_file(dir, "checkpoints/end.txt", end.note.as_bytes())?);
    let frontier = store
        .compact_range(start_size)
        .map_err(|error| ExportError::Other(error.to_string()))?;
    files.push(write_file(
        dir,
        "proofs/start-frontier.json",
        &pretty(&json!({"size": start_size, "hashes": frontier.iter().map(hex::encode).collect::<Vec<_>>()})),
    )?);
    let consistency = if start_size == 0 {
        Vec::new()
    } else {
        store
            .consistency_proof(start_size, end.size)
            .map_err(|error| ExportError::Other(error.to_string()))?
    };
    files.push(write_file(
        dir,
        "proofs/consistency.json",
        &pretty(&json!({"from": start_size, "to": end.size, "proof": consistency.iter().map(hex::encode).collect::<Vec<_>>()})),
    )?);

    // The last event before the start checkpoint, with its proof: it shows the period's start is covered
    // (it was received before the period began), so no prefix of the period can be cut off.
    if start_size > 0 {
        let boundary = store
            .export_events(start_size - 1, start_size, 1, false)?
            .pop()
            .ok_or_else(|| {
                ExportError::Other(format!("event {} is missing from the store", start_size - 1))
            })?;
        let proof = store
            .inclusion_proof(boundary.seq, start_size)
            .map_err(|error| ExportError::Other(error.to_string()))?;
        files.push(write_file(
            dir,
            "proofs/boundary.json",
            &pretty(&json!({
                "seq": boundary.seq, "leaf": hex::encode(boundary.leaf), "event": boundary.body,
                "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
            })),
        )?);
    }

    // The events, streamed; registry changes and access reviews are also gathered for their own files.
    let mut events_file = Hashed::create(dir, "events.ndjson")?;
    let mut changes_file = Hashed::create(dir, "registry/changes.ndjson")?;
    let mut reviews = Vec::new();
    let mut documents: Vec<String> = Vec::new();
    let total = end.size - start_size;
    let (mut written, mut in_period) = (0u64, 0u64);
    let mut next = start_size;
    while next < end.size {
        let events = store.export_events(next, end.size, CHUNK, request.with_content)?;
        let Some(last) = events.last().map(|event| event.seq) else {
            return Err(ExportError::Other(format!(
                "event {next} is missing from the store"
            )));
        };
        for event in events {
            if event.seq != next {
                return Err(ExportError::Other(format!(
                    "event {next} is missing from the store"
                )));
            }
            next += 1;
            let agent = event.body.get("agent").and_then(Value::as_str);
            let included = request.agents.is_empty()
                || agent.is_none_or(|agent| request.agents.iter().any(|a| a == agent));
            let received = event
                .body
                .get("received")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if received >= from.as_str() && received < to.as_str() {
                in_period += 1;
            }
            let line = if included {
                let mut line =
                    json!({"seq": event.seq, "leaf": hex::encode(event.leaf), "event": event.body});
                if request.with_content
                    && !event.content.is_empty()
                    && let Some(object) = line.as_object_mut()
                {
                    object.insert("content".into(), Value::Object(event.content));
                }
                line
            } else {
                json!({"seq": event.seq, "leaf": hex::encode(event.leaf)})
            };
            match (
                line.pointer("/event/kind").and_then(Value::as_str),
                line.get("event"),
            ) {
                (Some("change"), Some(event)) => {
                    let mut text = serde_json::to_vec(event).unwrap_or_default();
                    text.push(b'\n');
                    changes_file.write(&text)?;
                }
                (Some("review"), Some(event)) => reviews.push(event.clone()),
                (Some("document"), Some(event)) => {
                    if let Some(sha) = event.pointer("/attrs/sha256").and_then(Value::as_str) {
                        documents.push(sha.to_owned());
                    }
                }
                _ => {}
            }
            let mut text = serde_json::to_vec(&line).unwrap_or_default();
            text.push(b'\n');
            events_file.write(&text)?;
            written += 1;
        }
        progress(written, total);
        if last + 1 != next {
            return Err(ExportError::Other(format!(
                "events out of order before seq {next}"
            )));
        }
    }
    files.push(events_file.finish()?);
    files.push(changes_file.finish()?);
    files.push(write_file(
        dir,
        "registry/start.json",
        &pretty(&json!(store.registry_at(start_size)?)),
    )?);
    files.push(write_file(
        dir,
        "registry/end.json",
        &pretty(&json!(store.registry_at(end.size)?)),
    )?);
    // The documents whose hashes the period's events log, so an auditor can read what the SoA cites.
    documents.sort();
    documents.dedup();
    for sha in &documents {
        if let Some(content) = store.document_content(sha)? {
            files.push(write_file(dir, &format!("documents/{sha}"), &content)?);
        }
    }

    // The documents of the period, as the auditor reads them.
    let reports = crate::export::report::reports(store, request, &reviews, start_size, end.size).await?;
    for (path, bytes) in &reports.files {
        files.push(write_file(dir, path, bytes)?);
    }
    let html = crate::export::report::html(
        &reports,
        &crate::export::report::Seal {
            start_size,
            end_size: end.size,
            end_root: hex::encode(end.root),
            events: written,
            in_period,
        },
        request,
    );
    files.push(write_file(dir, "report.html", html.as_bytes())?);

    let manifest = json!({
        "format": FORMAT,
        "origin": store.origin(),
        "organization": reports.organization,
        "period": {"from": from, "to": to},
        "created_at": format_time(&Utc::now()),
        "key": store.verifier_key(),
        "start": {"size": start_size, "time": start.as_ref().map(|start| start.time.clone())},
        "end": {"size": end.size, "time": end.time},
        "events": {
            "file": "events.ndjson", "first_seq": start_size, "count": written, "in_period": in_period,
            "with_content": request.with_content,
            "agents": if request.agents.is_empty() { Value::Null } else { json!(request.agents) },
        },
        "files": files,
    });
    let manifest_bytes = pretty(&manifest);
    std::fs::write(dir.join("manifest.json"), &manifest_bytes).map_err(|source| ExportError::Io {
        path: dir.join("manifest.json"),
        source,
    })?;
    let signature = store.sign(&signature_body(&manifest_bytes))?;
    std::fs::write(dir.join("manifest.sig"), signature).map_err(|source| ExportError::Io {
        path: dir.join("manifest.sig"),
        source,
    })?;
    Ok(ExportSummary {
        dir: dir.to_owned(),
        start_size,
        end_size: end.size,
        events: written,
        events_in_period: in_period,
        files: files.len(),
        report: dir.join("report.html"),
    })
}

/// The files of a bundle directory in the order a verifier reads them: the manifest and its signature, then
/// the manifest's list.
pub fn bundle_order(dir: &Path) -> Result<Vec<String>, ExportError> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).map_err(|source| {
            ExportError::Io {
                path: dir.join("manifest.json"),
                source,
            }
        })?)
        .map_err(|error| ExportError::Other(format!("manifest.json: {error}")))?;
    let mut order = vec!["manifest.json".to_owned(), "manifest.sig".to_owned()];
    order.extend(
        manifest
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|file| file.get("path").and_then(Value::as_str).map(str::to_owned)),
    );
    Ok(order)
}

/// Pack a bundle directory into a `.tar.gz` at `out`, in verification order, streaming.
pub fn pack(dir: &Path, out: &Path) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: out.to_owned(),
        source,
    };
    let file = File::create(out).map_err(io)?;
    let encoder = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut archive = tar::Builder::new(encoder);
    for path in bundle_order(dir)? {
        let mut source = File::open(dir.join(&path)).map_err(io)?;
        archive
            .append_file(format!("bundle/{path}"), &mut source)
            .map_err(io)?;
    }
    let encoder = archive.into_inner().map_err(io)?;
    encoder.finish().map_err(io)?.flush().map_err(io)?;
    Ok(())
}
