//! One module per subcommand: parse → call `ops`/library → render. Thin.

pub mod autopilot;
pub mod deploy;
pub mod dev;
pub mod drill;
pub mod env;
pub mod internal;
pub mod load;
pub mod region;
pub mod status;

use crate::config::{self, EnvKind, Environment};
use crate::error::CliError;
use clap::ValueEnum;
use std::path::PathBuf;

/// Flags every command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Environment to act on (a name in pmctl.toml; `local` is the dev stack).
    #[arg(long = "env", global = true, env = "PMCTL_ENV", default_value = config::DEFAULT_ENV)]
    pub env: String,
    /// pmctl.toml to read (default: ./pmctl.toml when present).
    #[arg(long, global = true, env = "PMCTL_CONFIG")]
    pub config: Option<PathBuf>,
    /// State directory of a local environment (default .pmctl/<env>).
    #[arg(long, global = true, env = "PMCTL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Output format for data on stdout.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// No progress lines on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

impl Global {
    pub fn environment(&self) -> Result<Environment, CliError> {
        config::resolve(self.config.as_deref(), &self.env, self.state_dir.as_deref())
            .map_err(CliError::invalid)
    }

    /// The local environment's state dir and settings, or a clear refusal for others.
    pub fn local(&self) -> Result<(PathBuf, config::LocalEnv), CliError> {
        match self.environment()?.kind {
            EnvKind::Local { state_dir, env } => Ok((state_dir, env)),
            EnvKind::Aws(_) => Err(CliError::invalid(format!(
                "environment `{}` is an AWS environment; this command works on local environments only",
                self.env
            ))),
        }
    }

    /// The environment's provider (the one place it is chosen: `provider::open`).
    pub fn provider(&self) -> Result<Box<dyn crate::provider::Provider>, CliError> {
        crate::provider::open(&self.environment()?).map_err(provider_error)
    }

    pub fn shell(&self) -> crate::shell::Shell {
        crate::shell::Shell::new(self.quiet)
    }
}

/// Exit code of a provider error: a missing environment is invalid input (2).
pub fn provider_error(e: crate::provider::ProviderError) -> CliError {
    use crate::provider::ProviderError;
    let code = match &e {
        ProviderError::NotSetUp { .. }
        | ProviderError::UnknownRegion(_)
        | ProviderError::Unsupported { .. } => crate::error::EXIT_INVALID,
        _ => crate::error::EXIT_FAILED,
    };
    CliError::new(code, e)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// Writes machine output (tables, JSON) to stdout.
pub fn out(text: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("serialisable")
}
