//! A two-region AWS environment in moto for tests that drive the built `pmctl`: its own
//! patched moto (scripts/moto-server), seeded with the real SDK — the Aurora global
//! cluster with a member in us-east-1 (writer) and us-east-2, the Route 53 zone with the
//! PRIMARY/SECONDARY failover records and a health check per region, six alarms per
//! region, each region's API function with alias `live`, the replication lag as
//! CloudWatch datapoints, and the S3 bucket of the shared lock and journal — then
//! `pmctl env import` of the recorded `terraform output -json` (tests/data) with the ids
//! moto made.
//!
//! moto cannot run our API, so each region's API is a small HTTP stand-in here: `/ready`
//! (200, or 503 once a test takes the region down) and the write pmctl verifies with,
//! which succeeds only in the region moto reports as the writer — the API's own rule —
//! and only with the operator's token.
#![allow(dead_code)]

use crate::moto::{self, Moto, REGIONS, SECRET_KEY};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic,
};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType,
    ResourceRecordSet, ResourceRecordSetFailover, RrType,
};
use base64::Engine;
use pmctl::aws::rds::GlobalDatabase;
use pmctl::aws::sdk::RegionConfigs;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const GLOBAL: &str = "pm-prod";
pub const ZONE: &str = "pm.example.co.ke";
pub const RECORD: &str = "origin.api.pm.example.co.ke";
pub const BUCKET: &str = "pm-prod-ops-123456789012";
pub const PREFIX: &str = "prod";
pub const ALIAS: &str = "live";
/// The operator's API token: tests check it never appears in any output.
pub const API_TOKEN: &str = "pmctl-test-api-token-never-print";
const ALARM_KINDS: [&str; 6] = [
    "api-5xx-rate",
    "api-p99-latency",
    "lambda-errors",
    "lambda-throttles",
    "replication-lag",
    "proxy-connection-errors",
];
/// A zip with a `bootstrap` that is never invoked (moto stores code without docker).
const LAMBDA_ZIP: &str = "UEsDBBQAAAAAAAAAIVh0D+e9NQAAADUAAAAJAAAAYm9vdHN0cmFwIyEvYmluL3NoCiMgcG1jdGwgdGVzdCBoYW5kbGVyOiBuZXZlciBpbnZva2VkCmV4aXQgMApQSwECFAMUAAAAAAAAACFYdA/nvTUAAAA1AAAACQAAAAAAAAAAAAAA7QEAAAAAYm9vdHN0cmFwUEsFBgAAAAABAAEANwAAAFwAAAAAAA==";

pub fn cluster_id(region: &str) -> String {
    format!("pm-prod-{region}")
}
pub fn function(region: &str) -> String {
    format!("pm-prod-{region}-api")
}
pub fn set_id(region: &str) -> String {
    let role = if region == REGIONS[0] {
        "primary"
    } else {
        "secondary"
    };
    format!("pm-prod-{region}-{role}")
}
pub fn alarm(region: &str, kind: &str) -> String {
    format!("pm-prod-{region}-{kind}")
}
pub fn other(region: &str) -> &'static str {
    if region == REGIONS[0] {
        REGIONS[1]
    } else {
        REGIONS[0]
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:?}"))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The regional APIs' stand-in.
struct ApiState {
    up: BTreeMap<String, AtomicBool>,
    /// Regions a verified write went to, in order.
    writes: Mutex<Vec<String>>,
    db: GlobalDatabase,
}

