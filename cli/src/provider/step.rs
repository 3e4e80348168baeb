//! Capabilities (what the engine asks for) and steps (how one provider does it).
//!
//! The engine composes every region change from the same capabilities — pause writes, route
//! traffic, planned switch, fence, promote, rebuild as replica, verify a write — and each
//! provider expands a capability into its own typed steps: the local stack stops the
//! writer, waits for the LSN, promotes and rewinds; AWS makes one managed
//! `SwitchoverGlobalCluster` call and waits. A plan is the list of those steps, so it reads
//! like a runbook of the environment it runs in; the engine journals, hashes and resumes
//! steps without knowing what they do.

use serde::{Deserialize, Serialize};

/// One thing the engine needs done, in environment-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "capability", rename_all = "kebab-case")]
pub enum Capability {
    /// Stop accepting writes at the entry point (reads continue).
    PauseWrites,
    ResumeWrites,
    /// Send new requests to `region`.
    RouteTrafficTo {
        region: String,
    },
    /// Move the writer from `from` to `to` with zero data loss; `from` ends as a replica of
    /// `to` (synchronous when `sync`).
    PlannedSwitch {
        from: String,
        to: String,
        epoch: i64,
        sync: bool,
    },
    /// Make `region` unable to take writes (it may be unreachable).
    Fence {
        region: String,
        epoch: i64,
    },
    /// Make `region` the writer although the old writer is gone; `allow_data_loss` says the
    /// operator accepted that writes not yet replicated may be lost.
    Promote {
        region: String,
        from: String,
        epoch: i64,
        allow_data_loss: bool,
    },
    /// Make `region` a replica of `of` again (synchronous when `sync`).
    RebuildAsReplica {
        region: String,
        of: String,
        sync: bool,
    },
    /// A real write through the entry point, served by `region`.
    VerifyWrite {
        region: String,
    },

    // --- deploys (`ops::deploy`) -------------------------------------------------------
    /// Apply the release's pending migrations on the writer `region`.
    Migrate {
        region: String,
        release: ReleaseSpec,
    },
    /// Run `release` beside `region`'s current version, taking no traffic yet.
    StartCanary {
        region: String,
        release: ReleaseSpec,
    },
    /// Send `percent` % of `region`'s requests to its canary (running `release`).
    ShiftTraffic {
        region: String,
        release: ReleaseSpec,
        percent: u8,
    },
    /// Make the canary `region`'s version (100 %, the old version drained).
    PromoteCanary {
        region: String,
        release: ReleaseSpec,
    },
    /// Send everything back to `region`'s current version and stop the canary.
    AbortCanary {
        region: String,
    },
}

/// A release to deploy, in provider-neutral terms (part of the plan, so of its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSpec {
    /// The version it reports (`/ready`).
    pub version: String,
    /// The artifact (local: a server program; AWS: the Lambda zip); None: the built-in one.
    pub artifact: Option<String>,
    /// SHA-256 of the artifact.
    pub sha256: Option<String>,
}

impl std::fmt::Display for ReleaseSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.version)?;
        if let Some(s) = &self.sha256 {
            write!(f, " (sha256 {})", &s[..s.len().min(12)])?;
        }
        Ok(())
    }
}

/// How the gate judges a canary step (integers, so plans stay hashable and comparable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateSpec {
    /// 5xx answers per thousand above which the canary is rolled back.
    pub max_5xx_per_mille: u32,
    pub max_p99_ms: u64,
    /// Requests the canary must have answered before its 5xx share counts.
    pub min_requests: u64,
}

