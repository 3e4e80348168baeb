//! Route 53: the PRIMARY/SECONDARY failover records of the public name, moving PRIMARY
//! to a region (one UPSERT batch), and health check status as Route 53 decides it.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecordSet, ResourceRecordSetFailover,
};
use serde::Serialize;

use super::error::AwsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FailoverRole {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverRecord {
    pub name: String,
    pub record_type: String,
    pub set_identifier: String,
    pub role: FailoverRole,
    pub health_check_id: Option<String>,
    /// Alias target DNS name, or the record values.
    pub targets: Vec<String>,
    /// The record as Route 53 holds it, re-sent with the role changed on a swap.
    #[serde(skip)]
    raw: ResourceRecordSet,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverRecords {
    pub zone_id: String,
    pub name: String,
    pub records: Vec<FailoverRecord>,
}

impl FailoverRecords {
    pub fn primary(&self) -> Option<&FailoverRecord> {
        self.records
            .iter()
            .find(|r| r.role == FailoverRole::Primary)
    }

    pub fn secondary(&self) -> Option<&FailoverRecord> {
        self.records
            .iter()
            .find(|r| r.role == FailoverRole::Secondary)
    }

    pub fn by_set_identifier(&self, set_identifier: &str) -> Option<&FailoverRecord> {
        self.records
            .iter()
            .find(|r| r.set_identifier == set_identifier)
    }
}

/// What a record change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeOutcome {
    /// False when the records were already as asked (nothing sent).
    pub changed: bool,
    pub change_id: Option<String>,
    pub status: Option<String>,
}

/// One health checker's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub region: String,
    pub ip_address: Option<String>,
    pub status: String,
    /// The report starts with "Success".
    pub healthy: bool,
}

/// How to turn checker reports into one verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthRule {
    /// Route 53's own rule for DNS answers: healthy when more than 18% of checkers
    /// report the endpoint healthy (Developer Guide, "How Route 53 determines whether a
    /// health check is healthy").
    Route53,
    /// Stricter: healthy when more than half of the checkers say so.
    Majority,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheckStatus {
    pub id: String,
    pub inverted: bool,
    pub disabled: bool,
    pub observations: Vec<Observation>,
}

impl HealthCheckStatus {
    pub fn healthy_checkers(&self) -> usize {
        self.observations.iter().filter(|o| o.healthy).count()
    }

    /// The health check's status under `rule`, as Route 53 applies it: a disabled check
    /// is healthy whatever the checkers see; an inverted one flips their verdict. `None`
    /// when no checker has reported yet.
    pub fn healthy(&self, rule: HealthRule) -> Option<bool> {
        if self.disabled {
            return Some(true);
        }
        let total = self.observations.len();
        if total == 0 {
            return None;
        }
        let healthy = self.healthy_checkers();
        let endpoint_healthy = match rule {
            HealthRule::Route53 => healthy * 100 > total * 18,
            HealthRule::Majority => healthy * 2 > total,
        };
        Some(endpoint_healthy != self.inverted)
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug, Clone)]
pub struct Route53 {
    client: aws_sdk_route53::Client,
}

impl Route53 {
    /// Route 53 is global: any region's config reaches it.
    pub fn new(config: &aws_config::SdkConfig) -> Route53 {
        Route53 {
            client: aws_sdk_route53::Client::new(config),
        }
    }

    pub fn client(&self) -> &aws_sdk_route53::Client {
        &self.client
    }

    /// The failover records (those with a `Failover` value) named `name` in `zone_id`.
    pub async fn failover_records(
        &self,
        zone_id: &str,
        name: &str,
    ) -> Result<FailoverRecords, AwsError> {
        const OP: &str = "ListResourceRecordSets";
        let resource = format!("{name} in hosted zone {zone_id}");
        let wanted = normalise(name);
        let mut records = Vec::new();
        let mut start = (
            name.to_string(),
            None::<aws_sdk_route53::types::RrType>,
            None::<String>,
        );
        loop {
            let out = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .start_record_name(&start.0)
                .set_start_record_type(start.1.clone())
                .set_start_record_identifier(start.2.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(OP, resource.clone(), e))?;
            let mut past = false;
            for set in out.resource_record_sets() {
                if normalise(&set.name) != wanted {
                    past = past || !records.is_empty();
                    continue;
                }
                let (Some(role), Some(set_identifier)) =
                    (set.failover.as_ref(), set.set_identifier.as_ref())
                else {
                    continue;
                };
                let role = match role {
                    ResourceRecordSetFailover::Primary => FailoverRole::Primary,
                    ResourceRecordSetFailover::Secondary => FailoverRole::Secondary,
                    other => {
                        return Err(AwsError::missing(
                            OP,
                            resource,
                            format!(
                                "record {set_identifier} has an unknown failover value {other:?}"
                            ),
                        ))
                    }
                };
                let targets = match &set.alias_target {
                    Some(alias) => vec![alias.dns_name.clone()],
                    None => set
                        .resource_records()
                        .iter()
                        .map(|r| r.value.clone())
                        .collect(),
                };
                records.push(FailoverRecord {
                    name: set.name.clone(),
                    record_type: set.r#type.as_str().to_string(),
                    set_identifier: set_identifier.clone(),
                    role,
                    health_check_id: set.health_check_id.clone(),
                    targets,
                    raw: set.clone(),
                });
            }
            if past || !out.is_truncated() {
                break;
            }
            match out.next_record_name() {
                Some(next) => {
                    start = (
                        next.to_string(),
                        out.next_record_type().cloned(),
                        out.next_record_identifier().map(str::to_string),
                    )
                }
                None => break,
            }
        }
        Ok(FailoverRecords {
            zone_id: zone_id.to_string(),
            name: name.to_string(),
            records,
        })
    }

