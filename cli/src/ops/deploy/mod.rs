//! `pmctl deploy` and `pmctl rollback`: new API releases through the same engine as region
//! changes — plan (typed steps, `--dry-run`, plan hash) → preflight (named rules) →
//! confirm → execute (journaled before and after every step, under the operations lock,
//! `--resume` after a crash). A deploy migrates once on the writer, then per region —
//! standby first, then the writer — starts the new release as a canary, gives it each
//! traffic step for its window while the gate ([`gate`]) watches, and promotes it, or
//! rolls that region back and stops.

pub mod artifact;
pub mod canary;
pub mod gate;
pub mod history;
mod plan;
mod preflight;
pub mod zip;

pub use canary::CanaryStep;
pub use plan::{deploy_plan, rollback_plan};

use crate::config::DeploySettings;
use crate::journal;
use crate::ops::plan::{OpKind, Plan};
use crate::ops::region::{self, Confirm, ExecReport, Options, Preflight, RegionError};
use crate::provider::deploy::{PendingMigration, RegionRelease};
use crate::provider::{GateSpec, Provider, ProviderError, ReleaseSpec, Topology};
use crate::shell::Shell;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to deploy and how.
#[derive(Debug, Clone)]
pub struct Request {
    /// The artifact (local: a server program like `pm-api`); None: the built-in server.
    pub artifact: Option<PathBuf>,
    /// The version label; None: what the artifact reports (`--version`).
    pub version: Option<String>,
    pub canary: Vec<CanaryStep>,
    pub gate: GateSpec,
    /// Deploy to this region only.
    pub region: Option<String>,
    pub require_drill: bool,
}

/// The gate's thresholds from the environment's `[deploy]` settings.
pub fn gate_spec(s: &DeploySettings) -> GateSpec {
    GateSpec {
        max_5xx_per_mille: (s.gate_max_5xx_ratio * 1000.0).round() as u32,
        max_p99_ms: s.gate_max_p99_ms.round() as u64,
        min_requests: s.gate_min_requests,
    }
}

pub(crate) fn default_gate() -> GateSpec {
    gate_spec(&DeploySettings::default())
}

/// What a plan is made from.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub topology: Topology,
    /// Deploy: the release; rollback: None.
    pub release: Option<ReleaseSpec>,
    pub pending: Vec<PendingMigration>,
    /// The environment does not apply migrations itself: why, and what to do instead.
    pub migrations_note: Option<String>,
    pub releases: BTreeMap<String, RegionRelease>,
}

#[derive(Debug, Clone)]
pub enum What {
    Deploy(Request),
    Rollback { region: Option<String> },
}