/// A plan step. Provider steps are executed by the provider that planned them; `gate` is
/// the engine's own (a fresh preflight in the middle of a plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    // --- engine -------------------------------------------------------------------------
    /// Re-run the preflight rules of a switchover to `to` on a fresh snapshot; stop here,
    /// before the writer moves, when any refuses.
    Gate {
        to: String,
    },

    // --- local stack (PostgreSQL, front door, links) ------------------------------------
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

    // --- AWS (Aurora Global Database, Route 53, Lambda) ---------------------------------
    /// Managed switchover: Aurora blocks writes, catches up, promotes and repoints.
    SwitchoverGlobalCluster {
        to: String,
    },
    /// Unplanned: promote the secondary's cluster (AllowDataLoss when accepted).
    FailoverGlobalCluster {
        to: String,
        allow_data_loss: bool,
    },
    /// Wait until `region`'s cluster is the global cluster's writer and available.
    WaitGlobalWriter {
        region: String,
    },
    /// Wait until `region` has rejoined the global cluster as a secondary within budget.
    WaitSecondaryRejoined {
        region: String,
    },
    /// Application-tier fence / unfence: the region's API function's reserved concurrency
    /// (0 = no invocation can reach the database through our API; None = unreserved).
    SetApiConcurrency {
        region: String,
        value: Option<i32>,
    },
    /// UPSERT the failover records: `primary` PRIMARY, the other SECONDARY.
    SetFailoverRecords {
        primary: String,
    },
    /// A write through `region`'s regional API endpoint.
    VerifyRegionalWrite {
        region: String,
    },

    // --- deploys (local stack) ------------------------------------------------------------
    /// Apply the release's pending migrations on `region`'s database (the writer).
    RunMigrations {
        region: String,
        release: ReleaseSpec,
    },
    /// Start `release` as `region`'s canary API process (no traffic yet).
    StartCanary {
        region: String,
        release: ReleaseSpec,
    },
    /// The front door sends `percent` % of `region`'s requests to the canary.
    SetCanaryWeight {
        region: String,
        percent: u8,
    },
    /// Engine: watch the canary for `window_secs`; roll the region back and stop the
    /// deploy when the gate fires.
    WatchCanary {
        region: String,
        percent: u8,
        window_secs: u64,
        gate: GateSpec,
    },
    /// Canary to 100 %, old API drained, `release` restarted on the API port, canary
    /// drained.
    PromoteCanary {
        region: String,
        release: ReleaseSpec,
    },
    /// Canary weight 0, canary process drained.
    StopCanary {
        region: String,
    },

    // --- deploys (AWS Lambda) --------------------------------------------------------------
    /// Upload the release's zip as the region's API function code and publish it as a
    /// version (reused when a version with that code exists). No alias serves it yet.
    PublishVersion {
        region: String,
        release: ReleaseSpec,
    },
    /// UpdateAlias: the alias's current version keeps its place, the release's version gets
    /// `percent` % of the invocations (read back with GetAlias).
    SetAliasWeight {
        region: String,
        release: ReleaseSpec,
        percent: u8,
    },
    /// UpdateAlias: the release's version serves everything; the release is recorded as the
    /// region's current one, the version it replaced as the previous one.
    PromoteAlias {
        region: String,
        release: ReleaseSpec,
    },
    /// UpdateAlias: every invocation back to the alias's current version (canary weight
    /// removed).
    ResetAlias {
        region: String,
    },

    // --- fake (unit tests of the engine) ------------------------------------------------
    Fake {
        capability: Capability,
    },
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Gate { .. } => "gate",
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
            Step::SwitchoverGlobalCluster { .. } => "switchover-global",
            Step::FailoverGlobalCluster { .. } => "failover-global",
            Step::WaitGlobalWriter { .. } => "wait-writer",
            Step::WaitSecondaryRejoined { .. } => "wait-rejoined",
            Step::SetApiConcurrency { .. } => "api-concurrency",
            Step::SetFailoverRecords { .. } => "failover-records",
            Step::VerifyRegionalWrite { .. } => "verify-write",
            Step::RunMigrations { .. } => "migrate",
            Step::StartCanary { .. } => "start-canary",
            Step::SetCanaryWeight { .. } => "shift-traffic",
            Step::WatchCanary { .. } => "watch-canary",
            Step::PromoteCanary { .. } => "promote-canary",
            Step::StopCanary { .. } => "stop-canary",
            Step::PublishVersion { .. } => "publish-version",
            Step::SetAliasWeight { .. } => "shift-traffic",
            Step::PromoteAlias { .. } => "promote-alias",
            Step::ResetAlias { .. } => "reset-alias",
            Step::Fake { .. } => "fake",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Step::Gate { to } => format!(
                "gate: re-check the switchover preflight for {to} on a fresh snapshot (stop here if it refuses)"
            ),
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
            Step::SwitchoverGlobalCluster { to } => format!(
                "RDS SwitchoverGlobalCluster to {to}'s cluster (Aurora blocks writes, catches up, promotes it, repoints the old writer)"
            ),
            Step::FailoverGlobalCluster { to, allow_data_loss } => format!(
                "RDS FailoverGlobalCluster to {to}'s cluster{}",
                if *allow_data_loss { " with AllowDataLoss (writes not yet replicated may be lost)" } else { "" }
            ),
            Step::WaitGlobalWriter { region } => format!(
                "poll DescribeGlobalClusters + DescribeDBClusters until {region}'s cluster is the global writer and available"
            ),
            Step::WaitSecondaryRejoined { region } => format!(
                "poll DescribeGlobalClusters, DescribeDBClusters, GetMetricData until {region}'s cluster has rejoined as a connected secondary with its lag within budget"
            ),
            Step::SetApiConcurrency { region, value: Some(0) } => format!(
                "fence {region} at the application tier: Lambda PutFunctionConcurrency 0 on its API function (if unreachable: reported)"
            ),
            Step::SetApiConcurrency { region, value: Some(n) } => {
                format!("Lambda PutFunctionConcurrency {n} on {region}'s API function")
            }
            Step::SetApiConcurrency { region, value: None } => format!(
                "lift {region}'s fence: Lambda Put/DeleteFunctionConcurrency back to its API function's concurrency before the fence"
            ),
            Step::SetFailoverRecords { primary } => format!(
                "Route 53 ChangeResourceRecordSets, one UPSERT batch: {primary}'s failover record PRIMARY, the other SECONDARY"
            ),
            Step::VerifyRegionalWrite { region } => format!(
                "verify: a write through {region}'s API succeeds (POST /v1/landlord/callback-token/rotate)"
            ),
            Step::RunMigrations { region, release } => format!(
                "apply {}'s pending migrations on {region}'s database (the writer; refused if one breaks the running version)",
                release.version
            ),
            Step::StartCanary { region, release } => format!(
                "start {release} as {region}'s canary API beside the current one (no traffic yet)"
            ),
            Step::SetCanaryWeight { region, percent } => format!(
                "front door: {percent}% of {region}'s requests to the canary"
            ),
            Step::WatchCanary { region, percent, window_secs, gate } => format!(
                "watch {region}'s canary at {percent}% for {window_secs}s: roll back if 5xx > {:.1}% (after {} requests) or p99 > {} ms",
                f64::from(gate.max_5xx_per_mille) / 10.0,
                gate.min_requests,
                gate.max_p99_ms
            ),
            Step::PromoteCanary { region, release } => format!(
                "promote {release} in {region}: canary 100%, old API drained, {} restarted on the API port, canary drained",
                release.version
            ),
            Step::StopCanary { region } => format!(
                "roll back {region}: all requests to the current API, canary drained"
            ),
            Step::PublishVersion { region, release } => format!(
                "Lambda UpdateFunctionCode + PublishVersion: {release} as a new version of {region}'s API function (an existing version with the same code is reused); no alias serves it yet"
            ),
            Step::SetAliasWeight { region, release, percent } => format!(
                "Lambda UpdateAlias in {region}: {percent}% of the alias's invocations to {}'s version, the rest to the current one (read back with GetAlias)",
                release.version
            ),
            Step::PromoteAlias { region, release } => format!(
                "Lambda UpdateAlias in {region}: {}'s version serves 100%; recorded as {region}'s current release, the version it replaces as the previous one",
                release.version
            ),
            Step::ResetAlias { region } => format!(
                "roll back {region}: Lambda UpdateAlias, every invocation to the alias's current version (canary weight removed)"
            ),
            Step::Fake { capability } => format!("fake: {capability:?}"),
        }
    }

    /// The region whose release this step makes current (a deploy's or rollback's
    /// promotion).
    pub fn promotes_release(&self) -> Option<&str> {
        match self {
            Step::PromoteCanary { region, .. } | Step::PromoteAlias { region, .. } => Some(region),
            _ => None,
        }
    }

    /// Steps that may leave writes blocked when interrupted (status and history say so).
    pub fn blocks_writes(&self) -> bool {
        matches!(self, Step::BlockWrites)
    }
}
