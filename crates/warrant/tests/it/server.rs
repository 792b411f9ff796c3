//! The server as a process: bad bodies get the documented error shape, and a running server owns its data
//! directory, so local writes are refused with a pointer to `--server` while local reads still work.

use serde_json::json;

use crate::support::{BASE_REGISTRY, Scratch, Server, assert_error, local, metric, warrant};

#[test]
fn malformed_json_is_a_400_with_the_error_shape() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    for body in ["{\"name\": \"x\", \"role\":", "not json at all", "[1, 2]"] {
        let (status, answer) = server.call(
            "POST",
            "/v1/tokens",
            Some(&admin),
            Some(("application/json", body.as_bytes())),
        );
        assert_eq!(status, 400, "{body}: {answer}");
        assert_error(&answer, "malformed_json");
    }
}

#[test]
fn a_body_over_the_limit_is_a_413_with_the_error_shape() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &["--body-limit", "2000"]);
    let admin = server.admin().to_owned();
    let padding = format!("# {}\n", "x".repeat(2100));
    let (status, answer) = server.apply("/v1/apply", &admin, &format!("{padding}{BASE_REGISTRY}"));
    assert_eq!(status, 413, "{answer}");
    assert_error(&answer, "payload_too_large");
    // A body within the limit is still served.
    let (status, answer) = server.apply(
        "/v1/apply",
        &admin,
        "kind: Tool\nid: small-tool\naccess: read\negress: internal\n",
    );
    assert_eq!(status, 200, "{answer}");
    // The oversized apply left nothing behind.
    let tools = server.get_ok("/v1/tools", &admin);
    assert_eq!(tools["items"].as_array().map(Vec::len), Some(1), "{tools}");
}

