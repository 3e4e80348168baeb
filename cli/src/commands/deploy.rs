//! `pmctl deploy [build|history]` and `pmctl rollback`: thin over `ops::deploy`.

use super::region::{ask, plan_hash};
use super::{json, out, runtime, Global, Output};
use crate::config::{Arch, DeploySettings, EnvKind};
use crate::error::{CliError, CliResult, EXIT_FAILED, EXIT_OK};
use crate::ops::deploy::{self, artifact, canary, What};
use crate::ops::region::{Options, RegionError};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum DeployCmd {
    /// Build the Lambda artifact: the API's `lambda` binary as `bootstrap`
    /// (provided.al2023) in a reproducible zip; prints its path, SHA-256 and version.
    Build(BuildArgs),
    /// The deploys and rollbacks in the journal.
    History,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeployArgs {
    #[command(subcommand)]
    cmd: Option<DeployCmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The release to deploy. Local stack: a server program like `pm-api` (`serve …`,
    /// `migrate`); default: the server built into this pmctl.
    #[arg(long, value_name = "PATH")]
    artifact: Option<PathBuf>,
    /// Its version label (what `/ready` will report); default: what the artifact reports
    /// (`ARTIFACT --version`).
    #[arg(long = "label", value_name = "VERSION")]
    version_label: Option<String>,
    /// Traffic steps, each held for its window while the gate watches, e.g.
    /// `10%:5m,50%:5m` (`none`: straight to promotion). Default: the environment's
    /// `deploy.canary`.
    #[arg(long, value_name = "STEPS", value_parser = canary::parse)]
    // `std::vec::Vec`: a plain `Vec` would make clap take each value as one step.
    canary: Option<std::vec::Vec<canary::CanaryStep>>,
    /// Deploy to this region only (e.g. the standby, before a drill).
    #[arg(long)]
    region: Option<String>,
    /// Refuse to deploy to the writer region a version that has not passed a drill in the
    /// standby region.
    #[arg(long)]
    require_drill: bool,
    #[command(flatten)]
    op: OpFlags,
}

/// The engine's flags, as for region changes.
#[derive(clap::Args, Debug)]
pub struct OpFlags {
    /// Print the plan (and its hash) and exit without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Refuse to run unless the plan still hashes to this (from a reviewed --dry-run).
    #[arg(long, value_name = "HASH", value_parser = plan_hash)]
    plan_hash: Option<String>,
    /// Skip the confirmation prompt.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Proceed although preflight refused.
    #[arg(long)]
    force: bool,
    /// Continue the interrupted operation from its last completed step.
    #[arg(long, conflicts_with_all = ["dry_run", "plan_hash", "force"])]
    resume: bool,
}

#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    /// Roll back this region only (default: every region that has a previous release).
    #[arg(long)]
    region: Option<String>,
    #[command(flatten)]
    op: OpFlags,
}

#[derive(clap::Args, Debug)]
pub struct BuildArgs {
    /// Lambda architecture (default: the environment's `deploy.architecture`).
    #[arg(long, value_parser = parse_arch)]
    arch: Option<Arch>,
    /// Cargo profile.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Where the zip goes (default: <workspace>/target/lambda).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Package this already-built `lambda` binary instead of running cargo.
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// The pmctl workspace to build (default: found upwards from the current directory).
    #[arg(long)]
    workspace: Option<PathBuf>,
}

fn parse_arch(s: &str) -> Result<Arch, String> {
    match s {
        "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
        "arm64" | "aarch64" => Ok(Arch::Arm64),
        _ => Err(format!(
            "`{s}` is not a Lambda architecture (x86_64 or arm64)"
        )),
    }
}

fn settings(g: &Global) -> Result<DeploySettings, CliError> {
    Ok(match g.environment()?.kind {
        EnvKind::Local { env, .. } => *env.deploy,
        EnvKind::Aws(a) => *a.deploy,
    })
}

fn err(e: RegionError) -> CliError {
    CliError::new(e.exit_code(), e)
}

pub fn run(g: &Global, a: DeployArgs) -> CliResult {
    match a.cmd {
        Some(DeployCmd::Build(b)) => build(g, b),
        Some(DeployCmd::History) => history(g),
        None => {
            let s = settings(g)?;
            let canary = match a.run.canary.clone() {
                Some(c) => c,
                None => canary::parse(&s.canary).map_err(|e| {
                    CliError::invalid(format!("environment `{}`: deploy.canary: {e}", g.env))
                })?,
            };
            let req = deploy::Request {
                artifact: a.run.artifact.clone(),
                version: a.run.version_label.clone(),
                canary,
                gate: deploy::gate_spec(&s),
                region: a.run.region.clone(),
                require_drill: a.run.require_drill,
            };
            operate(g, What::Deploy(req), &a.run.op, "deploy")
        }
    }
}

pub fn rollback(g: &Global, a: RollbackArgs) -> CliResult {
    operate(
        g,
        What::Rollback {
            region: a.region.clone(),
        },
        &a.op,
        "rollback",
    )
}

fn operate(g: &Global, what: What, f: &OpFlags, name: &str) -> CliResult {
    let p = g.provider()?;
    let shell = g.shell();
    let opts = Options {
        force: f.force,
        ..Default::default()
    }
    .with_crash_hook_from_env();
    let (yes, resume) = (f.yes, f.resume);
    let mut confirm = move |plan: &crate::ops::plan::Plan| {
        let _ = std::io::stderr().write_all(plan.render().as_bytes());
        if resume {
            let _ = writeln!(std::io::stderr(), "(resuming from the journal)");
        }
        ask(yes)
    };
    let outcome = runtime()
        .block_on(deploy::run(
            p.as_ref(),
            what,
            if f.resume {
                deploy::Mode::Resume
            } else if f.dry_run {
                deploy::Mode::DryRun
            } else {
                deploy::Mode::Run {
                    plan_hash: f.plan_hash.clone(),
                }
            },
            &opts,
            &shell,
            &mut confirm,
        ))
        .map_err(err)?;
    match outcome {
        deploy::Outcome::Planned(planned) => {
            if g.output == Output::Json {
                out(json(&planned));
            } else {
                let mut s = planned.plan.render();
                if planned.preflight.refusals.is_empty() {
                    s.push_str("Preflight: ok\n");
                } else {
                    s.push_str("Preflight would refuse:\n");
                    for r in &planned.preflight.refusals {
                        s.push_str(&format!("  - {r}\n"));
                    }
                }
                for w in &planned.preflight.warnings {
                    s.push_str(&format!("Warning: {w}\n"));
                }
                s.push_str(&format!(
                    "Run it: pmctl {name} … --plan-hash {} (the same flags, plus the hash)",
                    planned.plan_hash
                ));
                out(s);
            }
            Ok(EXIT_OK)
        }
        deploy::Outcome::Executed(r) => {
            if g.output == Output::Json {
                out(json(&r));
            } else {
                out(render(&r));
            }
            Ok(if r.exec.halted.is_some() {
                EXIT_FAILED
            } else {
                EXIT_OK
            })
        }
    }
}

fn render(r: &deploy::Report) -> String {
    let e = &r.exec;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["#", "step", "ms", "outcome"]);
    for s in &e.steps {
        let mut o = s.outcome.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("halt");
        }
        t.add_row([
            s.step.to_string(),
            s.name.to_string(),
            if s.resumed {
                "(done before)".into()
            } else {
                s.ms.to_string()
            },
            o.to_string(),
        ]);
    }
    let mut s = match &e.halted {
        None => format!(
            "{} {} → {}: done in {} ms (operation {})\n{t}\n",
            e.operation.name(),
            e.from,
            e.to,
            e.total_ms,
            e.op_id
        ),
        Some(why) => format!(
            "{} {} → {}: FAILED after {} ms (operation {}): {why}\n{t}\n",
            e.operation.name(),
            e.from,
            e.to,
            e.total_ms,
            e.op_id
        ),
    };
    for (region, v) in &r.versions {
        s.push_str(&format!(
            "{region}: runs {}\n",
            v.as_deref().unwrap_or("unknown (API not answering)")
        ));
    }
    if !r.consistent {
        s.push_str("the regions run different versions: switchover refuses until they match (`pmctl deploy` again, or `pmctl rollback --region <region>`)\n");
    }
    s.trim_end().to_string()
}

