//! The evidence bundle: exported for a period (directory and `.tar.gz`, locally and over HTTP by an auditor),
//! verified offline with only the log's public key, and every tamper named precisely: a changed event, a
//! dropped event, a changed SoA file, a swapped checkpoint, a manifest re-signed with another key, changed
//! content. The HTML report renders in headless Chromium with its charts.

use std::path::Path;
use std::process::Command;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sha2::Digest;
use warrant_log::bundle::signature_body;
use warrant_log::note::{NoteSigner, sign_note};

use crate::support::{BASE_REGISTRY, Run, Scratch, Server, local, warrant};

fn events(count: usize) -> String {
    let now = Utc::now();
    (0..count)
        .map(|index| {
            json!({"time": (now - Duration::minutes(index as i64)).to_rfc3339(), "agent": "helper-agent",
                   "kind": "decision", "attrs": {"name": "answer_path", "outcome": if index % 3 == 0 { "escalate" } else { "answer" }},
                   "content": {"input": format!("customer question {index}")}})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn verify(bundle: &Path, key: &str) -> Run {
    warrant(&["verify", bundle.to_str().unwrap(), "--key", key], &[])
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walk(from) {
        let target = to.join(entry.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &target).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Apply `edit` to a copy of the bundle and verify it: it must fail, naming `expected`.
fn tampered(bundle: &Path, scratch: &Path, name: &str, key: &str, expected: &str, edit: impl FnOnce(&Path)) {
    let copy = scratch.join(name);
    copy_dir(bundle, &copy);
    edit(&copy);
    let run = verify(&copy, key);
    assert_eq!(run.code, 1, "{name}: tampering was not caught: {run:?}");
    assert!(
        run.stdout.contains(expected),
        "{name}: expected `{expected}` in {run:?}"
    );
}

#[test]
fn a_bundle_verifies_offline_and_every_tamper_is_named() {
    let scratch = Scratch::new();
    let dir = scratch.data();
    local(
        &dir,
        &["apply", "-f", &scratch.file("registry.yaml", BASE_REGISTRY)],
    )
    .expect_code(0);
    local(&dir, &["ingest", &scratch.file("events.ndjson", &events(300))]).expect_code(0);
    local(&dir, &["risk", "assess"]).expect_code(0);
    local(
        &dir,
        &[
            "docs",
            "add",
            &scratch.file("policy.md", "AI policy"),
            "--control",
            "A.2.2",
        ],
    )
    .expect_code(0);
    local(&dir, &["audit", "run", "--n", "2"]).expect_code(0);
    let key = local(&dir, &["log", "key"])
        .expect_code(0)
        .stdout
        .trim()
        .to_owned();
    let (from, to) = (
        (Utc::now() - Duration::days(2)).date_naive().to_string(),
        (Utc::now() + Duration::days(1)).date_naive().to_string(),
    );

    let bundle = scratch.file("unused", "").replace("unused", "bundle");
    let exported = local(
        &dir,
        &[
            "-o",
            "json",
            "evidence",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--with-content",
            "--out",
            &bundle,
        ],
    )
    .expect_code(0)
    .json();
    assert!(exported["events"].as_u64().unwrap() >= 300, "{exported}");
    let bundle = Path::new(&bundle);
    for file in [
        "manifest.json",
        "manifest.sig",
        "checkpoints/end.txt",
        "proofs/consistency.json",
        "events.ndjson",
        "registry/start.json",
        "registry/end.json",
        "registry/changes.ndjson",
        "reports/soa.json",
        "reports/soa.md",
        "reports/gaps.json",
        "reports/crosswalk.json",
        "reports/risks.json",
        "reports/incidents.json",
        "reports/monitoring.json",
        "reports/access-reviews.json",
        "reports/approvals.json",
        "reports/internal-audit.json",
        "report.html",
    ] {
        assert!(bundle.join(file).exists(), "{file} missing from the bundle");
    }
    let ok = verify(bundle, &key);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert!(ok.stdout.contains("bundle verified"), "{ok:?}");
    // Exporting into an existing bundle is refused.
    assert_eq!(
        local(
            &dir,
            &[
                "evidence",
                "export",
                "--from",
                &from,
                "--to",
                &to,
                "--out",
                bundle.to_str().unwrap()
            ]
        )
        .code,
        2
    );
    assert_eq!(
        local(
            &dir,
            &[
                "evidence",
                "export",
                "--from",
                &to,
                "--to",
                &from,
                "--out",
                "/nonexistent/x"
            ]
        )
        .code,
        2
    );

    let root = scratch.data().parent().unwrap().to_owned();
    // A changed event.
    tampered(
        bundle,
        &root,
        "changed-event",
        &key,
        "was changed: its canonical form",
        |copy| {
            let path = copy.join("events.ndjson");
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let index = lines.iter().position(|line| line.contains("\"answer\"")).unwrap();
            lines[index] = lines[index].replacen("\"answer\"", "\"approve\"", 1);
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        },
    );
    // A dropped event.
    tampered(
        bundle,
        &root,
        "dropped-event",
        &key,
        "is missing (the events jump to seq",
        |copy| {
            let path = copy.join("events.ndjson");
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.remove(10);
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        },
    );
    // A changed SoA.
    tampered(
        bundle,
        &root,
        "changed-soa",
        &key,
        "reports/soa.json: SHA-256",
        |copy| {
            let path = copy.join("reports/soa.json");
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replacen("not_started", "implemented", 1);
            std::fs::write(&path, text).unwrap();
        },
    );
    // Changed content.
    tampered(
        bundle,
        &root,
        "changed-content",
        &key,
        "content `input` does not match its committed digest",
        |copy| {
            let path = copy.join("events.ndjson");
            let text = std::fs::read_to_string(&path).unwrap().replacen(
                "customer question 7\\\"",
                "customer question 8\\\"",
                1,
            );
            std::fs::write(&path, text).unwrap();
        },
    );

    // A swapped checkpoint: the end checkpoint of a later export of the same log.
    local(&dir, &["ingest", &scratch.file("more.ndjson", &events(5))]).expect_code(0);
    let later = root.join("later");
    local(
        &dir,
        &[
            "evidence",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            later.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    // The auditor holds the first bundle's end checkpoint: the later bundle's log must agree with it.
    let held = bundle.join("checkpoints/end.txt");
    let run = warrant(
        &[
            "verify",
            later.to_str().unwrap(),
            "--key",
            &key,
            "--checkpoint",
            held.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("agrees with the checkpoint you hold"),
        "{run:?}"
    );
    tampered(
        bundle,
        &root,
        "swapped-checkpoint",
        &key,
        "checkpoints/end.txt: a checkpoint of size",
        |copy| {
            std::fs::copy(
                later.join("checkpoints/end.txt"),
                copy.join("checkpoints/end.txt"),
            )
            .unwrap();
        },
    );

    // Re-signed with another key: the manifest's signature fails with the log's key; with the other key the
    // checkpoints (signed by the log) fail.
    let other = NoteSigner::from_secret_bytes("warrant/impostor/00000000", &[7; 32]).unwrap();
    tampered(
        bundle,
        &root,
        "resigned",
        &key,
        "manifest.sig does not verify with the key given",
        |copy| {
            let manifest = std::fs::read(copy.join("manifest.json")).unwrap();
            std::fs::write(
                copy.join("manifest.sig"),
                sign_note(&signature_body(&manifest), &other).unwrap(),
            )
            .unwrap();
        },
    );
    let resigned = root.join("resigned");
    let run = verify(&resigned, &other.vkey());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("checkpoints/end.txt: the checkpoint's signature does not verify"),
        "{run:?}"
    );

    // The same bundle as an archive, and over HTTP for an auditor (an agent may not export).
    let archive = root.join("bundle.tar.gz");
    local(
        &dir,
        &[
            "evidence",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--agent",
            "nobody",
            "--out",
            archive.to_str().unwrap(),
        ],
    )
    .expect_code(0);
    let run = verify(&archive, &key);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("withheld by an agent filter"), "{run:?}");

    // Even the operator, holding the log key, cannot withhold an event from a bundle that exports every event
    // in full: re-hash the manifest, re-sign it, and the verifier still names the withheld seq.
    let signer =
        NoteSigner::parse_skey(std::fs::read_to_string(dir.join("log.key")).unwrap().trim()).unwrap();
    tampered(
        bundle,
        &root,
        "withheld-by-operator",
        &key,
        "event seq 12 is withheld",
        |copy| {
            let path = copy.join("events.ndjson");
            let text = std::fs::read_to_string(&path).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let line: Value = serde_json::from_str(&lines[12]).unwrap();
            lines[12] = json!({"seq": line["seq"], "leaf": line["leaf"]}).to_string();
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            let mut manifest: Value =
                serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            for file in manifest["files"].as_array_mut().unwrap() {
                if file["path"] == "events.ndjson" {
                    file["sha256"] = json!(hex::encode(sha2::Sha256::digest(&bytes)));
                    file["size"] = json!(bytes.len());
                }
            }
            let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
            std::fs::write(copy.join("manifest.json"), &manifest).unwrap();
            std::fs::write(
                copy.join("manifest.sig"),
                sign_note(&signature_body(&manifest), &signer).unwrap(),
            )
            .unwrap();
        },
    );
    let server = Server::start(&dir, &[]);
    let auditor = server.token("auditor-1", "auditor");
    let agent = server.agent_token("agent-1", &["helper-agent"]);
    let remote = root.join("remote");
    let env = [
        ("WARRANT_SERVER", server.url.as_str()),
        ("WARRANT_TOKEN", auditor.as_str()),
    ];
    let run = warrant(
        &[
            "evidence",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            remote.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(verify(&remote, &key).code, 0);
    let env = [
        ("WARRANT_SERVER", server.url.as_str()),
        ("WARRANT_TOKEN", agent.as_str()),
    ];
    let refused = warrant(
        &[
            "evidence",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            root.join("nope.tar.gz").to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(refused.code, 2, "{refused:?}");

    report_renders_in_chromium(bundle, &root);
}

/// Load report.html in headless Chromium (Debian's `chromium`, installed by `.ci/setup`): the sections and
/// charts are in the rendered DOM, and a screenshot goes to target/test-artifacts/report.png.
fn report_renders_in_chromium(bundle: &Path, scratch: &Path) {
    let report = bundle.join("report.html");
    let url = format!("file://{}", report.display());
    let profile = scratch.join("chromium-profile");
    let chromium = |args: &[&str]| {
        Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(&url)
            .output()
            .expect("headless chromium (run `bash .ci/setup`)")
    };
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom"]).stdout).into_owned();
    for id in [
        "summary",
        "verification",
        "soa",
        "gaps",
        "incidents",
        "risks",
        "monitoring",
        "chart-decisions",
        "chart-drift",
        "chart-cost",
        "audit",
        "events",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "section `{id}` missing from the rendered report"
        );
    }
    assert!(dom.contains("<rect"), "the decision chart has no bars");
    let html = std::fs::read_to_string(&report).unwrap();
    for external in ["src=\"http", "href=\"http", "<script src", "<link "] {
        assert!(
            !html.contains(external),
            "the report loads an external asset: {external}"
        );
    }
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(&[
        "--window-size=1280,2000",
        &format!("--screenshot={}", screenshot.display()),
    ]);
    assert!(
        screenshot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
    let _: Value = Value::Null;
}
