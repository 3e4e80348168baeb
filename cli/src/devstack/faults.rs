//! Faults a drill injected into the local stack, recorded *before* they are injected
//! (`faults.json` in the state directory), so that a drill killed at any moment leaves a
//! way back: `pmctl dev up` and the next drill heal every recorded fault (continue a frozen
//! PostgreSQL, bring links up) and restart what was killed; `pmctl status` reports them.

use super::net::LinkMode;
use super::stack::{write_private, Stack};
use serde::{Deserialize, Serialize};

/// How to undo a fault (besides restarting killed processes, which `dev up` does anyway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "kebab-case")]
pub enum Undo {
    /// Nothing beyond restarting what was killed.
    Restart,
    /// SIGCONT the region's PostgreSQL instance (it was SIGSTOPped).
    ContinueDb { region: String },
    /// Set these links back to `up`.
    LinksUp { links: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The fault kind's name (`hang`, `partition`, …).
    pub fault: String,
    pub region: String,
    pub latency_ms: Option<u64>,
    pub undo: Undo,
    pub pid: u32,
    pub at: chrono::DateTime<chrono::Utc>,
}

fn file(stack: &Stack) -> std::path::PathBuf {
    stack.root.join("faults.json")
}

pub fn pending(stack: &Stack) -> Vec<Record> {
    std::fs::read_to_string(file(stack))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save(stack: &Stack, records: &[Record]) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(records).expect("serialise");
    write_private(&file(stack), text.as_bytes())
}

/// Records a fault about to be injected.
pub fn record(stack: &Stack, rec: Record) -> std::io::Result<()> {
    let mut all = pending(stack);
    all.push(rec);
    save(stack, &all)
}

/// Heals every recorded fault and forgets it; returns what was done.
pub async fn heal_pending(stack: &Stack) -> Vec<String> {
    let records = pending(stack);
    if records.is_empty() {
        return vec![];
    }
    let mut notes = Vec::new();
    let mut left = Vec::new();
    let admin = stack.admin();
    for r in records {
        let healed = match &r.undo {
            Undo::Restart => true,
            Undo::ContinueDb { region } => {
                if let Some(pid) = stack.cluster(region).ok().and_then(|c| c.pid()) {
                    super::process::signal_tree(pid, nix::sys::signal::Signal::SIGCONT);
                    notes.push(format!("continued {region}'s PostgreSQL (pid {pid})"));
                }
                true
            }
            Undo::LinksUp { links } => {
                let mut ok = true;
                for l in links {
                    match admin.set_link_mode(l, LinkMode::Up).await {
                        Ok(_) => notes.push(format!("link {l} up")),
                        Err(e) => {
                            ok = false;
                            notes.push(format!("link {l} could not be set up: {e}"));
                        }
                    }
                }
                ok
            }
        };
        if !healed {
            left.push(r);
        }
    }
    if let Err(e) = save(stack, &left) {
        notes.push(format!("could not update {}: {e}", file(stack).display()));
    }
    notes
}
