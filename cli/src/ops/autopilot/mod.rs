//! `pmctl autopilot`: the always-on control plane. A long-running process — the witness, a
//! vantage point of its own — that observes both regions every `interval_ms` (its own
//! path to each region's database, and each region's path to the other), decides with
//! [`policy::decide`], and fails over with the same engine and plan as `pmctl failover`
//! when the policy holds. Every decision, and every non-decision with its reason, is
//! journaled (`autopilot.jsonl`, when it changes); pages and failovers are notified.
//!
//! Safety rails: one automatic failover per cool-down (then it pages and waits for a human:
//! `pmctl autopilot resume`, or a completed failback, re-arms it), pause / resume, a dry-run
//! mode, hands off while anyone else holds the operations lock or left an operation
//! unfinished, and an interrupted failover of its own is resumed when it restarts.

pub mod policy;
pub mod state;

mod notify;

use crate::config::{AutopilotSettings, Rpo};
use crate::journal;
use crate::lock::{LockError, StateLock};
use crate::ops::plan::OpKind;
use crate::ops::region::{self, Options, Outcome, Request};
use crate::provider::{Provider, ProviderError};
use crate::shell::Shell;
use policy::{Decision, Memory, Policy};
use state::{Files, Ready, Record};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum AutopilotError {
    #[error("another autopilot is already running for this environment: {0}")]
    AlreadyRunning(#[source] LockError),
    #[error("the autopilot's files in {dir}: {source}")]
    Files {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

pub fn policy_for(p: &dyn Provider, rpo: Rpo, s: &AutopilotSettings) -> Policy {
    let th = &p.settings().thresholds;
    Policy {
        detection_window: Duration::from_millis(s.detection_window_ms),
        cooldown: Duration::from_secs(s.cooldown_secs),
        rpo,
        max_lag_bytes: th.failover_max_lag_bytes,
        max_lag_ms: th.failover_max_lag_ms,
        dry_run: s.dry_run,
    }
}

/// Runs until `stop` is cancelled.
pub async fn run(
    p: &dyn Provider,
    settings: &AutopilotSettings,
    shell: &Shell,
    stop: CancellationToken,
) -> Result<(), AutopilotError> {
    let dir = p.state_dir();
    let files = Files::new(&dir);
    let io = |source| AutopilotError::Files {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let _lock = StateLock::acquire_file(&dir, "autopilot.lock", "autopilot")
        .map_err(AutopilotError::AlreadyRunning)?;
    let mut vantage = p.vantage(Duration::from_millis(settings.probe_timeout_ms))?;
    let rpo = p
        .snapshot()
        .await
        .map(|t| t.rpo)
        .unwrap_or(p.settings().rpo);
    let pol = policy_for(p, rpo, settings);
    let mut memory: Memory = files.load_memory();
    let clock = Instant::now();
    let mut last_key = String::new();
    let mut writer: Option<String> = None;
    let mut ready = false;
    shell.status(
        "Autopilot",
        format!(
            "watching {} every {} ms (window {} ms, cool-down {} s{})",
            p.environment(),
            settings.interval_ms,
            settings.detection_window_ms,
            settings.cooldown_secs,
            if settings.dry_run { ", DRY RUN" } else { "" }
        ),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(settings.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Pause / resume / re-arm from the commands, through the file.
        let persisted = files.load_memory();
        memory.paused = persisted.paused;
        memory.last_auto_failover = persisted.last_auto_failover;

        let (ops, _) = journal::load(p.store()).await.unwrap_or_default();
        let mut hands_off = None;
        if let Some(open) = journal::open_operation(&ops) {
            if open.choices["autopilot"] == true && open.plan.operation == OpKind::Failover {
                // Ours, interrupted (we were killed): finish it before anything else.
                let outcome = resume(p, shell).await;
                record(
                    &files,
                    &mut last_key,
                    Decision::Hold {
                        reason: format!(
                            "resumed the interrupted automatic failover {}",
                            open.op_id
                        ),
                        page: true,
                    },
                    Some(outcome.clone()),
                    None,
                    settings,
                    p,
                    shell,
                    true,
                );
                continue;
            }
            hands_off = Some(format!(
                "operation {} ({}) is unfinished; a human resumes it",
                open.op_id,
                open.plan.operation.name()
            ));
        }
        // A completed failback after our failover: a human restored the topology; re-arm.
        if let Some(at) = memory.last_auto_failover {
            if ops.iter().any(|o| {
                o.plan.operation == OpKind::Failback
                    && o.finished.as_ref().is_some_and(|f| f.1 && f.0 > at)
            }) {
                memory.last_auto_failover = None;
                let _ = files.update_memory(|m| m.last_auto_failover = None);
                record(
                    &files,
                    &mut last_key,
                    Decision::Hold {
                        reason: "re-armed: a failback completed after the last automatic failover"
                            .into(),
                        page: false,
                    },
                    None,
                    None,
                    settings,
                    p,
                    shell,
                    false,
                );
            }
        }

        let mut obs = match vantage.observe(writer.as_deref()).await {
            Ok(o) => o,
            Err(e) => {
                record(
                    &files,
                    &mut last_key,
                    Decision::Hold {
                        reason: format!("cannot observe: {}", crate::provider::chain(&e)),
                        page: true,
                    },
                    None,
                    None,
                    settings,
                    p,
                    shell,
                    false,
                );
                continue;
            }
        };
        if obs.operation.is_none() {
            obs.operation = hands_off.or_else(|| {
                state::drill_note(&dir).map(|n| {
                    format!(
                        "drill {} (pmctl pid {}) runs with reaction `{}`: nobody but it reacts",
                        n.runbook, n.pid, n.reaction
                    )
                })
            });
        }
        if obs.writer.is_some() {
            writer = obs.writer.clone();
        }
        if !ready {
            ready = true;
            files
                .write_ready(&Ready {
                    pid: std::process::id(),
                    started_at: chrono::Utc::now(),
                    environment: p.environment().to_string(),
                    dry_run: settings.dry_run,
                    interval_ms: settings.interval_ms,
                    detection_window_ms: settings.detection_window_ms,
                    cooldown_secs: settings.cooldown_secs,
                })
                .map_err(io)?;
        }
        let now_ms = clock.elapsed().as_millis() as u64;
        let decision = policy::decide(&obs, &mut memory, &pol, now_ms, chrono::Utc::now());
        match &decision {
            Decision::Failover {
                from,
                to,
                accept_data_loss,
                reason,
            } => {
                let decided_at = chrono::Utc::now();
                record(
                    &files,
                    &mut last_key,
                    decision.clone(),
                    None,
                    Some(obs.clone()),
                    settings,
                    p,
                    shell,
                    true,
                );
                let opts = Options {
                    accept_data_loss: *accept_data_loss,
                    note: Some(serde_json::json!({
                        "autopilot": true,
                        "reason": reason,
                        "decided_at": decided_at,
                    })),
                    ..Options::default()
                }
                .with_crash_hook_from_env();
                let req = Request::New {
                    op: OpKind::Failover,
                    to: Some(to.clone()),
                    dry_run: false,
                    plan_hash: None,
                };
                let mut yes = |_: &crate::ops::plan::Plan| true;
                let outcome = match region::run(p, req, &opts, &Shell::silent(), &mut yes).await {
                    Ok(Outcome::Executed(rep)) => {
                        memory.last_auto_failover = Some(decided_at);
                        let _ = files.update_memory(|m| m.last_auto_failover = Some(decided_at));
                        writer = Some(to.clone());
                        format!(
                            "failed over {from} → {to}: operation {} in {} ms{}",
                            rep.op_id,
                            rep.total_ms,
                            if rep.not_fenced.is_empty() {
                                String::new()
                            } else {
                                format!("; NOT FENCED: {}", rep.not_fenced.join("; "))
                            }
                        )
                    }
                    Ok(Outcome::Planned(_)) => "planned only".into(),
                    Err(e) => format!("the failover {from} → {to} did not complete: {e}"),
                };
                memory.lost_since_ms = None;
                last_key.clear();
                record(
                    &files,
                    &mut last_key,
                    Decision::Hold {
                        reason: outcome,
                        page: true,
                    },
                    None,
                    None,
                    settings,
                    p,
                    shell,
                    true,
                );
            }
            _ => {
                let page = matches!(decision, Decision::Hold { page: true, .. });
                let obs = (!matches!(decision, Decision::Healthy { .. })).then_some(obs);
                record(
                    &files,
                    &mut last_key,
                    decision,
                    None,
                    obs,
                    settings,
                    p,
                    shell,
                    page,
                );
            }
        }
    }
    let _ = std::fs::remove_file(files.ready_path());
    Ok(())
}

async fn resume(p: &dyn Provider, shell: &Shell) -> String {
    let mut yes = |_: &crate::ops::plan::Plan| true;
    let opts = Options::default().with_crash_hook_from_env();
    match region::run(
        p,
        Request::Resume {
            op: OpKind::Failover,
        },
        &opts,
        &Shell::silent(),
        &mut yes,
    )
    .await
    {
        Ok(Outcome::Executed(rep)) => format!("operation {} finished", rep.op_id),
        Ok(Outcome::Planned(_)) => "nothing to resume".into(),
        Err(e) => {
            shell.warn(format!("resuming the interrupted failover: {e}"));
            format!("resume failed: {e}")
        }
    }
}

/// Journals a decision when it differs from the last one (and notifies pages).
#[allow(clippy::too_many_arguments)]
fn record(
    files: &Files,
    last_key: &mut String,
    decision: Decision,
    outcome: Option<String>,
    observation: Option<policy::Observation>,
    settings: &AutopilotSettings,
    p: &dyn Provider,
    shell: &Shell,
    notify_it: bool,
) {
    let key = decision.key();
    if key == *last_key && outcome.is_none() {
        return;
    }
    *last_key = key;
    let rec = Record {
        at: chrono::Utc::now(),
        decision,
        outcome,
        observation,
    };
    shell.status(
        "Decision",
        serde_json::to_string(&rec.decision).unwrap_or_default(),
    );
    if let Err(e) = files.append(&rec) {
        shell.warn(format!("journaling the decision: {e}"));
    }
    if notify_it {
        notify::notify(
            settings,
            serde_json::json!({
                "environment": p.environment(),
                "record": rec,
            }),
            shell,
        );
    }
}

/// What `pmctl autopilot status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub running: Option<Ready>,
    pub paused: bool,
    pub last_auto_failover: Option<chrono::DateTime<chrono::Utc>>,
    /// Armed: running, not paused, not in dry run, not waiting out a cool-down.
    pub armed: bool,
    pub recent: Vec<Record>,
}

pub fn status(dir: &std::path::Path) -> Status {
    let files = Files::new(dir);
    let m = files.load_memory();
    let running = files.ready();
    let cooling = match (m.last_auto_failover, &running) {
        (Some(at), Some(r)) => (chrono::Utc::now() - at).num_seconds() < r.cooldown_secs as i64,
        _ => false,
    };
    Status {
        armed: running.as_ref().is_some_and(|r| !r.dry_run) && !m.paused && !cooling,
        running,
        paused: m.paused,
        last_auto_failover: m.last_auto_failover,
        recent: files.tail(10),
    }
}

/// `pause` / `resume` (resume also re-arms after a cool-down), journaled.
pub fn set_paused(dir: &std::path::Path, paused: bool) -> std::io::Result<Memory> {
    let files = Files::new(dir);
    let m = files.update_memory(|m| {
        m.paused = paused;
        if !paused {
            m.last_auto_failover = None;
        }
    })?;
    files.append(&Record {
        at: chrono::Utc::now(),
        decision: Decision::Hold {
            reason: if paused {
                "paused by an operator".into()
            } else {
                "resumed (and re-armed) by an operator".into()
            },
            page: false,
        },
        outcome: None,
        observation: None,
    })?;
    Ok(m)
}

#[cfg(test)]
mod tests;
