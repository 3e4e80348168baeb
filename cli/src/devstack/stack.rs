//! The local two-region stack: create (`up`), inspect (`status`), repair and remove (`down`).
//!
//! Everything lives under one state directory:
//! ```text
//! stack.json            spec, ports, versions, admin token (mode 0600)
//! pmctl.lock            exclusive lock held by a running pmctl operation
//! east/pg, west/pg      PostgreSQL data directories (owned by `postgres` when run as root)
//! east/pg.pgpass, west/pg.pgpass   the PostgreSQL superuser password (libpq password
//!                       file, mode 0600, owned by the user PostgreSQL runs as)
//! run/*.pid             pids of the API and net processes
//! logs/*.log            one log per component
//! jwt/                  dev signing key + JWKS the APIs trust
//! net.json, net-state.json   the front door/links process config and persisted state
//! ```

use super::keys::DevKeys;
use super::net::{
    AdminClient, FrontDoorConfig, HealthCheckConfig, LinkConfig, NetConfig, RegionRecord,
};
use super::process;
use crate::config::{HealthSettings, Rpo, Thresholds};
use crate::lock::{LockError, StateLock};
use crate::shell::Shell;
use pgcluster::{Cluster, InitOptions, PgBin, PgError, ReplicaOptions, StopMode};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Region names of the local stack; the first starts as the writer.
pub const REGIONS: [&str; 2] = ["east", "west"];
/// The application database.
pub const DB_NAME: &str = "pm";

