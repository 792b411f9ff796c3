//! `warrant mcp --agent A --upstream ID`: the stdio MCP gateway. The host starts this command as its MCP
//! server; it starts the upstream from its `McpServer` manifest and relays (`warrant_mcp::stdio`), asking
//! warrant (a server with `--server`, or the local data directory) through the same API as every command.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use serde_json::{Map, Value};
use warrant_api::events::Accepted;
use warrant_api::gate::{Approval, ApprovalStatus, AuthorizeRequest, AuthorizeResponse};
use warrant_api::mcp::{McpView, ResourceAccess, ResourceRequest, ToolListing, ToolReview};
use warrant_log::Seq;
use warrant_mcp::UpstreamSpec;
use warrant_mcp::governor::Answer;
use warrant_mcp::{GatewayConfig, Governor, GovernorError};

use super::connect;
use crate::Failure;
use crate::cli::Cli;
use crate::client::{Client, encode};

pub fn mcp(cli: &Cli, agent: &str, upstream: &str) -> Result<ExitCode, Failure> {
    let client = Arc::new(connect(cli, &cli.store_config("default")?)?);
    let base = format!("/v1/mcp/{}/agents/{}", encode(upstream), encode(agent));
    let view: McpView = client.get_as(&base)?;
    let spec = UpstreamSpec::from_view(&view).map_err(|why| Failure::Usage(anyhow!(why)))?;
    let governor: Arc<dyn Governor> = Arc::new(ClientGovernor {
        client: client.clone(),
        base,
    });
    let config = GatewayConfig::new(upstream, agent);
    let serve = warrant_mcp::stdio::serve(config, governor, spec, tokio::io::stdin(), tokio::io::stdout());
    let result = match client.local_store() {
        // On a local data directory the in-process router runs on the client's runtime already.
        Some((_, runtime)) => runtime.block_on(serve),
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|error| Failure::Check(anyhow!("cannot start the async runtime: {error}")))?
            .block_on(serve),
    };
    result.map_err(|why| Failure::Check(anyhow!(why)))?;
    Ok(ExitCode::SUCCESS)
}

/// warrant through the CLI's client: the blocking calls run off the relay's threads.
struct ClientGovernor {
    client: Arc<Client>,
    /// `/v1/mcp/{server}/agents/{agent}`.
    base: String,
}

async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, GovernorError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(Failure::Check(error) | Failure::Usage(error))) => Err(GovernorError(format!("{error:#}"))),
        Err(error) => Err(GovernorError(format!("the request to warrant failed: {error}"))),
    }
}

impl Governor for ClientGovernor {
    fn review_tools(&self, tools: Vec<Map<String, Value>>) -> Answer<'_, ToolReview> {
        let client = self.client.clone();
        let path = format!("{}/tools", self.base);
        Box::pin(off_thread(move || client.post_as(&path, &ToolListing { tools })))
    }

    fn authorize(&self, request: AuthorizeRequest) -> Answer<'_, AuthorizeResponse> {
        let client = self.client.clone();
        Box::pin(off_thread(move || client.post_as("/v1/authorize", &request)))
    }

    fn approval(&self, id: String) -> Answer<'_, ApprovalStatus> {
        let client = self.client.clone();
        let path = format!("/v1/approvals/{}", encode(&id));
        Box::pin(off_thread(move || {
            let approval: Approval = client.get_as(&path)?;
            Ok(approval.status)
        }))
    }

    fn resource(&self, uri: String) -> Answer<'_, ResourceAccess> {
        let client = self.client.clone();
        let path = format!("{}/resources", self.base);
        Box::pin(off_thread(move || {
            client.post_as(&path, &ResourceRequest { uri })
        }))
    }

    fn record(&self, events: Vec<Value>) -> Answer<'_, Vec<Seq>> {
        let client = self.client.clone();
        Box::pin(off_thread(move || {
            let accepted: Accepted = client.post_as("/v1/events", &events)?;
            Ok(accepted.seqs)
        }))
    }
}
