//! Weighted canary targets: during a deploy a region has two upstreams — its current API
//! (the record's upstream) and a canary (the new build) that gets `weight` % of the
//! region's requests, spread evenly (request n goes to the canary when ⌊n·w/100⌋ grows).
//! The canary's own 5xx count and latency histogram (since its weight was last set) are
//! the deploy's gate. Health checks follow the canary only once it has 100 %: until then
//! the region's health is its current API's. Canary targets are not persisted: a restarted
//! front door sends everything to the current API (the safe side; the deploy's gate sees
//! its canary gone and rolls back).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{lock, FrontDoor, LatencySummary, UnknownRegion};

/// What the admin API sets: `PUT /admin/canary/{region}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CanarySpec {
    /// `http://host:port` of the canary API.
    pub upstream: String,
    /// Share of the region's requests, 0–100.
    pub weight: u8,
    /// The version it runs (for display).
    pub label: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CanarySnapshot {
    pub region: String,
    pub upstream: String,
    pub weight: u8,
    pub label: String,
    /// When the weight was last set: the counts below are since then.
    pub since: DateTime<Utc>,
    pub requests: u64,
    pub errors_5xx: u64,
    pub latency_ms: Option<LatencySummary>,
    /// Requests the region's current API answered over the same period.
    pub stable_requests: u64,
    pub stable_errors_5xx: u64,
}

pub(super) struct Canary {
    spec: CanarySpec,
    since: DateTime<Utc>,
    n: u64,
    requests: u64,
    errors_5xx: u64,
    latency_us: Histogram<u64>,
    stable_requests: u64,
    stable_errors_5xx: u64,
}

/// Where one request goes.
pub(super) enum Target {
    Stable,
    Canary(String),
}

