//! openapi.json is generated from the wire types: the request and answer schemas of every typed operation
//! come from `warrant_api` (through schemars), and this test fails when the document and the types disagree.
//! After changing a wire type, regenerate the document with
//! `WARRANT_UPDATE_OPENAPI=1 cargo test -p warrant-server --test openapi` and review the diff.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};
use warrant_api::Items;
use warrant_api::{
    compliance, events, gate, log, logs, monitor, oversight, registry, reviews, risk, tokens, trails,
};

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/openapi.json");

/// The component schemas written by hand; every other one is generated from `warrant_api`.
const HAND_WRITTEN: [&str; 1] = ["Event"];

/// One operation's body and answers, by type.
struct Operation {
    method: &'static str,
    path: &'static str,
    /// The body, and whether it may be left out.
    request: Option<(Schema, bool)>,
    /// The success statuses, each with its answer.
    responses: Vec<(&'static str, Schema)>,
}

struct Spec {
    generator: SchemaGenerator,
    operations: Vec<Operation>,
}

impl Spec {
    fn new() -> Spec {
        let mut settings = SchemaSettings::draft2020_12();
        settings.definitions_path = "/components/schemas".into();
        settings.meta_schema = None;
        Spec {
            generator: settings.into_generator(),
            operations: Vec::new(),
        }
    }

    fn op<T: JsonSchema>(
        &mut self,
        method: &'static str,
        path: &'static str,
        status: &'static str,
    ) -> &mut Operation {
        let schema = self.generator.subschema_for::<T>();
        self.operations.push(Operation {
            method,
            path,
            request: None,
            responses: vec![(status, schema)],
        });
        self.operations.last_mut().unwrap()
    }

    fn get<T: JsonSchema>(&mut self, path: &'static str) {
        self.op::<T>("get", path, "200");
    }

    fn post<B: JsonSchema, T: JsonSchema>(
        &mut self,
        path: &'static str,
        status: &'static str,
        optional: bool,
    ) {
        let body = self.generator.subschema_for::<B>();
        self.op::<T>("post", path, status).request = Some((body, optional));
    }

    /// An operation whose answer is not JSON (a file): only its body comes from the types.
    fn body<B: JsonSchema>(&mut self, method: &'static str, path: &'static str) {
        let body = self.generator.subschema_for::<B>();
        self.operations.push(Operation {
            method,
            path,
            request: Some((body, false)),
            responses: Vec::new(),
        });
    }