    /// Makes the record with `primary_set_identifier` PRIMARY and the one with
    /// `secondary_set_identifier` SECONDARY, in one UPSERT batch (both or neither).
    /// Nothing is sent when they already are.
    pub async fn route_primary_to(
        &self,
        zone_id: &str,
        name: &str,
        primary_set_identifier: &str,
        secondary_set_identifier: &str,
    ) -> Result<ChangeOutcome, AwsError> {
        const OP: &str = "ChangeResourceRecordSets";
        let resource = format!("{name} in hosted zone {zone_id}");
        let current = self.failover_records(zone_id, name).await?;
        let find = |set_id: &str| {
            current.by_set_identifier(set_id).cloned().ok_or_else(|| {
                AwsError::missing(
                    OP,
                    resource.clone(),
                    format!(
                        "no failover record with set identifier {set_id} (found: {})",
                        current
                            .records
                            .iter()
                            .map(|r| r.set_identifier.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
        };
        let new_primary = find(primary_set_identifier)?;
        let new_secondary = find(secondary_set_identifier)?;
        if new_primary.role == FailoverRole::Primary
            && new_secondary.role == FailoverRole::Secondary
        {
            return Ok(ChangeOutcome {
                changed: false,
                change_id: None,
                status: None,
            });
        }
        let upsert = |record: &FailoverRecord, role: ResourceRecordSetFailover| {
            let mut set = record.raw.clone();
            set.failover = Some(role);
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(set)
                .build()
                .map_err(|e| AwsError::invalid(OP, resource.clone(), e.to_string()))
        };
        let batch = ChangeBatch::builder()
            .comment(format!("pmctl: PRIMARY -> {primary_set_identifier}"))
            // Demote first, then promote: one batch, applied atomically by Route 53.
            .changes(upsert(
                &new_secondary,
                ResourceRecordSetFailover::Secondary,
            )?)
            .changes(upsert(&new_primary, ResourceRecordSetFailover::Primary)?)
            .build()
            .map_err(|e| AwsError::invalid(OP, resource.clone(), e.to_string()))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, resource.clone(), e))?;
        Ok(ChangeOutcome {
            changed: true,
            change_id: out.change_info().map(|c| c.id.clone()),
            status: out.change_info().map(|c| c.status.as_str().to_string()),
        })
    }

    /// The health check's configuration (Inverted, Disabled) and every checker's report.
    pub async fn health_check_status(
        &self,
        health_check_id: &str,
    ) -> Result<HealthCheckStatus, AwsError> {
        let resource = format!("health check {health_check_id}");
        let check = self
            .client
            .get_health_check()
            .health_check_id(health_check_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetHealthCheck", resource.clone(), e))?;
        let config = check.health_check().and_then(|h| h.health_check_config());
        let status = self
            .client
            .get_health_check_status()
            .health_check_id(health_check_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetHealthCheckStatus", resource.clone(), e))?;
        let observations = status
            .health_check_observations()
            .iter()
            .map(|o| {
                let report = o
                    .status_report()
                    .and_then(|r| r.status())
                    .unwrap_or_default();
                Observation {
                    region: o
                        .region()
                        .map(|r| r.as_str().to_string())
                        .unwrap_or_default(),
                    ip_address: o.ip_address().map(str::to_string),
                    status: report.to_string(),
                    healthy: report.starts_with("Success"),
                }
            })
            .collect();
        Ok(HealthCheckStatus {
            id: health_check_id.to_string(),
            inverted: config.and_then(|c| c.inverted()).unwrap_or(false),
            disabled: config.and_then(|c| c.disabled()).unwrap_or(false),
            observations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(healthy: usize, total: usize, inverted: bool, disabled: bool) -> HealthCheckStatus {
        HealthCheckStatus {
            id: "hc".into(),
            inverted,
            disabled,
            observations: (0..total)
                .map(|i| Observation {
                    region: format!("r{i}"),
                    ip_address: None,
                    status: String::new(),
                    healthy: i < healthy,
                })
                .collect(),
        }
    }

    #[test]
    fn route53_rule_is_more_than_18_percent_of_checkers() {
        assert_eq!(
            status(2, 8, false, false).healthy(HealthRule::Route53),
            Some(true)
        ); // 25%
        assert_eq!(
            status(1, 8, false, false).healthy(HealthRule::Route53),
            Some(false)
        ); // 12.5%
        assert_eq!(
            status(2, 8, false, false).healthy(HealthRule::Majority),
            Some(false)
        );
        assert_eq!(
            status(5, 8, false, false).healthy(HealthRule::Majority),
            Some(true)
        );
        assert_eq!(
            status(4, 8, false, false).healthy(HealthRule::Majority),
            Some(false)
        );
    }

    #[test]
    fn disabled_is_healthy_and_inverted_flips() {
        assert_eq!(
            status(0, 8, false, true).healthy(HealthRule::Route53),
            Some(true)
        );
        assert_eq!(
            status(0, 8, true, true).healthy(HealthRule::Route53),
            Some(true)
        );
        assert_eq!(
            status(0, 8, true, false).healthy(HealthRule::Route53),
            Some(true)
        );
        assert_eq!(
            status(8, 8, true, false).healthy(HealthRule::Route53),
            Some(false)
        );
        assert_eq!(
            status(0, 0, false, false).healthy(HealthRule::Route53),
            None
        );
    }
}
