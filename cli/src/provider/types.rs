//! The world as operations see it, in neutral terms: regions with a database role, an API,
//! replication (lag in bytes *or* time), routing, alarms and versions. PostgreSQL details
//! (LSNs, standbys) are optional extras a provider may fill in.

use crate::config::{Rpo, Thresholds};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbRole {
    Writer,
    Replica,
    /// A former writer made read-only (fenced) and still running.
    Fenced,
    /// Not reachable.
    Down,
}

impl std::fmt::Display for DbRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbRole::Writer => "writer",
            DbRole::Replica => "replica",
            DbRole::Fenced => "fenced",
            DbRole::Down => "down",
        })
    }
}

/// What a region's API answered on its readiness endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiState {
    /// 200 from `/ready`.
    Ready,
    /// It answers, but is not ready (e.g. its database is down).
    NotReady,
    /// Nothing answers (process or function down, or unreachable).
    Unreachable,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StandbyView {
    pub name: String,
    pub state: String,
    pub sync_state: String,
    pub lag_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegionState {
    pub name: String,
    /// The region's API answers its readiness check with 200.
    pub api_healthy: bool,
    pub api: ApiState,
    pub api_version: Option<String>,
    pub db_role: DbRole,
    /// Replica: receiving changes from the writer right now.
    pub streaming: bool,
    /// Replica: bytes behind the writer (None when unknown or not measured in bytes).
    pub lag_bytes: Option<i64>,
    /// Replica: time behind the writer (None when unknown or not measured in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
    /// Why this region cannot take writes although it may look like it could (fenced by a
    /// failover; rebuilt only by `failback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<String>,
    /// Writer: commits wait for something that is not there (a synchronous standby that is
    /// not connected): writes hang.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes_stall: Option<String>,
    /// The topology record this region's database holds (writer region, fencing epoch).
    pub topology: Option<(String, i64)>,
    /// PostgreSQL extra — writer: current WAL LSN; replica: last replayed LSN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsn: Option<String>,
    /// PostgreSQL extra — writer: its standbys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub standbys: Vec<StandbyView>,
    /// PostgreSQL extra — writer: `synchronous_standby_names`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_standby_names: Option<String>,
    /// Other provider facts worth showing (e.g. an AWS cluster's status).
    pub detail: Option<String>,
}

impl RegionState {
    /// A region about which nothing is known yet.
    pub fn unknown(name: &str) -> RegionState {
        RegionState {
            name: name.to_string(),
            api_healthy: false,
            api: ApiState::Unreachable,
            api_version: None,
            db_role: DbRole::Down,
            streaming: false,
            lag_bytes: None,
            lag_ms: None,
            fenced: None,
            writes_stall: None,
            topology: None,
            lsn: None,
            standbys: vec![],
            sync_standby_names: None,
            detail: None,
        }
    }

    /// The replica's lag in words ("1234 B", "850 ms", "unknown").
    pub fn lag_text(&self) -> String {
        match (self.lag_bytes, self.lag_ms) {
            (Some(b), _) => format!("{b} bytes"),
            (None, Some(ms)) => format!("{ms} ms"),
            _ => "unknown".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DnsState {
    pub primary: String,
    /// The region new requests go to (failover routing applied).
    pub routing_to: String,
    pub healthy: Vec<(String, bool)>,
    pub writes_blocked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub detail: String,
}

/// Traffic figures at the entry point over the last window.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TrafficView {
    pub window_secs: u64,
    pub requests: u64,
    /// Server errors, not counting `shed`.
    pub errors_5xx: u64,
    /// Requests the API refused over capacity (503 + Retry-After, load shedding): busy, not
    /// failing, so not part of the 5xx alarm.
    #[serde(default)]
    pub shed: u64,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Topology {
    pub environment: String,
    pub rpo: Rpo,
    pub regions: Vec<RegionState>,
    /// None when the DNS / front door cannot be read.
    pub dns: Option<DnsState>,
    pub traffic: Option<TrafficView>,
    pub alarms: Vec<Alarm>,
    pub taken_at: chrono::DateTime<chrono::Utc>,
}

impl Topology {
    pub fn region(&self, name: &str) -> Option<&RegionState> {
        self.regions.iter().find(|r| r.name == name)
    }
    pub fn writers(&self) -> Vec<&RegionState> {
        self.regions
            .iter()
            .filter(|r| r.db_role == DbRole::Writer)
            .collect()
    }
    pub fn single_writer(&self) -> Option<&RegionState> {
        match self.writers().as_slice() {
            [w] => Some(w),
            _ => None,
        }
    }
    /// The highest fencing epoch any reachable database knows.
    pub fn epoch(&self) -> i64 {
        self.regions
            .iter()
            .filter_map(|r| r.topology.as_ref().map(|t| t.1))
            .max()
            .unwrap_or(0)
    }
    /// The writer region according to the newest topology record.
    pub fn recorded_writer(&self) -> Option<String> {
        self.regions
            .iter()
            .filter_map(|r| r.topology.clone())
            .max_by_key(|t| t.1)
            .map(|t| t.0)
    }
}

/// Settings read from the environment's configuration on every run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub rpo: Rpo,
    pub thresholds: Thresholds,
}

/// The alarms every provider derives the same way from what it measured: the front door's
/// (or edge's) error ratio and latency, replication lag, RPO protection.
pub fn derived_alarms(
    traffic: Option<&TrafficView>,
    regions: &[RegionState],
    s: &Settings,
) -> Vec<Alarm> {
    let th = &s.thresholds;
    let mut alarms = Vec::new();
    if let Some(t) = traffic {
        if t.requests >= 20 {
            let ratio = t.errors_5xx as f64 / t.requests as f64;
            if ratio > th.max_5xx_ratio {
                alarms.push(Alarm {
                    name: "api-5xx-rate".into(),
                    detail: format!(
                        "{:.1}% of {} requests in the last {}s were 5xx (limit {:.1}%)",
                        ratio * 100.0,
                        t.requests,
                        t.window_secs,
                        th.max_5xx_ratio * 100.0
                    ),
                });
            }
        }
        if let Some(p99) = t.p99_ms.filter(|p| *p > th.max_p99_ms) {
            alarms.push(Alarm {
                name: "api-p99-latency".into(),
                detail: format!(
                    "p99 {p99:.0} ms over the last {}s (limit {:.0} ms)",
                    t.window_secs, th.max_p99_ms
                ),
            });
        }
    }
    for r in regions {
        if let Some(lag) = r.lag_bytes.filter(|l| *l > th.max_lag_bytes) {
            alarms.push(Alarm {
                name: "replication-lag".into(),
                detail: format!(
                    "{} is {lag} bytes behind (limit {})",
                    r.name, th.max_lag_bytes
                ),
            });
        }
        if let Some(ms) = r.lag_ms.filter(|l| *l > th.max_lag_ms) {
            alarms.push(Alarm {
                name: "replication-lag".into(),
                detail: format!("{} is {ms} ms behind (limit {})", r.name, th.max_lag_ms),
            });
        }
    }
    alarms
}