impl What {
    fn op(&self) -> OpKind {
        match self {
            What::Deploy(_) => OpKind::Deploy,
            What::Rollback { .. } => OpKind::Rollback,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub plan: Plan,
    pub plan_hash: String,
    pub preflight: Preflight,
}

/// Where each region stands after a deploy or rollback.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub exec: ExecReport,
    /// What each region's API reports now.
    pub versions: BTreeMap<String, Option<String>>,
    /// The gate that fired (rule, region, step, when, figures), if one did.
    pub gate: Option<serde_json::Value>,
    /// Every region runs the same version.
    pub consistent: bool,
}

#[derive(Debug)]
pub enum Outcome {
    Planned(Planned),
    Executed(Report),
}

fn deployer(p: &dyn Provider) -> Result<&dyn crate::provider::deploy::Deployer, RegionError> {
    p.deployer().ok_or_else(|| {
        RegionError::Provider(ProviderError::Unsupported {
            what: format!(
                "environment `{}` ({}) cannot be deployed to by this pmctl yet",
                p.environment(),
                p.kind()
            ),
        })
    })
}

async fn facts(p: &dyn Provider, what: &What) -> Result<Facts, RegionError> {
    let d = deployer(p)?;
    let topology = p.snapshot().await?;
    let mut releases = BTreeMap::new();
    for r in p.regions() {
        releases.insert(r.clone(), d.release(&r).await?);
    }
    let (release, pending) = match what {
        What::Deploy(req) => {
            let rel = d
                .resolve(req.artifact.as_deref(), req.version.as_deref())
                .await?;
            let (writer, _) = plan::roles(p, &topology)?;
            let pending = d.pending_migrations(&rel, &writer).await?;
            (Some(rel), pending)
        }
        What::Rollback { .. } => (None, vec![]),
    };
    Ok(Facts {
        migrations_note: match what {
            What::Deploy(_) => d.migrations_note(),
            What::Rollback { .. } => None,
        },
        topology,
        release,
        pending,
        releases,
    })
}

fn make_plan(p: &dyn Provider, f: &Facts, what: &What) -> Result<Plan, RegionError> {
    match what {
        What::Deploy(req) => deploy_plan(p, f, req),
        What::Rollback { region } => rollback_plan(p, f, region.as_deref()),
    }
}

fn check(p: &dyn Provider, f: &Facts, plan: &Plan, what: &What, force: bool) -> Preflight {
    let req = match what {
        What::Deploy(r) => Some(r),
        What::Rollback { .. } => None,
    };
    preflight::preflight(p, f, plan, req, force)
}

/// Plan only, run (refusing unless the plan hashes to `plan_hash`), or continue.
#[derive(Debug, Clone)]
pub enum Mode {
    DryRun,
    Run { plan_hash: Option<String> },
    Resume,
}

/// Plans or runs a deploy / rollback, or continues an interrupted one.
pub async fn run(
    p: &dyn Provider,
    what: What,
    mode: Mode,
    opts: &Options,
    shell: &Shell,
    confirm: Confirm<'_>,
) -> Result<Outcome, RegionError> {
    let op = what.op();
    let plan_hash = match mode.clone() {
        Mode::Run { plan_hash } => plan_hash,
        Mode::DryRun | Mode::Resume => None,
    };
    if matches!(mode, Mode::Resume) {
        return match region::run(p, region::Request::Resume { op }, opts, shell, confirm).await? {
            region::Outcome::Executed(r) => Ok(Outcome::Executed(report(p, r).await)),
            region::Outcome::Planned(_) => unreachable!("resume executes"),
        };
    }
    if matches!(mode, Mode::DryRun) {
        let (_, warnings) = journal::load(p.store()).await?;
        for w in warnings {
            shell.warn(w);
        }
        let f = facts(p, &what).await?;
        let plan = make_plan(p, &f, &what)?;
        let pre = check(p, &f, &plan, &what, opts.force);
        return Ok(Outcome::Planned(Planned {
            plan_hash: plan.hash(),
            plan,
            preflight: pre,
        }));
    }
    p.ensure_set_up()?;
    let lock = region::begin(p, op, shell).await?;
    let f = facts(p, &what).await?;
    let plan = make_plan(p, &f, &what)?;
    let pre = check(p, &f, &plan, &what, opts.force);
    region::admit(&plan, plan_hash.as_ref(), &pre, opts.force, shell, confirm)?;
    let exec = region::execute_plan(p, plan, pre.choices.clone(), opts, shell).await?;
    drop(lock);
    Ok(Outcome::Executed(report(p, exec).await))
}

async fn report(p: &dyn Provider, exec: ExecReport) -> Report {
    let versions: BTreeMap<String, Option<String>> = match p.snapshot().await {
        Ok(t) => t
            .regions
            .iter()
            .map(|r| (r.name.clone(), r.api_version.clone()))
            .collect(),
        Err(_) => p.regions().into_iter().map(|r| (r, None)).collect(),
    };
    let gate = exec
        .steps
        .iter()
        .find(|s| s.outcome.get("gate").and_then(|g| g.as_str()) == Some("fired"))
        .map(|s| s.outcome.clone());
    let mut vs: Vec<&Option<String>> = versions.values().collect();
    vs.dedup();
    Report {
        consistent: vs.len() == 1 && vs[0].is_some(),
        exec,
        versions,
        gate,
    }
}
