//! One engine for region changes: plan → preflight → confirm → execute → verify.
//!
//! [`run`] is the one entry point, used by `pmctl switchover|failover|failback`, by drills'
//! reactions and by drill cleanup. The engine composes each operation from provider
//! [`Capability`]s, lets the provider expand them into its own steps, checks the named
//! preflight rules, journals every step before and after it runs (so `--resume` continues
//! an interrupted operation from its last completed step; every step is idempotent), and
//! holds the environment's operations lock throughout.

mod execute;
mod plan;
mod preflight;

pub(crate) use execute::execute as execute_plan;
pub use execute::{ExecReport, StepReport};
pub use plan::plan;
pub use preflight::{preflight, Preflight, Refusal};

use super::plan::{OpKind, Plan};
use crate::journal::{self, JournalError, OpRecord};
use crate::lock::LockError;
use crate::provider::{Provider, ProviderError};
use crate::shell::Shell;
use serde::Serialize;

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
    #[error("preflight refused the {op}:\n  - {}\n(fix these, or pass --force if you are sure)", .refusals.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n  - "))]
    Preflight {
        op: &'static str,
        refusals: Vec<Refusal>,
    },
    #[error("the plan now hashes to {actual}, not the reviewed {expected}: the world changed since that dry run, or the hash belongs to another plan; run --dry-run again and review")]
    Drift { expected: String, actual: String },
    #[error("operation {op_id} ({op} {from} → {to}) was interrupted after step {done}/{total}{blocked}; continue it with `pmctl {op} --resume --yes`")]
    Interrupted {
        op_id: String,
        op: &'static str,
        from: String,
        to: String,
        done: usize,
        total: usize,
        blocked: &'static str,
    },
    #[error("no interrupted operation to resume")]
    NothingToResume,
    #[error(
        "the interrupted operation is a {found}, not a {asked}; run `pmctl {found} --resume --yes`"
    )]
    WrongResume {
        found: &'static str,
        asked: &'static str,
    },
    #[error("the interrupted operation was planned by the {planned} provider for environment `{env}`; run it from there")]
    WrongEnvironment { planned: String, env: String },
    #[error("not confirmed; nothing changed")]
    NotConfirmed,
    #[error("step {step} ({name}) failed: {error}\nthe journal has every completed step; {hint}")]
    StepFailed {
        op: &'static str,
        step: usize,
        name: &'static str,
        error: String,
        retryable: bool,
        hint: String,
    },
    /// Test hook: stopped as if killed after a step (only with an in-process crash hook).
    #[error("crashed after step {0} (test hook)")]
    Crashed(usize),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl RegionError {
    /// Refusals exit 3; input errors 2; failures 1; a step failed mid-plan 4.
    pub fn exit_code(&self) -> i32 {
        use crate::error::*;
        match self {
            RegionError::UnknownRegion { .. } | RegionError::NothingToResume => EXIT_INVALID,
            RegionError::Impossible(_)
            | RegionError::Preflight { .. }
            | RegionError::Drift { .. }
            | RegionError::Interrupted { .. }
            | RegionError::WrongResume { .. }
            | RegionError::WrongEnvironment { .. }
            | RegionError::NotConfirmed => EXIT_REFUSED,
            // The lock store itself failed (e.g. a shared store AWS refused): not a refusal.
            RegionError::Lock(LockError::Remote { .. }) => EXIT_FAILED,
            RegionError::Lock(_) => EXIT_REFUSED,
            RegionError::StepFailed { .. } | RegionError::Crashed(_) => EXIT_INTERRUPTED,
            RegionError::Provider(ProviderError::NotSetUp { .. })
            | RegionError::Provider(ProviderError::Unsupported { .. }) => EXIT_INVALID,
            RegionError::Provider(_) | RegionError::Journal(_) => EXIT_FAILED,
        }
    }
}

/// How a crash is simulated after a step (the test hook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// SIGKILL this process (integration tests: a real crash).
    Kill,
    /// Return [`RegionError::Crashed`] without finishing (unit tests).
    Return,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Options {
    pub force: bool,
    pub accept_data_loss: bool,
    /// failback: switch the writer back afterwards.
    pub switchover_back: bool,
    #[serde(skip)]
    pub crash_after: Option<(usize, CrashMode)>,
    /// Journaled with the operator's choices (e.g. who decided: the autopilot, and why).
    #[serde(skip)]
    pub note: Option<serde_json::Value>,
}

impl Options {
    /// The crash hook from the environment (`PMCTL_TEST_CRASH_AFTER_STEP`).
    pub fn with_crash_hook_from_env(mut self) -> Options {
        self.crash_after = std::env::var(CRASH_HOOK_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .map(|n| (n, CrashMode::Kill));
        self
    }
}

/// What to do.
#[derive(Debug, Clone)]
pub enum Request {
    /// Plan `op` towards `to` (failback: the region to rebuild, default the non-writer).
    New {
        op: OpKind,
        to: Option<String>,
        /// Only plan: nothing changes, no lock is taken.
        dry_run: bool,
        /// Refuse unless the plan hashes to this.
        plan_hash: Option<String>,
    },
    /// Continue the interrupted `op`.
    Resume { op: OpKind },
}

#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub plan: Plan,
    pub plan_hash: String,
    pub preflight: Preflight,
}

#[derive(Debug)]
pub enum Outcome {
    Planned(Planned),
    Executed(ExecReport),
}

