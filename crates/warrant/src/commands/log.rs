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

/// What `warrant verify` is given beside the path.
pub(crate) struct VerifyOptions<'a> {
    pub key: Option<&'a str>,
    pub checkpoint: Option<&'a Path>,
    pub witnesses: &'a [String],
    pub policy: Option<usize>,
    pub strict: bool,
}

/// `warrant verify`: recompute the log of a data directory. Exit 1 if anything does not verify.
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
    let database = cli.store_config("default")?.database;
    if database.is_none() && !warrant_store::holds_log(dir) {
        return Err(Failure::Usage(anyhow!("{} holds no warrant log", dir.display())));
    }
    let report = warrant_store::verify_data_dir_on(dir, database.as_ref(), key)
        .map_err(|error| Failure::Check(error.into()))?;
    // The data directory of a deployment holds its further logs too: each is verified under its own key.
    let further = if path.is_none() && cli.log.is_none() {
        verify_further_logs(dir, database.as_ref())?
    } else {
        Vec::new()
    };
    let further_ok = further.iter().all(|(_, report)| report.is_ok());
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    let mut answer = report_json(&report);
    answer.insert("ok".into(), json!(report.is_ok() && further_ok));
    let logs = further.iter().map(|(id, report)| {
        let mut log = report_json(report);
        log.insert("id".into(), json!(id.as_str()));
        serde_json::Value::Object(log)
    });
    answer.insert("logs".into(), logs.collect());
    let answer = serde_json::Value::Object(answer);
    print(cli.output, &answer, |_| {
        let mut out = String::new();
        for (id, report) in &further {
            for finding in &report.findings {
                out.push_str(&format!("FAIL log {id}: {finding}\n"));
            }
            out.push_str(&format!(
                "log {id}: {}, {} events, {} signed checkpoints\n",
                if report.is_ok() {
                    "verified"
                } else {
                    "NOT verified"
                },
                report.events,
                report.checkpoints
            ));
        }
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
    let strict_fail = options.strict
        && (report.unsigned_tail > 0 || further.iter().any(|(_, report)| report.unsigned_tail > 0));
    Ok(if report.is_ok() && further_ok && !strict_fail {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One log's verification, as `-o json` gives it.
fn report_json(report: &warrant_log::verify::VerifyReport) -> serde_json::Map<String, serde_json::Value> {
    let fields = [
        ("ok", json!(report.is_ok())),
        ("events", json!(report.events)),
        ("checkpoints", json!(report.checkpoints)),
        (
            "latest_verified_size",
            json!(report.latest_verified.as_ref().map(|checkpoint| checkpoint.size)),
        ),
        ("unsigned_tail", json!(report.unsigned_tail)),
        (
            "findings",
            json!(
                report
                    .findings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ),
        ),
        ("findings_omitted", json!(report.findings_omitted)),
    ];
    fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Verify every further log of the deployment at `root`; on `--database`, each in its own schema of it.
fn verify_further_logs(
    root: &Path,
    database: Option<&warrant_store::Database>,
) -> Result<Vec<(warrant_store::logs::LogId, warrant_log::verify::VerifyReport)>, Failure> {
    let logs = warrant_store::logs::list_logs(root).map_err(|error| Failure::Check(error.into()))?;
    let mut reports = Vec::with_capacity(logs.len());
    for (id, dir) in logs {
        let database = database
            .map(|database| warrant_store::logs::log_database(database, &id))
            .transpose()
            .map_err(|error| Failure::Check(error.into()))?;
        let report = warrant_store::verify_data_dir_on(&dir, database.as_ref(), None)
            .map_err(|error| Failure::Check(anyhow!("log {id}: {error}")))?;
        reports.push((id, report));
    }
    Ok(reports)
}

/// `warrant migrate`: the data directory's database brought to this warrant's schema, apart from a start.
pub(crate) fn migrate(cli: &Cli) -> Result<ExitCode, Failure> {
    if cli.server.is_some() {
        return Err(Failure::Usage(anyhow!(
            "migrate works on --data; it cannot act on --server"
        )));
    }
    let database = cli.store_config("default")?.database;
    let (before, after) = warrant_store::migrate(&cli.data, database.as_ref())
        .map_err(|error| Failure::Check(anyhow!("cannot migrate {}: {error}", cli.data.display())))?;
    let answer = json!({"from": before, "to": after});
    print(cli.output, &answer, |_| {
        if before == after {
            format!("schema version {after}: nothing to do\n")
        } else {
            format!("migrated from schema version {before} to {after}\n")
        }
    });
    Ok(ExitCode::SUCCESS)
}

/// `warrant backup DEST`: a SQLite data directory copied into a new one, consistent while a server writes.
pub(crate) fn backup(cli: &Cli, dest: &Path) -> Result<ExitCode, Failure> {
    if cli.server.is_some() {
        return Err(Failure::Usage(anyhow!(
            "backup works on --data; it cannot act on --server"
        )));
    }
    if !warrant_store::holds_log(&cli.data) {
        return Err(Failure::Usage(anyhow!(
            "{} holds no warrant log",
            cli.data.display()
        )));
    }
    let events = warrant_store::backup(&cli.data, dest).map_err(|error| Failure::Check(error.into()))?;
    let answer = json!({"backup": dest.display().to_string(), "events": events});
    print(cli.output, &answer, |_| {
        format!(
            "backed up {events} events into {} (a data directory: `warrant --data {} verify` checks it)\n",
            dest.display(),
            dest.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// `warrant restore FROM`: a backup copied into --data (which holds no log yet), then verified whole.
pub(crate) fn restore(cli: &Cli, from: &Path) -> Result<ExitCode, Failure> {
    if cli.server.is_some() {
        return Err(Failure::Usage(anyhow!(
            "restore works on --data; it cannot act on --server"
        )));
    }
    if warrant_store::holds_log(&cli.data) {
        return Err(Failure::Usage(anyhow!(
            "{} already holds a log; restore into a new data directory",
            cli.data.display()
        )));
    }
    if !from.join(warrant_store::DATABASE_FILE).exists() {
        return Err(Failure::Usage(anyhow!(
            "{} is not a backup (no {})",
            from.display(),
            warrant_store::DATABASE_FILE
        )));
    }
    // The backup is itself a data directory: restoring is a consistent copy of it, checked before use.
    warrant_store::backup(from, &cli.data).map_err(|error| Failure::Check(error.into()))?;
    verify(
        cli,
        None,
        &VerifyOptions {
            key: None,
            checkpoint: None,
            witnesses: &[],
            policy: None,
            strict: false,
        },
    )
}
