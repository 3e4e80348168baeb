//! Health checks: one loop per region, Route 53 style thresholds.

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
}

impl HealthState {
    /// Like a new Route 53 health check, a region starts healthy.
    pub(super) fn starting_healthy() -> Self {
        HealthState {
            healthy: true,
            ..HealthState::default()
        }
    }
}

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

    async fn check(&self, index: usize) -> Result<(), String> {
        let url = format!("{}{}", self.health_upstream(index), self.health.path);
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
