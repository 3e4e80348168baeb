//! `pmctl.toml`: named environments. Without a file, the one environment is `local`, the dev
//! stack under `.pmctl/local/`. `--env` / `PMCTL_ENV` pick one; `--config` / `PMCTL_CONFIG`
//! point at the file (default `./pmctl.toml` when present).
//!
//! ```toml
//! [environments.local]
//! kind = "local"
//! state_dir = ".pmctl/local"
//! port_base = 8080          # optional: front door = base, APIs base+1/+2, … (see README)
//! rpo = "zero"              # or "async"
//! [environments.local.health]
//! interval_ms = 1000
//! failure_threshold = 3
//! success_threshold = 3
//! [environments.local.autopilot]   # the witness `dev up` starts (README "Autopilot")
//! enabled = true
//! interval_ms = 100
//! probe_timeout_ms = 800
//! detection_window_ms = 500
//! cooldown_secs = 600
//! dry_run = false
//! notify_command = "logger -t pmctl"        # optional; decision JSON on stdin
//! notify_webhook = "http://127.0.0.1:9000/"  # optional
//! [environments.local.deploy]      # pmctl deploy (README "Deploy")
//! architecture = "arm64"       # or "x86_64": what `deploy build` packages
//! canary = "10%:30s,50%:30s"   # default --canary steps
//! gate_max_5xx_ratio = 0.01    # the canary's 5xx share over a step that rolls it back
//! gate_max_p99_ms = 1000       # the canary's p99 over a step that rolls it back
//! gate_min_requests = 10       # requests the canary must have served before the ratio counts
//! [environments.local.thresholds]
//! max_lag_bytes = 16777216
//! failover_max_lag_bytes = 0
//! max_lag_ms = 1000            # lag measured in time (AWS)
//! failover_max_lag_ms = 0
//! max_5xx_ratio = 0.05
//! max_p99_ms = 2000
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown environment `{name}` (known: {known})")]
    UnknownEnv { name: String, known: String },
    #[error("environment `{name}`: {message}")]
    Invalid { name: String, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Rpo {
    /// Synchronous replication: an acknowledged commit is on both regions.
    #[default]
    Zero,
    /// Asynchronous replication: the replica may be behind; failover may lose data.
    Async,
}

impl std::fmt::Display for Rpo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rpo::Zero => "zero",
            Rpo::Async => "async",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            interval_ms: 1000,
            timeout_ms: 800,
            failure_threshold: 3,
            success_threshold: 3,
        }
    }
}

/// Alarm and preflight thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Replication lag above this is an alarm and blocks a switchover.
    pub max_lag_bytes: i64,
    /// With `rpo = "async"`, failover refuses when the last known lag exceeds this, unless
    /// `--accept-data-loss`.
    pub failover_max_lag_bytes: i64,
    /// Replication lag measured in time (AWS: AuroraGlobalDBReplicationLag) above this is
    /// an alarm and blocks a switchover.
    pub max_lag_ms: u64,
    /// With `rpo = "async"`, failover refuses when the last known lag in time exceeds
    /// this (AWS: AuroraGlobalDBRPOLag), unless `--accept-data-loss`.
    pub failover_max_lag_ms: u64,
    /// Share of 5xx responses at the front door (last window) that raises an alarm.
    pub max_5xx_ratio: f64,
    /// p99 latency (ms, last window) that raises an alarm.
    pub max_p99_ms: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            max_lag_bytes: 16 * 1024 * 1024,
            failover_max_lag_bytes: 0,
            max_lag_ms: 1000,
            failover_max_lag_ms: 0,
            max_5xx_ratio: 0.05,
            max_p99_ms: 2000.0,
        }
    }
}

