//! Events in and content out: `warrant ingest` sends a file of events in batches, `warrant erase` erases
//! the content of recorded events.

use std::path::Path;
use warrant_log::Seq;

use anyhow::anyhow;
use axum::http::Method;
use serde::Serialize;
use serde_json::Value;
use warrant_api::events::{Accepted, EraseRequest, Erased};
use warrant_core::event::{Event, check_size};

use super::read_input;
use crate::Failure;
use crate::cli::Cli;
use crate::client::Client;
use crate::output::print_as;

/// What `warrant ingest` sent, over all its batches.
#[derive(Serialize)]
struct Ingested {
    accepted: u64,
    duplicates: u64,
    first_seq: Option<Seq>,
    last_seq: Option<Seq>,
}

pub(super) fn ingest(cli: &Cli, client: &Client, file: &Path, batch: usize) -> Result<(), Failure> {
    let lines = read_input(file)?;
    // Validate the whole file before sending anything, so a bad line 90,000 does not leave 89 batches behind.
    // Only the lines are kept (not their parsed values), so memory stays near the file's size.
    let mut events: Vec<&str> = Vec::new();
    for (number, line) in lines.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|error| {
            Failure::Usage(anyhow!(
                "{}: line {}: not JSON: {error}",
                file.display(),
                number + 1
            ))
        })?;
        check_size(number, line.len())
            .and_then(|()| Event::from_json(number, value.clone()))
            .map_err(|error| {
                let field = error
                    .field
                    .map(|field| format!("field `{field}`: "))
                    .unwrap_or_default();
                Failure::Usage(anyhow!(
                    "{}: line {}: {field}{}",
                    file.display(),
                    number + 1,
                    error.message
                ))
            })?;
        events.push(line);
    }
    let progress = indicatif::ProgressBar::new(events.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut accepted, mut duplicates, mut first, mut last) = (0u64, 0u64, None, None);
    for chunk in events.chunks(batch.max(1)) {
        let body = format!("[{}]", chunk.join(",")).into_bytes();
        let answer: Accepted =
            client.call_as(Method::POST, "/v1/events", Some(("application/json", body)))?;
        accepted += answer.accepted as u64;
        duplicates += answer.duplicates as u64;
        first = first.or_else(|| answer.seqs.first().copied());
        last = answer.seqs.last().copied().or(last);
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let summary = Ingested {
        accepted,
        duplicates,
        first_seq: first,
        last_seq: last,
    };
    print_as(cli.output, &summary, |_| {
        format!(
            "ingested {accepted} events ({duplicates} already present) from {}; seqs {}..{}\n",
            file.display(),
            first.map_or("-".into(), |seq| seq.to_string()),
            last.map_or("-".into(), |seq| seq.to_string())
        )
    });
    Ok(())
}

pub(super) fn erase(
    cli: &Cli,
    client: &Client,
    subject: Option<&str>,
    seqs: &[Seq],
    reason: Option<&str>,
) -> Result<(), Failure> {
    let request = match (subject, seqs.is_empty()) {
        (Some(subject), true) => EraseRequest {
            subject: Some(subject.to_owned()),
            seqs: None,
            reason: reason.map(str::to_owned),
        },
        (None, false) => EraseRequest {
            subject: None,
            seqs: Some(seqs.to_vec()),
            reason: reason.map(str::to_owned),
        },
        _ => {
            return Err(Failure::Usage(anyhow!(
                "give either --subject or one or more --seq"
            )));
        }
    };
    let answer: Erased = client.post_as("/v1/erase", &request)?;
    print_as(cli.output, &answer, |answer| {
        format!(
            "erased {} content fields of {} events; recorded as erasure event {}\n",
            answer.fields,
            answer.events.len(),
            answer.seq.map_or_else(|| "-".to_owned(), |seq| seq.to_string())
        )
    });
    Ok(())
}