#[test]
fn a_running_server_owns_its_data_directory() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let file = scratch.file("base.yaml", BASE_REGISTRY);
    let server = Server::start(&data, &[]);
    let admin = server.admin().to_owned();

    let refused = local(&data, &["apply", "-f", &file]).expect_code(2);
    assert!(
        refused.stderr.contains("--server"),
        "points to --server: {refused:?}"
    );
    assert!(
        refused.stderr.contains(&server.url),
        "names the server's URL: {refused:?}"
    );
    let refused = local(&data, &["delete", "tool", "crm-read"]).expect_code(2);
    assert!(refused.stderr.contains("--server"), "{refused:?}");

    // Reads go to the file directly and still work.
    let agents = local(&data, &["get", "agents", "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(agents["items"], json!([]), "{agents}");

    // Through the server, the write works with a token.
    let env = [("WARRANT_TOKEN", admin.as_str())];
    let applied = warrant(
        &["--server", &server.url, "apply", "-f", &file, "-o", "json"],
        &env,
    )
    .expect_code(0)
    .json();
    assert_eq!(applied["changes"].as_array().map(Vec::len), Some(4), "{applied}");
    let agents = warrant(&["--server", &server.url, "get", "agents", "-o", "json"], &env)
        .expect_code(0)
        .json();
    assert_eq!(agents["items"][0]["id"], json!("helper-agent"), "{agents}");
    // The local read sees the server's write.
    let agents = local(&data, &["get", "agents", "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(agents["items"][0]["id"], json!("helper-agent"), "{agents}");

    let anonymous = warrant(&["--server", &server.url, "get", "agents"], &[]).expect_code(2);
    assert!(anonymous.stderr.contains("token"), "says why: {anonymous:?}");
    let wrong = warrant(
        &["--server", &server.url, "get", "agents"],
        &[("WARRANT_TOKEN", "wrong")],
    );
    assert_eq!(wrong.code, 2, "{wrong:?}");

    // Once the server is gone, local writes work again.
    server.kill();
    let again = local(&data, &["apply", "-f", &file, "-o", "json"])
        .expect_code(0)
        .json();
    assert_eq!(again["unchanged"], json!(4), "{again}");
}

/// Read one HTTP/1.1 response (head and `content-length` body) from `stream`; `None` if the server closed it.
fn read_response(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(str::to_owned)
                })
                .and_then(|length| length.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return Some(text);
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Regression: the server answered 401/403 before reading the request body, then closed the keep-alive
/// connection without saying `Connection: close`, so a client that reused it (ureq, an agent SDK) got
/// "unexpected EOF" on its next, unrelated request.
#[test]
fn a_refused_request_with_a_body_leaves_the_connection_usable() {
    use std::io::Write;
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connecting");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("a read timeout");
    let body = BASE_REGISTRY.as_bytes();
    let head = format!(
        "POST /v1/apply HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer wrong\r\n\
         Content-Type: application/yaml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("sending the head");
    // The body follows a moment later, as it does from a client that writes head and body separately; by then
    // the server has already answered.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = stream.write_all(body);
    let first = read_response(&mut stream).expect("the server answers the refused request");
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    if first.to_ascii_lowercase().contains("connection: close") {
        // The server said it closes the connection, so a client will not reuse it: that is fine.
        return;
    }
    // Without `Connection: close`, the connection must serve the next request.
    let next = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let _ = stream.write_all(next.as_bytes());
    let second = read_response(&mut stream);
    assert!(
        second
            .as_deref()
            .is_some_and(|second| second.starts_with("HTTP/1.1 200")),
        "the server kept the connection open (no `Connection: close`) but dropped it: {second:?}"
    );
}

/// The OpenAPI document and the system endpoints answer without a token.
#[test]
fn the_openapi_document_and_system_endpoints_need_no_token() {
    // That the document describes every route, with its action in the role table, is checked against the
    // router itself in the server crate (`tests/authz.rs`).
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let (status, document) = server.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200, "{document}");
    assert_eq!(document["openapi"], json!("3.1.0"));
    let (status, _) = server.call("GET", "/healthz", None, None);
    assert_eq!(status, 200);
    let (status, metrics) = server.call("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    assert!(metrics.to_string().contains("warrant_log_size"), "{metrics}");
}

/// 200 readers at once: each gets its answer or a 503 with `Retry-After`, and the store never holds more read
/// connections than its pool's fixed size, during the burst or after it.
#[test]
fn two_hundred_concurrent_readers_get_answers_or_503s_and_the_pool_stays_bounded() {
    let scratch = Scratch::new();
    let registry = scratch.file("registry.yaml", BASE_REGISTRY);
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let events: Vec<_> = (0..300)
        .map(|n| crate::support::event(None, &format!("burst {n}")))
        .collect();
    let (status, stored) = server.post_json("/v1/events", &admin, &json!(events));
    assert_eq!(status, 200, "{stored}");
    let metrics = |server: &Server| match server.get("/metrics", &admin) {
        (200, serde_json::Value::String(text)) => text,
        other => panic!("/metrics: {other:?}"),
    };
    let before = metrics(&server);
    let limit = metric(&before, "warrant_store_readers{state=\"limit\"}");
    // The sequencer's write times: the 300 events went through at least one timed group commit, and every
    // write is in the `+Inf` bucket.
    let commits = metric(&before, "warrant_store_write_seconds_count{kind=\"append\"}");
    assert!(commits >= 1, "{before}");
    assert_eq!(
        metric(
            &before,
            "warrant_store_write_seconds_bucket{kind=\"append\",le=\"+Inf\"}"
        ),
        commits
    );
    assert!(
        metric(&before, "warrant_store_group_committed_events_total") >= 300,
        "{before}"
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    let (statuses, most_open) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(metric(&metrics(&server), "warrant_store_readers{state=\"open\"}"));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            most
        });
        let readers: Vec<_> = (0..200u64)
            .map(|reader| {
                let (server, admin) = (&server, &admin);
                scope.spawn(move || {
                    (0..5u64)
                        .map(|round| {
                            let seq = (reader * 7 + round * 13) % 300;
                            let (status, answer) = server.get(&format!("/v1/events/{seq}"), admin);
                            if status == 503 {
                                assert_error(&answer, "unavailable");
                            }
                            status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        let statuses: Vec<u16> = readers
            .into_iter()
            .flat_map(|reader| reader.join().expect("a reader thread"))
            .collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (statuses, sampler.join().expect("the sampler"))
    });
    assert_eq!(statuses.len(), 1000);
    assert!(
        statuses.iter().all(|status| *status == 200 || *status == 503),
        "only answers and 503s: {statuses:?}"
    );
    assert!(statuses.contains(&200), "the readers were served");
    let after = metrics(&server);
    assert!(
        most_open <= limit,
        "{most_open} read connections open, pool size {limit}"
    );
    let peak = metric(&after, "warrant_store_readers{state=\"peak\"}");
    assert!(
        (1..=limit).contains(&peak),
        "the most read connections at once was {peak}, pool size {limit}"
    );
}
