//! Events in and content out: `warrant ingest` sends a file of events in batches, `warrant erase` erases
//! the content of recorded events.

use std::path::Path;

use anyhow::{Context, anyhow};
use axum::http::Method;
use serde_json::{Value, json};
use warrant_core::event::{Event, check_size};

use super::read_input;
use crate::Failure;
use crate::cli::Cli;
use crate::client::Client;
use crate::output::{print, text};

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
        let answer = client.call(Method::POST, "/v1/events", Some(("application/json", body)))?;
        accepted += answer.get("accepted").and_then(Value::as_u64).unwrap_or(0);
        duplicates += answer.get("duplicates").and_then(Value::as_u64).unwrap_or(0);
        if let Some(seqs) = answer.get("seqs").and_then(Value::as_array) {
            first = first.or_else(|| seqs.first().and_then(Value::as_u64));
            last = seqs.last().and_then(Value::as_u64).or(last);
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let summary =
        json!({"accepted": accepted, "duplicates": duplicates, "first_seq": first, "last_seq": last});
    print(cli.output, &summary, |_| {
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
    seqs: &[u64],
    reason: Option<&str>,
) -> Result<(), Failure> {
    let request = match (subject, seqs.is_empty()) {
        (Some(subject), true) => json!({"subject": subject, "reason": reason}),
        (None, false) => json!({"seqs": seqs, "reason": reason}),
        _ => {
            return Err(Failure::Usage(anyhow!(
                "give either --subject or one or more --seq"
            )));
        }
    };
    let body = serde_json::to_vec(&request).context("encoding request")?;
    let answer = client.call(Method::POST, "/v1/erase", Some(("application/json", body)))?;
    print(cli.output, &answer, |answer| {
        format!(
            "erased {} content fields of {} events; recorded as erasure event {}\n",
            text(answer, "/fields"),
            answer.get("events").and_then(Value::as_array).map_or(0, Vec::len),
            text(answer, "/seq")
        )
    });
    Ok(())
}
