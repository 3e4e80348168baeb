//! The Aurora global database: who is writer, each member's state, and the managed
//! region changes (`SwitchoverGlobalCluster`, `FailoverGlobalCluster`).

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::error::AwsError;
use super::sdk::{client_for, RegionConfigs};

/// One member of the global cluster, as DescribeGlobalClusters (and DescribeDBClusters
/// in its region) report it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub cluster_arn: String,
    pub cluster_id: String,
    pub region: String,
    pub is_writer: bool,
    /// `connected` / `pending-resync` (secondaries only).
    pub synchronization_status: Option<String>,
    /// DescribeDBClusters' status (`available`, …); `None` when not read or unreadable.
    pub cluster_status: Option<String>,
    /// Why the cluster status could not be read (e.g. its region is unreachable).
    pub cluster_status_error: Option<String>,
}

/// A switchover or failover in progress (`GlobalCluster.FailoverState`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverState {
    /// `pending`, `switching-over`, `failing-over`, `cancelling`.
    pub status: String,
    pub from_cluster_arn: Option<String>,
    pub to_cluster_arn: Option<String>,
    pub data_loss_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalCluster {
    pub id: String,
    pub arn: Option<String>,
    pub status: Option<String>,
    pub members: Vec<Member>,
    pub failover: Option<FailoverState>,
}

impl GlobalCluster {
    pub fn writer(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.is_writer)
    }

    pub fn writer_region(&self) -> Option<&str> {
        self.writer().map(|m| m.region.as_str())
    }

    pub fn member_in(&self, region: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.region == region)
    }

    /// `region` is writer, its cluster `available`, and no operation is in progress
    /// (needs the member's cluster status: from [`GlobalDatabase::topology`] or a wait).
    pub fn is_settled_with_writer(&self, region: &str) -> bool {
        self.failover.is_none()
            && self.writer().is_some_and(|w| {
                w.region == region && w.cluster_status.as_deref() == Some("available")
            })
    }
}

/// What a wait loop reports on each poll.
#[derive(Debug, Clone)]
pub struct WaitProgress {
    pub elapsed: Duration,
    pub writer_region: Option<String>,
    pub failover_status: Option<String>,
    pub target_cluster_status: Option<String>,
    /// A retryable error this poll met (the wait goes on).
    pub error: Option<String>,
}

impl std::fmt::Display for WaitProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "writer {}, operation {}, target cluster {}",
            self.writer_region.as_deref().unwrap_or("none"),
            self.failover_status.as_deref().unwrap_or("none"),
            self.target_cluster_status.as_deref().unwrap_or("unknown"),
        )?;
        if let Some(e) = &self.error {
            write!(f, " ({e})")?;
        }
        Ok(())
    }
}

/// The global cluster seen through each region's RDS endpoint.
#[derive(Debug, Clone)]
pub struct GlobalDatabase {
    global_cluster_id: String,
    clients: BTreeMap<String, aws_sdk_rds::Client>,
    poll_interval: Duration,
}

/// `arn:aws:rds:REGION:ACCOUNT:cluster:ID` → (REGION, ID).
pub fn parse_cluster_arn(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "rds", region, _, "cluster", id] => Some((region, id)),
        _ => None,
    }
}

impl GlobalDatabase {
    pub fn new(global_cluster_id: impl Into<String>, configs: &RegionConfigs) -> GlobalDatabase {
        GlobalDatabase {
            global_cluster_id: global_cluster_id.into(),
            clients: configs.clients(aws_sdk_rds::Client::new),
            poll_interval: Duration::from_secs(5),
        }
    }

    /// How often the wait loops poll (default 5 s).
    pub fn with_poll_interval(mut self, interval: Duration) -> GlobalDatabase {
        self.poll_interval = interval;
        self
    }

    fn resource(&self) -> String {
        format!("global cluster {}", self.global_cluster_id)
    }