impl Thresholds {
    /// Negative or out-of-range limits are configuration errors, not silent defaults.
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if self.max_lag_bytes < 0 {
            bad.push("thresholds.max_lag_bytes must be at least 0");
        }
        if self.failover_max_lag_bytes < 0 {
            bad.push("thresholds.failover_max_lag_bytes must be at least 0");
        }
        if !(0.0..=1.0).contains(&self.max_5xx_ratio) {
            bad.push("thresholds.max_5xx_ratio must be between 0 and 1");
        }
        if self.max_p99_ms.is_nan() || self.max_p99_ms <= 0.0 {
            bad.push("thresholds.max_p99_ms must be more than 0");
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

/// The autopilot (`pmctl autopilot run`): the always-on control plane's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutopilotSettings {
    /// `pmctl dev up` starts it as the local stack's witness.
    pub enabled: bool,
    /// One round of observations every this many ms.
    pub interval_ms: u64,
    /// A probe that takes longer has failed.
    pub probe_timeout_ms: u64,
    /// The writer must be lost from the witness and from its replica this long.
    pub detection_window_ms: u64,
    /// After an automatic failover, the next one waits for a human this long.
    pub cooldown_secs: u64,
    /// Decide and journal, never act.
    pub dry_run: bool,
    /// Run with `sh -c`, the decision as JSON on stdin (pages and failovers).
    pub notify_command: Option<String>,
    /// POST the decision as JSON here.
    pub notify_webhook: Option<String>,
}

impl Default for AutopilotSettings {
    fn default() -> Self {
        AutopilotSettings {
            enabled: true,
            interval_ms: 100,
            probe_timeout_ms: 800,
            detection_window_ms: 500,
            cooldown_secs: 600,
            dry_run: false,
            notify_command: None,
            notify_webhook: None,
        }
    }
}

impl AutopilotSettings {
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if self.interval_ms == 0 {
            bad.push("autopilot.interval_ms must be more than 0".to_string());
        }
        if self.probe_timeout_ms == 0 {
            bad.push("autopilot.probe_timeout_ms must be more than 0".to_string());
        }
        if self.detection_window_ms < self.interval_ms {
            bad.push(format!(
                "autopilot.detection_window_ms ({}) must be at least interval_ms ({})",
                self.detection_window_ms, self.interval_ms
            ));
        }
        if let Some(u) = &self.notify_webhook {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bad.push(format!(
                    "autopilot.notify_webhook `{u}` is not an http(s) URL"
                ));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

/// A Lambda architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    /// What `infra/modules/api` deploys (Graviton).
    #[default]
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The Rust target that builds for it (glibc; provided.al2023 has glibc 2.34).
    pub fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        })
    }
}

/// `pmctl deploy`: what it builds and how the canary is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploySettings {
    pub architecture: Arch,
    /// The canary steps when `--canary` is not given (`10%:30s,50%:30s`).
    pub canary: String,
    /// The canary's share of 5xx answers over a step above which it is rolled back.
    pub gate_max_5xx_ratio: f64,
    /// The canary's p99 latency (ms) over a step above which it is rolled back.
    pub gate_max_p99_ms: f64,
    /// Requests the canary must have answered before its 5xx share counts.
    pub gate_min_requests: u64,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            architecture: Arch::Arm64,
            canary: "10%:30s,50%:30s".into(),
            gate_max_5xx_ratio: 0.01,
            gate_max_p99_ms: 1000.0,
            gate_min_requests: 10,
        }
    }
}

