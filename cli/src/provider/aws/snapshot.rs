//! An AWS environment's topology: the global cluster's members and writer
//! (DescribeGlobalClusters) and each member's status (DescribeDBClusters), the secondary's
//! lag (GetMetricData), the failover records and which region Route 53 answers with
//! (ListResourceRecordSets, GetHealthCheckStatus), alarms in ALARM (DescribeAlarms), the
//! Lambda alias's version(s) and reserved concurrency (the fence), each region's `/ready`.
//!
//! A read through one region's endpoint that may pass (the region is unreachable or
//! throttled) becomes a note on that region — a lost region is what a failover is for —
//! while one that cannot pass (access denied, a resource that does not exist) fails the
//! snapshot with AWS's error code and the resource named.

use super::{aws_error, AwsProvider, Clients};
use crate::aws::cloudwatch::{AlarmReport, Lag};
use crate::aws::env::RegionEnvironment;
use crate::aws::lambda::AliasVersions;
use crate::aws::rds::{GlobalCluster, Member};
use crate::aws::route53::{FailoverRecords, HealthCheckStatus};
use crate::aws::{AwsError, ErrorKind};
use crate::provider::*;
use std::collections::BTreeMap;

/// Cluster statuses in which a member still serves its role.
const SERVING: &[&str] = &[
    "available",
    "backing-up",
    "modifying",
    "maintenance",
    "storage-optimization",
    "upgrading",
    "renaming",
];

/// A read that may fail for a while (retryable) is a note; any other failure is fatal.
fn soft<T>(
    r: Result<T, AwsError>,
    what: &str,
    notes: &mut Vec<String>,
) -> Result<Option<T>, ProviderError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.retryable() => {
            notes.push(format!("{what} unreadable: {e}"));
            Ok(None)
        }
        Err(e) => Err(aws_error(what, e)),
    }
}

/// What was read about one region.
struct Reads {
    member: Option<Member>,
    cluster_id: String,
    cluster_status: Option<String>,
    lag: Option<Lag>,
    alarms: Option<AlarmReport>,
    alias: Option<AliasVersions>,
    /// The release label of each version the alias serves.
    labels: BTreeMap<String, String>,
    /// `Some(None)`: no reserved concurrency; `None`: unreadable.
    concurrency: Option<Option<i32>>,
    health: Option<HealthCheckStatus>,
    api: ApiState,
    notes: Vec<String>,
}

