//! How the gateway reaches an upstream: a child process on stdio, or a Streamable HTTP endpoint.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use warrant_api::mcp::McpView;

use crate::session::Gateway;
use crate::upstream_http::{self, HttpTarget};
use crate::upstream_stdio::{ChildSpec, supervise};

#[derive(Debug, Clone)]
pub enum UpstreamSpec {
    Stdio(ChildSpec),
    Http(HttpTarget),
}

impl UpstreamSpec {
    /// The upstream of an `McpServer` as warrant describes it. Header values come from this process's
    /// environment, as the manifest names them; a header whose variable is not set is an error here, not a
    /// refused request later.
    pub fn from_view(view: &McpView) -> Result<UpstreamSpec, String> {
        match view.transport.as_str() {
            "stdio" => {
                let command = view
                    .command
                    .clone()
                    .ok_or_else(|| format!("the McpServer `{}` names no command", view.server))?;
                Ok(UpstreamSpec::Stdio(ChildSpec {
                    command,
                    args: view.args.clone(),
                    env: view.env.clone(),
                }))
            }
            "http" => {
                let url = view
                    .url
                    .clone()
                    .ok_or_else(|| format!("the McpServer `{}` names no url", view.server))?;
                let mut headers = Vec::new();
                for (header, variable) in &view.headers_from_env {
                    let value = std::env::var(variable).map_err(|_| {
                        format!(
                            "the McpServer `{}` sends the header `{header}` from ${variable}, which is not set",
                            view.server
                        )
                    })?;
                    headers.push((header.clone(), value));
                }
                Ok(UpstreamSpec::Http(HttpTarget { url, headers }))
            }
            other => Err(format!(
                "the McpServer `{}` has transport `{other}`, which this gateway does not speak",
                view.server
            )),
        }
    }
}

/// Start delivering `queue` to the upstream. A stdio child is started at once, so a command that cannot run
/// is reported before the host's first message.
pub async fn connect(
    gateway: Arc<Gateway>,
    spec: UpstreamSpec,
    queue: mpsc::UnboundedReceiver<Value>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    match spec {
        UpstreamSpec::Stdio(child) => supervise(gateway, child, queue).await,
        UpstreamSpec::Http(target) => Ok(upstream_http::connect(gateway, target, queue)),
    }
}