pub struct World {
    pub moto: Moto,
    pub configs: RegionConfigs,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub zone_id: String,
    pub health_checks: BTreeMap<String, String>,
    pub api_urls: BTreeMap<String, String>,
    api: Arc<ApiState>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl World {
    /// The environment, seeded and imported (`pmctl env import` must succeed).
    pub async fn new() -> World {
        let w = World::seeded().await;
        let r = w.pmctl(&["env", "import", &w.output_file()]).await;
        assert_eq!(r.code, 0, "env import: {r:?}");
        w
    }

    /// Seeded in moto, pmctl.toml holding only the operator's own settings (not
    /// imported yet).
    pub async fn seeded() -> World {
        let moto = Moto::start().await;
        let configs = moto.configs().await;
        let (zone_id, health_checks, arns) = seed(&configs).await;
        let dir = tempfile::Builder::new()
            .prefix("pmctl-aws")
            .tempdir()
            .unwrap();
        let api = Arc::new(ApiState {
            up: REGIONS
                .iter()
                .map(|r| (r.to_string(), AtomicBool::new(true)))
                .collect(),
            writes: Mutex::new(vec![]),
            db: GlobalDatabase::new(GLOBAL, &configs),
        });
        let mut api_urls = BTreeMap::new();
        let mut servers = Vec::new();
        for region in REGIONS {
            let (url, handle) = serve_api(api.clone(), region).await;
            api_urls.insert(region.to_string(), url);
            servers.push(handle);
        }
        let config = dir.path().join("pmctl.toml");
        std::fs::write(
            &config,
            format!(
                "# The operator's own settings: `pmctl env import` keeps them.\n\
                 [environments.local]\nkind = \"local\"\n\n\
                 [environments.prod]\nkind = \"aws\"\n\
                 [environments.prod.thresholds]\nmax_lag_ms = 1000\nfailover_max_lag_ms = 1000\n\
                 [environments.prod.sdk]\nmax_attempts = 1\nattempt_timeout_ms = 10000\n\
                 [environments.prod.waits]\npoll_interval_ms = 100\ntimeout_secs = 30\nverify_timeout_secs = 3\nlock_ttl_secs = 30\n\
                 [environments.prod.api_urls]\n\"us-east-1\" = \"{}\"\n\"us-east-2\" = \"{}\"\n",
                api_urls["us-east-1"], api_urls["us-east-2"]
            ),
        )
        .unwrap();
        let recorded = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/terraform-output.json"),
        )
        .unwrap();
        let output = recorded
            .replace(
                "${HOSTED_ZONE_ID}",
                zone_id.trim_start_matches("/hostedzone/"),
            )
            .replace("${CLUSTER_ARN_US_EAST_1}", &arns["us-east-1"])
            .replace("${CLUSTER_ARN_US_EAST_2}", &arns["us-east-2"])
            .replace("${HEALTH_CHECK_US_EAST_1}", &health_checks["us-east-1"])
            .replace("${HEALTH_CHECK_US_EAST_2}", &health_checks["us-east-2"]);
        std::fs::write(dir.path().join("terraform-output.json"), output).unwrap();
        World {
            moto,
            configs,
            dir,
            config,
            zone_id,
            health_checks,
            api_urls,
            api,
            servers,
        }
    }

