//! The registry's writes and its change log: `warrant apply`, `delete` and `changes`.

use std::path::Path;

use anyhow::anyhow;
use axum::http::Method;
use serde_json::Value;
use warrant_api::registry::{Applied, AppliedChange};
use warrant_core::registry::manifest::Kind;

use super::read_input;
use crate::Failure;
use crate::cli::Cli;
use crate::client::{Client, encode};
use crate::output::{items, print, print_as, table, text};

pub(super) fn apply(cli: &Cli, client: &Client, file: &Path, reason: Option<&str>) -> Result<(), Failure> {
    let manifest = read_input(file)?;
    let mut path = String::from("/v1/apply");
    if let Some(reason) = reason {
        path.push_str(&format!("?reason={}", encode(reason)));
    }
    let answer: Applied = client.call_as(
        Method::POST,
        &path,
        Some(("application/yaml", manifest.into_bytes())),
    )?;
    print_as(cli.output, &answer, |answer| {
        let mut out = String::new();
        if !answer.changes.is_empty() {
            let rows = answer
                .changes
                .iter()
                .map(|change| {
                    vec![
                        change.op.clone(),
                        change.kind.clone(),
                        change.id.clone(),
                        change.version.to_string(),
                        substantial_text(change.substantial, &change.substantial_reasons),
                    ]
                })
                .collect();
            out.push_str(&table(&["op", "kind", "id", "version", "substantial"], rows));
        }
        out.push_str(&format!(
            "{} changed, {} unchanged\n",
            answer.changes.len(),
            answer.unchanged
        ));
        out
    });
    Ok(())
}

pub(super) fn delete(
    cli: &Cli,
    client: &Client,
    kind: &str,
    id: &str,
    reason: Option<&str>,
) -> Result<(), Failure> {
    let kind = parse_kind(kind)?;
    let mut path = format!("/v1/{}/{}", kind.plural(), encode(id));
    if let Some(reason) = reason {
        path.push_str(&format!("?reason={}", encode(reason)));
    }
    let answer: AppliedChange = client.call_as(Method::DELETE, &path, None)?;
    print_as(cli.output, &answer, |answer| {
        format!(
            "deleted {} {} (change recorded at seq {})\n",
            answer.kind, answer.id, answer.seq
        )
    });
    Ok(())
}

pub(super) fn changes(
    cli: &Cli,
    client: &Client,
    agent: Option<&str>,
    kind: Option<&str>,
    limit: Option<u64>,
) -> Result<(), Failure> {
    let mut query = Vec::new();
    if let Some(agent) = agent {
        query.push(format!("agent={}", encode(agent)));
    }
    if let Some(kind) = kind {
        query.push(format!("kind={}", encode(parse_kind(kind)?.as_str())));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    let path = if query.is_empty() {
        "/v1/changes".to_owned()
    } else {
        format!("/v1/changes?{}", query.join("&"))
    };
    let answer = client.get(&path)?;
    print(cli.output, &answer, |answer| {
        let rows = items(answer)
            .iter()
            .map(|change| {
                let fields: Vec<String> = change
                    .pointer("/attrs/diff")
                    .and_then(Value::as_array)
                    .map(|diff| diff.iter().map(|field| text(field, "/path")).collect())
                    .unwrap_or_default();
                vec![
                    text(change, "/seq"),
                    text(change, "/time"),
                    text(change, "/attrs/by"),
                    text(change, "/attrs/op"),
                    format!(
                        "{} {}",
                        text(change, "/attrs/object_kind"),
                        text(change, "/attrs/object_id")
                    ),
                    text(change, "/attrs/version"),
                    substantial_cell(&change.get("attrs").cloned().unwrap_or(Value::Null)),
                    text(change, "/attrs/reason"),
                    fields.join(", "),
                ]
            })
            .collect();
        table(
            &[
                "seq",
                "time",
                "by",
                "op",
                "object",
                "version",
                "substantial",
                "reason",
                "changed",
            ],
            rows,
        )
    });
    Ok(())
}

fn parse_kind(name: &str) -> Result<Kind, Failure> {
    let lower = name.to_ascii_lowercase();
    Kind::ALL
        .into_iter()
        .find(|kind| {
            kind.as_str().eq_ignore_ascii_case(name)
                || kind.plural() == lower
                || kind.plural().strip_suffix('s') == Some(lower.as_str())
        })
        .ok_or_else(|| {
            Failure::Usage(anyhow!(
                "unknown kind `{name}`; use agent, tool, datasource or system"
            ))
        })
}

/// A change event's attributes as the `substantial` cell.
fn substantial_cell(attrs: &Value) -> String {
    let reasons: Vec<String> = attrs
        .get("substantial_reasons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    substantial_text(
        attrs.get("substantial").and_then(Value::as_bool) == Some(true),
        &reasons,
    )
}

fn substantial_text(substantial: bool, reasons: &[String]) -> String {
    match (substantial, reasons.is_empty()) {
        (false, _) => "no".into(),
        (true, true) => "yes".into(),
        (true, false) => format!("yes: {}", reasons.join(", ")),
    }
}
