//! The front door's configuration (part of `net.json`) and its validation.

use std::net::SocketAddr;

use axum::http::Uri;
use serde::{Deserialize, Serialize};

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
pub(super) fn parse_upstream(upstream: &str) -> Result<String, String> {
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
}
