//! The evidence bundle for one audit period (`warrant evidence export`, `POST /v1/evidence/export`): a
//! directory (or `.tar.gz`) an auditor verifies offline with the log's public key (`warrant verify BUNDLE
//! --key KEY`, `warrant_log::bundle`). The format is described there.
//!
//! The store reads; `warrant_log::bundle::BundleWriter` owns the files and the manifest. Events stream from
//! the store in chunks and each file is hashed as it is written, so memory stays flat however long the
//! period. The period is widened to the checkpoints around it: the start checkpoint is the latest signed at
//! or before `from`, the end checkpoint the first signed at or after `to` (or one signed now), and the bundle
//! carries every event between them. The reports are as of the period's end, `to` (or the export, for a
//! period not over yet), whatever checkpoint the period widens to.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::Utc;
use serde_json::Value;
use warrant_core::event::format_time;
use warrant_log::bundle::{
    BOUNDARY, Boundary, BundleWriteError, BundleWriter, CHANGES_FILE, CONSISTENCY, CheckpointRef,
    ClearContent, ConsistencyProof, DOCUMENTS_DIR, END_CHECKPOINT, EVENTS_FILE, EventLine, EventsInfo,
    MANIFEST_FILE, Manifest, Period, SIGNATURE_FILE, START_CHECKPOINT, START_FRONTIER, StartFrontier,
};
use warrant_store::Store;

use crate::export::{ExportError, ExportRequest, ExportSummary};

impl From<BundleWriteError> for ExportError {
    fn from(error: BundleWriteError) -> ExportError {
        match error {
            BundleWriteError::Io { path, source } => ExportError::Io { path, source },
            BundleWriteError::Format(message) => ExportError::Other(message),
        }
    }
}

