# The edge in front of both regions: CloudFront serves the public API name and forwards
# every request, uncached, to the Route 53 failover name (modules/routing), so DNS
# failover still decides the region. CloudFront origin groups are not used: they fail over
# only GET/HEAD/OPTIONS, and a POSTed rent payment must go wherever DNS says the writer is.
# AWS WAF (scope CLOUDFRONT) filters first: managed common and known-bad-inputs rule groups,
# a per-IP rate limit sized for rent day, and M-Pesa callbacks only from Safaricom ranges.
# Access logs go to S3 (standard logging v2) without the URI path or query: callback paths
# carry a secret token. Everything here is in us-east-1 (aws.global), as CloudFront needs.

data "aws_caller_identity" "current" {
  provider = aws.global
}

data "aws_partition" "current" {
  provider = aws.global
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # Every rule's metric name (AWS/WAFV2 Rule dimension); pmctl reads blocks per rule.
  rule_metrics = {
    callback_source  = "${var.name}-callback-source"
    rate_per_ip      = "${var.name}-rate-per-ip"
    known_bad_inputs = "${var.name}-known-bad-inputs"
    common           = "${var.name}-common"
  }
  callback_prefix = "/v1/callbacks/"
  origin_id       = "api-failover"
}

# ---------------------------------------------------------------------------------------
# Certificate for the public name (CloudFront takes ACM certificates from us-east-1 only)
# ---------------------------------------------------------------------------------------
resource "aws_acm_certificate" "edge" {
  provider = aws.global

  domain_name       = var.api_domain
  validation_method = "DNS"

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  lifecycle {
    create_before_destroy = true
  }

  tags = var.tags
}

