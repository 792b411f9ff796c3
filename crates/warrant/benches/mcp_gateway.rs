//! The MCP gateway's cost: tool calls through `warrant mcp` (stdio) and through `/mcp/{upstream}`
//! (Streamable HTTP) against the same calls made to the upstream directly, with concurrent sessions.
//!
//!     cargo bench -p warrant --bench mcp_gateway            # 32 sessions, 10 s per run
//!     MCP_BENCH_SESSIONS=8 MCP_BENCH_SECONDS=5 cargo bench -p warrant --bench mcp_gateway
//!
//! The upstream is this program itself in upstream mode (a minimal MCP server answering `echo` at once), so
//! the figures are the gateway's and warrant's, not a slow server's. Each proxied call is decided by the gate
//! (a durable `policy_decision`) and recorded (a durable `tool_call` + `tool_result`) on a release
//! `warrant serve` with a fresh data directory. Reports p50 / p99 / p99.9 per call and calls/s over all
//! sessions; the added latency is the proxied percentile minus the direct one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WARRANT: &str = env!("CARGO_BIN_EXE_warrant");
const UPSTREAM_MODE: &str = "MCP_BENCH_UPSTREAM";

fn main() {
    if std::env::var_os(UPSTREAM_MODE).is_some() {
        upstream();
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing: run only when benchmarking.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let sessions: usize = env_or("MCP_BENCH_SESSIONS", 32);
    let seconds: u64 = env_or("MCP_BENCH_SECONDS", 10);
    let me = std::env::current_exe().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start(scratch.path(), &me);
    let run = Duration::from_secs(seconds);

    println!("MCP gateway benchmark: {sessions} concurrent sessions, {seconds} s per run, tools/call echo");
    let direct = measure("direct to the upstream", sessions, run, || {
        Stdio2::spawn(Command::new(&me).env(UPSTREAM_MODE, "1"))
    });
    let before = WriteTimes::scrape(&server.url);
    let stdio = measure("through `warrant mcp` (stdio)", sessions, run, || {
        Stdio2::spawn(
            Command::new(WARRANT)
                .args([
                    "--server",
                    &server.url,
                    "mcp",
                    "--agent",
                    "bench",
                    "--upstream",
                    "echo",
                ])
                .env("WARRANT_TOKEN", &server.token)
                .env(UPSTREAM_MODE, "1"),
        )
    });
    let middle = WriteTimes::scrape(&server.url);
    middle.since(&before).print();
    let http = measure("through /mcp/echo (Streamable HTTP)", sessions, run, || {
        Box::new(Http::open(&server.url, &server.token)) as Box<dyn Session>
    });
    WriteTimes::scrape(&server.url).since(&middle).print();
    println!();
    for (name, figures) in [("stdio", &stdio), ("HTTP", &http)] {
        println!(
            "added by the gateway ({name}): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {:.0} calls/s proxied vs {:.0} direct",
            figures.p50 - direct.p50,
            figures.p99 - direct.p99,
            figures.p999 - direct.p999,
            figures.rate,
            direct.rate
        );
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// A minimal MCP server on stdio: the handshake, one tool (`echo`), nothing else.
fn upstream() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = message.get("id").cloned() else {
            continue;
        };
        let result = match message["method"].as_str().unwrap_or("") {
            "initialize" => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                                   "serverInfo": {"name": "bench-upstream", "version": "1"}}),
            "tools/list" => json!({"tools": [{"name": "echo", "description": "Echo the text.",
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}),
            "tools/call" => {
                let text = message["params"]["arguments"]["text"].clone();
                json!({"content": [{"type": "text", "text": text}], "isError": false})
            }
            _ => json!({}),
        };
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
        writeln!(stdout, "{answer}").unwrap();
        stdout.flush().unwrap();
    }
}

/// One MCP session the benchmark drives: send one request, wait for its answer.
trait Session: Send {
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value;
}

struct Stdio2 {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Stdio2 {
    fn spawn(command: &mut Command) -> Box<dyn Session> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Box::new(Stdio2 { child, input, output })
    }
}

impl Session for Stdio2 {
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.input, "{message}").unwrap();
        self.input.flush().unwrap();
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }
}

