//! Helpers shared by the end-to-end tests: run the real `warrant` binary as a server or a CLI command, call the
//! HTTP API, and a small registry to work on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const WARRANT: &str = env!("CARGO_BIN_EXE_warrant");

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A small registry: two tools, a data source, an agent that reads one tool and the data source.
pub const BASE_REGISTRY: &str = "\
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: internal
---
kind: Tool
id: crm-update
access: write
egress: internal
sensitivity: internal
---
kind: DataSource
id: customer-notes
sensitivity: internal
personal_data: true
---
kind: Agent
id: helper-agent
purpose: Answers customer questions
owner: head-of-support
risk_class: limited
decision_scope: recommend
prompt_version: helper-v1
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: head-of-support}
data_sources: [customer-notes]
";

/// A mailer agent that reads confidential customer data and sends e-mail: a send to an address nobody
/// named, after a read, is held for approval.
pub const MAILER: &str = "
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: confidential
---
kind: Tool
id: send-email
access: write
egress: external
recipient_arg: to
---
kind: Agent
id: mailer
purpose: Answers customers by email
owner: head-of-support
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cso}
  - {tool: send-email, access: write, approved_by: cso}
";

/// The number of documents in [`BASE_REGISTRY`].
pub const BASE_DOCUMENTS: u64 = 4;

/// A running `warrant serve`, killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    /// The admin token printed on the data directory's first start; `None` on a restart.
    pub admin: Option<String>,
    agent: ureq::Agent,
}

impl Server {
    /// Start `warrant --data DIR serve --listen 127.0.0.1:0 EXTRA...` and wait for its listening line.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(WARRANT)
            .arg("--data")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            // The evaluator writes alert events on its own clock; tests that want it turn it on.
            .args(
                (!extra.contains(&"--monitor-interval-s"))
                    .then_some(["--monitor-interval-s", "0"])
                    .into_iter()
                    .flatten(),
            )
            .args(extra)
            .env_remove("WARRANT_SERVER")
            .env_remove("WARRANT_TOKEN")
            .env_remove("WARRANT_DATA")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning warrant serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        // Keep draining stdout for the server's whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    // Nobody listens any more; keep reading to drain the pipe.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut admin = None;
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match received.recv_timeout(left) {
                Ok(line) => line,
                Err(error) => {
                    let _ = child.kill();
                    panic!("warrant serve printed no listening line within {START_TIMEOUT:?}: {error}");
                }
            };
            if let Some(rest) = line.strip_prefix("created admin token ")
                && let Some((_, token)) = rest.split_once("(shown once; store it now): ")
            {
                admin = Some(token.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("warrant listening on ") {
                break rest.split_whitespace().next().expect("a URL").to_owned();
            }
        };
        // No connection reuse: a refused request's unread body makes the server drop the connection (see
        // `server::a_refused_request_with_a_body_leaves_the_connection_usable`), which must not make the other
        // tests flaky.
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .max_idle_connections(0)
            .build();
        Server {
            child,
            url,
            admin,
            agent,
        }
    }

    /// The admin token of a first start.
    pub fn admin(&self) -> &str {
        self.admin
            .as_deref()
            .expect("the first start prints an admin token")
    }

