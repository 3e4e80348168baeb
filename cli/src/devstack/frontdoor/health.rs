//! Health checks: one loop per region, Route 53 style thresholds.
//!
//! A check passes when `/ready` answers 200; it also records the `db_role` the answer
//! names. Routing (`FrontDoor::route_index`) uses both to tell dead from busy: a SECONDARY
//! whose database is a replica becomes a traffic target only when nothing listens at
//! PRIMARY any more (`unreachable_streak` ≥ `failure_threshold`: the API is gone), never
//! because PRIMARY is slow or erroring — so load on the writer never moves traffic to the
//! replica. A body without `db_role` (not a pm-api) counts as writable.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::proxy::error_chain;
use super::{lock, FrontDoor};

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
    /// `db_role` of the last 200 answer (`writer` / `replica`), when it said.
    #[serde(default)]
    pub db_role: Option<String>,
    /// Consecutive checks that found nothing listening (the API is gone, not busy).
    #[serde(default)]
    pub unreachable_streak: u32,
}

#[derive(Default)]
pub(super) struct HealthState {
    pub(super) healthy: bool,
    consecutive_ok: u32,
    consecutive_fail: u32,
    checks: u64,
    last_check: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_change: Option<DateTime<Utc>>,
    db_role: Option<String>,
    unreachable_streak: u32,
}

impl HealthState {
    /// Like a new Route 53 health check, a region starts healthy.
    pub(super) fn starting_healthy() -> Self {
        HealthState {
            healthy: true,
            ..HealthState::default()
        }
    }

    /// Unhealthy because nothing answers at all (not because it is slow or erroring).
    pub(super) fn dead(&self, failure_threshold: u32) -> bool {
        !self.healthy && self.unreachable_streak >= failure_threshold
    }

    /// Whether the region can take writes, as its last answer said (a replica or a fenced
    /// writer answers `db_role: replica`).
    pub(super) fn writable(&self) -> bool {
        self.db_role.as_deref() != Some("replica")
    }
}

/// Why a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// Nothing listens: the API process is gone.
    Unreachable,
    /// Timed out, or answered another status: slow or unwell, not gone.
    Other,
}

/// A check's result: the role a 200 answer reported, or why it failed.
pub(super) type CheckResult = Result<Option<String>, (Failure, String)>;

impl FrontDoor {
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
                    db_role: h.db_role.clone(),
                    unreachable_streak: h.unreachable_streak,
                }
            })
            .collect()
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

    async fn check(&self, index: usize) -> CheckResult {
        let url = format!("{}{}", self.health_upstream(index), self.health.path);
        let req = Request::get(url)
            .body(Body::empty())
            .map_err(|e| (Failure::Other, format!("bad health-check request: {e}")))?;
        let timeout = Duration::from_millis(self.health.timeout_ms);
        let outcome = tokio::time::timeout(timeout, async {
            let resp = self.checker.request(req).await.map_err(|e| {
                let kind = if e.is_connect() {
                    Failure::Unreachable
                } else {
                    Failure::Other
                };
                (kind, error_chain(&e))
            })?;
            let status = resp.status();
            // Read the whole answer: the check measures a complete response, and the
            // body says whether the region can take writes. At most 64 KiB.
            let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024);
            let bytes = http_body_util::BodyExt::collect(body)
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, (Failure, String)>((status, bytes))
        })
        .await;
        match outcome {
            Ok(Ok((StatusCode::OK, body))) => {
                Ok(serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("db_role")?.as_str().map(String::from)))
            }
            Ok(Ok((status, _))) => Err((Failure::Other, format!("HTTP {status}"))),
            Ok(Err(err)) => Err(err),
            Err(_) => Err((
                Failure::Other,
                format!("timed out after {} ms", timeout.as_millis()),
            )),
        }
    }

    pub(super) fn apply_check(&self, index: usize, result: CheckResult) {
        let region = &self.regions[index];
        let routed_before = self.route_index();
        let flipped = {
            let mut h = lock(&region.health);
            h.checks += 1;
            h.last_check = Some(Utc::now());
            let was = h.healthy;
            h.unreachable_streak = match &result {
                Err((Failure::Unreachable, _)) => h.unreachable_streak.saturating_add(1),
                _ => 0,
            };
            match result {
                Ok(role) => {
                    h.db_role = role;
                    h.consecutive_ok = h.consecutive_ok.saturating_add(1);
                    h.consecutive_fail = 0;
                    h.last_error = None;
                    if !h.healthy && h.consecutive_ok >= self.health.success_threshold {
                        h.healthy = true;
                    }
                }
                Err((_, err)) => {
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
