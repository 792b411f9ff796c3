//! `warrant`: the command-line front of the whole product. Thin by design: commands build one API request,
//! send it through [`client::Client`] (a server or the local data directory) and print the answer.

mod bundle;
mod cli;
mod client;
mod commands;
mod compliance;
mod demo;
mod monitor;
mod output;
mod risk;
mod trail;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// jemalloc, not glibc's malloc: the server allocates on its request threads and frees on the sequencer
/// (each batch of events it commits) and the other way round, which glibc's per-thread arenas serve slowly
/// (`_int_free`, `malloc_consolidate`, `unlink_chunk`: ~20 % of the request threads' CPU and ~9 % of the
/// sequencer's under batched ingest). Measured with it: batched ingest +16 %, single events +26 %, decisions
/// +13–20 %, and less RSS after 64 proof readers (235 MB vs 249). mimalloc was as fast but held 550–730 MB
/// there. See docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Why a command failed, which decides the exit code: 1 for a failed check or a server-side failure, 2 for bad
/// usage or input.
#[derive(Debug)]
pub enum Failure {
    Check(anyhow::Error),
    Usage(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Check(error)
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARRANT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(message) = cli.select_log() {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let result = match &cli.command {
        Command::Serve(args) => commands::serve(&cli, args),
        Command::Mcp { agent, upstream } => commands::mcp(&cli, agent, upstream),
        Command::Witness(command) => commands::witness(command),
        Command::Demo { no_serve, serve } => demo::run(&cli, *no_serve, serve),
        Command::DemoUpstream => Ok(demo::upstream::run()),
        Command::Migrate => commands::migrate(&cli),
        Command::Backup { dest } => commands::backup(&cli, dest),
        Command::Restore { from } => commands::restore(&cli, from),
        Command::Verify {
            path,
            key,
            checkpoint,
            witnesses,
            policy,
            strict,
        } => commands::verify(
            &cli,
            path.as_deref(),
            &commands::VerifyOptions {
                key: key.as_deref(),
                checkpoint: checkpoint.as_deref(),
                witnesses,
                policy: *policy,
                strict: *strict,
            },
        ),
        _ => commands::run(&cli),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Check(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
