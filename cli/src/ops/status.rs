//! `pmctl status`: both regions at a glance and a verdict.

use crate::journal;
use crate::provider::{DbRole, PendingFault, Provider, ProviderError, Topology};
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

/// An unfinished operation found in the journal.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpenOperation {
    pub op_id: String,
    pub operation: &'static str,
    pub from: String,
    pub to: String,
    pub done: usize,
    pub total: usize,
    pub writes_blocked: bool,
}

/// What status knows besides the topology.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub open_operation: Option<OpenOperation>,
    pub pending_faults: Vec<PendingFault>,
    /// The journal could not be read: whether an operation is unfinished is unknown.
    pub journal_error: Option<String>,
}

/// Judges a topology. DOWN: writes cannot succeed (no writer, split brain, the entry point
/// routes to a region that is not the writer, writes blocked or hanging, or the entry point
/// unreadable). DEGRADED: anything else wrong (alarms, a region unhealthy or fenced, a
/// replica not streaming, an interrupted operation, a fault left behind…).
pub fn verdict(t: &Topology, cx: &Context) -> Verdict {
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
    for w in &writers {
        if let Some(s) = &w.writes_stall {
            down.push(s.clone());
        }
    }
    if let Some(e) = &cx.journal_error {
        degraded.push(format!(
            "{e} (an unfinished operation cannot be ruled out; operations are refused until it is repaired)"
        ));
    }
    if let Some(op) = &cx.open_operation {
        degraded.push(format!(
            "operation {} ({} {} → {}) was interrupted after step {}/{}{}: continue it with `pmctl {} --resume --yes`",
            op.op_id,
            op.operation,
            op.from,
            op.to,
            op.done,
            op.total,
            if op.writes_blocked { ", leaving writes blocked" } else { "" },
            op.operation
        ));
    }
    for r in &t.regions {
        if !r.api_healthy {
            degraded.push(format!("API {} is not ready", r.name));
        }
        match (&r.fenced, r.db_role) {
            (Some(f), _) => degraded.push(format!("database {} is {f}", r.name)),
            (None, DbRole::Down) => degraded.push(format!("database {} is unreachable", r.name)),
            (None, DbRole::Fenced) => {
                degraded.push(format!("database {} is fenced (read-only)", r.name))
            }
            (None, DbRole::Replica) if !r.streaming => {
                degraded.push(format!("replica {} is not streaming", r.name))
            }
            _ => {}
        }
    }
    for a in &t.alarms {
        degraded.push(format!("alarm {}: {}", a.name, a.detail));
    }
    for f in &cx.pending_faults {
        if f.owner_alive {
            degraded.push(format!(
                "fault {} on {} injected by a running drill (pmctl pid {})",
                f.fault.kind.name(),
                f.fault.region,
                f.pid
            ));
        } else {
            degraded.push(format!(
                "fault {} on {} left by a drill that did not finish (pid {}): `pmctl dev up` heals it",
                f.fault.kind.name(),
                f.fault.region,
                f.pid
            ));
        }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_operation: Option<OpenOperation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_faults: Vec<PendingFault>,
    /// Journal warnings (a torn last line).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// Reads the world, the journal and the recorded faults, and judges them.
pub async fn run(p: &dyn Provider) -> Result<StatusReport, StatusError> {
    let topology = p.snapshot().await?;
    // A damaged journal is reported, not a reason to show nothing.
    let (ops, warnings, journal_error) = match journal::load(p.store()).await {
        Ok((ops, w)) => (ops, w, None),
        Err(e) => (vec![], vec![], Some(e.to_string())),
    };
    let open_operation = journal::open_operation(&ops).map(|o| OpenOperation {
        op_id: o.op_id.clone(),
        operation: o.plan.operation.name(),
        from: o.plan.from.clone(),
        to: o.plan.to.clone(),
        done: o.done.len(),
        total: o.plan.steps.len(),
        writes_blocked: o.writes_blocked(),
    });
    let cx = Context {
        open_operation,
        pending_faults: p.faults().pending(),
        journal_error,
    };
    Ok(StatusReport {
        verdict: verdict(&topology, &cx),
        topology,
        open_operation: cx.open_operation,
        pending_faults: cx.pending_faults,
        warnings,
    })
}

#[cfg(test)]
mod tests;
