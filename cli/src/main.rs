//! pmctl's binary edge: parse arguments, run the command, map errors to exit codes.

use clap::{Parser, Subcommand};
use pmctl::commands;
use pmctl::error::CliError;

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
