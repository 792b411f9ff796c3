//! Notifications end to end: a real HTTP receiver on loopback (written here, not warrant's), a real server,
//! and the signature checked by the receiver the way a webhook consumer would (Standard Webhooks: HMAC-SHA256
//! over `id.timestamp.body` with the shared secret).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::{MAILER, Scratch, Server, local, warrant};

/// The receiver's secret, as the notifier's file holds it (`whsec_` + base64, the Standard Webhooks form).
const KEY: &[u8] = b"a-shared-secret-of-the-compliance-office";

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
    answered: u16,
}

/// A webhook receiver on loopback: answers each request with the next planned status (200 once the plan is
/// used up) and keeps what it got.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Answered when the plan is empty.
    fallback: Arc<Mutex<u16>>,
}

impl Receiver {
    fn start(plan: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the receiver");
        let url = format!(
            "http://{}/hooks/warrant",
            listener.local_addr().expect("an address")
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let plan = Arc::new(Mutex::new(plan.iter().copied().collect::<VecDeque<u16>>()));
        let fallback = Arc::new(Mutex::new(200));
        let (log, queue, otherwise) = (received.clone(), plan.clone(), fallback.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || !line.starts_with("POST ") {
                    continue;
                }
                let mut headers = HashMap::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|length| length.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let answered = queue
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(*otherwise.lock().unwrap());
                log.lock().unwrap().push(Received {
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    answered,
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver {
            url,
            received,
            fallback,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Wait until `done` holds for what was received (at most 30 s).
    fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(Instant::now() < deadline, "no {what} within 30 s: {received:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Check a delivery's signature as a receiver does: the `v1,` signature over `id.timestamp.body`, and a
/// timestamp within five minutes (older ones are replays).
fn verify(request: &Received) -> Result<(), String> {
    let id = request.headers.get("webhook-id").ok_or("no webhook-id")?;
    let timestamp = request
        .headers
        .get("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let signature = request
        .headers
        .get("webhook-signature")
        .ok_or("no webhook-signature")?;
    let sent: i64 = timestamp.parse().map_err(|_| "timestamp is not a number")?;
    if (chrono::Utc::now().timestamp() - sent).abs() > 300 {
        return Err(format!("timestamp {sent} is more than five minutes off"));
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(KEY).map_err(|error| error.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(request.body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    // The header may carry several space-separated signatures; one must match.
    signature
        .split(' ')
        .any(|candidate| candidate.strip_prefix("v1,") == Some(expected.as_str()))
        .then_some(())
        .ok_or_else(|| format!("no signature matches: {signature}"))
}

/// The data directory with the registry and a notifier for `url` applied, the secret in a file beside it.
fn setup(scratch: &Scratch, url: &str, extra: &str) {
    let secret = scratch.file(
        "hook.secret",
        &format!(
            "whsec_{}\n",
            base64::engine::general_purpose::STANDARD.encode(KEY)
        ),
    );
    let notifier = format!(
        "---\nkind: Notifier\nid: compliance-office\naudience: Compliance office\nurl: {url}\n\
         secret_file: {secret}\n{extra}"
    );
    let registry = scratch.file("registry.yaml", &format!("{MAILER}{notifier}"));
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
}

/// A read of confidential data, then a send to an outside address nobody named: held for approval.
fn hold(server: &Server, token: &str) -> String {
    let (status, read) = server.post_json(
        "/v1/authorize",
        token,
        &json!({"agent": "mailer", "tool": "crm-read", "session": "s-1"}),
    );
    assert_eq!(
        (status, read["decision"].clone()),
        (200, json!("allow")),
        "{read}"
    );
    let (status, answer) = server.post_json(
        "/v1/authorize",
        token,
        &json!({"agent": "mailer", "tool": "send-email", "session": "s-1",
                "args": {"to": "outsider@example.org"}}),
    );
    assert_eq!(
        (status, answer["decision"].clone()),
        (200, json!("approval_required")),
        "{answer}"
    );
    answer["approval_id"].as_str().expect("an approval id").to_owned()
}

/// The deliveries about `subject` once `done` holds for them (at most 30 s).
fn deliveries_when(server: &Server, about: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = server.get_ok(&format!("/v1/notifications?about={about}"), server.admin());
        let items = answer["items"].as_array().cloned().unwrap_or_default();
        if done(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "deliveries about {about}: {items:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_held_call_reaches_the_approver_signed_and_a_failing_receiver_gets_it_on_the_third_try() {
    let receiver = Receiver::start(&[503, 500]);
    let scratch = Scratch::new();
    setup(
        &scratch,
        &receiver.url,
        "topics: [approval.requested, approval.decided]\n",
    );
    let server = Server::start(&scratch.data(), &["--public-url", "https://warrant.example"]);
    let agent = server.agent_token("mailer-runtime", &["mailer"]);
    let approval = hold(&server, &agent);

    let received = receiver.wait_for("a delivered message", |received| {
        received.iter().any(|request| request.answered == 200)
    });
    assert_eq!(
        received
            .iter()
            .map(|request| request.answered)
            .collect::<Vec<_>>(),
        [503, 500, 200],
        "two failures, then the third try"
    );
    let id = received[0].headers["webhook-id"].clone();
    for request in &received {
        verify(request).unwrap_or_else(|error| panic!("{error}: {request:#?}"));
        assert_eq!(
            request.headers["webhook-id"], id,
            "every attempt carries the same id"
        );
        assert_eq!(
            request.body, received[0].body,
            "every attempt sends the same body"
        );
    }
    // A tampered body does not verify.
    let mut forged = received[2].clone();
    forged.body = forged.body.replace("mailer", "someone-else");
    assert!(verify(&forged).is_err());

    let body: Value = serde_json::from_str(&received[2].body).unwrap();
    assert_eq!(body["type"], "approval.requested");
    assert_eq!(body["about"], json!({"kind": "approval", "id": approval}));
    assert_eq!(body["agent"], "mailer");
    assert_eq!(
        body["link"],
        format!("https://warrant.example/approvals/{approval}")
    );
    assert!(
        body["details"]["Tool"].as_str().unwrap().contains("send-email"),
        "{body}"
    );
    // Why it was held, in the gate's words (not its JSON).
    let why = body["details"]["Why"].as_str().unwrap();
    assert!(
        why.contains("outsider@example.org") && !why.contains('{'),
        "{body}"
    );

    // Every attempt is in the log, linked to the approval; the delivery says how it went.
    let deliveries = deliveries_when(&server, &format!("approval:{approval}"), |items| {
        items.iter().any(|item| item["state"] == "delivered")
    });
    let delivery = &deliveries[0];
    assert_eq!(
        (
            delivery["id"].as_str(),
            delivery["attempts"].as_u64(),
            delivery["last_status"].as_u64()
        ),
        (Some(id.as_str()), Some(3), Some(200)),
        "{delivery}"
    );
    assert_eq!(delivery["audience"], "Compliance office");
    let last = delivery["last_seq"].as_u64().expect("the attempt's event");
    let event = server.get_ok(&format!("/v1/events/{last}"), server.admin());
    let attrs = &event["event"]["attrs"];
    assert_eq!(event["event"]["kind"], "notification", "{event}");
    assert_eq!(
        (
            attrs["outcome"].as_str(),
            attrs["attempt"].as_u64(),
            attrs["delivery"].as_str()
        ),
        (Some("delivered"), Some(3), Some(id.as_str())),
        "{event}"
    );
    assert_eq!(attrs["about"], json!({"kind": "approval", "id": approval}));
    let outcomes: Vec<Value> = (0..=last)
        .map(|seq| server.get_ok(&format!("/v1/events/{seq}"), server.admin()))
        .filter(|event| {
            event["event"]["kind"] == "notification" && event["event"]["attrs"]["delivery"] == id.as_str()
        })
        .map(|event| event["event"]["attrs"]["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [json!("retrying"), json!("retrying"), json!("delivered")],
        "one event per attempt"
    );

    // The decision is told too.
    let approver = server.token("team-lead", "approver");
    let (status, answer) = server.post_json(
        &format!("/v1/approvals/{approval}/approve"),
        &approver,
        &json!({}),
    );
    assert_eq!(status, 200, "{answer}");
    let received = receiver.wait_for("the decision", |received| {
        received
            .iter()
            .any(|request| request.body.contains("approval.decided"))
    });
    let decided = received
        .iter()
        .find(|request| request.body.contains("approval.decided"))
        .unwrap();
    verify(decided).unwrap();
    let body: Value = serde_json::from_str(&decided.body).unwrap();
    assert_eq!(body["details"]["Decision"], "approved", "{body}");
}

#[test]
fn a_delivery_pending_when_the_server_is_killed_is_delivered_once_after_the_restart() {
    let receiver = Receiver::start(&[]);
    *receiver.fallback.lock().unwrap() = 503;
    let scratch = Scratch::new();
    setup(&scratch, &receiver.url, "");
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let agent = server.agent_token("mailer-runtime", &["mailer"]);
    let approval = hold(&server, &agent);
    let first = receiver.wait_for("a first attempt", |received| !received.is_empty());
    let id = first[0].headers["webhook-id"].clone();
    server.kill();

    // The receiver recovers while the server is down; the restarted server finds the pending delivery.
    *receiver.fallback.lock().unwrap() = 200;
    let restarted = Server::start(&scratch.data(), &[]);
    receiver.wait_for("the delivery after the restart", |received| {
        received.iter().any(|request| request.answered == 200)
    });
    // Give a second delivery every chance to happen.
    std::thread::sleep(Duration::from_secs(3));
    let received = receiver.received();
    let delivered: Vec<_> = received
        .iter()
        .filter(|request| request.answered == 200)
        .collect();
    assert_eq!(delivered.len(), 1, "delivered once: {received:#?}");
    assert_eq!(
        delivered[0].headers["webhook-id"], id,
        "the same delivery, not a new one"
    );
    verify(delivered[0]).unwrap();
    assert!(
        received.iter().all(|request| request.headers["webhook-id"] == id),
        "nothing else was sent: {received:#?}"
    );
    let answer = restarted.get_ok(&format!("/v1/notifications?about=approval:{approval}"), &admin);
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{answer}");
    assert_eq!(items[0]["state"], "delivered", "{answer}");
}

#[test]
fn a_receiver_down_past_the_retry_window_is_a_recorded_failure_and_a_test_message_says_so() {
    // A port nobody listens on.
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks", listener.local_addr().unwrap())
    };
    let scratch = Scratch::new();
    setup(&scratch, &down, "retry_seconds: 3\n");
    let server = Server::start(&scratch.data(), &[]);
    let agent = server.agent_token("mailer-runtime", &["mailer"]);
    let approval = hold(&server, &agent);

    let deliveries = deliveries_when(&server, &format!("approval:{approval}"), |items| {
        items.iter().any(|item| item["state"] == "failed")
    });
    let delivery = &deliveries[0];
    assert!(
        delivery["attempts"].as_u64().unwrap() >= 2,
        "retried first: {delivery}"
    );
    let error = delivery["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("retry window"), "{delivery}");
    let last = delivery["last_seq"].as_u64().unwrap();
    let event = server.get_ok(&format!("/v1/events/{last}"), server.admin());
    assert_eq!(event["event"]["attrs"]["outcome"], "failed", "{event}");

    // `warrant notifiers test` against the running server: not delivered, exit 1, recorded.
    let env = [
        ("WARRANT_SERVER", server.url.as_str()),
        ("WARRANT_TOKEN", server.admin()),
    ];
    let run = warrant(&["-o", "json", "notifiers", "test", "compliance-office"], &env).expect_code(1);
    assert_eq!(run.json()["state"], "failed", "{run:?}");
    let run = warrant(&["-o", "json", "notifiers", "test", "nobody"], &env).expect_code(2);
    assert!(run.stderr.contains("no notifier `nobody`"), "{run:?}");

    // Pointed at a receiver that works, the test message arrives, signed.
    let receiver = Receiver::start(&[]);
    let fixed = scratch.file(
        "fixed.yaml",
        &format!(
            "kind: Notifier\nid: compliance-office\naudience: Compliance office\nurl: {}\nsecret_file: {}\n",
            receiver.url,
            scratch.data().parent().unwrap().join("hook.secret").display()
        ),
    );
    warrant(&["apply", "-f", &fixed], &env).expect_code(0);
    let run = warrant(&["notifiers", "test", "compliance-office"], &env).expect_code(0);
    assert!(run.stdout.contains("delivered"), "{run:?}");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    verify(&received[0]).unwrap();
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(body["type"], "test");
}
