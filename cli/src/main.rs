use clap::Parser;

/// Operator CLI for the two-region Property Management API.
#[derive(Parser)]
#[command(name = "pmctl", version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
