//! `pmctl env import [FILE|-] [--name NAME]`: an AWS environment from Terraform's output.

use super::{json, out, Global, Output};
use crate::aws::env::AwsEnvironment;
use crate::aws::import;
use crate::error::{CliError, CliResult, EXIT_OK};
use clap::Subcommand;
use std::io::Read;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum EnvCmd {
    /// Write or update an AWS environment in pmctl.toml from `terraform output -json
    /// pmctl_environment` (or the whole `terraform output -json`); the rest of the file,
    /// and the environment's own pmctl settings, are kept.
    Import {
        /// The Terraform output as JSON; `-` (the default) reads stdin.
        #[arg(default_value = "-")]
        file: String,
        /// Environment name in pmctl.toml (default: the output's `name`).
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(g: &Global, cmd: EnvCmd) -> CliResult {
    match cmd {
        EnvCmd::Import { file, name } => {
            let text = if file == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| CliError::invalid(format!("reading stdin: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| CliError::invalid(format!("reading {file}: {e}")))?
            };
            let env = AwsEnvironment::from_terraform_json(&text).map_err(|e| {
                CliError::invalid(format!("{}: {e}; nothing was written", source(&file)))
            })?;
            let path = g
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("pmctl.toml"));
            let shown = path.display().to_string();
            let existing = match std::fs::read_to_string(&path) {
                Ok(t) => Some(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(CliError::invalid(format!("reading {shown}: {e}"))),
            };
            let name = name.unwrap_or_else(|| env.name.clone());
            let (new_text, done) = import::import(&shown, existing.as_deref(), &name, &env)
                .map_err(CliError::invalid)?;
            // The result must read back as a valid environment before it replaces the file.
            check(&new_text, &name).map_err(|e| {
                CliError::invalid(format!(
                    "the imported environment is not usable: {e}; nothing was written"
                ))
            })?;
            if done.action != "unchanged" || existing.is_none() {
                write_atomically(&path, &new_text).map_err(|e| {
                    CliError::new(
                        crate::error::EXIT_FAILED,
                        anyhow::anyhow!("writing {shown}: {e}"),
                    )
                })?;
            }
            if g.output == Output::Json {
                out(json(&done));
            } else {
                out(format!(
                    "environment {} (aws) {} in {shown}: regions {}, global cluster {}, lock and journal in {}",
                    done.environment,
                    done.action,
                    done.regions.join(" + "),
                    done.global_cluster_id,
                    done.ops_store
                ));
            }
            Ok(EXIT_OK)
        }
    }
}

fn source(file: &str) -> String {
    if file == "-" {
        "stdin".into()
    } else {
        file.to_string()
    }
}

fn check(text: &str, name: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = dir.path().join("pmctl.toml");
    std::fs::write(&p, text).map_err(|e| e.to_string())?;
    crate::config::resolve(Some(&p), name, None)
        .map(|_| ())
        .map_err(|e| {
            e.to_string()
                .replace(&p.display().to_string(), "pmctl.toml")
        })
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
