//! `warrant serve`: the server's lifecycle, from claiming the data directory to shutting down on a signal.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use warrant_core::role::Role;
use warrant_server::{AppState, ServerConfig};
use warrant_store::{DataDirLock, Store};

use crate::Failure;
use crate::cli::{Cli, ServeArgs};

/// `warrant serve`: claim the data directory, create the first admin token if none exists, and serve.
pub(crate) fn serve(cli: &Cli, args: &ServeArgs) -> Result<ExitCode, Failure> {
    if cli.server.is_some() {
        return Err(Failure::Usage(anyhow!(
            "serve runs a server on --data; it cannot act on --server"
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let store = Store::open(&cli.data, &cli.store_config(&args.org)?)
            .with_context(|| format!("cannot open {}", cli.data.display()))?;
        serve_store(cli, args, store).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The first admin token of a data directory with none usable, recorded as made by warrant itself. Named
/// `admin`, or `admin-2`, `admin-3`… when an earlier (revoked or expired) one holds the name.
async fn bootstrap_admin_token(store: &Store) -> Result<warrant_store::NewToken, Failure> {
    let mut attempt = 1;
    loop {
        let name = if attempt == 1 {
            "admin".to_owned()
        } else {
            format!("admin-{attempt}")
        };
        let spec = warrant_store::TokenSpec {
            name,
            role: Role::Admin,
            agents: Default::default(),
            person: None,
            expires: None,
        };
        let context = warrant_core::change::ChangeContext::new(
            warrant_store::Principal::warrant("serve"),
            Some("first admin token of this data directory".into()),
            chrono::Utc::now(),
        );
        match store.create_token(spec, context).await {
            Ok(token) => return Ok(token),
            Err(warrant_store::StoreError::TokenNameTaken(_)) if attempt < 100 => attempt += 1,
            Err(error) => {
                return Err(anyhow::Error::from(error)
                    .context("creating the admin token")
                    .into());
            }
        }
    }
}

/// Serve an open store until Ctrl-C or SIGTERM.
pub(crate) async fn serve_store(cli: &Cli, args: &ServeArgs, store: Store) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|error| Failure::Usage(anyhow!("cannot listen on {}: {error}", args.listen)))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let url = format!("http://{address}");
    let _lock = DataDirLock::acquire(&cli.data, &url).map_err(|error| Failure::Usage(error.into()))?;
    if !store.has_token_with_role(Role::Admin) {
        let token = bootstrap_admin_token(&store).await?;
        println!(
            "created admin token {} (shown once; store it now): {}",
            token.info.id, token.secret
        );
    }
    let config = ServerConfig {
        body_limit: args.body_limit,
        checkpoint_interval: std::time::Duration::from_millis(args.checkpoint_interval_ms.max(10)),
        retention_interval: std::time::Duration::from_secs(args.retention_interval_s.max(1)),
        approval_ttl: std::time::Duration::from_secs(args.approval_ttl_s.max(1)),
        monitor_interval: std::time::Duration::from_secs(args.monitor_interval_s),
        notify_interval: std::time::Duration::from_millis(args.notify_interval_ms),
        public_url: Some(args.public_url.clone().unwrap_or_else(|| url.clone())),
        max_in_flight: args.max_in_flight.max(1),
        witness_policy: warrant_service::witness::WitnessPolicy {
            quorum: args.witness_quorum,
            fail_closed: args.witness_fail == crate::cli::WitnessFail::Closed,
        },
    };
    println!("warrant listening on {url} (data {})", cli.data.display());
    let further = warrant_store::logs::list_logs(&cli.data).context("listing the deployment's logs")?;
    if !further.is_empty() {
        let ids: Vec<String> = further.iter().map(|(id, _)| id.to_string()).collect();
        println!("further logs, each at {url}/logs/ID/: {}", ids.join(", "));
    }
    println!("console: {url}/ (sign in with a token: `warrant token create --role approver --name NAME`)");
    let state = AppState::new(store, config).with_logs();
    warrant_server::serve(state, listener, shutdown_signal())
        .await
        .context("serving")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
