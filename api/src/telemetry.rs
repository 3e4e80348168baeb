//! Logging setup shared by the server and the Lambda entry point.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Logs to stderr; `json` for machine-readable lines. Level from `RUST_LOG` (default info).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        b.json().flatten_event(true).init();
    } else {
        b.init();
    }
}
