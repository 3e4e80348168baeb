//! The canary gate: the engine's own step (`watch-canary`). For its window it reads the
//! region's canary as the provider sees it (local: the front door's counts for the canary
//! target; AWS: the new version's metrics and the region's alarms) and, the moment a rule
//! fires, rolls the region back (the provider's abort steps) and stops the deploy.

use crate::provider::deploy::CanaryView;
use crate::provider::{Capability, GateSpec, Provider, ProviderError};
use crate::shell::Shell;
use serde_json::json;
use std::time::{Duration, Instant};

/// How often the gate looks.
const TICK: Duration = Duration::from_millis(500);

/// A rule that fired: its stable name and what it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: &'static str,
    pub detail: String,
}

/// The gate's verdict on one observation (None: keep watching).
pub fn judge(v: &CanaryView, percent: u8, g: &GateSpec) -> Option<Fired> {
    let fire = |rule, detail: String| Some(Fired { rule, detail });
    if !v.present {
        return fire(
            "canary-missing",
            "the canary target is gone (front door restarted, or the canary was removed)".into(),
        );
    }
    if v.weight != percent {
        return fire(
            "canary-missing",
            format!(
                "the canary has {}% of the traffic, not {percent}%",
                v.weight
            ),
        );
    }
    if let Some((false, _)) = v.ready {
        return fire(
            "canary-ready",
            "the canary's /ready does not answer 200".into(),
        );
    }
    if let Some(a) = v.alarms.first() {
        return fire("alarm", format!("alarm {a} is in ALARM"));
    }
    if v.requests >= g.min_requests.max(1)
        && v.errors_5xx * 1000 > u64::from(g.max_5xx_per_mille) * v.requests
    {
        return fire(
            "canary-5xx",
            format!(
                "{} of {} canary requests were 5xx ({:.1}%, limit {:.1}%)",
                v.errors_5xx,
                v.requests,
                v.errors_5xx as f64 * 100.0 / v.requests as f64,
                f64::from(g.max_5xx_per_mille) / 10.0
            ),
        );
    }
    if let Some(p99) = v.p99_ms.filter(|p| *p > g.max_p99_ms as f64) {
        if v.requests >= g.min_requests.max(1) {
            return fire(
                "canary-p99",
                format!(
                    "canary p99 {p99:.0} ms over {} requests (limit {} ms)",
                    v.requests, g.max_p99_ms
                ),
            );
        }
    }
    None
}

/// Watches `region`'s canary at `percent` for `window_secs`. Passed: `{"gate":"passed",…}`.
/// Fired: the region is rolled back and the outcome carries `halt` (the engine then stops
/// the operation) and what fired, when.
pub async fn watch(
    p: &dyn Provider,
    region: &str,
    percent: u8,
    window_secs: u64,
    g: &GateSpec,
    shell: &Shell,
) -> Result<serde_json::Value, ProviderError> {
    let d = p.deployer().ok_or_else(|| ProviderError::Unsupported {
        what: format!("environment `{}` cannot be deployed to", p.environment()),
    })?;
    let window = Duration::from_secs(window_secs);
    let start = Instant::now();
    let since = chrono::Utc::now();
    let mut last_note = Instant::now();
    let mut errors = 0u32;
    loop {
        let v = match d.observe_canary(region, since).await {
            Ok(v) => {
                errors = 0;
                v
            }
            // A blip reading the figures is not a verdict; three in a row is.
            Err(e) if errors < 2 => {
                errors += 1;
                shell.warn(format!("gate: reading {region}'s canary: {e}"));
                tokio::time::sleep(TICK).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let at_ms = start.elapsed().as_millis() as u64;
        let figures = json!({
            "requests": v.requests,
            "errors_5xx": v.errors_5xx,
            "p99_ms": v.p99_ms,
        });
        if let Some(f) = judge(&v, percent, g) {
            shell.warn(format!(
                "gate {} fired in {region} at {percent}%, {:.1}s into the step: {}",
                f.rule,
                at_ms as f64 / 1000.0,
                f.detail
            ));
            let rolled_back = roll_back(p, region).await?;
            return Ok(json!({
                "gate": "fired",
                "rule": f.rule,
                "detail": f.detail,
                "region": region,
                "percent": percent,
                "at_ms": at_ms,
                "at": chrono::Utc::now(),
                "figures": figures,
                "rolled_back": rolled_back,
                "halt": format!(
                    "gate {} fired in {region} at {percent}% after {:.1}s: {}; {region} rolled back",
                    f.rule, at_ms as f64 / 1000.0, f.detail
                ),
            }));
        }
        if start.elapsed() >= window {
            return Ok(
                json!({"gate": "passed", "region": region, "percent": percent, "figures": figures}),
            );
        }
        if last_note.elapsed() >= Duration::from_secs(5) {
            last_note = Instant::now();
            shell.status(
                "",
                format!(
                    "{region} canary {percent}%: {} requests, {} 5xx, p99 {} ({}s left)",
                    v.requests,
                    v.errors_5xx,
                    v.p99_ms.map(|p| format!("{p:.0} ms")).unwrap_or("-".into()),
                    window.saturating_sub(start.elapsed()).as_secs()
                ),
            );
        }
        tokio::time::sleep(TICK).await;
    }
}

/// The provider's abort steps for `region` (all traffic to the current version, canary
/// stopped); returns what they did.
pub async fn roll_back(p: &dyn Provider, region: &str) -> Result<serde_json::Value, ProviderError> {
    let t = p.snapshot().await?;
    let mut done = Vec::new();
    for s in p.expand(
        &Capability::AbortCanary {
            region: region.to_string(),
        },
        &t,
    ) {
        done.push(p.run_step(&s, &|_| {}).await?);
    }
    Ok(json!(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> GateSpec {
        GateSpec {
            max_5xx_per_mille: 10,
            max_p99_ms: 1000,
            min_requests: 10,
        }
    }

    fn v(requests: u64, errors_5xx: u64, p99: f64) -> CanaryView {
        CanaryView {
            present: true,
            weight: 10,
            requests,
            errors_5xx,
            p99_ms: Some(p99),
            alarms: vec![],
            ready: Some((true, Some("2".into()))),
        }
    }

    #[test]
    fn a_healthy_canary_passes() {
        assert_eq!(judge(&v(500, 0, 20.0), 10, &g()), None);
        assert_eq!(
            judge(&v(1000, 10, 20.0), 10, &g()),
            None,
            "exactly at the limit"
        );
    }

    #[test]
    fn each_rule_fires_by_name() {
        assert_eq!(judge(&v(20, 1, 20.0), 10, &g()).unwrap().rule, "canary-5xx");
        assert_eq!(
            judge(&v(5, 5, 20.0), 10, &g()),
            None,
            "too few requests yet"
        );
        assert_eq!(
            judge(&v(20, 0, 1500.0), 10, &g()).unwrap().rule,
            "canary-p99"
        );
        let mut x = v(0, 0, 0.0);
        x.present = false;
        assert_eq!(judge(&x, 10, &g()).unwrap().rule, "canary-missing");
        let mut x = v(0, 0, 0.0);
        x.weight = 0;
        assert_eq!(judge(&x, 10, &g()).unwrap().rule, "canary-missing");
        let mut x = v(0, 0, 0.0);
        x.ready = Some((false, None));
        assert_eq!(judge(&x, 10, &g()).unwrap().rule, "canary-ready");
        let mut x = v(0, 0, 0.0);
        x.alarms = vec!["api-errors-west".into()];
        assert_eq!(judge(&x, 10, &g()).unwrap().rule, "alarm");
    }
}