    pub fn output_file(&self) -> String {
        self.dir
            .path()
            .join("terraform-output.json")
            .display()
            .to_string()
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pmctl"));
        c.current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config)
            .args(["--env", "prod"])
            .args(args)
            .env_remove("AWS_PROFILE")
            .env_remove("PMCTL_STATE_DIR")
            .env_remove("PMCTL_ENV")
            .env_remove(pmctl::ops::region::CRASH_HOOK_ENV)
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent/pmctl-test-aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/pmctl-test-aws-credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("PMCTL_API_TOKEN", API_TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null());
        c
    }

    /// Runs `pmctl --config … --env prod ARGS` and checks it never shows a secret.
    pub async fn pmctl(&self, args: &[&str]) -> Run {
        self.pmctl_env(args, &[]).await
    }

    pub async fn pmctl_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out =
            tokio::task::spawn_blocking(move || run_with_timeout(c, Duration::from_secs(120)))
                .await
                .unwrap();
        let run = Run {
            code: out.0,
            stdout: out.1,
            stderr: out.2,
        };
        for secret in [SECRET_KEY, API_TOKEN] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "pmctl {args:?} showed a secret: {run:?}"
            );
        }
        run
    }

    /// Starts pmctl without waiting (for the lock tests).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Takes a region's API down (`false`) or brings it back.
    pub fn set_api_up(&self, region: &str, up: bool) {
        self.api.up[region].store(up, Ordering::SeqCst);
    }

    /// Regions verified writes went to.
    pub fn writes(&self) -> Vec<String> {
        self.api.writes.lock().unwrap().clone()
    }

    pub fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(self.configs.get(region).unwrap())
    }
    pub fn lambda(&self, region: &str) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(self.configs.get(region).unwrap())
    }
    pub fn cloudwatch(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(self.configs.get(region).unwrap())
    }
    pub fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(self.configs.get(REGIONS[0]).unwrap())
    }
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3(&self.configs)
    }

    /// The writer region as moto holds it.
    pub async fn writer(&self) -> String {
        GlobalDatabase::new(GLOBAL, &self.configs)
            .describe()
            .await
            .unwrap()
            .writer_region()
            .unwrap()
            .to_string()
    }

    /// Region → its failover record's role (`PRIMARY` / `SECONDARY`).
    pub async fn records(&self) -> BTreeMap<String, String> {
        let out = self
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        let mut roles = BTreeMap::new();
        for set in out.resource_record_sets() {
            if let (Some(id), Some(role)) = (set.set_identifier(), set.failover()) {
                let region = REGIONS
                    .iter()
                    .find(|r| set_id(r) == id)
                    .expect("a known set id");
                roles.insert(region.to_string(), role.as_str().to_string());
            }
        }
        roles
    }

    /// Makes `primary`'s record PRIMARY directly in moto (a change behind pmctl's back).
    pub async fn swap_records_directly(&self, primary: &str) {
        let out = self
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        let mut changes = Vec::new();
        for set in out.resource_record_sets() {
            if set.failover().is_none() {
                continue;
            }
            let mut s = set.clone();
            s.failover = Some(if s.set_identifier() == Some(set_id(primary).as_str()) {
                ResourceRecordSetFailover::Primary
            } else {
                ResourceRecordSetFailover::Secondary
            });
            changes.push(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(s)
                    .build()
                    .unwrap(),
            );
        }
        self.route53()
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .set_changes(Some(changes))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    /// The API function's reserved concurrency (`None`: unreserved).
    pub async fn concurrency(&self, region: &str) -> Option<i32> {
        self.lambda(region)
            .get_function_concurrency()
            .function_name(function(region))
            .send()
            .await
            .unwrap()
            .reserved_concurrent_executions()
    }

    /// The API alias: (its main version, version → weight of the others).
    pub async fn alias(&self, region: &str) -> (String, BTreeMap<String, f64>) {
        let a = self
            .lambda(region)
            .get_alias()
            .function_name(function(region))
            .name(ALIAS)
            .send()
            .await
            .unwrap();
        let weights = a
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        (a.function_version().unwrap().to_string(), weights)
    }

    /// The API function's published versions: (number, description), oldest first.
    pub async fn versions(&self, region: &str) -> Vec<(String, String)> {
        self.lambda(region)
            .list_versions_by_function()
            .function_name(function(region))
            .send()
            .await
            .unwrap()
            .versions()
            .iter()
            .filter(|v| v.version() != Some("$LATEST"))
            .map(|v| {
                (
                    v.version().unwrap().to_string(),
                    v.description().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// `$LATEST`'s code (base64 SHA-256).
    pub async fn latest_code(&self, region: &str) -> String {
        self.lambda(region)
            .get_function_configuration()
            .function_name(function(region))
            .send()
            .await
            .unwrap()
            .code_sha256()
            .unwrap_or_default()
            .to_string()
    }

    /// Lambda's per-version metrics for the API alias, as Lambda would publish them.
    pub async fn put_version_metrics(
        &self,
        region: &str,
        version: &str,
        invocations: f64,
        errors: f64,
    ) {
        let dims = [
            ("FunctionName", function(region)),
            ("Resource", format!("{}:{ALIAS}", function(region))),
            ("ExecutedVersion", version.to_string()),
        ];
        let mut put = self
            .cloudwatch(region)
            .put_metric_data()
            .namespace("AWS/Lambda");
        for (name, value) in [("Invocations", invocations), ("Errors", errors)] {
            let mut d = MetricDatum::builder()
                .metric_name(name)
                .value(value)
                .unit(StandardUnit::Count)
                .timestamp(aws_smithy_types::DateTime::from(
                    std::time::SystemTime::now(),
                ));
            for (k, v) in &dims {
                d = d.dimensions(Dimension::builder().name(*k).value(v).build());
            }
            put = put.metric_data(d.build());
        }
        put.send().await.expect("PutMetricData");
    }

    /// Puts the replication lag of `region`'s cluster (as a secondary) now.
    pub async fn put_lag(&self, region: &str, millis: f64) {
        put_lag(&self.configs, region, millis, 0).await
    }

    /// Puts a lag datapoint `secs_ago` (an older minute: a newer datapoint wins).
    pub async fn put_lag_ago(&self, region: &str, millis: f64, secs_ago: i64) {
        put_lag(&self.configs, region, millis, secs_ago).await
    }

    pub async fn set_alarm(&self, region: &str, kind: &str, alarm_state: StateValue) {
        self.cloudwatch(region)
            .set_alarm_state()
            .alarm_name(alarm(region, kind))
            .state_value(alarm_state)
            .state_reason("set by the test")
            .send()
            .await
            .unwrap();
    }

    /// An object of the shared store (`lock.json`, `journal.jsonl`), if it exists.
    pub async fn store_object(&self, name: &str) -> Option<String> {
        let r = self
            .s3()
            .get_object()
            .bucket(BUCKET)
            .key(format!("{PREFIX}/{name}"))
            .send()
            .await
            .ok()?;
        let body = r.body.collect().await.ok()?.into_bytes();
        Some(String::from_utf8(body.to_vec()).unwrap())
    }

    /// The shared journal's entries.
    pub async fn journal(&self) -> Vec<Value> {
        self.store_object("journal.jsonl")
            .await
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Everything pmctl could change, for before/after comparisons: the global cluster,
    /// the records, both functions' concurrency and aliases, the shared store's objects.
    pub async fn fingerprint(&self) -> Value {
        let gc = GlobalDatabase::new(GLOBAL, &self.configs)
            .describe()
            .await
            .unwrap();
        let mut functions = serde_json::Map::new();
        for r in REGIONS {
            let alias = self
                .lambda(r)
                .get_alias()
                .function_name(function(r))
                .name(ALIAS)
                .send()
                .await
                .unwrap();
            functions.insert(
                r.to_string(),
                serde_json::json!({
                    "concurrency": self.concurrency(r).await,
                    "alias": alias.function_version(),
                    "weights": format!("{:?}", alias.routing_config()),
                    "versions": self.versions(r).await,
                    "latest_code": self.latest_code(r).await,
                }),
            );
        }
        let objects: Vec<String> = self
            .s3()
            .list_objects_v2()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap()
            .contents()
            .iter()
            .map(|o| {
                format!(
                    "{} {}",
                    o.key().unwrap_or_default(),
                    o.e_tag().unwrap_or_default()
                )
            })
            .collect();
        serde_json::json!({
            "writer": gc.writer_region(),
            "members": gc.members.iter().map(|m| (m.region.clone(), m.is_writer)).collect::<Vec<_>>(),
            "failover": gc.failover.is_some(),
            "records": self.records().await,
            "functions": functions,
            "objects": objects,
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

/// Runs a command, killing it after `limit`; (exit code, stdout, stderr).
fn run_with_timeout(mut c: std::process::Command, limit: Duration) -> (i32, String, String) {
    use std::io::Read;
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning pmctl");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (code, t_out.join().unwrap(), t_err.join().unwrap())
}

/// Waits for `child` and collects its output (exit code, stdout, stderr).
pub fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn s3(configs: &RegionConfigs) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(configs.get(REGIONS[0]).unwrap())
            .force_path_style(true)
            .build(),
    )
}

async fn put_lag(configs: &RegionConfigs, region: &str, millis: f64, secs_ago: i64) {
    let cw = aws_sdk_cloudwatch::Client::new(configs.get(region).unwrap());
    let mut put = cw.put_metric_data().namespace("AWS/RDS");
    for metric in ["AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag"] {
        put = put.metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("DBClusterIdentifier")
                        .value(cluster_id(region))
                        .build(),
                )
                .timestamp(aws_smithy_types::DateTime::from_secs(
                    chrono::Utc::now().timestamp() - secs_ago,
                ))
                .value(millis)
                .unit(StandardUnit::Milliseconds)
                .build(),
        );
    }
    put.send().await.expect("PutMetricData");
}

/// Creates the environment in moto; returns (zone id, health checks, cluster ARNs).
async fn seed(
    configs: &RegionConfigs,
) -> (String, BTreeMap<String, String>, BTreeMap<String, String>) {
    let rds1 = aws_sdk_rds::Client::new(configs.get(REGIONS[0]).unwrap());
    rds1.create_global_cluster()
        .global_cluster_identifier(GLOBAL)
        .engine("aurora-postgresql")
        .engine_version("15.4")
        .send()
        .await
        .expect("CreateGlobalCluster");
    let mut arns = BTreeMap::new();
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
        arns.insert(
            region.to_string(),
            out.db_cluster()
                .unwrap()
                .db_cluster_arn()
                .unwrap()
                .to_string(),
        );
    }

    let r53 = aws_sdk_route53::Client::new(configs.get(REGIONS[0]).unwrap());
    let zone_id = r53
        .create_hosted_zone()
        .name(ZONE)
        .caller_reference("pmctl-aws-ops-zone")
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
            .caller_reference(format!("pmctl-aws-ops-hc-{region}"))
            .health_check_config(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Https)
                    .fully_qualified_domain_name(format!("{region}.api.{ZONE}"))
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
        changes.push(
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(
                    ResourceRecordSet::builder()
                        .name(RECORD)
                        .r#type(RrType::A)
                        .set_identifier(set_id(region))
                        .failover(if i == 0 {
                            ResourceRecordSetFailover::Primary
                        } else {
                            ResourceRecordSetFailover::Secondary
                        })
                        .health_check_id(id)
                        .alias_target(
                            AliasTarget::builder()
                                .hosted_zone_id("Z1UJRXOUMOOFQ8")
                                .dns_name(format!("d-{i}abc.execute-api.{region}.amazonaws.com"))
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
            cw.set_alarm_state()
                .alarm_name(alarm(region, kind))
                .state_value(StateValue::Ok)
                .state_reason("seeded")
                .send()
                .await
                .expect("SetAlarmState");
        }
    }

    let iam = aws_sdk_iam::Client::new(configs.get(REGIONS[0]).unwrap());
    let role_arn = iam
        .create_role()
        .role_name("pm-prod-api")
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
    let zip = base64::engine::general_purpose::STANDARD
        .decode(LAMBDA_ZIP)
        .unwrap();
    for region in REGIONS {
        let lambda = aws_sdk_lambda::Client::new(configs.get(region).unwrap());
        lambda
            .create_function()
            .function_name(function(region))
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .role(&role_arn)
            .handler("bootstrap")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(zip.clone().into())
                    .build(),
            )
            .send()
            .await
            .expect("CreateFunction");
        let version = lambda
            .publish_version()
            .function_name(function(region))
            .send()
            .await
            .expect("PublishVersion");
        lambda
            .create_alias()
            .function_name(function(region))
            .name(ALIAS)
            .function_version(version.version().unwrap())
            .send()
            .await
            .expect("CreateAlias");
    }

    s3(configs)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("CreateBucket");
    // The secondary is 200 ms behind: within the 1 s budgets (three minutes ago, so a
    // test's own datapoints are newer).
    put_lag(configs, REGIONS[1], 200.0, 180).await;
    (zone_id, health_checks, arns)
}

/// One region's API stand-in on a port of its own.
async fn serve_api(
    state: Arc<ApiState>,
    region: &'static str,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    let port = moto::pick_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("binding the API stand-in");
    let s1 = state.clone();
    let s2 = state.clone();
    let app = axum::Router::new()
        .route(
            "/ready",
            get(move || {
                let s = s1.clone();
                async move {
                    if s.up[region].load(Ordering::SeqCst) {
                        (
                            StatusCode::OK,
                            format!("{{\"status\":\"ready\",\"region\":\"{region}\"}}"),
                        )
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "{\"status\":\"unavailable\"}".to_string(),
                        )
                    }
                }
            }),
        )
        .route(
            "/v1/landlord/callback-token/rotate",
            post(move |headers: HeaderMap| {
                let s = s2.clone();
                async move {
                    if !s.up[region].load(Ordering::SeqCst) {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if auth != format!("Bearer {API_TOKEN}") {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    let writer =
                        s.db.describe()
                            .await
                            .ok()
                            .and_then(|g| g.writer_region().map(String::from));
                    if writer.as_deref() != Some(region) {
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [("x-pm-region", region)],
                            "read-only",
                        )
                            .into_response();
                    }
                    s.writes.lock().unwrap().push(region.to_string());
                    (
                        StatusCode::OK,
                        [("x-pm-region", region)],
                        "{\"callback_token\":\"secret\"}",
                    )
                        .into_response()
                }
            }),
        );
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://127.0.0.1:{port}"), handle)
}
