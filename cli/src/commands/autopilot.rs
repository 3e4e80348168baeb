//! `pmctl autopilot run | status | pause | resume`.

use super::{json, out, runtime, Global, Output};
use crate::config::{EnvKind, Environment, LocalEnv};
use crate::error::{
    CliError, CliResult, EXIT_DEGRADED, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_REFUSED,
};
use crate::ops::autopilot::{self, AutopilotError};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum AutopilotCmd {
    /// Watch both regions and fail over by itself when the policy holds (until SIGTERM).
    Run {
        /// Decide and journal, never act.
        #[arg(long)]
        dry_run: bool,
        /// Take the environment and policy from the local stack's stack.json (how
        /// `pmctl dev up` starts it) instead of pmctl.toml.
        #[arg(long, hide = true)]
        from_stack: bool,
    },
    /// Running or not, armed or not, and its recent decisions.
    Status,
    /// Keep watching and journaling, but take no automatic action (pages instead).
    Pause,
    /// Act again; also re-arms it after the cool-down of an automatic failover.
    Resume,
}

fn from_stack(g: &Global) -> Result<Environment, CliError> {
    let (dir, _) = g.local()?;
    let st = crate::devstack::Stack::open(&dir).map_err(|e| CliError::new(EXIT_INVALID, e))?;
    let spec = st.spec();
    Ok(Environment {
        name: spec.autopilot.env.clone(),
        kind: EnvKind::Local {
            state_dir: dir,
            env: LocalEnv {
                state_dir: None,
                port_base: None,
                rpo: spec.rpo,
                health: spec.health.clone(),
                thresholds: spec.thresholds.clone(),
                autopilot: spec.autopilot.settings.clone(),
                api: Box::new(spec.api.clone()),
                deploy: Default::default(),
            },
        },
    })
}

pub fn run(g: &Global, cmd: AutopilotCmd) -> CliResult {
    match cmd {
        AutopilotCmd::Run {
            dry_run,
            from_stack: stack,
        } => {
            let env = if stack {
                from_stack(g)?
            } else {
                g.environment()?
            };
            let mut settings = match &env.kind {
                EnvKind::Local { env, .. } => env.autopilot.clone(),
                EnvKind::Aws(_) => Default::default(),
            };
            settings.dry_run |= dry_run;
            let p = crate::provider::open(&env).map_err(super::provider_error)?;
            let shell = g.shell();
            let rt = runtime();
            rt.block_on(async {
                let stop = tokio_util::sync::CancellationToken::new();
                let s2 = stop.clone();
                tokio::spawn(async move {
                    let mut term =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                            .expect("SIGTERM handler");
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                    s2.cancel();
                });
                autopilot::run(p.as_ref(), &settings, &shell, stop).await
            })
            .map_err(|e| match e {
                e @ AutopilotError::AlreadyRunning(_) => CliError::new(EXIT_REFUSED, e),
                AutopilotError::Provider(e) => super::provider_error(e),
                e => CliError::new(EXIT_FAILED, e),
            })?;
            Ok(EXIT_OK)
        }
        AutopilotCmd::Status => {
            let p = g.provider()?;
            let s = autopilot::status(&p.state_dir());
            if g.output == Output::Json {
                out(json(&s));
            } else {
                let mut text = match &s.running {
                    Some(r) => format!(
                        "autopilot: running (pid {}, since {}), every {} ms, window {} ms, cool-down {} s{}\n",
                        r.pid,
                        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                        r.interval_ms,
                        r.detection_window_ms,
                        r.cooldown_secs,
                        if r.dry_run { ", DRY RUN" } else { "" }
                    ),
                    None => "autopilot: NOT running (`pmctl dev up` starts it; or `pmctl autopilot run`)\n".into(),
                };
                text.push_str(&format!(
                    "state: {}{}\n",
                    if s.armed { "armed" } else { "NOT armed" },
                    if s.paused { " (paused)" } else { "" }
                ));
                if let Some(at) = s.last_auto_failover {
                    text.push_str(&format!(
                        "last automatic failover: {} (`pmctl autopilot resume` re-arms)\n",
                        at.format("%Y-%m-%d %H:%M:%S UTC")
                    ));
                }
                text.push_str("recent decisions:\n");
                for r in &s.recent {
                    text.push_str(&format!(
                        "  {}  {}{}\n",
                        r.at.format("%H:%M:%S%.3f"),
                        r.decision.key(),
                        r.outcome
                            .as_ref()
                            .map(|o| format!(" — {o}"))
                            .unwrap_or_default()
                    ));
                }
                out(text.trim_end());
            }
            Ok(if s.armed { EXIT_OK } else { EXIT_DEGRADED })
        }
        AutopilotCmd::Pause | AutopilotCmd::Resume => {
            let p = g.provider()?;
            let paused = matches!(cmd, AutopilotCmd::Pause);
            autopilot::set_paused(&p.state_dir(), paused)?;
            g.shell().status(
                if paused { "Paused" } else { "Resumed" },
                if paused {
                    "the autopilot watches and pages, and acts on nothing"
                } else {
                    "the autopilot acts again (re-armed)"
                },
            );
            Ok(EXIT_OK)
        }
    }
}
