//! Executing a plan: every step journaled before and after it runs; `--resume` skips the
//! steps the journal shows done.

use super::{preflight, CrashMode, Options, RegionError};
use crate::journal::{Entry, OpRecord};
use crate::ops::plan::{Plan, Step};
use crate::provider::{chain, Provider, ProviderError};
use crate::shell::Shell;
use chrono::Utc;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

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
    pub operation: crate::ops::plan::OpKind,
    pub from: String,
    pub to: String,
    pub plan_hash: String,
    pub steps: Vec<StepReport>,
    /// Switchover: how long writes were blocked at the entry point.
    pub write_pause_ms: Option<u64>,
    /// What could not be fenced, if anything.
    pub not_fenced: Vec<String>,
    pub total_ms: u64,
    /// Why the operation stopped before its last step (a deploy's gate fired and rolled
    /// the region back); the journal records it as finished, not ok.
    pub halted: Option<String>,
    /// When each step finished (for drill timelines).
    #[serde(skip)]
    pub finished_at: Vec<(usize, chrono::DateTime<Utc>)>,
}

/// Starts a new operation: journals the plan, then runs it.
pub async fn execute(
    p: &dyn Provider,
    plan: Plan,
    choices: serde_json::Value,
    opts: &Options,
    shell: &Shell,
) -> Result<ExecReport, RegionError> {
    let op_id = format!(
        "{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    p.store()
        .append(&Entry::OpStarted {
            op_id: op_id.clone(),
            at: Utc::now(),
            pid: std::process::id(),
            plan_hash: plan.hash(),
            plan: plan.clone(),
            choices: choices.clone(),
        })
        .await?;
    run_steps(p, &op_id, &plan, &choices, &BTreeMap::new(), opts, shell).await
}

/// Continues the interrupted operation `rec` from its first step not completed.
pub async fn resume(
    p: &dyn Provider,
    rec: OpRecord,
    opts: &Options,
    shell: &Shell,
) -> Result<ExecReport, RegionError> {
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
    run_steps(
        p,
        &rec.op_id,
        &rec.plan,
        &rec.choices,
        &rec.done,
        opts,
        shell,
    )
    .await
}

async fn run_steps(
    p: &dyn Provider,
    op_id: &str,
    plan: &Plan,
    choices: &serde_json::Value,
    done: &BTreeMap<usize, serde_json::Value>,
    opts: &Options,
    shell: &Shell,
) -> Result<ExecReport, RegionError> {
    let start = Instant::now();
    let store = p.store();
    let mut reports = Vec::new();
    let mut finished_at = Vec::new();
    let mut started_at: BTreeMap<usize, chrono::DateTime<Utc>> = BTreeMap::new();
    let total = plan.steps.len();
    let forced = choices["force"] == true;
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
        let at = Utc::now();
        started_at.insert(n, at);
        store
            .append(&Entry::StepStarted {
                op_id: op_id.into(),
                step: n,
                at,
            })
            .await?;
        let t0 = Instant::now();
        let progress = |m: String| shell.status("", m);
        let result = match step {
            Step::Gate { to } => gate(p, plan, to, forced, shell).await,
            Step::WatchCanary {
                region,
                percent,
                window_secs,
                gate,
            } => {
                crate::ops::deploy::gate::watch(p, region, *percent, *window_secs, gate, shell)
                    .await
            }
            other => p.run_step(other, &progress).await,
        };
        match result {
            Ok(outcome) => {
                let ms = t0.elapsed().as_millis() as u64;
                let at = Utc::now();
                store
                    .append(&Entry::StepDone {
                        op_id: op_id.into(),
                        step: n,
                        at,
                        ms,
                        outcome: outcome.clone(),
                    })
                    .await?;
                finished_at.push((n, at));
                reports.push(StepReport {
                    step: n,
                    name: step.name(),
                    ms,
                    outcome,
                    resumed: false,
                });
                if let Some(why) = reports
                    .last()
                    .and_then(|r| r.outcome.get("halt"))
                    .and_then(|h| h.as_str())
                    .map(String::from)
                {
                    // The step decided the operation stops here (it left things safe).
                    store
                        .append(&Entry::OpFinished {
                            op_id: op_id.into(),
                            at: Utc::now(),
                            ok: false,
                            summary: why.clone(),
                        })
                        .await?;
                    return Ok(ExecReport {
                        op_id: op_id.into(),
                        operation: plan.operation,
                        from: plan.from.clone(),
                        to: plan.to.clone(),
                        plan_hash: plan.hash(),
                        steps: reports,
                        write_pause_ms: None,
                        not_fenced: vec![],
                        total_ms: start.elapsed().as_millis() as u64,
                        halted: Some(why),
                        finished_at,
                    });
                }
                if let Some((after, mode)) = opts.crash_after {
                    if after == n {
                        match mode {
                            CrashMode::Kill => {
                                // Test hook: die like a crash, right after the step is journaled.
                                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
                            }
                            CrashMode::Return => return Err(RegionError::Crashed(n)),
                        }
                    }
                }
            }
            Err(e) => {
                let error = chain(&e);
                let retryable = e.retryable();
                store
                    .append(&Entry::StepFailed {
                        op_id: op_id.into(),
                        step: n,
                        at: Utc::now(),
                        error: error.clone(),
                        retryable,
                    })
                    .await?;
                let op = plan.operation.name();
                let hint = if retryable {
                    format!("fix the cause and run `pmctl {op} --resume --yes` (the failed step runs again)")
                } else {
                    format!("this will not succeed by retrying as it is; fix the cause, then `pmctl {op} --resume --yes`")
                };
                return Err(RegionError::StepFailed {
                    op,
                    step: n,
                    name: step.name(),
                    error,
                    retryable,
                    hint,
                });
            }
        }
    }
    let not_fenced: Vec<String> = reports
        .iter()
        .filter_map(|r| r.outcome.get("not_fenced").and_then(|v| v.as_str()))
        .map(String::from)
        .collect();
    store
        .append(&Entry::OpFinished {
            op_id: op_id.into(),
            at: Utc::now(),
            ok: true,
            summary: format!(
                "{} {} → {} completed",
                plan.operation.name(),
                plan.from,
                plan.to
            ),
        })
        .await?;
    let write_pause_ms = write_pause(plan, &started_at, &finished_at);
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
        halted: None,
        finished_at,
    })
}

