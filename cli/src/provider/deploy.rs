//! The deploy capability: what an environment runs, its releases and its canaries. The
//! steps themselves (start a canary, shift traffic, promote, abort, migrate) are ordinary
//! [`Capability`](super::Capability)s the provider expands and runs like any other; this
//! trait answers the questions a deploy plan and its gate ask.

use super::{ProviderError, ReleaseSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A pending migration of a release, checked against the running version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMigration {
    pub version: i64,
    pub description: String,
    /// Why it would break the running version (empty: compatible).
    #[serde(default)]
    pub breaking: Vec<String>,
}

/// What one region runs, and what `rollback` would return it to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRelease {
    pub current: Option<ReleaseSpec>,
    pub previous: Option<ReleaseSpec>,
    /// A canary runs beside the current version (a deploy in progress or interrupted).
    pub canary_running: bool,
}

/// A canary's figures since its weight was last set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryView {
    /// The canary is in place and gets its weight.
    pub present: bool,
    pub weight: u8,
    pub requests: u64,
    pub errors_5xx: u64,
    pub p99_ms: Option<f64>,
    /// The region's alarms in ALARM now (AWS: CloudWatch; local: none of its own).
    pub alarms: Vec<String>,
    /// The canary's own readiness answer: (ready, version it reports).
    pub ready: Option<(bool, Option<String>)>,
}

/// Refuses a `--label` that is not a version label (checked before anything is read).
pub fn check_label(version: Option<&str>) -> Result<(), ProviderError> {
    match version {
        Some(v) if !pm_api::valid_version_label(v) => Err(ProviderError::Unsupported {
            what: format!("--label `{v}`: 1–64 letters, digits, `.`, `+`, `-` or `_`"),
        }),
        _ => Ok(()),
    }
}

#[async_trait]
pub trait Deployer: Send + Sync {
    /// Resolves what `--artifact` / `--version` name into a release (reads the artifact).
    async fn resolve(
        &self,
        artifact: Option<&Path>,
        version: Option<&str>,
    ) -> Result<ReleaseSpec, ProviderError>;
    /// The release's migrations the writer `region` has not applied, each checked.
    async fn pending_migrations(
        &self,
        release: &ReleaseSpec,
        region: &str,
    ) -> Result<Vec<PendingMigration>, ProviderError>;
    /// What the plan should say about migrations when this environment does not apply
    /// them itself (None: it does, through `pending_migrations` and the migrate step).
    fn migrations_note(&self) -> Option<String> {
        None
    }
    /// What `region` runs and ran before.
    async fn release(&self, region: &str) -> Result<RegionRelease, ProviderError>;
    /// `region`'s canary right now; its figures count from `since` (the start of the
    /// step's window) where the environment keeps them over time.
    async fn observe_canary(
        &self,
        region: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<CanaryView, ProviderError>;
}
