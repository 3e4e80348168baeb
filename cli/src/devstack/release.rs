//! Releases of the API on the local stack (`pmctl deploy`): which program each region's
//! API runs, its canary beside it, and how a release is promoted without dropping a
//! request.
//!
//! A region's API listens on its API port (`port_base + 1/2`); during a deploy the canary
//! (the new release) listens on the canary port (`port_base + 3/4`) and the front door
//! sends it its weight. **Promotion** keeps the API port stable, so everything that names
//! a region's API (status, drills, the autopilot) keeps working: the canary takes 100 % of
//! the region's requests, the old process drains (SIGTERM: it stops accepting, finishes
//! what it has in flight, exits), the new release starts on the API port, the front door
//! moves the region back to the API port, and the canary drains in turn. `releases.json`
//! records each region's current and previous release; `dev up` restarts a region's
//! current release.

use super::process;
use super::stack::{api_program, io, wait_until, write_private, Stack, StackError};
use crate::shell::Shell;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One runnable release.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Release {
    /// The server program (takes `serve --listen … --region …` like `pm-api serve`, and
    /// `migrate`); `None`: the built-in server (`pmctl internal api`, or `PMCTL_PM_API`).
    pub program: Option<PathBuf>,
    /// The version it reports (`PM_API_VERSION` is set to it).
    pub version: String,
    /// SHA-256 of the program file (`None` for the built-in server).
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct RegionReleases {
    pub current: Option<Release>,
    pub previous: Option<Release>,
}

/// `releases.json`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct Releases {
    pub regions: BTreeMap<String, RegionReleases>,
}

fn path(root: &Path) -> PathBuf {
    root.join("releases.json")
}

impl Releases {
    pub fn load(root: &Path) -> Result<Releases, StackError> {
        match std::fs::read_to_string(path(root)) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| StackError::Damaged {
                dir: root.to_path_buf(),
                what: format!("releases.json is unreadable ({e})"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Releases::default()),
            Err(e) => Err(io("reading releases.json")(e)),
        }
    }

    pub fn save(&self, root: &Path) -> Result<(), StackError> {
        let text = serde_json::to_string_pretty(self).expect("serialise");
        write_private(&path(root), text.as_bytes()).map_err(io("writing releases.json"))
    }

    /// The release `region` runs (`None`: the built-in server, never deployed to).
    pub fn current(&self, region: &str) -> Option<Release> {
        self.regions.get(region).and_then(|r| r.current.clone())
    }

    pub fn previous(&self, region: &str) -> Option<Release> {
        self.regions.get(region).and_then(|r| r.previous.clone())
    }

    /// `region` now runs `release`; what it ran becomes its previous release.
    pub fn promoted(&mut self, region: &str, release: Release, before: Option<Release>) {
        let r = self.regions.entry(region.to_string()).or_default();
        if r.current.as_ref() == Some(&release) {
            return;
        }
        r.previous = before.or_else(|| r.current.clone());
        r.current = Some(release);
    }
}

/// Which of a region's two API processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// On the region's API port: what the region serves.
    Main,
    /// On the region's canary port, during a deploy.
    Canary,
}

impl Slot {
    fn component(self, region: &str) -> String {
        match self {
            Slot::Main => format!("api-{region}"),
            Slot::Canary => format!("canary-{region}"),
        }
    }
}

pub fn port(stack: &Stack, region: &str, slot: Slot) -> u16 {
    match slot {
        Slot::Main => stack.spec().ports.api(region),
        Slot::Canary => stack.spec().ports.canary(region),
    }
}

pub fn url(stack: &Stack, region: &str, slot: Slot) -> String {
    format!("http://127.0.0.1:{}", port(stack, region, slot))
}

/// The pid of a region's API in `slot`, if it runs.
pub fn pid(stack: &Stack, region: &str, slot: Slot) -> Option<u32> {
    process::read_pid(&stack.pid_file(&slot.component(region)), "serve")
}

