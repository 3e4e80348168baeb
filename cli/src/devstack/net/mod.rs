//! The "net" process of a local stack: the front door, every link and one admin API.
//!
//! `pmctl internal net --config <state-dir>/net.json` calls [`NetConfig::load`] then [`run`].
//! Tests (and anything that binds port 0) use [`NetServer::bind`] to learn the bound addresses
//! before [`NetServer::serve`].
//!
//! Admin API (every route but `/admin/health` needs `Authorization: Bearer <admin_token>`):
//!
//! | route                          | body                                   |
//! |--------------------------------|----------------------------------------|
//! | `GET /admin/health`            | — (no auth) → `200 ok`                 |
//! | `GET /admin/state`             | — → [`NetState`]                       |
//! | `PUT /admin/primary`           | `{"region":"west"}`                    |
//! | `PUT /admin/writes`            | `{"blocked":true}`                     |
//! | `PUT /admin/links/{name}`      | `{"mode":"latency","ms":200}` …        |
//! | `POST /admin/metrics/reset`    | —                                      |
//! | `PUT /admin/canary/{region}`   | `{"upstream":"http://…","weight":10,"label":"v2"}` |
//! | `DELETE /admin/canary/{region}`| —                                      |
//!
//! Mutating routes answer with the new [`NetState`]. Errors are `application/problem+json`.
//! The mutable state (PRIMARY, write block, link modes) is persisted to `state_file`
//! (write temp, fsync, rename) before a mutation is acknowledged, and loaded at start, so a
//! restarted net process keeps them; metrics and health are not persisted (health starts
//! healthy, as a new Route 53 check does).
mod admin;
mod canary;
mod client;
mod config;
mod server;
mod state;

pub use super::frontdoor::{
    CanarySnapshot, CanarySpec, FrontDoorConfig, HealthCheckConfig, HealthSnapshot, LatencySummary,
    MetricsCounts, MetricsSnapshot, RecordSnapshot, RegionMetricsSnapshot, RegionRecord, Role,
};
pub use super::link::{LinkConfig, LinkMode, LinkSnapshot};
pub use client::{AdminClient, AdminError};
pub use config::NetConfig;
pub use server::{run, NetServer};
pub use state::PersistedState;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Errors of the net process.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot read net config {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse net config {path}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid net config: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    #[error("cannot listen on {addr} for the {purpose} (is another net process running?)")]
    Bind {
        purpose: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("bad state file {path}: {reason} (fix it or delete it to start from the config)")]
    BadState { path: PathBuf, reason: String },
    #[error("cannot read state file {path}")]
    ReadState {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write state file {path}")]
    WriteState {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the {purpose} server failed")]
    Serve {
        purpose: String,
        #[source]
        source: io::Error,
    },
}

/// The admin API's full snapshot (`GET /admin/state`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NetState {
    pub generated_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub frontdoor_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub records: Vec<RecordSnapshot>,
    /// The PRIMARY region.
    pub primary: String,
    pub health: Vec<HealthSnapshot>,
    /// The region new requests go to now (failover routing applied).
    pub routing_to: String,
    pub writes_blocked: bool,
    pub links: Vec<LinkSnapshot>,
    pub metrics: MetricsSnapshot,
    /// Deploy canaries (weighted second targets of a region), with their own counts.
    #[serde(default)]
    pub canaries: Vec<CanarySnapshot>,
}

/// An error and its causes, `: `-separated.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
