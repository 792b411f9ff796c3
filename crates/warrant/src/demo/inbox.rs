//! The compliance office's inbox in the demo: a webhook receiver on loopback, as the office's chat or ticket
//! system would be. It checks every message's signature (Standard Webhooks, the secret shared through the
//! notifier's `secret_file`), refuses replays older than five minutes, and keeps what it accepted so the demo
//! can show who was told what.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine;
use serde_json::Value;

/// The notifier the demo applies; `{url}` and `{secret}` are filled in at start.
const NOTIFIER: &str = "kind: Notifier
id: compliance-office
audience: Compliance office (Northwind Bank)
url: {url}
secret_file: {secret}
topics: [incident.opened, incident.updated, incident.overdue, approval.requested]
";

/// A message the inbox accepted.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    /// The body's `type` (`incident.opened`, ...).
    pub topic: String,
}

pub struct Inbox {
    pub url: String,
    secret_path: String,
    accepted: Arc<Mutex<Vec<Message>>>,
}

impl Inbox {
    /// Listen on a free loopback port; the secret is the data directory's (made on the first run).
    pub fn start(data: &Path) -> anyhow::Result<Inbox> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        let path = data.join("demo-inbox.secret");
        if !path.exists() {
            let key = warrant_store::random_id("").context("drawing the inbox secret")?;
            let text = format!(
                "whsec_{}\n",
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(text.trim().trim_start_matches("whsec_"))
            .with_context(|| format!("{} does not hold a whsec_ secret", path.display()))?;
        let listener = TcpListener::bind("127.0.0.1:0").context("opening the demo inbox")?;
        let url = format!("http://{}/compliance-office", listener.local_addr()?);
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let kept = accepted.clone();
        std::thread::Builder::new()
            .name("demo-inbox".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let status = match receive(&stream, &key) {
                        Ok(message) => {
                            if let Ok(mut kept) = kept.lock() {
                                kept.push(message);
                            }
                            "204 No Content"
                        }
                        Err(_) => "401 Unauthorized",
                    };
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                }
            })
            .context("starting the demo inbox")?;
        Ok(Inbox {
            url,
            secret_path: path.to_string_lossy().into_owned(),
            accepted,
        })
    }

    /// The notifier manifest that points at this inbox.
    pub fn notifier(&self) -> String {
        NOTIFIER.replace("{url}", &self.url).replace(
            "{secret}",
            &serde_json::to_string(&self.secret_path).unwrap_or_default(),
        )
    }

    pub fn accepted(&self) -> Vec<Message> {
        self.accepted.lock().map(|kept| kept.clone()).unwrap_or_default()
    }
}

/// Read one request and check its signature.
fn receive(stream: &std::net::TcpStream, key: &[u8]) -> anyhow::Result<Message> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = std::collections::HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|length| length.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let header = |name: &str| headers.get(name).cloned().context(format!("no {name} header"));
    let (id, timestamp, signature) = (
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
    );
    let sent: i64 = timestamp.parse().context("a timestamp")?;
    anyhow::ensure!((chrono::Utc::now().timestamp() - sent).abs() <= 300, "a replay");
    let expected = warrant_service::notify::signature(key, &id, sent, &body);
    anyhow::ensure!(
        signature.split(' ').any(|candidate| candidate == expected),
        "a bad signature"
    );
    let body: Value = serde_json::from_slice(&body).context("a JSON body")?;
    Ok(Message {
        id,
        topic: body
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}