pub fn other_region(r: &str) -> &'static str {
    if r == REGIONS[0] {
        REGIONS[1]
    } else {
        REGIONS[0]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("port {port} ({purpose}) is already in use; stop whatever holds it or choose other ports (--port-base)")]
    PortBusy { port: u16, purpose: String },
    #[error("no stack in {0}; run `pmctl dev up` first")]
    NotUp(PathBuf),
    #[error("state directory {dir}: {reason}")]
    StateDir { dir: PathBuf, reason: String },
    /// The stack's state does not allow the command (nothing was changed).
    #[error("{0}")]
    Refused(String),
    /// `dev up` started what it could; these components are not running or not following.
    #[error("{}", incomplete_message(started, failures))]
    Incomplete {
        started: Vec<String>,
        failures: Vec<super::repair::ComponentFailure>,
    },
    #[error("the stack in {dir} is damaged: {what}. Run `pmctl dev down` and then `pmctl dev up`")]
    Damaged { dir: PathBuf, what: String },
    #[error("{component} did not become ready within {secs}s: {why} (log: {log})")]
    NotReady {
        component: String,
        secs: u64,
        why: String,
        log: PathBuf,
    },
    #[error("{component} failed")]
    Postgres {
        component: String,
        #[source]
        source: PgError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Keys(#[from] super::keys::KeyError),
    #[error("migrating the database: {0}")]
    Migrate(String),
    #[error("{0}")]
    Other(String),
}

fn incomplete_message(started: &[String], failures: &[super::repair::ComponentFailure]) -> String {
    let mut text = format!(
        "{} could not be started or is not following the writer{}",
        failures
            .iter()
            .map(|f| f.component.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if started.is_empty() {
            String::new()
        } else {
            format!(" (started: {})", started.join(", "))
        }
    );
    for f in failures {
        text.push_str(&format!("\n  {}: {}", f.component, f.error));
        if let Some(fix) = &f.fix {
            text.push_str(&format!("\n    fix: {fix}"));
        }
    }
    text
}

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StackError {
    let what = what.into();
    move |source| StackError::Io { what, source }
}

fn pg(component: &str) -> impl FnOnce(PgError) -> StackError + '_ {
    move |source| StackError::Postgres {
        component: component.to_string(),
        source,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ports {
    pub frontdoor: u16,
    pub admin: u16,
    pub api_east: u16,
    pub api_west: u16,
    pub pg_east: u16,
    pub pg_west: u16,
    /// Link through which west reaches east's PostgreSQL (replication while east writes).
    pub link_to_east: u16,
    /// Link through which east reaches west's PostgreSQL (after a failover).
    pub link_to_west: u16,
    /// Links through which the witness (the autopilot) reaches each region's PostgreSQL,
    /// so a drill can cut a region off from the witness too (0: none, an older stack).
    #[serde(default)]
    pub witness_to_east: u16,
    #[serde(default)]
    pub witness_to_west: u16,
    /// Where a deploy starts each region's canary API (0: none, a stack created before
    /// deploys).
    #[serde(default)]
    pub canary_east: u16,
    #[serde(default)]
    pub canary_west: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            frontdoor: 8080,
            api_east: 8081,
            api_west: 8082,
            admin: 8089,
            pg_east: 5441,
            pg_west: 5442,
            link_to_east: 5443,
            link_to_west: 5444,
            witness_to_east: 5445,
            witness_to_west: 5446,
            canary_east: 8083,
            canary_west: 8084,
        }
    }
}

impl Ports {
    /// All ports at fixed offsets from `base` (for running several stacks side by side).
    pub fn from_base(base: u16) -> Result<Ports, String> {
        if !(1024..=65535 - 20).contains(&base) {
            return Err(format!("port base {base} must be between 1024 and 65515"));
        }
        Ok(Ports {
            frontdoor: base,
            api_east: base + 1,
            api_west: base + 2,
            admin: base + 9,
            pg_east: base + 11,
            pg_west: base + 12,
            link_to_east: base + 13,
            link_to_west: base + 14,
            witness_to_east: base + 15,
            witness_to_west: base + 16,
            canary_east: base + 3,
            canary_west: base + 4,
        })
    }

    pub fn all(&self) -> Vec<(u16, &'static str)> {
        vec![
            (self.frontdoor, "front door"),
            (self.admin, "front door admin API"),
            (self.api_east, "API east"),
            (self.api_west, "API west"),
            (self.pg_east, "PostgreSQL east"),
            (self.pg_west, "PostgreSQL west"),
            (self.link_to_east, "link to east"),
            (self.link_to_west, "link to west"),
            (self.witness_to_east, "witness link to east"),
            (self.witness_to_west, "witness link to west"),
            (self.canary_east, "canary API east"),
            (self.canary_west, "canary API west"),
        ]
        .into_iter()
        .filter(|(p, _)| *p != 0)
        .collect()
    }

    /// The link port through which the witness reaches `region`'s PostgreSQL (0: none).
    pub fn witness_to(&self, region: &str) -> u16 {
        if region == "east" {
            self.witness_to_east
        } else {
            self.witness_to_west
        }
    }

    pub fn api(&self, region: &str) -> u16 {
        if region == "east" {
            self.api_east
        } else {
            self.api_west
        }
    }

    /// The port of `region`'s canary API during a deploy (0: none).
    pub fn canary(&self, region: &str) -> u16 {
        if region == "east" {
            self.canary_east
        } else {
            self.canary_west
        }
    }

    pub fn pg(&self, region: &str) -> u16 {
        if region == "east" {
            self.pg_east
        } else {
            self.pg_west
        }
    }

    /// The link port through which the other region reaches `region`'s PostgreSQL.
    pub fn link_to(&self, region: &str) -> u16 {
        if region == "east" {
            self.link_to_east
        } else {
            self.link_to_west
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackSpec {
    pub ports: Ports,
    pub rpo: Rpo,
    pub health: HealthSettings,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub autopilot: AutopilotLaunch,
    /// The APIs' settings (`[environments.local.api]` when the stack was created).
    #[serde(default)]
    pub api: crate::config::ApiSettings,
}

/// How `dev up` starts the autopilot: its policy, and the environment it acts for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AutopilotLaunch {
    pub settings: crate::config::AutopilotSettings,
    /// The environment's name (its plans are journaled under it).
    pub env: String,
}

impl Default for AutopilotLaunch {
    fn default() -> Self {
        AutopilotLaunch {
            settings: Default::default(),
            env: crate::config::DEFAULT_ENV.into(),
        }
    }
}

impl StackSpec {
    /// The spec a local environment describes; `port_base` / `rpo` override its settings.
    pub fn from_env(
        env: &crate::config::LocalEnv,
        port_base: Option<u16>,
        rpo: Option<Rpo>,
    ) -> Result<StackSpec, String> {
        Ok(StackSpec {
            ports: match port_base.or(env.port_base) {
                Some(b) => Ports::from_base(b)?,
                None => Ports::default(),
            },
            rpo: rpo.unwrap_or(env.rpo),
            health: env.health.clone(),
            thresholds: env.thresholds.clone(),
            autopilot: AutopilotLaunch {
                settings: env.autopilot.clone(),
                env: crate::config::DEFAULT_ENV.into(),
            },
            api: (*env.api).clone(),
        })
    }
}

/// `stack.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackFile {
    pub pmctl_version: String,
    pub pg_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub spec: StackSpec,
    pub admin_token: String,
}

/// An existing stack's files and handles.
#[derive(Debug, Clone)]
pub struct Stack {
    pub root: PathBuf,
    pub file: StackFile,
}

/// The link through which the witness (autopilot) reaches `region`'s PostgreSQL.
pub fn witness_link_name(region: &str) -> String {
    format!("witness-to-{region}")
}

pub fn link_name(to_region: &str) -> String {
    format!("repl-to-{to_region}")
}

impl Stack {
    pub fn open(root: &Path) -> Result<Stack, StackError> {
        let p = root.join("stack.json");
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StackError::NotUp(root.to_path_buf()))
            }
            Err(e) => return Err(io(format!("reading {}", p.display()))(e)),
        };
        let file = serde_json::from_str(&text).map_err(|e| StackError::Damaged {
            dir: root.to_path_buf(),
            what: format!("stack.json is unreadable ({e})"),
        })?;
        Ok(Stack {
            root: root.to_path_buf(),
            file,
        })
    }

    pub fn spec(&self) -> &StackSpec {
        &self.file.spec
    }
    /// Written when a failover fences `region`; removed when it is rebuilt as a replica.
    pub fn fence_marker(&self, region: &str) -> PathBuf {
        self.root.join(region).join("fenced.json")
    }
    pub fn pg_dir(&self, region: &str) -> PathBuf {
        self.root.join(region).join("pg")
    }
    pub fn log(&self, component: &str) -> PathBuf {
        self.root.join("logs").join(format!("{component}.log"))
    }
    pub fn pid_file(&self, component: &str) -> PathBuf {
        self.root.join("run").join(format!("{component}.pid"))
    }
    pub fn keys(&self) -> DevKeys {
        DevKeys::at(&self.root.join("jwt"))
    }
    pub fn net_config_file(&self) -> PathBuf {
        self.root.join("net.json")
    }
    pub fn frontdoor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.spec().ports.frontdoor)
    }
    pub fn api_url(&self, region: &str) -> String {
        format!("http://127.0.0.1:{}", self.spec().ports.api(region))
    }
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.spec().ports.admin)
    }
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(&self.admin_url(), &self.file.admin_token).expect("admin client")
    }
    /// Direct URL of a region's database, with the superuser password (for pmctl itself and
    /// the APIs; replicas stream through links). A secret: never log or print it.
    pub fn db_url(&self, region: &str) -> String {
        self.db_url_at(self.spec().ports.pg(region))
    }

    /// The database URL through another port (a link in front of a region's PostgreSQL).
    /// A secret, like [`Stack::db_url`].
    pub fn db_url_at(&self, port: u16) -> String {
        match self.db_password() {
            Some(pw) => format!("postgres://postgres:{pw}@127.0.0.1:{port}/{DB_NAME}"),
            // A stack created before passwords: trust authentication.
            None => format!("postgres://postgres@127.0.0.1:{port}/{DB_NAME}"),
        }
    }

    /// The PostgreSQL superuser password, from the regions' password files (both hold the
    /// same one: a physical replica has its source's roles). `None` for a stack created
    /// without one.
    pub fn db_password(&self) -> Option<String> {
        REGIONS
            .iter()
            .find_map(|r| pgcluster::read_password(&self.pg_dir(r)).ok().flatten())
    }

    /// `text` with the database password replaced by `***` (for errors from code that may
    /// have seen a connection URL).
    pub fn redact(&self, text: &str) -> String {
        match self.db_password() {
            Some(pw) if !pw.is_empty() => text.replace(&pw, "***"),
            _ => text.to_string(),
        }
    }
    pub fn cluster(&self, region: &str) -> Result<Cluster, StackError> {
        let bin = PgBin::locate().map_err(pg("postgres"))?;
        Cluster::open(&bin, &self.pg_dir(region)).map_err(|e| StackError::Damaged {
            dir: self.root.clone(),
            what: format!("{region}'s database directory: {e}"),
        })
    }
    pub fn api_pid(&self, region: &str) -> Option<u32> {
        process::read_pid(&self.pid_file(&format!("api-{region}")), "serve")
    }
    pub fn net_pid(&self) -> Option<u32> {
        process::read_pid(&self.pid_file("net"), "net")
    }
    pub fn autopilot_pid(&self) -> Option<u32> {
        process::read_pid(&self.pid_file("autopilot"), "autopilot")
    }

    /// Starts the autopilot (the witness: `pmctl autopilot run`) if it is enabled and not
    /// running. It reads its policy from `stack.json` and journals to the state directory.
    pub async fn ensure_autopilot(&self, shell: &Shell) -> Result<bool, StackError> {
        if !self.spec().autopilot.settings.enabled || self.autopilot_pid().is_some() {
            return Ok(false);
        }
        let exe = std::env::current_exe().map_err(io("locating the pmctl executable"))?;
        shell.status("Starting", "autopilot (the witness)");
        let log = self.log("autopilot");
        let pid_file = self.pid_file("autopilot");
        let _ = std::fs::remove_file(&pid_file);
        process::spawn_detached(
            &exe,
            [
                "--state-dir".as_ref(),
                self.root.as_os_str(),
                "autopilot".as_ref(),
                "run".as_ref(),
                "--from-stack".as_ref(),
            ],
            &[],
            &log,
            &pid_file,
        )
        .map_err(io("starting the autopilot"))?;
        let ready = self.root.join("run").join("autopilot.ready");
        let pid_file2 = pid_file.clone();
        wait_until("autopilot", Duration::from_secs(30), &log, || {
            let (ready, pid_file) = (ready.clone(), pid_file2.clone());
            async move {
                let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
                // The autopilot writes its pid (and policy) once it has observed once.
                let ready_pid = std::fs::read_to_string(&ready)
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .and_then(|v| v["pid"].as_u64())
                    .map(|p| p.to_string());
                if !pid.trim().is_empty() && ready_pid.as_deref() == Some(pid.trim()) {
                    Ok(())
                } else {
                    Err("not observing yet".to_string())
                }
            }
        })
        .await?;
        Ok(true)
    }

    /// The `synchronous_standby_names` a writer in `writer` should have.
    pub fn sync_names_for(&self, writer: &str) -> String {
        match self.spec().rpo {
            Rpo::Zero => other_region(writer).to_string(),
            Rpo::Async => String::new(),
        }
    }

    fn net_config(&self, primary: &str) -> NetConfig {
        let p = &self.spec().ports;
        let h = &self.spec().health;
        let lh = |port: u16| format!("127.0.0.1:{port}").parse().expect("addr");
        NetConfig {
            admin_listen: lh(p.admin),
            admin_token: self.file.admin_token.clone(),
            state_file: self.root.join("net-state.json"),
            frontdoor: FrontDoorConfig {
                listen: lh(p.frontdoor),
                regions: REGIONS
                    .iter()
                    .map(|r| RegionRecord {
                        name: r.to_string(),
                        upstream: self.api_url(r),
                    })
                    .collect(),
                initial_primary: primary.to_string(),
                health: HealthCheckConfig {
                    path: "/ready".into(),
                    interval_ms: h.interval_ms,
                    timeout_ms: h.timeout_ms,
                    failure_threshold: h.failure_threshold,
                    success_threshold: h.success_threshold,
                },
                upstream_timeout_ms: 10_000,
                window_secs: 60,
            },
            links: REGIONS
                .iter()
                .map(|r| LinkConfig {
                    name: link_name(r),
                    listen: lh(p.link_to(r)),
                    target: lh(p.pg(r)),
                })
                .chain(
                    REGIONS
                        .iter()
                        .filter(|r| p.witness_to(r) != 0)
                        .map(|r| LinkConfig {
                            name: witness_link_name(r),
                            listen: lh(p.witness_to(r)),
                            target: lh(p.pg(r)),
                        }),
                )
                .collect(),
        }
    }

    /// Starts the net process (front door, links, admin API) if it is not running. Its
    /// PRIMARY record starts at `primary` (the writer, as the databases say) unless its
    /// state file already records one (the last region change).
    pub async fn ensure_net(
        &self,
        primary: Option<&str>,
        shell: &Shell,
    ) -> Result<bool, StackError> {
        if self.net_pid().is_some() {
            return Ok(false);
        }
        let cfg_path = self.net_config_file();
        let cfg = match NetConfig::load(&cfg_path) {
            Ok(mut cfg) => {
                if let Some(p) = primary {
                    cfg.frontdoor.initial_primary = p.to_string();
                }
                cfg
            }
            Err(_) => self.net_config(primary.unwrap_or(REGIONS[0])),
        };
        let text = serde_json::to_string_pretty(&cfg).expect("serialise");
        write_private(&cfg_path, text.as_bytes()).map_err(io("writing net.json"))?;
        let exe = std::env::current_exe().map_err(io("locating the pmctl executable"))?;
        shell.status("Starting", "front door and links");
        let log = self.log("net");
        process::spawn_detached(
            &exe,
            [
                "internal".as_ref(),
                "net".as_ref(),
                "--config".as_ref(),
                cfg_path.as_os_str(),
            ],
            &[],
            &log,
            &self.pid_file("net"),
        )
        .map_err(io("starting the net process"))?;
        let admin = self.admin();
        wait_until("front door", Duration::from_secs(20), &log, || async {
            admin.health().await.map_err(|e| e.to_string())
        })
        .await?;
        Ok(true)
    }

    /// Starts a region's API process if it is not running: the release the last deploy
    /// left in the region (`releases.json`), else the built-in server.
    pub async fn ensure_api(&self, region: &str, shell: &Shell) -> Result<bool, StackError> {
        if self.api_pid(region).is_some() {
            return Ok(false);
        }
        let release = super::release::Releases::load(&self.root)?.current(region);
        super::release::spawn_api(
            self,
            region,
            super::release::Slot::Main,
            release.as_ref(),
            shell,
        )
        .await?;
        Ok(true)
    }

    /// Starts a region's PostgreSQL if it is stopped.
    pub fn ensure_pg(&self, region: &str, shell: &Shell) -> Result<bool, StackError> {
        let c = self.cluster(region)?;
        if let Some(pid) = c.pid() {
            // Frozen (SIGSTOPped, e.g. by a drill that was killed): running, but hung.
            if process::frozen(pid) {
                shell.status(
                    "Continuing",
                    format!("PostgreSQL {region} (pid {pid} was frozen)"),
                );
                process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
                return Ok(true);
            }
            return Ok(false);
        }
        shell.status("Starting", format!("PostgreSQL {region} on :{}", c.port()));
        c.start(Duration::from_secs(60))
            .map_err(pg(&format!("PostgreSQL {region}")))?;
        Ok(true)
    }
}

