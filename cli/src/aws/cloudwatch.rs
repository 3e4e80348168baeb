//! CloudWatch: the global database's replication lag and a Lambda version's invocations
//! and errors (GetMetricData), and the alarms in ALARM (DescribeAlarms), per region.

use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

use super::error::AwsError;
use super::sdk::{client_for, RegionConfigs};

/// How far data loss could reach: the RPO lag Aurora reports for a secondary.
pub const RPO_LAG_METRIC: &str = "AuroraGlobalDBRPOLag";
/// How far behind the secondary applies the primary's changes.
pub const REPLICATION_LAG_METRIC: &str = "AuroraGlobalDBReplicationLag";
pub const RDS_NAMESPACE: &str = "AWS/RDS";
pub const LAMBDA_NAMESPACE: &str = "AWS/Lambda";

/// What one version of a function answered (a deploy's canary).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct VersionCounts {
    pub invocations: u64,
    pub errors: u64,
}

/// The start of `t`'s clock minute (CloudWatch's 1-minute buckets).
fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(60), 0).unwrap_or(t)
}

/// The newest datapoint of one metric (milliseconds, as Aurora reports both lags).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub millis: f64,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lag {
    pub cluster_id: String,
    pub region: String,
    /// `None`: no datapoint in the look-back window (unknown, not zero).
    pub rpo_lag: Option<Sample>,
    pub replication_lag: Option<Sample>,
}

