//! Witnessed checkpoints end to end: a warrant server and two `warrant witness serve` processes. Checkpoints
//! collect both cosignatures; a witness killed mid-run and restarted keeps its state and is caught up through
//! a 409; a bundle carries the cosignatures and `verify --witness --policy` checks them; and a log rewritten
//! behind the server's back (an event changed, the head resealed, the checkpoint re-signed) is refused by both
//! witnesses with 422, which the server reports.
//!
//! The protocol bodies and the cosignatures are checked with [`c2sp`], written here from the C2SP texts
//! (tlog-witness, tlog-cosignature, signed-note) and sharing no code with warrant-log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::{Scratch, Server, WARRANT, event, local, metric, warrant};

/// An independent reading of the C2SP specifications.
mod c2sp {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use ed25519_dalek::{Signature, VerifyingKey};
    use sha2::{Digest, Sha256};

    /// A parsed vkey: `<name>+<hex key id>+<base64(type ‖ key)>`.
    pub struct Vkey {
        pub name: String,
        pub id: [u8; 4],
        pub kind: u8,
        pub key: [u8; 32],
    }

    pub fn parse_vkey(text: &str) -> Vkey {
        let mut parts = text.trim().splitn(3, '+');
        let name = parts.next().unwrap().to_owned();
        let id: [u8; 4] = hex::decode(parts.next().unwrap()).unwrap().try_into().unwrap();
        let typed = STANDARD.decode(parts.next().unwrap()).unwrap();
        let key: [u8; 32] = typed[1..].try_into().unwrap();
        let vkey = Vkey {
            name,
            id,
            kind: typed[0],
            key,
        };
        assert_eq!(vkey.id, key_id(&vkey.name, vkey.kind, &vkey.key), "the vkey's id");
        vkey
    }

    /// SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4].
    pub fn key_id(name: &str, kind: u8, key: &[u8; 32]) -> [u8; 4] {
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([b'\n', kind]);
        hasher.update(key);
        hasher.finalize()[..4].try_into().unwrap()
    }

    /// The Ed25519 cosignature/v1 signed message.
    pub fn cosigned_message(timestamp: u64, body: &str) -> String {
        format!("cosignature/v1\ntime {timestamp}\n{body}")
    }

    /// The note's text before its signature block, and its signature lines.
    pub fn split(note: &str) -> (&str, Vec<&str>) {
        let at = note.rfind("\n\n").unwrap();
        (&note[..=at], note[at + 2..].lines().collect())
    }

    /// The timestamp of a valid cosignature by `witness` on the note's body, if the note carries one.
    pub fn cosigned_at(note: &str, witness: &Vkey) -> Option<u64> {
        assert_eq!(witness.kind, 0x04, "an Ed25519 cosignature/v1 key");
        let (body, lines) = split(note);
        lines
            .into_iter()
            .find_map(|line| cosignature_line(line, body, witness))
    }

    pub fn cosignature_line(line: &str, body: &str, witness: &Vkey) -> Option<u64> {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (name, blob) = rest.split_once(' ')?;
        let blob = STANDARD.decode(blob).ok()?;
        if name != witness.name || blob.len() != 4 + 8 + 64 || blob[..4] != witness.id {
            return None;
        }
        let timestamp = u64::from_be_bytes(blob[4..12].try_into().ok()?);
        let signature = Signature::from_slice(&blob[12..]).ok()?;
        let key = VerifyingKey::from_bytes(&witness.key).ok()?;
        key.verify_strict(cosigned_message(timestamp, body).as_bytes(), &signature)
            .ok()
            .map(|()| timestamp)
    }

