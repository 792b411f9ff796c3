//! `warrant evidence export` (a signed bundle for one audit period) and `warrant verify BUNDLE --key KEY`
//! (offline, with `warrant_log::bundle` only).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use serde_json::json;
use warrant_log::bundle::{BundleReport, BundleTrust, BundleVerifier};
use warrant_log::cosignature::CosignatureVerifier;
use warrant_log::note::NoteVerifier;
use warrant_service::export::{ExportRequest, export, pack};

use crate::Failure;
use crate::cli::Cli;
use crate::client::Client;
use crate::output::{print, print_as};

/// A date (the day's start, UTC) or an RFC 3339 time.
pub fn parse_when(text: &str, name: &str) -> Result<DateTime<Utc>, Failure> {
    warrant_core::event::parse_when(text).ok_or_else(|| {
        Failure::Usage(anyhow!(
            "--{name} is a date (YYYY-MM-DD) or an RFC 3339 time, not `{text}`"
        ))
    })
}

fn is_archive(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// What `warrant evidence export` wrote. A local export knows its counts; a download only where it went.
#[derive(Debug, Default, serde::Serialize)]
struct Exported {
    out: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events_in_period: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<usize>,
    report: String,
}

/// `warrant evidence export`.
pub fn export_command(cli: &Cli, client: &Client, request: ExportRequest, out: &Path) -> Result<(), Failure> {
    if out.exists()
        && (is_archive(out)
            || std::fs::read_dir(out)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(true))
    {
        return Err(Failure::Usage(anyhow!("{} already exists", out.display())));
    }
    let summary = match client.local_store() {
        Some((store, runtime)) => {
            let dir = if is_archive(out) {
                out.with_extension("").with_extension("export-tmp")
            } else {
                out.to_owned()
            };
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = runtime
                .block_on(export(store, &request, &dir, |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                }))
                .map_err(|error| match error {
                    warrant_service::export::ExportError::Invalid(message) => {
                        Failure::Usage(anyhow!(message))
                    }
                    other => Failure::Check(anyhow!(other)),
                })?;
            bar.finish_and_clear();
            if is_archive(out) {
                pack(&dir, out).map_err(|error| Failure::Check(anyhow!(error)))?;
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            Exported {
                out: out.display().to_string(),
                start_size: Some(summary.start_size),
                end_size: Some(summary.end_size),
                events: Some(summary.events),
                events_in_period: Some(summary.events_in_period),
                files: Some(summary.files),
                report: if is_archive(out) {
                    "report.html (inside the archive)".to_owned()
                } else {
                    summary.report.display().to_string()
                },
            }
        }
        None => {
            let body = warrant_api::export::ExportRequest {
                from: warrant_core::event::format_time(&request.from),
                to: warrant_core::event::format_time(&request.to),
                agents: request.agents,
                with_content: request.with_content,
            };
            let body = serde_json::to_vec(&body).context("encoding request")?;
            let archive = if is_archive(out) {
                out.to_owned()
            } else {
                out.with_extension("tar.gz")
            };
            client.download("/v1/evidence/export", ("application/json", body), &archive)?;
            if !is_archive(out) {
                unpack(&archive, out)?;
                std::fs::remove_file(&archive).with_context(|| format!("removing {}", archive.display()))?;
            }
            Exported {
                out: out.display().to_string(),
                report: if is_archive(out) {
                    "report.html (inside the archive)".to_owned()
                } else {
                    out.join("report.html").display().to_string()
                },
                ..Exported::default()
            }
        }
    };
    print_as(cli.output, &summary, |summary| {
        format!(
            "evidence bundle written to {}{}\nreport: {}\nverify offline: warrant verify {} --key '<the log key>'\n",
            summary.out,
            summary
                .events
                .map(|events| format!(
                    " ({events} events between checkpoints {} and {}, {} files)",
                    summary.start_size.unwrap_or(0),
                    summary.end_size.unwrap_or(0),
                    summary.files.unwrap_or(0)
                ))
                .unwrap_or_default(),
            summary.report,
            summary.out
        )
    });
    Ok(())
}

/// Unpack a bundle archive into `dir` (entries are `bundle/<path>`; nothing may escape `dir`).
fn unpack(archive: &Path, dir: &Path) -> Result<(), Failure> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut entries = tar::Archive::new(flate2::read::GzDecoder::new(file));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for entry in entries.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let path = entry.path().context("reading the archive")?.into_owned();
        let Ok(relative) = path.strip_prefix("bundle") else {
            return Err(Failure::Check(anyhow!(
                "unexpected entry {} in the archive",
                path.display()
            )));
        };
        if relative
            .components()
            .any(|part| !matches!(part, std::path::Component::Normal(_)))
        {
            return Err(Failure::Check(anyhow!(
                "unsafe entry {} in the archive",
                path.display()
            )));
        }
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

/// Whether `path` is an evidence bundle (a directory with a manifest, or an archive).
pub fn is_bundle(path: &Path) -> bool {
    is_archive(path) || path.join("manifest.json").exists()
}

/// The verifier key: the key text itself, or a file holding it.
fn verifier_key(key: Option<&str>) -> Result<NoteVerifier, Failure> {
    let key = key.ok_or_else(|| {
        Failure::Usage(anyhow!(
            "verifying a bundle needs the log's public key: --key KEY (see `warrant log key`)"
        ))
    })?;
    let text = if Path::new(key).is_file() {
        std::fs::read_to_string(key).with_context(|| format!("reading {key}"))?
    } else if !key.contains('+') {
        return Err(Failure::Usage(anyhow!(
            "--key `{key}` is neither a verifier key (`<name>+<id>+<key>`) nor a file"
        )));
    } else {
        key.to_owned()
    };
    NoteVerifier::parse_vkey(text.trim())
        .map_err(|error| Failure::Usage(anyhow!("--key is not a verifier key: {error}")))
}

/// The report of a bundle whose manifest cannot be trusted: nothing else is checked.
fn unopened(error: &warrant_log::bundle::BundleError) -> BundleReport {
    BundleReport {
        failures: vec![error.to_string()],
        ..BundleReport::default()
    }
}

/// A signed checkpoint the auditor holds: verified with the same key, its size and root.
fn held_checkpoint(file: &Path, key: &NoteVerifier) -> Result<(u64, [u8; 32]), Failure> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let opened = warrant_log::note::open_note(&text, std::slice::from_ref(key)).map_err(|error| {
        Failure::Usage(anyhow!(
            "{}: not a checkpoint signed by the key: {error}",
            file.display()
        ))
    })?;
    let checkpoint = warrant_log::checkpoint::Checkpoint::parse(&opened.body)
        .map_err(|error| Failure::Usage(anyhow!("{}: not a checkpoint: {error}", file.display())))?;
    Ok((checkpoint.size, checkpoint.root))
}

