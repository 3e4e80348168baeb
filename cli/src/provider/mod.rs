//! The provider boundary (v2): the only door between the operations and the world.
//!
//! Operations see an environment through capability-level traits, chosen once from the
//! environment's `kind` ([`open`], the one place):
//! - [`Provider`]: a neutral topology [`snapshot`](Provider::snapshot), and the expansion of
//!   each [`Capability`] (pause writes, route traffic, planned switch, fence, promote,
//!   rebuild as replica, verify a write) into this environment's typed [`Step`]s, which it
//!   then runs one by one;
//! - [`Faults`]: real faults by kind, for drills (unsupported kinds are refused up front);
//! - [`Traffic`]: where load and probes go, and with which credentials;
//! - [`Readback`]: is every acknowledged payment on the current writer?
//! - [`StateStore`](crate::journal::StateStore): the operations lock and journal.
//!
//! Implementations: `local` (the dev stack), `aws` (Aurora Global Database, Route 53,
//! CloudWatch, Lambda; lock and journal in S3), `fake` (in memory, for unit tests of the
//! engine). Every step is idempotent: re-running one that may have half-happened is safe.

pub mod aws;
pub mod deploy;
pub mod error;
pub mod fake;
pub mod local;
pub mod step;
pub mod types;
pub mod vantage;

pub use error::{chain, BoxError, Msg, ProviderError};
pub use step::{Capability, GateSpec, ReleaseSpec, Step};
pub use types::*;

use crate::config::{EnvKind, Environment};
use crate::journal::StateStore;
use crate::shell::Shell;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Progress lines a long step reports while it waits (shown on stderr by the engine).
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

#[async_trait]
pub trait Provider: Send + Sync {
    /// `local`, `aws`, `fake`.
    fn kind(&self) -> &'static str;
    fn environment(&self) -> &str;
    fn regions(&self) -> Vec<String>;
    /// RPO mode and thresholds, as configured for this run.
    fn settings(&self) -> &Settings;

    /// Refuses at once when the environment does not exist (e.g. no local stack), before
    /// anything (a lock, a journal) is created for it.
    fn ensure_set_up(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn snapshot(&self) -> Result<Topology, ProviderError>;
    /// This environment's steps for one capability (may be empty: e.g. AWS has no separate
    /// write pause, its managed switchover blocks writes itself).
    fn expand(&self, cap: &Capability, t: &Topology) -> Vec<Step>;
    /// Runs one of the steps it planned; returns what it did (journaled).
    async fn run_step(
        &self,
        step: &Step,
        progress: Progress<'_>,
    ) -> Result<serde_json::Value, ProviderError>;

    fn faults(&self) -> &dyn Faults;
    /// Deploys of the API (`pmctl deploy`); None: this environment cannot be deployed to.
    fn deployer(&self) -> Option<&dyn deploy::Deployer> {
        None
    }
    fn traffic(&self) -> &dyn Traffic;
    fn readback(&self) -> &dyn Readback;
    fn store(&self) -> &dyn StateStore;

    /// Where this environment's local files live (autopilot state and decisions).
    fn state_dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(".pmctl").join(self.environment())
    }
    /// A fresh observer for the autopilot (the witness's and each region's view).
    fn vantage(
        &self,
        _probe_timeout: Duration,
    ) -> Result<Box<dyn vantage::Vantage>, ProviderError> {
        Err(ProviderError::Unsupported {
            what: format!(
                "environment `{}` cannot be watched by the autopilot yet",
                self.environment()
            ),
        })
    }