    /// A second success status with the same answer (200 for "already there", 201 for "created").
    fn also(&mut self, status: &'static str) {
        let operation = self.operations.last_mut().unwrap();
        let schema = operation.responses[0].1.clone();
        operation.responses.push((status, schema));
    }
}

/// Every operation whose body or answer is a `warrant_api` type.
fn spec() -> Spec {
    let mut spec = Spec::new();
    spec.post::<gate::AuthorizeRequest, gate::AuthorizeResponse>("/v1/authorize", "200", false);
    spec.get::<Items<gate::Approval>>("/v1/approvals");
    spec.get::<gate::Approval>("/v1/approvals/{id}");
    spec.post::<gate::DecideRequest, gate::Approval>("/v1/approvals/{id}/approve", "200", true);
    spec.post::<gate::DecideRequest, gate::Approval>("/v1/approvals/{id}/deny", "200", true);
    spec.get::<log::Checkpoint>("/v1/log/checkpoint");
    spec.get::<Items<log::Checkpoint>>("/v1/log/checkpoints");
    spec.get::<log::VerifierKey>("/v1/log/key");
    spec.get::<warrant_api::mcp::McpView>("/v1/mcp/{server}/agents/{agent}");
    spec.post::<warrant_api::mcp::ToolListing, warrant_api::mcp::ToolReview>(
        "/v1/mcp/{server}/agents/{agent}/tools",
        "200",
        false,
    );
    spec.post::<warrant_api::mcp::ResourceRequest, warrant_api::mcp::ResourceAccess>(
        "/v1/mcp/{server}/agents/{agent}/resources",
        "200",
        false,
    );
    spec.get::<log::InclusionProof>("/v1/log/proof/inclusion");
    spec.get::<log::ConsistencyProof>("/v1/log/proof/consistency");
    spec.op::<events::Accepted>("post", "/v1/events", "200");
    spec.get::<events::StoredEvent>("/v1/events/{seq}");
    spec.post::<events::EraseRequest, events::Erased>("/v1/erase", "200", false);
    spec.op::<registry::Applied>("post", "/v1/apply", "200");
    spec.op::<registry::AppliedChange>("delete", "/v1/{collection}/{id}", "200");
    spec.get::<trails::Trail>("/v1/trails/{id}");
    spec.post::<tokens::CreateToken, tokens::NewToken>("/v1/tokens", "201", false);
    spec.get::<Items<tokens::Token>>("/v1/tokens");
    spec.post::<logs::CreateLog, logs::NewLog>("/v1/logs", "201", false);
    spec.get::<Items<logs::LogInfo>>("/v1/logs");
    spec.get::<Items<warrant_api::notify::Delivery>>("/v1/notifications");
    spec.op::<warrant_api::notify::Delivery>("post", "/v1/notifiers/{id}/test", "200");
    spec.post::<tokens::RevokeToken, tokens::Token>("/v1/tokens/{id}/revoke", "200", true);
    spec.get::<Items<reviews::ReviewDue>>("/v1/reviews/due");
    spec.post::<reviews::RecordReview, reviews::ReviewRecorded>("/v1/reviews", "200", false);
    spec.post::<reviews::SetStatus, reviews::StatusSet>("/v1/agents/{id}/status", "200", false);
    spec.post::<oversight::Escalation, oversight::Recorded>("/v1/escalations", "200", false);
    spec.post::<oversight::Override, oversight::Recorded>("/v1/overrides", "200", false);
    spec.get::<compliance::Gaps>("/v1/compliance/gaps");
    spec.get::<compliance::Crosswalk>("/v1/compliance/crosswalk");
    spec.get::<compliance::ReadinessReport>("/v1/compliance/readiness");
    spec.get::<compliance::EvidenceCount>("/v1/compliance/evidence");
    spec.get::<compliance::EvidenceSample>("/v1/compliance/sample");
    spec.get::<Items<compliance::Document>>("/v1/documents");
    spec.op::<compliance::AddedDocument>("post", "/v1/documents", "201");
    spec.also("200");
    spec.get::<Items<compliance::AuditReport>>("/v1/audits");
    spec.get::<compliance::AuditPlan>("/v1/audits/plan");
    spec.post::<compliance::RunAudit, compliance::AuditReport>("/v1/audits/run", "201", true);
    spec.get::<Items<compliance::Nonconformity>>("/v1/nonconformities");
    spec.post::<compliance::CloseNonconformity, compliance::Nonconformity>(
        "/v1/nonconformities/{id}/close",
        "200",
        false,
    );
    spec.body::<warrant_api::export::ExportRequest>("post", "/v1/evidence/export");
    spec.get::<monitor::Report>("/v1/monitor");
    spec.get::<monitor::Report>("/v1/monitor/{report}");
    spec.op::<monitor::Evaluated>("post", "/v1/monitor/evaluate", "200");
    spec.op::<monitor::Rebuilt>("post", "/v1/monitor/rebuild", "200");
    spec.get::<Items<monitor::Alert>>("/v1/alerts");
    spec.get::<monitor::Alert>("/v1/alerts/{id}");
    spec.op::<monitor::IncidentView>("post", "/v1/alerts/{id}/promote", "201");
    spec.get::<Items<monitor::IncidentView>>("/v1/incidents");
    spec.get::<monitor::IncidentView>("/v1/incidents/{id}");
    spec.op::<monitor::IncidentView>("post", "/v1/incidents/{id}", "200");
    spec.get::<risk::RiskReport>("/v1/risk");
    spec.op::<risk::Assessed>("post", "/v1/risk/assess", "200");
    spec.get::<risk::Register>("/v1/risk/register");
    spec.get::<risk::Risk>("/v1/risk/register/{id}");
    spec.op::<risk::ImpactRecorded>("post", "/v1/impact/{agent}", "201");
    spec.also("200");
    spec
}

fn json_content(schema: &Schema) -> Value {
    json!({"application/json": {"schema": schema.as_value()}})
}

/// The document as the types say it should be: `current` with every typed operation's schemas replaced.
fn expected(current: &Value) -> Value {
    let mut spec = spec();
    let error = spec.generator.subschema_for::<warrant_api::ErrorBody>();
    let mut document = current.clone();
    for operation in &spec.operations {
        let Some(entry) = document
            .pointer_mut(&format!(
                "/paths/{}/{}",
                operation.path.replace('/', "~1"),
                operation.method
            ))
            .and_then(Value::as_object_mut)
        else {
            panic!(
                "openapi.json has no {} {}",
                operation.method.to_uppercase(),
                operation.path
            );
        };
        if let Some((body, optional)) = &operation.request {
            entry.insert(
                "requestBody".into(),
                json!({"required": !optional, "content": json_content(body)}),
            );
        }
        let responses = entry
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap();
        let mut kept = Map::new();
        for (status, answer) in std::mem::take(responses) {
            // Success answers come from the types (unless the answer is a file); errors stay as documented.
            if !status.starts_with('2') || operation.responses.is_empty() {
                kept.insert(status, answer);
            }
        }
        for (status, schema) in &operation.responses {
            let description = current
                .pointer(&format!(
                    "/paths/{}/{}/responses/{status}/description",
                    operation.path.replace('/', "~1"),
                    operation.method
                ))
                .cloned()
                .unwrap_or_else(|| json!(if *status == "201" { "created" } else { "OK" }));
            kept.insert(
                (*status).to_owned(),
                json!({"description": description, "content": json_content(schema)}),
            );
        }
        let mut ordered: Vec<(String, Value)> = kept.into_iter().collect();
        ordered.sort_by(|a, b| a.0.cmp(&b.0));
        *responses = ordered.into_iter().collect();
    }
    // Every schema is generated but the event's (the log's own format, documented in docs/events.md).
    let mut schemas: Map<String, Value> = current
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(name, _)| HAND_WRITTEN.contains(&name.as_str()))
        .map(|(name, schema)| (name.clone(), schema.clone()))
        .collect();
    for (name, schema) in spec.generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    let mut sorted: Vec<(String, Value)> = schemas.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    document["components"]["schemas"] = Value::Object(sorted.into_iter().collect());
    document["components"]["responses"]["Error"] = json!({
        "description": "Error",
        "content": json_content(&error),
    });
    document
}

