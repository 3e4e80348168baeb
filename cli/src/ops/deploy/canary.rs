//! `--canary 10%:5m,50%:5m`: the traffic steps of a deploy, each held for its window.

use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CanaryStep {
    /// Share of the region's requests, 1–99 (100 % is the promotion itself).
    pub percent: u8,
    pub window: Duration,
}

/// Parses `P%:DURATION[,P%:DURATION…]` (percentages rising, 1–99; durations like `30s`,
/// `5m`); `none` is a deploy without canary steps (straight to promotion).
pub fn parse(spec: &str) -> Result<Vec<CanaryStep>, String> {
    let spec = spec.trim();
    if spec == "none" {
        return Ok(vec![]);
    }
    if spec.is_empty() {
        return Err("empty canary: give steps like `10%:5m,50%:5m`, or `none`".into());
    }
    let mut steps: Vec<CanaryStep> = Vec::new();
    for (i, part) in spec.split(',').enumerate() {
        let part = part.trim();
        let n = i + 1;
        let (pct, win) = part.split_once(':').ok_or_else(|| {
            format!("canary step {n} `{part}`: expected PERCENT%:DURATION, e.g. `10%:5m`")
        })?;
        let pct = pct.trim();
        let num = pct.strip_suffix('%').ok_or_else(|| {
            format!("canary step {n} `{part}`: the share `{pct}` must end in `%`, e.g. `10%`")
        })?;
        let percent: u8 = num
            .parse()
            .ok()
            .filter(|p| (1..=99).contains(p))
            .ok_or_else(|| {
                format!("canary step {n} `{part}`: the share must be a whole number from 1% to 99% (100% is the promotion itself)")
            })?;
        let window = humantime::parse_duration(win.trim()).map_err(|e| {
            format!(
                "canary step {n} `{part}`: `{}` is not a duration ({e}); use e.g. `30s` or `5m`",
                win.trim()
            )
        })?;
        if window < Duration::from_secs(1) {
            return Err(format!(
                "canary step {n} `{part}`: the window must be at least 1s"
            ));
        }
        if window > Duration::from_secs(24 * 3600) {
            return Err(format!(
                "canary step {n} `{part}`: the window must be at most 24h"
            ));
        }
        if let Some(prev) = steps.last() {
            if percent <= prev.percent {
                return Err(format!(
                    "canary step {n} `{part}`: shares must rise ({}% then {percent}%)",
                    prev.percent
                ));
            }
        }
        steps.push(CanaryStep { percent, window });
    }
    Ok(steps)
}

/// The canonical text of the steps (`10%:5m,50%:5m`, or `none`).
pub fn render(steps: &[CanaryStep]) -> String {
    if steps.is_empty() {
        return "none".into();
    }
    steps
        .iter()
        .map(|s| format!("{}%:{}", s.percent, humantime::format_duration(s.window)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse() {
        let s = parse("10%:5m, 50%:30s").unwrap();
        assert_eq!(
            s,
            vec![
                CanaryStep {
                    percent: 10,
                    window: Duration::from_secs(300)
                },
                CanaryStep {
                    percent: 50,
                    window: Duration::from_secs(30)
                },
            ]
        );
        assert_eq!(render(&s), "10%:5m,50%:30s");
        assert_eq!(parse("none").unwrap(), vec![]);
    }

    #[test]
    fn bad_steps_are_named() {
        for (spec, says) in [
            ("", "empty canary"),
            ("10%", "expected PERCENT%:DURATION"),
            ("10:5m", "must end in `%`"),
            ("0%:5m", "from 1% to 99%"),
            ("100%:5m", "100% is the promotion itself"),
            ("ten%:5m", "whole number"),
            ("10%:soon", "is not a duration"),
            ("10%:0s", "at least 1s"),
            ("50%:1m,10%:1m", "step 2 `10%:1m`: shares must rise"),
        ] {
            let e = parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec:?}: {e}");
        }
    }
}
