//! The provider for an AWS environment: Aurora Global Database (RDS), Route 53 failover
//! records and health checks, CloudWatch lag and alarms, Lambda aliases and reserved
//! concurrency, through the SDK layer in `crate::aws` (one `SdkConfig` per region from the
//! standard chain). The operations lock and journal live in S3 (`store`), shared by every
//! operator. A region's API is reached over HTTPS (`/ready`, the write verification).
//!
//! - `snapshot`: the neutral topology (status, plans, preflight);
//! - `steps`: capabilities → AWS steps, and running them (each idempotent);
//! - `store`: the shared lock (a lease renewed by a heartbeat) and journal;
//! - `deploy`: releases as published Lambda versions, canaries as alias weights.

mod deploy;
mod snapshot;
mod steps;
mod store;

use super::*;
use crate::aws::cloudwatch::CloudWatch;
use crate::aws::env::{AwsEnvironment, RegionEnvironment};
use crate::aws::lambda::Functions;
use crate::aws::rds::GlobalDatabase;
use crate::aws::route53::{HealthRule, Route53};
use crate::aws::sdk::{sdk_config, RegionConfigs};
use crate::aws::store::SharedStore;
use crate::aws::{AwsError, ErrorKind};
use crate::config::{AwsEnv, HealthRuleSetting, Rpo};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The environment variable holding a bearer token for the regional APIs (write
/// verification, drills). Never printed, never journaled.
pub const API_TOKEN_ENV: &str = "PMCTL_API_TOKEN";

/// Every client of the environment, built once from the per-region configs.
pub(crate) struct Clients {
    pub db: GlobalDatabase,
    pub route53: Route53,
    pub cloudwatch: CloudWatch,
    pub lambda: Functions,
    pub store: SharedStore,
}

pub struct AwsProvider {
    env: String,
    config: AwsEnv,
    settings: Settings,
    state_dir: std::path::PathBuf,
    clients: Arc<OnceCell<Clients>>,
    store: store::AwsStore,
    http: reqwest::Client,
    /// (region, Lambda version) → the release label it carries (versions never change).
    labels: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
}

impl AwsProvider {
    pub fn new(env: &str, config: &AwsEnv) -> Result<AwsProvider, ProviderError> {
        let clients = Arc::new(OnceCell::new());
        let ops = &config.terraform.ops_store;
        Ok(AwsProvider {
            env: env.to_string(),
            config: config.clone(),
            settings: Settings {
                // Aurora Global Database replicates asynchronously.
                rpo: Rpo::Async,
                thresholds: config.thresholds.clone(),
            },
            state_dir: std::path::PathBuf::from(".pmctl").join(env),
            store: store::AwsStore::new(
                format!("s3://{}/{}", ops.bucket, ops.prefix.trim_matches('/')),
                clients.clone(),
                config.clone(),
                Duration::from_secs(config.waits.lock_ttl_secs),
            ),
            clients,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| ProviderError::fatal("pmctl", "building the HTTP client", e))?,
            labels: Default::default(),
        })
    }

    fn tf(&self) -> &AwsEnvironment {
        &self.config.terraform
    }

    /// The clients, built on first use (loading the SDK configs is async).
    pub(crate) async fn clients(&self) -> &Clients {
        build_clients(&self.clients, &self.config).await
    }

    fn region_env(&self, region: &str) -> Result<&RegionEnvironment, ProviderError> {
        self.tf()
            .region(region)
            .ok_or_else(|| ProviderError::UnknownRegion(region.to_string()))
    }

    fn other_region(&self, region: &str) -> Result<&RegionEnvironment, ProviderError> {
        self.tf()
            .other_region(region)
            .ok_or_else(|| ProviderError::UnknownRegion(region.to_string()))
    }

    fn health_rule(&self) -> HealthRule {
        match self.config.health_rule {
            HealthRuleSetting::Majority => HealthRule::Majority,
            HealthRuleSetting::Route53 => HealthRule::Route53,
        }
    }

    /// A region's API base URL (no trailing slash).
    pub(crate) fn api_url(&self, region: &str) -> Result<String, ProviderError> {
        let r = self.region_env(region)?;
        Ok(match self.config.api_urls.get(region) {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("https://{}", r.api_custom_domain),
        })
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.config.waits.poll_interval_ms)
    }

    fn wait_timeout(&self) -> Duration {
        Duration::from_secs(self.config.waits.timeout_secs)
    }
}