impl Stack {
    /// Waits until the front door's health checks see every region healthy, so the first
    /// requests after `dev up` go where the records say (checks of APIs that were still
    /// starting may have failed).
    pub async fn wait_frontdoor_settled(&self) -> Result<(), StackError> {
        let admin = self.admin();
        wait_until(
            "front door health checks",
            Duration::from_secs(30),
            &self.log("net"),
            || async {
                let st = admin.state().await.map_err(|e| e.to_string())?;
                if st.health.iter().all(|h| h.healthy) && st.routing_to == st.primary {
                    Ok(())
                } else {
                    Err(format!(
                        "health: {:?}",
                        st.health
                            .iter()
                            .map(|h| (&h.region, h.healthy))
                            .collect::<Vec<_>>()
                    ))
                }
            },
        )
        .await
    }
}

/// Settings of `pm-api serve` passed through from pmctl's environment to the dev stack's
/// APIs (e.g. `PM_ALLOCATION=deferred pmctl dev up`); they win over the stack's recorded
/// `[environments.local.api]` settings.
pub(crate) const API_TUNING: &[&str] = &[
    "PM_ALLOCATION",
    "PM_MAX_IN_FLIGHT",
    "PM_MAX_QUEUE",
    "PM_QUEUE_TIMEOUT_MS",
];

