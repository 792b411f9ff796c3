//! The stdio transport on the host's side: the host starts `warrant mcp` as its MCP server and speaks
//! newline-delimited JSON-RPC on our stdin/stdout; the gateway relays to the upstream however it is reached
//! ([`crate::upstream`]).

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::governor::Governor;
use crate::session::{Gateway, GatewayConfig};
use crate::upstream::{UpstreamSpec, connect};

/// Relay between the host on `input`/`output` and the upstream until the host closes `input`.
pub async fn serve<R, W>(
    config: GatewayConfig,
    governor: Arc<dyn Governor>,
    upstream: UpstreamSpec,
    input: R,
    output: W,
) -> Result<(), String>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_client, mut client_queue) = mpsc::unbounded_channel::<Value>();
    let (to_upstream, upstream_queue) = mpsc::unbounded_channel::<Value>();
    let gateway = Gateway::new(config, governor, to_client, to_upstream);

    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(message) = client_queue.recv().await {
            let mut line = message.to_string();
            line.push('\n');
            if output.write_all(line.as_bytes()).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });

    let upstream = connect(gateway.clone(), upstream, upstream_queue).await?;

    let mut lines = BufReader::new(input).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.trim().is_empty() => {}
            Ok(Some(line)) => gateway.from_client(line.as_bytes()),
            Ok(None) => break,
            Err(error) => {
                tracing::warn!("reading the host's messages: {error}");
                break;
            }
        }
    }
    // The host is gone: finish the records, stop the upstream (dropping the supervisor kills the child) and
    // stop writing.
    gateway.drain_records().await;
    upstream.abort();
    let _ = upstream.await;
    drop(gateway);
    writer.abort();
    Ok(())
}
