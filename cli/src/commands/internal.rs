//! Hidden subcommands the dev stack runs as detached processes.

use crate::devstack::net::{self, NetConfig};
use crate::error::CliResult;
use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;

// No Debug: ServeArgs holds the database URL, which may carry a password.
#[derive(Subcommand)]
pub enum InternalCmd {
    /// The front door, links and admin API of a local stack.
    Net {
        #[arg(long)]
        config: PathBuf,
    },
    /// The API server (same as `pm-api`), for when pm-api is not installed beside pmctl.
    Api {
        #[command(subcommand)]
        cmd: ApiCmd,
    },
}

#[derive(Subcommand)]
pub enum ApiCmd {
    Serve(Box<pm_api::server::ServeArgs>),
    /// Same as `pm-api migrate` (the deploy's migrate step runs the artifact's).
    Migrate(pm_api::migrate::MigrateArgs),
}

pub fn run(cmd: InternalCmd) -> CliResult {
    let rt = tokio::runtime::Runtime::new()?;
    match cmd {
        InternalCmd::Net { config } => {
            init_logs();
            let cfg = NetConfig::load(&config)?;
            rt.block_on(async {
                let shutdown = async {
                    use tokio::signal::unix::{signal, SignalKind};
                    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = tokio::signal::ctrl_c() => {},
                    }
                };
                net::run(cfg, shutdown).await
            })
            .context("net process")?;
        }
        InternalCmd::Api {
            cmd: ApiCmd::Serve(args),
        } => rt.block_on(pm_api::server::serve(*args))?,
        InternalCmd::Api {
            cmd: ApiCmd::Migrate(args),
        } => return Ok(rt.block_on(pm_api::migrate::command(args))?),
    }
    Ok(0)
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
