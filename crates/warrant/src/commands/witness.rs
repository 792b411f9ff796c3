//! `warrant witness keygen` and `warrant witness serve`: a standalone C2SP witness that an auditor, a
//! regulator or a second organisation runs beside (not inside) the log it watches.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use warrant_log::cosignature::Cosigner;
use warrant_log::note::NoteVerifier;
use warrant_server::witness::{WitnessService, witness_router};
use warrant_store::{TrustedLogs, WitnessDb};

use crate::Failure;
use crate::cli::WitnessCommand;

pub fn witness(command: &WitnessCommand) -> Result<ExitCode, Failure> {
    match command {
        WitnessCommand::Keygen { name, key } => keygen(name, key),
        WitnessCommand::Serve {
            key,
            logs,
            listen,
            state,
        } => {
            let cosigner = read_key(key)?;
            let logs = trusted_logs(logs)?;
            let state = state
                .clone()
                .unwrap_or_else(|| key.parent().unwrap_or(Path::new(".")).join("witness.db"));
            let db = WitnessDb::open(&state)
                .with_context(|| format!("opening the witness state {}", state.display()))?;
            let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
            runtime.block_on(serve(WitnessService { db, logs, cosigner }, listen))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn keygen(name: &str, path: &Path) -> Result<ExitCode, Failure> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|error| anyhow!("no system randomness: {error}"))?;
    let cosigner = Cosigner::from_secret_bytes(name, &seed)
        .map_err(|error| Failure::Usage(anyhow!("--name {name}: {error}")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|error| Failure::Usage(anyhow!("{}: {error}", path.display())))?;
    std::io::Write::write_all(&mut file, format!("{}\n", cosigner.skey()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", cosigner.vkey());
    Ok(ExitCode::SUCCESS)
}

fn read_key(path: &Path) -> Result<Cosigner, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::Usage(anyhow!("--key {}: {error}", path.display())))?;
    Cosigner::parse_skey(text.trim()).map_err(|error| {
        Failure::Usage(anyhow!(
            "--key {}: not a witness key (make one with `warrant witness keygen`): {error}",
            path.display()
        ))
    })
}

/// `--log ORIGIN=VKEY` or `--log VKEY`: the origin is the key's name, as in warrant's own logs.
fn trusted_logs(values: &[String]) -> Result<TrustedLogs, Failure> {
    let mut logs = TrustedLogs::new();
    for value in values {
        let (origin, vkey) = match value.split_once('=') {
            Some((origin, vkey)) if !origin.contains('+') => (Some(origin), vkey),
            _ => (None, value.as_str()),
        };
        let key = NoteVerifier::parse_vkey(vkey.trim())
            .map_err(|error| Failure::Usage(anyhow!("--log {value}: not a log verifier key: {error}")))?;
        let origin = origin.unwrap_or(key.name()).to_owned();
        logs.entry(origin).or_default().push(key);
    }
    Ok(logs)
}

async fn serve(service: WitnessService, listen: &str) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| Failure::Usage(anyhow!("cannot listen on {listen}: {error}")))?;
    let address = listener.local_addr().context("reading the bound address")?;
    println!(
        "witness {} listening on http://{address}",
        service.cosigner.name()
    );
    println!("verifier key: {}", service.cosigner.vkey());
    for origin in service.logs.keys() {
        println!("witnessing {origin}");
    }
    axum::serve(listener, witness_router(Arc::new(service)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")?;
    Ok(())
}
