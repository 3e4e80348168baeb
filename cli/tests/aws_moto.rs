//! pmctl's AWS clients (cli/src/aws) against moto, through the official SDK: each test
//! starts its own patched moto (scripts/moto-server), builds a two-region environment in
//! it with real SDK calls (global cluster with members in us-east-1 and us-east-2,
//! Route 53 zone + failover records + health checks, alarms, Lambda functions + aliases),
//! then drives one client. SDK retries are off, so a missing handler fails at once.

#[path = "common/moto.rs"]
mod moto;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use base64::Engine;
use moto::{Moto, REGIONS, SECRET_KEY};
use pmctl::aws::cloudwatch::{CloudWatch, REPLICATION_LAG_METRIC, RPO_LAG_METRIC};
use pmctl::aws::env::AwsEnvironment;
use pmctl::aws::lambda::Functions;
use pmctl::aws::rds::GlobalDatabase;
use pmctl::aws::route53::{FailoverRole, HealthRule, Route53};
use pmctl::aws::sdk::RegionConfigs;
use pmctl::aws::store::{LockNote, SharedStore};
use pmctl::aws::{AwsError, ErrorKind};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const GLOBAL: &str = "pm-global";
const ZONE_NAME: &str = "example.com";
const RECORD: &str = "api.example.com";
const FUNCTION: &str = "pm-api";
const ALIAS: &str = "live";
const BUCKET: &str = "pm-prod-ops";
/// A zip with a `bootstrap` that is never invoked (moto stores code without docker).
const LAMBDA_ZIP: &str = "UEsDBBQAAAAAAAAAIVh0D+e9NQAAADUAAAAJAAAAYm9vdHN0cmFwIyEvYmluL3NoCiMgcG1jdGwgdGVzdCBoYW5kbGVyOiBuZXZlciBpbnZva2VkCmV4aXQgMApQSwECFAMUAAAAAAAAACFYdA/nvTUAAAA1AAAACQAAAAAAAAAAAAAA7QEAAAAAYm9vdHN0cmFwUEsFBgAAAAABAAEANwAAAFwAAAAAAA==";

fn cluster_id(region: &str) -> String {
    format!("pm-{region}")
}

fn set_id(region: &str) -> String {
    format!("api-{region}")
}

fn alarm(region: &str, what: &str) -> String {
    format!("pm-{region}-{what}")
}

const ALARM_KINDS: [&str; 6] = [
    "api-5xx-rate",
    "api-p99-latency",
    "lambda-errors",
    "lambda-throttles",
    "replication-lag",
    "proxy-connection-errors",
];

struct Fixture {
    moto: Moto,
    configs: RegionConfigs,
    env: AwsEnvironment,
    zone_id: String,
    health_checks: BTreeMap<String, String>,
}