impl FrontDoor {
    fn region_index(&self, region: &str) -> Result<usize, UnknownRegion> {
        self.regions
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
            })
    }

    /// Sets (or replaces) `region`'s canary; its counts start again from zero.
    pub fn set_canary(&self, region: &str, spec: CanarySpec) -> Result<(), String> {
        let index = self.region_index(region).map_err(|e| e.to_string())?;
        if spec.weight > 100 {
            return Err(format!("weight {} is more than 100", spec.weight));
        }
        let upstream = super::config::parse_upstream(&spec.upstream)
            .map_err(|e| format!("invalid canary upstream {:?}: {e}", spec.upstream))?;
        let spec = CanarySpec { upstream, ..spec };
        tracing::info!(region, weight = spec.weight, label = %spec.label, "canary weight set");
        *lock(&self.regions[index].canary) = Some(Canary {
            spec,
            since: Utc::now(),
            n: 0,
            requests: 0,
            errors_5xx: 0,
            latency_us: Histogram::new(3).expect("3 significant figures is valid"),
            stable_requests: 0,
            stable_errors_5xx: 0,
        });
        Ok(())
    }

    /// Removes `region`'s canary: every request goes to its current API again.
    pub fn clear_canary(&self, region: &str) -> Result<(), UnknownRegion> {
        let index = self.region_index(region)?;
        if lock(&self.regions[index].canary).take().is_some() {
            tracing::info!(region, "canary removed");
        }
        Ok(())
    }

    pub fn canaries(&self) -> Vec<CanarySnapshot> {
        self.regions
            .iter()
            .filter_map(|r| {
                let c = lock(&r.canary);
                let c = c.as_ref()?;
                let h = &c.latency_us;
                let ms = |us: u64| us as f64 / 1000.0;
                Some(CanarySnapshot {
                    region: r.name.clone(),
                    upstream: c.spec.upstream.clone(),
                    weight: c.spec.weight,
                    label: c.spec.label.clone(),
                    since: c.since,
                    requests: c.requests,
                    errors_5xx: c.errors_5xx,
                    latency_ms: (!h.is_empty()).then(|| LatencySummary {
                        p50: ms(h.value_at_quantile(0.50)),
                        p90: ms(h.value_at_quantile(0.90)),
                        p99: ms(h.value_at_quantile(0.99)),
                        max: ms(h.max()),
                    }),
                    stable_requests: c.stable_requests,
                    stable_errors_5xx: c.stable_errors_5xx,
                })
            })
            .collect()
    }

    /// The target of the next request to region `index`.
    pub(super) fn pick_target(&self, index: usize) -> Target {
        let mut c = lock(&self.regions[index].canary);
        let Some(c) = c.as_mut() else {
            return Target::Stable;
        };
        let w = u64::from(c.spec.weight);
        c.n += 1;
        if (c.n * w) / 100 > ((c.n - 1) * w) / 100 {
            Target::Canary(c.spec.upstream.clone())
        } else {
            Target::Stable
        }
    }

    /// The upstream health checks of region `index` go to.
    pub(super) fn health_upstream(&self, index: usize) -> String {
        match lock(&self.regions[index].canary).as_ref() {
            Some(c) if c.spec.weight == 100 => c.spec.upstream.clone(),
            _ => self.regions[index].upstream.clone(),
        }
    }

    pub(super) fn record_target(
        &self,
        index: usize,
        target: &Target,
        latency: Duration,
        is_5xx: bool,
    ) {
        let mut c = lock(&self.regions[index].canary);
        let Some(c) = c.as_mut() else {
            return;
        };
        match target {
            Target::Canary(u) if *u == c.spec.upstream => {
                c.requests += 1;
                c.errors_5xx += u64::from(is_5xx);
                let us = u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                if c.latency_us.record(us).is_err() {
                    c.latency_us.saturating_record(us);
                }
            }
            Target::Canary(_) => {}
            Target::Stable => {
                c.stable_requests += 1;
                c.stable_errors_5xx += u64::from(is_5xx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FrontDoorConfig, HealthCheckConfig, RegionRecord};
    use super::*;

    fn fd() -> std::sync::Arc<FrontDoor> {
        let cfg = FrontDoorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            regions: ["east", "west"]
                .iter()
                .enumerate()
                .map(|(i, r)| RegionRecord {
                    name: r.to_string(),
                    upstream: format!("http://127.0.0.1:{}", 9001 + i),
                })
                .collect(),
            initial_primary: "east".into(),
            health: HealthCheckConfig::default(),
            upstream_timeout_ms: 1000,
            window_secs: 60,
        };
        FrontDoor::new(&cfg, "east", false).unwrap()
    }

    #[test]
    fn weights_are_exact_and_evenly_spread() {
        let fd = fd();
        for w in [0u8, 10, 50, 100] {
            fd.set_canary(
                "east",
                CanarySpec {
                    upstream: "http://127.0.0.1:9100".into(),
                    weight: w,
                    label: "v2".into(),
                },
            )
            .unwrap();
            let picks: Vec<bool> = (0..100)
                .map(|_| matches!(fd.pick_target(0), Target::Canary(_)))
                .collect();
            assert_eq!(picks.iter().filter(|p| **p).count(), w as usize, "{w}%");
            if w == 10 {
                // One in every ten, not ten in a row.
                assert!(picks
                    .chunks(10)
                    .all(|c| c.iter().filter(|p| **p).count() == 1));
            }
        }
        assert!(
            matches!(fd.pick_target(1), Target::Stable),
            "west has no canary"
        );
        assert_eq!(
            fd.health_upstream(0),
            "http://127.0.0.1:9100",
            "100 %: checks follow"
        );
        fd.clear_canary("east").unwrap();
        assert!(matches!(fd.pick_target(0), Target::Stable));
        assert_eq!(fd.health_upstream(0), "http://127.0.0.1:9001");
    }

    #[test]
    fn canary_counts_are_its_own_and_bad_specs_are_refused() {
        let fd = fd();
        let spec = |w| CanarySpec {
            upstream: "http://127.0.0.1:9100".into(),
            weight: w,
            label: "v2".into(),
        };
        fd.set_canary("east", spec(50)).unwrap();
        let c = Target::Canary("http://127.0.0.1:9100".into());
        fd.record_target(0, &c, Duration::from_millis(5), true);
        fd.record_target(0, &c, Duration::from_millis(7), false);
        fd.record_target(0, &Target::Stable, Duration::from_millis(1), false);
        let s = &fd.canaries()[0];
        assert_eq!((s.requests, s.errors_5xx, s.stable_requests), (2, 1, 1));
        assert!(s.latency_ms.unwrap().max >= 6.9);
        fd.set_canary("east", spec(10)).unwrap();
        assert_eq!(
            fd.canaries()[0].requests,
            0,
            "a new weight starts a new window"
        );
        assert!(fd
            .set_canary("east", spec(101))
            .unwrap_err()
            .contains("more than 100"));
        assert!(fd
            .set_canary("north", spec(10))
            .unwrap_err()
            .contains("unknown region"));
        let mut bad = spec(10);
        bad.upstream = "https://x".into();
        assert!(fd
            .set_canary("east", bad)
            .unwrap_err()
            .contains("invalid canary upstream"));
    }
}
