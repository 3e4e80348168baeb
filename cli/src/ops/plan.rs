//! A plan: the typed list of steps a region change will execute. `--dry-run` prints it;
//! execution runs this same value (it is stored in the journal), and its short hash lets an
//! operator insist that what runs is exactly what they reviewed (`--plan-hash`).

pub use crate::provider::Step;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Switchover,
    Failover,
    Failback,
    /// A new API release to the regions (`pmctl deploy`).
    Deploy,
    /// Regions back to their previous release (`pmctl rollback`).
    Rollback,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Switchover => "switchover",
            OpKind::Failover => "failover",
            OpKind::Failback => "failback",
            OpKind::Deploy => "deploy",
            OpKind::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub operation: OpKind,
    /// The provider that expanded (and must execute) the steps.
    #[serde(default = "default_provider")]
    pub provider: String,
    pub environment: String,
    pub from: String,
    pub to: String,
    /// Fencing epoch now → after.
    pub epoch: (i64, i64),
    /// The facts the plan was made from; a change in them changes the plan (and its hash).
    pub facts: Vec<String>,
    pub steps: Vec<Step>,
}

fn default_provider() -> String {
    "local".into()
}

/// What a plan hash looks like (a prefix of SHA-256 in hex).
pub const HASH_LEN: usize = 12;

impl Plan {
    /// 12 hex digits of SHA-256 over the plan's canonical JSON.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("plan serialises");
        hex::encode(&Sha256::digest(&json)[..HASH_LEN / 2])
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
