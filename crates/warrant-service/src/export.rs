//! Evidence export: the signed bundle of one audit period (`bundle`) and the documents and HTML report inside
//! it (`report`).

pub mod bundle;
mod report;

pub use self::bundle::{bundle_order, export, pack};

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use warrant_api::ErrorCode;
use warrant_store::{Store, StoreError};

use crate::error::{Result, ServiceError};

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

impl ExportRequest {
    /// A request from the wire: `from` and `to` are dates (YYYY-MM-DD) or RFC 3339 times.
    pub fn parse(from: &str, to: &str, agents: Vec<String>, with_content: bool) -> Result<ExportRequest> {
        let when = |text: &str, name: &str| {
            warrant_core::event::parse_when(text).ok_or_else(|| {
                ServiceError::invalid(
                    ErrorCode::InvalidRequest,
                    format!("`{name}` is a date (YYYY-MM-DD) or an RFC 3339 time, not `{text}`"),
                )
            })
        };
        Ok(ExportRequest {
            from: when(from, "from")?,
            to: when(to, "to")?,
            agents,
            with_content,
        })
    }
}

/// A packed bundle in the data directory's `exports/`; the caller streams it and removes it.
pub struct Archive {
    pub path: PathBuf,
    /// The file name to offer a downloader.
    pub name: String,
}

/// Build the bundle of `request` in the data directory and pack it as a `.tar.gz`; the unpacked directory is
/// removed. Nothing is left behind on failure.
pub async fn archive(store: &Store, request: ExportRequest, now: DateTime<Utc>) -> Result<Archive> {
    let exports = store.dir().join("exports");
    let name = format!("bundle-{}-{}", now.format("%Y%m%dT%H%M%S%.f"), std::process::id());
    let dir = exports.join(&name);
    let path = exports.join(format!("{name}.tar.gz"));
    let (store, built_dir, built_archive) = (store.clone(), dir.clone(), path.clone());
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        let summary = handle.block_on(export(&store, &request, &built_dir, |_, _| {}));
        let packed = summary.and_then(|_| pack(&built_dir, &built_archive));
        let _ = std::fs::remove_dir_all(&built_dir);
        packed
    })
    .await
    .map_err(|error| ServiceError::internal(&error))?;
    if let Err(error) = result {
        let _ = std::fs::remove_file(&path);
        return Err(match error {
            ExportError::Invalid(message) => ServiceError::invalid(ErrorCode::InvalidRequest, message),
            other => ServiceError::internal(&other),
        });
    }
    Ok(Archive {
        path,
        name: format!("{name}.tar.gz"),
    })
}

/// Verify a bundle archive (`.tar.gz`, as `warrant evidence export` packs it: the manifest and its signature
/// first) as it streams in: every file against the signed manifest, every event rebuilt into the end root.
/// `trust` is what the auditor holds beside the key: a checkpoint from before, the witnesses and their quorum. An error is an archive that cannot be read
/// as a bundle at all; everything else is in the report's failures.
pub fn verify_archive(
    archive: impl std::io::Read,
    key: warrant_log::note::NoteVerifier,
    trust: warrant_log::bundle::BundleTrust,
) -> std::result::Result<warrant_log::bundle::BundleReport, String> {
    use std::io::Read;
    let reading = |error: std::io::Error| format!("reading the archive: {error}");
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut entries = tar.entries().map_err(reading)?;
    let mut next = |expected: &str| -> std::result::Result<Vec<u8>, String> {
        let mut entry = loop {
            let entry = entries
                .next()
                .ok_or_else(|| format!("the archive ends before {expected}"))?
                .map_err(reading)?;
            if entry.header().entry_type() != tar::EntryType::Directory {
                break entry;
            }
        };
        let path = entry.path().map_err(reading)?.to_string_lossy().into_owned();
        if path != format!("bundle/{expected}") {
            return Err(format!(
                "the archive holds {path} where bundle/{expected} must come: a bundle archive starts with its manifest and signature, as `warrant evidence export` packs it; unpack it and verify the directory"
            ));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(reading)?;
        Ok(bytes)
    };
    let manifest = next("manifest.json")?;
    let signature = String::from_utf8_lossy(&next("manifest.sig")?).into_owned();
    let mut verifier = match warrant_log::bundle::BundleVerifier::open(&manifest, &signature, key) {
        Ok(verifier) => verifier,
        Err(error) => {
            return Ok(warrant_log::bundle::BundleReport {
                failures: vec![error.to_string()],
                ..Default::default()
            });
        }
    };
    verifier.trust(trust);
    for entry in entries {
        let mut entry = entry.map_err(reading)?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            continue;
        }
        let path = entry.path().map_err(reading)?.to_string_lossy().into_owned();
        let path = path.strip_prefix("bundle/").unwrap_or(&path).to_owned();
        verifier.file(&path, &mut entry).map_err(reading)?;
    }
    Ok(verifier.finish())
}