async fn ready(p: &AwsProvider, region: &str) -> ApiState {
    let Ok(base) = p.api_url(region) else {
        return ApiState::Unreachable;
    };
    match p
        .http
        .get(format!("{base}/ready"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => ApiState::Ready,
        Ok(_) => ApiState::NotReady,
        Err(_) => ApiState::Unreachable,
    }
}

async fn read_region(
    p: &AwsProvider,
    c: &Clients,
    gc: &GlobalCluster,
    r: &RegionEnvironment,
) -> Result<Reads, ProviderError> {
    let region = r.aws_region.as_str();
    let member = gc.member_in(region).cloned();
    let cluster_id = member
        .as_ref()
        .map(|m| m.cluster_id.clone())
        .unwrap_or_else(|| r.aurora_cluster_id.clone());
    let secondary = member.as_ref().is_some_and(|m| !m.is_writer);
    let lookback = Duration::from_secs(p.config.waits.lag_lookback_secs);
    let alarm_names = r.alarms.names();
    let (status, lag, alarms, alias, concurrency, health, api) = tokio::join!(
        c.db.cluster_status(region, &cluster_id),
        async {
            if secondary {
                Some(
                    c.cloudwatch
                        .replication_lag(region, &cluster_id, lookback)
                        .await,
                )
            } else {
                None
            }
        },
        c.cloudwatch.alarms(region, &alarm_names),
        c.lambda
            .alias(region, &r.lambda_function_name, &r.lambda_alias_name),
        c.lambda
            .reserved_concurrency(region, &r.lambda_function_name),
        c.route53.health_check_status(&r.route53_health_check_id),
        ready(p, region),
    );
    let mut notes = Vec::new();
    let cluster_status = soft(status, &format!("{region}'s cluster status"), &mut notes)?;
    let lag = match lag {
        Some(l) => soft(l, &format!("{region}'s replication lag"), &mut notes)?,
        None => None,
    };
    let alias = soft(alias, &format!("{region}'s API alias"), &mut notes)?;
    let mut labels = BTreeMap::new();
    for (v, _) in alias.iter().flat_map(|a| a.shares()) {
        let label = p.version_label(region, &v).await;
        labels.insert(v, label);
    }
    Ok(Reads {
        alarms: soft(alarms, &format!("{region}'s alarms"), &mut notes)?,
        alias,
        labels,
        concurrency: soft(
            concurrency,
            &format!("{region}'s API concurrency"),
            &mut notes,
        )?,
        health: soft(health, &format!("{region}'s health check"), &mut notes)?,
        member,
        cluster_id,
        cluster_status,
        lag,
        api,
        notes,
    })
}

/// The release label of the version the alias serves (`0.3.0`; a version pmctl did not
/// publish: `lambda-3`), or `0.3.0 (90%) + 0.4.0 (10%)` during a canary. Labels, not
/// version numbers: each region numbers its versions itself.
fn version_text(a: &AliasVersions, labels: &BTreeMap<String, String>) -> String {
    let label = |v: &String| {
        labels
            .get(v)
            .cloned()
            .unwrap_or_else(|| format!("lambda-{v}"))
    };
    if a.additional_weights.is_empty() {
        return label(&a.version);
    }
    a.shares()
        .iter()
        .map(|(v, w)| format!("{} ({:.0}%)", label(v), w * 100.0))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn region_state(p: &AwsProvider, r: &RegionEnvironment, x: &Reads) -> RegionState {
    let name = r.aws_region.clone();
    let db_role = match (&x.member, x.cluster_status.as_deref()) {
        (Some(m), Some(s)) if SERVING.contains(&s) => {
            if m.is_writer {
                DbRole::Writer
            } else {
                DbRole::Replica
            }
        }
        _ => DbRole::Down,
    };
    let sync = x
        .member
        .as_ref()
        .and_then(|m| m.synchronization_status.clone());
    let streaming = db_role == DbRole::Replica && sync.as_deref().is_none_or(|s| s == "connected");
    let lag_ms = x
        .lag
        .as_ref()
        .and_then(|l| l.worst())
        .map(|d| d.as_millis() as u64);
    let fenced = (x.concurrency == Some(Some(0))).then(|| {
        format!(
            "fenced: its API function {} has reserved concurrency 0 (no request reaches the database through our API); `pmctl failback` restores it",
            r.lambda_function_name
        )
    });
    let mut detail = Vec::new();
    match (&x.member, &x.cluster_status) {
        (None, _) => detail.push(format!(
            "cluster {} is not a member of global cluster {}",
            x.cluster_id,
            p.tf().global_cluster_id
        )),
        (Some(m), status) => {
            detail.push(format!(
                "cluster {} {}",
                x.cluster_id,
                status.as_deref().unwrap_or("status unknown")
            ));
            if !m.is_writer {
                detail.push(format!(
                    "secondary {}",
                    sync.as_deref().unwrap_or("(no synchronization status)")
                ));
            }
        }
    }
    if let Some(l) = &x.lag {
        let ms = |s: &Option<crate::aws::cloudwatch::Sample>| {
            s.as_ref()
                .map(|s| format!("{:.0} ms", s.millis))
                .unwrap_or_else(|| "no data".into())
        };
        detail.push(format!(
            "RPO lag {}, replication lag {}",
            ms(&l.rpo_lag),
            ms(&l.replication_lag)
        ));
    }
    match x.concurrency {
        Some(Some(n)) => detail.push(format!("API reserved concurrency {n}")),
        Some(None) => detail.push("API concurrency unreserved".into()),
        None => {}
    }
    if let Some(h) = &x.health {
        detail.push(format!(
            "health check {}: {}/{} checkers healthy{}{}",
            h.id,
            h.healthy_checkers(),
            h.observations.len(),
            if h.inverted { ", inverted" } else { "" },
            if h.disabled { ", DISABLED" } else { "" }
        ));
    }
    detail.extend(x.notes.iter().cloned());
    RegionState {
        api_healthy: x.api == ApiState::Ready,
        api: x.api,
        api_version: x.alias.as_ref().map(|a| version_text(a, &x.labels)),
        db_role,
        streaming,
        lag_ms: if db_role == DbRole::Replica {
            lag_ms
        } else {
            None
        },
        fenced,
        detail: Some(detail.join(" · ")),
        ..RegionState::unknown(&name)
    }
}

/// The failover records as the DNS view, or why they cannot be.
fn dns_state(
    p: &AwsProvider,
    records: &FailoverRecords,
    reads: &[(&RegionEnvironment, Reads)],
) -> Result<DnsState, String> {
    let tf = p.tf();
    let where_ = format!("{} in hosted zone {}", tf.record_name, tf.hosted_zone_id);
    let found = || {
        if records.records.is_empty() {
            "none found".to_string()
        } else {
            format!(
                "found: {}",
                records
                    .records
                    .iter()
                    .map(|r| format!("{} {:?}", r.set_identifier, r.role))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let primary = records
        .primary()
        .ok_or_else(|| format!("no PRIMARY failover record {where_} ({})", found()))?;
    let secondary = records
        .secondary()
        .ok_or_else(|| format!("no SECONDARY failover record {where_} ({})", found()))?;
    let region_of = |set_id: &str| {
        tf.region_of_set_identifier(set_id)
            .map(|r| r.aws_region.clone())
            .ok_or_else(|| {
                format!(
                    "failover record {set_id} {where_} is not one of the environment's set identifiers ({})",
                    tf.regions
                        .iter()
                        .map(|r| r.route53_set_identifier.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    let primary = region_of(&primary.set_identifier)?;
    let secondary = region_of(&secondary.set_identifier)?;
    let rule = p.health_rule();
    let healthy: Vec<(String, bool)> = reads
        .iter()
        .map(|(r, x)| {
            (
                r.aws_region.clone(),
                x.health
                    .as_ref()
                    .and_then(|h| h.healthy(rule))
                    .unwrap_or(false),
            )
        })
        .collect();
    let is_healthy = |region: &str| healthy.iter().any(|(r, h)| r == region && *h);
    // Route 53 failover routing: PRIMARY while healthy, else a healthy SECONDARY; with
    // both unhealthy it answers with PRIMARY.
    let routing_to = if is_healthy(&primary) || !is_healthy(&secondary) {
        primary.clone()
    } else {
        secondary
    };
    Ok(DnsState {
        primary,
        routing_to,
        healthy,
        writes_blocked: false,
    })
}

pub(super) async fn snapshot(p: &AwsProvider) -> Result<Topology, ProviderError> {
    let c = p.clients().await;
    let tf = p.tf();
    let gc = match c.db.describe().await {
        Ok(gc) => gc,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ProviderError::NotSetUp {
                what: format!(
                    "environment `{}`: {e} — the imported global cluster does not exist (check `terraform output pmctl_environment`, then `pmctl env import`)",
                    p.env
                ),
            })
        }
        Err(e) => return Err(aws_error("reading the global database", e)),
    };
    let (a, b, records) = tokio::join!(
        read_region(p, c, &gc, &tf.regions[0]),
        read_region(p, c, &gc, &tf.regions[1]),
        c.route53
            .failover_records(&tf.hosted_zone_id, &tf.record_name),
    );
    let reads = vec![(&tf.regions[0], a?), (&tf.regions[1], b?)];
    let regions: Vec<RegionState> = reads.iter().map(|(r, x)| region_state(p, r, x)).collect();

    let mut alarms = Vec::new();
    let dns = match records {
        Ok(records) => match dns_state(p, &records, &reads) {
            Ok(d) => Some(d),
            Err(why) => {
                alarms.push(Alarm {
                    name: "dns-records".into(),
                    detail: why,
                });
                None
            }
        },
        Err(e) if e.retryable() || e.kind() == ErrorKind::NotFound => {
            alarms.push(Alarm {
                name: "dns-records".into(),
                detail: e.to_string(),
            });
            None
        }
        Err(e) => return Err(aws_error("reading the failover records", e)),
    };
    if let Some(op) = &gc.failover {
        alarms.push(Alarm {
            name: "global-cluster-operation".into(),
            detail: format!(
                "global cluster {}: a {} is in progress ({} → {})",
                gc.id,
                if op.data_loss_allowed {
                    "failover"
                } else {
                    "switchover"
                },
                op.from_cluster_arn.as_deref().unwrap_or("?"),
                op.to_cluster_arn.as_deref().unwrap_or("?"),
            ),
        });
    }
    for (r, x) in &reads {
        let region = &r.aws_region;
        if let Some(s) = x.cluster_status.as_deref().filter(|s| *s != "available") {
            alarms.push(Alarm {
                name: "cluster-status".into(),
                detail: format!("{region}: cluster {} is {s}, not available", x.cluster_id),
            });
        }
        match &x.alarms {
            Some(report) => {
                for a in report.in_alarm() {
                    alarms.push(Alarm {
                        name: a.name.clone(),
                        detail: format!("{region}: {}", a.reason.as_deref().unwrap_or("in ALARM")),
                    });
                }
                for m in &report.missing {
                    alarms.push(Alarm {
                        name: "alarm-missing".into(),
                        detail: format!(
                            "{region}: alarm {m} does not exist, so its state is unknown (re-run `pmctl env import` after `terraform apply`)"
                        ),
                    });
                }
            }
            None => alarms.push(Alarm {
                name: "alarms-unreadable".into(),
                detail: format!("{region}: the alarms could not be read, so none can be ruled out"),
            }),
        }
    }
    alarms.extend(derived_alarms(None, &regions, &p.settings));
    Ok(Topology {
        environment: p.env.clone(),
        rpo: p.settings.rpo,
        regions,
        dns,
        traffic: None,
        alarms,
        taken_at: chrono::Utc::now(),
    })
}
