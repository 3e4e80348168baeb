//! Drill runbooks (YAML). Parsed strictly: an unknown field, a wrong type, an unknown fault or
//! a missing objective is an error naming the field and its line, before anything starts.
//!
//! ```yaml
//! name: region-outage
//! description: east dies entirely; pmctl detects it and fails over to west
//! environment: local            # optional; default: --env
//! steady_state: { status: ok, max_lag_bytes: 1048576 }
//! traffic: { rps: 20, ramp_to_rps: 40, duration: 25s, mix: { c2b: 60, manual: 20, read: 20 } }
//! faults:
//!   - { kind: kill-region, at: 6s }        # region: default the writer
//! reaction: { kind: auto }               # the autopilot reacts (README "Autopilot")
//! objectives: { rto: 15s, rpo: 0 }
//! abort: { max_error_ratio: 1.0, for: 60s }
//! cleanup: failback                        # failback | down | none
//! ```

use serde::{Deserialize, Deserializer};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    #[error("reading runbook {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("runbook {path}: {message}")]
    Invalid { path: String, message: String },
}

/// A duration written like `5s`, `500ms`, `1m 30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map(Dur).map_err(|_| {
            serde::de::Error::custom(format!("`{s}` is not a duration (e.g. 5s, 500ms, 2m)"))
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub environment: Option<String>,
    #[serde(default)]
    pub steady_state: SteadyState,
    pub traffic: Traffic,
    #[serde(default)]
    pub faults: Vec<Fault>,
    pub reaction: Reaction,
    pub objectives: Objectives,
    #[serde(default)]
    pub abort: Abort,
    #[serde(default)]
    pub cleanup: Cleanup,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteadyState {
    /// `ok`: `pmctl status` must be OK before the drill starts.
    #[serde(default = "default_status")]
    pub status: String,
    pub max_lag_bytes: Option<i64>,
}

fn default_status() -> String {
    "ok".into()
}

impl Default for SteadyState {
    fn default() -> Self {
        SteadyState {
            status: default_status(),
            max_lag_bytes: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    pub rps: f64,
    pub ramp_to_rps: Option<f64>,
    pub duration: Dur,
    #[serde(default)]
    pub mix: Mix,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(5))
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    pub c2b: u32,
    pub manual: u32,
    pub read: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            c2b: 60,
            manual: 20,
            read: 20,
        }
    }
}