/// Asked once the plan is known and preflight passed (or was forced): go?
pub type Confirm<'a> = &'a mut (dyn FnMut(&Plan) -> bool + Send);

/// Takes the operations lock for `op` (warning about a lock a dead pmctl left) and checks
/// the journal has no open operation: what every operation does before it plans.
pub(crate) async fn begin(
    p: &dyn Provider,
    op: OpKind,
    shell: &Shell,
) -> Result<Box<dyn crate::journal::OpLock>, RegionError> {
    // Held for the whole operation: a second pmctl is refused.
    let lock = p.store().lock(op.name()).await?;
    if let Some(h) = lock.stale() {
        shell.warn(h.stale_warning());
    }
    let (ops, warnings) = journal::load(p.store()).await?;
    for w in warnings {
        shell.warn(w);
    }
    ensure_no_open_operation(&ops)?;
    Ok(lock)
}

/// The last word before executing `plan`: it must still hash to what the operator
/// reviewed (`--plan-hash`); refusals stop it unless `force` (then each is warned about);
/// warnings are shown; the operator confirms.
pub(crate) fn admit(
    plan: &Plan,
    plan_hash: Option<&String>,
    pre: &Preflight,
    force: bool,
    shell: &Shell,
    confirm: Confirm<'_>,
) -> Result<(), RegionError> {
    if let Some(h) = plan_hash {
        if *h != plan.hash() {
            return Err(RegionError::Drift {
                expected: h.clone(),
                actual: plan.hash(),
            });
        }
    }
    if !pre.refusals.is_empty() {
        if !force {
            return Err(RegionError::Preflight {
                op: plan.operation.name(),
                refusals: pre.refusals.clone(),
            });
        }
        for r in &pre.refusals {
            shell.warn(format!("--force: ignoring: {r}"));
        }
    }
    for w in &pre.warnings {
        shell.warn(w);
    }
    if !confirm(plan) {
        return Err(RegionError::NotConfirmed);
    }
    Ok(())
}

/// The one orchestration entry point: lock → journal check → snapshot → plan → preflight
/// → confirm → execute (or resume) → verify.
pub async fn run(
    p: &dyn Provider,
    req: Request,
    opts: &Options,
    shell: &Shell,
    confirm: Confirm<'_>,
) -> Result<Outcome, RegionError> {
    let store = p.store();
    if !matches!(req, Request::New { dry_run: true, .. }) {
        p.ensure_set_up()?;
    }
    match req {
        Request::New {
            op,
            to,
            dry_run: true,
            plan_hash: _,
        } => {
            let (ops, warnings) = journal::load(store).await?;
            for w in warnings {
                shell.warn(w);
            }
            let _ = ops;
            let t = p.snapshot().await?;
            let plan = plan(p, &t, op, to.as_deref(), opts)?;
            let pre = preflight(p, &t, &plan, opts);
            Ok(Outcome::Planned(Planned {
                plan_hash: plan.hash(),
                plan,
                preflight: pre,
            }))
        }
        Request::New {
            op,
            to,
            dry_run: false,
            plan_hash,
        } => {
            let lock = begin(p, op, shell).await?;
            let t = p.snapshot().await?;
            let plan = plan(p, &t, op, to.as_deref(), opts)?;
            let pre = preflight(p, &t, &plan, opts);
            admit(&plan, plan_hash.as_ref(), &pre, opts.force, shell, confirm)?;
            let mut choices = pre.choices.clone();
            if let (Some(serde_json::Value::Object(note)), serde_json::Value::Object(c)) =
                (&opts.note, &mut choices)
            {
                c.extend(note.clone());
            }
            let report = execute::execute(p, plan, choices, opts, shell).await?;
            drop(lock);
            Ok(Outcome::Executed(report))
        }
        Request::Resume { op } => {
            let lock = store.lock(op.name()).await?;
            if let Some(h) = lock.stale() {
                shell.warn(h.stale_warning());
            }
            let (ops, warnings) = journal::load(store).await?;
            for w in warnings {
                shell.warn(w);
            }
            let rec = journal::open_operation(&ops)
                .cloned()
                .ok_or(RegionError::NothingToResume)?;
            if rec.plan.operation != op {
                return Err(RegionError::WrongResume {
                    found: rec.plan.operation.name(),
                    asked: op.name(),
                });
            }
            if rec.plan.provider != p.kind() || rec.plan.environment != p.environment() {
                return Err(RegionError::WrongEnvironment {
                    planned: rec.plan.provider.clone(),
                    env: rec.plan.environment.clone(),
                });
            }
            if !confirm(&rec.plan) {
                return Err(RegionError::NotConfirmed);
            }
            let report = execute::resume(p, rec, opts, shell).await?;
            drop(lock);
            Ok(Outcome::Executed(report))
        }
    }
}

/// Refuses to start a new operation while one is unfinished.
pub fn ensure_no_open_operation(ops: &[OpRecord]) -> Result<(), RegionError> {
    if let Some(op) = journal::open_operation(ops) {
        return Err(RegionError::Interrupted {
            op_id: op.op_id.clone(),
            op: op.plan.operation.name(),
            from: op.plan.from.clone(),
            to: op.plan.to.clone(),
            done: op.done.len(),
            total: op.plan.steps.len(),
            blocked: if op.writes_blocked() {
                " with writes BLOCKED at the front door"
            } else {
                ""
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