    /// DescribeGlobalClusters through `region`'s endpoint (members, writer, failover
    /// state; no member cluster status).
    pub async fn describe_from(&self, region: &str) -> Result<GlobalCluster, AwsError> {
        const OP: &str = "DescribeGlobalClusters";
        let client = client_for(&self.clients, OP, region)?;
        let out = client
            .describe_global_clusters()
            .global_cluster_identifier(&self.global_cluster_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, self.resource(), e))?;
        let gc = out
            .global_clusters()
            .iter()
            .find(|g| {
                g.global_cluster_identifier()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&self.global_cluster_id))
            })
            .ok_or_else(|| AwsError::missing(OP, self.resource(), "not in the answer"))?;
        self.view(OP, gc)
    }

    fn view(
        &self,
        operation: &'static str,
        gc: &aws_sdk_rds::types::GlobalCluster,
    ) -> Result<GlobalCluster, AwsError> {
        let mut members = Vec::new();
        for m in gc.global_cluster_members() {
            let arn = m.db_cluster_arn().unwrap_or_default().to_string();
            let (region, id) = parse_cluster_arn(&arn).ok_or_else(|| {
                AwsError::missing(
                    operation,
                    self.resource(),
                    format!("member ARN {arn:?} is not a cluster ARN"),
                )
            })?;
            members.push(Member {
                cluster_id: id.to_string(),
                region: region.to_string(),
                cluster_arn: arn.clone(),
                is_writer: m.is_writer().unwrap_or(false),
                synchronization_status: m.synchronization_status().map(|s| s.as_str().to_string()),
                cluster_status: None,
                cluster_status_error: None,
            });
        }
        let failover = gc.failover_state().and_then(|f| {
            f.status().map(|status| FailoverState {
                status: status.as_str().to_string(),
                from_cluster_arn: f.from_db_cluster_arn().map(str::to_string),
                to_cluster_arn: f.to_db_cluster_arn().map(str::to_string),
                data_loss_allowed: f.is_data_loss_allowed().unwrap_or(false),
            })
        });
        Ok(GlobalCluster {
            id: self.global_cluster_id.clone(),
            arn: gc.global_cluster_arn().map(str::to_string),
            status: gc.status().map(str::to_string),
            members,
            failover,
        })
    }

    /// DescribeGlobalClusters through the first region that answers (a lost region's
    /// endpoint is skipped when its failure is retryable; a fatal one is returned).
    pub async fn describe(&self) -> Result<GlobalCluster, AwsError> {
        let mut last = None;
        for region in self.clients.keys() {
            match self.describe_from(region).await {
                Ok(gc) => return Ok(gc),
                Err(e) if e.retryable() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            AwsError::invalid(
                "DescribeGlobalClusters",
                self.resource(),
                "no regions configured",
            )
        }))
    }

    /// A member cluster's status (DescribeDBClusters in its own region).
    pub async fn cluster_status(&self, region: &str, cluster_id: &str) -> Result<String, AwsError> {
        const OP: &str = "DescribeDBClusters";
        let client = client_for(&self.clients, OP, region)?;
        let resource = format!("DB cluster {cluster_id} in {region}");
        let out = client
            .describe_db_clusters()
            .db_cluster_identifier(cluster_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, resource.clone(), e))?;
        out.db_clusters()
            .first()
            .and_then(|c| c.status())
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(OP, resource, "no status in the answer"))
    }

    /// The global cluster with each member's cluster status; a member whose region does
    /// not answer keeps `cluster_status: None` and the reason.
    pub async fn topology(&self) -> Result<GlobalCluster, AwsError> {
        let mut gc = self.describe().await?;
        for member in &mut gc.members {
            match self
                .cluster_status(&member.region, &member.cluster_id)
                .await
            {
                Ok(status) => member.cluster_status = Some(status),
                Err(e) => member.cluster_status_error = Some(e.to_string()),
            }
        }
        Ok(gc)
    }

    async fn target_member(
        &self,
        operation: &'static str,
        region: &str,
    ) -> Result<Member, AwsError> {
        let gc = self.describe().await?;
        gc.member_in(region).cloned().ok_or_else(|| {
            AwsError::missing(
                operation,
                self.resource(),
                format!(
                    "has no member in {region} (members: {})",
                    gc.members
                        .iter()
                        .map(|m| m.region.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// Managed switchover (no data loss) to `target_region`'s cluster, called through
    /// the target region's endpoint. Returns the state AWS answered with (a `pending`
    /// failover state); use [`wait_until_writer`](Self::wait_until_writer).
    pub async fn switchover(&self, target_region: &str) -> Result<GlobalCluster, AwsError> {
        const OP: &str = "SwitchoverGlobalCluster";
        let client = client_for(&self.clients, OP, target_region)?;
        let target = self.target_member(OP, target_region).await?;
        let out = client
            .switchover_global_cluster()
            .global_cluster_identifier(&self.global_cluster_id)
            .target_db_cluster_identifier(&target.cluster_arn)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    OP,
                    format!("{} to {}", self.resource(), target.cluster_arn),
                    e,
                )
            })?;
        self.answered(OP, out.global_cluster())
    }

    fn answered(
        &self,
        operation: &'static str,
        gc: Option<&aws_sdk_rds::types::GlobalCluster>,
    ) -> Result<GlobalCluster, AwsError> {
        let gc = gc.ok_or_else(|| {
            AwsError::missing(
                operation,
                self.resource(),
                "no global cluster in the answer",
            )
        })?;
        self.view(operation, gc)
    }

    /// FailoverGlobalCluster to `target_region`: with `allow_data_loss` the unplanned
    /// failover a lost region needs; without it AWS runs a switchover.
    pub async fn failover(
        &self,
        target_region: &str,
        allow_data_loss: bool,
    ) -> Result<GlobalCluster, AwsError> {
        const OP: &str = "FailoverGlobalCluster";
        let client = client_for(&self.clients, OP, target_region)?;
        let target = self.target_member(OP, target_region).await?;
        let mut call = client
            .failover_global_cluster()
            .global_cluster_identifier(&self.global_cluster_id)
            .target_db_cluster_identifier(&target.cluster_arn);
        call = if allow_data_loss {
            call.allow_data_loss(true)
        } else {
            call.switchover(true)
        };
        let out = call.send().await.map_err(|e| {
            AwsError::from_sdk(
                OP,
                format!("{} to {}", self.resource(), target.cluster_arn),
                e,
            )
        })?;
        self.answered(OP, out.global_cluster())
    }

    /// Polls until `region` is writer, its cluster `available` and no operation is in
    /// progress, or `timeout` passes. Retryable errors are reported and waited through;
    /// fatal ones end the wait.
    pub async fn wait_until_writer(
        &self,
        region: &str,
        timeout: Duration,
        mut on_progress: impl FnMut(&WaitProgress),
    ) -> Result<GlobalCluster, AwsError> {
        let started = Instant::now();
        // Read the target's status through its own endpoint: that is the region we need.
        let order: Vec<&str> = std::iter::once(region)
            .chain(
                self.clients
                    .keys()
                    .map(String::as_str)
                    .filter(|r| *r != region),
            )
            .collect();
        loop {
            let mut progress = WaitProgress {
                elapsed: started.elapsed(),
                writer_region: None,
                failover_status: None,
                target_cluster_status: None,
                error: None,
            };
            let mut seen = None;
            for r in &order {
                match self.describe_from(r).await {
                    Ok(gc) => {
                        seen = Some(gc);
                        break;
                    }
                    Err(e) if e.retryable() => progress.error = Some(e.to_string()),
                    Err(e) => return Err(e),
                }
            }
            if let Some(mut gc) = seen {
                progress.writer_region = gc.writer_region().map(str::to_string);
                progress.failover_status = gc.failover.as_ref().map(|f| f.status.clone());
                if let Some(target) = gc.member_in(region).cloned() {
                    match self.cluster_status(region, &target.cluster_id).await {
                        Ok(status) => {
                            progress.target_cluster_status = Some(status.clone());
                            if let Some(m) = gc.members.iter_mut().find(|m| m.region == region) {
                                m.cluster_status = Some(status);
                            }
                        }
                        Err(e) if e.retryable() => progress.error = Some(e.to_string()),
                        Err(e) => return Err(e),
                    }
                }
                on_progress(&progress);
                if gc.is_settled_with_writer(region) {
                    return Ok(gc);
                }
            } else {
                on_progress(&progress);
            }
            if started.elapsed() + self.poll_interval > timeout {
                return Err(AwsError::WaitTimedOut {
                    what: format!("{} to have its writer in {region}", self.resource()),
                    waited: started.elapsed(),
                    last: progress.to_string(),
                });
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_arns_name_their_region_and_id() {
        assert_eq!(
            parse_cluster_arn("arn:aws:rds:us-east-2:123456789012:cluster:pm-east2"),
            Some(("us-east-2", "pm-east2"))
        );
        assert_eq!(
            parse_cluster_arn("arn:aws:rds::123456789012:global-cluster:g"),
            None
        );
        assert_eq!(parse_cluster_arn("pm-east2"), None);
    }
}
