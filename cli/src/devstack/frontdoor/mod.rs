//! Front door: an HTTP reverse proxy with Route 53 failover-routing semantics.
//!
//! * **Records.** Each region has an upstream base URL (its pm-api). One region is PRIMARY,
//!   the other SECONDARY; [`FrontDoor::set_primary`] UPSERTs both records at once and takes
//!   effect on the next request.
//! * **Health checks.** Every `interval_ms` each region gets `GET <upstream><path>` on a fresh
//!   connection with a `timeout_ms` timeout; healthy iff HTTP 200. A healthy region turns
//!   unhealthy after `failure_threshold` consecutive failures, an unhealthy one healthy after
//!   `success_threshold` consecutive successes. Like a new Route 53 health check, every region
//!   **starts healthy** (so a freshly started front door routes to PRIMARY at once).
//! * **Routing**, per request: PRIMARY if healthy, else SECONDARY if healthy, else PRIMARY
//!   (fail open when both are unhealthy). No retry on the other region: DNS does not retry.
//!   Dead differs from busy: a SECONDARY whose `/ready` says `db_role: replica` gets the
//!   traffic only when nothing listens at PRIMARY (an outage), never because PRIMARY is
//!   slow or erroring (load).
//! * **Forwarding**: method, path, query, headers (hop-by-hop headers stripped both ways,
//!   `X-Forwarded-For`/`-Host`/`-Proto` added) and body are streamed to the upstream; the
//!   response gets `x-pm-region: <region>`. Connect errors → 502, no response headers within
//!   `upstream_timeout_ms` → 504, both `application/problem+json`.
//! * **Write block** (planned switchover): every method but GET/HEAD/OPTIONS gets 503
//!   problem+json with `Retry-After: 1` without reaching an upstream.
//! * **Metrics** per region: requests, 5xx (including the front door's own 502/504) and an HDR
//!   histogram of the time to response headers, cumulative and over the last `window_secs`
//!   (one-second buckets).

mod canary;
mod config;
mod health;
mod metrics;
mod proxy;

pub use canary::{CanarySnapshot, CanarySpec};
pub use config::{FrontDoorConfig, HealthCheckConfig, RegionRecord};
pub use health::HealthSnapshot;
pub use metrics::{LatencySummary, MetricsCounts, MetricsSnapshot, RegionMetricsSnapshot};
pub use proxy::problem;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use chrono::Utc;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use config::parse_upstream;
use health::HealthState;
use metrics::{MetricsEpoch, RegionMetrics};

/// The response header naming the region that served (or failed) a request.
pub const REGION_HEADER: &str = "x-pm-region";
/// The API's mark on a 503 of its admission control (load shedding).
pub use pm_api::admission::SHED_HEADER;

/// A record's role, as in Route 53 failover routing.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    Primary,
    Secondary,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RecordSnapshot {
    pub region: String,
    pub upstream: String,
    pub role: Role,
}

/// Returned by [`FrontDoor::set_primary`] for a region that has no record.
#[derive(Debug, thiserror::Error)]
#[error("unknown region {region:?} (known: {known})")]
pub struct UnknownRegion {
    pub region: String,
    pub known: String,
}

struct Region {
    name: String,
    /// Base URL without trailing `/`.
    upstream: String,
    health: Mutex<HealthState>,
    metrics: Mutex<RegionMetrics>,
    /// A deploy's canary target beside `upstream` (see `canary.rs`).
    canary: Mutex<Option<canary::Canary>>,
}

/// The front door's shared state: records, health, write block, metrics and the upstream
/// client. Serve it with [`FrontDoor::router`] and keep it fresh with
/// [`FrontDoor::spawn_health_checks`].
pub struct FrontDoor {
    regions: Vec<Region>,
    primary: AtomicUsize,
    writes_blocked: AtomicBool,
    write_blocked_rejections: AtomicU64,
    health: HealthCheckConfig,
    upstream_timeout: Duration,
    window_secs: u64,
    epoch: Mutex<MetricsEpoch>,
    /// Pooled client for proxied requests.
    client: Client<HttpConnector, Body>,
    /// Unpooled client for health checks: each check opens a fresh connection.
    checker: Client<HttpConnector, Body>,
}

