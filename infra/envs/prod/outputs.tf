# The contract pmctl imports (`terraform output -json pmctl_environment`): every name and id
# the aws provider needs. Its keys are listed in infra/contract/pmctl_environment.keys.json
# and documented in infra/README.md; cli/tests/infra_terraform.rs checks this block against
# that list. Keep it a literal object (no for-expressions) so the check can read it.
output "pmctl_environment" {
  description = "Everything pmctl needs to drive this environment (kind = aws). Shape: infra/README.md, keys: infra/contract/pmctl_environment.keys.json."
  value = {
    name              = var.environment
    kind              = "aws"
    global_cluster_id = module.database.global_cluster_id
    hosted_zone_id    = module.routing.hosted_zone_id
    record_name       = module.routing.record_name
    api_domain        = var.api_domain
    sns_topic_arn     = module.observability_primary.sns_topic_arn
    database_name     = module.database.database_name
    database_user     = module.database.master_username
    budget_name       = module.budget.budget_name
    ops_store = {
      bucket     = module.ops_store.bucket
      aws_region = module.ops_store.aws_region
      prefix     = var.environment
    }
    edge = {
      metrics_region             = "us-east-1"
      cloudfront_distribution_id = module.edge.distribution_id
      cloudfront_domain_name     = module.edge.distribution_domain_name
      waf_web_acl_name           = module.edge.web_acl_name
      waf_web_acl_arn            = module.edge.web_acl_arn
      waf_rule_metrics = {
        callback_source = module.edge.waf_rule_metrics.callback_source
        rate_per_ip     = module.edge.waf_rule_metrics.rate_per_ip
      }
      access_log_bucket  = module.edge.access_log_bucket
      waf_log_group_name = module.edge.waf_log_group_name
    }
    cognito = {
      aws_region   = module.identity.aws_region
      user_pool_id = module.identity.user_pool_id
      client_id    = module.identity.client_id
      issuer       = module.identity.issuer
      jwks_url     = module.identity.jwks_url
    }
    regions = [
      {
        aws_region              = module.database.primary.aws_region
        role                    = "primary"
        aurora_cluster_id       = module.database.primary.cluster_id
        aurora_cluster_arn      = module.database.primary.cluster_arn
        rds_proxy_name          = module.database.primary.proxy_name
        rds_proxy_endpoint      = module.database.primary.proxy_endpoint
        db_secret_arn           = module.database.primary.secret_arn
        lambda_function_name    = module.api_primary.function_name
        lambda_alias_name       = module.api_primary.alias_name
        api_id                  = module.api_primary.api_id
        api_custom_domain       = module.api_primary.regional_domain
        route53_health_check_id = module.routing.health_check_ids["primary"]
        route53_set_identifier  = module.routing.set_identifiers["primary"]
        sns_topic_arn           = module.observability_primary.sns_topic_arn
        dashboard_name          = module.observability_primary.dashboard_name
        alarms = {
          api_5xx_rate            = module.observability_primary.alarm_names.api_5xx_rate
          api_p99_latency         = module.observability_primary.alarm_names.api_p99_latency
          lambda_errors           = module.observability_primary.alarm_names.lambda_errors
          lambda_throttles        = module.observability_primary.alarm_names.lambda_throttles
          replication_lag         = module.observability_primary.alarm_names.replication_lag
          proxy_connection_errors = module.observability_primary.alarm_names.proxy_connection_errors
        }
      },
      {
        aws_region              = module.database.secondary.aws_region
        role                    = "secondary"
        aurora_cluster_id       = module.database.secondary.cluster_id
        aurora_cluster_arn      = module.database.secondary.cluster_arn
        rds_proxy_name          = module.database.secondary.proxy_name
        rds_proxy_endpoint      = module.database.secondary.proxy_endpoint
        db_secret_arn           = module.database.secondary.secret_arn
        lambda_function_name    = module.api_secondary.function_name
        lambda_alias_name       = module.api_secondary.alias_name
        api_id                  = module.api_secondary.api_id
        api_custom_domain       = module.api_secondary.regional_domain
        route53_health_check_id = module.routing.health_check_ids["secondary"]
        route53_set_identifier  = module.routing.set_identifiers["secondary"]
        sns_topic_arn           = module.observability_secondary.sns_topic_arn
        dashboard_name          = module.observability_secondary.dashboard_name
        alarms = {
          api_5xx_rate            = module.observability_secondary.alarm_names.api_5xx_rate
          api_p99_latency         = module.observability_secondary.alarm_names.api_p99_latency
          lambda_errors           = module.observability_secondary.alarm_names.lambda_errors
          lambda_throttles        = module.observability_secondary.alarm_names.lambda_throttles
          replication_lag         = module.observability_secondary.alarm_names.replication_lag
          proxy_connection_errors = module.observability_secondary.alarm_names.proxy_connection_errors
        }
      },
    ]
  }
}