    /// An `add-checkpoint` request body.
    pub fn add_checkpoint(old: u64, proof: &[String], checkpoint: &str) -> String {
        let mut body = format!("old {old}\n");
        for hash in proof {
            body.push_str(&STANDARD.encode(hex::decode(hash).unwrap()));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(checkpoint);
        body
    }

    /// RFC 9162 MTH over leaf hashes.
    pub fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                let (left, right) = (root(&leaves[..k]), root(&leaves[k..]));
                let mut hasher = Sha256::new();
                hasher.update([1u8]);
                hasher.update(left);
                hasher.update(right);
                hasher.finalize().into()
            }
        }
    }

    #[test]
    fn the_specifications_examples() {
        // tlog-cosignature: the signed message of its example, and its example cosignature line, whose key
        // ID and timestamp (the message's `time`) can be read without the witness's key.
        let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            cosigned_message(1_679_315_147, body),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        let blob = STANDARD
            .decode("jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==")
            .unwrap();
        assert_eq!(blob.len(), 4 + 8 + 64);
        assert_eq!(u64::from_be_bytes(blob[4..12].try_into().unwrap()), 1_679_315_147);
        // warrant-log agrees: its message is this one, and a cosignature it makes verifies here.
        assert_eq!(
            warrant_log::cosignature::signed_message(body, 1_679_315_147),
            cosigned_message(1_679_315_147, body)
        );
        let cosigner =
            warrant_log::cosignature::Cosigner::from_secret_bytes("witness.example/t", &[5; 32]).unwrap();
        let vkey = parse_vkey(&cosigner.vkey());
        assert_eq!(vkey.kind, 0x04);
        let line = cosigner.cosign(body, 1_700_000_000).unwrap();
        assert_eq!(
            cosignature_line(line.trim_end(), body, &vkey),
            Some(1_700_000_000)
        );
        assert_eq!(
            cosignature_line(line.trim_end(), &body.replace("2163", "2164"), &vkey),
            None
        );
    }
}

/// A running `warrant witness serve`, killed (SIGKILL) when dropped.
struct Witness {
    child: Child,
    url: String,
}

