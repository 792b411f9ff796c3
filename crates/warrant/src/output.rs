//! Rendering answers: a readable table by default, JSON or YAML for scripts.

use serde_json::Value;

use crate::cli::Output;

/// Print `value` as JSON or YAML, or, for a table, call `table`. A closed pipe (`| head`) ends the output
/// quietly instead of panicking.
pub fn print(format: Output, value: &Value, table: impl FnOnce(&Value) -> String) {
    use std::io::Write;
    let text = match format {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default()),
        Output::Yaml => serde_yaml_ng::to_string(value).unwrap_or_default(),
        Output::Table | Output::Dot | Output::Md | Output::Csv => table(value),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// [`print`] for a typed answer (a `warrant_api` type): JSON and YAML print it as the API sent it.
pub fn print_as<T: serde::Serialize>(format: Output, value: &T, table: impl FnOnce(&T) -> String) {
    use std::io::Write;
    let text = match format {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default()),
        Output::Yaml => serde_yaml_ng::to_string(value).unwrap_or_default(),
        Output::Table | Output::Dot | Output::Md | Output::Csv => table(value),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `{"a": 1, "b": 2}` as `1 a, 2 b`: counts for a headline.
pub fn counts(counts: &std::collections::BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(name, count)| format!("{count} {}", name.replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plain text table: a header row and left-aligned columns.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}", width = *width))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.iter().map(|header| header.to_uppercase()).collect());
    for row in rows {
        line(row);
    }
    out
}

/// A field as display text: strings bare, absent as `-`, anything else as JSON.
pub fn text(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

/// The items of a `{"items": [...]}` answer.
pub fn items(value: &Value) -> &[Value] {
    value
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The items of the list under `key`, each rendered by `render`, joined with commas.
pub fn joined(value: &Value, key: &str, render: impl Fn(&Value) -> String) -> String {
    let items = value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    items.iter().map(render).collect::<Vec<_>>().join(", ")
}
