//! Workload identity: agents present JWTs from the organisation's identity provider. The tests mint their own
//! Ed25519 keys and tokens, publish the public key as a JWKS file, and register the provider.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use axum::http::Method;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_server::{AppState, ServerConfig};
use warrant_store::{Principal, Store, StoreConfig};

mod support;

use support::{OWN as OWN_AGENT, Scratch, two_agents};

const ISSUER: &str = "https://kubernetes.default.svc";
const AUDIENCE: &str = "warrant";
const PREFIX: &str = "system:serviceaccount:agents:";

struct Key {
    encoding: EncodingKey,
    public: [u8; 32],
}

fn mint_key() -> Key {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).unwrap();
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    // PKCS#8 v1 for Ed25519: a fixed prefix and the 32-byte seed.
    let mut der = hex_bytes("302e020100300506032b657004220420");
    der.extend_from_slice(&seed);
    Key {
        encoding: EncodingKey::from_ed_der(&der),
        public: signing.verifying_key().to_bytes(),
    }
}

/// Publish `key` as a JWKS file in `dir`; returns its path.
fn publish(key: &Key, dir: &std::path::Path) -> std::path::PathBuf {
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public);
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA", "use": "sig"}]});
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks.to_string()).unwrap();
    path
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}

fn jwt(key: &Key, alg: Algorithm, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn claims(agent: &str, audience: &str, expires_in: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({"iss": ISSUER, "aud": audience, "sub": format!("{PREFIX}{agent}"), "iat": now, "exp": now + expires_in})
}

struct Fixture {
    _scratch: Scratch,
    router: axum::Router,
    key: Key,
}

async fn fixture(name: &str) -> Fixture {
    let scratch = Scratch::new(&format!("jwt-{name}"));
    let dir = scratch.0.clone();
    let key = mint_key();
    let jwks_path = publish(&key, &dir);
    let store = Store::open(&dir.join("data"), &StoreConfig::default()).unwrap();
    let manifests = format!(
        "{}\n---\nkind: IdentityProvider\nid: cluster\nissuer: {ISSUER}\naudience: {AUDIENCE}\n\
         jwks_file: {}\nagent_prefix: \"{PREFIX}\"\n",
        two_agents(),
        jwks_path.display()
    );
    store
        .apply(
            manifests,
            ChangeContext::new(Principal::warrant("test"), None, Utc::now()),
        )
        .await
        .unwrap();
    Fixture {
        _scratch: scratch,
        router: warrant_server::router(AppState::new(store, ServerConfig::default())),
        key,
    }
}

impl Fixture {
    async fn authorize(&self, bearer: &str, agent: &str) -> (u16, Value) {
        let body = serde_json::to_vec(&json!({"agent": agent, "tool": "lookup"})).unwrap();
        support::call(
            &self.router,
            Some(bearer),
            Method::POST,
            "/v1/authorize",
            Some(("application/json", body)),
        )
        .await
    }
}

fn message(answer: &Value) -> String {
    assert_eq!(
        answer.pointer("/error/code"),
        Some(&json!("unauthorized")),
        "{answer}"
    );
    answer
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_jwt_acts_for_the_agent_it_names_and_no_other() {
    let fixture = fixture("bound").await;
    let token = jwt(
        &fixture.key,
        Algorithm::EdDSA,
        &claims("own-agent", AUDIENCE, 600),
    );
    let (status, answer) = fixture.authorize(&token, "own-agent").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"], json!("allow"), "{answer}");
    let (status, answer) = fixture.authorize(&token, "other-agent").await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer.pointer("/error/code"),
        Some(&json!("agent_mismatch")),
        "{answer}"
    );
}

/// In a deployment of several logs, a JWT goes to the one log whose registry trusts its issuer, with no path
/// prefix; when two logs trust the issuer, it goes to the first log and its agents name their log by path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_reaches_the_one_log_that_trusts_its_issuer() {
    let scratch = Scratch::new("jwt-logs");
    let dir = scratch.0.clone();
    let key = mint_key();
    let jwks_path = publish(&key, &dir);
    let provider = format!(
        "kind: IdentityProvider\nid: cluster\nissuer: {ISSUER}\naudience: {AUDIENCE}\njwks_file: {}\n\
         agent_prefix: \"{PREFIX}\"\n",
        jwks_path.display()
    );
    let context = || ChangeContext::new(Principal::warrant("test"), None, Utc::now());
    let root = dir.join("data");
    let first = Store::open(&root, &StoreConfig::default()).unwrap();
    let retail_id = warrant_store::logs::LogId::parse("retail").unwrap();
    {
        let retail = warrant_store::logs::create_log(&root, &retail_id, "bank").unwrap();
        retail
            .apply(format!("{}\n---\n{provider}", two_agents()), context())
            .await
            .unwrap();
    }
    let mut state = AppState::new(first.clone(), ServerConfig::default()).with_logs();
    state.local_principal = Some(Principal::warrant("test"));
    let router = warrant_server::router(state);
    // A server opens every log at its start; the in-process router opens them when they are first listed.
    let (status, listed) = support::call(&router, None, Method::GET, "/v1/logs", None).await;
    assert_eq!(status, 200, "{listed}");
    let token = jwt(&key, Algorithm::EdDSA, &claims(OWN_AGENT, AUDIENCE, 600));
    let authorize = |path: &'static str| {
        let (router, token) = (router.clone(), token.clone());
        async move {
            let body = serde_json::to_vec(&json!({"agent": OWN_AGENT, "tool": "lookup"})).unwrap();
            support::call(
                &router,
                Some(&token),
                Method::POST,
                path,
                Some(("application/json", body)),
            )
            .await
        }
    };
    let (status, answer) = authorize("/v1/authorize").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"], json!("allow"), "{answer}");
    let (status, answer) = authorize("/logs/retail/v1/authorize").await;
    assert_eq!(status, 200, "{answer}");

    // The first log trusts the same issuer too: the JWT no longer says which log it is for.
    first.apply(provider.clone(), context()).await.unwrap();
    let (status, answer) = authorize("/v1/authorize").await;
    // The first log, which has no such agent, answers.
    assert!(
        status != 200 || answer["decision"] == json!("deny"),
        "a shared issuer must not pick a further log by itself: {answer}"
    );
    let (status, answer) = authorize("/logs/retail/v1/authorize").await;
    assert_eq!(
        status, 200,
        "by its path, the agent still reaches its log: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_that_do_not_verify_are_refused_and_say_why() {
    let fixture = fixture("refused").await;
    let cases = [
        (
            "audience",
            jwt(
                &fixture.key,
                Algorithm::EdDSA,
                &claims("own-agent", "someone-else", 600),
            ),
            "InvalidAudience",
        ),
        (
            "expired",
            jwt(
                &fixture.key,
                Algorithm::EdDSA,
                &claims("own-agent", AUDIENCE, -3600),
            ),
            "xpired",
        ),
        (
            "another key",
            jwt(&mint_key(), Algorithm::EdDSA, &claims("own-agent", AUDIENCE, 600)),
            "InvalidSignature",
        ),
        (
            "unregistered agent",
            jwt(
                &fixture.key,
                Algorithm::EdDSA,
                &claims("ghost-agent", AUDIENCE, 600),
            ),
            "ghost-agent",
        ),
    ];
    for (what, token, expected) in cases {
        let (status, answer) = fixture.authorize(&token, "own-agent").await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(message(&answer).contains(expected), "{what}: {answer}");
    }
    // Another issuer, and a shared-secret algorithm, never reach a key.
    let mut foreign = claims("own-agent", AUDIENCE, 600);
    foreign["iss"] = json!("https://elsewhere.example");
    let (status, answer) = fixture
        .authorize(&jwt(&fixture.key, Algorithm::EdDSA, &foreign), "own-agent")
        .await;
    assert_eq!(status, 401);
    assert!(message(&answer).contains("elsewhere.example"), "{answer}");
    let secret = EncodingKey::from_secret(b"shared").unwrap();
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("own-agent", AUDIENCE, 600),
        &secret,
    )
    .unwrap();
    let (status, answer) = fixture.authorize(&hs, "own-agent").await;
    assert_eq!(status, 401);
    assert!(message(&answer).contains("HS256"), "{answer}");
}
