//! A stdio upstream: warrant starts it as its child and speaks newline-delimited JSON-RPC on the child's
//! pipes. The child's stderr is the host's (its logs stay where the host shows them).
//!
//! A child that exits fails the requests waiting on it at once; the next message from the host starts it
//! again and, for handshake-era protocols, replays the host's `initialize` first, so the session goes on.

use std::process::Stdio;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::jsonrpc;
use crate::session::Gateway;

/// Environment variables every child gets (when set), besides the ones its manifest names. Nothing else of
/// warrant's environment reaches the upstream: not `WARRANT_TOKEN`, not other secrets.
const BASE_ENV: &[&str] = &[
    "HOME",
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TEMP",
    "TMP",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "SYSTEMROOT",
];

/// How to start the upstream.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    pub command: String,
    pub args: Vec<String>,
    /// Names of environment variables passed on (their values are warrant's).
    pub env: Vec<String>,
}

/// Start the upstream child for `gateway` and keep delivering `queue` to it (restarting it when it exits)
/// until the queue closes or the task is aborted (which kills the child). Fails if the first start fails,
/// so a command that cannot run is reported before the host's first message.
pub async fn supervise(
    gateway: Arc<Gateway>,
    child: ChildSpec,
    queue: mpsc::UnboundedReceiver<Value>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let (died, deaths) = mpsc::unbounded_channel::<u64>();
    let mut supervisor = Supervisor {
        spec: child,
        gateway,
        current: None,
        generation: 0,
        died,
    };
    supervisor.start().await?;
    Ok(tokio::spawn(supervisor.run(queue, deaths)))
}

struct Running {
    generation: u64,
    stdin: ChildStdin,
    _child: Child,
}

struct Supervisor {
    spec: ChildSpec,
    gateway: Arc<Gateway>,
    current: Option<Running>,
    generation: u64,
    /// A child's reader sends its generation here when the child's output ends.
    died: mpsc::UnboundedSender<u64>,
}

impl Supervisor {
    async fn run(
        mut self,
        mut queue: mpsc::UnboundedReceiver<Value>,
        mut deaths: mpsc::UnboundedReceiver<u64>,
    ) {
        loop {
            tokio::select! {
                // A death is seen before the next message: that message starts a new child instead of
                // failing on the dead one's pipe.
                biased;
                Some(generation) = deaths.recv() => {
                    if self.current.as_ref().is_some_and(|running| running.generation == generation) {
                        self.current = None;
                    }
                }
                message = queue.recv() => {
                    let Some(message) = message else { break };
                    self.deliver(message).await;
                }
            }
        }
    }

    /// Write one message to the child, starting it (again) if it is not running.
    async fn deliver(&mut self, message: Value) {
        if self.current.is_none() {
            let restarted = self.generation > 0;
            if let Err(why) = self.start().await {
                self.refuse(&message, &why);
                return;
            }
            if restarted && let Err(why) = self.replay_handshake().await {
                self.current = None;
                self.refuse(&message, &why);
                return;
            }
        }
        if let Err(why) = self.write(&message).await {
            self.current = None;
            self.gateway.upstream_gone(&why);
        }
    }

    async fn start(&mut self) -> Result<(), String> {
        if self.current.is_some() {
            return Ok(());
        }
        let mut command = Command::new(&self.spec.command);
        command
            .args(&self.spec.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for name in BASE_ENV
            .iter()
            .copied()
            .chain(self.spec.env.iter().map(String::as_str))
        {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let mut child = command
            .spawn()
            .map_err(|error| format!("cannot start the upstream `{}`: {error}", self.spec.command))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the upstream's pipes could not be opened".into());
        };
        self.generation += 1;
        let generation = self.generation;
        let gateway = self.gateway.clone();
        let died = self.died.clone();
        let server = gateway.config().server.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if !line.trim().is_empty() {
                    gateway.from_upstream(line.as_bytes());
                }
            }
            // While the session lasts the supervisor listens: then this is the upstream exiting on its own.
            // After the host hung up the supervisor is gone and stopped the child itself.
            if died.send(generation).is_ok() {
                tracing::warn!(%server, "the upstream closed its output");
            }
            gateway.upstream_gone("exited");
        });
        self.current = Some(Running {
            generation,
            stdin,
            _child: child,
        });
        Ok(())
    }

    async fn write(&mut self, message: &Value) -> Result<(), String> {
        let Some(running) = self.current.as_mut() else {
            return Err("is not running".into());
        };
        let mut line = message.to_string();
        line.push('\n');
        running
            .stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|error| format!("stopped reading its input ({error})"))?;
        running
            .stdin
            .flush()
            .await
            .map_err(|error| format!("stopped reading its input ({error})"))
    }

    /// A restarted child knows nothing of the session: give it the host's `initialize` again (the answer is
    /// the gateway's, not the host's) and `notifications/initialized`.
    async fn replay_handshake(&mut self) -> Result<(), String> {
        let Some(params) = self.gateway.handshake() else {
            return Ok(()); // a stateless (2026-07-28) session: every request carries its own envelope
        };
        let (id, answer) = self.gateway.own_request_id();
        if let Err(why) = self
            .write(&jsonrpc::request(id.clone(), "initialize", params))
            .await
        {
            self.gateway.forget_request(&id);
            return Err(why);
        }
        let timeout = self.gateway.config().own_timeout;
        let answered = tokio::time::timeout(timeout, answer).await;
        self.gateway.forget_request(&id);
        match answered {
            Ok(Ok(answer)) if answer.get("result").is_some() => {}
            Ok(Ok(answer)) => {
                return Err(format!(
                    "the restarted upstream refused the session's handshake: {}",
                    answer.get("error").unwrap_or(&Value::Null)
                ));
            }
            _ => return Err("the restarted upstream did not answer the handshake".into()),
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.write(&initialized).await
    }

    /// Answer a request that could not be delivered (a notification is dropped).
    fn refuse(&self, message: &Value, why: &str) {
        if let jsonrpc::Message::Request { id, .. } = jsonrpc::classify(message) {
            // The request waits in the gateway's pending table: answering through it reaches the right task.
            let answer = jsonrpc::error(
                Some(id),
                jsonrpc::INTERNAL_ERROR,
                format!(
                    "the upstream `{}` is not available: {why}",
                    self.gateway.config().server
                ),
                None,
            );
            self.gateway.from_upstream(answer.to_string().as_bytes());
        }
    }
}