pub(crate) fn verify_dir(dir: &Path, key: NoteVerifier, trust: BundleTrust) -> Result<BundleReport, Failure> {
    let read = |name: &str| {
        std::fs::read(dir.join(name)).with_context(|| format!("reading {}", dir.join(name).display()))
    };
    let manifest = read("manifest.json")?;
    let signature = String::from_utf8_lossy(&read("manifest.sig")?).into_owned();
    let mut verifier = match BundleVerifier::open(&manifest, &signature, key) {
        Ok(verifier) => verifier,
        Err(error) => return Ok(unopened(&error)),
    };
    verifier.trust(trust);
    let listed: Vec<String> = verifier.files().to_vec();
    for path in &listed {
        let full = dir.join(path);
        // A file that cannot be opened is reported as missing by `finish`.
        if let Ok(mut file) = File::open(&full) {
            verifier
                .file(path, &mut file)
                .with_context(|| format!("reading {}", full.display()))?;
        }
    }
    // Files in the directory the manifest does not list.
    for extra in walk(dir)? {
        if extra != "manifest.json" && extra != "manifest.sig" && !listed.contains(&extra) {
            let mut file = File::open(dir.join(&extra)).with_context(|| format!("reading {extra}"))?;
            verifier
                .file(&extra, &mut file)
                .with_context(|| format!("reading {extra}"))?;
        }
    }
    Ok(verifier.finish())
}