impl Lag {
    /// The larger of the two lags, when either is known.
    pub fn worst(&self) -> Option<Duration> {
        [&self.rpo_lag, &self.replication_lag]
            .into_iter()
            .flatten()
            .map(|s| s.millis)
            .reduce(f64::max)
            .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: Option<String>,
    pub updated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmReport {
    pub region: String,
    pub alarms: Vec<Alarm>,
    /// Names asked for that do not exist (a configuration drift to report).
    pub missing: Vec<String>,
}

impl AlarmReport {
    pub fn in_alarm(&self) -> impl Iterator<Item = &Alarm> {
        self.alarms
            .iter()
            .filter(|a| a.state == StateValue::Alarm.as_str())
    }
}

pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

#[derive(Debug, Clone)]
pub struct CloudWatch {
    clients: BTreeMap<String, aws_sdk_cloudwatch::Client>,
}

impl CloudWatch {
    pub fn new(configs: &RegionConfigs) -> CloudWatch {
        CloudWatch {
            clients: configs.clients(aws_sdk_cloudwatch::Client::new),
        }
    }

    /// The client of one region (for callers that need a call this type lacks).
    pub fn client(&self, region: &str) -> Result<&aws_sdk_cloudwatch::Client, AwsError> {
        client_for(&self.clients, "CloudWatch", region)
    }

    /// The newest RPO and replication lag of `cluster_id` (a secondary, in `region`)
    /// within the last `lookback` (1-minute maximums).
    pub async fn replication_lag(
        &self,
        region: &str,
        cluster_id: &str,
        lookback: Duration,
    ) -> Result<Lag, AwsError> {
        const OP: &str = "GetMetricData";
        let client = client_for(&self.clients, OP, region)?;
        let query = |id: &str, metric: &str| {
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace(RDS_NAMESPACE)
                                .metric_name(metric)
                                .dimensions(
                                    Dimension::builder()
                                        .name("DBClusterIdentifier")
                                        .value(cluster_id)
                                        .build(),
                                )
                                .build(),
                        )
                        .period(60)
                        .stat("Maximum")
                        .build(),
                )
                .return_data(true)
                .build()
        };
        // Whole clock minutes: the 1-minute maximums are then the same buckets on every
        // call (unaligned, two datapoints could share a bucket on one call and not the next).
        let minute = |t: DateTime<Utc>| t.timestamp() - t.timestamp().rem_euclid(60);
        let now = Utc::now();
        let end_secs = minute(now) + 60;
        let lookback =
            chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::minutes(10));
        let start_secs = minute(now - lookback);
        let (start, end) = (
            DateTime::from_timestamp(start_secs, 0).unwrap_or(now),
            DateTime::from_timestamp(end_secs, 0).unwrap_or(now),
        );
        let out = client
            .get_metric_data()
            .metric_data_queries(query("rpo", RPO_LAG_METRIC))
            .metric_data_queries(query("replication", REPLICATION_LAG_METRIC))
            .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
            .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(OP, format!("lag of DB cluster {cluster_id} in {region}"), e)
            })?;
        let newest = |id: &str| {
            let result = out
                .metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id))?;
            // Newest first was asked for, but do not rely on the order.
            result
                .timestamps()
                .iter()
                .zip(result.values())
                .filter_map(|(t, v)| Some((to_chrono(t)?, *v)))
                .max_by_key(|(t, _)| *t)
                .map(|(at, millis)| Sample { millis, at })
        };
        Ok(Lag {
            cluster_id: cluster_id.to_string(),
            region: region.to_string(),
            rpo_lag: newest("rpo"),
            replication_lag: newest("replication"),
        })
    }

    /// Invocations and errors of `version` of `function` invoked through `alias` since
    /// `since` (Lambda's per-executed-version metrics, 1-minute sums; the minute `since`
    /// falls in counts whole, which can only make the canary look worse).
    pub async fn version_counts(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        since: DateTime<Utc>,
    ) -> Result<VersionCounts, AwsError> {
        const OP: &str = "GetMetricData";
        let client = client_for(&self.clients, OP, region)?;
        let dims = [
            ("FunctionName", function.to_string()),
            ("Resource", format!("{function}:{alias}")),
            ("ExecutedVersion", version.to_string()),
        ];
        let query = |id: &str, metric: &str| {
            let mut m = Metric::builder()
                .namespace(LAMBDA_NAMESPACE)
                .metric_name(metric);
            for (k, v) in &dims {
                m = m.dimensions(Dimension::builder().name(*k).value(v).build());
            }
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(m.build())
                        .period(60)
                        .stat("Sum")
                        .build(),
                )
                .return_data(true)
                .build()
        };
        let start = minute_floor(since);
        let end = minute_floor(Utc::now()) + chrono::Duration::seconds(60);
        let out = client
            .get_metric_data()
            .metric_data_queries(query("invocations", "Invocations"))
            .metric_data_queries(query("errors", "Errors"))
            .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
            .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    OP,
                    format!("metrics of {function}:{alias} version {version} in {region}"),
                    e,
                )
            })?;
        let sum = |id: &str| -> u64 {
            out.metric_data_results()
                .iter()
                .filter(|r| r.id() == Some(id))
                .flat_map(|r| r.values())
                .sum::<f64>()
                .max(0.0)
                .round() as u64
        };
        Ok(VersionCounts {
            invocations: sum("invocations"),
            errors: sum("errors"),
        })
    }

    /// The named alarms of `region` with their state, and the names that do not exist.
    pub async fn alarms(&self, region: &str, names: &[&str]) -> Result<AlarmReport, AwsError> {
        const OP: &str = "DescribeAlarms";
        let client = client_for(&self.clients, OP, region)?;
        let mut alarms = Vec::new();
        // DescribeAlarms takes at most 100 names per call.
        for chunk in names.chunks(100) {
            let mut pages = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.iter().map(|n| n.to_string()).collect()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| AwsError::from_sdk(OP, format!("alarms in {region}"), e))?;
                for a in page.metric_alarms() {
                    alarms.push(Alarm {
                        name: a.alarm_name().unwrap_or_default().to_string(),
                        state: a
                            .state_value()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                        reason: a.state_reason().map(str::to_string),
                        updated: a.state_updated_timestamp().and_then(to_chrono),
                    });
                }
            }
        }
        let missing = names
            .iter()
            .filter(|n| !alarms.iter().any(|a| a.name == **n))
            .map(|n| n.to_string())
            .collect();
        Ok(AlarmReport {
            region: region.to_string(),
            alarms,
            missing,
        })
    }
}
