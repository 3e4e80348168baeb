//! Local server: `pm-api serve` and `pm-api migrate`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use pm_api::server::ServeArgs;

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
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
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
        Cmd::Migrate { database_url } => {
            pm_api::telemetry::init(false);
            let pool = sqlx::PgPool::connect(&database_url)
                .await
                .context("connecting to the database")?;
            pm_api::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Serve(a) => pm_api::server::serve(*a).await,
    }
}