impl Fixture {
    /// The two-region environment, created in moto through the SDK, and the
    /// `pmctl_environment` Terraform would export for it (read back by pmctl's parser).
    async fn new() -> Fixture {
        let moto = Moto::start().await;
        let configs = moto.configs().await;

        // Aurora global database: writer in us-east-1, secondary in us-east-2.
        let rds1 = aws_sdk_rds::Client::new(configs.get(REGIONS[0]).unwrap());
        rds1.create_global_cluster()
            .global_cluster_identifier(GLOBAL)
            .engine("aurora-postgresql")
            .engine_version("15.4")
            .send()
            .await
            .expect("CreateGlobalCluster");
        let mut cluster_arns = BTreeMap::new();
        for (i, region) in REGIONS.iter().enumerate() {
            let rds = aws_sdk_rds::Client::new(configs.get(region).unwrap());
            let mut create = rds
                .create_db_cluster()
                .db_cluster_identifier(cluster_id(region))
                .engine("aurora-postgresql")
                .engine_version("15.4")
                .global_cluster_identifier(GLOBAL);
            if i == 0 {
                create = create
                    .master_username("pm_admin")
                    .master_user_password("not-a-real-password");
            }
            let out = create.send().await.expect("CreateDBCluster");
            cluster_arns.insert(
                region.to_string(),
                out.db_cluster()
                    .unwrap()
                    .db_cluster_arn()
                    .unwrap()
                    .to_string(),
            );
        }

        // Route 53: zone, one health check per region, PRIMARY/SECONDARY alias records.
        let r53 = aws_sdk_route53::Client::new(configs.get(REGIONS[0]).unwrap());
        let zone_id = r53
            .create_hosted_zone()
            .name(ZONE_NAME)
            .caller_reference("pmctl-test-zone")
            .send()
            .await
            .expect("CreateHostedZone")
            .hosted_zone()
            .unwrap()
            .id()
            .to_string();
        let mut health_checks = BTreeMap::new();
        let mut changes = Vec::new();
        for (i, region) in REGIONS.iter().enumerate() {
            let id = r53
                .create_health_check()
                .caller_reference(format!("pmctl-test-hc-{region}"))
                .health_check_config(
                    HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Https)
                        .fully_qualified_domain_name(format!("{region}.{RECORD}"))
                        .resource_path("/ready")
                        .port(443)
                        .request_interval(10)
                        .failure_threshold(3)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("CreateHealthCheck")
                .health_check()
                .unwrap()
                .id()
                .to_string();
            health_checks.insert(region.to_string(), id.clone());
            let role = if i == 0 {
                ResourceRecordSetFailover::Primary
            } else {
                ResourceRecordSetFailover::Secondary
            };
            changes.push(
                Change::builder()
                    .action(ChangeAction::Create)
                    .resource_record_set(
                        ResourceRecordSet::builder()
                            .name(RECORD)
                            .r#type(RrType::A)
                            .set_identifier(set_id(region))
                            .failover(role)
                            .health_check_id(id)
                            .alias_target(
                                AliasTarget::builder()
                                    .hosted_zone_id("Z1UJRXOUMOOFQ8")
                                    .dns_name(format!(
                                        "d-{i}abc.execute-api.{region}.amazonaws.com"
                                    ))
                                    .evaluate_target_health(false)
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            );
        }
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(changes))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("ChangeResourceRecordSets");

        // Alarms (created over CloudWatch's RPC v2 CBOR protocol, through the launcher).
        for region in REGIONS {
            let cw = aws_sdk_cloudwatch::Client::new(configs.get(region).unwrap());
            for kind in ALARM_KINDS {
                cw.put_metric_alarm()
                    .alarm_name(alarm(region, kind))
                    .namespace("AWS/Lambda")
                    .metric_name("Errors")
                    .statistic(Statistic::Sum)
                    .period(60)
                    .evaluation_periods(1)
                    .threshold(1.0)
                    .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                    .send()
                    .await
                    .expect("PutMetricAlarm");
            }
        }

        // Lambda: the API function in each region, version 1 behind alias `live`.
        let iam = aws_sdk_iam::Client::new(configs.get(REGIONS[0]).unwrap());
        let role_arn = iam
            .create_role()
            .role_name("pm-api")
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .expect("CreateRole")
            .role()
            .unwrap()
            .arn()
            .to_string();
        for region in REGIONS {
            let lambda = aws_sdk_lambda::Client::new(configs.get(region).unwrap());
            lambda
                .create_function()
                .function_name(FUNCTION)
                .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
                .role(&role_arn)
                .handler("bootstrap")
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(zip().into())
                        .build(),
                )
                .send()
                .await
                .expect("CreateFunction");
            let version = lambda
                .publish_version()
                .function_name(FUNCTION)
                .send()
                .await
                .expect("PublishVersion");
            lambda
                .create_alias()
                .function_name(FUNCTION)
                .name(ALIAS)
                .function_version(version.version().unwrap())
                .send()
                .await
                .expect("CreateAlias");
        }

        let env = AwsEnvironment::from_terraform_json(
            &terraform_output(&zone_id, &cluster_arns, &health_checks).to_string(),
        )
        .expect("the fixture's pmctl_environment");
        Fixture {
            moto,
            configs,
            env,
            zone_id,
            health_checks,
        }
    }

    fn global_db(&self) -> GlobalDatabase {
        GlobalDatabase::new(&self.env.global_cluster_id, &self.configs)
            .with_poll_interval(Duration::from_millis(100))
    }

    fn route53(&self) -> Route53 {
        Route53::new(self.configs.get(REGIONS[0]).unwrap())
    }

    fn store(&self) -> SharedStore {
        SharedStore::new(self.configs.get(REGIONS[0]).unwrap(), BUCKET, "prod")
    }

    async fn create_bucket(&self) {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(self.configs.get(REGIONS[0]).unwrap())
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("CreateBucket");
    }
}

fn zip() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(LAMBDA_ZIP)
        .unwrap()
}

/// What `terraform output -json` prints for this fixture (with keys pmctl does not read).
fn terraform_output(
    zone_id: &str,
    arns: &BTreeMap<String, String>,
    health_checks: &BTreeMap<String, String>,
) -> serde_json::Value {
    let region = |r: &str, role: &str| {
        let mut alarms = serde_json::Map::new();
        for kind in ALARM_KINDS {
            alarms.insert(kind.replace('-', "_"), alarm(r, kind).into());
        }
        serde_json::json!({
            "aws_region": r, "role": role,
            "aurora_cluster_id": cluster_id(r), "aurora_cluster_arn": arns[r],
            "rds_proxy_name": "pm-proxy", "rds_proxy_endpoint": format!("pm-proxy.proxy-x.{r}.rds.amazonaws.com"),
            "db_secret_arn": format!("arn:aws:secretsmanager:{r}:123456789012:secret:pm-db"),
            "lambda_function_name": FUNCTION, "lambda_alias_name": ALIAS,
            "api_id": format!("api-{r}"), "api_custom_domain": format!("{r}.{RECORD}"),
            "route53_health_check_id": health_checks[r], "route53_set_identifier": set_id(r),
            "sns_topic_arn": format!("arn:aws:sns:{r}:123456789012:pm-alarms"), "dashboard_name": "pm-prod",
            "alarms": alarms
        })
    };
    serde_json::json!({
        "pmctl_environment": {
            "sensitive": false,
            "type": ["object", {}],
            "value": {
                "name": "prod", "kind": "aws", "global_cluster_id": GLOBAL,
                "hosted_zone_id": zone_id, "record_name": RECORD, "api_domain": RECORD,
                "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:pm-alarms",
                "database_name": "pm", "database_user": "pm_api",
                "cognito": {"aws_region": "us-east-1", "user_pool_id": "us-east-1_test", "client_id": "client",
                            "issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test",
                            "jwks_url": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test/.well-known/jwks.json"},
                "cloudfront_distribution_id": "E2EXAMPLE", "waf_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/pm/1",
                "regions": [region(REGIONS[0], "primary"), region(REGIONS[1], "secondary")]
            }
        }
    })
}

fn assert_no_secret(err: &AwsError) {
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(SECRET_KEY),
        "an error shows the secret key: {text}"
    );
}

