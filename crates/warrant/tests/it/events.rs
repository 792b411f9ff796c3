//! Event ingest end to end: the three body forms, atomic batches, idempotency keys, and `warrant ingest`.

use serde_json::{Value, json};

use crate::support::{Scratch, Server, assert_error, event, local};

fn seqs(answer: &Value) -> Vec<u64> {
    answer["seqs"]
        .as_array()
        .unwrap_or_else(|| panic!("no seqs in {answer}"))
        .iter()
        .map(|seq| seq.as_u64().expect("a seq"))
        .collect()
}

/// Append one fresh event and return its seq: the log's size before it.
fn append_probe(server: &Server, token: &str) -> u64 {
    let (status, answer) = server.post_json("/v1/events", token, &event(None, "probe"));
    assert_eq!(status, 200, "{answer}");
    seqs(&answer)[0]
}

#[test]
fn events_arrive_as_one_object_an_array_or_ndjson() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let agent = server.agent_token("ingest-agent", &["helper-agent"]);

    let (status, answer) = server.post_json("/v1/events", &agent, &event(None, "single"));
    assert_eq!(status, 200, "{answer}");
    // The tokens' creation came first: seqs count on from the first event here.
    let base = seqs(&answer)[0];
    assert_eq!(
        (answer["accepted"].clone(), seqs(&answer)),
        (json!(1), vec![base])
    );

    let batch = json!([event(None, "a"), event(None, "b"), event(None, "c")]);
    let (status, answer) = server.post_json("/v1/events", &agent, &batch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["accepted"].clone(), seqs(&answer)),
        (json!(3), vec![base + 1, base + 2, base + 3])
    );

    let ndjson = [event(None, "x"), event(None, "y")]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let (status, answer) = server.call(
        "POST",
        "/v1/events",
        Some(&agent),
        Some(("application/x-ndjson", ndjson.as_bytes())),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["accepted"].clone(), seqs(&answer)),
        (json!(2), vec![base + 4, base + 5])
    );

    // What was stored is what was sent, with the seq the answer gave.
    let admin = server.admin().to_owned();
    let stored = server.get_ok(&format!("/v1/events/{}", base + 5), &admin);
    assert_eq!(stored["event"]["seq"], json!(base + 5), "{stored}");
    // The record says who wrote it, inside the committed body.
    assert_eq!(
        stored["event"]["principal"]["name"],
        json!("ingest-agent"),
        "{stored}"
    );
    assert_eq!(stored["event"]["attrs"]["note"], json!("y"), "{stored}");
    assert_eq!(stored["event"]["kind"], json!("decision"), "{stored}");
}

#[test]
fn a_batch_with_one_bad_event_is_refused_whole_naming_its_index() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let agent = server.agent_token("ingest-agent", &["helper-agent"]);
    let before = append_probe(&server, &agent);

    let mut bad = event(Some("batch-2"), "bad");
    bad["time"] = json!("yesterday at noon");
    let batch = json!([
        event(Some("batch-0"), "ok"),
        event(Some("batch-1"), "ok"),
        bad,
        event(None, "ok")
    ]);
    let (status, answer) = server.post_json("/v1/events", &agent, &batch);
    assert_eq!(status, 400, "{answer}");
    let message = assert_error(&answer, "invalid_event");
    assert!(
        message.contains("event 2"),
        "the message names event 2: {message}"
    );
    assert!(message.contains("time"), "the message names the field: {message}");
    assert_eq!(answer["error"]["details"][0]["index"], json!(2), "{answer}");

    // Nothing of the batch was stored: the next event takes the very next seq, and the ids are still free.
    assert_eq!(append_probe(&server, &agent), before + 1);
    let (status, answer) = server.post_json("/v1/events", &agent, &event(Some("batch-0"), "again"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["duplicates"],
        json!(0),
        "batch-0 was never stored: {answer}"
    );
    assert_eq!(seqs(&answer), vec![before + 2]);
}

#[test]
fn a_resent_id_returns_the_original_seq() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let agent = server.agent_token("ingest-agent", &["helper-agent"]);
    let (status, first) = server.post_json("/v1/events", &agent, &event(Some("decision-42"), "first"));
    assert_eq!(status, 200, "{first}");
    let original = seqs(&first)[0];
    append_probe(&server, &agent);

    let (status, again) = server.post_json("/v1/events", &agent, &event(Some("decision-42"), "resent"));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["accepted"], json!(0), "{again}");
    assert_eq!(again["duplicates"], json!(1), "{again}");
    assert_eq!(seqs(&again), vec![original]);

    // In a batch, the duplicate keeps its seq and the new event gets the next one.
    let batch = json!([
        event(Some("decision-42"), "resent"),
        event(Some("decision-43"), "new")
    ]);
    let (status, mixed) = server.post_json("/v1/events", &agent, &batch);
    assert_eq!(status, 200, "{mixed}");
    assert_eq!(
        (mixed["accepted"].clone(), mixed["duplicates"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(seqs(&mixed), vec![original, original + 2]);
    let admin = server.admin().to_owned();
    let stored = server.get_ok(&format!("/v1/events/{original}"), &admin);
    assert_eq!(
        stored["event"]["attrs"]["note"],
        json!("first"),
        "the original is kept: {stored}"
    );
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|event| format!("{event}\n")).collect()
}

#[test]
fn ingest_appends_an_ndjson_file_and_refuses_a_bad_line_whole() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let good: Vec<Value> = (0..5)
        .map(|index| event(None, &format!("good {index}")))
        .collect();
    let file = scratch.file("good.ndjson", &ndjson(&good));
    let first = local(&data, &["ingest", &file, "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(first["accepted"], json!(5), "{first}");
    assert_eq!(
        (first["first_seq"].clone(), first["last_seq"].clone()),
        (json!(0), json!(4))
    );

    let mut bad_time = good.clone();
    bad_time[2]["time"] = json!("26/11/2026");
    let file = scratch.file("bad-time.ndjson", &ndjson(&bad_time));
    let run = local(&data, &["ingest", &file]).expect_code(2);
    assert!(run.stderr.contains("line 3"), "names the line: {run:?}");
    assert!(run.stderr.contains("time"), "names the field: {run:?}");

    let not_json = format!("{}{{\"time\": oops\n", ndjson(&good[..3]));
    let file = scratch.file("not-json.ndjson", &not_json);
    let run = local(&data, &["ingest", &file]).expect_code(2);
    assert!(run.stderr.contains("line 4"), "names the line: {run:?}");

    // Neither refused file stored anything: the next ingest continues at seq 5.
    let file = scratch.file("more.ndjson", &ndjson(&good[..2]));
    let next = local(&data, &["ingest", &file, "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(
        (next["first_seq"].clone(), next["last_seq"].clone()),
        (json!(5), json!(6)),
        "{next}"
    );
}