impl DeploySettings {
    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if !(0.0..=1.0).contains(&self.gate_max_5xx_ratio) {
            bad.push("deploy.gate_max_5xx_ratio must be between 0 and 1");
        }
        if self.gate_max_p99_ms.is_nan() || self.gate_max_p99_ms <= 0.0 {
            bad.push("deploy.gate_max_p99_ms must be more than 0");
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

/// The local stack's API settings (`[environments.local.api]`), passed to every API the
/// stack starts — also the ones a drill or `dev up` restarts, since the stack records them.
/// Unset: the API's own defaults. An environment variable of the same setting
/// (`PM_ALLOCATION`, `PM_MAX_IN_FLIGHT`, `PM_MAX_QUEUE`, `PM_QUEUE_TIMEOUT_MS`) set for
/// `pmctl` wins over the file.
///
/// ```toml
/// [environments.local.api]   # rent day
/// allocation = "deferred"
/// max_in_flight = 64
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    pub allocation: Option<pm_api::state::Allocation>,
    /// Requests running at once (0: no limit; unset: the pool size).
    pub max_in_flight: Option<usize>,
    /// Requests that may wait for a slot; beyond, 503 + Retry-After at once.
    pub max_queue: Option<usize>,
    /// How long a request may wait for a slot.
    pub queue_timeout_ms: Option<u64>,
}

impl ApiSettings {
    /// As `pm-api serve`'s environment variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(a) = self.allocation {
            v.push(("PM_ALLOCATION", a.as_str().to_string()));
        }
        if let Some(n) = self.max_in_flight {
            v.push(("PM_MAX_IN_FLIGHT", n.to_string()));
        }
        if let Some(n) = self.max_queue {
            v.push(("PM_MAX_QUEUE", n.to_string()));
        }
        if let Some(n) = self.queue_timeout_ms {
            v.push(("PM_QUEUE_TIMEOUT_MS", n.to_string()));
        }
        v
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LocalEnv {
    pub state_dir: Option<PathBuf>,
    pub port_base: Option<u16>,
    #[serde(default)]
    pub rpo: Rpo,
    #[serde(default)]
    pub health: HealthSettings,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub autopilot: AutopilotSettings,
    /// Boxed, like `deploy`: `EnvConfig`'s variants stay of a size.
    #[serde(default)]
    pub api: Box<ApiSettings>,
    /// Boxed: it is the largest part and environments are passed around by value.
    #[serde(default)]
    pub deploy: Box<DeploySettings>,
}

/// The AWS environment (`kind = "aws"`): what Terraform exported, in the `terraform`
/// table `pmctl env import` writes (never edited by hand), and pmctl's own settings beside
/// it, which an import leaves alone.
///
/// ```toml
/// [environments.prod]
/// kind = "aws"
/// health_rule = "majority"        # or "route53" (> 18 % of checkers)
/// [environments.prod.thresholds]  # lag in ms: AuroraGlobalDBRPOLag / ReplicationLag
/// max_lag_ms = 1000
/// failover_max_lag_ms = 0
/// [environments.prod.sdk]         # optional; otherwise the standard chain
/// profile = "prod-operator"
/// max_attempts = 3
/// [environments.prod.waits]
/// poll_interval_ms = 5000
/// timeout_secs = 900
/// [environments.prod.api_urls]    # optional: each region's API base URL
/// "us-east-1" = "https://us-east-1.api.example.com"
/// [environments.prod.terraform]   # written by `pmctl env import`
/// …
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsEnv {
    /// `terraform output -json pmctl_environment`, as imported.
    pub terraform: crate::aws::env::AwsEnvironment,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub health_rule: HealthRuleSetting,
    #[serde(default)]
    pub sdk: AwsSdkSettings,
    #[serde(default)]
    pub waits: AwsWaits,
    /// Each region's API base URL (default `https://<regions[].api_custom_domain>`).
    #[serde(default)]
    pub api_urls: BTreeMap<String, String>,
    /// `pmctl deploy build`'s architecture and the canary gate (deploying to AWS itself is
    /// not built yet).
    #[serde(default)]
    pub deploy: Box<DeploySettings>,
}

/// How the health checkers' reports become one verdict per region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthRuleSetting {
    /// More than half of the checker regions report the endpoint healthy.
    #[default]
    Majority,
    /// Route 53's own rule for DNS answers: more than 18 % of checkers.
    Route53,
}

/// How pmctl talks to AWS (everything else from the standard chain: profile, env,
/// `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsSdkSettings {
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per call, the first included (1 = no retries).
    pub max_attempts: u32,
    pub connect_timeout_ms: u64,
    pub attempt_timeout_ms: u64,
    pub operation_timeout_ms: u64,
}

