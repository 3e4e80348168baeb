//! pmctl's binary edge: parse arguments, run the command, map errors to exit codes.

use clap::{Parser, Subcommand};
use pmctl::commands;
use pmctl::error::CliError;
use pmctl::ops::plan::OpKind;

// mimalloc: the request path allocates per request (headers, bodies, JSON); glibc's malloc
// was the top user-space symbol of the API and front door under load (perf, 1,600 rps),
// and it keeps freed memory fragmented across threads.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Operator CLI for the two-region Property Management API.
#[derive(Parser)]
#[command(name = "pmctl", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: commands::Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The local two-region stack (PostgreSQL primary + replica, two APIs, a front door).
    Dev {
        #[command(subcommand)]
        cmd: commands::dev::DevCmd,
    },
    /// Environments in pmctl.toml (`env import`: an AWS environment from Terraform).
    Env {
        #[command(subcommand)]
        cmd: commands::env::EnvCmd,
    },
    /// Both regions at a glance: API health, database roles, replication, DNS, alarms.
    Status(commands::status::StatusArgs),
    /// Planned move of the writer to another region, with zero data loss.
    Switchover(commands::region::OpArgs),
    /// Unplanned move of the writer: fence the old writer, promote, move DNS, verify.
    Failover(commands::region::OpArgs),
    /// Rebuild the old writer region as a replica of the current writer (and switch back
    /// with --switchover).
    Failback(commands::region::OpArgs),
    /// Operations recorded in the journal.
    History,
    /// The always-on control plane: watches both regions, fails over by itself.
    Autopilot {
        #[command(subcommand)]
        cmd: commands::autopilot::AutopilotCmd,
    },
    /// Deploy the API to both regions (standby first) with alarm-gated canaries and
    /// automatic rollback; `deploy build` makes the Lambda artifact, `deploy history`.
    Deploy(commands::deploy::DeployArgs),
    /// Return regions to their previous release (journaled).
    Rollback(commands::deploy::RollbackArgs),
    /// A game day from a YAML runbook: traffic, a real fault, the reaction, RTO/RPO report.
    Drill(commands::drill::DrillArgs),
    /// Open-loop traffic (M-Pesa callbacks, manual payments, reads) against the front door.
    Load(commands::load::LoadArgs),
    #[command(hide = true)]
    Internal {
        #[command(subcommand)]
        cmd: commands::internal::InternalCmd,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Dev { cmd } => commands::dev::run(&cli.global, cmd),
        Cmd::Env { cmd } => commands::env::run(&cli.global, cmd),
        Cmd::Status(a) => commands::status::run(&cli.global, a),
        Cmd::Switchover(a) => commands::region::run(&cli.global, OpKind::Switchover, a),
        Cmd::Failover(a) => commands::region::run(&cli.global, OpKind::Failover, a),
        Cmd::Failback(a) => commands::region::run(&cli.global, OpKind::Failback, a),
        Cmd::History => commands::region::history(&cli.global),
        Cmd::Autopilot { cmd } => commands::autopilot::run(&cli.global, cmd),
        Cmd::Deploy(a) => commands::deploy::run(&cli.global, a),
        Cmd::Rollback(a) => commands::deploy::rollback(&cli.global, a),
        Cmd::Drill(a) => commands::drill::run(&cli.global, a),
        Cmd::Load(a) => commands::load::run(&cli.global, a),
        Cmd::Internal { cmd } => commands::internal::run(cmd),
    };
    let code = match result {
        Ok(code) => code,
        Err(CliError { code, error }) => {
            report(&error);
            code
        }
    };
    std::process::exit(code);
}

#[allow(clippy::print_stderr)]
fn report(e: &anyhow::Error) {
    eprintln!("error: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
