//! The AWS environment as Terraform describes it: `terraform output -json
//! pmctl_environment` (contract: infra/contract/pmctl_environment.keys.json).
//!
//! Keys pmctl does not know are ignored, so Terraform can export more than pmctl reads
//! (new keys reach pmctl when this struct learns them); [`keys_read`] lists what pmctl
//! reads so a test can hold it against the contract file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("the Terraform output is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the Terraform output has no `pmctl_environment` (run `terraform output -json pmctl_environment`)")]
    NoEnvironment,
    #[error("pmctl_environment.{path}: {message}")]
    Shape { path: String, message: String },
    #[error("pmctl_environment: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsEnvironment {
    pub name: String,
    pub kind: String,
    pub global_cluster_id: String,
    pub hosted_zone_id: String,
    pub record_name: String,
    pub api_domain: String,
    pub sns_topic_arn: String,
    pub database_name: String,
    pub database_user: String,
    pub cognito: Cognito,
    /// The AWS Budgets budget of the environment.
    #[serde(default)]
    pub budget_name: String,
    /// CloudFront + WAF in front of the failover name (us-east-1).
    #[serde(default)]
    pub edge: Edge,
    /// Where the operations lock and journal two operators share live (S3).
    #[serde(default)]
    pub ops_store: OpsStore,
    /// `[primary, secondary]` as created; roles change with switchovers, not here.
    pub regions: Vec<RegionEnvironment>,
}

