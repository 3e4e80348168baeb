//! What the autopilot observes: each region's database as the witness (the autopilot's own
//! vantage point) reaches it, and as the other region reaches it (the replication path).
//! A provider observes its environment through a stateful [`Vantage`] (local: persistent
//! connections through the witness and replication links).

use super::ProviderError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Whether a vantage point reaches a region's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reach", rename_all = "snake_case")]
pub enum Reach {
    Up,
    Down { why: String },
}

impl Reach {
    pub fn up(&self) -> bool {
        matches!(self, Reach::Up)
    }
}

/// What can be done about the old writer if the replica is promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fence", rename_all = "snake_case")]
pub enum Fencing {
    /// The provider can fence it (stop / mark it, or cut its application tier).
    Possible,
    /// Provably gone (process dead, region's control plane reports it down).
    WriterGone,
    Impossible {
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionView {
    pub name: String,
    /// The witness's own probe of this region's database.
    pub witness: Reach,
    /// The other region's path to this region (the replication path).
    pub from_peer: Reach,
    /// As the witness sees it, when it reaches it: a replica (true) or a writer (false).
    pub in_recovery: Option<bool>,
    /// The entry point (front door / Route 53) considers its API healthy.
    pub entry_healthy: Option<bool>,
}

/// One round of observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub regions: Vec<RegionView>,
    /// The writer the environment last reported (topology record / single writer).
    pub writer: Option<String>,
    /// The replica's last known lag behind the writer (bytes or ms), if measured.
    pub lag_bytes: Option<i64>,
    pub lag_ms: Option<u64>,
    pub fencing: Fencing,
    /// Someone (a human's pmctl, a drill) holds the operations lock or left an
    /// operation unfinished: hands off.
    pub operation: Option<String>,
}

impl Observation {
    pub fn region(&self, name: &str) -> Option<&RegionView> {
        self.regions.iter().find(|r| r.name == name)
    }
}

#[async_trait]
pub trait Vantage: Send + Sync {
    /// One round of observations. `writer_hint` is the writer the autopilot last knew,
    /// used when the writer cannot be reached to ask.
    async fn observe(&mut self, writer_hint: Option<&str>) -> Result<Observation, ProviderError>;
}