    /// One API call: the status and the JSON answer (`Null` for an empty body).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> (u16, Value) {
        call(&self.agent, &self.url, method, path, token, body)
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None)
    }

    /// GET that must succeed.
    pub fn get_ok(&self, path: &str, token: &str) -> Value {
        let (status, answer) = self.get(path, token);
        assert_eq!(status, 200, "GET {path}: {answer}");
        answer
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("encoding");
        self.call("POST", path, Some(token), Some(("application/json", &bytes)))
    }

    pub fn apply(&self, path: &str, token: &str, yaml: &str) -> (u16, Value) {
        self.call(
            "POST",
            path,
            Some(token),
            Some(("application/yaml", yaml.as_bytes())),
        )
    }

    /// Create a token with `role` named `name`, using the admin token. Not for agents: see [`Self::agent_token`].
    pub fn token(&self, name: &str, role: &str) -> String {
        assert_ne!(role, "agent", "agent tokens are bound: use agent_token");
        let (status, answer) = self.post_json(
            "/v1/tokens",
            self.admin(),
            &serde_json::json!({"name": name, "role": role}),
        );
        assert_eq!(status, 201, "creating a {role} token: {answer}");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Create an agent token named `name` that may act for `agents`.
    pub fn agent_token(&self, name: &str, agents: &[&str]) -> String {
        let (status, answer) = self.post_json(
            "/v1/tokens",
            self.admin(),
            &serde_json::json!({"name": name, "role": "agent", "agents": agents}),
        );
        assert_eq!(status, 201, "creating an agent token: {answer}");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Wait until the latest signed checkpoint covers at least `size` events; returns it.
    pub fn wait_for_checkpoint(&self, token: &str, size: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, answer) = self.get("/v1/log/checkpoint", token);
            if status == 200 && answer["size"].as_u64().is_some_and(|signed| signed >= size) {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "no checkpoint of size {size} within 20 s: {status} {answer}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL the server and reap it.
    pub fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP call with ureq: non-2xx answers are returned, not raised.
pub fn call(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> (u16, Value) {
    let mut request = agent.request(method, &format!("{base}{path}"));
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let result = match body {
        Some((content_type, bytes)) => request.set("Content-Type", content_type).send_bytes(bytes),
        None => request.call(),
    };
    let response = match result {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("{method} {path}: {error}"),
    };
    let status = response.status();
    let text = response.into_string().expect("reading the answer");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// A series' value from the `/metrics` text (`series` with its labels, as written there).
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{series}` in /metrics:\n{text}"))
}

/// Assert `answer` is an error of the documented shape with `code`; returns its message.
pub fn assert_error(answer: &Value, code: &str) -> String {
    let error = answer
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("not an error answer: {answer}"));
    assert_eq!(error.get("code").and_then(Value::as_str), Some(code), "{answer}");
    error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("error without a message: {answer}"))
        .to_owned()
}

/// What a finished CLI command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The standard output as JSON (for `-o json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:?}"))
    }

    /// Assert the exit code, showing the whole run if it differs.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "unexpected exit code: {self:?}");
        self
    }
}

/// Run `warrant ARGS` with `env` set (and no inherited WARRANT_* variables).
pub fn warrant(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(WARRANT);
    command
        .args(args)
        .env_remove("WARRANT_SERVER")
        .env_remove("WARRANT_TOKEN")
        .env_remove("WARRANT_DATA")
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("running warrant");
    Run {
        code: output.status.code().expect("warrant exited by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Run `warrant --data DIR ARGS` (the local, in-process mode).
pub fn local(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--data", dir.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    warrant(&all, &[])
}

/// A fresh temporary directory; the data directory is a child of it so a test can create files beside it.
/// With `WARRANT_TEST_POSTGRES` set (a PostgreSQL server the tests may create databases on), the data
/// directory is bound to a fresh PostgreSQL database of its own, so every command on it runs on PostgreSQL.
pub struct Scratch {
    root: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

impl Scratch {
    pub fn new() -> Scratch {
        let root = tempfile::tempdir().expect("a temporary directory");
        let database = TestDatabase::bind(&root.path().join("data"));
        Scratch {
            root,
            _database: database,
        }
    }

    /// The PostgreSQL database the data directory is bound to (with `WARRANT_TEST_POSTGRES`).
    pub fn database(&self) -> Option<&TestDatabase> {
        self._database.as_ref()
    }

    /// A second server's data directory beside the first, on the same log: the same signing key and, on
    /// PostgreSQL, the same database. (Call after the first server created its key.)
    pub fn second_data(&self) -> PathBuf {
        let second = self.root.path().join("data-b");
        std::fs::create_dir_all(&second).expect("the second data directory");
        for file in ["log.key", "database"] {
            let from = self.data().join(file);
            if from.exists() {
                std::fs::copy(&from, second.join(file)).expect("copying into the second data directory");
            }
        }
        second
    }

    /// The data directory (on SQLite, not created until warrant creates it).
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Write `text` into a file beside the data directory; returns its path as a string.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.root.path().join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path.to_str().expect("a UTF-8 path").to_owned()
    }
}

/// Whether the tests run on SQLite (no `WARRANT_TEST_POSTGRES`). Tests that tamper with the SQLite file
/// itself (the tamper, proof, witness-rewrite and legacy-token tests) run only there.
pub fn on_sqlite() -> bool {
    !warrant_store::testing::on_postgres()
}

pub use warrant_store::testing::TestDatabase;

/// A valid event of `kind` with an optional client id.
pub fn event(id: Option<&str>, note: &str) -> Value {
    let mut event = serde_json::json!({
        "time": "2026-11-26T09:30:00.123Z",
        "agent": "helper-agent",
        "kind": "decision",
        "attrs": {"name": "verification_path", "outcome": "standard", "note": note},
    });
    if let Some(id) = id {
        event["id"] = Value::String(id.to_owned());
    }
    event
}

/// The repository's root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python with the tests' real clients (the OpenTelemetry and MCP SDKs): the venv `bash .ci/setup`
/// makes at `target/pyenv`, or `WARRANT_TEST_PYTHON`.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("WARRANT_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = workspace().join("target/pyenv/bin/python");
    assert!(
        venv.exists(),
        "the Python SDKs are not installed: run `bash .ci/setup` (or set WARRANT_TEST_PYTHON)"
    );
    venv
}