impl Drop for Stdio2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Http {
    agent: ureq::Agent,
    url: String,
    token: String,
    session: Option<String>,
}

impl Http {
    fn open(base: &str, token: &str) -> Http {
        Http {
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build(),
            url: format!("{base}/mcp/echo"),
            token: token.to_owned(),
            session: None,
        }
    }
}

impl Session for Http {
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut request = self
            .agent
            .post(&self.url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Accept", "application/json");
        if let Some(session) = &self.session {
            request = request.set("Mcp-Session-Id", session);
        }
        let response = request.send_json(message).unwrap();
        if let Some(session) = response.header("mcp-session-id") {
            self.session = Some(session.to_owned());
        }
        response.into_json().unwrap()
    }
}

/// The server's sequencer write times (`warrant_store_write_seconds` in `/metrics`): how long each group
/// commit held the write path while the proxied calls ran.
/// One kind's histogram: cumulative counts per bucket bound (seconds), the count and the sum of seconds.
type Histogram = (Vec<(f64, u64)>, u64, f64);

#[derive(Default)]
struct WriteTimes {
    /// Per kind: `append`, `other`, `wal_restart`.
    kinds: std::collections::BTreeMap<String, Histogram>,
    events: u64,
}

impl WriteTimes {
    fn scrape(url: &str) -> WriteTimes {
        let text = ureq::get(&format!("{url}/metrics"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        let mut times = WriteTimes::default();
        for line in text.lines() {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            if name == "warrant_store_group_committed_events_total" {
                times.events = value as u64;
                continue;
            }
            let Some(rest) = name.strip_prefix("warrant_store_write_seconds") else {
                continue;
            };
            let kind = rest.split('"').nth(1).unwrap_or("").to_owned();
            let entry = times.kinds.entry(kind).or_default();
            if rest.starts_with("_bucket") {
                let bound = rest.split('"').nth(3).unwrap_or("");
                if let Ok(bound) = bound.parse::<f64>() {
                    entry.0.push((bound, value as u64));
                }
            } else if rest.starts_with("_count") {
                entry.1 = value as u64;
            } else if rest.starts_with("_sum") {
                entry.2 = value;
            }
        }
        times
    }

    fn since(&self, earlier: &WriteTimes) -> WriteTimes {
        let mut kinds = self.kinds.clone();
        for (kind, (buckets, count, sum)) in &mut kinds {
            if let Some((before, before_count, before_sum)) = earlier.kinds.get(kind) {
                for ((_, now), (_, then)) in buckets.iter_mut().zip(before) {
                    *now -= then;
                }
                *count -= before_count;
                *sum -= before_sum;
            }
        }
        WriteTimes {
            kinds,
            events: self.events - earlier.events,
        }
    }

    fn print(&self) {
        // The smallest bucket bound holding a share `p` of the writes.
        let within = |buckets: &[(f64, u64)], count: u64, p: f64| {
            buckets
                .iter()
                .find(|(_, below)| *below as f64 >= p * count as f64)
                .map_or_else(|| "more".to_owned(), |(bound, _)| format!("{}", bound * 1000.0))
        };
        for (kind, (buckets, count, sum)) in &self.kinds {
            if *count == 0 {
                continue;
            }
            let per = if kind == "append" {
                format!(", {:.1} events each", self.events as f64 / *count as f64)
            } else {
                String::new()
            };
            println!(
                "    sequencer `{kind}` writes: {count}{per}, mean {:.2} ms, p50 <= {} ms, p99 <= {} ms, \
                 p99.9 <= {} ms, max <= {} ms",
                sum * 1000.0 / *count as f64,
                within(buckets, *count, 0.50),
                within(buckets, *count, 0.99),
                within(buckets, *count, 0.999),
                within(buckets, *count, 1.0),
            );
        }
    }
}

struct Figures {
    p50: f64,
    p99: f64,
    p999: f64,
    rate: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Open `sessions` sessions, handshake and list in each, then call `echo` in all of them at once for `run`.
fn measure(name: &str, sessions: usize, run: Duration, open: impl Fn() -> Box<dyn Session>) -> Figures {
    let barrier = Arc::new(Barrier::new(sessions + 1));
    let mut threads = Vec::new();
    for index in 0..sessions {
        let mut session = open();
        let barrier = barrier.clone();
        threads.push(std::thread::spawn(move || {
            let init = session.request(
                0,
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "bench", "version": "1"}}),
            );
            assert!(init.get("result").is_some(), "{init}");
            let listed = session.request(1, "tools/list", json!({}));
            assert_eq!(listed["result"]["tools"][0]["name"], "echo", "{listed}");
            let meta = json!({"warrant/session": format!("bench-{index}")});
            // One warm-up call: the session's invocation is recorded on its first call.
            session.request(
                2,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "warm"}, "_meta": meta}),
            );
            barrier.wait();
            let start = Instant::now();
            let mut latencies = Vec::new();
            let mut id = 3;
            while start.elapsed() < run {
                let sent = Instant::now();
                let answer = session.request(
                    id,
                    "tools/call",
                    json!({"name": "echo", "arguments": {"text": format!("call {id}")}, "_meta": meta}),
                );
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(answer["result"]["isError"], false, "{answer}");
                id += 1;
            }
            latencies
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let mut all: Vec<f64> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();
    let wall = start.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let figures = Figures {
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
        p999: percentile(&all, 0.999),
        rate: all.len() as f64 / wall,
    };
    println!(
        "{name:40} {:>7} calls  {:>7.0} calls/s  p50 {:>7.3} ms  p99 {:>7.3} ms  p99.9 {:>7.3} ms",
        all.len(),
        figures.rate,
        figures.p50,
        figures.p99,
        figures.p999
    );
    figures
}

/// A release `warrant serve` on a fresh data directory, with the `bench` agent and its upstream `echo`.
struct Server {
    child: Child,
    url: String,
    token: String,
}

impl Server {
    fn start(dir: &std::path::Path, upstream: &std::path::Path) -> Server {
        let data = dir.join("data");
        let mut child = Command::new(WARRANT)
            .arg("--data")
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0", "--monitor-interval-s", "0"])
            .env_remove("WARRANT_TOKEN")
            // The /mcp sessions start the upstream with the variables its manifest names, from here.
            .env(UPSTREAM_MODE, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut admin, mut url) = (None, None);
        while url.is_none() {
            let line = lines.next().unwrap().unwrap();
            if let Some((_, token)) = line.split_once("(shown once; store it now): ") {
                admin = Some(token.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("warrant listening on ") {
                url = Some(rest.split_whitespace().next().unwrap().to_owned());
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let (admin, url) = (admin.unwrap(), url.unwrap());
        let registry = format!(
            "kind: Tool\nid: echo.echo\naccess: read\negress: internal\n---\n\
             kind: McpServer\nid: echo\ntransport: stdio\ncommand: {}\nenv: [{UPSTREAM_MODE}]\n---\n\
             kind: Agent\nid: bench\npurpose: benchmark\nowner: bench\nrisk_class: minimal\n\
             decision_scope: recommend\noversight: human-on-the-loop\n\
             tools:\n  - {{tool: echo.echo, access: read, approved_by: bench}}\n",
            upstream.display()
        );
        let agent = ureq::agent();
        agent
            .post(&format!("{url}/v1/apply"))
            .set("Authorization", &format!("Bearer {admin}"))
            .set("Content-Type", "application/yaml")
            .send_string(&registry)
            .unwrap();
        let created: Value = agent
            .post(&format!("{url}/v1/tokens"))
            .set("Authorization", &format!("Bearer {admin}"))
            .send_json(json!({"name": "bench", "role": "agent", "agents": ["bench"]}))
            .unwrap()
            .into_json()
            .unwrap();
        Server {
            child,
            url,
            token: created["token"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
