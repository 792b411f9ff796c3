//! The registry end to end: manifest validation (CLI and API), all-or-nothing apply, no-op re-apply, diffs and
//! the `substantial` flag in the change log, and deletes.

use serde_json::{Value, json};

use crate::support::{BASE_DOCUMENTS, BASE_REGISTRY, Scratch, Server, assert_error, local, warrant};

/// An invalid manifest and where its error must point.
struct Invalid {
    what: &'static str,
    yaml: String,
    document: u64,
    field: &'static str,
}

/// Each case is a valid tool followed by one invalid document, so the error is in document 2.
fn invalid_cases() -> Vec<Invalid> {
    let tool = "kind: Tool\nid: crm-read\naccess: read\negress: internal\n---\n";
    let agent = |body: &str| {
        format!(
            "{tool}kind: Agent\nid: broken-agent\npurpose: p\nrisk_class: high\ndecision_scope: recommend\n\
             oversight: human-in-the-loop\n{body}"
        )
    };
    vec![
        Invalid {
            what: "unknown kind",
            yaml: format!("{tool}kind: Robot\nid: r2\n"),
            document: 2,
            field: "kind",
        },
        Invalid {
            what: "agent without owner",
            yaml: agent(""),
            document: 2,
            field: "owner",
        },
        Invalid {
            what: "grant of a tool that does not exist",
            yaml: agent("owner: o\ntools:\n  - {tool: no-such-tool, access: read, approved_by: o}\n"),
            document: 2,
            field: "tools[0].tool",
        },
        Invalid {
            what: "bad risk class",
            yaml: agent("owner: o\n").replace("risk_class: high", "risk_class: extreme"),
            document: 2,
            field: "risk_class",
        },
        Invalid {
            what: "bad grant access",
            yaml: agent("owner: o\ntools:\n  - {tool: crm-read, access: admin, approved_by: o}\n"),
            document: 2,
            field: "tools[0].access",
        },
    ]
}

#[test]
fn cli_apply_refuses_invalid_manifests_naming_document_and_field() {
    let scratch = Scratch::new();
    let data = scratch.data();
    for case in invalid_cases() {
        let file = scratch.file("invalid.yaml", &case.yaml);
        let run = local(&data, &["apply", "-f", &file]).expect_code(2);
        let document = format!("document {}", case.document);
        let field = format!("field `{}`", case.field);
        assert!(
            run.stderr.contains(&document) && run.stderr.contains(&field),
            "{}: stderr should name {document} and {field}: {}",
            case.what,
            run.stderr
        );
    }
    // Nothing from any of the files was applied, not even the valid tool before each bad document.
    let tools = local(&data, &["get", "tools", "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(tools["items"], json!([]), "{tools}");
}

#[test]
fn api_apply_refuses_invalid_manifests_with_details() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    for case in invalid_cases() {
        let (status, answer) = server.apply("/v1/apply", &admin, &case.yaml);
        assert_eq!(status, 400, "{}: {answer}", case.what);
        let message = assert_error(&answer, "invalid_manifest");
        assert!(
            message.contains("nothing was applied"),
            "{}: {message}",
            case.what
        );
        let details = answer["error"]["details"].as_array().expect("details");
        assert!(
            details
                .iter()
                .any(|detail| detail["document"] == json!(case.document)
                    && detail["field"] == json!(case.field)),
            "{}: details should name document {} field {}: {answer}",
            case.what,
            case.document,
            case.field
        );
    }
}

#[test]
fn an_invalid_multi_document_file_applies_nothing() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let (status, answer) = server.apply("/v1/apply", &admin, BASE_REGISTRY);
    assert_eq!(status, 200, "{answer}");
    let snapshot = |server: &Server| {
        ["/v1/agents", "/v1/tools", "/v1/datasources", "/v1/changes"].map(|path| server.get_ok(path, &admin))
    };
    let before = snapshot(&server);
    // Two valid documents (a new tool, an update of the agent) and one invalid (a grant of a missing tool).
    let file = "\
kind: Tool
id: brand-new-tool
access: read
egress: external
---
kind: Agent
id: helper-agent
purpose: Answers customer questions
owner: someone-else
risk_class: limited
decision_scope: recommend
prompt_version: helper-v2
oversight: human-on-the-loop
---
kind: Agent
id: second-agent
purpose: p
owner: o
risk_class: minimal
decision_scope: recommend
oversight: none
tools:
  - {tool: ghost-tool, access: read, approved_by: o}
";
    let (status, answer) = server.apply("/v1/apply", &admin, file);
    assert_eq!(status, 400, "{answer}");
    let details = answer["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{answer}");
    assert_eq!(details[0]["document"], json!(3), "{answer}");
    assert_eq!(details[0]["field"], json!("tools[0].tool"), "{answer}");
    assert_eq!(snapshot(&server), before, "a refused file must change nothing");
}

