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
//! * **Forwarding**: method, path, query, headers (hop-by-hop headers stripped both ways,
//!   `X-Forwarded-For`/`-Host`/`-Proto` added) and body are streamed to the upstream; the
//!   response gets `x-pm-region: <region>`. Connect errors → 502, no response headers within
//!   `upstream_timeout_ms` → 504, both `application/problem+json`.
//! * **Write block** (planned switchover): every method but GET/HEAD/OPTIONS gets 503
//!   problem+json with `Retry-After: 1` without reaching an upstream.
//! * **Metrics** per region: requests, 5xx (including the front door's own 502/504) and an HDR
//!   histogram of the time to response headers, cumulative and over the last `window_secs`
//!   (one-second buckets).

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Request, Response, StatusCode, Uri, Version};
use axum::Router;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

/// The response header naming the region that served (or failed) a request.
pub const REGION_HEADER: &str = "x-pm-region";

/// Front-door configuration (part of `net.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FrontDoorConfig {
    /// Where clients connect, e.g. `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Exactly two regions; order is only for display.
    pub regions: Vec<RegionRecord>,
    /// The PRIMARY region when no state file says otherwise.
    pub initial_primary: String,
    #[serde(default)]
    pub health: HealthCheckConfig,
    /// Time allowed for an upstream to send response headers (default 10 000).
    #[serde(default = "default_upstream_timeout_ms")]
    pub upstream_timeout_ms: u64,
    /// Length of the sliding metrics window in seconds (default 60).
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
}

/// One region's record: its name and the base URL of its pm-api.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RegionRecord {
    /// e.g. `east`; letters, digits, `-` and `_`.
    pub name: String,
    /// `http://host:port` (an optional path prefix is kept), e.g. `http://127.0.0.1:8081`.
    pub upstream: String,
}

/// Health-check settings, shared by both regions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default)]
pub struct HealthCheckConfig {
    /// Path checked on each upstream (default `/ready`).
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive failures that turn a healthy region unhealthy (default 3).
    pub failure_threshold: u32,
    /// Consecutive successes that turn an unhealthy region healthy (default 3).
    pub success_threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            path: "/ready".to_string(),
            interval_ms: 1000,
            timeout_ms: 1000,
            failure_threshold: 3,
            success_threshold: 3,
        }
    }
}

fn default_upstream_timeout_ms() -> u64 {
    10_000
}

fn default_window_secs() -> u64 {
    60
}

impl FrontDoorConfig {
    /// Every problem with the configuration, one message each (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.regions.len() != 2 {
            problems.push(format!(
                "front door needs exactly two regions (PRIMARY and SECONDARY), found {}",
                self.regions.len()
            ));
        }
        for (i, region) in self.regions.iter().enumerate() {
            if region.name.is_empty()
                || !region
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                problems.push(format!(
                    "region name {:?} must be non-empty letters, digits, '-' or '_'",
                    region.name
                ));
            }
            if self.regions[..i].iter().any(|r| r.name == region.name) {
                problems.push(format!("duplicate region name {:?}", region.name));
            }
            if let Err(reason) = parse_upstream(&region.upstream) {
                problems.push(format!(
                    "region {:?}: invalid upstream {:?}: {reason}",
                    region.name, region.upstream
                ));
            }
        }
        if !self.regions.iter().any(|r| r.name == self.initial_primary) {
            problems.push(format!(
                "initial_primary {:?} is not among the regions ({})",
                self.initial_primary,
                self.region_names().join(", ")
            ));
        }
        let h = &self.health;
        if !h.path.starts_with('/') || h.path.parse::<axum::http::uri::PathAndQuery>().is_err() {
            problems.push(format!(
                "health.path {:?} must be a path starting with '/'",
                h.path
            ));
        }
        for (name, value) in [
            ("health.interval_ms", h.interval_ms),
            ("health.timeout_ms", h.timeout_ms),
            ("health.failure_threshold", u64::from(h.failure_threshold)),
            ("health.success_threshold", u64::from(h.success_threshold)),
            ("upstream_timeout_ms", self.upstream_timeout_ms),
            ("window_secs", self.window_secs),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be greater than 0"));
            }
        }
        if self.window_secs > 3600 {
            problems.push(format!(
                "window_secs must be at most 3600, got {}",
                self.window_secs
            ));
        }
        problems
    }

    pub fn region_names(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.name.clone()).collect()
    }
}