/// Polls `check` until it returns Some or `timeout` passes.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// --- RDS: the global database ---------------------------------------------------------

#[tokio::test]
async fn topology_names_the_writer_and_each_members_state() {
    let f = Fixture::new().await;
    let gc = f.global_db().topology().await.unwrap();
    assert_eq!(gc.writer_region(), Some("us-east-1"));
    assert_eq!(gc.members.len(), 2);
    let secondary = gc.member_in("us-east-2").unwrap();
    assert!(!secondary.is_writer);
    assert_eq!(secondary.cluster_id, "pm-us-east-2");
    assert_eq!(secondary.cluster_arn, f.env.regions[1].aurora_cluster_arn);
    assert_eq!(
        secondary.synchronization_status.as_deref(),
        Some("connected")
    );
    for m in &gc.members {
        assert_eq!(m.cluster_status.as_deref(), Some("available"), "{m:?}");
    }
    assert!(gc.failover.is_none());
    assert!(gc.is_settled_with_writer("us-east-1"));
}

#[tokio::test]
async fn switchover_moves_the_writer_and_the_wait_sees_the_transition() {
    let f = Fixture::new().await;
    f.moto.set_timing(1.0, 0.0).await;
    let db = f.global_db();
    let answered = db.switchover("us-east-2").await.unwrap();
    let state = answered.failover.expect("a switchover in progress");
    assert!(!state.data_loss_allowed);
    assert_eq!(
        state.to_cluster_arn.as_deref(),
        Some(f.env.regions[1].aurora_cluster_arn.as_str())
    );
    assert_eq!(
        state.from_cluster_arn.as_deref(),
        Some(f.env.regions[0].aurora_cluster_arn.as_str())
    );

    // A second operation while one runs is refused by AWS.
    let err = db.switchover("us-east-2").await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidGlobalClusterStateFault"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);

    let mut progress = Vec::new();
    let gc = db
        .wait_until_writer("us-east-2", Duration::from_secs(30), |p| {
            progress.push(p.clone())
        })
        .await
        .unwrap();
    assert_eq!(gc.writer_region(), Some("us-east-2"));
    assert!(gc.failover.is_none());
    assert!(
        progress.iter().any(|p| p.failover_status.is_some() && p.writer_region.as_deref() == Some("us-east-1")),
        "the wait never saw the switchover in progress: {progress:?}"
    );
    assert!(
        progress
            .iter()
            .any(|p| p.failover_status.as_deref() == Some("switching-over")),
        "{progress:?}"
    );

    // Switching to the region that already writes is refused, and nothing changes.
    let err = db.switchover("us-east-2").await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err}");
    assert!(!err.retryable());
    assert_eq!(
        db.describe().await.unwrap().writer_region(),
        Some("us-east-2")
    );

    // A region outside the environment is refused before any call.
    let err = db.switchover("eu-west-1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("us-east-1, us-east-2"), "{err}");
}

#[tokio::test]
async fn wait_times_out_with_the_last_state_seen() {
    let f = Fixture::new().await;
    f.moto.set_timing(30.0, 0.0).await;
    let db = f.global_db();
    db.switchover("us-east-2").await.unwrap();
    let err = db
        .wait_until_writer("us-east-2", Duration::from_millis(500), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, AwsError::WaitTimedOut { .. }), "{err}");
    assert!(err.to_string().contains("writer us-east-1"), "{err}");
}