#[test]
fn reapplying_the_same_file_records_no_changes() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let file = scratch.file("base.yaml", BASE_REGISTRY);
    let first = local(&data, &["apply", "-f", &file, "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        first["changes"].as_array().map(Vec::len),
        Some(BASE_DOCUMENTS as usize),
        "{first}"
    );
    assert_eq!(first["unchanged"], json!(0), "{first}");
    let log_before = local(&data, &["changes", "-o", "json"]).expect_code(0).json();

    let second = local(&data, &["apply", "-f", &file, "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(second["changes"], json!([]), "{second}");
    assert_eq!(second["unchanged"], json!(BASE_DOCUMENTS), "{second}");
    let table = local(&data, &["apply", "-f", &file]).expect_code(0);
    assert!(
        table
            .stdout
            .contains(&format!("0 changed, {BASE_DOCUMENTS} unchanged")),
        "{table:?}"
    );
    let log_after = local(&data, &["changes", "-o", "json"]).expect_code(0).json();
    assert_eq!(
        log_after, log_before,
        "a no-op apply must not add to the change log"
    );
}

/// The base registry with `from` replaced by `to` in the agent's document only.
fn agent_document(replacements: &[(&str, &str)]) -> String {
    let agent = BASE_REGISTRY
        .split("---\n")
        .find(|document| document.starts_with("kind: Agent"))
        .expect("the base registry has an agent");
    replacements.iter().fold(agent.to_owned(), |text, (from, to)| {
        assert!(text.contains(from), "`{from}` is in the agent document");
        text.replace(from, to)
    })
}

/// Apply `yaml` with `reason` and return the single change it made.
fn apply_one(server: &Server, token: &str, yaml: &str, reason: &str) -> Value {
    let path = format!("/v1/apply?reason={}", reason.replace(' ', "%20"));
    let (status, answer) = server.apply(&path, token, yaml);
    assert_eq!(status, 200, "{answer}");
    let changes = answer["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "exactly one change: {answer}");
    changes[0].clone()
}

/// The diff entry at `path` of a change.
fn diff_at<'a>(change: &'a Value, path: &str) -> &'a Value {
    change["diff"]
        .as_array()
        .expect("a diff")
        .iter()
        .find(|field| field["path"] == json!(path))
        .unwrap_or_else(|| panic!("no diff entry `{path}` in {change}"))
}

fn reasons(change: &Value) -> String {
    change["substantial_reasons"].to_string()
}

#[test]
fn changes_are_diffed_and_flagged_substantial_in_the_change_log() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let lead = server.token("compliance-lead", "admin");
    let (status, answer) = server.apply("/v1/apply?reason=initial", &lead, BASE_REGISTRY);
    assert_eq!(status, 200, "{answer}");

    let prompt = apply_one(
        &server,
        &lead,
        &agent_document(&[("prompt_version: helper-v1", "prompt_version: helper-v2")]),
        "new prompt",
    );
    assert_eq!(prompt["substantial"], json!(true), "{prompt}");
    assert!(reasons(&prompt).contains("prompt"), "{prompt}");
    let field = diff_at(&prompt, "prompt_version");
    assert_eq!(
        (&field["old"], &field["new"]),
        (&json!("helper-v1"), &json!("helper-v2"))
    );

    let granted = "  - {tool: crm-read, access: read, approved_by: head-of-support}\n";
    let with_update = |access: &str| {
        agent_document(&[
            ("prompt_version: helper-v1", "prompt_version: helper-v2"),
            (
                granted,
                &format!(
                    "{granted}  - {{tool: crm-update, access: {access}, approved_by: head-of-support}}\n"
                ),
            ),
        ])
    };
    let grant = apply_one(&server, &lead, &with_update("read"), "grant crm-update");
    assert_eq!(grant["substantial"], json!(true), "{grant}");
    assert!(reasons(&grant).contains("crm-update"), "{grant}");
    let field = diff_at(&grant, "tools[crm-update]");
    assert!(field.get("old").is_none(), "{field}");
    assert_eq!(field["new"]["access"], json!("read"), "{field}");

    let raised = apply_one(&server, &lead, &with_update("write"), "write access");
    assert_eq!(raised["substantial"], json!(true), "{raised}");
    assert!(reasons(&raised).contains("raised"), "{raised}");
    let field = diff_at(&raised, "tools[crm-update].access");
    assert_eq!((&field["old"], &field["new"]), (&json!("read"), &json!("write")));

    let sensitivity = apply_one(
        &server,
        &lead,
        "kind: DataSource\nid: customer-notes\nsensitivity: confidential\npersonal_data: true\n",
        "notes hold more now",
    );
    assert_eq!(sensitivity["substantial"], json!(true), "{sensitivity}");
    assert!(reasons(&sensitivity).contains("sensitivity"), "{sensitivity}");
    let field = diff_at(&sensitivity, "sensitivity");
    assert_eq!(
        (&field["old"], &field["new"]),
        (&json!("internal"), &json!("confidential"))
    );

    let owner = apply_one(
        &server,
        &lead,
        &with_update("write").replace("owner: head-of-support", "owner: new-owner"),
        "reorganisation",
    );
    assert_eq!(owner["substantial"], json!(false), "{owner}");
    assert_eq!(
        owner["diff"].as_array().map(Vec::len),
        Some(1),
        "only the owner changed: {owner}"
    );
    let field = diff_at(&owner, "owner");
    assert_eq!(
        (&field["old"], &field["new"]),
        (&json!("head-of-support"), &json!("new-owner"))
    );

    // The change log holds the same, as change events with who and why.
    let log = server.get_ok("/v1/changes", &lead);
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), BASE_DOCUMENTS as usize + 5, "{log}");
    let last_five = &items[items.len() - 5..];
    let expected = [
        ("new prompt", true, "prompt_version"),
        ("grant crm-update", true, "tools[crm-update]"),
        ("write access", true, "tools[crm-update].access"),
        ("notes hold more now", true, "sensitivity"),
        ("reorganisation", false, "owner"),
    ];
    for (item, (reason, substantial, path)) in last_five.iter().zip(expected) {
        assert_eq!(item["kind"], json!("change"), "{item}");
        assert_eq!(item["attrs"]["op"], json!("update"), "{item}");
        assert_eq!(item["attrs"]["by"], json!("compliance-lead"), "{item}");
        assert_eq!(item["attrs"]["reason"], json!(reason), "{item}");
        assert_eq!(item["attrs"]["substantial"], json!(substantial), "{item}");
        let diff = item["attrs"]["diff"].as_array().expect("a diff");
        assert!(diff.iter().any(|field| field["path"] == json!(path)), "{item}");
    }
    let owner_event = &last_five[4]["attrs"]["diff"][0];
    assert_eq!(owner_event["old"], json!("head-of-support"));
    assert_eq!(owner_event["new"], json!("new-owner"));
}