impl Default for AwsSdkSettings {
    fn default() -> Self {
        let d = crate::aws::sdk::SdkSettings::default();
        AwsSdkSettings {
            profile: None,
            endpoint_url: None,
            max_attempts: d.max_attempts,
            connect_timeout_ms: d.connect_timeout.as_millis() as u64,
            attempt_timeout_ms: d.attempt_timeout.as_millis() as u64,
            operation_timeout_ms: d.operation_timeout.as_millis() as u64,
        }
    }
}

impl AwsSdkSettings {
    pub fn to_sdk(&self) -> crate::aws::sdk::SdkSettings {
        use std::time::Duration;
        crate::aws::sdk::SdkSettings {
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            attempt_timeout: Duration::from_millis(self.attempt_timeout_ms),
            operation_timeout: Duration::from_millis(self.operation_timeout_ms),
            max_attempts: self.max_attempts,
            credentials: None,
        }
    }
}

/// Timing of the AWS steps and of the shared lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsWaits {
    /// How often a waiting step polls AWS.
    pub poll_interval_ms: u64,
    /// How long a managed switchover/failover or a rejoin may take.
    pub timeout_secs: u64,
    /// How far back the replication lag is looked for (no datapoint: unknown).
    pub lag_lookback_secs: u64,
    /// A lock note not renewed for this long belongs to a pmctl that died.
    pub lock_ttl_secs: u64,
    /// How long the write verification keeps trying.
    pub verify_timeout_secs: u64,
}

impl Default for AwsWaits {
    fn default() -> Self {
        AwsWaits {
            poll_interval_ms: 5000,
            timeout_secs: 900,
            lag_lookback_secs: 600,
            lock_ttl_secs: 120,
            verify_timeout_secs: 60,
        }
    }
}

impl AwsEnv {
    pub fn validate(&self) -> Result<(), String> {
        self.terraform
            .validate()
            .map_err(|e| format!("{e} (in the `terraform` table; re-run `pmctl env import`)"))?;
        if self.terraform.ops_store.bucket.trim().is_empty() {
            return Err("terraform.ops_store.bucket is empty: the shared operations lock and journal need it (apply infra/ with the ops store, then `pmctl env import` again)".into());
        }
        self.thresholds.validate()?;
        let mut bad = Vec::new();
        let regions = self.terraform.region_names();
        for r in self.api_urls.keys() {
            if !regions.contains(&r.as_str()) {
                bad.push(format!(
                    "api_urls.{r}: not one of the environment's regions ({})",
                    regions.join(", ")
                ));
            }
        }
        for (r, u) in &self.api_urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bad.push(format!("api_urls.{r} `{u}` is not an http(s) URL"));
            }
        }
        if self.sdk.max_attempts == 0 {
            bad.push("sdk.max_attempts must be at least 1".into());
        }
        if self.waits.poll_interval_ms == 0 || self.waits.timeout_secs == 0 {
            bad.push("waits.poll_interval_ms and waits.timeout_secs must be more than 0".into());
        }
        if self.waits.lock_ttl_secs < 3 {
            bad.push("waits.lock_ttl_secs must be at least 3".into());
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EnvConfig {
    Local(LocalEnv),
    Aws(Box<AwsEnv>),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    environments: BTreeMap<String, EnvConfig>,
}

/// The environment a command acts on.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub kind: EnvKind,
}

// One per command: the size of the local variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum EnvKind {
    Local { state_dir: PathBuf, env: LocalEnv },
    Aws(Box<AwsEnv>),
}

pub const DEFAULT_ENV: &str = "local";

