//! Lambda: which version(s) an alias serves, with what weights; uploading code, publishing
//! a version and moving the alias (deploys); reserved concurrency (0 fences a region's API).

use serde::Serialize;
use std::collections::BTreeMap;

use super::error::AwsError;
use super::sdk::{client_for, RegionConfigs};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasVersions {
    pub function: String,
    pub alias: String,
    /// The version the alias points at.
    pub version: String,
    /// Extra versions and the share of invocations each gets (0.0–1.0); the main
    /// version gets the rest.
    pub additional_weights: BTreeMap<String, f64>,
}

impl AliasVersions {
    /// Every version that serves traffic, with its share (the main version first).
    pub fn shares(&self) -> Vec<(String, f64)> {
        let extra: f64 = self.additional_weights.values().sum();
        std::iter::once((self.version.clone(), (1.0 - extra).max(0.0)))
            .chain(self.additional_weights.iter().map(|(v, w)| (v.clone(), *w)))
            .collect()
    }
}

/// A published version (or `$LATEST`) of a function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionInfo {
    pub version: String,
    pub description: String,
    /// Base64 SHA-256 of the deployment package, as Lambda reports it.
    pub code_sha256: String,
    /// `$LATEST` after an upload: `InProgress`, `Successful` or `Failed`.
    pub update_status: Option<String>,
    pub update_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Functions {
    clients: BTreeMap<String, aws_sdk_lambda::Client>,
}

fn alias_from(
    function: &str,
    name: Option<&str>,
    version: Option<&str>,
    routing: Option<&aws_sdk_lambda::types::AliasRoutingConfiguration>,
) -> AliasVersions {
    AliasVersions {
        function: function.to_string(),
        alias: name.unwrap_or_default().to_string(),
        version: version.unwrap_or_default().to_string(),
        additional_weights: routing
            .and_then(|r| r.additional_version_weights())
            .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
    }
}

impl Functions {
    pub fn new(configs: &RegionConfigs) -> Functions {
        Functions {
            clients: configs.clients(aws_sdk_lambda::Client::new),
        }
    }

