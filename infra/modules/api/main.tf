# One region's API: the Rust Lambda (provided.al2023) behind an API Gateway HTTP API that is
# reachable only through custom domains (the default execute-api endpoint is disabled:
# Safaricom refuses M-Pesa callback URLs containing "exe"/"exec"), and on those only with
# the secret origin header CloudFront adds (modules/edge): a Lambda REQUEST authorizer
# refuses direct calls, except GET /ready for the Route 53 health checks.

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  region        = data.aws_region.current.name
  partition     = data.aws_partition.current.partition
  function_name = "${var.name}-${local.region}-api"
  alias_name    = "live"

  # Names match pm-api's `serve` settings (api/src/server.rs) where they overlap.
  environment = merge(
    {
      PM_REGION      = local.region
      PM_REGION_ROLE = var.region_role
      # Credentials come from this region's own copy of the database secret (fetched at
      # cold start, re-fetched when rotated: api/src/db_secret.rs). The secret holds the
      # cluster endpoint (region 1's, even in the replica), so host and port name this
      # region's RDS Proxy; TLS is required by the proxy.
      DB_SECRET_ARN      = var.database.secret_arn
      PM_DB_HOST         = var.database.host
      PM_DB_PORT         = tostring(var.database.port)
      PM_DB_NAME         = var.database.name
      PM_DB_SSLMODE      = "require"
      PM_DB_POOL         = "2"
      PM_JWKS            = var.auth.jwks_url
      PM_JWKS_JSON       = var.auth.jwks_json
      PM_JWT_ISSUER      = var.auth.issuer
      PM_JWT_CLIENT_ID   = var.auth.client_id
      PM_LOG_JSON        = "true"
      PM_PUBLIC_BASE_URL = "https://${var.api_domain}"
      RUST_LOG           = "info"
    },
    var.extra_environment,
  )
}

# ---------------------------------------------------------------------------------------
# Lambda execution role. IAM is global: the region in every name keeps the two regions'
# roles and policies apart.
# ---------------------------------------------------------------------------------------
resource "aws_iam_role" "lambda" {
  name = "${var.name}-${local.region}-api-lambda"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.${data.aws_partition.current.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "lambda_vpc" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# Matches tracing_config { mode = "Active" } below.
resource "aws_iam_role_policy_attachment" "lambda_xray" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role_policy" "lambda" {
  name = "${var.name}-${local.region}-api-lambda"
  role = aws_iam_role.lambda.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadThisRegionsDatabaseSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [var.database.secret_arn]
      },
      {
        Sid      = "DecryptThisRegionsDatabaseSecret"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.database.secret_kms_key_arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.${data.aws_partition.current.dns_suffix}" }
        }
      },
      {
        Sid      = "DecryptEnvironment"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.telemetry_kms_key_arn]
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "lambda" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.telemetry_kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "api" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway only; a DLQ applies to asynchronous invocations and would never receive anything.
  #checkov:skip=CKV_AWS_272:The bootstrap zip is built and uploaded by this repo's pipeline (cargo lambda); AWS Signer code signing is not set up. Follow-up.
  function_name = local.function_name
  description   = "Property Management API (${var.region_role} region at creation)"
  role          = aws_iam_role.lambda.arn

  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  publish          = true

  memory_size                    = var.memory_size_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.telemetry_kms_key_arn

  tracing_config {
    mode = "Active"
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.lambda.name
  }

  environment {
    variables = local.environment
  }

  depends_on = [
    aws_iam_role_policy_attachment.lambda_vpc,
    aws_iam_role_policy_attachment.lambda_xray,
    aws_iam_role_policy.lambda,
  ]

  tags = var.tags
}

# API Gateway invokes this alias. pmctl's canary deploys move it (weighted routing between
# two versions), so Terraform sets it once and leaves its version alone afterwards.
resource "aws_lambda_alias" "live" {
  name             = local.alias_name
  description      = "Traffic-serving version; moved by `pmctl deploy`"
  function_name    = aws_lambda_function.api.function_name
  function_version = aws_lambda_function.api.version

  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowApiGatewayInvokeLive"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api.function_name
  qualifier     = aws_lambda_alias.live.name
  principal     = "apigateway.${data.aws_partition.current.dns_suffix}"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*"
}

# ---------------------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------------------
resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name}-${local.region}"
  description   = "Property Management API (${local.region})"
  protocol_type = "HTTP"
  # Only the custom domains serve traffic: M-Pesa rejects callback URLs on the
  # execute-api host, and one name per region keeps health checks honest.
  disable_execute_api_endpoint = true

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "lambda" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_alias.live.arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

