//! A deployment with several logs (one per organisation): each is served at `/logs/{id}/` and reached by its
//! own tokens alone, numbers and signs its own events, and verifies on its own. On both backends (on
//! PostgreSQL each further log is a schema of the same database).

use serde_json::{Value, json};

use crate::support::{Scratch, Server, event, local};

const RETAIL_AGENT: &str = "kind: Agent
id: retail-assistant
owner: retail-ops
purpose: answers retail banking customers
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
";

#[test]
fn a_deployment_serves_each_organisation_its_own_log() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let server = Server::start(&data, &["--checkpoint-interval-ms", "100"]);
    let admin = server.admin().to_owned();

    // Only the first log's admins create logs; ids are checked; a log is created once.
    let auditor = server.token("auditor", "auditor");
    let (status, _) = server.post_json("/v1/logs", &auditor, &json!({"id": "retail"}));
    assert_eq!(status, 403);
    let (status, answer) = server.post_json("/v1/logs", &admin, &json!({"id": "Retail_EU"}));
    assert_eq!(status, 400, "{answer}");
    let (status, created) =
        server.post_json("/v1/logs", &admin, &json!({"id": "retail", "org": "Acme Bank"}));
    assert_eq!(status, 201, "{created}");
    let (status, _) = server.post_json("/v1/logs", &admin, &json!({"id": "retail"}));
    assert_eq!(status, 409);
    let retail_admin = created["admin"]["token"].as_str().unwrap().to_owned();
    let origin = created["log"]["origin"].as_str().unwrap().to_owned();
    assert!(origin.starts_with("warrant/acme-bank/retail-"), "{origin}");
    assert_eq!(created["log"]["path"], "/logs/retail/");

    // The retail admin works on retail by the server's address alone: its token says which log.
    let (status, answer) = server.apply("/v1/apply", &retail_admin, RETAIL_AGENT);
    assert_eq!(status, 200, "{answer}");
    let ids = |answer: &Value| -> Vec<String> {
        answer["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&server.get_ok("/v1/agents", &retail_admin)),
        ["retail-assistant"]
    );
    assert_eq!(
        ids(&server.get_ok("/logs/retail/v1/agents", &retail_admin)),
        ["retail-assistant"]
    );
    assert!(
        ids(&server.get_ok("/v1/agents", &admin)).is_empty(),
        "the first log has no retail agent"
    );
    // A token of one log is unknown to every other.
    assert_eq!(server.get("/logs/retail/v1/agents", &admin).0, 401);
    assert_eq!(server.get("/logs/nowhere/v1/agents", &admin).0, 404);

    // An agent of retail writes events; they are numbered, stored and proven in retail only.
    let (status, agent) = server.post_json(
        "/v1/tokens",
        &retail_admin,
        &json!({"name": "assistant", "role": "agent", "agents": ["retail-assistant"]}),
    );
    assert_eq!(status, 201, "{agent}");
    let agent = agent["token"].as_str().unwrap().to_owned();
    let mut written = event(Some("retail-1"), "a retail customer asked about fees");
    written["agent"] = json!("retail-assistant");
    let (status, answer) = server.post_json("/v1/events", &agent, &written);
    assert_eq!(status, 200, "{answer}");
    let seq = answer["seqs"][0].as_u64().unwrap();
    let stored = server.get_ok(&format!("/logs/retail/v1/events/{seq}"), &retail_admin);
    assert_eq!(stored["event"]["id"], "retail-1", "{stored}");
    let (status, first) = server.get(&format!("/v1/events/{seq}"), &admin);
    assert!(status == 404 || first["event"]["id"] != "retail-1", "{first}");

    // Each log signs its own checkpoints under its own origin.
    let retail_checkpoint = wait_for(&server, "/logs/retail/v1/log/checkpoint", &retail_admin, seq + 1);
    assert_eq!(retail_checkpoint["origin"], origin.as_str());
    let first_checkpoint = wait_for(&server, "/v1/log/checkpoint", &admin, 1);
    assert_ne!(first_checkpoint["origin"], origin.as_str());

    // The console: signing in with a retail token opens a session on retail.
    let console = ureq::AgentBuilder::new().redirects(0).build();
    let signed_in = console
        .post(&format!("{}/login", server.url))
        .send_form(&[("token", retail_admin.as_str()), ("next", "/agents")])
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = console
        .get(&format!("{}/agents", server.url))
        .set("Cookie", &cookie)
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        page.contains("retail-assistant"),
        "the console shows retail's agents"
    );

    let listed = server.get_ok("/v1/logs", &admin);
    let listed: Vec<Value> = listed["items"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["id"], "retail");
    assert_eq!(server.get("/logs/retail/v1/logs", &retail_admin).0, 404);

    // Killed and started again, the server serves retail from the start; each log verifies on its own.
    server.kill();
    let retail_verify = local(&data, &["--log-id", "retail", "-o", "json", "verify"]).expect_code(0);
    assert_eq!(
        retail_verify.json()["events"],
        json!(seq + 1),
        "{}",
        retail_verify.stdout
    );
    // On the deployment's data directory, verify checks every log, each under its own key.
    let all = local(&data, &["-o", "json", "verify"]).expect_code(0).json();
    assert_eq!(all["logs"][0]["id"], "retail", "{all}");
    assert_eq!(all["logs"][0]["events"], json!(seq + 1), "{all}");
    let listed = local(&data, &["-o", "json", "logs", "list"])
        .expect_code(0)
        .json();
    assert_eq!(listed["items"][1]["origin"], origin.as_str());
    local(&data, &["--log-id", "elsewhere", "get", "agents"]).expect_code(2);

    let server = Server::start(&data, &[]);
    assert_eq!(
        ids(&server.get_ok("/v1/agents", &retail_admin)),
        ["retail-assistant"]
    );
    // A log created from the CLI while no server runs is served after the start too.
    drop(server);
    let created = local(&data, &["-o", "json", "logs", "create", "wealth"])
        .expect_code(0)
        .json();
    let wealth_admin = created["admin"]["token"].as_str().unwrap().to_owned();
    let server = Server::start(&data, &[]);
    assert!(ids(&server.get_ok("/v1/agents", &wealth_admin)).is_empty());
    assert_eq!(server.get("/logs/wealth/v1/agents", &retail_admin).0, 401);
}

fn wait_for(server: &Server, path: &str, token: &str, size: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, answer) = server.get(path, token);
        if status == 200 && answer["size"].as_u64().is_some_and(|signed| signed >= size) {
            return answer;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of {size} at {path}: {answer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