#[test]
fn changes_for_one_agent_lists_only_that_agents_changes() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let second = "---\nkind: Agent\nid: other-agent\npurpose: p\nowner: o\nrisk_class: minimal\n\
                  decision_scope: recommend\noversight: none\n";
    let (status, answer) = server.apply("/v1/apply", &admin, &format!("{BASE_REGISTRY}{second}"));
    assert_eq!(status, 200, "{answer}");
    let changed = agent_document(&[("prompt_version: helper-v1", "prompt_version: helper-v9")]);
    let (status, answer) = server.apply("/v1/apply", &admin, &changed);
    assert_eq!(status, 200, "{answer}");

    let env = [("WARRANT_TOKEN", admin.as_str())];
    let run = warrant(
        &[
            "--server",
            &server.url,
            "changes",
            "--agent",
            "helper-agent",
            "-o",
            "json",
        ],
        &env,
    )
    .expect_code(0);
    let items = run.json()["items"].as_array().expect("items").clone();
    assert_eq!(
        items.len(),
        2,
        "create and prompt change of helper-agent: {}",
        run.stdout
    );
    for item in &items {
        assert_eq!(item["attrs"]["object_id"], json!("helper-agent"), "{item}");
        assert_eq!(item["attrs"]["object_kind"], json!("Agent"), "{item}");
    }
    let all = warrant(&["--server", &server.url, "changes", "-o", "json"], &env)
        .expect_code(0)
        .json();
    assert_eq!(
        all["items"].as_array().map(Vec::len),
        Some(BASE_DOCUMENTS as usize + 2),
        "{all}"
    );
}