/// Start of block-writes to the end of unblock-writes, when both ran in this process.
fn write_pause(
    plan: &Plan,
    started: &BTreeMap<usize, chrono::DateTime<Utc>>,
    finished: &[(usize, chrono::DateTime<Utc>)],
) -> Option<u64> {
    let block = plan.steps.iter().position(|s| *s == Step::BlockWrites)? + 1;
    let unblock = plan.steps.iter().position(|s| *s == Step::UnblockWrites)? + 1;
    let from = started.get(&block)?;
    let to = finished.iter().find(|(n, _)| *n == unblock)?.1;
    Some((to - *from).num_milliseconds().max(0) as u64)
}

/// How long the gate of a `failback --switchover` waits for the rebuilt region to stream
/// and catch up, and how often it looks.
const GATE_SETTLE: std::time::Duration = std::time::Duration::from_secs(30);
const GATE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// The engine's own step: a fresh preflight of the switch the rest of the plan makes.
async fn gate(
    p: &dyn Provider,
    plan: &Plan,
    to: &str,
    forced: bool,
    shell: &Shell,
) -> Result<serde_json::Value, ProviderError> {
    // A region rebuilt a moment ago may still be connecting to the writer or catching up:
    // those two rules get a bounded time to clear; any other refusal stops at once.
    const SETTLING: [&str; 2] = ["target-streaming", "target-lag"];
    let deadline = Instant::now() + GATE_SETTLE;
    let (from, refusals) = loop {
        let t = p.snapshot().await?;
        let from = t
            .single_writer()
            .map(|w| w.name.clone())
            .unwrap_or_else(|| plan.from.clone());
        let refusals = preflight::switch_target_rules(p, &t, &from, to, true);
        if refusals.is_empty() {
            return Ok(serde_json::json!({"gate": "passed"}));
        }
        let settling = refusals.iter().all(|r| SETTLING.contains(&r.rule));
        if forced || !settling || Instant::now() >= deadline {
            break (from, refusals);
        }
        tokio::time::sleep(GATE_POLL).await;
    };
    let text: Vec<String> = refusals.iter().map(|r| r.to_string()).collect();
    if forced {
        for r in &text {
            shell.warn(format!("--force: gate: ignoring: {r}"));
        }
        return Ok(serde_json::json!({"gate": "forced", "ignored": text}));
    }
    Err(ProviderError::check(format!(
        "the writer stays in {from}: {} (the rebuild before this step is done; when the cause is fixed, `--resume` moves the writer)",
        text.join("; ")
    )))
}