pub(crate) async fn build_clients<'a>(cell: &'a OnceCell<Clients>, config: &AwsEnv) -> &'a Clients {
    cell.get_or_init(|| async {
        let tf = &config.terraform;
        let sdk = config.sdk.to_sdk();
        let configs = RegionConfigs::load(&tf.region_names(), &sdk).await;
        let first = tf.regions[0].aws_region.as_str();
        let store_region = if tf.ops_store.aws_region.is_empty() {
            first.to_string()
        } else {
            tf.ops_store.aws_region.clone()
        };
        let store_config = sdk_config(&store_region, &sdk).await;
        let route53 = Route53::new(configs.get(first).expect("the environment's first region"));
        Clients {
            db: GlobalDatabase::new(&tf.global_cluster_id, &configs)
                .with_poll_interval(Duration::from_millis(config.waits.poll_interval_ms)),
            route53,
            cloudwatch: CloudWatch::new(&configs),
            lambda: Functions::new(&configs),
            store: SharedStore::new(&store_config, &tf.ops_store.bucket, &tf.ops_store.prefix),
        }
    })
    .await
}

/// An AWS failure as a provider error: the component is the resource, the action the
/// call; retryable when AWS says so (throttling, 5xx, timeouts).
pub(crate) fn aws_error(action: &str, e: AwsError) -> ProviderError {
    let component = match e.operation() {
        Some(op) => format!("AWS {op}"),
        None => "AWS".to_string(),
    };
    let retryable = e.retryable();
    let hint = match e.kind() {
        ErrorKind::Throttled => " (AWS is throttling pmctl: try again in a moment)",
        ErrorKind::AccessDenied => {
            " (the credentials in use may not do this: check the profile / role and its IAM policy)"
        }
        ErrorKind::NotFound => {
            " (does the environment exist as imported? `terraform apply`, then `pmctl env import`)"
        }
        _ => "",
    };
    ProviderError::Action {
        component,
        action: format!("{action}{hint}"),
        retryable,
        source: Box::new(e),
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn kind(&self) -> &'static str {
        "aws"
    }

    fn environment(&self) -> &str {
        &self.env
    }

    fn regions(&self) -> Vec<String> {
        self.tf()
            .region_names()
            .into_iter()
            .map(String::from)
            .collect()
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.state_dir.clone()
    }

    async fn snapshot(&self) -> Result<Topology, ProviderError> {
        snapshot::snapshot(self).await
    }

    fn expand(&self, cap: &Capability, t: &Topology) -> Vec<Step> {
        steps::expand(cap, t)
    }

    async fn run_step(
        &self,
        step: &Step,
        progress: Progress<'_>,
    ) -> Result<serde_json::Value, ProviderError> {
        steps::run(self, step, progress).await
    }

    fn faults(&self) -> &dyn Faults {
        &Nothing
    }
    fn deployer(&self) -> Option<&dyn super::deploy::Deployer> {
        Some(self)
    }
    fn traffic(&self) -> &dyn Traffic {
        self
    }
    fn readback(&self) -> &dyn Readback {
        self
    }
    fn store(&self) -> &dyn StateStore {
        &self.store
    }

    async fn prepare(&self, _shell: &Shell) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn repair(&self) -> Result<Vec<String>, ProviderError> {
        Ok(vec![])
    }

    async fn reset_metrics(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

impl Traffic for AwsProvider {
    fn entry_url(&self) -> Result<String, ProviderError> {
        Ok(format!("https://{}", self.tf().api_domain))
    }
    fn region_url(&self, region: &str) -> Result<String, ProviderError> {
        self.api_url(region)
    }
    fn token(&self, _subject: &str, _ttl: Duration) -> Result<String, ProviderError> {
        api_token().ok_or_else(|| ProviderError::NotSetUp {
            what: format!(
                "environment `{}`: set {API_TOKEN_ENV} to a bearer token of a test landlord (pmctl cannot mint tokens for Cognito)",
                self.env
            ),
        })
    }
}

#[async_trait]
impl Readback for AwsProvider {
    async fn readback(&self, _acked: &Acknowledged) -> Result<ReadbackReport, ProviderError> {
        Err(ProviderError::Unsupported {
            what: format!(
                "environment `{}`: reading acknowledged payments back from Aurora is not implemented for AWS yet",
                self.env
            ),
        })
    }
}

/// The API token from the environment (empty counts as unset).
pub(crate) fn api_token() -> Option<String> {
    std::env::var(API_TOKEN_ENV).ok().filter(|t| !t.is_empty())
}
