//! Deploys on the local stack: a release is a server program (like `pm-api`: `serve …`,
//! `migrate`), labelled with its version; the canary is a second API process per region
//! on its canary port, weighted by the front door (`devstack::release`).

use super::{stack_error, LocalProvider};
use crate::devstack::frontdoor::CanarySpec;
use crate::devstack::release::{self, Release, Releases, Slot};
use crate::devstack::stack::Stack;
use crate::ops::deploy::artifact;
use crate::provider::deploy::{CanaryView, Deployer, PendingMigration, RegionRelease};
use crate::provider::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How long an API gets to finish its in-flight requests when drained.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

fn to_spec(r: &Release) -> ReleaseSpec {
    ReleaseSpec {
        version: r.version.clone(),
        artifact: r.program.as_ref().map(|p| p.display().to_string()),
        sha256: r.sha256.clone(),
    }
}

fn to_release(s: &ReleaseSpec) -> Release {
    Release {
        program: s.artifact.as_ref().map(PathBuf::from),
        version: s.version.clone(),
        sha256: s.sha256.clone(),
    }
}

/// The program and leading arguments that run `release`'s subcommands.
fn program(release: &ReleaseSpec) -> Result<(PathBuf, Vec<String>), ProviderError> {
    match &release.artifact {
        Some(a) => Ok((PathBuf::from(a), vec![])),
        None => crate::devstack::stack::api_program().map_err(stack_error),
    }
}