#[tokio::test]
async fn failover_with_data_loss_through_the_surviving_region() {
    let f = Fixture::new().await;
    f.moto.set_timing(0.5, 1.0).await;
    let db = f.global_db();
    // us-east-1 is lost: every RDS call to its endpoint fails with a 503.
    f.moto
        .fail_region("rds", "us-east-1", "ServiceUnavailable", 503)
        .await;
    let gc = db.topology().await.expect("described through us-east-2");
    let old = gc.member_in("us-east-1").unwrap();
    assert!(old.cluster_status.is_none());
    assert!(
        old.cluster_status_error
            .as_deref()
            .unwrap()
            .contains("ServiceUnavailable"),
        "{old:?}"
    );

    let answered = db.failover("us-east-2", true).await.unwrap();
    assert!(answered.failover.as_ref().unwrap().data_loss_allowed);
    let gc = db
        .wait_until_writer("us-east-2", Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(gc.writer_region(), Some("us-east-2"));

    // Aurora re-adds the recovered old primary as a secondary.
    f.moto.clear_failures().await;
    let old = db
        .describe()
        .await
        .unwrap()
        .member_in("us-east-1")
        .cloned()
        .unwrap();
    assert!(!old.is_writer);
    assert_eq!(
        old.synchronization_status.as_deref(),
        Some("pending-resync")
    );
    eventually(
        Duration::from_secs(10),
        "the old writer to rejoin",
        || async {
            let gc = db.describe().await.unwrap();
            (gc.member_in("us-east-1")?.synchronization_status.as_deref() == Some("connected"))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn failover_without_data_loss_is_a_switchover() {
    let f = Fixture::new().await;
    let db = f.global_db();
    let answered = db.failover("us-east-2", false).await.unwrap();
    assert!(!answered.failover.unwrap().data_loss_allowed);
    let gc = db
        .wait_until_writer("us-east-2", Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(
        gc.member_in("us-east-1")
            .unwrap()
            .synchronization_status
            .as_deref(),
        Some("connected")
    );
}

#[tokio::test]
async fn switchover_refused_while_a_member_is_unavailable() {
    let f = Fixture::new().await;
    f.moto
        .admin_post(
            "db-cluster-status",
            serde_json::json!({"region": "us-east-1", "id": cluster_id("us-east-1"), "status": "inaccessible-encryption-credentials"}),
        )
        .await;
    let db = f.global_db();
    let err = db.switchover("us-east-2").await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidDBClusterStateFault"), "{err}");
    assert_eq!(
        db.describe().await.unwrap().writer_region(),
        Some("us-east-1")
    );
    // A failover needs only the target: it goes through.
    db.failover("us-east-2", true).await.unwrap();
}

#[tokio::test]
async fn missing_global_cluster_is_not_found() {
    let f = Fixture::new().await;
    let db = GlobalDatabase::new("pm-nope", &f.configs);
    let err = db.describe().await.unwrap_err();
    assert_eq!(err.code(), Some("GlobalClusterNotFoundFault"), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.retryable());
    assert!(
        err.to_string()
            .contains("DescribeGlobalClusters global cluster pm-nope"),
        "{err}"
    );
    assert_no_secret(&err);
}

// --- Route 53 --------------------------------------------------------------------------

#[tokio::test]
async fn failover_records_swap_in_one_batch_and_keep_their_targets() {
    let f = Fixture::new().await;
    let r53 = f.route53();
    let before = r53.failover_records(&f.zone_id, RECORD).await.unwrap();
    assert_eq!(before.records.len(), 2);
    let primary = before.primary().unwrap();
    assert_eq!(primary.set_identifier, set_id("us-east-1"));
    assert_eq!(
        f.env
            .region_of_set_identifier(&primary.set_identifier)
            .unwrap()
            .aws_region,
        "us-east-1"
    );
    assert_eq!(
        primary.health_check_id.as_deref(),
        Some(f.health_checks["us-east-1"].as_str())
    );
    assert_eq!(
        primary.targets,
        ["d-0abc.execute-api.us-east-1.amazonaws.com"]
    );

    let outcome = r53
        .route_primary_to(
            &f.zone_id,
            RECORD,
            &set_id("us-east-2"),
            &set_id("us-east-1"),
        )
        .await
        .unwrap();
    assert!(outcome.changed);
    let after = r53.failover_records(&f.zone_id, RECORD).await.unwrap();
    let new_primary = after.primary().unwrap();
    assert_eq!(new_primary.set_identifier, set_id("us-east-2"));
    assert_eq!(
        new_primary.targets,
        ["d-1abc.execute-api.us-east-2.amazonaws.com"]
    );
    assert_eq!(
        new_primary.health_check_id.as_deref(),
        Some(f.health_checks["us-east-2"].as_str())
    );
    let new_secondary = after.secondary().unwrap();
    assert_eq!(new_secondary.set_identifier, set_id("us-east-1"));
    assert_eq!(new_secondary.role, FailoverRole::Secondary);
    assert_eq!(after.records.len(), 2);

    // Already so: nothing is sent.
    let again = r53
        .route_primary_to(
            &f.zone_id,
            RECORD,
            &set_id("us-east-2"),
            &set_id("us-east-1"),
        )
        .await
        .unwrap();
    assert!(!again.changed);

    let err = r53
        .route_primary_to(&f.zone_id, RECORD, "api-eu-west-1", &set_id("us-east-1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("no failover record with set identifier api-eu-west-1"),
        "{err}"
    );
    assert_eq!(
        r53.failover_records(&f.zone_id, RECORD)
            .await
            .unwrap()
            .primary()
            .unwrap()
            .set_identifier,
        set_id("us-east-2"),
        "a refused change changed nothing"
    );

    let err = r53
        .failover_records("ZNOSUCHZONE", RECORD)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchHostedZone"), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn health_check_status_honours_set_state_inverted_and_disabled() {
    let f = Fixture::new().await;
    let r53 = f.route53();
    let hc = &f.health_checks["us-east-1"];
    let status = r53.health_check_status(hc).await.unwrap();
    assert_eq!(
        status.observations.len(),
        8,
        "Route 53's default checker regions"
    );
    assert!(status.observations.iter().all(|o| o.healthy), "{status:?}");
    assert_eq!(status.healthy(HealthRule::Route53), Some(true));

    f.moto.set_health(hc, false).await;
    let status = r53.health_check_status(hc).await.unwrap();
    assert_eq!(status.healthy_checkers(), 0);
    assert!(
        status.observations[0].status.starts_with("Failure"),
        "{status:?}"
    );
    assert_eq!(status.healthy(HealthRule::Route53), Some(false));
    assert_eq!(status.healthy(HealthRule::Majority), Some(false));

    // Two of eight checkers see it up: Route 53 (>18%) says healthy, a majority does not.
    f.moto
        .set_health_by_region(
            hc,
            serde_json::json!({"us-east-1": true, "eu-west-1": true}),
        )
        .await;
    let status = r53.health_check_status(hc).await.unwrap();
    assert_eq!(status.healthy_checkers(), 2);
    assert_eq!(status.healthy(HealthRule::Route53), Some(true));
    assert_eq!(status.healthy(HealthRule::Majority), Some(false));

    // Inverting a failing check makes it healthy; disabling any check makes it healthy.
    f.moto.set_health(hc, false).await;
    let client = r53.client();
    client
        .update_health_check()
        .health_check_id(hc)
        .inverted(true)
        .send()
        .await
        .unwrap();
    let status = r53.health_check_status(hc).await.unwrap();
    assert!(status.inverted);
    assert_eq!(status.healthy(HealthRule::Majority), Some(true));
    f.moto.set_health(hc, true).await;
    assert_eq!(
        r53.health_check_status(hc)
            .await
            .unwrap()
            .healthy(HealthRule::Majority),
        Some(false)
    );
    client
        .update_health_check()
        .health_check_id(hc)
        .inverted(false)
        .disabled(true)
        .send()
        .await
        .unwrap();
    f.moto.set_health(hc, false).await;
    let status = r53.health_check_status(hc).await.unwrap();
    assert!(status.disabled);
    assert_eq!(status.healthy(HealthRule::Route53), Some(true));

    // A check with its own checker regions reports from those only.
    let own = client
        .create_health_check()
        .caller_reference("pmctl-test-own-regions")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .fully_qualified_domain_name("x.example.com")
                .regions(aws_sdk_route53::types::HealthCheckRegion::UsEast1)
                .regions(aws_sdk_route53::types::HealthCheckRegion::UsWest1)
                .regions(aws_sdk_route53::types::HealthCheckRegion::EuWest1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let own_id = own.health_check().unwrap().id();
    let status = r53.health_check_status(own_id).await.unwrap();
    let regions: Vec<_> = status
        .observations
        .iter()
        .map(|o| o.region.as_str())
        .collect();
    assert_eq!(regions, ["us-east-1", "us-west-1", "eu-west-1"]);
    // The admin endpoint refuses a region the check does not use.
    let (code, answer) = f
        .moto
        .admin_try(
            "health-check-status",
            serde_json::json!({"id": own_id, "regions": {"sa-east-1": false}}),
        )
        .await;
    assert_eq!(code, 400, "{answer}");

    let err = r53
        .health_check_status("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchHealthCheck"), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// --- CloudWatch ------------------------------------------------------------------------

#[tokio::test]
async fn replication_lag_is_read_back_after_put_metric_data() {
    let f = Fixture::new().await;
    let cw = CloudWatch::new(&f.configs);
    let secondary = cluster_id("us-east-2");
    let lag = cw
        .replication_lag("us-east-2", &secondary, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(lag.rpo_lag, None, "no datapoint: unknown, not zero");
    assert_eq!(lag.worst(), None);

    let put = |metric: &'static str, millis: f64, ago: i64| {
        let client = cw.client("us-east-2").unwrap().clone();
        let secondary = secondary.clone();
        async move {
            let at = chrono::Utc::now() - chrono::Duration::seconds(ago);
            client
                .put_metric_data()
                .namespace("AWS/RDS")
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(metric)
                        .dimensions(
                            Dimension::builder()
                                .name("DBClusterIdentifier")
                                .value(secondary)
                                .build(),
                        )
                        .value(millis)
                        .unit(StandardUnit::Milliseconds)
                        .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
                        .build(),
                )
                .send()
                .await
                .expect("PutMetricData")
        }
    };
    put(RPO_LAG_METRIC, 4200.0, 180).await;
    put(RPO_LAG_METRIC, 1500.0, 30).await;
    put(REPLICATION_LAG_METRIC, 800.0, 30).await;
    // Another cluster's lag is not ours.
    let other = cw.client("us-east-2").unwrap().clone();
    other
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            MetricDatum::builder()
                .metric_name(RPO_LAG_METRIC)
                .dimensions(
                    Dimension::builder()
                        .name("DBClusterIdentifier")
                        .value("someone-else")
                        .build(),
                )
                .value(99_000.0)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let lag = cw
        .replication_lag("us-east-2", &secondary, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(
        lag.rpo_lag.as_ref().map(|s| s.millis),
        Some(1500.0),
        "{lag:?}"
    );
    assert_eq!(
        lag.replication_lag.as_ref().map(|s| s.millis),
        Some(800.0),
        "{lag:?}"
    );
    assert_eq!(lag.worst(), Some(Duration::from_millis(1500)));
    // Metrics are regional: us-east-1 has none for this cluster.
    let lag = cw
        .replication_lag("us-east-1", &secondary, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(lag.rpo_lag, None);
}

#[tokio::test]
async fn alarms_in_alarm_after_set_alarm_state() {
    let f = Fixture::new().await;
    let cw = CloudWatch::new(&f.configs);
    let region = &f.env.regions[1];
    let mut names = region.alarms.names();
    names.push("pm-not-an-alarm");
    let report = cw.alarms(&region.aws_region, &names).await.unwrap();
    assert_eq!(report.alarms.len(), 6, "{report:?}");
    assert_eq!(report.missing, ["pm-not-an-alarm"]);
    assert_eq!(report.in_alarm().count(), 0);

    cw.client(&region.aws_region)
        .unwrap()
        .set_alarm_state()
        .alarm_name(&region.alarms.replication_lag)
        .state_value(StateValue::Alarm)
        .state_reason("lag over budget (test)")
        .send()
        .await
        .unwrap();
    let report = cw.alarms(&region.aws_region, &names).await.unwrap();
    let firing: Vec<_> = report.in_alarm().collect();
    assert_eq!(firing.len(), 1, "{report:?}");
    assert_eq!(firing[0].name, region.alarms.replication_lag);
    assert_eq!(firing[0].reason.as_deref(), Some("lag over budget (test)"));
    assert!(firing[0].updated.is_some());
    // The other region's alarms are untouched.
    let other = cw
        .alarms("us-east-1", &f.env.regions[0].alarms.names())
        .await
        .unwrap();
    assert_eq!(other.in_alarm().count(), 0);
}

#[tokio::test]
async fn cloudwatch_errors_arrive_typed_over_cbor() {
    let f = Fixture::new().await;
    let cw = CloudWatch::new(&f.configs);
    let err = cw
        .client("us-east-1")
        .unwrap()
        .set_alarm_state()
        .alarm_name("pm-not-an-alarm")
        .state_value(StateValue::Alarm)
        .state_reason("x")
        .send()
        .await
        .unwrap_err();
    let err = AwsError::from_sdk("SetAlarmState", "alarm pm-not-an-alarm", err);
    assert_eq!(err.code(), Some("ResourceNotFound"), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

// --- Lambda ----------------------------------------------------------------------------

#[tokio::test]
async fn alias_versions_and_weights_follow_publish_and_update() {
    let f = Fixture::new().await;
    let lambda = Functions::new(&f.configs);
    let alias = lambda.alias("us-east-2", FUNCTION, ALIAS).await.unwrap();
    assert_eq!(alias.version, "1");
    assert!(alias.additional_weights.is_empty());

    // A deploy: new code, a new version, 10% of traffic on it.
    let raw = aws_sdk_lambda::Client::new(f.configs.get("us-east-2").unwrap());
    raw.update_function_code()
        .function_name(FUNCTION)
        .zip_file(zip().into())
        .send()
        .await
        .unwrap();
    let v2 = lambda
        .publish_version("us-east-2", FUNCTION, "pmctl test deploy", None)
        .await
        .unwrap();
    assert_eq!(v2, "2");
    let weights = BTreeMap::from([(v2.clone(), 0.1)]);
    let updated = lambda
        .update_alias("us-east-2", FUNCTION, ALIAS, "1", &weights)
        .await
        .unwrap();
    assert_eq!(updated.additional_weights, weights);
    let read = lambda.alias("us-east-2", FUNCTION, ALIAS).await.unwrap();
    assert_eq!(read.version, "1");
    assert_eq!(read.additional_weights, weights);
    let shares = read.shares();
    assert_eq!(shares[0].0, "1");
    assert!((shares[0].1 - 0.9).abs() < 1e-9, "{shares:?}");
    // The other region still serves version 1 only.
    assert!(lambda
        .alias("us-east-1", FUNCTION, ALIAS)
        .await
        .unwrap()
        .additional_weights
        .is_empty());

    // Finish: all traffic on version 2.
    let done = lambda
        .update_alias("us-east-2", FUNCTION, ALIAS, &v2, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(done.version, "2");
    assert!(lambda
        .alias("us-east-2", FUNCTION, ALIAS)
        .await
        .unwrap()
        .additional_weights
        .is_empty());

    // A bad weight is refused before any call, and nothing changes.
    let err = lambda
        .update_alias(
            "us-east-2",
            FUNCTION,
            ALIAS,
            "1",
            &BTreeMap::from([("2".to_string(), 1.5)]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert_eq!(
        lambda
            .alias("us-east-2", FUNCTION, ALIAS)
            .await
            .unwrap()
            .version,
        "2"
    );

    let err = lambda
        .alias("us-east-2", FUNCTION, "nope")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn reserved_concurrency_zero_fences_and_delete_restores() {
    let f = Fixture::new().await;
    let lambda = Functions::new(&f.configs);
    assert_eq!(
        lambda
            .reserved_concurrency("us-east-1", FUNCTION)
            .await
            .unwrap(),
        None
    );
    lambda
        .set_reserved_concurrency("us-east-1", FUNCTION, 0)
        .await
        .unwrap();
    assert_eq!(
        lambda
            .reserved_concurrency("us-east-1", FUNCTION)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        lambda
            .reserved_concurrency("us-east-2", FUNCTION)
            .await
            .unwrap(),
        None,
        "per region"
    );
    lambda
        .delete_reserved_concurrency("us-east-1", FUNCTION)
        .await
        .unwrap();
    assert_eq!(
        lambda
            .reserved_concurrency("us-east-1", FUNCTION)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        lambda
            .set_reserved_concurrency("us-east-1", FUNCTION, -1)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
    let err = lambda
        .set_reserved_concurrency("us-east-1", "pm-nope", 0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

// --- The shared lock and journal -------------------------------------------------------

fn note(holder: &str, operation: &str) -> LockNote {
    LockNote {
        holder: holder.into(),
        pid: 4242,
        operation: operation.into(),
        since: chrono::Utc::now(),
        renewed: None,
    }
}

#[tokio::test]
async fn the_lock_refuses_a_second_holder_until_released() {
    let f = Fixture::new().await;
    f.create_bucket().await;
    // Two operators: two stores over the same bucket.
    let alice = f.store();
    let bob = f.store();
    assert_eq!(alice.lock_holder().await.unwrap(), None);
    let lease = alice
        .acquire(note("alice@laptop", "switchover --to us-east-2"))
        .await
        .unwrap();

    let err = bob
        .acquire(note("bob@desk", "failover --to us-east-2"))
        .await
        .unwrap_err();
    match &err {
        AwsError::LockHeld { holder, .. } => {
            assert_eq!(holder.holder, "alice@laptop");
            assert_eq!(holder.operation, "switchover --to us-east-2");
        }
        other => panic!("expected LockHeld, got {other}"),
    }
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(!err.retryable());
    assert!(err.to_string().contains("alice@laptop"), "{err}");

    let renewed = alice
        .renew(
            &lease,
            note("alice@laptop", "switchover --to us-east-2 (step 3)"),
        )
        .await
        .unwrap();
    assert_ne!(renewed.etag, lease.etag);
    // The old lease no longer proves anything.
    assert_eq!(
        alice
            .renew(&lease, note("alice@laptop", "x"))
            .await
            .unwrap_err()
            .code(),
        Some("PreconditionFailed")
    );
    alice.release(renewed).await.unwrap();

    let bobs = bob
        .acquire(note("bob@desk", "failover --to us-east-2"))
        .await
        .unwrap();
    // Alice's stale lease cannot release Bob's lock.
    let err = alice.release(lease).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        bob.lock_holder().await.unwrap().unwrap().0.holder,
        "bob@desk"
    );
    // Breaking a dead holder's lock needs the ETag of the note that was read.
    let (_, etag) = alice.lock_holder().await.unwrap().unwrap();
    assert_eq!(etag, bobs.etag);
    alice.break_lock(&etag).await.unwrap();
    assert_eq!(bob.lock_holder().await.unwrap(), None);
}

#[tokio::test]
async fn the_journal_is_shared_and_appends_do_not_lose_lines() {
    let f = Fixture::new().await;
    f.create_bucket().await;
    let a = f.store();
    let b = f.store();
    assert!(a.read_journal().await.unwrap().is_empty());
    a.append_journal(r#"{"op":"1","step":"start"}"#)
        .await
        .unwrap();
    b.append_journal(r#"{"op":"1","step":"switchover"}"#)
        .await
        .unwrap();
    assert_eq!(
        a.read_journal().await.unwrap(),
        [
            r#"{"op":"1","step":"start"}"#,
            r#"{"op":"1","step":"switchover"}"#
        ]
    );
    // Concurrent appends from many writers: compare-and-swap keeps every line.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store.append_journal(&format!(r#"{{"n":{i}}}"#)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let lines = b.read_journal().await.unwrap();
    assert_eq!(lines.len(), 10, "{lines:?}");
    for i in 0..8 {
        assert!(
            lines.contains(&format!(r#"{{"n":{i}}}"#)),
            "line {i} lost: {lines:?}"
        );
    }
    assert_eq!(
        a.append_journal("two\nlines").await.unwrap_err().kind(),
        ErrorKind::Invalid
    );
}

// --- Injected failures -----------------------------------------------------------------

#[tokio::test]
async fn throttling_is_retryable_and_one_attempt_is_made() {
    let f = Fixture::new().await;
    let db = f.global_db();
    f.moto
        .fail("rds", "DescribeGlobalClusters", "Throttling", 400, Some(1))
        .await;
    let err = db.describe_from("us-east-1").await.unwrap_err();
    assert_eq!(err.code(), Some("Throttling"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert!(err.retryable());
    assert_eq!(err.operation(), Some("DescribeGlobalClusters"));
    assert!(
        err.to_string().contains("global cluster pm-global"),
        "{err}"
    );
    assert_no_secret(&err);
    // The one injected failure was consumed by one attempt: retries are off.
    assert_eq!(
        db.describe_from("us-east-1").await.unwrap().writer_region(),
        Some("us-east-1")
    );

    f.moto
        .fail("cloudwatch", "GetMetricData", "Throttling", 400, Some(1))
        .await;
    let err = CloudWatch::new(&f.configs)
        .replication_lag(
            "us-east-2",
            &cluster_id("us-east-2"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled, "{err}");

    f.moto
        .fail(
            "route53",
            "ChangeResourceRecordSets",
            "InternalFailure",
            500,
            Some(1),
        )
        .await;
    let err = f
        .route53()
        .route_primary_to(
            &f.zone_id,
            RECORD,
            &set_id("us-east-2"),
            &set_id("us-east-1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.retryable());
    assert_eq!(
        f.route53()
            .failover_records(&f.zone_id, RECORD)
            .await
            .unwrap()
            .primary()
            .unwrap()
            .set_identifier,
        set_id("us-east-1"),
        "the failed change changed nothing"
    );

    f.create_bucket().await;
    f.moto
        .fail("s3", "PutObject", "SlowDown", 503, Some(1))
        .await;
    let err = f
        .store()
        .acquire(note("alice@laptop", "x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled, "{err}");
}

#[tokio::test]
async fn access_denied_is_fatal_and_changes_nothing() {
    let f = Fixture::new().await;
    let lambda = Functions::new(&f.configs);
    f.moto
        .fail(
            "lambda",
            "PutFunctionConcurrency",
            "AccessDeniedException",
            403,
            None,
        )
        .await;
    let err = lambda
        .set_reserved_concurrency("us-east-1", FUNCTION, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert!(!err.retryable());
    assert!(
        err.to_string().contains("function pm-api in us-east-1"),
        "{err}"
    );
    assert_no_secret(&err);
    assert_eq!(
        lambda
            .reserved_concurrency("us-east-1", FUNCTION)
            .await
            .unwrap(),
        None
    );

    f.moto
        .fail("rds", "SwitchoverGlobalCluster", "AccessDenied", 403, None)
        .await;
    let err = f.global_db().switchover("us-east-2").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
    assert_eq!(
        f.global_db().describe().await.unwrap().writer_region(),
        Some("us-east-1")
    );

    f.moto
        .fail("route53", "GetHealthCheckStatus", "AccessDenied", 403, None)
        .await;
    let err = f
        .route53()
        .health_check_status(&f.health_checks["us-east-1"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");

    f.moto
        .fail("cloudwatch", "DescribeAlarms", "AccessDenied", 403, None)
        .await;
    let err = CloudWatch::new(&f.configs)
        .alarms("us-east-1", &["x"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    // A port nobody listens on (bound, then released).
    let port = pgcluster::free_port().unwrap();
    let settings = moto::settings_for(&format!("http://127.0.0.1:{port}"));
    let configs = RegionConfigs::load(&REGIONS, &settings).await;
    let err = GlobalDatabase::new(GLOBAL, &configs)
        .describe_from("us-east-1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, AwsError::Unreachable { .. } | AwsError::Timeout { .. }),
        "{err}"
    );
    assert!(err.retryable());
    assert_no_secret(&err);
}

#[tokio::test]
async fn reset_clears_moto_and_the_launchers_state() {
    let f = Fixture::new().await;
    f.moto
        .set_health(&f.health_checks["us-east-1"], false)
        .await;
    f.moto.fail("rds", "*", "Throttling", 400, None).await;
    f.moto.reset().await;
    let err = f.global_db().describe().await.unwrap_err();
    assert_eq!(
        err.code(),
        Some("GlobalClusterNotFoundFault"),
        "the fault was cleared, the cluster is gone: {err}"
    );
    let (code, answer) = f
        .moto
        .admin_try(
            "health-check-status",
            serde_json::json!({"id": f.health_checks["us-east-1"], "healthy": true}),
        )
        .await;
    assert_eq!(code, 404, "{answer}");
}
