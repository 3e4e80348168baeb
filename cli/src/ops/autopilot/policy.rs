//! The autopilot's policy: a pure function from what the vantage points observe (and what
//! the autopilot remembers) to a decision. Fail over when — and only when — the writer is
//! unreachable from the witness *and* from the replica's side for longer than the detection
//! window, RPO protection permits it, the target can take over, and fencing is possible or
//! the writer is provably gone; never within the cool-down of an automatic failover, never
//! while paused or while someone else operates. A partition in which the witness still
//! reaches the writer never promotes.

use crate::config::Rpo;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use crate::provider::vantage::{Fencing, Observation, Reach, RegionView};

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub detection_window: Duration,
    pub cooldown: Duration,
    pub rpo: Rpo,
    pub max_lag_bytes: i64,
    pub max_lag_ms: u64,
    pub dry_run: bool,
}

/// What the autopilot remembers between rounds (persisted: a restart keeps the cool-down).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// When the writer was first seen lost from both vantage points (ms on the
    /// autopilot's clock), reset when either reaches it again.
    #[serde(skip)]
    pub lost_since_ms: Option<u64>,
    /// The last lag seen while the writer was reachable (bytes / ms).
    #[serde(skip)]
    pub last_lag: Option<(Option<i64>, Option<u64>)>,
    /// When the autopilot last failed over by itself (UTC), until a human re-arms it.
    pub last_auto_failover: Option<chrono::DateTime<chrono::Utc>>,
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The writer is reachable from the witness and from its replica.
    Healthy { writer: String },
    /// Something is off, but nothing to do (yet): the reason says what and why not.
    Hold { reason: String, page: bool },
    /// Lost from both vantage points, inside the detection window.
    Watching { writer: String, lost_for_ms: u64 },
    /// Fail over now.
    Failover {
        from: String,
        to: String,
        accept_data_loss: bool,
        reason: String,
    },
}

impl Decision {
    /// A label for deduplicating the journal (a decision is journaled when it changes).
    pub fn key(&self) -> String {
        match self {
            Decision::Healthy { writer } => format!("healthy {writer}"),
            Decision::Hold { reason, .. } => format!("hold {reason}"),
            Decision::Watching { writer, .. } => format!("watching {writer}"),
            Decision::Failover { from, to, .. } => format!("failover {from} {to}"),
        }
    }
}

fn hold(reason: impl Into<String>, page: bool) -> Decision {
    Decision::Hold {
        reason: reason.into(),
        page,
    }
}

/// Decides one round. `now_ms` is the autopilot's monotonic clock; `now` wall time.
pub fn decide(
    o: &Observation,
    m: &mut Memory,
    p: &Policy,
    now_ms: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    let Some(writer) = o.writer.clone() else {
        m.lost_since_ms = None;
        return hold(
            "no single writer is known (none, or two): a human decides",
            true,
        );
    };
    if let Some(op) = &o.operation {
        m.lost_since_ms = None;
        return hold(format!("hands off: {op}"), false);
    }
    let Some(w) = o.region(&writer) else {
        return hold(
            format!("writer {writer} is not a region of this environment"),
            true,
        );
    };
    let target = o.regions.iter().find(|r| r.name != writer);
    if w.witness.up() {
        m.lost_since_ms = None;
        if o.lag_bytes.is_some() || o.lag_ms.is_some() {
            m.last_lag = Some((o.lag_bytes, o.lag_ms));
        }
        if !w.from_peer.up() {
            return hold(
                format!(
                    "the replica's path to writer {writer} is down but the witness reaches it: a partition, not a lost region — no promotion"
                ),
                true,
            );
        }
        return Decision::Healthy { writer };
    }
    if w.from_peer.up() {
        m.lost_since_ms = None;
        return hold(
            format!(
                "the witness cannot reach writer {writer} but its replica can: the witness's own path — no promotion"
            ),
            false,
        );
    }
    let since = *m.lost_since_ms.get_or_insert(now_ms);
    let lost_for = now_ms.saturating_sub(since);
    if lost_for < p.detection_window.as_millis() as u64 {
        return Decision::Watching {
            writer,
            lost_for_ms: lost_for,
        };
    }
    // Lost from both sides beyond the window: may we act?
    let Some(t) = target else {
        return hold("there is no other region to fail over to", true);
    };
    if !t.witness.up() || t.in_recovery != Some(true) {
        return hold(
            format!(
                "writer {writer} is lost, but {} cannot take over (witness: {}, replica: {:?})",
                t.name,
                if t.witness.up() {
                    "reaches it"
                } else {
                    "cannot reach it"
                },
                t.in_recovery
            ),
            true,
        );
    }
    let mut accept_data_loss = false;
    if p.rpo == Rpo::Async {
        let within = match m.last_lag {
            Some((Some(b), _)) => b <= p.max_lag_bytes,
            Some((None, Some(ms))) => ms <= p.max_lag_ms,
            _ => false,
        };
        if !within {
            return hold(
                format!(
                    "writer {writer} is lost, but rpo is async and {}'s last known lag is {} (budget {} bytes / {} ms): a human decides whether to accept the loss",
                    t.name,
                    match m.last_lag {
                        Some((Some(b), _)) => format!("{b} bytes"),
                        Some((None, Some(ms))) => format!("{ms} ms"),
                        _ => "unknown".into(),
                    },
                    p.max_lag_bytes,
                    p.max_lag_ms
                ),
                true,
            );
        }
        // Within budget: what may be lost is at most the budget, accepted by policy.
        accept_data_loss = true;
    }
    if let Fencing::Impossible { why } = &o.fencing {
        return hold(
            format!("writer {writer} is lost, but it cannot be fenced ({why}) and is not provably gone: no promotion"),
            true,
        );
    }
    if let Some(at) = m.last_auto_failover {
        let age = (now - at).to_std().unwrap_or_default();
        if age < p.cooldown {
            return hold(
                format!(
                    "writer {writer} is lost again {}s after the last automatic failover (cool-down {}s): paging, waiting for a human (`pmctl autopilot resume` re-arms)",
                    age.as_secs(),
                    p.cooldown.as_secs()
                ),
                true,
            );
        }
    }
    if m.paused {
        return hold(
            format!("writer {writer} is lost, but the autopilot is paused: paging"),
            true,
        );
    }
    let reason = format!(
        "writer {writer} unreachable from the witness ({}) and from {} ({}) for {lost_for} ms (window {} ms)",
        match &w.witness {
            Reach::Down { why } => why.as_str(),
            Reach::Up => "up",
        },
        t.name,
        match &w.from_peer {
            Reach::Down { why } => why.as_str(),
            Reach::Up => "up",
        },
        p.detection_window.as_millis()
    );
    if p.dry_run {
        return hold(
            format!("dry run: would fail over {writer} → {}: {reason}", t.name),
            true,
        );
    }
    Decision::Failover {
        from: writer,
        to: t.name.clone(),
        accept_data_loss,
        reason,
    }
}