/// The S3 bucket (and key prefix) of the shared operations lock and journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpsStore {
    pub bucket: String,
    pub aws_region: String,
    /// Key prefix inside the bucket (the environment's name).
    pub prefix: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    pub cloudfront_distribution_id: String,
    pub cloudfront_domain_name: String,
    pub waf_web_acl_name: String,
    pub waf_web_acl_arn: String,
    pub waf_rule_metrics: WafRuleMetrics,
    /// Where the edge's metrics live (CloudFront and CLOUDFRONT-scope WAF: us-east-1).
    pub metrics_region: String,
    pub access_log_bucket: String,
    pub waf_log_group_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WafRuleMetrics {
    pub callback_source: String,
    pub rate_per_ip: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cognito {
    pub aws_region: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub issuer: String,
    pub jwks_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionEnvironment {
    pub aws_region: String,
    /// `primary` or `secondary` at creation.
    pub role: String,
    pub aurora_cluster_id: String,
    pub aurora_cluster_arn: String,
    pub rds_proxy_name: String,
    pub rds_proxy_endpoint: String,
    pub db_secret_arn: String,
    pub lambda_function_name: String,
    pub lambda_alias_name: String,
    pub api_id: String,
    pub api_custom_domain: String,
    pub route53_health_check_id: String,
    pub route53_set_identifier: String,
    pub sns_topic_arn: String,
    pub dashboard_name: String,
    pub alarms: Alarms,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alarms {
    pub api_5xx_rate: String,
    pub api_p99_latency: String,
    pub lambda_errors: String,
    pub lambda_throttles: String,
    pub replication_lag: String,
    pub proxy_connection_errors: String,
}

impl Alarms {
    pub fn names(&self) -> Vec<&str> {
        vec![
            &self.api_5xx_rate,
            &self.api_p99_latency,
            &self.lambda_errors,
            &self.lambda_throttles,
            &self.replication_lag,
            &self.proxy_connection_errors,
        ]
    }
}

impl AwsEnvironment {
    /// Reads `terraform output -json pmctl_environment` (the bare object), or the whole
    /// `terraform output -json` (`{"pmctl_environment": {"value": …}}`), and checks it.
    pub fn from_terraform_json(text: &str) -> Result<AwsEnvironment, EnvError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(EnvError::NotJson)?;
        let value = unwrap_output(value)?;
        let env: AwsEnvironment =
            serde_path_to_error::deserialize(value).map_err(|e| EnvError::Shape {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        env.validate()?;
        Ok(env)
    }

    pub fn validate(&self) -> Result<(), EnvError> {
        let invalid = |m: String| Err(EnvError::Invalid(m));
        if self.kind != "aws" {
            return invalid(format!("kind is {:?}, expected \"aws\"", self.kind));
        }
        for (key, value) in [
            ("name", &self.name),
            ("global_cluster_id", &self.global_cluster_id),
            ("hosted_zone_id", &self.hosted_zone_id),
            ("record_name", &self.record_name),
        ] {
            if value.trim().is_empty() {
                return invalid(format!("{key} is empty"));
            }
        }
        if self.regions.len() != 2 {
            return invalid(format!(
                "regions has {} entries, expected 2 (primary, secondary)",
                self.regions.len()
            ));
        }
        let roles: Vec<&str> = self.regions.iter().map(|r| r.role.as_str()).collect();
        if roles != ["primary", "secondary"] {
            return invalid(format!(
                "regions[].role are {roles:?}, expected [\"primary\", \"secondary\"]"
            ));
        }
        for (i, r) in self.regions.iter().enumerate() {
            for (key, value) in [
                ("aws_region", &r.aws_region),
                ("aurora_cluster_id", &r.aurora_cluster_id),
                ("aurora_cluster_arn", &r.aurora_cluster_arn),
                ("lambda_function_name", &r.lambda_function_name),
                ("lambda_alias_name", &r.lambda_alias_name),
                ("route53_health_check_id", &r.route53_health_check_id),
                ("route53_set_identifier", &r.route53_set_identifier),
            ] {
                if value.trim().is_empty() {
                    return invalid(format!("regions[{i}].{key} is empty"));
                }
            }
        }
        let [a, b] = [&self.regions[0], &self.regions[1]];
        if a.aws_region == b.aws_region {
            return invalid(format!("both regions are {}", a.aws_region));
        }
        if a.route53_set_identifier == b.route53_set_identifier {
            return invalid(format!(
                "both regions use the set identifier {}",
                a.route53_set_identifier
            ));
        }
        Ok(())
    }

    pub fn region(&self, aws_region: &str) -> Option<&RegionEnvironment> {
        self.regions.iter().find(|r| r.aws_region == aws_region)
    }

    /// The region that is not `aws_region`.
    pub fn other_region(&self, aws_region: &str) -> Option<&RegionEnvironment> {
        self.region(aws_region)?;
        self.regions.iter().find(|r| r.aws_region != aws_region)
    }

    pub fn region_names(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.aws_region.as_str()).collect()
    }

    /// The region whose failover record carries `set_identifier`.
    pub fn region_of_set_identifier(&self, set_identifier: &str) -> Option<&RegionEnvironment> {
        self.regions
            .iter()
            .find(|r| r.route53_set_identifier == set_identifier)
    }
}

fn unwrap_output(value: serde_json::Value) -> Result<serde_json::Value, EnvError> {
    let serde_json::Value::Object(mut map) = value else {
        return Ok(value); // the shape error names it
    };
    if let Some(output) = map.remove("pmctl_environment") {
        // `terraform output -json`: {"pmctl_environment": {"sensitive", "type", "value"}}
        return match output {
            serde_json::Value::Object(mut o) if o.contains_key("value") => {
                Ok(o.remove("value").unwrap_or_default())
            }
            other => Ok(other),
        };
    }
    if map.contains_key("kind") || map.contains_key("regions") {
        return Ok(serde_json::Value::Object(map));
    }
    Err(EnvError::NoEnvironment)
}

/// The contract keys pmctl reads, spelled as in the contract file: `a.b` for a nested
/// field, `regions[].x` for a field of every region. Derived from the same struct that
/// deserialises the output, so it cannot drift from what is read.
pub fn keys_read() -> BTreeSet<String> {
    let sample = AwsEnvironment {
        regions: vec![RegionEnvironment::default()],
        ..AwsEnvironment::default()
    };
    let value = serde_json::to_value(sample).expect("serialising plain strings");
    let mut keys = BTreeSet::new();
    collect_keys(&value, "", &mut keys);
    keys
}

fn collect_keys(value: &serde_json::Value, prefix: &str, keys: &mut BTreeSet<String>) {
    let serde_json::Value::Object(map) = value else {
        return;
    };
    for (name, child) in map {
        let path = format!("{prefix}{name}");
        match child {
            serde_json::Value::Object(_) => collect_keys(child, &format!("{path}."), keys),
            serde_json::Value::Array(items) => {
                keys.insert(path.clone());
                if let Some(first) = items.first() {
                    collect_keys(first, &format!("{path}[]."), keys);
                }
            }
            _ => {
                keys.insert(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract_keys() -> BTreeSet<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infra/contract/pmctl_environment.keys.json"
        );
        let text = std::fs::read_to_string(path).expect("reading the contract");
        let contract: serde_json::Value = serde_json::from_str(&text).unwrap();
        contract["keys"]
            .as_array()
            .expect("contract.keys")
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    }

    fn sample_json() -> serde_json::Value {
        let region = |name: &str, role: &str, n: u8| {
            serde_json::json!({
                "aws_region": name, "role": role,
                "aurora_cluster_id": format!("pm-{name}"),
                "aurora_cluster_arn": format!("arn:aws:rds:{name}:123456789012:cluster:pm-{name}"),
                "rds_proxy_name": "pm-proxy", "rds_proxy_endpoint": format!("pm-proxy.{name}.example"),
                "db_secret_arn": format!("arn:aws:secretsmanager:{name}:123456789012:secret:pm"),
                "lambda_function_name": "pm-api", "lambda_alias_name": "live",
                "api_id": format!("api{n}"), "api_custom_domain": format!("{name}.api.example.com"),
                "route53_health_check_id": format!("hc-{n}"), "route53_set_identifier": role,
                "sns_topic_arn": format!("arn:aws:sns:{name}:123456789012:pm-alarms"),
                "dashboard_name": "pm",
                "alarms": {
                    "api_5xx_rate": format!("pm-{name}-5xx"), "api_p99_latency": format!("pm-{name}-p99"),
                    "lambda_errors": format!("pm-{name}-errors"), "lambda_throttles": format!("pm-{name}-throttles"),
                    "replication_lag": format!("pm-{name}-lag"), "proxy_connection_errors": format!("pm-{name}-proxy"),
                    "a_future_alarm": "tolerated"
                },
                "waf_web_acl_arn": "tolerated too"
            })
        };
        serde_json::json!({
            "name": "prod", "kind": "aws", "global_cluster_id": "pm-global",
            "hosted_zone_id": "Z123", "record_name": "api.example.com", "api_domain": "api.example.com",
            "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:pm-alarms",
            "database_name": "pm", "database_user": "pm_api",
            "cognito": {"aws_region": "us-east-1", "user_pool_id": "us-east-1_x", "client_id": "c",
                        "issuer": "https://issuer", "jwks_url": "https://issuer/jwks"},
            "cloudfront_distribution_id": "E123",
            "regions": [region("us-east-1", "primary", 1), region("us-east-2", "secondary", 2)]
        })
    }

    #[test]
    fn pmctl_reads_exactly_the_contract_keys() {
        let read = keys_read();
        let contract = contract_keys();
        let missing: Vec<_> = contract.difference(&read).collect();
        let extra: Vec<_> = read.difference(&contract).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "contract keys pmctl does not read: {missing:?}; keys pmctl reads that the contract lacks: {extra:?}"
        );
    }

    #[test]
    fn reads_bare_and_wrapped_output_and_ignores_unknown_keys() {
        let bare = sample_json();
        let env = AwsEnvironment::from_terraform_json(&bare.to_string()).unwrap();
        assert_eq!(env.region_names(), ["us-east-1", "us-east-2"]);
        assert_eq!(env.regions[1].alarms.replication_lag, "pm-us-east-2-lag");
        let wrapped = serde_json::json!({
            "pmctl_environment": {"sensitive": false, "type": "object", "value": bare},
            "other_output": {"value": 1}
        });
        assert_eq!(
            AwsEnvironment::from_terraform_json(&wrapped.to_string()).unwrap(),
            env
        );
        assert_eq!(
            env.region_of_set_identifier("secondary")
                .unwrap()
                .aws_region,
            "us-east-2"
        );
        assert_eq!(
            env.other_region("us-east-1").unwrap().aws_region,
            "us-east-2"
        );
        assert!(env.other_region("eu-west-1").is_none());
    }

    #[test]
    fn bad_output_is_refused_with_the_field_named() {
        let mut v = sample_json();
        v["regions"][1]["alarms"]["lambda_errors"] = serde_json::json!(7);
        let err = AwsEnvironment::from_terraform_json(&v.to_string()).unwrap_err();
        assert!(
            err.to_string().contains("regions[1].alarms.lambda_errors"),
            "{err}"
        );

        let mut v = sample_json();
        v["regions"].as_array_mut().unwrap().pop();
        let err = AwsEnvironment::from_terraform_json(&v.to_string()).unwrap_err();
        assert!(err.to_string().contains("regions has 1 entries"), "{err}");

        let mut v = sample_json();
        v["regions"][1]["aws_region"] = "us-east-1".into();
        let err = AwsEnvironment::from_terraform_json(&v.to_string()).unwrap_err();
        assert!(
            err.to_string().contains("both regions are us-east-1"),
            "{err}"
        );

        let mut v = sample_json();
        v["kind"] = "local".into();
        assert!(AwsEnvironment::from_terraform_json(&v.to_string()).is_err());

        let mut v = sample_json();
        v["regions"][0]["route53_health_check_id"] = "".into();
        let err = AwsEnvironment::from_terraform_json(&v.to_string()).unwrap_err();
        assert!(
            err.to_string()
                .contains("regions[0].route53_health_check_id is empty"),
            "{err}"
        );

        let err = AwsEnvironment::from_terraform_json(r#"{"other": {"value": 1}}"#).unwrap_err();
        assert!(matches!(err, EnvError::NoEnvironment), "{err}");
        assert!(matches!(
            AwsEnvironment::from_terraform_json("not json"),
            Err(EnvError::NotJson(_))
        ));
    }
}