/// Starts `release` (None: the built-in server) as `region`'s API in `slot` and waits
/// until it answers `/health`.
pub async fn spawn_api(
    stack: &Stack,
    region: &str,
    slot: Slot,
    release: Option<&Release>,
    shell: &Shell,
) -> Result<u32, StackError> {
    let keys = stack.keys();
    let (program, mut args) = match release.and_then(|r| r.program.clone()) {
        Some(p) => (p, vec![]),
        None => api_program()?,
    };
    let port = port(stack, region, slot);
    if port == 0 {
        return Err(StackError::Refused(
            "this stack was created before deploys (it has no canary ports): `pmctl dev down` and `pmctl dev up` to recreate it".into(),
        ));
    }
    args.extend(
        [
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--region",
            region,
            "--jwks",
            &keys.jwks_file.display().to_string(),
            "--jwt-issuer",
            super::keys::DEV_ISSUER,
            "--jwt-client-id",
            super::keys::DEV_CLIENT_ID,
            "--trusted-proxies",
            "127.0.0.0/8",
            "--db-pool",
            "16",
        ]
        .map(String::from),
    );
    let component = slot.component(region);
    let what = match slot {
        Slot::Main => format!("API {region}"),
        Slot::Canary => format!("canary API {region}"),
    };
    shell.status(
        "Starting",
        match release {
            Some(r) => format!("{what} {} on :{port}", r.version),
            None => format!("{what} on :{port}"),
        },
    );
    let log = stack.log(&component);
    // The URL holds the password: through the environment (readable by the owner
    // only, /proc/PID/environ), never argv (world-readable in `ps`).
    let db_url = stack.db_url(region);
    // The API's tuning knobs (allocation mode, admission limits): the stack's recorded
    // settings, then any pmctl was started with.
    let mut tuning: Vec<(&str, String)> = stack.spec().api.env();
    for k in super::stack::API_TUNING {
        if let Ok(v) = std::env::var(k) {
            tuning.retain(|(name, _)| name != k);
            tuning.push((k, v));
        }
    }
    let mut env = vec![("DATABASE_URL", db_url.as_str())];
    env.extend(tuning.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(r) = release {
        env.push((pm_api::VERSION_ENV, r.version.as_str()));
    }
    let pid = process::spawn_detached(&program, &args, &env, &log, &stack.pid_file(&component))
        .map_err(io(format!("starting {what}")))?;
    let health = format!("http://127.0.0.1:{port}/health");
    let http = reqwest::Client::new();
    wait_until(&what, Duration::from_secs(30), &log, || {
        let http = http.clone();
        let url = health.clone();
        async move {
            if !process::alive(pid) {
                return Err("the process exited".to_string());
            }
            http.get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    Ok(pid)
}

/// Stops `region`'s API in `slot`, letting it finish the requests it has (SIGTERM, then
/// SIGKILL after `grace`). Idempotent.
pub fn drain(stack: &Stack, region: &str, slot: Slot, grace: Duration) -> process::Stopped {
    match pid(stack, region, slot) {
        Some(p) => process::stop(p, grace),
        None => process::Stopped::NotRunning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(v: &str) -> Release {
        Release {
            program: None,
            version: v.into(),
            sha256: None,
        }
    }

    #[test]
    fn promotion_keeps_the_previous_release_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Releases::load(dir.path()).unwrap();
        assert_eq!(r.current("east"), None);
        r.promoted("east", rel("2"), Some(rel("1")));
        r.promoted("east", rel("2"), None);
        assert_eq!(r.current("east"), Some(rel("2")));
        assert_eq!(r.previous("east"), Some(rel("1")));
        r.promoted("east", rel("3"), None);
        assert_eq!(r.previous("east"), Some(rel("2")));
        r.save(dir.path()).unwrap();
        assert_eq!(Releases::load(dir.path()).unwrap(), r);
    }
}
