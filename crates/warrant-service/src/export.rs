//! Evidence export: the signed bundle of one audit period (`bundle`) and the documents and HTML report inside
//! it (`report`).

pub mod bundle;
mod report;

pub use self::bundle::{ExportError, ExportRequest, ExportSummary, bundle_order, export, pack};

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use warrant_api::ErrorCode;
use warrant_store::Store;

use crate::error::{Result, ServiceError};

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
