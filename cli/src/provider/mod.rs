//! The provider boundary: the only door between the operations engine and the world.
//! Every operation sees the world through [`Provider::snapshot`] and changes it through the
//! other methods; `local` implements it on the dev stack, an AWS implementation (RDS global
//! clusters, Route 53, CloudWatch) fits the same trait. Every mutating method is idempotent:
//! re-running a step that may have half-happened is safe.

pub mod local;

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{region}: {what}")]
    Region { region: String, what: String },
    #[error("unknown region `{0}`")]
    UnknownRegion(String),
    #[error("DNS / front door: {0}")]
    Dns(String),
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    #[error("{0}")]
    Other(String),
}

impl ProviderError {
    pub fn region(region: &str, what: impl std::fmt::Display) -> ProviderError {
        ProviderError::Region {
            region: region.to_string(),
            what: what.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbRole {
    Writer,
    Replica,
    /// A former writer made read-only (fenced).
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StandbyView {
    pub name: String,
    pub state: String,
    pub sync_state: String,
    pub lag_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionState {
    pub name: String,
    /// The region's API answers /ready with 200.
    pub api_healthy: bool,
    pub api_version: Option<String>,
    pub db_role: DbRole,
    /// Writer: current WAL LSN; replica: last replayed LSN.
    pub lsn: Option<String>,
    /// Replica: bytes behind the writer (None when unknown).
    pub lag_bytes: Option<i64>,
    /// Replica: receiving WAL from the writer right now.
    pub streaming: bool,
    /// Writer: its standbys.
    pub standbys: Vec<StandbyView>,
    /// Writer: `synchronous_standby_names`.
    pub sync_standby_names: Option<String>,
    /// The topology row this region's database holds (writer region, epoch).
    pub topology: Option<(String, i64)>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsState {
    pub primary: String,
    /// The region new requests go to (failover routing applied).
    pub routing_to: String,
    pub healthy: Vec<(String, bool)>,
    pub writes_blocked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub detail: String,
}

/// Traffic figures at the entry point over the last window.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TrafficView {
    pub window_secs: u64,
    pub requests: u64,
    pub errors_5xx: u64,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topology {
    pub environment: String,
    pub rpo: crate::config::Rpo,
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FenceOutcome {
    /// The writer was reachable: made read-only, sessions terminated, stopped.
    Fenced,
    /// Already fenced or stopped.
    AlreadyFenced,
    /// Could not be reached: the data directory was marked so it can only start as a
    /// standby (local), or nothing could be done (reported).
    Unreachable { marked: bool },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RebuildOutcome {
    Rewound,
    Recloned,
    AlreadyReplica,
}

/// The world, as operations see and change it.
#[allow(async_fn_in_trait)]
pub trait Provider {
    fn environment(&self) -> &str;
    fn regions(&self) -> Vec<String>;
    async fn snapshot(&self) -> Result<Topology, ProviderError>;
    /// Stop accepting writes at the entry point (reads continue).
    async fn block_writes(&self, blocked: bool) -> Result<(), ProviderError>;
    /// Make `region`'s database unable to take writes.
    async fn fence(&self, region: &str) -> Result<FenceOutcome, ProviderError>;
    /// Cleanly stop the writer so every byte of WAL reaches its standby. Returns its last LSN.
    async fn stop_writer(&self, region: &str) -> Result<Option<String>, ProviderError>;
    /// Wait until `replica` has received and replayed everything up to `lsn` (or all it
    /// received, when `lsn` is None) and its replay position is stable.
    async fn wait_caught_up(
        &self,
        replica: &str,
        lsn: Option<&str>,
        timeout: Duration,
    ) -> Result<String, ProviderError>;
    /// Promote `region`'s database to writer (idempotent).
    async fn promote(&self, region: &str) -> Result<(), ProviderError>;
    /// Record the writer region and fencing epoch in the writer's database.
    async fn record_topology(&self, writer: &str, epoch: i64) -> Result<(), ProviderError>;
    /// Set which standby the writer waits for (None: none — RPO protection off).
    async fn set_sync_standby(
        &self,
        writer: &str,
        standby: Option<&str>,
    ) -> Result<(), ProviderError>;
    /// Make `region` a streaming replica of `of` (rewind, or re-clone when impossible).
    async fn rebuild_replica(
        &self,
        region: &str,
        of: &str,
    ) -> Result<RebuildOutcome, ProviderError>;
    /// Point the DNS PRIMARY record at `region`.
    async fn set_dns_primary(&self, region: &str) -> Result<(), ProviderError>;
    /// A real write through the entry point; returns the region that served it.
    async fn verify_write(&self, expect_region: &str) -> Result<String, ProviderError>;
}