impl Witness {
    fn start(key: &Path, state: &Path, log_key: &str, listen: &str) -> Witness {
        let mut child = Command::new(WARRANT)
            .args(["witness", "serve", "--key"])
            .arg(key)
            .arg("--state")
            .arg(state)
            .args(["--log", log_key, "--listen", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning warrant witness serve");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let url = loop {
            let line = lines.next().expect("a listening line").expect("stdout");
            if let Some((_, url)) = line.split_once(" listening on ") {
                break url.trim().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Witness { child, url }
    }

    fn port(&self) -> &str {
        self.url.rsplit(':').next().expect("a port")
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(scratch: &Scratch, name: &str) -> (PathBuf, String) {
    let key = scratch
        .data()
        .with_file_name(format!("{}.key", name.replace('/', "_")));
    let run = warrant(
        &[
            "witness",
            "keygen",
            "--name",
            name,
            "--key",
            key.to_str().unwrap(),
        ],
        &[],
    )
    .expect_code(0);
    (key, run.stdout.trim().to_owned())
}

/// The verifier key of the log in `dir` (created on first use).
fn log_key(dir: &Path) -> String {
    let run = local(dir, &["log", "key"]).expect_code(0);
    run.stdout.lines().last().unwrap().to_owned()
}

/// POST a witness request body; the status, content type and text.
fn submit(url: &str, body: &str) -> (u16, String, String) {
    let answer = ureq::post(&format!("{url}/add-checkpoint")).send_string(body);
    let response = match answer {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("the witness did not answer: {error}"),
    };
    let status = response.status();
    let kind = response.content_type().to_owned();
    (status, kind, response.into_string().unwrap_or_default())
}

fn text(url: &str) -> String {
    match ureq::get(url).call() {
        Ok(response) => response.into_string().unwrap(),
        Err(ureq::Error::Status(_, response)) => response.into_string().unwrap(),
        Err(error) => panic!("{url}: {error}"),
    }
}

/// Wait until `/healthz` satisfies `done`; returns it.
fn wait_health(server: &Server, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = text(&format!("{}/healthz", server.url));
        if done(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {what}; /healthz says:\n{health}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fully witnessed: both witnesses cosigned the latest checkpoint, which covers `size` events.
fn witnessed(size: u64) -> impl Fn(&str) -> bool {
    move |health: &str| {
        let latest = health
            .lines()
            .find_map(|line| line.strip_prefix("latest checkpoint: "))
            .and_then(|size| size.parse::<u64>().ok());
        health.starts_with("ok\n")
            && latest.is_some_and(|latest| latest >= size)
            && health.contains(&format!("witnessed checkpoint: {}\n", latest.unwrap_or(0)))
    }
}

fn ingest(server: &Server, token: &str, from: usize, count: usize) -> u64 {
    let events: Vec<Value> = (from..from + count)
        .map(|index| event(None, &format!("witnessed {index}")))
        .collect();
    let (status, answer) = server.post_json("/v1/events", token, &Value::Array(events));
    assert!(status == 200 || status == 201, "{status} {answer}");
    log_size(server)
}

/// The log's size, from the metrics.
fn log_size(server: &Server) -> u64 {
    metric(&text(&format!("{}/metrics", server.url)), "warrant_log_size")
}

#[test]
fn checkpoints_are_cosigned_witnesses_catch_up_and_a_rewritten_log_is_refused() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let scratch = Scratch::new();
    let dir = scratch.data();
    let log_key = log_key(&dir);
    let (key1, vkey1) = keygen(&scratch, "witness.example/w1");
    let (key2, vkey2) = keygen(&scratch, "witness.example/w2");
    let (state1, state2) = (dir.with_file_name("w1.db"), dir.with_file_name("w2.db"));
    let w1 = Witness::start(&key1, &state1, &log_key, "127.0.0.1:0");
    let w2 = Witness::start(&key2, &state2, &log_key, "127.0.0.1:0");
    let w2_port = w2.port().to_owned();
    let (c1, c2) = (c2sp::parse_vkey(&vkey1), c2sp::parse_vkey(&vkey2));

    let server = Server::start(&dir, &["--checkpoint-interval-ms", "200"]);
    let admin = server.admin().to_owned();
    let manifests = format!(
        "kind: Witness\nid: w1\nurl: {}\nkey: {vkey1}\noperator: External auditor\n---\nkind: Witness\nid: w2\nurl: {}\nkey: {vkey2}\n",
        w1.url, w2.url
    );
    let (status, answer) = server.apply("/v1/apply", &admin, &manifests);
    assert_eq!(status, 200, "{answer}");

    // Both cosign, and the published checkpoint carries both cosignatures, as the specification words them.
    let size = ingest(&server, &admin, 0, 20);
    wait_health(&server, "both witnesses", witnessed(size));
    let published = server.get_ok("/v1/log/checkpoint", &admin);
    let note = published["note"].as_str().unwrap();
    assert!(
        c2sp::cosigned_at(note, &c1).is_some(),
        "w1's cosignature:\n{note}"
    );
    assert!(
        c2sp::cosigned_at(note, &c2).is_some(),
        "w2's cosignature:\n{note}"
    );
    let metrics = text(&format!("{}/metrics", server.url));
    assert!(metrics.contains("warrant_witness_quorum_met 1"), "{metrics}");

    // w2 is killed mid-load; the log goes on (fail open) and says w2 is failing.
    w2.kill();
    let size = ingest(&server, &admin, 20, 20);
    wait_health(&server, "w2 reported failing", |health| {
        health.starts_with("degraded\n") && health.contains("witness w2: failing: it did not answer")
    });

    // w2 restarts with its state on another address, where a second submitter (this test's own client)
    // reaches it first: with no idea of w2's size it sends `old 0` and is told the size with a 409.
    let w2 = Witness::start(&key2, &state2, &log_key, "127.0.0.1:0");
    let checkpoint = server.get_ok("/v1/log/checkpoint", &admin);
    let latest = checkpoint["size"].as_u64().unwrap();
    let latest_note = checkpoint["note"].as_str().unwrap();
    let (status, kind, body) = submit(&w2.url, &c2sp::add_checkpoint(0, &[], latest_note));
    assert_eq!((status, kind.as_str()), (409, "text/x.tlog.size"), "{body}");
    let held: u64 = body.strip_suffix('\n').unwrap().parse().unwrap();
    assert!(
        held > 0 && held < latest,
        "w2 kept its state across SIGKILL: {held} < {latest}"
    );
    let proof = server.get_ok(
        &format!("/v1/log/proof/consistency?from={held}&to={latest}"),
        &admin,
    );
    let proof: Vec<String> = serde_json::from_value(proof["proof"].clone()).unwrap();
    let (status, _, lines) = submit(&w2.url, &c2sp::add_checkpoint(held, &proof, latest_note));
    assert_eq!(status, 200, "{lines}");
    let (body_text, _) = c2sp::split(latest_note);
    assert!(
        lines
            .lines()
            .any(|line| c2sp::cosignature_line(line, body_text, &c2).is_some()),
        "w2's answer is a valid cosignature line: {lines}"
    );
    // A stale old size now gets 409 too, and a request for another log 404.
    let (status, _, _) = submit(&w2.url, &c2sp::add_checkpoint(held, &proof, latest_note));
    assert_eq!(status, 409);
    let stranger = "other.example/log\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\u{2014} other.example/log AAAAAAAA\n";
    assert_eq!(submit(&w2.url, &c2sp::add_checkpoint(0, &[], stranger)).0, 404);
    // Back on the address the log knows: the server's `old` is stale, it follows the 409 and catches up.
    w2.kill();
    let _w2 = Witness::start(&key2, &state2, &log_key, &format!("127.0.0.1:{w2_port}"));
    let size = ingest(&server, &admin, 40, 5).max(size);
    wait_health(&server, "w2 caught up", witnessed(size));
    let metrics = text(&format!("{}/metrics", server.url));
    assert!(
        metric(&metrics, "warrant_witness_catch_ups_total{witness=\"w2\"}") >= 1,
        "{metrics}"
    );

    // The bundle carries the cosignatures; the auditor's policy is checked against them.
    let bundle = dir.with_file_name("bundle");
    let env = [("WARRANT_TOKEN", admin.as_str())];
    warrant(
        &[
            "--server",
            &server.url,
            "evidence",
            "export",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
            "--out",
            bundle.to_str().unwrap(),
        ],
        &env,
    )
    .expect_code(0);
    let (w1_arg, w2_arg) = (
        format!("witness.example/w1={vkey1}"),
        format!("witness.example/w2={vkey2}"),
    );
    let bundle_path = bundle.to_str().unwrap();
    let run = warrant(
        &[
            "verify",
            bundle_path,
            "--key",
            &log_key,
            "--witness",
            &w1_arg,
            "--witness",
            &w2_arg,
            "--policy",
            "2",
        ],
        &[],
    )
    .expect_code(0);
    assert!(
        run.stdout.contains("end checkpoint cosigned by 2 witness(es)"),
        "{run:?}"
    );
    let (_, stranger_key) = keygen(&scratch, "witness.example/w3");
    let run = warrant(
        &[
            "verify",
            bundle_path,
            "--key",
            &log_key,
            "--witness",
            &stranger_key,
            "--policy",
            "1",
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .contains("cosigned by 0 of the 1 witnesses required (missing: witness.example/w3)"),
        "{run:?}"
    );

    // The operator, who holds the log key, rewrites event 3 with the server stopped: a new body and leaf,
    // the head resealed, the old checkpoints gone. The server signs the rewritten tree at its next start.
    server.kill();
    rewrite_event(&dir, 3);
    local(&dir, &["verify"]).expect_code(0); // Nothing stored betrays it any more; only the witnesses can.
    let server = Server::start(&dir, &["--checkpoint-interval-ms", "200"]);
    let health = wait_health(&server, "both witnesses refusing", |health| {
        health.starts_with("refused\n")
            && health.contains("witness w1: REFUSED")
            && health.contains("witness w2: REFUSED")
    });
    assert!(health.contains("with 422"), "{health}");
    let metrics = text(&format!("{}/metrics", server.url));
    assert!(
        metrics.contains("warrant_witness_refused{witness=\"w1\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("warrant_witness_quorum_met 0"), "{metrics}");
    // The witnesses kept what they cosigned: the rewritten tree got no cosignature.
    let published = server.get_ok("/v1/log/checkpoint", &admin);
    let note = published["note"].as_str().unwrap();
    assert!(
        c2sp::cosigned_at(note, &c1).is_none() && c2sp::cosigned_at(note, &c2).is_none(),
        "{note}"
    );
}

/// What an operator with the key file and the database can do: change event `seq`, fix its leaf, reseal the
/// head over the new tree, and drop the checkpoints that no longer match (the server signs anew).
fn rewrite_event(dir: &Path, seq: u64) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let database = Connection::open(dir.join("warrant.db")).unwrap();
    let body: Vec<u8> = database
        .query_row("SELECT body FROM events WHERE seq = ?1", [seq], |row| row.get(0))
        .unwrap();
    let mut body: Value = serde_json::from_slice(&body).unwrap();
    body["attrs"]["rewritten"] = json!(true);
    let body = serde_json::to_vec(&body).unwrap();
    let leaf: [u8; 32] = Sha256::new()
        .chain_update([0u8])
        .chain_update(&body)
        .finalize()
        .into();
    database
        .execute(
            "UPDATE events SET body = ?1, leaf = ?2 WHERE seq = ?3",
            (&body, leaf.as_slice(), seq),
        )
        .unwrap();
    let leaves: Vec<[u8; 32]> = database
        .prepare("SELECT leaf FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|leaf| leaf.unwrap().try_into().unwrap())
        .collect();
    assert!(leaves.len() < 256, "the rewrite does not recompute stored tiles");
    let root = c2sp::root(&leaves);
    let skey = std::fs::read_to_string(dir.join("log.key")).unwrap();
    let seal_key: [u8; 32] = Sha256::new()
        .chain_update(b"warrant head seal v1\n")
        .chain_update(skey.trim().as_bytes())
        .finalize()
        .into();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&seal_key).unwrap();
    mac.update(&(leaves.len() as u64).to_be_bytes());
    mac.update(&root);
    let seal = mac.finalize().into_bytes();
    database
        .execute(
            "UPDATE head SET size = ?1, root = ?2, seal = ?3",
            (leaves.len() as u64, root.as_slice(), seal.as_slice()),
        )
        .unwrap();
    database.execute("DELETE FROM checkpoints", []).unwrap();
}

#[test]
fn failing_closed_publishes_only_witnessed_checkpoints() {
    let scratch = Scratch::new();
    let dir = scratch.data();
    let log_key = log_key(&dir);
    let (key, vkey) = keygen(&scratch, "witness.example/solo");
    let witness = Witness::start(&key, &dir.with_file_name("solo.db"), &log_key, "127.0.0.1:0");
    let server = Server::start(
        &dir,
        &[
            "--checkpoint-interval-ms",
            "200",
            "--witness-fail",
            "closed",
            "--witness-quorum",
            "1",
        ],
    );
    let admin = server.admin().to_owned();
    let manifest = format!("kind: Witness\nid: solo\nurl: {}\nkey: {vkey}\n", witness.url);
    assert_eq!(server.apply("/v1/apply", &admin, &manifest).0, 200);
    let size = ingest(&server, &admin, 0, 10);
    wait_health(&server, "the witness", witnessed(size));
    let published = server.get_ok("/v1/log/checkpoint", &admin)["size"]
        .as_u64()
        .unwrap();
    assert!(published >= size);

    // The witness goes away: the log keeps every event, but publishes nothing it did not cosign.
    witness.kill();
    let grown = ingest(&server, &admin, 10, 10);
    let health = wait_health(&server, "the shortfall reported", |health| {
        health.starts_with("degraded\n")
            && health
                .lines()
                .find_map(|line| line.strip_prefix("latest checkpoint: "))
                .is_some_and(|latest| latest.parse::<u64>().is_ok_and(|latest| latest >= grown))
    });
    assert!(health.contains("witness policy: 1 of 1, fail closed"), "{health}");
    assert!(
        health.contains(&format!("witnessed checkpoint: {published}\n")),
        "{health}"
    );
    assert_eq!(
        server.get_ok("/v1/log/checkpoint", &admin)["size"].as_u64(),
        Some(published),
        "the published checkpoint waits for the witness"
    );
    let metrics = text(&format!("{}/metrics", server.url));
    assert!(metrics.contains("warrant_witness_fail_closed 1"), "{metrics}");
    assert!(
        metrics.contains(&format!("warrant_witnessed_size {published}")),
        "{metrics}"
    );
}