fn failed(error: impl std::fmt::Display) -> ExportError {
    ExportError::Other(error.to_string())
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
    let mut bundle = BundleWriter::create(dir)?;
    store.flush_rollups().await?;
    store.checkpoint().await?;
    // One time for the whole export: the manifest's `created_at` and the report's "generated".
    let exported_at = Utc::now();
    // The reports are as of the period's end; a period that has not ended yet is reported as it stands now.
    let as_of = request.to.min(exported_at);
    let from = format_time(&request.from);
    let to = format_time(&request.to);
    let start = store.checkpoint_before(&from)?;
    let end = match store.checkpoint_after(&to)? {
        Some(end) => end,
        None => store
            .latest_checkpoint()?
            .ok_or_else(|| ExportError::Invalid("the log is empty: nothing to export".into()))?,
    };
    // A later checkpoint the witnesses already cosigned covers the period too, and lets an auditor check
    // the bundle against the witnesses (one signed just now has not been witnessed yet).
    let end = match store.cosigned_checkpoints(1)?.into_iter().next() {
        Some(cosigned) if cosigned.size >= end.size => cosigned,
        _ => end,
    };
    let start_size = start.as_ref().map_or(0, |start| start.size);
    if let Some(start) = &start {
        bundle.write(START_CHECKPOINT, start.cosigned_note().as_bytes())?;
    }
    bundle.write(END_CHECKPOINT, end.cosigned_note().as_bytes())?;
    let frontier = store.compact_range(start_size).map_err(failed)?;
    bundle.write_json(
        START_FRONTIER,
        &StartFrontier {
            size: Some(start_size),
            hashes: frontier,
        },
    )?;
    let consistency = if start_size == 0 {
        Vec::new()
    } else {
        store.consistency_proof(start_size, end.size).map_err(failed)?
    };
    bundle.write_json(
        CONSISTENCY,
        &ConsistencyProof {
            from: Some(start_size),
            to: Some(end.size),
            proof: consistency,
        },
    )?;

    // The last event before the start checkpoint, with its proof: it shows the period's start is covered
    // (it was received before the period began), so no prefix of the period can be cut off.
    if start_size > 0 {
        let boundary = store
            .export_events(start_size - 1, start_size, 1, false)?
            .pop()
            .ok_or_else(|| {
                ExportError::Other(format!("event {} is missing from the store", start_size - 1))
            })?;
        let proof = store.inclusion_proof(boundary.seq, start_size).map_err(failed)?;
        bundle.write_json(
            BOUNDARY,
            &Boundary {
                seq: Some(boundary.seq.get()),
                leaf: Some(boundary.leaf),
                event: boundary.body,
                proof,
            },
        )?;
    }

    // The events, streamed; registry changes and access reviews are also gathered for their own files.
    let mut events_file = bundle.start(EVENTS_FILE)?;
    let mut changes_file = bundle.start(CHANGES_FILE)?;
    let mut reviews = Vec::new();
    let mut documents: Vec<String> = Vec::new();
    let total = end.size - start_size;
    let (mut written, mut in_period) = (0u64, 0u64);
    let mut next = start_size;
    while next < end.size {
        let events = store.export_events(next, end.size, CHUNK, request.with_content)?;
        let Some(last) = events.last().map(|event| event.seq.get()) else {
            return Err(ExportError::Other(format!(
                "event {next} is missing from the store"
            )));
        };
        for event in events {
            if event.seq.get() != next {
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
                let mut line = EventLine::full(event.seq.get(), event.leaf, event.body);
                if request.with_content {
                    line.content = clear_content(event.seq.get(), event.content)?;
                }
                line
            } else {
                EventLine::withheld(event.seq.get(), event.leaf)
            };
            match (line.kind(), &line.event) {
                (Some("change"), Some(body)) => changes_file.write_line(body)?,
                (Some("review"), Some(body)) => reviews.push(body.clone()),
                (Some("document"), Some(body)) => {
                    if let Some(sha) = body.pointer("/attrs/sha256").and_then(Value::as_str) {
                        documents.push(sha.to_owned());
                    }
                }
                _ => {}
            }
            events_file.write_line(&line)?;
            written += 1;
        }
        progress(written, total);
        if last + 1 != next {
            return Err(ExportError::Other(format!(
                "events out of order before seq {next}"
            )));
        }
    }
    bundle.close(events_file)?;
    bundle.close(changes_file)?;
    bundle.write_json("registry/start.json", &store.registry_at(start_size)?)?;
    bundle.write_json("registry/end.json", &store.registry_at(end.size)?)?;
    // The documents whose hashes the period's events log, so an auditor can read what the SoA cites.
    documents.sort();
    documents.dedup();
    for sha in &documents {
        if let Some(content) = store.document_content(sha)? {
            bundle.write(&format!("{DOCUMENTS_DIR}{sha}"), &content)?;
        }
    }

    // The documents of the period, as the auditor reads them.
    let reports =
        crate::export::report::reports(store, request, &reviews, start_size, end.size, as_of, exported_at)
            .await?;
    for (path, bytes) in &reports.files {
        bundle.write(path, bytes)?;
    }
    let html = crate::export::report::html(
        &reports,
        &crate::export::report::Seal {
            start_size,
            end_size: end.size,
            end_root: hex::encode(end.root),
            events: written,
            in_period,
            generated: exported_at,
        },
        request,
    );
    bundle.write("report.html", html.as_bytes())?;

    let mut manifest = Manifest::new(start_size, end.size);
    manifest.origin = Some(store.origin().to_owned());
    manifest.organization = reports.organization.clone();
    manifest.period = Period {
        from: Some(from),
        to: Some(to),
    };
    manifest.created_at = Some(format_time(&exported_at));
    manifest.key = Some(store.verifier_key().to_owned());
    manifest.start = CheckpointRef {
        size: start_size,
        time: start.as_ref().map(|start| format_time(&start.time)),
    };
    manifest.end = CheckpointRef {
        size: end.size,
        time: Some(format_time(&end.time)),
    };
    manifest.events = Some(EventsInfo {
        file: EVENTS_FILE.to_owned(),
        first_seq: start_size,
        count: written,
        in_period,
        with_content: request.with_content,
        agents: (!request.agents.is_empty()).then(|| request.agents.clone()),
    });
    let unsigned = bundle.finish(manifest)?;
    let signature = store.sign(&unsigned.signature_body())?;
    let manifest = unsigned.seal(&signature)?;
    Ok(ExportSummary {
        dir: dir.to_owned(),
        start_size,
        end_size: end.size,
        events: written,
        events_in_period: in_period,
        files: manifest.files.len(),
        report: dir.join("report.html"),
    })
}

/// An event's clear content as the store reads it (`{salt, text}` by field) for its line.
fn clear_content(
    seq: u64,
    content: serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, ClearContent>, ExportError> {
    content
        .into_iter()
        .map(|(field, clear)| {
            let clear = serde_json::from_value(clear)
                .map_err(|error| ExportError::Other(format!("event {seq}: content `{field}`: {error}")))?;
            Ok((field, clear))
        })
        .collect()
}

/// The files of a bundle directory in the order a verifier reads them: the manifest and its signature, then
/// the manifest's list.
pub fn bundle_order(dir: &Path) -> Result<Vec<String>, ExportError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ExportError::Io {
        path: path.clone(),
        source,
    })?;
    let manifest =
        Manifest::parse(&bytes).map_err(|error| ExportError::Other(format!("{MANIFEST_FILE}: {error}")))?;
    let mut order = vec![MANIFEST_FILE.to_owned(), SIGNATURE_FILE.to_owned()];
    order.extend(manifest.files.into_iter().map(|file| file.path));
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