/// Resolves `env_name` from the config file (if any); `state_dir` overrides a local
/// environment's state directory.
pub fn resolve(
    config_path: Option<&Path>,
    env_name: &str,
    state_dir: Option<&Path>,
) -> Result<Environment, ConfigError> {
    let (path, file) = match config_path {
        Some(p) => (Some(p.to_path_buf()), Some(read(p)?)),
        None => {
            let p = PathBuf::from("pmctl.toml");
            if p.exists() {
                let f = read(&p)?;
                (Some(p), Some(f))
            } else {
                (None, None)
            }
        }
    };
    let file = file.unwrap_or_default();
    let env = match file.environments.get(env_name) {
        Some(e) => e.clone(),
        None if env_name == DEFAULT_ENV => EnvConfig::Local(LocalEnv::default()),
        None => {
            let mut known: Vec<&str> = file.environments.keys().map(String::as_str).collect();
            if !known.contains(&DEFAULT_ENV) {
                known.insert(0, DEFAULT_ENV);
            }
            let _ = path;
            return Err(ConfigError::UnknownEnv {
                name: env_name.to_string(),
                known: known.join(", "),
            });
        }
    };
    let kind = match env {
        EnvConfig::Local(l) => {
            let h = &l.health;
            if h.interval_ms == 0 || h.failure_threshold == 0 || h.success_threshold == 0 {
                return Err(ConfigError::Invalid {
                    name: env_name.into(),
                    message: "health.interval_ms and the thresholds must be greater than 0".into(),
                });
            }
            // Every bad setting is named at once, not one per attempt.
            let bad: Vec<String> = [
                l.thresholds.validate(),
                l.autopilot.validate(),
                l.deploy.validate(),
            ]
            .into_iter()
            .filter_map(Result::err)
            .collect();
            if !bad.is_empty() {
                return Err(ConfigError::Invalid {
                    name: env_name.into(),
                    message: bad.join("; "),
                });
            }
            let dir = state_dir
                .map(Path::to_path_buf)
                .or_else(|| l.state_dir.clone())
                .unwrap_or_else(|| PathBuf::from(".pmctl").join(env_name));
            EnvKind::Local {
                state_dir: dir,
                env: l,
            }
        }
        EnvConfig::Aws(a) => {
            a.validate().map_err(|message| ConfigError::Invalid {
                name: env_name.into(),
                message,
            })?;
            EnvKind::Aws(a)
        }
    };
    Ok(Environment {
        name: env_name.to_string(),
        kind,
    })
}

fn read(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_local_and_unknown_env_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        std::fs::write(&missing, "").unwrap();
        let e = resolve(Some(&missing), "local", None).unwrap();
        assert!(matches!(e.kind, EnvKind::Local { .. }));
        let err = resolve(Some(&missing), "prod", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown environment `prod`"), "{err}");
    }

    #[test]
    fn api_settings_become_the_apis_environment_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pmctl.toml");
        let with_api = |table: &str| {
            let text = format!(
                "[environments.local]\nkind = \"local\"\n[environments.local.api]\n{table}\n"
            );
            std::fs::write(&p, text).unwrap();
            resolve(Some(&p), "local", None)
        };
        let e = with_api("allocation = \"deferred\"\nmax_in_flight = 64").unwrap();
        let EnvKind::Local { env, .. } = e.kind else {
            panic!("not local");
        };
        assert_eq!(
            env.api.env(),
            vec![
                ("PM_ALLOCATION", "deferred".to_string()),
                ("PM_MAX_IN_FLIGHT", "64".to_string())
            ]
        );
        for (bad, named) in [
            ("allocation = \"later\"", "later"),
            ("max_in_flight = -1", "`-1`, expected usize"),
            ("max_inflight = 64", "max_inflight"),
        ] {
            let err = with_api(bad).unwrap_err().to_string();
            assert!(err.contains(named), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_field_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pmctl.toml");
        std::fs::write(
            &p,
            "[environments.local]\nkind = \"local\"\nrpo = \"sometimes\"\n",
        )
        .unwrap();
        let err = resolve(Some(&p), "local", None).unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("rpo") || err.contains("sometimes"),
            "{err}"
        );
    }
}
