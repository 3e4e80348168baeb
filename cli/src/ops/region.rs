//! One engine for region changes: plan → preflight → (confirm, in the command) → execute →
//! verify. Execution journals every step before and after it runs, so `--resume` continues
//! an interrupted operation from its last completed step; every step is idempotent.

use super::plan::{OpKind, Plan, Step};
use crate::config::{Rpo, Thresholds};
use crate::journal::{self, Entry, Journal, OpRecord};
use crate::provider::{DbRole, Provider, ProviderError, Topology};
use crate::shell::Shell;
use chrono::Utc;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Test-only hook (documented in the README): after completing step N, pmctl kills itself
/// with SIGKILL, to prove that `--resume` reaches the same end state.
pub const CRASH_HOOK_ENV: &str = "PMCTL_TEST_CRASH_AFTER_STEP";

#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error("unknown region `{name}` (regions: {known})")]
    UnknownRegion { name: String, known: String },
    /// Refusals that `--force` cannot override: the operation makes no sense.
    #[error("refused: {}", .0.join("; "))]
    Impossible(Vec<String>),
    /// Preflight found an unhealthy or ambiguous state (`--force` overrides).
    #[error("preflight refused the {op}:\n  - {}\n(fix these, or pass --force if you are sure)", .reasons.join("\n  - "))]
    Preflight {
        op: &'static str,
        reasons: Vec<String>,
    },
    #[error("the world has drifted: the plan now hashes to {actual}, not the reviewed {expected}; run --dry-run again and review")]
    Drift { expected: String, actual: String },
    #[error("operation {op_id} ({op} {from} → {to}) was interrupted after step {done}/{total}; continue it with `pmctl {op} --resume`")]
    Interrupted {
        op_id: String,
        op: &'static str,
        from: String,
        to: String,
        done: usize,
        total: usize,
    },
    #[error("no interrupted operation to resume")]
    NothingToResume,
    #[error("the interrupted operation is a {found}, not a {asked}; run `pmctl {found} --resume`")]
    WrongResume {
        found: &'static str,
        asked: &'static str,
    },
    #[error("step {step} ({name}) failed: {error}\nthe journal has every completed step; fix the cause and run `pmctl {op} --resume`")]
    StepFailed {
        op: &'static str,
        step: usize,
        name: &'static str,
        error: String,
    },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