    /// Make the environment ready for a drill (local: `dev up`; elsewhere: nothing).
    async fn prepare(&self, shell: &Shell) -> Result<(), ProviderError>;
    /// Heal recorded faults and restart what was killed; returns what it did.
    async fn repair(&self) -> Result<Vec<String>, ProviderError>;
    /// Remove the environment (local: `dev down`); others refuse.
    async fn teardown(&self) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            what: format!(
                "environment `{}` cannot be torn down by pmctl",
                self.environment()
            ),
        })
    }
    /// Forget the entry point's recent traffic figures (a drill's own errors must not keep
    /// alarms firing after it).
    async fn reset_metrics(&self) -> Result<(), ProviderError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Kill the writer's database.
    KillDb,
    /// Kill the region's API.
    KillApi,
    /// Both: the whole region is gone.
    KillRegion,
    /// Cut every cross-region link (the regions cannot see each other; both stay up).
    Partition,
    /// Freeze the writer's database: connections hang.
    Hang,
    /// Add latency to the cross-region links.
    SlowLink,
    /// Cut the region off from the other region *and* from the witness (it keeps running:
    /// the split-brain case the fence is for).
    Isolate,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::KillDb => "kill-db",
            FaultKind::KillApi => "kill-api",
            FaultKind::KillRegion => "kill-region",
            FaultKind::Partition => "partition",
            FaultKind::Hang => "hang",
            FaultKind::SlowLink => "slow-link",
            FaultKind::Isolate => "isolate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub kind: FaultKind,
    pub region: String,
    pub latency_ms: Option<u64>,
}

#[async_trait]
pub trait Faults: Send + Sync {
    fn supported(&self) -> Vec<FaultKind>;
    /// Injects a fault for real. Its undo is recorded *before* it is injected, so a drill
    /// killed right after still leaves a way back ([`heal_all`](Faults::heal_all)).
    async fn inject(&self, fault: &FaultSpec) -> Result<String, ProviderError>;
    /// Undoes every recorded fault (links up, frozen processes continued); returns what it
    /// did. Killed processes are restarted by [`Provider::repair`].
    async fn heal_all(&self) -> Result<Vec<String>, ProviderError>;
    /// Faults recorded as injected and not healed, with who injected them.
    fn pending(&self) -> Vec<PendingFault>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFault {
    pub fault: FaultSpec,
    pub injected_at: chrono::DateTime<chrono::Utc>,
    /// The pmctl that injected it.
    pub pid: u32,
    /// That pmctl is still running (a drill in progress), not a leftover.
    #[serde(skip)]
    pub owner_alive: bool,
}

pub trait Traffic: Send + Sync {
    /// The front door / public API name all clients use.
    fn entry_url(&self) -> Result<String, ProviderError>;
    /// One region's own API endpoint (probes that must not follow DNS).
    fn region_url(&self, region: &str) -> Result<String, ProviderError>;
    /// A bearer token the API accepts for landlord `subject`.
    fn token(&self, subject: &str, ttl: Duration) -> Result<String, ProviderError>;
}

/// What the API acknowledged during a drill.
#[derive(Debug, Clone, Default)]
pub struct Acknowledged {
    /// M-Pesa receipts of acknowledged C2B confirmations.
    pub receipts: Vec<String>,
    /// Ids of acknowledged manual payments.
    pub payment_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadbackReport {
    /// The region whose database was read.
    pub checked_on: String,
    /// Acknowledged receipts / payment ids it does not hold.
    pub missing: Vec<String>,
    /// Receipts credited more than once (or over-allocated).
    pub duplicate_credits: u64,
}

#[async_trait]
pub trait Readback: Send + Sync {
    async fn readback(&self, acked: &Acknowledged) -> Result<ReadbackReport, ProviderError>;
}

/// A capability set that has nothing (faults on an environment without fault injection).
pub struct Nothing;

#[async_trait]
impl Faults for Nothing {
    fn supported(&self) -> Vec<FaultKind> {
        vec![]
    }
    async fn inject(&self, f: &FaultSpec) -> Result<String, ProviderError> {
        Err(ProviderError::Unsupported {
            what: format!("this environment cannot inject `{}`", f.kind.name()),
        })
    }
    async fn heal_all(&self) -> Result<Vec<String>, ProviderError> {
        Ok(vec![])
    }
    fn pending(&self) -> Vec<PendingFault> {
        vec![]
    }
}

/// The provider of an environment: the one place that looks at its `kind`.
pub fn open(env: &Environment) -> Result<Box<dyn Provider>, ProviderError> {
    match &env.kind {
        EnvKind::Local { state_dir, env: l } => Ok(Box::new(local::LocalProvider::new(
            &env.name, state_dir, l,
        )?)),
        EnvKind::Aws(a) => Ok(Box::new(aws::AwsProvider::new(&env.name, a)?)),
    }
}