    pub async fn alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
    ) -> Result<AliasVersions, AwsError> {
        const OP: &str = "GetAlias";
        let out = client_for(&self.clients, OP, region)?
            .get_alias()
            .function_name(function)
            .name(alias)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(OP, format!("alias {function}:{alias} in {region}"), e)
            })?;
        Ok(alias_from(
            function,
            out.name(),
            out.function_version(),
            out.routing_config(),
        ))
    }

    /// Points `alias` at `version`, with `additional_weights` (each 0.0–1.0, summing to
    /// at most 1.0; empty: all traffic to `version`).
    pub async fn update_alias(
        &self,
        region: &str,
        function: &str,
        alias: &str,
        version: &str,
        additional_weights: &BTreeMap<String, f64>,
    ) -> Result<AliasVersions, AwsError> {
        const OP: &str = "UpdateAlias";
        let resource = format!("alias {function}:{alias} in {region}");
        if let Some((v, w)) = additional_weights
            .iter()
            .find(|(_, w)| !(0.0..=1.0).contains(*w))
        {
            return Err(AwsError::invalid(
                OP,
                resource,
                format!("weight {w} of version {v} is not between 0 and 1"),
            ));
        }
        if additional_weights.values().sum::<f64>() > 1.0 {
            return Err(AwsError::invalid(
                OP,
                resource,
                "the additional weights add up to more than 1",
            ));
        }
        if additional_weights.contains_key(version) {
            return Err(AwsError::invalid(
                OP,
                resource,
                format!(
                    "version {version} is the alias's main version and cannot also carry a weight"
                ),
            ));
        }
        let mut routing = aws_sdk_lambda::types::AliasRoutingConfiguration::builder();
        for (v, w) in additional_weights {
            routing = routing.additional_version_weights(v, *w);
        }
        let out = client_for(&self.clients, OP, region)?
            .update_alias()
            .function_name(function)
            .name(alias)
            .function_version(version)
            .routing_config(routing.build())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, resource, e))?;
        Ok(alias_from(
            function,
            out.name(),
            out.function_version(),
            out.routing_config(),
        ))
    }

    /// Publishes `$LATEST` as a new version and returns its number. With `code_sha256`
    /// (base64, as Lambda reports it) Lambda refuses when `$LATEST` holds other code — an
    /// upload by someone else between ours and this call.
    pub async fn publish_version(
        &self,
        region: &str,
        function: &str,
        description: &str,
        code_sha256: Option<&str>,
    ) -> Result<String, AwsError> {
        const OP: &str = "PublishVersion";
        let resource = format!("function {function} in {region}");
        let out = client_for(&self.clients, OP, region)?
            .publish_version()
            .function_name(function)
            .description(description)
            .set_code_sha256(code_sha256.map(str::to_string))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, resource.clone(), e))?;
        out.version()
            .map(str::to_string)
            .ok_or_else(|| AwsError::missing(OP, resource, "no version in the answer"))
    }

    /// Uploads `zip` as the function's `$LATEST` code (not published: no alias serves
    /// `$LATEST`, so no request runs it).
    pub async fn update_code(
        &self,
        region: &str,
        function: &str,
        zip: Vec<u8>,
    ) -> Result<VersionInfo, AwsError> {
        const OP: &str = "UpdateFunctionCode";
        let out = client_for(&self.clients, OP, region)?
            .update_function_code()
            .function_name(function)
            .zip_file(zip.into())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, format!("function {function} in {region}"), e))?;
        Ok(VersionInfo {
            version: out.version().unwrap_or("$LATEST").to_string(),
            description: out.description().unwrap_or_default().to_string(),
            code_sha256: out.code_sha256().unwrap_or_default().to_string(),
            update_status: out.last_update_status().map(|s| s.as_str().to_string()),
            update_reason: out.last_update_status_reason().map(str::to_string),
        })
    }

    /// One version's (or `$LATEST`'s) configuration.
    pub async fn version(
        &self,
        region: &str,
        function: &str,
        qualifier: &str,
    ) -> Result<VersionInfo, AwsError> {
        const OP: &str = "GetFunctionConfiguration";
        let out = client_for(&self.clients, OP, region)?
            .get_function_configuration()
            .function_name(function)
            .qualifier(qualifier)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    OP,
                    format!("function {function}:{qualifier} in {region}"),
                    e,
                )
            })?;
        Ok(VersionInfo {
            version: out.version().unwrap_or(qualifier).to_string(),
            description: out.description().unwrap_or_default().to_string(),
            code_sha256: out.code_sha256().unwrap_or_default().to_string(),
            update_status: out.last_update_status().map(|s| s.as_str().to_string()),
            update_reason: out.last_update_status_reason().map(str::to_string),
        })
    }

    /// Every published version of the function (not `$LATEST`), oldest first.
    pub async fn versions(
        &self,
        region: &str,
        function: &str,
    ) -> Result<Vec<VersionInfo>, AwsError> {
        const OP: &str = "ListVersionsByFunction";
        let mut pages = client_for(&self.clients, OP, region)?
            .list_versions_by_function()
            .function_name(function)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::from_sdk(
                    OP,
                    format!("versions of function {function} in {region}"),
                    e,
                )
            })?;
            for v in page.versions() {
                let Some(version) = v.version().filter(|v| *v != "$LATEST") else {
                    continue;
                };
                out.push(VersionInfo {
                    version: version.to_string(),
                    description: v.description().unwrap_or_default().to_string(),
                    code_sha256: v.code_sha256().unwrap_or_default().to_string(),
                    update_status: None,
                    update_reason: None,
                });
            }
        }
        out.sort_by_key(|v| v.version.parse::<u64>().unwrap_or(0));
        Ok(out)
    }

    /// Reserved concurrency, `None` when the function has none (it shares the
    /// account's pool).
    pub async fn reserved_concurrency(
        &self,
        region: &str,
        function: &str,
    ) -> Result<Option<i32>, AwsError> {
        const OP: &str = "GetFunctionConcurrency";
        let out = client_for(&self.clients, OP, region)?
            .get_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, format!("function {function} in {region}"), e))?;
        Ok(out.reserved_concurrent_executions())
    }

    /// Sets reserved concurrency; 0 stops every invocation (the application-tier fence).
    pub async fn set_reserved_concurrency(
        &self,
        region: &str,
        function: &str,
        limit: i32,
    ) -> Result<(), AwsError> {
        const OP: &str = "PutFunctionConcurrency";
        let resource = format!("function {function} in {region}");
        if limit < 0 {
            return Err(AwsError::invalid(
                OP,
                resource,
                format!("concurrency {limit} is negative"),
            ));
        }
        client_for(&self.clients, OP, region)?
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(limit)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, resource, e))?;
        Ok(())
    }

    /// Removes reserved concurrency (back to the account's shared pool).
    pub async fn delete_reserved_concurrency(
        &self,
        region: &str,
        function: &str,
    ) -> Result<(), AwsError> {
        const OP: &str = "DeleteFunctionConcurrency";
        client_for(&self.clients, OP, region)?
            .delete_function_concurrency()
            .function_name(function)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, format!("function {function} in {region}"), e))?;
        Ok(())
    }
}
