//! A plan: the typed list of steps a region change will execute. `--dry-run` prints it;
//! execution runs this same value (it is stored in the journal), and its short hash lets an
//! operator insist that what runs is exactly what they reviewed (`--plan-hash`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Switchover,
    Failover,
    Failback,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Switchover => "switchover",
            OpKind::Failover => "failover",
            OpKind::Failback => "failback",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    BlockWrites,
    UnblockWrites,
    FenceWriter {
        region: String,
    },
    StopWriter {
        region: String,
    },
    WaitCaughtUp {
        replica: String,
    },
    Promote {
        region: String,
    },
    RecordTopology {
        writer: String,
        epoch: i64,
    },
    SetSyncStandby {
        writer: String,
        standby: Option<String>,
    },
    RebuildReplica {
        region: String,
        of: String,
    },
    MoveDns {
        to: String,
    },
    VerifyWrite {
        region: String,
    },
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::BlockWrites => "block-writes",
            Step::UnblockWrites => "unblock-writes",
            Step::FenceWriter { .. } => "fence-writer",
            Step::StopWriter { .. } => "stop-writer",
            Step::WaitCaughtUp { .. } => "wait-caught-up",
            Step::Promote { .. } => "promote",
            Step::RecordTopology { .. } => "record-topology",
            Step::SetSyncStandby { .. } => "set-sync-standby",
            Step::RebuildReplica { .. } => "rebuild-replica",
            Step::MoveDns { .. } => "move-dns",
            Step::VerifyWrite { .. } => "verify-write",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Step::BlockWrites => "block writes at the front door (reads continue; writes get 503 + Retry-After)".into(),
            Step::UnblockWrites => "unblock writes at the front door".into(),
            Step::FenceWriter { region } => format!(
                "fence {region}: read-only, client sessions cut, stopped, marked to start only as a standby (if unreachable: marked, reported)"
            ),
            Step::StopWriter { region } => format!(
                "stop {region}'s database cleanly (its last WAL, incl. the shutdown checkpoint, reaches the standby)"
            ),
            Step::WaitCaughtUp { replica } => format!(
                "wait until {replica} has replayed every byte of WAL it received (LSN equal, stable)"
            ),
            Step::Promote { region } => format!("promote {region}'s database to writer"),
            Step::RecordTopology { writer, epoch } => {
                format!("record writer = {writer}, fencing epoch {epoch}, in {writer}'s database")
            }
            Step::SetSyncStandby { writer, standby: Some(s) } => format!(
                "make {s} the synchronous standby of {writer} (RPO zero: every acknowledged commit on both)"
            ),
            Step::SetSyncStandby { writer, standby: None } => format!(
                "{writer} commits without a synchronous standby (RPO protection degraded until failback)"
            ),
            Step::RebuildReplica { region, of } => format!(
                "rebuild {region} as a streaming replica of {of} (pg_rewind; fresh clone if rewind is impossible)"
            ),
            Step::MoveDns { to } => format!("point the DNS PRIMARY record at {to}"),
            Step::VerifyWrite { region } => {
                format!("verify: a write through the front door succeeds in {region}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub operation: OpKind,
    pub environment: String,
    pub from: String,
    pub to: String,
    /// Fencing epoch now → after.
    pub epoch: (i64, i64),
    /// The facts the plan was made from; a change in them changes the plan (and its hash).
    pub facts: Vec<String>,
    pub steps: Vec<Step>,
}

impl Plan {
    /// 12 hex digits of SHA-256 over the plan's canonical JSON.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("plan serialises");
        hex::encode(&Sha256::digest(&json)[..6])
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Plan {}: {} {} → {} (environment {}, epoch {} → {})",
            self.hash(),
            self.operation.name(),
            self.from,
            self.to,
            self.environment,
            self.epoch.0,
            self.epoch.1
        );
        let _ = writeln!(s, "Facts:");
        for f in &self.facts {
            let _ = writeln!(s, "  - {f}");
        }
        let _ = writeln!(s, "Steps:");
        for (i, st) in self.steps.iter().enumerate() {
            let _ = writeln!(s, "  {:>2}. {:<17} {}", i + 1, st.name(), st.describe());
        }
        s
    }
}
