# Production: us-east-1 (primary) + us-east-2 (secondary) by default.

locals {
  name          = "${var.name_prefix}-${var.environment}"
  origin_domain = coalesce(var.origin_domain, "origin.${var.api_domain}")
  # CloudFront adds this header to every origin request; the API Gateway authorizer in
  # each region admits only requests carrying one of the two secrets below.
  origin_verify_header = "x-origin-verify"
  lambda_zip_path      = coalesce(var.lambda_zip_path, "${path.root}/../../../target/lambda/lambda/bootstrap.zip")
  tags = merge(
    {
      Project     = "property-management"
      Environment = var.environment
      ManagedBy   = "terraform"
    },
    var.tags,
  )
}

check "two_distinct_regions" {
  assert {
    condition     = var.primary_region != var.secondary_region
    error_message = "primary_region and secondary_region must differ."
  }
}

# Two slots so the secret rotates without a failed request: switch origin_verify_active,
# apply, then replace the idle slot (terraform apply -replace='random_password.origin_verify["a"]').
resource "random_password" "origin_verify" {
  for_each = toset(["a", "b"])

  length  = 48
  special = false
}

module "network_primary" {
  source    = "../../modules/network"
  providers = { aws = aws.primary }

  name                = local.name
  cidr_block          = var.primary_vpc_cidr
  interface_endpoints = var.interface_endpoints
}

module "network_secondary" {
  source    = "../../modules/network"
  providers = { aws = aws.secondary }

  name                = local.name
  cidr_block          = var.secondary_vpc_cidr
  interface_endpoints = var.interface_endpoints
}

module "database" {
  source = "../../modules/database"
  providers = {
    aws.primary   = aws.primary
    aws.secondary = aws.secondary
  }

  name                     = local.name
  instance_class           = var.db_instance_class
  primary_instance_count   = var.db_primary_instance_count
  secondary_instance_count = var.db_secondary_instance_count
  global_db_rpo_seconds    = var.global_db_rpo_seconds

  monitoring_interval_seconds = var.db_monitoring_interval_seconds

  primary = {
    subnet_ids                 = module.network_primary.private_subnet_ids
    aurora_security_group_id   = module.network_primary.aurora_security_group_id
    proxy_security_group_id    = module.network_primary.proxy_security_group_id
    rotation_security_group_id = module.network_primary.rotation_security_group_id
  }
  secondary = {
    subnet_ids               = module.network_secondary.private_subnet_ids
    aurora_security_group_id = module.network_secondary.aurora_security_group_id
    proxy_security_group_id  = module.network_secondary.proxy_security_group_id
  }
}

module "identity" {
  source    = "../../modules/identity"
  providers = { aws = aws.primary }

  name = local.name
}

module "api_primary" {
  source = "../../modules/api"
  providers = {
    aws     = aws.primary
    aws.dns = aws.global
  }

  name                  = local.name
  region_role           = "primary"
  lambda_zip_path       = local.lambda_zip_path
  reserved_concurrency  = var.lambda_reserved_concurrency
  subnet_ids            = module.network_primary.private_subnet_ids
  security_group_ids    = [module.network_primary.lambda_security_group_id]
  telemetry_kms_key_arn = module.network_primary.telemetry_kms_key_arn
  api_domain            = var.api_domain
  regional_domain       = "${var.primary_region}.${var.api_domain}"
  origin_domain         = local.origin_domain
  hosted_zone_id        = var.hosted_zone_id

  origin_verify_header  = local.origin_verify_header
  origin_verify_secrets = [for slot in ["a", "b"] : random_password.origin_verify[slot].result]

  database = {
    host               = module.database.primary.proxy_endpoint
    port               = 5432
    name               = module.database.database_name
    secret_arn         = module.database.primary.secret_arn
    secret_kms_key_arn = module.database.primary.kms_key_arn
  }
  auth = {
    issuer    = module.identity.issuer
    client_id = module.identity.client_id
    jwks_url  = module.identity.jwks_url
    jwks_json = module.identity.jwks_json
  }
}

module "api_secondary" {
  source = "../../modules/api"
  providers = {
    aws     = aws.secondary
    aws.dns = aws.global
  }