fn workspace(a: &BuildArgs) -> Result<PathBuf, CliError> {
    if let Some(w) = &a.workspace {
        return Ok(w.clone());
    }
    let mut dir = std::env::current_dir()?;
    loop {
        if dir.join("Cargo.toml").is_file() && dir.join("api").join("Cargo.toml").is_file() {
            return Ok(dir);
        }
        if !dir.pop() {
            return Err(CliError::invalid(
                "no pmctl workspace (Cargo.toml with api/) here or above: run from the checkout, or pass --workspace",
            ));
        }
    }
}

fn build(g: &Global, a: BuildArgs) -> CliResult {
    let s = settings(g)?;
    let ws = if a.binary.is_some() && a.workspace.is_none() {
        std::env::current_dir()?
    } else {
        workspace(&a)?
    };
    let opts = artifact::BuildOptions {
        out_dir: a
            .out_dir
            .clone()
            .unwrap_or_else(|| ws.join("target").join("lambda")),
        workspace: ws,
        arch: a.arch.unwrap_or(s.architecture),
        profile: a.profile.clone(),
        binary: a.binary.clone(),
    };
    let art = artifact::build(&opts, &g.shell()).map_err(|e| {
        let code = match e {
            artifact::BuildError::NoTarget { .. }
            | artifact::BuildError::WrongArchitecture { .. }
            | artifact::BuildError::NotElf { .. } => crate::error::EXIT_INVALID,
            _ => EXIT_FAILED,
        };
        CliError::new(code, e)
    })?;
    if g.output == Output::Json {
        out(json(&art));
    } else {
        out(format!(
            "{}\nsha256  {}\nversion {}\narch    {} ({}), {} bytes",
            art.zip.display(),
            art.sha256,
            art.version,
            art.arch,
            art.runtime,
            art.bytes
        ));
    }
    Ok(EXIT_OK)
}

fn history(g: &Global) -> CliResult {
    let p = g.provider()?;
    let (rows, warnings) = runtime()
        .block_on(deploy::history::history(p.as_ref()))
        .map_err(|e| CliError::new(EXIT_FAILED, e))?;
    let shell = g.shell();
    for w in warnings {
        shell.warn(w);
    }
    if g.output == Output::Json {
        out(json(&rows));
        return Ok(EXIT_OK);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "operation",
        "kind",
        "from → to",
        "regions",
        "started",
        "steps",
        "result",
        "how it ended",
    ]);
    for r in &rows {
        t.add_row([
            r.op_id.clone(),
            r.kind.to_string(),
            format!("{} → {}", r.from, r.to),
            r.regions.join(", "),
            r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            format!("{}/{}", r.steps_done, r.steps),
            r.result.to_string(),
            r.summary.clone().unwrap_or_default(),
        ]);
    }
    out(t);
    Ok(EXIT_OK)
}