/// The API server program: pmctl itself (`pmctl internal api serve …` runs the same server
/// code as `pm-api serve`, so the API always matches this pmctl's version), or the binary
/// named by `PMCTL_PM_API` (e.g. a separately built `pm-api`).
pub(crate) fn api_program() -> Result<(PathBuf, Vec<String>), StackError> {
    if let Ok(p) = std::env::var("PMCTL_PM_API") {
        return Ok((PathBuf::from(p), vec![]));
    }
    let exe = std::env::current_exe().map_err(io("locating the pmctl executable"))?;
    Ok((exe, vec!["internal".into(), "api".into()]))
}

pub(crate) async fn wait_until<F, Fut>(
    component: &str,
    timeout: Duration,
    log: &Path,
    mut check: F,
) -> Result<(), StackError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(why) if start.elapsed() >= timeout => {
                return Err(StackError::NotReady {
                    component: component.to_string(),
                    secs: timeout.as_secs(),
                    why,
                    log: log.to_path_buf(),
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub(crate) use crate::sys::write_private;

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpOutcome {
    /// Everything was already running: nothing done.
    AlreadyUp,
    /// An existing stack had stopped components, now started.
    Repaired {
        started: Vec<String>,
    },
    Created,
}

/// `pmctl dev up`: creates the stack, or repairs a half-started one, or does nothing.
///
/// Repairing starts every component it can, whatever fails: the error
/// ([`StackError::Incomplete`]) lists each failure with its component and, where there is
/// one, the command that fixes it (a diverged former writer: `pmctl dev rebuild REGION`).
pub async fn up(root: &Path, spec: StackSpec, shell: &Shell) -> Result<UpOutcome, StackError> {
    if root.exists() && !root.is_dir() {
        return Err(StackError::StateDir {
            dir: root.to_path_buf(),
            reason: "exists and is not a directory".into(),
        });
    }
    std::fs::create_dir_all(root).map_err(|e| StackError::StateDir {
        dir: root.to_path_buf(),
        reason: format!("cannot create it: {e}"),
    })?;
    let _lock = StateLock::acquire(root, "dev up")?;
    if let Some(h) = &_lock.stale {
        shell.warn(h.stale_warning());
    }
    if root.join("stack.json").exists() {
        let stack = Stack::open(root)?;
        return super::repair::repair(&stack, shell).await;
    }
    create(root, spec, shell).await?;
    Ok(UpOutcome::Created)
}

async fn create(root: &Path, spec: StackSpec, shell: &Shell) -> Result<(), StackError> {
    for (port, purpose) in spec.ports.all() {
        if !process::port_free(port) {
            return Err(StackError::PortBusy {
                port,
                purpose: purpose.to_string(),
            });
        }
    }
    let bin = PgBin::locate().map_err(pg("postgres"))?;
    let pg_version = bin.version().map_err(pg("postgres"))?;
    let mut token = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut token);
    let mut password = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut password);
    let password = hex::encode(password);
    let stack = Stack {
        root: root.to_path_buf(),
        file: StackFile {
            pmctl_version: env!("CARGO_PKG_VERSION").into(),
            pg_version,
            created_at: chrono::Utc::now(),
            spec,
            admin_token: hex::encode(token),
        },
    };
    // Written first, so a half-built stack can be found and torn down by `dev down`.
    write_private(
        &root.join("stack.json"),
        serde_json::to_string_pretty(&stack.file)
            .expect("serialise")
            .as_bytes(),
    )
    .map_err(io("writing stack.json"))?;
    let result = build(&stack, &bin, &password, shell).await;
    if result.is_err() {
        shell.warn(format!(
            "dev up failed; the partial stack is left in {} for inspection (`pmctl dev logs`), remove it with `pmctl dev down`",
            root.display()
        ));
    }
    result
}

async fn build(
    stack: &Stack,
    bin: &PgBin,
    password: &str,
    shell: &Shell,
) -> Result<(), StackError> {
    let root = &stack.root;
    let spinner = shell.spinner("generating the dev signing key");
    stack.keys().ensure()?;
    drop(spinner);
    let ports = &stack.spec().ports;
    let (east, west) = (REGIONS[0], REGIONS[1]);

    // Region east: the writer.
    for r in REGIONS {
        let d = root.join(r);
        std::fs::create_dir_all(&d).map_err(io(format!("creating {}", d.display())))?;
        bin.prepare_path_for_postgres(&d).map_err(pg("postgres"))?;
    }
    shell.status(
        "Creating",
        format!("PostgreSQL {east} (writer) on :{}", ports.pg_east),
    );
    // Synchronous replication is switched on once the replica streams: before that, every
    // commit (CREATE DATABASE, migrations) would wait for a standby that does not exist.
    let primary = Cluster::init(
        bin,
        &stack.pg_dir(east),
        &InitOptions {
            port: ports.pg_east,
            synchronous_standby_names: None,
            settings: vec![],
            fsync: true,
            // TCP (replication too) needs it: scram-sha-256 in pg_hba.conf.
            superuser_password: Some(password.to_string()),
        },
    )
    .map_err(pg("PostgreSQL east"))?;
    primary
        .start(Duration::from_secs(60))
        .map_err(pg("PostgreSQL east"))?;
    let admin_url = primary.url("postgres");
    pgcluster::wait_ready(&admin_url, Duration::from_secs(30))
        .await
        .map_err(pg("PostgreSQL east"))?;
    init_database(&admin_url, &stack.db_url(east), east).await?;

    // Links first: the replica is cloned and streams through one.
    stack.ensure_net(Some(east), shell).await?;

    shell.status(
        "Cloning",
        format!("PostgreSQL {west} (replica) on :{} via link", ports.pg_west),
    );
    let spinner = shell.spinner("pg_basebackup from east");
    // West authenticates to east (copy, then streaming) with its own password file.
    pgcluster::write_passfile(bin, &stack.pg_dir(west), password).map_err(pg("PostgreSQL west"))?;
    let replica = Cluster::basebackup(
        bin,
        "127.0.0.1",
        ports.link_to_east,
        &stack.pg_dir(west),
        &ReplicaOptions {
            port: ports.pg_west,
            slot: west.to_string(),
            application_name: west.to_string(),
        },
    )
    .map_err(pg("PostgreSQL west"))?;
    drop(spinner);
    // West must not demand a sync standby of its own while it is a replica; set for later.
    replica
        .start(Duration::from_secs(60))
        .map_err(pg("PostgreSQL west"))?;

    for r in REGIONS {
        stack.ensure_api(r, shell).await?;
    }

    let spinner = shell.spinner("waiting for streaming replication");
    let rpo = stack.spec().rpo;
    let sync = stack.sync_names_for(east);
    if !sync.is_empty() {
        primary
            .set_setting("synchronous_standby_names", &sync)
            .map_err(pg("PostgreSQL east"))?;
    }
    wait_until(
        "replication east → west",
        Duration::from_secs(60),
        replica.log_file(),
        || async {
            let rows = pgcluster::replication_status(&admin_url)
                .await
                .map_err(|e| e.to_string())?;
            let ok = rows.iter().any(|r| {
                r.application_name == west
                    && r.state == "streaming"
                    && (rpo == Rpo::Async || r.sync_state == "sync")
            });
            if ok {
                Ok(())
            } else {
                Err("west is not streaming yet".into())
            }
        },
    )
    .await?;
    drop(spinner);
    stack.wait_frontdoor_settled().await?;
    stack.ensure_autopilot(shell).await?;
    shell.status("Ready", format!("front door on {}", stack.frontdoor_url()));
    Ok(())
}

/// Creates the application database, migrates it, and records east as writer (epoch 1).
async fn init_database(admin_url: &str, db_url: &str, writer: &str) -> Result<(), StackError> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| StackError::Migrate(e.to_string()))?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(DB_NAME)
        .fetch_optional(&mut c)
        .await
        .map_err(|e| StackError::Migrate(e.to_string()))?;
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE {DB_NAME}"))
            .execute(&mut c)
            .await
            .map_err(|e| StackError::Migrate(e.to_string()))?;
    }
    c.close().await.ok();
    let pool = sqlx::PgPool::connect(db_url)
        .await
        .map_err(|e| StackError::Migrate(e.to_string()))?;
    pm_api::MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StackError::Migrate(e.to_string()))?;
    sqlx::query(
        "INSERT INTO region_topology (writer_region, epoch) VALUES ($1, 1)
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(writer)
    .execute(&pool)
    .await
    .map_err(|e| StackError::Migrate(e.to_string()))?;
    pool.close().await;
    Ok(())
}

