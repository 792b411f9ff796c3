//! The web console in a real browser: Debian's headless Chromium driven through chromedriver (the W3C
//! WebDriver protocol, spoken here over plain HTTP), against a real server on the demo's data. Screenshots of
//! every page are kept under `target/tmp/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Scratch, Server, local};

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: ureq::Agent,
    shots: PathBuf,
}

impl Browser {
    fn start(downloads: &Path) -> Browser {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/setup installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--window-size=1280,1000"],
                "prefs": {"download.default_directory": downloads.to_str().unwrap(),
                          "download.prompt_for_download": false}
            }
        }}});
        let answer: Value = http
            .post(&format!("{base}/session"))
            .send_json(capabilities)
            .expect("a browser session")
            .into_json()
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let browser = Browser {
            driver,
            base,
            session,
            http,
            shots,
        };
        // Finding an element waits for it up to 10 s: a form's submission navigates after its click answers.
        browser.command("POST", "timeouts", json!({"implicit": 10_000}));
        browser.command(
            "POST",
            "goog/cdp/execute",
            json!({"cmd": "Browser.setDownloadBehavior",
                   "params": {"behavior": "allow", "downloadPath": downloads.to_str().unwrap()}}),
        );
        browser
    }

    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let answer = match method {
            "GET" => self.http.get(&url).call(),
            _ => self.http.post(&url).send_json(body),
        };
        match answer {
            Ok(response) => response.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(status, response)) => {
                panic!(
                    "webdriver {method} {path}: {status} {}",
                    response.into_string().unwrap_or_default()
                )
            }
            Err(error) => panic!("webdriver {method} {path}: {error}"),
        }
    }

    fn go(&self, url: &str) {
        self.command("POST", "url", json!({"url": url}));
    }

    fn find(&self, css: &str) -> String {
        let found = self.command("POST", "element", json!({"using": "css selector", "value": css}));
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found} at {}:\n{}", self.url(), self.source()))
            .to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.command("POST", &format!("element/{element}/clear"), json!({}));
        self.command("POST", &format!("element/{element}/value"), json!({"text": text}));
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.command("POST", &format!("element/{element}/click"), json!({}));
    }

    fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.command("GET", &format!("element/{element}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn source(&self) -> String {
        self.command("GET", "source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn url(&self) -> String {
        self.command("GET", "url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Wait until the page's source satisfies `done` (the page may change by itself).
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if done(&self.source()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within 20 s:\n{}",
                self.source()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn screenshot(&self, name: &str) {
        let png = self.command("GET", "screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }

    fn sign_in(&self, server: &str, token: &str, next: &str) {
        self.go(&format!("{server}{next}"));
        assert!(self.url().contains("/login"), "signed out: {}", self.url());
        self.type_into("#token", token);
        self.click("form button[type=submit]");
        self.wait_until_left_login();
    }

    fn wait_until_left_login(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.url().contains("/login") {
            assert!(
                Instant::now() < deadline,
                "still on the sign-in page: {}",
                self.source()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sign in with another token from wherever the browser is (a page the last token could not open).
    fn switch_to(&self, server: &str, token: &str, next: &str) {
        self.go(&format!("{server}/login?next={next}"));
        self.type_into("#token", token);
        self.click("form button[type=submit]");
        self.wait_until_left_login();
    }

    fn sign_out(&self) {
        self.click("form.who button");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.url().contains("/login") {
            assert!(
                Instant::now() < deadline,
                "signing out left the browser at {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Wait for a finished download whose name ends with `suffix`.
fn downloaded(dir: &Path, suffix: &str) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(path) = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.to_string_lossy().ends_with(suffix))
        {
            return path;
        }
        assert!(Instant::now() < deadline, "no download ending {suffix}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn authorize(server: &Server, token: &str, tool: &str, args: Value, approval: Option<&str>) -> Value {
    let mut request = json!({"agent": "support-agent", "tool": tool, "session": "console-s1", "args": args});
    if let Some(id) = approval {
        request["approval_id"] = json!(id);
    }
    let (status, answer) = server.post_json("/v1/authorize", token, &request);
    assert_eq!(status, 200, "{answer}");
    answer
}

#[test]
fn the_console_works_for_approvers_admins_and_auditors_in_a_real_browser() {
    let scratch = Scratch::new();
    local(&scratch.data(), &["demo", "--no-serve"]).expect_code(0);
    let server = Server::start(&scratch.data(), &[]);
    let url = server.url.clone();
    let admin = server.admin().to_owned();
    let approver = server.token("team-lead", "approver");
    let auditor = server.token("external-auditor", "auditor");
    let agent = server.agent_token("support-runtime", &["support-agent"]);
    let downloads = scratch.data().parent().unwrap().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let browser = Browser::start(&downloads);

    // Sign in as the approver; the inbox is open before anything is held.
    browser.sign_in(&url, &approver, "/approvals");
    assert!(browser.url().ends_with("/approvals"), "{}", browser.url());
    let cookie = browser.command("GET", "cookie/warrant_console", Value::Null);
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    browser.screenshot("approvals");

    // A held call appears without a reload, with its exact arguments.
    authorize(&server, &agent, "crm-read", json!({"customer_id": "c-77"}), None);
    let held = authorize(
        &server,
        &agent,
        "send-email",
        json!({"to": "outsider@example.org", "subject": "Your data"}),
        None,
    );
    assert_eq!(held["decision"], "approval_required", "{held}");
    let id = held["approval_id"].as_str().unwrap().to_owned();
    browser.wait_for("the held call in the inbox", |page| page.contains(&id));
    assert!(
        browser.source().contains("outsider@example.org"),
        "the arguments are shown"
    );
    browser.screenshot("approvals-held");

    // The approver approves; the agent's retried call is allowed, once.
    browser.click(&format!(
        "form[action='/approvals/{id}/decide'] button[value=approve]"
    ));
    browser.wait_for("the decision", |page| {
        page.contains("Recently decided") && !page.contains(&format!("/approvals/{id}/decide"))
    });
    let retried = authorize(
        &server,
        &agent,
        "send-email",
        json!({"to": "outsider@example.org", "subject": "Your data"}),
        Some(&id),
    );
    assert_eq!(retried["decision"], "allow", "{retried}");
    browser.go(&format!("{url}/approvals/{id}"));
    assert!(browser.text("main").contains("The session so far"));
    browser.screenshot("approval");
    browser.sign_out();

    // An agent token cannot open the console's pages, let alone its write pages.
    browser.sign_in(&url, &agent, "/agents/support-agent");
    assert!(browser.text("main").contains("may not") || browser.text("main").contains("Agent tokens"));
    browser.go(&format!("{url}/approvals"));
    assert!(browser.source().contains("may not"), "{}", browser.source());

    // The auditor reads but sees no kill switch.
    browser.switch_to(&url, &auditor, "/agents/support-agent");
    assert!(!browser.source().contains("Suspend agent"));
    browser.sign_out();

    // The admin suspends the agent: its next call is denied.
    browser.sign_in(&url, &admin, "/agents/support-agent");
    browser.type_into("#status-reason", "investigating a data leak");
    browser.click("section.kill button");
    browser.wait_for("the suspension", |page| {
        page.contains("agent-status\">suspended<")
    });
    assert_eq!(browser.text("#agent-status"), "suspended");
    browser.screenshot("agent");
    let denied = authorize(&server, &agent, "crm-read", json!({"customer_id": "c-78"}), None);
    assert_eq!(denied["decision"], "deny", "{denied}");

    // Close an incident with its root cause.
    let incidents = server.get_ok("/v1/incidents", &admin);
    let incident = incidents["items"][0]["id"]
        .as_str()
        .expect("the demo opened an incident")
        .to_owned();
    browser.go(&format!("{url}/incidents/{incident}"));
    browser.type_into(
        "#root_cause",
        "A prompt change shortened verification for premium clients.",
    );
    let status = browser.find("#status");
    browser.command(
        "POST",
        &format!("element/{status}/value"),
        json!({"text": "closed"}),
    );
    browser.click("form.stack button[type=submit]");
    browser.wait_for("the closed incident", |page| {
        page.contains("incident-status") && page.contains(">closed<")
    });
    browser.screenshot("incident");
    let closed = server.get_ok(&format!("/v1/incidents/{incident}"), &admin);
    assert_eq!(closed["status"], "closed", "{closed}");
    assert!(closed["root_cause"].as_str().unwrap().contains("prompt change"));

    // Export a bundle from the page, then verify it from the page.
    browser.go(&format!("{url}/evidence"));
    browser.click("form[action='/evidence/export'] button");
    let bundle = downloaded(&downloads, ".tar.gz");
    browser.go(&format!("{url}/evidence"));
    let input = browser.find("#bundle");
    browser.command(
        "POST",
        &format!("element/{input}/value"),
        json!({"text": bundle.to_str().unwrap()}),
    );
    browser.click("form[action='/evidence/verify'] button");
    browser.wait_for("the verifier's findings", |page| page.contains("verify-result"));
    assert!(
        browser.text("#verify-result").contains("Bundle verified"),
        "{}",
        browser.text("#verify-result")
    );
    browser.screenshot("evidence");

    // The SoA as CSV, downloaded from the compliance page.
    browser.go(&format!("{url}/compliance"));
    browser.click("a[href='/compliance?csv=soa']");
    let csv = std::fs::read_to_string(downloaded(&downloads, "soa.csv")).unwrap();
    assert!(csv.starts_with("Control,Title,Applicable,Status"), "{csv}");
    assert!(
        csv.lines().count() > 38,
        "every Annex A control: {}",
        csv.lines().count()
    );
    browser.screenshot("compliance");

    // Every other page renders; keep a screenshot of each.
    for (path, name) in [
        ("/", "overview"),
        ("/agents", "agents"),
        ("/trails/console-s1", "trail"),
        ("/monitoring", "monitoring"),
        ("/incidents", "incidents"),
        ("/risks", "risks"),
    ] {
        browser.go(&format!("{url}{path}"));
        assert!(browser.source().contains("<h1>"), "{path}");
        assert!(!browser.source().contains("Something went wrong"), "{path}");
        browser.screenshot(name);
    }

    // Revoking the token ends the session.
    browser.sign_out();
    browser.sign_in(&url, &approver, "/");
    assert!(browser.url().ends_with('/'), "{}", browser.url());
    let listed = server.get_ok("/v1/tokens", &admin);
    let approver_id = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "team-lead")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server.post_json(&format!("/v1/tokens/{approver_id}/revoke"), &admin, &json!({}));
    assert_eq!(status, 200);
    browser.go(&format!("{url}/approvals"));
    assert!(
        browser.url().contains("/login"),
        "a revoked token's session ends: {}",
        browser.url()
    );
}