pub use crate::provider::FaultKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// When, from the start of traffic.
    pub at: Dur,
    /// Default: the writer region at drill start.
    pub region: Option<String>,
    /// slow-link: added latency per direction.
    pub latency_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReactionKind {
    /// The autopilot (the environment's always-on control plane) detects and fails over,
    /// as in production; the drill only watches it.
    Auto,
    /// A planned switchover at `at`.
    Switchover,
    /// Nobody reacts.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    pub kind: ReactionKind,
    /// switchover: when.
    pub at: Option<Dur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Longest acceptable time from the fault to the first acknowledged write after it.
    pub rto: Dur,
    /// Acknowledged payments that may be lost (0 = none).
    pub rpo: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Abort {
    /// Stop early when the error ratio over the last `for` exceeds this.
    pub max_error_ratio: f64,
    #[serde(rename = "for")]
    pub window: Dur,
}

impl Default for Abort {
    fn default() -> Self {
        Abort {
            max_error_ratio: 1.01,
            window: Dur(Duration::from_secs(60)),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cleanup {
    /// Heal faults; if the writer moved, rebuild the old region and switch back.
    #[default]
    Failback,
    /// Heal faults, then `dev down`.
    Down,
    /// Heal faults only.
    None,
}

impl Runbook {
    pub fn load(path: &Path) -> Result<Runbook, RunbookError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RunbookError::Read {
            path: p.clone(),
            source,
        })?;
        Runbook::parse(&text).map_err(|message| RunbookError::Invalid { path: p, message })
    }

    pub fn parse(text: &str) -> Result<Runbook, String> {
        let de = serde_yaml::Deserializer::from_str(text);
        let rb: Runbook = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let loc = inner
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            let msg = inner.to_string();
            let msg = match msg.rfind(" at line ") {
                Some(i) => msg[..i].to_string(),
                None => msg,
            };
            if path == "." {
                format!("{msg}{loc}")
            } else {
                format!("field `{path}`: {msg}{loc}")
            }
        })?;
        rb.validate()?;
        Ok(rb)
    }

    fn validate(&self) -> Result<(), String> {
        let mut errs = Vec::new();
        if self.name.trim().is_empty() {
            errs.push("field `name`: must not be empty".to_string());
        }
        if !(self.traffic.rps > 0.0 && self.traffic.rps <= 5000.0) {
            errs.push("field `traffic.rps`: must be more than 0 and at most 5000".into());
        }
        if let Some(r) = self.traffic.ramp_to_rps {
            if !(r > 0.0 && r <= 5000.0) {
                errs.push(
                    "field `traffic.ramp_to_rps`: must be more than 0 and at most 5000".into(),
                );
            }
        }
        if self.traffic.timeout.0.is_zero() {
            errs.push("field `traffic.timeout`: must be more than 0".into());
        }
        if self.traffic.duration.0 < Duration::from_secs(1)
            || self.traffic.duration.0 > Duration::from_secs(3600)
        {
            errs.push("field `traffic.duration`: must be between 1s and 1h".into());
        }
        let m = self.traffic.mix;
        if m.c2b + m.manual + m.read == 0 {
            errs.push(
                "field `traffic.mix`: at least one kind of request must have a weight".into(),
            );
        }
        for (i, f) in self.faults.iter().enumerate() {
            if f.at.0 >= self.traffic.duration.0 {
                errs.push(format!(
                    "field `faults[{i}].at`: must be before the end of traffic ({})",
                    humantime::format_duration(self.traffic.duration.0)
                ));
            }
            if f.kind == FaultKind::SlowLink && f.latency_ms.is_none() {
                errs.push(format!(
                    "field `faults[{i}].latency_ms`: required for slow-link"
                ));
            }
        }
        match self.reaction.kind {
            ReactionKind::Switchover if self.reaction.at.is_none() => {
                errs.push("field `reaction.at`: required for a switchover reaction".into())
            }
            ReactionKind::Auto | ReactionKind::None if self.reaction.at.is_some() => {
                errs.push("field `reaction.at`: only a switchover reaction has a time".into())
            }
            _ => {}
        }
        if self.abort.max_error_ratio.is_nan()
            || self.abort.max_error_ratio < 0.0
            || self.abort.window.0.is_zero()
        {
            errs.push(
                "field `abort`: `max_error_ratio` must be at least 0 and `for` more than 0".into(),
            );
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "name: t\ntraffic: { rps: 10, duration: 10s }\nfaults:\n  - { kind: kill-db, at: 2s }\nreaction: { kind: auto }\nobjectives: { rto: 5s, rpo: 0 }\n";

    #[test]
    fn parses_a_good_runbook() {
        let r = Runbook::parse(GOOD).unwrap();
        assert_eq!(r.faults[0].kind, FaultKind::KillDb);
        assert_eq!(r.objectives.rto.0, Duration::from_secs(5));
        assert_eq!(r.cleanup, Cleanup::Failback);
    }

    #[test]
    fn errors_name_the_field_and_line() {
        let bad_fault = GOOD.replace("kill-db", "kill-moon");
        let e = Runbook::parse(&bad_fault).unwrap_err();
        assert!(
            e.contains("faults[0].kind") && e.contains("line 4") && e.contains("kill-moon"),
            "{e}"
        );

        let no_objective =
            GOOD.replace("objectives: { rto: 5s, rpo: 0 }", "objectives: { rto: 5s }");
        let e = Runbook::parse(&no_objective).unwrap_err();
        assert!(
            e.contains("objectives") && e.contains("rpo") && e.contains("line 6"),
            "{e}"
        );

        let wrong_type = GOOD.replace("rps: 10", "rps: lots");
        let e = Runbook::parse(&wrong_type).unwrap_err();
        assert!(e.contains("traffic.rps") && e.contains("line 2"), "{e}");

        let unknown = format!("{GOOD}colour: blue\n");
        let e = Runbook::parse(&unknown).unwrap_err();
        assert!(e.contains("colour") && e.contains("line 7"), "{e}");

        let late = GOOD.replace("at: 2s", "at: 20s");
        let e = Runbook::parse(&late).unwrap_err();
        assert!(e.contains("faults[0].at"), "{e}");
    }
}