#[test]
fn deleting_a_granted_tool_is_refused_and_a_delete_is_recorded() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let file = scratch.file("base.yaml", BASE_REGISTRY);
    local(&data, &["apply", "-f", &file]).expect_code(0);

    let refused = local(&data, &["delete", "tool", "crm-read"]).expect_code(2);
    assert!(
        refused.stderr.contains("helper-agent"),
        "names who still uses it: {refused:?}"
    );
    local(&data, &["get", "tools", "crm-read"]).expect_code(0);

    let deleted = local(
        &data,
        &[
            "delete",
            "tool",
            "crm-update",
            "--reason",
            "retired",
            "-o",
            "json",
        ],
    )
    .expect_code(0)
    .json();
    assert_eq!(deleted["op"], json!("delete"), "{deleted}");
    local(&data, &["get", "tools", "crm-update"]).expect_code(2);
    let log = local(&data, &["changes", "--kind", "tool", "-o", "json"])
        .expect_code(0)
        .json();
    let last = log["items"]
        .as_array()
        .and_then(|items| items.last())
        .expect("a change");
    assert_eq!(last["attrs"]["op"], json!("delete"), "{last}");
    assert_eq!(last["attrs"]["object_id"], json!("crm-update"), "{last}");
    assert_eq!(last["attrs"]["reason"], json!("retired"), "{last}");
    assert_eq!(last["seq"], deleted["seq"], "{last}");
    // The diff of a delete lists every field of the removed manifest as removed: an old value, no new one.
    let removed = last["attrs"]["diff"].as_array().expect("a diff");
    let id = removed
        .iter()
        .find(|field| field["path"] == json!("id"))
        .expect("the id field");
    assert_eq!(id["old"], json!("crm-update"), "{last}");
    assert!(removed.iter().all(|field| field.get("new").is_none()), "{last}");
}

#[test]
fn deleting_a_granted_tool_over_the_api_is_a_conflict() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let (status, answer) = server.apply("/v1/apply", &admin, BASE_REGISTRY);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call("DELETE", "/v1/tools/crm-read", Some(&admin), None);
    assert_eq!(status, 409, "{answer}");
    assert_error(&answer, "still_referenced");
    let (status, answer) = server.call("DELETE", "/v1/tools/no-such-tool", Some(&admin), None);
    assert_eq!(status, 404, "{answer}");
    assert_error(&answer, "not_found");
}