/// The first place two documents differ, as a JSON pointer.
fn first_difference(path: &str, left: &Value, right: &Value) -> Option<String> {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let here = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => {
                        if let Some(found) = first_difference(&here, x, y) {
                            return Some(found);
                        }
                    }
                    _ => return Some(here),
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(index, (x, y))| first_difference(&format!("{path}/{index}"), x, y)),
        _ => (left != right).then(|| path.to_owned()),
    }
}

#[test]
fn the_openapi_document_matches_the_wire_types() {
    let text = std::fs::read_to_string(DOCUMENT).unwrap();
    let current: Value = serde_json::from_str(&text).unwrap();
    let expected = expected(&current);
    if std::env::var_os("WARRANT_UPDATE_OPENAPI").is_some() {
        let mut pretty = serde_json::to_string_pretty(&expected).unwrap();
        pretty.push('\n');
        std::fs::write(DOCUMENT, pretty).unwrap();
        return;
    }
    if let Some(path) = first_difference("", &current, &expected) {
        panic!(
            "openapi.json disagrees with the warrant_api types at {path}:\n  document: {}\n  types:    {}\n\
             regenerate it with WARRANT_UPDATE_OPENAPI=1 cargo test -p warrant-server --test openapi",
            current.pointer(&path).map_or("(absent)".into(), Value::to_string),
            expected
                .pointer(&path)
                .map_or("(absent)".into(), Value::to_string),
        );
    }
}

#[test]
fn every_error_code_is_in_the_document() {
    let current: Value = serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    // An enum with documented variants becomes `oneOf` (one `const` per documented code, one `enum` of the
    // rest).
    let mut codes: Vec<&str> = Vec::new();
    let schema = current.pointer("/components/schemas/ErrorCode").unwrap();
    for branch in schema["oneOf"].as_array().unwrap() {
        codes.extend(branch.get("const").and_then(Value::as_str));
        codes.extend(
            branch
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
    }
    for code in warrant_api::ErrorCode::ALL {
        assert!(
            codes.contains(&code.as_str()),
            "{code} is missing from openapi.json"
        );
    }
}

#[test]
fn a_changed_type_is_caught() {
    let current: Value = serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    let mut tampered = expected(&current);
    tampered["components"]["schemas"]["AuthorizeResponse"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("seq");
    assert!(first_difference("", &tampered, &expected(&current)).is_some());
}

#[test]
fn every_reference_in_the_document_resolves() {
    let current: Value = serde_json::from_str(&std::fs::read_to_string(DOCUMENT).unwrap()).unwrap();
    let mut stack = vec![&current];
    let mut checked = 0;
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("$ref") {
                    let pointer = reference.strip_prefix('#').unwrap_or(reference);
                    assert!(current.pointer(pointer).is_some(), "{reference} names nothing");
                    checked += 1;
                }
                stack.extend(object.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    assert!(checked > 100, "only {checked} references");
}