/// Checks an upstream base URL and returns it without a trailing `/`.
fn parse_upstream(upstream: &str) -> Result<String, String> {
    let uri: Uri = upstream.parse().map_err(|e| format!("{e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("scheme must be http://".to_string());
    }
    if uri.authority().is_none() {
        return Err("missing host:port".to_string());
    }
    if uri.query().is_some() {
        return Err("must not have a query".to_string());
    }
    Ok(upstream.trim_end_matches('/').to_string())
}

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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HealthSnapshot {
    pub region: String,
    pub healthy: bool,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    /// Checks run since start.
    pub checks: u64,
    pub last_check: Option<DateTime<Utc>>,
    /// Why the last check failed (`None` once a check succeeds).
    pub last_error: Option<String>,
    /// When `healthy` last flipped.
    pub last_change: Option<DateTime<Utc>>,
}

/// Latency percentiles in milliseconds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricsCounts {
    pub requests: u64,
    pub errors_5xx: u64,
    /// Time to response headers; `None` when there were no requests.
    pub latency_ms: Option<LatencySummary>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RegionMetricsSnapshot {
    pub region: String,
    /// Since start or the last reset.
    pub cumulative: MetricsCounts,
    /// Over the last `window_secs`.
    pub window: MetricsCounts,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    pub window_secs: u64,
    /// Start of the cumulative counts (start or last reset).
    pub since: DateTime<Utc>,
    /// Requests answered 503 by the write block (they reach no region).
    pub write_blocked_rejections: u64,
    pub regions: Vec<RegionMetricsSnapshot>,
}

/// Returned by [`FrontDoor::set_primary`] for a region that has no record.
#[derive(Debug, thiserror::Error)]
#[error("unknown region {region:?} (known: {known})")]
pub struct UnknownRegion {
    pub region: String,
    pub known: String,
}

#[derive(Default)]
struct HealthState {
    healthy: bool,
    consecutive_ok: u32,
    consecutive_fail: u32,
    checks: u64,
    last_check: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_change: Option<DateTime<Utc>>,
}

struct Counts {
    requests: u64,
    errors_5xx: u64,
    latency_us: Histogram<u64>,
}

impl Counts {
    fn new() -> Self {
        Counts {
            requests: 0,
            errors_5xx: 0,
            // Auto-resizing, 3 significant digits: memory grows with the largest latency only.
            latency_us: Histogram::new(3).expect("3 significant figures is valid"),
        }
    }

    fn record(&mut self, latency_us: u64, is_5xx: bool) {
        self.requests += 1;
        self.errors_5xx += u64::from(is_5xx);
        // `record` grows the auto-resizing histogram; it only fails beyond i64::MAX / 2.
        let value = latency_us.max(1);
        if self.latency_us.record(value).is_err() {
            self.latency_us.saturating_record(value);
        }
    }

    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.errors_5xx += other.errors_5xx;
        // Both histograms auto-resize, so adding cannot run out of range.
        let _ = self.latency_us.add(&other.latency_us);
    }

    fn snapshot(&self) -> MetricsCounts {
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        MetricsCounts {
            requests: self.requests,
            errors_5xx: self.errors_5xx,
            latency_ms: (!h.is_empty()).then(|| LatencySummary {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
            }),
        }
    }
}

/// Cumulative counts plus one-second buckets for the sliding window.
struct RegionMetrics {
    cumulative: Counts,
    /// (second since the metrics epoch, counts), oldest first, at most `window_secs` long.
    buckets: VecDeque<(u64, Counts)>,
}

impl RegionMetrics {
    fn new() -> Self {
        RegionMetrics {
            cumulative: Counts::new(),
            buckets: VecDeque::new(),
        }
    }