impl FrontDoor {
    /// Builds the front door from a valid configuration with the given PRIMARY and write block.
    pub fn new(
        config: &FrontDoorConfig,
        primary: &str,
        writes_blocked: bool,
    ) -> Result<Arc<FrontDoor>, String> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let regions = config
            .regions
            .iter()
            .map(|r| Region {
                name: r.name.clone(),
                upstream: parse_upstream(&r.upstream).expect("validated above"),
                health: Mutex::new(HealthState::starting_healthy()),
                metrics: Mutex::new(RegionMetrics::new()),
                canary: Mutex::new(None),
            })
            .collect::<Vec<_>>();
        let primary = regions
            .iter()
            .position(|r| r.name == primary)
            .ok_or_else(|| format!("primary {primary:?} is not among the regions"))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_millis(config.upstream_timeout_ms)));
        let client = Client::builder(TokioExecutor::new()).build(connector.clone());
        let mut checker_connector = connector;
        checker_connector
            .set_connect_timeout(Some(Duration::from_millis(config.health.timeout_ms)));
        let checker = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(checker_connector);
        Ok(Arc::new(FrontDoor {
            regions,
            primary: AtomicUsize::new(primary),
            writes_blocked: AtomicBool::new(writes_blocked),
            write_blocked_rejections: AtomicU64::new(0),
            health: config.health.clone(),
            upstream_timeout: Duration::from_millis(config.upstream_timeout_ms),
            window_secs: config.window_secs,
            epoch: Mutex::new(MetricsEpoch {
                instant: Instant::now(),
                wall: Utc::now(),
            }),
            client,
            checker,
        }))
    }

    /// The PRIMARY region's name.
    pub fn primary(&self) -> &str {
        &self.regions[self.primary.load(Ordering::SeqCst)].name
    }

    /// UPSERTs the records so that `region` is PRIMARY and the other SECONDARY.
    pub fn set_primary(&self, region: &str) -> Result<(), UnknownRegion> {
        let index = self
            .regions
            .iter()
            .position(|r| r.name == region)
            .ok_or_else(|| UnknownRegion {
                region: region.to_string(),
                known: self
                    .regions
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let old = self.primary.swap(index, Ordering::SeqCst);
        if old != index {
            tracing::info!(primary = region, "front door records UPSERTed: new PRIMARY");
        }
        Ok(())
    }

    pub fn writes_blocked(&self) -> bool {
        self.writes_blocked.load(Ordering::SeqCst)
    }

    pub fn set_writes_blocked(&self, blocked: bool) {
        if self.writes_blocked.swap(blocked, Ordering::SeqCst) != blocked {
            tracing::info!(blocked, "front door write block changed");
        }
    }

    fn is_healthy(&self, index: usize) -> bool {
        lock(&self.regions[index].health).healthy
    }

    /// Route 53 failover — PRIMARY if healthy, else SECONDARY if healthy, else PRIMARY —
    /// telling dead from busy: a SECONDARY whose database is a replica is a target only
    /// when nothing listens at PRIMARY any more (an outage: reads served there, writes
    /// answered 503 naming the writer until a failover). A PRIMARY that is only slow or
    /// erroring (load) keeps the traffic, so load never moves it to the replica.
    pub(super) fn route_index(&self) -> usize {
        let primary = self.primary.load(Ordering::SeqCst);
        if self.is_healthy(primary) {
            return primary;
        }
        let dead = lock(&self.regions[primary].health).dead(self.health.failure_threshold);
        (0..self.regions.len())
            .filter(|&i| i != primary)
            .find(|&i| {
                let h = lock(&self.regions[i].health);
                h.healthy && (h.writable() || dead)
            })
            .unwrap_or(primary)
    }

    /// The region new requests go to now.
    pub fn routing_to(&self) -> &str {
        &self.regions[self.route_index()].name
    }

    pub fn records(&self) -> Vec<RecordSnapshot> {
        let primary = self.primary.load(Ordering::SeqCst);
        self.regions
            .iter()
            .enumerate()
            .map(|(i, r)| RecordSnapshot {
                region: r.name.clone(),
                upstream: r.upstream.clone(),
                role: if i == primary {
                    Role::Primary
                } else {
                    Role::Secondary
                },
            })
            .collect()
    }
}

/// Locks a std mutex, ignoring poisoning (the guarded data stays consistent per operation).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
