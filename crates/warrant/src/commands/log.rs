//! The evidence log: `warrant log` (checkpoint, key, inclusion and consistency proofs) through the API, and
//! `warrant verify` on the stored data itself.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::json;
use warrant_api as wire;

use crate::Failure;
use crate::cli::{Cli, LogCommand};
use crate::client::Client;
use crate::output::{print, print_as};

pub(super) fn log(cli: &Cli, client: &Client, command: &LogCommand) -> Result<(), Failure> {
    match command {
        LogCommand::Checkpoint => {
            let answer: wire::log::Checkpoint = client.get_as("/v1/log/checkpoint")?;
            print_as(cli.output, &answer, |answer| answer.note.clone());
        }
        LogCommand::Key => {
            let answer: wire::log::VerifierKey = client.get_as("/v1/log/key")?;
            print_as(cli.output, &answer, |answer| format!("{}\n", answer.verifier_key));
        }
        LogCommand::Proof { seq, size } => {
            let mut path = format!("/v1/log/proof/inclusion?seq={seq}");
            if let Some(size) = size {
                path.push_str(&format!("&size={size}"));
            }
            let answer: wire::log::InclusionProof = client.get_as(&path)?;
            print_as(cli.output, &answer, |answer| {
                let mut out = format!(
                    "event {} in tree of {}\nleaf hash  {}\nroot       {}\nproof\n",
                    answer.seq,
                    answer.size,
                    answer.leaf_hash,
                    answer.root.as_deref().unwrap_or("-")
                );
                out.push_str(&proof_lines(&answer.proof));
                out
            });
        }
        LogCommand::Consistency { from, to } => {
            let answer: wire::log::ConsistencyProof =
                client.get_as(&format!("/v1/log/proof/consistency?from={from}&to={to}"))?;
            print_as(cli.output, &answer, |answer| {
                let mut out = format!("consistency of tree {} with tree {}\n", answer.from, answer.to);
                out.push_str(&proof_lines(&answer.proof));
                out
            });
        }
    }
    Ok(())
}

/// A proof's hashes, one indented line each.
fn proof_lines(hashes: &[String]) -> String {
    hashes.iter().map(|hash| format!("  {hash}\n")).collect()
}

/// `warrant verify`: recompute the log of a data directory. Exit 1 if anything does not verify.
/// What `warrant verify` is given beside the path.
pub(crate) struct VerifyOptions<'a> {
    pub key: Option<&'a str>,
    pub checkpoint: Option<&'a Path>,
    pub witnesses: &'a [String],
    pub policy: Option<usize>,
    pub strict: bool,
}

pub(crate) fn verify(
    cli: &Cli,
    path: Option<&Path>,
    options: &VerifyOptions<'_>,
) -> Result<ExitCode, Failure> {
    let VerifyOptions { key, checkpoint, .. } = *options;
    if cli.server.is_some() && path.is_none() {
        return Err(Failure::Usage(anyhow!(
            "verify checks stored data itself, not a server's word for it: run it on the data directory (--data or PATH)"
        )));
    }
    if let Some(path) = path
        && crate::bundle::is_bundle(path)
    {
        return crate::bundle::verify_bundle(cli, path, options);
    }
    if checkpoint.is_some() || !options.witnesses.is_empty() || options.policy.is_some() {
        return Err(Failure::Usage(anyhow!(
            "--checkpoint, --witness and --policy are for verifying an evidence bundle"
        )));
    }
    let dir = path.unwrap_or(&cli.data);
    if path.is_some() && !warrant_store::holds_log(dir) {
        return Err(Failure::Usage(anyhow!(
            "{} is neither an evidence bundle (no manifest.json) nor a warrant data directory",
            dir.display()
        )));
    }
    if !warrant_store::holds_log(dir) {
        return Err(Failure::Usage(anyhow!("{} holds no warrant log", dir.display())));
    }
    let report = warrant_store::verify_data_dir(dir, key).map_err(|error| Failure::Check(error.into()))?;
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    let answer = json!({
        "ok": report.is_ok(),
        "events": report.events,
        "checkpoints": report.checkpoints,
        "latest_verified_size": report.latest_verified.as_ref().map(|checkpoint| checkpoint.size),
        "unsigned_tail": report.unsigned_tail,
        "findings": findings,
        "findings_omitted": report.findings_omitted,
    });
    print(cli.output, &answer, |_| {
        let mut out = String::new();
        for finding in &findings {
            out.push_str(&format!("FAIL {finding}\n"));
        }
        if report.findings_omitted > 0 {
            out.push_str(&format!("FAIL and {} more findings\n", report.findings_omitted));
        }
        let verdict = if report.is_ok() {
            "verified"
        } else {
            "NOT verified"
        };
        out.push_str(&format!(
            "{verdict}: {} events, {} signed checkpoints, latest verified checkpoint covers {} events",
            report.events,
            report.checkpoints,
            report
                .latest_verified
                .as_ref()
                .map_or(0, |checkpoint| checkpoint.size)
        ));
        if report.unsigned_tail > 0 {
            out.push_str(&format!(
                "; {} events (from seq {}) are past the last signed checkpoint: UNVERIFIED until the next one{}",
                report.unsigned_tail,
                report.events - report.unsigned_tail,
                if options.strict { " (--strict)" } else { "" }
            ));
        }
        out.push('\n');
        out
    });
    let strict_fail = options.strict && report.unsigned_tail > 0;
    Ok(if report.is_ok() && !strict_fail {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