fn walk(dir: &Path) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in
            std::fs::read_dir(dir.join(&relative)).with_context(|| format!("listing {}", dir.display()))?
        {
            let entry = entry.context("listing the bundle")?;
            let path = relative.join(entry.file_name());
            if entry.file_type().context("listing the bundle")?.is_dir() {
                stack.push(path);
            } else {
                out.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

fn verify_archive(archive: &Path, key: NoteVerifier, trust: BundleTrust) -> Result<BundleReport, Failure> {
    let file = File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    warrant_service::export::verify_archive(file, key, trust).map_err(|error| Failure::Check(anyhow!(error)))
}

/// A `--witness` value: `NAME=VKEY` (the name must be the key's) or the vkey alone.
fn witness_key(text: &str) -> Result<CosignatureVerifier, Failure> {
    let (name, vkey) = match text.split_once('=') {
        Some((name, vkey)) if !name.contains('+') => (Some(name), vkey),
        _ => (None, text),
    };
    let verifier = CosignatureVerifier::parse_vkey(vkey.trim()).map_err(|error| {
        Failure::Usage(anyhow!(
            "--witness {text}: not a witness key (`<name>+<id>+<base64 key>`, type 0x04): {error}"
        ))
    })?;
    if let Some(name) = name
        && name != verifier.name()
    {
        return Err(Failure::Usage(anyhow!(
            "--witness {name}=...: the key is {}'s, not {name}'s",
            verifier.name()
        )));
    }
    Ok(verifier)
}

/// `warrant verify BUNDLE --key KEY`: exit 0 when everything verifies, 1 with each failure named.
pub fn verify_bundle(
    cli: &Cli,
    path: &Path,
    options: &crate::commands::VerifyOptions<'_>,
) -> Result<ExitCode, Failure> {
    let key = verifier_key(options.key)?;
    let held = options
        .checkpoint
        .map(|file| held_checkpoint(file, &key))
        .transpose()?;
    let witnesses = options
        .witnesses
        .iter()
        .map(|witness| witness_key(witness))
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = options.policy.unwrap_or(witnesses.len());
    if quorum > witnesses.len() {
        return Err(Failure::Usage(anyhow!(
            "--policy {quorum} asks for more cosignatures than the {} --witness keys given",
            witnesses.len()
        )));
    }
    let trust = BundleTrust {
        held,
        witnesses,
        quorum,
    };
    let report = if is_archive(path) {
        verify_archive(path, key, trust)?
    } else {
        verify_dir(path, key, trust)?
    };
    let answer = json!({
        "ok": report.ok(), "failures": report.failures, "files": report.files, "events": report.events,
        "events_with_body": report.events_with_body, "events_withheld": report.events_withheld,
        "content_missing": report.content_missing, "start_size": report.start_size, "end_size": report.end_size,
        "end_root": report.end_root, "covered_from": report.covered_from, "last_received": report.last_received,
        "end_cosigned_by": report.end_cosigned_by,
    });
    print(cli.output, &answer, |_| {
        let mut out = String::new();
        for failure in &report.failures {
            out.push_str(&format!("FAIL {failure}\n"));
        }
        if report.ok() {
            out.push_str(&format!(
                "bundle verified: manifest signed by the key, {} files match their hashes, {} events ({} in full, {} withheld by an agent filter) rebuild checkpoint {} from checkpoint {}\n  end root {}: compare it with a checkpoint you hold\n",
                report.files,
                report.events,
                report.events_with_body,
                report.events_withheld,
                report.end_size,
                report.start_size,
                report.end_root.as_deref().unwrap_or("-")
            ));
            out.push_str(&format!(
                "  covers events received after {} up to {}\n",
                report.covered_from.as_deref().unwrap_or("the log's start"),
                report.last_received.as_deref().unwrap_or("-")
            ));
            if !report.end_cosigned_by.is_empty() {
                out.push_str(&format!(
                    "  end checkpoint cosigned by {} witness(es): {}\n",
                    report.end_cosigned_by.len(),
                    report.end_cosigned_by.join(", ")
                ));
            }
            if let Some(size) = report.held_matched {
                out.push_str(&format!("  agrees with the checkpoint you hold (size {size})\n"));
            }
            if report.content_missing > 0 {
                out.push_str(&format!(
                    "  {} content field(s) carry only their digest (erased, or not exported)\n",
                    report.content_missing
                ));
            }
            out.push_str("  the reports are warrant's statements as of the period's end (or the export, if earlier), sealed by their hashes, not recomputed from the events\n");
        } else {
            out.push_str(&format!(
                "bundle verification FAILED: {} problem(s)\n",
                report.failures.len()
            ));
        }
        out
    });
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
