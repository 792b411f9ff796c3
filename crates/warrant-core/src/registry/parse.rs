//! Parsing a manifest file (one or more YAML or JSON documents) into typed manifests, collecting every error
//! with the document and field it concerns, so a user fixes a file in one pass.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::registry::manifest::{Kind, Manifest};

/// One problem in a manifest file, located by document (1-based, in file order) and field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", document_label(*.document, .kind.as_deref(), .id.as_deref()), field_label(.field))]
pub struct ManifestError {
    pub document: usize,
    pub kind: Option<String>,
    pub id: Option<String>,
    /// The field path inside the document, e.g. `tools[0].access`; empty for a whole-document problem.
    pub field: String,
    pub message: String,
}

/// Parse every document in `text`. Empty documents (a stray `---`) are skipped. Returns every error found.
pub fn parse_manifests(text: &str) -> Result<Vec<(usize, Manifest)>, Vec<ManifestError>> {
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let number = index + 1;
        let value = match serde_yaml_ng::Value::deserialize(document) {
            Ok(value) => value,
            Err(error) => {
                errors.push(ManifestError {
                    document: number,
                    kind: None,
                    id: None,
                    field: String::new(),
                    message: format!("not valid YAML: {error}"),
                });
                // A syntax error leaves the rest of the stream unreadable.
                break;
            }
        };
        match parse_document(number, value) {
            Ok(Some(manifest)) => manifests.push((number, manifest)),
            Ok(None) => {}
            Err(error) => errors.push(*error),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

fn parse_document(
    number: usize,
    value: serde_yaml_ng::Value,
) -> Result<Option<Manifest>, Box<ManifestError>> {
    let error = |kind: Option<&str>, id: Option<&str>, field: &str, message: String| {
        Box::new(ManifestError {
            document: number,
            kind: kind.map(str::to_owned),
            id: id.map(str::to_owned),
            field: field.to_owned(),
            message,
        })
    };
    let mut mapping = match value {
        serde_yaml_ng::Value::Null => return Ok(None),
        serde_yaml_ng::Value::Mapping(mapping) => mapping,
        _ => {
            return Err(error(
                None,
                None,
                "",
                "a document must be a mapping with `kind:` and `id:`".into(),
            ));
        }
    };
    let id = mapping
        .get("id")
        .and_then(serde_yaml_ng::Value::as_str)
        .map(str::to_owned);
    let kind_name = match mapping.remove("kind") {
        Some(serde_yaml_ng::Value::String(kind)) => kind,
        Some(_) => return Err(error(None, id.as_deref(), "kind", "must be a string".into())),
        None => return Err(error(None, id.as_deref(), "kind", "missing field `kind`".into())),
    };
    let Some(kind) = Kind::parse(&kind_name) else {
        let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
        return Err(error(
            Some(&kind_name),
            id.as_deref(),
            "kind",
            format!("unknown kind `{kind_name}`, expected one of {}", known.join(", ")),
        ));
    };
    let body = serde_yaml_ng::Value::Mapping(mapping);
    let typed = match kind {
        Kind::Agent => typed(body).map(Manifest::Agent),
        Kind::Tool => typed(body).map(Manifest::Tool),
        Kind::DataSource => typed(body).map(Manifest::DataSource),
        Kind::AISystem => typed(body).map(Manifest::AISystem),
        Kind::Policy => typed(body).map(Manifest::Policy),
        Kind::Group => typed(body).map(Manifest::Group),
        Kind::Model => typed(body).map(Manifest::Model),
        Kind::AlertRule => typed(body).map(Manifest::AlertRule),
        Kind::Organization => typed(body).map(Manifest::Organization),
        Kind::Applicability => typed(body).map(Manifest::Applicability),
        Kind::EvidenceRule => typed(body).map(Manifest::EvidenceRule),
        Kind::Obligation => typed(body).map(Manifest::Obligation),
        Kind::IdentityProvider => typed(body).map(Manifest::IdentityProvider),
        Kind::McpServer => typed(body).map(Manifest::McpServer),
        Kind::Notifier => typed(body).map(Manifest::Notifier),
        Kind::Witness => typed(body).map(Manifest::Witness),
    };
    typed
        .map(Some)
        .map_err(|(field, message)| error(Some(kind.as_str()), id.as_deref(), &field, message))
}

/// Deserialise one document body, reporting the path of the field that failed.
fn typed<T: DeserializeOwned>(body: serde_yaml_ng::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        // serde reports a missing field at its parent; name the field itself, as a user would look for it.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name,
            (".", None) => String::new(),
            (_, Some(name)) => format!("{path}.{name}"),
            (_, None) => path,
        };
        (field, message)
    })
}

pub(crate) fn document_label(document: usize, kind: Option<&str>, id: Option<&str>) -> String {
    match (kind, id) {
        (Some(kind), Some(id)) => format!("document {document} ({kind} {id})"),
        (Some(kind), None) => format!("document {document} ({kind})"),
        (None, Some(id)) => format!("document {document} ({id})"),
        (None, None) => format!("document {document}"),
    }
}

fn field_label(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(", field `{field}`")
    }
}
