//! How a command reaches the API: over HTTP to `--server`, or in-process through the same router on the
//! local data directory. Either way a command sends one request and reads one JSON answer, so each command is
//! written once.

use std::path::Path;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::Value;
use tower::ServiceExt;
use warrant_server::{AppState, ServerConfig};
use warrant_store::{DataDirLock, Principal, Store, StoreConfig};

use crate::Failure;

pub enum Client {
    Remote {
        base: String,
        token: Option<String>,
        agent: ureq::Agent,
    },
    Local {
        router: Router,
        store: Store,
        runtime: tokio::runtime::Runtime,
        server_url: Option<String>,
        dir: String,
    },
}

impl Client {
    pub fn remote(base: &str) -> Client {
        let token = std::env::var("WARRANT_TOKEN")
            .ok()
            .filter(|token| !token.is_empty());
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(300))
            .build();
        Client::Remote {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    /// Work on the data directory in-process, as the local user with the admin role; `deployment` when it is a
    /// deployment's first log (which lists and creates the further logs), not one of those.
    pub fn local(dir: &Path, config: &StoreConfig, deployment: bool) -> anyhow::Result<Client> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let store = runtime
            .block_on(async { Store::open(dir, config) })
            .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
        let mut state = AppState::new(store.clone(), ServerConfig::default());
        let user = std::env::var("USER").unwrap_or_else(|_| "user".into());
        state.local_principal = Some(Principal::local(&user));
        if deployment {
            state = state.with_logs();
        }
        Ok(Client::Local {
            router: warrant_server::router(state),
            store,
            runtime,
            server_url: DataDirLock::holder(dir),
            dir: dir.display().to_string(),
        })
    }

    /// The store and runtime of a local client (for work that must not pass through one HTTP body).
    pub fn local_store(&self) -> Option<(&Store, &tokio::runtime::Runtime)> {
        match self {
            Client::Local { store, runtime, .. } => Some((store, runtime)),
            Client::Remote { .. } => None,
        }
    }

    /// POST `body` to `path` on a server and stream the answer into the file `out`.
    pub fn download(&self, path: &str, body: (&str, Vec<u8>), out: &std::path::Path) -> Result<(), Failure> {
        let Client::Remote { base, token, agent } = self else {
            return Err(Failure::Usage(anyhow::anyhow!("downloads need --server")));
        };
        let mut request = agent.request("POST", &format!("{base}{path}"));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let response = match request.set("Content-Type", body.0).send_bytes(&body.1) {
            Ok(response) => response,
            Err(ureq::Error::Status(status, response)) => {
                let mut bytes = Vec::new();
                let _ = std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes);
                return answer(status, &bytes).map(|_| ());
            }
            Err(error) => {
                return Err(Failure::Check(anyhow::anyhow!(
                    "cannot reach the server at {base}: {error}"
                )));
            }
        };
        let mut file = std::fs::File::create(out)
            .map_err(|error| Failure::Check(anyhow::anyhow!("creating {}: {error}", out.display())))?;
        std::io::copy(&mut response.into_reader(), &mut file)
            .map_err(|error| Failure::Check(anyhow::anyhow!("writing {}: {error}", out.display())))?;
        Ok(())
    }

    /// Send one request; a non-2xx answer becomes a [`Failure`] carrying the API's message.
    pub fn call(&self, method: Method, path: &str, body: Option<(&str, Vec<u8>)>) -> Result<Value, Failure> {
        let (status, bytes) = self.send(method, path, body)?;
        answer(status, &bytes)
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        self.call(Method::GET, path, None)
    }

    /// [`Client::call`], read into the API's wire type `T`; an answer of another shape is a failure that
    /// says so (a server of another version, or a bug), never a silently empty field.
    pub fn call_as<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<T, Failure> {
        let value = self.call(method, path, body)?;
        serde_json::from_value(value).map_err(|error| {
            Failure::Check(anyhow::anyhow!(
                "the answer of {path} is not what this warrant expects: {error}"
            ))
        })
    }

    pub fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.call_as(Method::GET, path, None)
    }

    /// POST `body` as JSON and read the answer as `T`.
    pub fn post_as<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Failure> {
        let bytes = serde_json::to_vec(body).map_err(|error| Failure::Check(error.into()))?;
        self.call_as(Method::POST, path, Some(("application/json", bytes)))
    }

    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>), Failure> {
        match self {
            Client::Remote { base, token, agent } => {
                let mut request = agent.request(method.as_str(), &format!("{base}{path}"));
                if let Some(token) = token {
                    request = request.set("Authorization", &format!("Bearer {token}"));
                }
                let result = match body {
                    Some((content_type, bytes)) => {
                        request.set("Content-Type", content_type).send_bytes(&bytes)
                    }
                    None => request.call(),
                };
                let response = match result {
                    Ok(response) | Err(ureq::Error::Status(_, response)) => response,
                    Err(error) => {
                        return Err(Failure::Check(anyhow::anyhow!(
                            "cannot reach the server at {base}: {error}"
                        )));
                    }
                };
                let status = response.status();
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).map_err(|error| {
                    Failure::Check(anyhow::anyhow!("reading the server's answer: {error}"))
                })?;
                Ok((status, bytes))
            }
            Client::Local {
                router,
                store,
                runtime,
                server_url,
                dir,
            } => {
                if method != Method::GET
                    && let Some(url) = server_url
                {
                    return Err(Failure::Usage(anyhow::anyhow!(
                        "a warrant server is using {dir} ({url}); local writes would race it. Use --server {url}"
                    )));
                }
                let write = method != Method::GET;
                runtime.block_on(async {
                    let result = call_router(router, method, path, body).await?;
                    // No server signs checkpoints for a local data directory, so each local write does.
                    if write {
                        store
                            .checkpoint()
                            .await
                            .map_err(|error| Failure::Check(error.into()))?;
                    }
                    Ok(result)
                })
            }
        }
    }
}

/// Send one request through the router in-process, as the CLI does on a local data directory.
pub async fn call_router(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Result<(u16, Vec<u8>), Failure> {
    call_router_as(router, None, method, path, body).await
}

/// [`call_router`] with a bearer token, as a remote client holding `bearer` would call.
pub async fn call_router_as(
    router: &Router,
    bearer: Option<&str>,
    method: Method,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Result<(u16, Vec<u8>), Failure> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(bearer) = bearer {
        request = request.header("Authorization", format!("Bearer {bearer}"));
    }
    let body = match body {
        Some((content_type, bytes)) => {
            request = request.header("Content-Type", content_type);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let request = request.body(body).map_err(|error| Failure::Usage(error.into()))?;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|error| Failure::Check(error.into()))?;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| Failure::Check(error.into()))?;
    Ok((status, bytes.to_vec()))
}

/// Turn a status and body into the answer's JSON, or a [`Failure`] with the API's message.
pub fn answer(status: u16, bytes: &[u8]) -> Result<Value, Failure> {
    let value: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    };
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let message = value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the server answered {status}"));
    Err(if status >= 500 {
        Failure::Check(anyhow::anyhow!(message))
    } else {
        Failure::Usage(anyhow::anyhow!(message))
    })
}

/// [`answer`], read into the API's wire type `T`.
pub fn answer_as<T: serde::de::DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, Failure> {
    let value = answer(status, bytes)?;
    serde_json::from_value(value).map_err(|error| {
        Failure::Check(anyhow::anyhow!(
            "the answer is not what this warrant expects: {error}"
        ))
    })
}

/// Percent-encode a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