  name                  = local.name
  region_role           = "secondary"
  lambda_zip_path       = local.lambda_zip_path
  reserved_concurrency  = var.lambda_reserved_concurrency
  subnet_ids            = module.network_secondary.private_subnet_ids
  security_group_ids    = [module.network_secondary.lambda_security_group_id]
  telemetry_kms_key_arn = module.network_secondary.telemetry_kms_key_arn
  api_domain            = var.api_domain
  regional_domain       = "${var.secondary_region}.${var.api_domain}"
  origin_domain         = local.origin_domain
  hosted_zone_id        = var.hosted_zone_id

  origin_verify_header  = local.origin_verify_header
  origin_verify_secrets = [for slot in ["a", "b"] : random_password.origin_verify[slot].result]

  database = {
    host               = module.database.secondary.proxy_endpoint
    port               = 5432
    name               = module.database.database_name
    secret_arn         = module.database.secondary.secret_arn
    secret_kms_key_arn = module.database.secondary.kms_key_arn
  }
  auth = {
    issuer    = module.identity.issuer
    client_id = module.identity.client_id
    jwks_url  = module.identity.jwks_url
    jwks_json = module.identity.jwks_json
  }
}

module "routing" {
  source    = "../../modules/routing"
  providers = { aws.global = aws.global }

  name             = local.name
  hosted_zone_id   = var.hosted_zone_id
  record_name      = local.origin_domain
  request_interval = var.health_check_interval

  regions = {
    primary = {
      aws_region      = var.primary_region
      regional_domain = module.api_primary.regional_domain
      target_name     = module.api_primary.shared_target.name
      target_zone_id  = module.api_primary.shared_target.zone_id
    }
    secondary = {
      aws_region      = var.secondary_region
      regional_domain = module.api_secondary.regional_domain
      target_name     = module.api_secondary.shared_target.name
      target_zone_id  = module.api_secondary.shared_target.zone_id
    }
  }
}

module "observability_primary" {
  source    = "../../modules/observability"
  providers = { aws = aws.primary }

  name                  = local.name
  api_id                = module.api_primary.api_id
  function_name         = module.api_primary.function_name
  aurora_cluster_id     = module.database.primary.cluster_id
  proxy_name            = module.database.primary.proxy_name
  telemetry_kms_key_arn = module.network_primary.telemetry_kms_key_arn
  alarm_email           = var.alarm_email
}

module "observability_secondary" {
  source    = "../../modules/observability"
  providers = { aws = aws.secondary }

  name                  = local.name
  api_id                = module.api_secondary.api_id
  function_name         = module.api_secondary.function_name
  aurora_cluster_id     = module.database.secondary.cluster_id
  proxy_name            = module.database.secondary.proxy_name
  telemetry_kms_key_arn = module.network_secondary.telemetry_kms_key_arn
  alarm_email           = var.alarm_email
}

module "edge" {
  source    = "../../modules/edge"
  providers = { aws.global = aws.global }

  name           = local.name
  api_domain     = var.api_domain
  origin_domain  = module.routing.record_name
  hosted_zone_id = var.hosted_zone_id

  origin_verify_header = local.origin_verify_header
  origin_verify_secret = random_password.origin_verify[var.origin_verify_active].result

  mpesa_callback_source_cidrs = var.mpesa_callback_source_cidrs
  rate_limit_per_ip           = var.rate_limit_per_ip
  rate_limit_exempt_cidrs     = var.rate_limit_exempt_cidrs
}

# The shared operations lock and journal of pmctl (kept in the primary region at creation;
# it does not move with the writer).
module "ops_store" {
  source    = "../../modules/ops_store"
  providers = { aws = aws.primary }

  name = local.name
  tags = local.tags
}

module "budget" {
  source    = "../../modules/budget"
  providers = { aws.global = aws.global }

  name              = local.name
  monthly_limit_usd = var.monthly_budget_usd
  sns_topic_arn     = module.observability_primary.sns_topic_arn
  alert_emails      = var.alarm_email == null ? [] : [var.alarm_email]
  environment_tag   = var.budget_environment_tag ? var.environment : null
}
