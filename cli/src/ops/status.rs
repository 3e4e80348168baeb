//! `pmctl status`: both regions at a glance and a verdict.

use crate::provider::{DbRole, Topology};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Ok,
    Degraded,
    Down,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub level: Level,
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.level {
            Level::Ok => f.write_str("OK"),
            Level::Degraded => write!(f, "DEGRADED: {}", self.reasons.join("; ")),
            Level::Down => write!(f, "DOWN: {}", self.reasons.join("; ")),
        }
    }
}

/// Judges a topology. DOWN: writes cannot succeed (no writer, split brain, the entry point
/// routes to a region that is not the writer, or the entry point is unreadable).
/// DEGRADED: anything else wrong (alarms, a region unhealthy, a replica not streaming…).
pub fn verdict(t: &Topology) -> Verdict {
    let mut down = Vec::new();
    let mut degraded = Vec::new();
    let writers = t.writers();
    match writers.len() {
        0 => down.push("no region's database accepts writes".to_string()),
        1 => {}
        _ => down.push(format!(
            "split brain: {} all accept writes",
            writers
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        )),
    }
    match &t.dns {
        None => down.push("the front door / DNS cannot be read".into()),
        Some(d) => {
            if let [w] = writers.as_slice() {
                if d.routing_to != w.name {
                    down.push(format!(
                        "traffic goes to {} but the writer is {}: writes fail",
                        d.routing_to, w.name
                    ));
                } else if d.primary != w.name {
                    degraded.push(format!(
                        "DNS PRIMARY is {} but the writer is {} (served by failover routing)",
                        d.primary, w.name
                    ));
                }
            }
            if d.writes_blocked {
                down.push("writes are blocked at the front door".into());
            }
        }
    }
    for r in &t.regions {
        if !r.api_healthy {
            degraded.push(format!("API {} is not ready", r.name));
        }
        match r.db_role {
            DbRole::Down => degraded.push(format!("database {} is unreachable", r.name)),
            DbRole::Fenced => degraded.push(format!("database {} is fenced (read-only)", r.name)),
            DbRole::Replica if !r.streaming => {
                degraded.push(format!("replica {} is not streaming", r.name))
            }
            _ => {}
        }
    }
    for a in &t.alarms {
        degraded.push(format!("alarm {}: {}", a.name, a.detail));
    }
    if !down.is_empty() {
        down.extend(degraded);
        Verdict {
            level: Level::Down,
            reasons: down,
        }
    } else if !degraded.is_empty() {
        Verdict {
            level: Level::Degraded,
            reasons: degraded,
        }
    } else {
        Verdict {
            level: Level::Ok,
            reasons: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub verdict: Verdict,
    pub topology: Topology,
}
