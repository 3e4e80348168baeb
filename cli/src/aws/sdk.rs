//! One `SdkConfig` per region, from the standard chain (profile, environment,
//! `AWS_ENDPOINT_URL`), with timeouts and retries set explicitly: every client pmctl
//! builds comes from one of these (cargo-lambda's `sdk_config()` pattern).

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use std::collections::BTreeMap;
use std::time::Duration;

use super::error::AwsError;

/// How pmctl talks to AWS. Defaults suit an operator's laptop; tests set
/// `max_attempts = 1` so a missing emulator handler fails at once instead of being
/// retried as a 500.
#[derive(Debug, Clone)]
pub struct SdkSettings {
    /// Named profile (otherwise `AWS_PROFILE` / the default profile).
    pub profile: Option<String>,
    /// Endpoint override (otherwise `AWS_ENDPOINT_URL` / the service's endpoint).
    pub endpoint_url: Option<String>,
    /// TCP + TLS connection set-up.
    pub connect_timeout: Duration,
    /// One HTTP attempt, connection included.
    pub attempt_timeout: Duration,
    /// The whole call, all retries included.
    pub operation_timeout: Duration,
    /// Attempts per call, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Explicit credentials (tests); otherwise the standard chain.
    pub credentials: Option<SharedCredentialsProvider>,
}

impl Default for SdkSettings {
    fn default() -> Self {
        SdkSettings {
            profile: None,
            endpoint_url: None,
            connect_timeout: Duration::from_secs(3),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 3,
            credentials: None,
        }
    }
}

/// The `SdkConfig` for one region.
pub async fn sdk_config(region: &str, settings: &SdkSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .operation_timeout(settings.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)));
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = &settings.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    loader.load().await
}

/// The configs of an environment's regions, looked up by region name.
#[derive(Debug, Clone)]
pub struct RegionConfigs {
    configs: BTreeMap<String, SdkConfig>,
}

impl RegionConfigs {
    pub async fn load<S: AsRef<str>>(regions: &[S], settings: &SdkSettings) -> RegionConfigs {
        let mut configs = BTreeMap::new();
        for region in regions {
            let region = region.as_ref();
            configs.insert(region.to_string(), sdk_config(region, settings).await);
        }
        RegionConfigs { configs }
    }

    pub fn get(&self, region: &str) -> Result<&SdkConfig, AwsError> {
        self.configs.get(region).ok_or_else(|| {
            AwsError::invalid(
                "configure",
                format!("region {region}"),
                format!(
                    "not one of the environment's regions ({})",
                    self.regions().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.configs.keys().map(String::as_str)
    }

    /// Builds one client per region.
    pub(crate) fn clients<C>(&self, build: impl Fn(&SdkConfig) -> C) -> BTreeMap<String, C> {
        self.configs
            .iter()
            .map(|(region, config)| (region.clone(), build(config)))
            .collect()
    }
}

/// The client of `region` from a per-region map, or an error naming the known regions.
pub(crate) fn client_for<'a, C>(
    clients: &'a BTreeMap<String, C>,
    operation: &'static str,
    region: &str,
) -> Result<&'a C, AwsError> {
    clients.get(region).ok_or_else(|| {
        AwsError::invalid(
            operation,
            format!("region {region}"),
            format!(
                "not one of the environment's regions ({})",
                clients.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })
}