resource "aws_route53_record" "certificate_validation" {
  provider = aws.global
  for_each = {
    for o in aws_acm_certificate.edge.domain_validation_options : o.domain_name => {
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

resource "aws_acm_certificate_validation" "edge" {
  provider = aws.global

  certificate_arn         = aws_acm_certificate.edge.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

# ---------------------------------------------------------------------------------------
# Policies: nothing is cached; every viewer header but Host (so Authorization), every
# query string and cookie reaches the API.
# ---------------------------------------------------------------------------------------

# TTL 0, no cache key beyond the URL: every request goes to the origin.
data "aws_cloudfront_cache_policy" "caching_disabled" {
  provider = aws.global
  name     = "Managed-CachingDisabled"
}

# All viewer headers except Host (API Gateway routes custom domains by Host, which must be
# the origin name), all query strings and cookies. A custom policy cannot name
# Authorization (CloudFront answers 400); the managed all-viewer policies forward it.
data "aws_cloudfront_origin_request_policy" "all_viewer_except_host" {
  provider = aws.global
  name     = "Managed-AllViewerExceptHostHeader"
}

resource "aws_cloudfront_response_headers_policy" "security" {
  provider = aws.global

  name    = "${var.name}-api-security-headers"
  comment = "HSTS and no-sniff on every API response"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      # Only a signal: nothing is preloaded until the apex is submitted to browsers' list.
      preload  = true
      override = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
  }
}

# ---------------------------------------------------------------------------------------
# The distribution
# ---------------------------------------------------------------------------------------
resource "aws_cloudfront_distribution" "api" {
  #checkov:skip=CKV_AWS_86:Access logs use standard logging v2 (aws_cloudwatch_log_delivery.access below) so the URI path, which carries M-Pesa callback tokens, is left out; checkov only recognises the legacy logging_config.
  #checkov:skip=CKV_AWS_305:An API has no root object; / is answered by the API itself.
  #checkov:skip=CKV_AWS_310:Origin groups fail over only GET/HEAD/OPTIONS; failover stays in Route 53 (the origin is the failover record), which covers POSTed payments too.
  #checkov:skip=CKV2_AWS_47:Log4j protection is there (AWSManagedRulesKnownBadInputsRuleSet); the check also demands AWSManagedRulesAnonymousIpList, which blocks VPN and hosting-provider addresses: landlords abroad on VPNs and hosted integrations would be locked out.
  #checkov:skip=CKV_AWS_374:No geo restriction: landlords use the API from abroad too; WAF's rate rule and callback-source rule do the filtering.
  provider = aws.global

  enabled         = true
  comment         = "${var.name} API edge: ${var.api_domain} -> ${var.origin_domain}"
  aliases         = [var.api_domain]
  http_version    = "http2and3"
  is_ipv6_enabled = true
  price_class     = var.price_class
  web_acl_id      = aws_wafv2_web_acl.edge.arn

  origin {
    origin_id   = local.origin_id
    domain_name = var.origin_domain

    custom_origin_config {
      http_port                = 80
      https_port               = 443
      origin_protocol_policy   = "https-only"
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = var.origin_read_timeout_seconds
      origin_keepalive_timeout = 5
    }

    # Overwrites any viewer-sent header of the same name; the API Gateway authorizer
    # (modules/api) admits only requests carrying it.
    custom_header {
      name  = var.origin_verify_header
      value = var.origin_verify_secret
    }
  }

  # /v1/* is the API: never cached, whatever the default behaviour becomes.
  ordered_cache_behavior {
    path_pattern               = "/v1/*"
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  # Everything else (/health, /ready, /openapi.json): also uncached.
  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = data.aws_cloudfront_cache_policy.caching_disabled.id
    origin_request_policy_id   = data.aws_cloudfront_origin_request_policy.all_viewer_except_host.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = true
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    acm_certificate_arn      = aws_acm_certificate_validation.edge.certificate_arn
    ssl_support_method       = "sni-only"
    minimum_protocol_version = "TLSv1.2_2021"
  }

  tags = var.tags
}

resource "aws_route53_record" "api" {
  provider = aws.global
  for_each = toset(["A", "AAAA"])

  zone_id = var.hosted_zone_id
  name    = var.api_domain
  type    = each.key

  alias {
    name                   = aws_cloudfront_distribution.api.domain_name
    zone_id                = aws_cloudfront_distribution.api.hosted_zone_id
    evaluate_target_health = false
  }
}

# ---------------------------------------------------------------------------------------
# WAF
# ---------------------------------------------------------------------------------------
resource "aws_wafv2_ip_set" "mpesa" {
  provider = aws.global

  name               = "${var.name}-mpesa-callback-sources"
  description        = "Safaricom ranges that may call ${local.callback_prefix}*"
  scope              = "CLOUDFRONT"
  ip_address_version = "IPV4"
  addresses          = var.mpesa_callback_source_cidrs

  tags = var.tags
}

# Sources the per-IP rate rule leaves alone: Safaricom (one address delivers thousands of
# callbacks a minute on rent day) and operators' load generators.
resource "aws_wafv2_ip_set" "rate_exempt" {
  provider = aws.global

  name               = "${var.name}-rate-limit-exempt"
  description        = "M-Pesa callback ranges and operator load generators: exempt from the per-IP rate rule"
  scope              = "CLOUDFRONT"
  ip_address_version = "IPV4"
  addresses          = distinct(concat(var.mpesa_callback_source_cidrs, var.rate_limit_exempt_cidrs))

  tags = var.tags
}

resource "aws_wafv2_web_acl" "edge" {
  provider = aws.global

  name        = "${var.name}-edge"
  description = "API edge: callback sources, per-IP rate limit, AWS managed rules"
  scope       = "CLOUDFRONT"

  default_action {
    allow {}
  }

  custom_response_body {
    key          = "rate_limited"
    content_type = "APPLICATION_JSON"
    content      = jsonencode({ type = "about:blank", title = "Too Many Requests", status = 429, detail = "Rate limit per client address exceeded; retry later." })
  }

  custom_response_body {
    key          = "forbidden"
    content_type = "APPLICATION_JSON"
    content      = jsonencode({ type = "about:blank", title = "Forbidden", status = 403 })
  }

  # 1. M-Pesa callbacks only from Safaricom: block /v1/callbacks/* from any other source.
  rule {
    name     = "callback-source"
    priority = 0

    action {
      block {
        custom_response {
          response_code            = 403
          custom_response_body_key = "forbidden"
        }
      }
    }

    statement {
      and_statement {
        statement {
          byte_match_statement {
            search_string         = local.callback_prefix
            positional_constraint = "STARTS_WITH"
            field_to_match {
              uri_path {}
            }
            # //v1/./callbacks/ and /V1/Callbacks/ must not slip past.
            text_transformation {
              priority = 0
              type     = "NORMALIZE_PATH"
            }
            text_transformation {
              priority = 1
              type     = "LOWERCASE"
            }
          }
        }
        statement {
          not_statement {
            statement {
              ip_set_reference_statement {
                arn = aws_wafv2_ip_set.mpesa.arn
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = local.rule_metrics.callback_source
      sampled_requests_enabled   = true
    }
  }

  # 2. Per client IP, sized for rent day (infra/README.md, "Edge"): answers 429 with
  # Retry-After, like the API's own load shedding.
  rule {
    name     = "rate-per-ip"
    priority = 1

    action {
      block {
        custom_response {
          response_code            = 429
          custom_response_body_key = "rate_limited"
          response_header {
            name  = "retry-after"
            value = tostring(var.rate_limit_window_seconds)
          }
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.rate_limit_per_ip
        evaluation_window_sec = var.rate_limit_window_seconds
        aggregate_key_type    = "IP"

        scope_down_statement {
          not_statement {
            statement {
              ip_set_reference_statement {
                arn = aws_wafv2_ip_set.rate_exempt.arn
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = local.rule_metrics.rate_per_ip
      sampled_requests_enabled   = true
    }
  }

  # 3 and 4: AWS managed rules, on everything but the callbacks. A callback body carries
  # what a tenant typed as account reference; a content rule matching it would drop a
  # payment record, and rule 1 already admits callbacks by source.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"

        scope_down_statement {
          not_statement {
            statement {
              byte_match_statement {
                search_string         = local.callback_prefix
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NORMALIZE_PATH"
                }
                text_transformation {
                  priority = 1
                  type     = "LOWERCASE"
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = local.rule_metrics.known_bad_inputs
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"

        scope_down_statement {
          not_statement {
            statement {
              byte_match_statement {
                search_string         = local.callback_prefix
                positional_constraint = "STARTS_WITH"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NORMALIZE_PATH"
                }
                text_transformation {
                  priority = 1
                  type     = "LOWERCASE"
                }
              }
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = local.rule_metrics.common
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-edge"
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------------------
# Logs: one KMS key (us-east-1) for the access-log bucket and the WAF log group
# ---------------------------------------------------------------------------------------
resource "aws_kms_key" "logs" {
  provider = aws.global

  description             = "${var.name} edge logs: CloudFront access logs (S3), WAF log group"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsWafLogGroup"
        Effect    = "Allow"
        Principal = { Service = "logs.us-east-1.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:us-east-1:${local.account_id}:log-group:*"
          }
        }
      },
      {
        Sid       = "LogDeliveryToEncryptedBucket"
        Effect    = "Allow"
        Principal = { Service = "delivery.logs.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "logs" {
  provider = aws.global

  name          = "alias/${var.name}-edge-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging its own access would log into itself. CloudTrail data events are the audit trail if needed.
  #checkov:skip=CKV_AWS_144:Access logs are operational data kept in one region; cross-region replication would double their cost for no recovery need.
  #checkov:skip=CKV2_AWS_62:Nothing consumes new-object events of the access logs; they are read on demand (Athena, S3 Select).
  provider = aws.global

  # Bucket names are global: the account id keeps them unique.
  bucket = "${var.name}-edge-logs-${local.account_id}"

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  provider = aws.global

  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  provider = aws.global

  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  provider = aws.global

  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  provider = aws.global

  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.logs.arn
    }
    # One data key per bucket, not per object: keeps KMS requests (and cost) flat.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  provider = aws.global

  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "access-logs"
    status = "Enabled"

    filter {}

    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

resource "aws_s3_bucket_policy" "logs" {
  provider = aws.global

  bucket = aws_s3_bucket.logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "CloudFrontLogDelivery"
        Effect    = "Allow"
        Principal = { Service = "delivery.logs.${data.aws_partition.current.dns_suffix}" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.logs.arn}/AWSLogs/${local.account_id}/*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:logs:us-east-1:${local.account_id}:delivery-source:*" }
        }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# Standard logging v2: the fields below and nothing else. Left out on purpose:
# cs-uri-stem and cs-uri-query (callback tokens, personal data in queries), cs(Cookie),
# cs(Referer) (it can carry a path) and x-forwarded-for (client-supplied).
resource "aws_cloudwatch_log_delivery_source" "access" {
  provider = aws.global

  name         = "${var.name}-edge-access"
  log_type     = "ACCESS_LOGS"
  resource_arn = aws_cloudfront_distribution.api.arn

  tags = var.tags
}

resource "aws_cloudwatch_log_delivery_destination" "access" {
  provider = aws.global

  name          = "${var.name}-edge-access-s3"
  output_format = "parquet"

  delivery_destination_configuration {
    destination_resource_arn = aws_s3_bucket.logs.arn
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_delivery" "access" {
  provider = aws.global

  delivery_source_name     = aws_cloudwatch_log_delivery_source.access.name
  delivery_destination_arn = aws_cloudwatch_log_delivery_destination.access.arn

  record_fields = [
    "date",
    "time",
    "x-edge-location",
    "x-edge-request-id",
    "c-ip",
    "cs-method",
    "cs-protocol",
    "cs-protocol-version",
    "x-host-header",
    "sc-status",
    "sc-bytes",
    "cs-bytes",
    "sc-content-type",
    "time-taken",
    "time-to-first-byte",
    "x-edge-result-type",
    "x-edge-response-result-type",
    "x-edge-detailed-result-type",
    "ssl-protocol",
    "ssl-cipher",
    "cs(User-Agent)",
  ]

  s3_delivery_configuration {
    enable_hive_compatible_path = true
  }

  depends_on = [aws_s3_bucket_policy.logs]

  tags = var.tags
}

# WAF logs: only blocked requests, with the URI path, query string and Authorization
# header redacted. The name prefix aws-waf-logs- is required by WAF.
resource "aws_cloudwatch_log_group" "waf" {
  provider = aws.global

  name              = "aws-waf-logs-${var.name}-edge"
  retention_in_days = var.access_log_retention_days
  kms_key_id        = aws_kms_key.logs.arn

  tags = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "edge" {
  provider = aws.global

  resource_arn            = aws_wafv2_web_acl.edge.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    uri_path {}
  }
  redacted_fields {
    query_string {}
  }
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  logging_filter {
    default_behavior = "DROP"

    filter {
      behavior    = "KEEP"
      requirement = "MEETS_ANY"
      condition {
        action_condition {
          action = "BLOCK"
        }
      }
    }
  }
}