# Everything but /ready needs the origin header: only CloudFront (behind its WAF) gets in.
# Users' tokens are still verified by the API itself (Cognito JWT against a cached JWKS, so
# it works when the user pool's region is down); M-Pesa callbacks carry no token.
resource "aws_apigatewayv2_route" "default" {
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "$default"
  target             = "integrations/${aws_apigatewayv2_integration.lambda.id}"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.origin_verify.id
}

# Route 53 health checks call each region's own domain directly and cannot add headers.
# /ready reveals only whether this region can serve (region name, role, database reachable).
resource "aws_apigatewayv2_route" "ready" {
  #checkov:skip=CKV_AWS_309:Route 53 health checks probe /ready directly on the regional domain and cannot send the origin header or a token; /ready exposes no data.
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "GET /ready"
  target             = "integrations/${aws_apigatewayv2_integration.lambda.id}"
  authorization_type = "NONE"
}

resource "aws_apigatewayv2_authorizer" "origin_verify" {
  api_id                            = aws_apigatewayv2_api.this.id
  name                              = "origin-verify"
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = aws_lambda_function.origin_verify.invoke_arn
  authorizer_payload_format_version = "2.0"
  enable_simple_responses           = true
  # A missing header is refused by API Gateway (401) without invoking anything; decisions
  # are cached per header value, so CloudFront's traffic costs ~1 invocation per TTL.
  identity_sources                 = ["$request.header.${var.origin_verify_header}"]
  authorizer_result_ttl_in_seconds = var.origin_verify_cache_seconds
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/apigateway/${var.name}-${local.region}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.telemetry_kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId   = "$context.requestId"
      requestTime = "$context.requestTime"
      ip          = "$context.identity.sourceIp"
      domain      = "$context.domainName"
      method      = "$context.httpMethod"
      # The route, never the raw path: M-Pesa callback paths carry a secret token.
      routeKey         = "$context.routeKey"
      authorizerError  = "$context.authorizer.error"
      status           = "$context.status"
      latencyMs        = "$context.responseLatency"
      integrationMs    = "$context.integrationLatency"
      integrationError = "$context.integrationErrorMessage"
      responseLength   = "$context.responseLength"
      xrayTraceId      = "$context.xrayTraceId"
    })
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------------------
# Custom domains: the shared origin (Route 53 failover) name CloudFront connects to, and
# this region's own name, one certificate. The public name (api_domain) is CloudFront's.
# ---------------------------------------------------------------------------------------
resource "aws_acm_certificate" "api" {
  domain_name               = var.origin_domain
  subject_alternative_names = [var.regional_domain]
  validation_method         = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true
  }

  tags = var.tags
}

resource "aws_route53_record" "certificate_validation" {
  # Route 53 is global: explicit provider. Both regions' certificates for the same name
  # ask for the same record, hence allow_overwrite.
  provider = aws.dns
  for_each = {
    for o in aws_acm_certificate.api.domain_validation_options : o.domain_name => {
      name   = o.resource_record_name
      type   = o.resource_record_type
      record = o.resource_record_value
    }
  }

  zone_id         = var.hosted_zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.record]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "api" {
  certificate_arn         = aws_acm_certificate.api.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_apigatewayv2_domain_name" "shared" {
  domain_name = var.origin_domain

  domain_name_configuration {
    certificate_arn = aws_acm_certificate_validation.api.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }

  tags = var.tags
}

resource "aws_apigatewayv2_domain_name" "regional" {
  domain_name = var.regional_domain

  domain_name_configuration {
    certificate_arn = aws_acm_certificate_validation.api.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }

  tags = var.tags
}

resource "aws_apigatewayv2_api_mapping" "shared" {
  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.shared.id
  stage       = aws_apigatewayv2_stage.default.id
}

resource "aws_apigatewayv2_api_mapping" "regional" {
  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.regional.id
  stage       = aws_apigatewayv2_stage.default.id
}

resource "aws_route53_record" "regional" {
  provider = aws.dns

  zone_id = var.hosted_zone_id
  name    = var.regional_domain
  type    = "A"

  alias {
    name                   = aws_apigatewayv2_domain_name.regional.domain_name_configuration[0].target_domain_name
    zone_id                = aws_apigatewayv2_domain_name.regional.domain_name_configuration[0].hosted_zone_id
    evaluate_target_health = false
  }
}
