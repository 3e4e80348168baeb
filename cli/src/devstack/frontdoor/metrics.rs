//! Per-region request metrics: cumulative counts and a sliding window of one-second buckets.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{lock, FrontDoor};

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
    /// Server errors, not counting `shed`.
    pub errors_5xx: u64,
    /// 503s the API marked as load shedding (`x-pm-shed`): over capacity, not failing.
    #[serde(default)]
    pub shed: u64,
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

/// How a request ended, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Answered,
    ServerError,
    /// Refused by the API's admission control (a 503 marked `x-pm-shed`).
    Shed,
}

struct Counts {
    requests: u64,
    errors_5xx: u64,
    shed: u64,
    latency_us: Histogram<u64>,
}

impl Counts {
    fn new() -> Self {
        Counts {
            requests: 0,
            errors_5xx: 0,
            shed: 0,
            // Auto-resizing, 3 significant digits: memory grows with the largest latency only.
            latency_us: Histogram::new(3).expect("3 significant figures is valid"),
        }
    }

    fn record(&mut self, latency_us: u64, outcome: Outcome) {
        self.requests += 1;
        self.errors_5xx += u64::from(outcome == Outcome::ServerError);
        self.shed += u64::from(outcome == Outcome::Shed);
        // `record` grows the auto-resizing histogram; it only fails beyond i64::MAX / 2.
        let value = latency_us.max(1);
        if self.latency_us.record(value).is_err() {
            self.latency_us.saturating_record(value);
        }
    }

    fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.errors_5xx += other.errors_5xx;
        self.shed += other.shed;
        // Both histograms auto-resize, so adding cannot run out of range.
        let _ = self.latency_us.add(&other.latency_us);
    }

    fn snapshot(&self) -> MetricsCounts {
        let h = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        MetricsCounts {
            requests: self.requests,
            errors_5xx: self.errors_5xx,
            shed: self.shed,
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
pub(super) struct RegionMetrics {
    cumulative: Counts,
    /// (second since the metrics epoch, counts), oldest first, at most `window_secs` long.
    buckets: VecDeque<(u64, Counts)>,
}

impl RegionMetrics {
    pub(super) fn new() -> Self {
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

    fn record(&mut self, now_sec: u64, window_secs: u64, latency_us: u64, outcome: Outcome) {
        self.cumulative.record(latency_us, outcome);
        self.expire(now_sec, window_secs);
        match self.buckets.back_mut() {
            Some((sec, counts)) if *sec == now_sec => counts.record(latency_us, outcome),
            _ => {
                let mut counts = Counts::new();
                counts.record(latency_us, outcome);
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

pub(super) struct MetricsEpoch {
    pub(super) instant: Instant,
    pub(super) wall: DateTime<Utc>,
}

impl FrontDoor {
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

    pub(super) fn record(&self, index: usize, latency: Duration, outcome: Outcome) {
        let now_sec = lock(&self.epoch).instant.elapsed().as_secs();
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        lock(&self.regions[index].metrics).record(now_sec, self.window_secs, us, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_forgets_old_seconds() {
        let mut m = RegionMetrics::new();
        m.record(0, 3, 1_000, Outcome::Answered);
        m.record(1, 3, 2_000, Outcome::ServerError);
        m.record(1, 3, 3_000, Outcome::Answered);
        m.record(2, 3, 500, Outcome::Shed);
        let w = m.window(2, 3);
        assert_eq!((w.requests, w.errors_5xx, w.shed), (4, 1, 1));
        let w = m.window(3, 3);
        assert_eq!((w.requests, w.errors_5xx, w.shed), (3, 1, 1));
        let w = m.window(10, 3);
        assert_eq!(w.requests, 0);
        assert!(w.latency_ms.is_none());
        let c = m.cumulative.snapshot();
        assert_eq!((c.requests, c.errors_5xx, c.shed), (4, 1, 1));
        let lat = c.latency_ms.unwrap();
        assert!((lat.max - 3.0).abs() < 0.01, "{lat:?}");
        assert!((lat.p50 - 1.0).abs() < 0.01, "{lat:?}");
    }
}