#[derive(Debug, Serialize, Default)]
pub struct DownReport {
    pub stopped: Vec<String>,
    pub removed: bool,
}

/// `pmctl dev down`: stops every component (gracefully, then killed after a timeout) and
/// removes the state directory unless `keep_data`.
pub async fn down(root: &Path, keep_data: bool, shell: &Shell) -> Result<DownReport, StackError> {
    let mut report = DownReport::default();
    if !root.join("stack.json").exists() {
        return Err(StackError::NotUp(root.to_path_buf()));
    }
    let _lock = StateLock::acquire(root, "dev down")?;
    let stack = Stack::open(root)?;
    let grace = Duration::from_secs(10);
    // The witness first: it must not watch the regions go down.
    if let Some(pid) = stack.autopilot_pid() {
        shell.status("Stopping", format!("autopilot (pid {pid})"));
        process::stop(pid, grace);
        report.stopped.push("autopilot".into());
    }
    for r in REGIONS {
        if let Some(pid) = super::release::pid(&stack, r, super::release::Slot::Canary) {
            shell.status("Stopping", format!("canary API {r} (pid {pid})"));
            process::stop(pid, grace);
            report.stopped.push(format!("canary-{r}"));
        }
        if let Some(pid) = stack.api_pid(r) {
            shell.status("Stopping", format!("API {r} (pid {pid})"));
            process::stop(pid, grace);
            report.stopped.push(format!("api-{r}"));
        }
    }
    if let Some(pid) = stack.net_pid() {
        shell.status("Stopping", format!("front door and links (pid {pid})"));
        process::stop(pid, grace);
        report.stopped.push("net".into());
    }
    if let Ok(bin) = PgBin::locate() {
        for r in REGIONS {
            if let Ok(c) = Cluster::open(&bin, &stack.pg_dir(r)) {
                if c.pid().is_some() {
                    shell.status("Stopping", format!("PostgreSQL {r}"));
                    // A SIGSTOPped (hung) postmaster must be continued to shut down.
                    if let Some(pid) = c.pid() {
                        crate::devstack::process::signal_tree(
                            pid,
                            nix::sys::signal::Signal::SIGCONT,
                        );
                    }
                    if c.stop(StopMode::Fast, Duration::from_secs(15)).is_err() {
                        c.stop(StopMode::Immediate, Duration::from_secs(15))
                            .map_err(pg(&format!("PostgreSQL {r}")))?;
                    }
                    report.stopped.push(format!("postgres-{r}"));
                }
            }
        }
    }
    if !keep_data {
        drop(_lock);
        std::fs::remove_dir_all(root).map_err(io(format!("removing {}", root.display())))?;
        report.removed = true;
    }
    Ok(report)
}

pub use super::status::{status, ComponentStatus, StackStatus};