    fn expire(&mut self, now_sec: u64, window_secs: u64) {
        while let Some((sec, _)) = self.buckets.front() {
            if now_sec.saturating_sub(*sec) >= window_secs {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }

    fn record(&mut self, now_sec: u64, window_secs: u64, latency_us: u64, is_5xx: bool) {
        self.cumulative.record(latency_us, is_5xx);
        self.expire(now_sec, window_secs);
        match self.buckets.back_mut() {
            Some((sec, counts)) if *sec == now_sec => counts.record(latency_us, is_5xx),
            _ => {
                let mut counts = Counts::new();
                counts.record(latency_us, is_5xx);
                self.buckets.push_back((now_sec, counts));
            }
        }
    }

    fn window(&mut self, now_sec: u64, window_secs: u64) -> MetricsCounts {
        self.expire(now_sec, window_secs);
        let mut total = Counts::new();
        for (_, counts) in &self.buckets {
            total.add(counts);
        }
        total.snapshot()
    }
}

struct Region {
    name: String,
    /// Base URL without trailing `/`.
    upstream: String,
    health: Mutex<HealthState>,
    metrics: Mutex<RegionMetrics>,
}

struct MetricsEpoch {
    instant: Instant,
    wall: DateTime<Utc>,
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
                health: Mutex::new(HealthState {
                    healthy: true,
                    ..HealthState::default()
                }),
                metrics: Mutex::new(RegionMetrics::new()),
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

    /// Route 53 failover: PRIMARY if healthy, else SECONDARY if healthy, else PRIMARY.
    fn route_index(&self) -> usize {
        let primary = self.primary.load(Ordering::SeqCst);
        if self.is_healthy(primary) {
            return primary;
        }
        match (0..self.regions.len()).find(|&i| i != primary && self.is_healthy(i)) {
            Some(secondary) => secondary,
            None => primary,
        }
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

    pub fn health(&self) -> Vec<HealthSnapshot> {
        self.regions
            .iter()
            .map(|r| {
                let h = lock(&r.health);
                HealthSnapshot {
                    region: r.name.clone(),
                    healthy: h.healthy,
                    consecutive_ok: h.consecutive_ok,
                    consecutive_fail: h.consecutive_fail,
                    checks: h.checks,
                    last_check: h.last_check,
                    last_error: h.last_error.clone(),
                    last_change: h.last_change,
                }
            })
            .collect()
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        let epoch = lock(&self.epoch);
        let now_sec = epoch.instant.elapsed().as_secs();
        MetricsSnapshot {
            window_secs: self.window_secs,
            since: epoch.wall,
            write_blocked_rejections: self.write_blocked_rejections.load(Ordering::Relaxed),
            regions: self
                .regions
                .iter()
                .map(|r| {
                    let mut m = lock(&r.metrics);
                    RegionMetricsSnapshot {
                        region: r.name.clone(),
                        cumulative: m.cumulative.snapshot(),
                        window: m.window(now_sec, self.window_secs),
                    }
                })
                .collect(),
        }
    }

    /// Zeroes every counter and histogram (cumulative and window).
    pub fn reset_metrics(&self) {
        let mut epoch = lock(&self.epoch);
        for r in &self.regions {
            *lock(&r.metrics) = RegionMetrics::new();
        }
        self.write_blocked_rejections.store(0, Ordering::Relaxed);
        *epoch = MetricsEpoch {
            instant: Instant::now(),
            wall: Utc::now(),
        };
        tracing::info!("front door metrics reset");
    }

    fn record(&self, index: usize, latency: Duration, is_5xx: bool) {
        let now_sec = lock(&self.epoch).instant.elapsed().as_secs();
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        lock(&self.regions[index].metrics).record(now_sec, self.window_secs, us, is_5xx);
    }

    /// The proxy: every path and method goes through [`FrontDoor::handle`]. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` (for `X-Forwarded-For`).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .fallback(
                |State(fd): State<Arc<FrontDoor>>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 req: Request<Body>| async move { fd.handle(peer, req).await },
            )
            .with_state(self.clone())
    }

    /// Handles one client request: write block, routing, forwarding, metrics.
    pub async fn handle(&self, peer: SocketAddr, req: Request<Body>) -> Response<Body> {
        if self.writes_blocked() && !is_read(req.method()) {
            self.write_blocked_rejections
                .fetch_add(1, Ordering::Relaxed);
            let mut resp = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Writes are blocked",
                "the front door is blocking writes for a planned switchover; retry shortly",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
        let index = self.route_index();
        let region = &self.regions[index];
        let started = Instant::now();
        let mut resp = self.forward(region, peer, req).await;
        self.record(index, started.elapsed(), resp.status().is_server_error());
        if let Ok(value) = HeaderValue::from_str(&region.name) {
            resp.headers_mut().insert(REGION_HEADER, value);
        }
        resp
    }

    async fn forward(
        &self,
        region: &Region,
        peer: SocketAddr,
        req: Request<Body>,
    ) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri: Uri = match format!("{}{}", region.upstream, path).parse() {
            Ok(uri) => uri,
            Err(err) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "Bad request target",
                    &format!("cannot forward {path:?}: {err}"),
                )
            }
        };
        let original_host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        // The client sets Host from the upstream URI.
        parts.headers.remove(header::HOST);
        let xff = match parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&xff) {
            parts.headers.insert("x-forwarded-for", value);
        }
        if let Some(host) = original_host {
            parts.headers.insert("x-forwarded-host", host);
        }
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("http"));
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        let upstream_req = Request::from_parts(parts, body);

        match tokio::time::timeout(self.upstream_timeout, self.client.request(upstream_req)).await {
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Body::new(body))
            }
            Ok(Err(err)) => {
                let what = if err.is_connect() {
                    "cannot connect to"
                } else {
                    "request failed at"
                };
                let detail = format!(
                    "{what} region {} upstream {}: {}",
                    region.name,
                    region.upstream,
                    error_chain(&err)
                );
                tracing::debug!(region = %region.name, "{detail}");
                problem(StatusCode::BAD_GATEWAY, "Upstream unavailable", &detail)
            }
            Err(_) => problem(
                StatusCode::GATEWAY_TIMEOUT,
                "Upstream timeout",
                &format!(
                    "region {} upstream {} sent no response within {} ms",
                    region.name,
                    region.upstream,
                    self.upstream_timeout.as_millis()
                ),
            ),
        }
    }

    /// Starts one health-check loop per region; abort the handles to stop them.
    pub fn spawn_health_checks(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.regions.len())
            .map(|index| {
                let fd = self.clone();
                tokio::spawn(async move { fd.health_loop(index).await })
            })
            .collect()
    }

    async fn health_loop(&self, index: usize) {
        let mut ticker = tokio::time::interval(Duration::from_millis(self.health.interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let result = self.check(index).await;
            self.apply_check(index, result);
        }
    }

    async fn check(&self, index: usize) -> Result<(), String> {
        let region = &self.regions[index];
        let url = format!("{}{}", region.upstream, self.health.path);
        let req = Request::get(url)
            .body(Body::empty())
            .map_err(|e| format!("bad health-check request: {e}"))?;
        let timeout = Duration::from_millis(self.health.timeout_ms);
        let outcome = tokio::time::timeout(timeout, async {
            let resp = self
                .checker
                .request(req)
                .await
                .map_err(|e| error_chain(&e))?;
            let status = resp.status();
            // Drain the body so the check measures a complete answer.
            let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
            Ok::<_, String>(status)
        })
        .await;
        match outcome {
            Ok(Ok(StatusCode::OK)) => Ok(()),
            Ok(Ok(status)) => Err(format!("HTTP {status}")),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(format!("timed out after {} ms", timeout.as_millis())),
        }
    }

    fn apply_check(&self, index: usize, result: Result<(), String>) {
        let region = &self.regions[index];
        let routed_before = self.route_index();
        let flipped = {
            let mut h = lock(&region.health);
            h.checks += 1;
            h.last_check = Some(Utc::now());
            let was = h.healthy;
            match result {
                Ok(()) => {
                    h.consecutive_ok = h.consecutive_ok.saturating_add(1);
                    h.consecutive_fail = 0;
                    h.last_error = None;
                    if !h.healthy && h.consecutive_ok >= self.health.success_threshold {
                        h.healthy = true;
                    }
                }
                Err(err) => {
                    h.consecutive_fail = h.consecutive_fail.saturating_add(1);
                    h.consecutive_ok = 0;
                    h.last_error = Some(err);
                    if h.healthy && h.consecutive_fail >= self.health.failure_threshold {
                        h.healthy = false;
                    }
                }
            }
            if h.healthy != was {
                h.last_change = h.last_check;
                Some((h.healthy, h.last_error.clone()))
            } else {
                None
            }
        };
        match flipped {
            Some((true, _)) => tracing::info!(region = %region.name, "region is healthy again"),
            Some((false, err)) => tracing::warn!(region = %region.name,
                error = err.as_deref().unwrap_or(""), "region is unhealthy"),
            None => {}
        }
        let routed_after = self.route_index();
        if routed_after != routed_before {
            tracing::warn!(from = %self.regions[routed_before].name,
                to = %self.regions[routed_after].name, "front door now routes to another region");
        }
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// An error and its causes, `: `-separated.
fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// An `application/problem+json` response (RFC 9457).
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// Locks a std mutex, ignoring poisoning (the guarded data stays consistent per operation).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FrontDoorConfig {
        FrontDoorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            regions: vec![
                RegionRecord {
                    name: "east".into(),
                    upstream: "http://127.0.0.1:8081".into(),
                },
                RegionRecord {
                    name: "west".into(),
                    upstream: "http://127.0.0.1:8082/".into(),
                },
            ],
            initial_primary: "east".into(),
            health: HealthCheckConfig::default(),
            upstream_timeout_ms: 10_000,
            window_secs: 60,
        }
    }

    #[test]
    fn valid_config_has_no_problems() {
        assert!(config().problems().is_empty(), "{:?}", config().problems());
    }

    #[test]
    fn defaults_apply_when_fields_are_missing() {
        let json = r#"{"listen":"127.0.0.1:8080","initial_primary":"east",
            "regions":[{"name":"east","upstream":"http://127.0.0.1:8081"},
                       {"name":"west","upstream":"http://127.0.0.1:8082"}]}"#;
        let cfg: FrontDoorConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg.health, HealthCheckConfig::default());
        assert_eq!(cfg.upstream_timeout_ms, 10_000);
        assert_eq!(cfg.window_secs, 60);
    }

    #[test]
    fn invalid_configs_are_explained() {
        let mut cfg = config();
        cfg.regions[1].name = "east".into();
        cfg.initial_primary = "north".into();
        cfg.health.failure_threshold = 0;
        cfg.regions[0].upstream = "https://x".into();
        let problems = cfg.problems().join("\n");
        assert!(
            problems.contains("duplicate region name \"east\""),
            "{problems}"
        );
        assert!(problems.contains("initial_primary \"north\""), "{problems}");
        assert!(
            problems.contains("health.failure_threshold must be greater than 0"),
            "{problems}"
        );
        assert!(problems.contains("scheme must be http://"), "{problems}");

        let mut cfg = config();
        cfg.regions.pop();
        assert!(cfg.problems()[0].contains("exactly two regions"));
    }

    #[test]
    fn hop_by_hop_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn sliding_window_forgets_old_seconds() {
        let mut m = RegionMetrics::new();
        m.record(0, 3, 1_000, false);
        m.record(1, 3, 2_000, true);
        m.record(1, 3, 3_000, false);
        let w = m.window(2, 3);
        assert_eq!((w.requests, w.errors_5xx), (3, 1));
        let w = m.window(3, 3);
        assert_eq!((w.requests, w.errors_5xx), (2, 1));
        let w = m.window(10, 3);
        assert_eq!(w.requests, 0);
        assert!(w.latency_ms.is_none());
        let c = m.cumulative.snapshot();
        assert_eq!((c.requests, c.errors_5xx), (3, 1));
        let lat = c.latency_ms.unwrap();
        assert!((lat.max - 3.0).abs() < 0.01, "{lat:?}");
        assert!((lat.p50 - 2.0).abs() < 0.01, "{lat:?}");
    }
}
