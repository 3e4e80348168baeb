//! The provider for the local dev stack: PostgreSQL through `pgcluster` and SQL, the front
//! door and links through their admin API, the APIs over HTTP, faults with real signals and
//! link modes, read-back over SQL on the writer.

mod deploy;
mod faults;
mod readback;
mod snapshot;
mod steps;
mod vantage;

use super::*;
use crate::config::LocalEnv;
use crate::devstack::stack::{self, Stack, StackError, StackSpec, REGIONS};
use crate::journal::FileStore;
use std::path::{Path, PathBuf};

pub struct LocalProvider {
    env: String,
    dir: PathBuf,
    config: LocalEnv,
    settings: Settings,
    store: FileStore,
    http: reqwest::Client,
}

impl LocalProvider {
    pub fn new(env: &str, dir: &Path, config: &LocalEnv) -> Result<LocalProvider, ProviderError> {
        Ok(LocalProvider {
            env: env.to_string(),
            dir: dir.to_path_buf(),
            config: config.clone(),
            settings: Settings {
                rpo: config.rpo,
                thresholds: config.thresholds.clone(),
            },
            store: FileStore::new(dir),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .map_err(|e| ProviderError::fatal("pmctl", "building the HTTP client", e))?,
        })
    }

    /// The running stack's files and handles (its ports are those it was created with).
    pub(crate) fn stack(&self) -> Result<Stack, ProviderError> {
        Stack::open(&self.dir).map_err(stack_error)
    }

    fn check(&self, region: &str) -> Result<(), ProviderError> {
        if REGIONS.contains(&region) {
            Ok(())
        } else {
            Err(ProviderError::UnknownRegion(region.to_string()))
        }
    }
}

pub(crate) fn stack_error(e: StackError) -> ProviderError {
    match e {
        StackError::NotUp(dir) => ProviderError::NotSetUp {
            what: format!("no stack in {}; run `pmctl dev up` first", dir.display()),
        },
        other => ProviderError::fatal("dev stack", "opening the stack", other),
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn environment(&self) -> &str {
        &self.env
    }

    fn regions(&self) -> Vec<String> {
        REGIONS.iter().map(|r| r.to_string()).collect()
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    fn vantage(
        &self,
        probe_timeout: Duration,
    ) -> Result<Box<dyn super::vantage::Vantage>, ProviderError> {
        Ok(Box::new(self.local_vantage(probe_timeout)?))
    }

    fn ensure_set_up(&self) -> Result<(), ProviderError> {
        self.stack().map(|_| ())
    }

    async fn snapshot(&self) -> Result<Topology, ProviderError> {
        snapshot::snapshot(self).await
    }

    fn expand(&self, cap: &Capability, _t: &Topology) -> Vec<Step> {
        steps::expand(cap)
    }

    async fn run_step(
        &self,
        step: &Step,
        progress: Progress<'_>,
    ) -> Result<serde_json::Value, ProviderError> {
        steps::run(self, step, progress).await
    }

    fn faults(&self) -> &dyn Faults {
        self
    }
    fn deployer(&self) -> Option<&dyn super::deploy::Deployer> {
        Some(self)
    }
    fn traffic(&self) -> &dyn Traffic {
        self
    }
    fn readback(&self) -> &dyn Readback {
        self
    }
    fn store(&self) -> &dyn StateStore {
        &self.store
    }

    async fn prepare(&self, shell: &Shell) -> Result<(), ProviderError> {
        let mut spec = StackSpec::from_env(&self.config, None, None).map_err(|e| {
            ProviderError::fatal("pmctl.toml", "reading the stack settings", Msg(e))
        })?;
        spec.autopilot.env = self.env.clone();
        // `dev up` also heals faults a killed drill left behind.
        stack::up(&self.dir, spec, shell).await.map_err(|e| {
            ProviderError::fatal("dev stack", "bringing the stack up (pmctl dev up)", e)
        })?;
        Ok(())
    }

    async fn repair(&self) -> Result<Vec<String>, ProviderError> {
        let st = self.stack()?;
        let mut notes = Vec::new();
        match stack::up(&self.dir, st.spec().clone(), &Shell::silent()).await {
            Ok(stack::UpOutcome::Repaired { started }) => {
                notes.push(format!("restarted {}", started.join(", ")))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(ProviderError::action(
                    "dev stack",
                    "restarting stopped components (pmctl dev up)",
                    e,
                ))
            }
        }
        Ok(notes)
    }

    async fn teardown(&self) -> Result<(), ProviderError> {
        stack::down(&self.dir, false, &Shell::silent())
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::action("dev stack", "removing it (pmctl dev down)", e))
    }

    async fn reset_metrics(&self) -> Result<(), ProviderError> {
        self.stack()?
            .admin()
            .reset_metrics()
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::action("front door", "resetting its metrics", e))
    }
}

impl Traffic for LocalProvider {
    fn entry_url(&self) -> Result<String, ProviderError> {
        Ok(self.stack()?.frontdoor_url())
    }
    fn region_url(&self, region: &str) -> Result<String, ProviderError> {
        self.check(region)?;
        Ok(self.stack()?.api_url(region))
    }
    fn token(&self, subject: &str, ttl: Duration) -> Result<String, ProviderError> {
        self.stack()?
            .keys()
            .token(subject, ttl.as_secs())
            .map_err(|e| ProviderError::fatal("dev stack", "minting a dev token", e))
    }
}
