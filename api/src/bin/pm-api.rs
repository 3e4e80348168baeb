//! Local server: `pm-api serve` and `pm-api migrate`.

use clap::{Parser, Subcommand};
use pm_api::server::ServeArgs;

// mimalloc: the request path allocates per request (headers, bodies, JSON); glibc's malloc
// was the top user-space symbol of the API and front door under load (perf, 1,600 rps),
// and it keeps freed memory fragmented across threads.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "pm-api", version, about = "Property Management API server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API over HTTP.
    Serve(Box<ServeArgs>),
    /// Apply the pending database migrations and exit; refuses (exit 3) a migration that
    /// would break the running version (drops/renames a column or table).
    Migrate(pm_api::migrate::MigrateArgs),
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
        }
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Migrate(a) => {
            pm_api::telemetry::init(false);
            let code = pm_api::migrate::command(a).await?;
            if code != 0 {
                std::process::exit(code);
            }
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Serve(a) => pm_api::server::serve(*a).await,
    }
}