impl RegionError {
    /// Refusals exit 3; input errors 2; failures 1; interrupted 4.
    pub fn exit_code(&self) -> i32 {
        use crate::error::*;
        match self {
            RegionError::UnknownRegion { .. } => EXIT_INVALID,
            RegionError::Impossible(_)
            | RegionError::Preflight { .. }
            | RegionError::Drift { .. }
            | RegionError::Interrupted { .. }
            | RegionError::WrongResume { .. } => EXIT_REFUSED,
            RegionError::NothingToResume => EXIT_INVALID,
            RegionError::StepFailed { .. } => EXIT_INTERRUPTED,
            _ => EXIT_FAILED,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Options {
    pub force: bool,
    pub accept_data_loss: bool,
    /// failback: switch the writer back afterwards.
    pub switchover_back: bool,
}

fn check_region<P: Provider>(p: &P, name: &str) -> Result<(), RegionError> {
    let regions = p.regions();
    if regions.iter().any(|r| r == name) {
        Ok(())
    } else {
        Err(RegionError::UnknownRegion {
            name: name.to_string(),
            known: regions.join(", "),
        })
    }
}

fn single_writer(t: &Topology) -> Option<String> {
    match t.writers().as_slice() {
        [w] => Some(w.name.clone()),
        _ => None,
    }
}

/// Stable facts (no LSNs or times) the plan is made from.
fn facts(t: &Topology) -> Vec<String> {
    let mut f = Vec::new();
    for r in &t.regions {
        let repl = match r.db_role {
            DbRole::Replica if r.streaming => ", streaming",
            DbRole::Replica => ", not streaming",
            _ => "",
        };
        f.push(format!(
            "{}: database {}{repl}, API {}",
            r.name,
            r.db_role,
            if r.api_healthy { "ready" } else { "not ready" }
        ));
    }
    if let Some(d) = &t.dns {
        f.push(format!(
            "DNS PRIMARY {}{}",
            d.primary,
            if d.writes_blocked {
                ", writes blocked"
            } else {
                ""
            }
        ));
    } else {
        f.push("DNS / front door unreadable".into());
    }
    f.push(format!("rpo {}", t.rpo));
    f
}

/// Builds the plan for `op` towards `to` (failback: `to` is the region to rebuild; None = the
/// region that is not the writer).
pub fn plan<P: Provider>(
    p: &P,
    t: &Topology,
    op: OpKind,
    to: Option<&str>,
    opts: &Options,
) -> Result<Plan, RegionError> {
    if let Some(to) = to {
        check_region(p, to)?;
    }
    let epoch = t.epoch().max(1);
    let mut impossible = Vec::new();
    let (from, to, steps) = match op {
        OpKind::Switchover | OpKind::Failover => {
            let to = to.expect("target region required").to_string();
            let target = t.region(&to).expect("checked");
            if target.db_role == DbRole::Writer {
                impossible.push(format!("{to} is already the writer"));
            }
            if matches!(target.db_role, DbRole::Down | DbRole::Fenced) {
                impossible.push(format!(
                    "{to}'s database is {}: there is nothing to promote",
                    target.db_role
                ));
            }
            let from = p
                .regions()
                .into_iter()
                .find(|r| *r != to)
                .expect("two regions");
            if op == OpKind::Switchover && single_writer(t).as_deref() != Some(from.as_str()) {
                impossible.push(format!(
                    "{from} is not the one writer (database {}): a switchover needs a healthy writer; use `pmctl failover`",
                    t.region(&from).map(|r| r.db_role.to_string()).unwrap_or_default()
                ));
            }
            if !impossible.is_empty() {
                return Err(RegionError::Impossible(impossible));
            }
            let sync = (t.rpo == Rpo::Zero).then(|| from.clone());
            let steps = if op == OpKind::Switchover {
                vec![
                    Step::BlockWrites,
                    Step::MoveDns { to: to.clone() },
                    Step::StopWriter {
                        region: from.clone(),
                    },
                    Step::WaitCaughtUp {
                        replica: to.clone(),
                    },
                    Step::Promote { region: to.clone() },
                    Step::RecordTopology {
                        writer: to.clone(),
                        epoch: epoch + 1,
                    },
                    Step::RebuildReplica {
                        region: from.clone(),
                        of: to.clone(),
                    },
                    Step::SetSyncStandby {
                        writer: to.clone(),
                        standby: sync,
                    },
                    Step::UnblockWrites,
                    Step::VerifyWrite { region: to.clone() },
                ]
            } else {
                let mut s = vec![
                    Step::FenceWriter {
                        region: from.clone(),
                    },
                    Step::Promote { region: to.clone() },
                    Step::RecordTopology {
                        writer: to.clone(),
                        epoch: epoch + 1,
                    },
                    Step::SetSyncStandby {
                        writer: to.clone(),
                        standby: None,
                    },
                    Step::MoveDns { to: to.clone() },
                ];
                if t.dns.as_ref().is_some_and(|d| d.writes_blocked) {
                    s.push(Step::UnblockWrites);
                }
                s.push(Step::VerifyWrite { region: to.clone() });
                s
            };
            (from, to, steps)
        }
        OpKind::Failback => {
            let Some(writer) = single_writer(t) else {
                return Err(RegionError::Impossible(vec![
                    "failback needs exactly one writer region to rebuild the other from".into(),
                ]));
            };
            let rebuild = match to {
                Some(r) if r == writer => {
                    return Err(RegionError::Impossible(vec![format!(
                        "{r} is the writer; failback rebuilds the other region"
                    )]))
                }
                Some(r) => r.to_string(),
                None => p
                    .regions()
                    .into_iter()
                    .find(|r| *r != writer)
                    .expect("two regions"),
            };
            let mut steps = vec![Step::RebuildReplica {
                region: rebuild.clone(),
                of: writer.clone(),
            }];
            if t.rpo == Rpo::Zero {
                steps.push(Step::SetSyncStandby {
                    writer: writer.clone(),
                    standby: Some(rebuild.clone()),
                });
            }
            if opts.switchover_back {
                let sync = (t.rpo == Rpo::Zero).then(|| writer.clone());
                steps.extend([
                    Step::BlockWrites,
                    Step::MoveDns {
                        to: rebuild.clone(),
                    },
                    Step::StopWriter {
                        region: writer.clone(),
                    },
                    Step::WaitCaughtUp {
                        replica: rebuild.clone(),
                    },
                    Step::Promote {
                        region: rebuild.clone(),
                    },
                    Step::RecordTopology {
                        writer: rebuild.clone(),
                        epoch: epoch + 1,
                    },
                    Step::RebuildReplica {
                        region: writer.clone(),
                        of: rebuild.clone(),
                    },
                    Step::SetSyncStandby {
                        writer: rebuild.clone(),
                        standby: sync,
                    },
                    Step::UnblockWrites,
                    Step::VerifyWrite {
                        region: rebuild.clone(),
                    },
                ]);
            }
            (writer, rebuild, steps)
        }
    };
    let after = if steps
        .iter()
        .any(|s| matches!(s, Step::RecordTopology { .. }))
    {
        epoch + 1
    } else {
        epoch
    };
    Ok(Plan {
        operation: op,
        environment: p.environment().to_string(),
        from,
        to,
        epoch: (epoch, after),
        facts: facts(t),
        steps,
    })
}

/// Reasons to refuse (empty: go). `--force` overrides these; [`plan`] already refused the
/// impossible.
pub fn preflight(
    t: &Topology,
    plan: &Plan,
    th: &Thresholds,
    opts: &Options,
) -> (Vec<String>, serde_json::Value) {
    let mut reasons = Vec::new();
    let mut choices =
        serde_json::json!({ "force": opts.force, "accept_data_loss": opts.accept_data_loss });
    let target = t.region(&plan.to);
    match plan.operation {
        OpKind::Switchover => {
            if let Some(r) = target {
                if !r.streaming {
                    reasons.push(format!("{} is not streaming from {}", r.name, plan.from));
                }
                match r.lag_bytes {
                    Some(l) if l > th.max_lag_bytes => reasons.push(format!(
                        "{} is {l} bytes behind (limit {})",
                        r.name, th.max_lag_bytes
                    )),
                    None => reasons.push(format!("{}'s lag is unknown", r.name)),
                    _ => {}
                }
                if !r.api_healthy {
                    reasons.push(format!("API {} is not ready", r.name));
                }
            }
            for a in &t.alarms {
                reasons.push(format!("alarm {} is firing: {}", a.name, a.detail));
            }
        }
        OpKind::Failover => {
            let from = t.region(&plan.from);
            let writer_healthy = from.is_some_and(|f| f.db_role == DbRole::Writer && f.api_healthy);
            if writer_healthy && target.is_some_and(|r| r.streaming) {
                reasons.push(format!(
                    "{} is healthy and {} is streaming from it: use `pmctl switchover --to {}` for a planned move",
                    plan.from, plan.to, plan.to
                ));
            }
            if t.rpo == Rpo::Async {
                // Patroni's maximum_lag_on_failover, made explicit.
                let lag = target.and_then(|r| r.lag_bytes);
                choices["lag_bytes_at_decision"] = serde_json::json!(lag);
                let over = match lag {
                    Some(l) => l > th.failover_max_lag_bytes,
                    None => true,
                };
                if over && !opts.accept_data_loss {
                    reasons.push(format!(
                        "rpo is async and {}'s lag is {} (budget {} bytes): acknowledged writes may be lost; pass --accept-data-loss to proceed",
                        plan.to,
                        lag.map(|l| format!("{l} bytes")).unwrap_or_else(|| "unknown (writer unreachable)".into()),
                        th.failover_max_lag_bytes
                    ));
                }
            }
        }
        OpKind::Failback => {
            if let Some(w) = t.region(&plan.from) {
                if !w.api_healthy {
                    reasons.push(format!("API {} (the writer) is not ready", w.name));
                }
            }
        }
    }
    (reasons, choices)
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub name: &'static str,
    pub ms: u64,
    pub outcome: serde_json::Value,
    pub resumed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub op_id: String,
    pub operation: OpKind,
    pub from: String,
    pub to: String,
    pub plan_hash: String,
    pub steps: Vec<StepReport>,
    /// Switchover: how long writes were blocked at the front door.
    pub write_pause_ms: Option<u64>,
    /// What could not be fenced, if anything.
    pub not_fenced: Vec<String>,
    pub total_ms: u64,
}

/// Starts a new operation: journals the plan, then runs it.
pub async fn execute<P: Provider>(
    p: &P,
    dir: &Path,
    plan: Plan,
    choices: serde_json::Value,
    shell: &Shell,
) -> Result<ExecReport, RegionError> {
    let op_id = format!(
        "{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let mut j = Journal::open(dir)?;
    j.append(&Entry::OpStarted {
        op_id: op_id.clone(),
        at: Utc::now(),
        pid: std::process::id(),
        plan_hash: plan.hash(),
        plan: plan.clone(),
        choices,
    })?;
    run_steps(p, dir, &mut j, &op_id, &plan, &Default::default(), shell).await
}

/// Continues the interrupted operation `rec` from its first step not completed.
pub async fn resume<P: Provider>(
    p: &P,
    dir: &Path,
    rec: OpRecord,
    shell: &Shell,
) -> Result<ExecReport, RegionError> {
    let mut j = Journal::open(dir)?;
    shell.status(
        "Resuming",
        format!(
            "{} {} ({} → {}), {} of {} steps done",
            rec.plan.operation.name(),
            rec.op_id,
            rec.plan.from,
            rec.plan.to,
            rec.done.len(),
            rec.plan.steps.len()
        ),
    );
    run_steps(p, dir, &mut j, &rec.op_id, &rec.plan, &rec.done, shell).await
}

async fn run_steps<P: Provider>(
    p: &P,
    dir: &Path,
    j: &mut Journal,
    op_id: &str,
    plan: &Plan,
    done: &std::collections::BTreeMap<usize, serde_json::Value>,
    shell: &Shell,
) -> Result<ExecReport, RegionError> {
    let start = Instant::now();
    let crash_after: Option<usize> = std::env::var(CRASH_HOOK_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let mut reports = Vec::new();
    let total = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i + 1;
        if let Some(outcome) = done.get(&n) {
            reports.push(StepReport {
                step: n,
                name: step.name(),
                ms: 0,
                outcome: outcome.clone(),
                resumed: true,
            });
            continue;
        }
        shell.status(&format!("[{n}/{total}]"), step.describe());
        j.append(&Entry::StepStarted {
            op_id: op_id.into(),
            step: n,
            at: Utc::now(),
        })?;
        let t0 = Instant::now();
        match run_step(p, step).await {
            Ok(outcome) => {
                let ms = t0.elapsed().as_millis() as u64;
                j.append(&Entry::StepDone {
                    op_id: op_id.into(),
                    step: n,
                    at: Utc::now(),
                    ms,
                    outcome: outcome.clone(),
                })?;
                reports.push(StepReport {
                    step: n,
                    name: step.name(),
                    ms,
                    outcome,
                    resumed: false,
                });
                if crash_after == Some(n) {
                    // Test hook: die like a crash, right after the step is journaled.
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
                }
            }
            Err(e) => {
                j.append(&Entry::StepFailed {
                    op_id: op_id.into(),
                    step: n,
                    at: Utc::now(),
                    error: e.to_string(),
                })?;
                return Err(RegionError::StepFailed {
                    op: plan.operation.name(),
                    step: n,
                    name: step.name(),
                    error: e.to_string(),
                });
            }
        }
    }
    let rec = journal::operations(dir)?
        .into_iter()
        .rev()
        .find(|o| o.op_id == op_id);
    let write_pause_ms = rec.as_ref().and_then(|_| write_pause(dir, op_id, plan));
    let not_fenced: Vec<String> = plan
        .steps
        .iter()
        .zip(reports.iter())
        .filter_map(|(s, r)| match s {
            Step::FenceWriter { region } if r.outcome.get("unreachable").is_some() => {
                Some(format!(
                    "{region} could not be reached to fence; its data directory was {}",
                    if r.outcome["unreachable"]["marked"] == true {
                        "marked to start only as a standby"
                    } else {
                        "NOT marked: make sure it cannot restart as a writer"
                    }
                ))
            }
            _ => None,
        })
        .collect();
    let summary = format!(
        "{} {} → {} completed",
        plan.operation.name(),
        plan.from,
        plan.to
    );
    j.append(&Entry::OpFinished {
        op_id: op_id.into(),
        at: Utc::now(),
        ok: true,
        summary,
    })?;
    Ok(ExecReport {
        op_id: op_id.into(),
        operation: plan.operation,
        from: plan.from.clone(),
        to: plan.to.clone(),
        plan_hash: plan.hash(),
        steps: reports,
        write_pause_ms,
        not_fenced,
        total_ms: start.elapsed().as_millis() as u64,
    })
}

/// From the journal: start of block-writes to the end of unblock-writes.
fn write_pause(dir: &Path, op_id: &str, plan: &Plan) -> Option<u64> {
    let block = plan.steps.iter().position(|s| *s == Step::BlockWrites)? + 1;
    let unblock = plan.steps.iter().position(|s| *s == Step::UnblockWrites)? + 1;
    let mut from = None;
    let mut to = None;
    for e in journal::read(dir).ok()? {
        match e {
            Entry::StepStarted { op_id: o, step, at } if o == op_id && step == block => {
                from = Some(at)
            }
            Entry::StepDone {
                op_id: o, step, at, ..
            } if o == op_id && step == unblock => to = Some(at),
            _ => {}
        }
    }
    Some((to? - from?).num_milliseconds().max(0) as u64)
}

async fn run_step<P: Provider>(p: &P, step: &Step) -> Result<serde_json::Value, ProviderError> {
    use serde_json::json;
    Ok(match step {
        Step::BlockWrites => {
            p.block_writes(true).await?;
            json!({"writes_blocked": true})
        }
        Step::UnblockWrites => {
            p.block_writes(false).await?;
            json!({"writes_blocked": false})
        }
        Step::FenceWriter { region } => serde_json::to_value(p.fence(region).await?).expect("json"),
        Step::StopWriter { region } => json!({"last_lsn": p.stop_writer(region).await?}),
        Step::WaitCaughtUp { replica } => {
            json!({"replayed_lsn": p.wait_caught_up(replica, None, Duration::from_secs(120)).await?})
        }
        Step::Promote { region } => {
            p.promote(region).await?;
            json!({"promoted": region})
        }
        Step::RecordTopology { writer, epoch } => {
            p.record_topology(writer, *epoch).await?;
            json!({"writer": writer, "epoch": epoch})
        }
        Step::SetSyncStandby { writer, standby } => {
            p.set_sync_standby(writer, standby.as_deref()).await?;
            json!({"writer": writer, "sync_standby": standby})
        }
        Step::RebuildReplica { region, of } => {
            json!({"rebuilt": serde_json::to_value(p.rebuild_replica(region, of).await?).expect("json")})
        }
        Step::MoveDns { to } => {
            p.set_dns_primary(to).await?;
            json!({"dns_primary": to})
        }
        Step::VerifyWrite { region } => json!({"write_served_by": p.verify_write(region).await?}),
    })
}

/// Refuses to start a new operation while one is unfinished.
pub fn ensure_no_open_operation(dir: &Path) -> Result<(), RegionError> {
    if let Some(op) = journal::open_operation(dir)? {
        return Err(RegionError::Interrupted {
            op_id: op.op_id.clone(),
            op: op.plan.operation.name(),
            from: op.plan.from.clone(),
            to: op.plan.to.clone(),
            done: op.done.len(),
            total: op.plan.steps.len(),
        });
    }
    Ok(())
}