impl LocalProvider {
    /// Runs `release`'s `migrate [--check]` against `region`'s database.
    async fn migrate(
        &self,
        st: &Stack,
        release: &ReleaseSpec,
        region: &str,
        check: bool,
    ) -> Result<(i32, String, String), ProviderError> {
        let (prog, mut args) = program(release)?;
        args.push("migrate".into());
        if check {
            args.push("--check".into());
        }
        let db = st.db_url(region);
        let out = tokio::process::Command::new(&prog)
            .args(&args)
            .env("DATABASE_URL", &db)
            .env_remove(pm_api::VERSION_ENV)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(120), out)
            .await
            .map_err(|_| ProviderError::Timeout {
                what: format!("{} migrate", prog.display()),
                secs: 120,
            })?
            .map_err(|e| {
                ProviderError::fatal("release", format!("running {} migrate", prog.display()), e)
            })?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            st.redact(&String::from_utf8_lossy(&out.stderr)),
        ))
    }

    async fn ready(&self, url: &str) -> Option<(bool, Option<String>)> {
        let r = self
            .http
            .get(format!("{url}/ready"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let ok = r.status().is_success();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        Some((ok, v["version"].as_str().map(String::from)))
    }

    /// Waits until the API at `url` is ready and reports `version`.
    async fn wait_version(
        &self,
        url: &str,
        version: &str,
        what: &str,
    ) -> Result<(), ProviderError> {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < Duration::from_secs(30) {
            match self.ready(url).await {
                Some((true, Some(v))) if v == version => return Ok(()),
                other => last = Some(other),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ProviderError::check(format!(
            "{what} did not become ready reporting version {version} within 30s (last: {last:?})"
        )))
    }

    async fn drain(&self, st: &Stack, region: &str, slot: Slot) -> process_outcome::Outcome {
        let st = st.clone();
        let region = region.to_string();
        let r =
            tokio::task::spawn_blocking(move || release::drain(&st, &region, slot, DRAIN_GRACE))
                .await
                .unwrap_or(crate::devstack::process::Stopped::NotRunning);
        process_outcome::name(r)
    }

    async fn set_weight(&self, st: &Stack, region: &str, percent: u8) -> Result<(), ProviderError> {
        let url = release::url(st, region, Slot::Canary);
        let label = self
            .ready(&url)
            .await
            .and_then(|r| r.1)
            .unwrap_or_else(|| "canary".into());
        st.admin()
            .set_canary(
                region,
                &CanarySpec {
                    upstream: url,
                    weight: percent,
                    label,
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::action("front door", "setting the canary weight", e))
    }

    async fn clear(&self, st: &Stack, region: &str) -> Result<(), ProviderError> {
        st.admin()
            .clear_canary(region)
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::action("front door", "removing the canary", e))
    }

    async fn start_canary(
        &self,
        st: &Stack,
        region: &str,
        rel: &ReleaseSpec,
    ) -> Result<serde_json::Value, ProviderError> {
        self.check(region)?;
        let url = release::url(st, region, Slot::Canary);
        if let Some(pid) = release::pid(st, region, Slot::Canary) {
            if self.ready(&url).await == Some((true, Some(rel.version.clone()))) {
                return Ok(json!({"canary_pid": pid, "reused": true}));
            }
            // A canary of another release (an earlier deploy that stopped): replace it.
            self.clear(st, region).await?;
            self.drain(st, region, Slot::Canary).await;
        }
        let pid = release::spawn_api(
            st,
            region,
            Slot::Canary,
            Some(&to_release(rel)),
            &crate::shell::Shell::silent(),
        )
        .await
        .map_err(|e| ProviderError::action(format!("canary API {region}"), "starting it", e))?;
        self.wait_version(&url, &rel.version, &format!("canary API {region}"))
            .await?;
        Ok(json!({"canary_pid": pid, "port": release::port(st, region, Slot::Canary)}))
    }

    async fn promote(
        &self,
        st: &Stack,
        region: &str,
        rel: &ReleaseSpec,
    ) -> Result<serde_json::Value, ProviderError> {
        self.check(region)?;
        let main = st.api_url(region);
        let canary_up = release::pid(st, region, Slot::Canary).is_some();
        let main_runs_it = self.ready(&main).await == Some((true, Some(rel.version.clone())));
        let t0 = Instant::now();
        let mut drained_old = "not-running";
        if !main_runs_it || canary_up {
            if !canary_up {
                // Resumed after the canary died: start it again before touching the API.
                self.start_canary(st, region, rel).await?;
            }
            // 1. Everything to the canary (the front door's health checks follow it).
            self.set_weight(st, region, 100).await?;
            // 2. The old API finishes what it has in flight and exits.
            if !main_runs_it {
                drained_old = self.drain(st, region, Slot::Main).await;
                // 3. The new release on the API port.
                release::spawn_api(
                    st,
                    region,
                    Slot::Main,
                    Some(&to_release(rel)),
                    &crate::shell::Shell::silent(),
                )
                .await
                .map_err(|e| {
                    ProviderError::action(format!("API {region}"), "starting the new release", e)
                })?;
            }
            self.wait_version(&main, &rel.version, &format!("API {region}"))
                .await?;
        }
        // 4. Back to the API port; the canary drains.
        self.clear(st, region).await?;
        let drained_canary = self.drain(st, region, Slot::Canary).await;
        let mut rs = Releases::load(&st.root).map_err(stack_error)?;
        let before = rs.current(region).or_else(|| {
            Some(Release {
                program: None,
                version: pm_api::VERSION.to_string(),
                sha256: None,
            })
        });
        rs.promoted(region, to_release(rel), before);
        rs.save(&st.root).map_err(stack_error)?;
        Ok(json!({
            "version": rel.version,
            "old_api": drained_old,
            "canary": drained_canary,
            "swap_ms": t0.elapsed().as_millis() as u64,
        }))
    }
}

mod process_outcome {
    use crate::devstack::process::Stopped;
    pub type Outcome = &'static str;
    pub fn name(s: Stopped) -> Outcome {
        match s {
            Stopped::NotRunning => "not-running",
            Stopped::Gracefully => "drained",
            Stopped::Killed => "killed-after-grace",
        }
    }
}

pub(super) async fn run_step(
    p: &LocalProvider,
    st: &Stack,
    step: &Step,
) -> Result<serde_json::Value, ProviderError> {
    match step {
        Step::RunMigrations { region, release } => {
            p.check(region)?;
            let (code, stdout, stderr) = p.migrate(st, release, region, false).await?;
            match code {
                0 => Ok(serde_json::from_str::<serde_json::Value>(stdout.trim())
                    .unwrap_or_else(|_| json!({"migrated": true}))),
                3 => Err(ProviderError::check(format!(
                    "the release's migrations were refused: {}",
                    stderr.trim()
                ))),
                c => Err(ProviderError::check(format!(
                    "`migrate` exited {c}: {}",
                    stderr.trim()
                ))),
            }
        }
        Step::StartCanary { region, release } => p.start_canary(st, region, release).await,
        Step::SetCanaryWeight { region, percent } => {
            p.check(region)?;
            if release::pid(st, region, Slot::Canary).is_none() {
                return Err(ProviderError::check(format!(
                    "{region} has no canary running (it stopped?); `--resume` starts the step that needs it again only after `pmctl rollback`"
                )));
            }
            p.set_weight(st, region, *percent).await?;
            Ok(json!({"canary_weight": percent}))
        }
        Step::PromoteCanary { region, release } => p.promote(st, region, release).await,
        Step::StopCanary { region } => {
            p.check(region)?;
            p.clear(st, region).await?;
            let stopped = p.drain(st, region, Slot::Canary).await;
            Ok(json!({"canary": stopped}))
        }
        other => Err(ProviderError::Unsupported {
            what: format!("step `{}` is not a deploy step", other.name()),
        }),
    }
}

#[async_trait]
impl Deployer for LocalProvider {
    async fn resolve(
        &self,
        artifact: Option<&Path>,
        version: Option<&str>,
    ) -> Result<ReleaseSpec, ProviderError> {
        crate::provider::deploy::check_label(version)?;
        let bad = |what: String| ProviderError::Unsupported { what };
        let Some(a) = artifact else {
            return Ok(ReleaseSpec {
                version: version.unwrap_or(pm_api::VERSION).to_string(),
                artifact: None,
                sha256: None,
            });
        };
        if a.extension().is_some_and(|e| e == "zip") {
            return Err(bad(format!(
                "{}: a Lambda zip runs on AWS; on the local stack the artifact is a server program (e.g. target/release/pm-api)",
                a.display()
            )));
        }
        let path = std::fs::canonicalize(a)
            .map_err(|e| bad(format!("--artifact {}: {e}", a.display())))?;
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(bad(format!(
                "--artifact {}: not an executable file",
                path.display()
            )));
        }
        let sha256 = artifact::sha256_file(&path).map_err(|e| bad(e.to_string()))?;
        let version = match version {
            Some(v) => v.to_string(),
            None => {
                let p2 = path.clone();
                tokio::task::spawn_blocking(move || artifact::binary_version(&p2))
                    .await
                    .map_err(|e| ProviderError::fatal("release", "reading its version", e))?
                    .map_err(|e| bad(format!("{e}; or pass --label")))?
            }
        };
        Ok(ReleaseSpec {
            version,
            artifact: Some(path.display().to_string()),
            sha256: Some(sha256),
        })
    }

    async fn pending_migrations(
        &self,
        release: &ReleaseSpec,
        region: &str,
    ) -> Result<Vec<PendingMigration>, ProviderError> {
        let st = self.stack()?;
        let (code, stdout, stderr) = self.migrate(&st, release, region, true).await?;
        #[derive(serde::Deserialize)]
        struct Check {
            pending: Vec<PendingMigration>,
        }
        match serde_json::from_str::<Check>(stdout.trim()) {
            Ok(c) if code == 0 || code == 3 => Ok(c.pending),
            _ => Err(ProviderError::check(format!(
                "`migrate --check` of the release exited {code}: {}",
                stderr.trim()
            ))),
        }
    }

    async fn release(&self, region: &str) -> Result<RegionRelease, ProviderError> {
        let st = self.stack()?;
        let rs = Releases::load(&st.root).map_err(stack_error)?;
        Ok(RegionRelease {
            current: rs.current(region).as_ref().map(to_spec),
            previous: rs.previous(region).as_ref().map(to_spec),
            canary_running: release::pid(&st, region, Slot::Canary).is_some(),
        })
    }

    /// The front door's counts start when the canary's weight is set, so `since` is not
    /// needed here.
    async fn observe_canary(
        &self,
        region: &str,
        _since: chrono::DateTime<chrono::Utc>,
    ) -> Result<CanaryView, ProviderError> {
        let st = self.stack()?;
        let state =
            st.admin().state().await.map_err(|e| {
                ProviderError::action("front door", "reading the canary's counts", e)
            })?;
        let ready = self.ready(&release::url(&st, region, Slot::Canary)).await;
        Ok(match state.canaries.iter().find(|c| c.region == region) {
            Some(c) => CanaryView {
                present: true,
                weight: c.weight,
                requests: c.requests,
                errors_5xx: c.errors_5xx,
                p99_ms: c.latency_ms.map(|l| l.p99),
                alarms: vec![],
                ready: Some(ready.unwrap_or((false, None))),
            },
            None => CanaryView {
                ready,
                ..Default::default()
            },
        })
    }
}
