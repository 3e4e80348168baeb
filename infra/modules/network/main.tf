# One region's network: a VPC with private subnets only (no internet gateway, no NAT),
# interface endpoints for the AWS APIs the workloads call, and security groups that allow
# exactly Lambda -> RDS Proxy -> Aurora (plus the secret-rotation function -> Aurora).

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for s in var.availability_zone_suffixes : "${data.aws_region.current.name}${s}"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(var.availability_zone_suffixes)
      error_message = "Some of the pinned availability zones are not available in this region/account."
    }
  }
}

locals {
  region = data.aws_region.current.name
  azs    = data.aws_availability_zones.available.names
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = "${var.name}-${local.region}" })
}

# The default security group of a VPC allows all traffic between its members; take every
# rule away so nothing can rely on it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-default-deny" })
}

resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-private-${local.azs[count.index]}", Tier = "private" })
}

# Only the implicit local route: the app path never leaves the VPC except through the
# interface endpoints below.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-private" })
}

resource "aws_route_table_association" "private" {
  count = length(local.azs)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}

# ---------------------------------------------------------------------------------------
# KMS key for this region's telemetry (flow logs, Lambda and API access logs, Lambda
# environment, SNS alarm topic). Data keys for Aurora and the secret live in the database
# module.
# ---------------------------------------------------------------------------------------
resource "aws_kms_key" "telemetry" {
  description             = "${var.name} ${local.region} telemetry: CloudWatch Logs, Lambda environment, SNS"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${local.region}:${data.aws_caller_identity.current.account_id}:log-group:*"
          }
        }
      },
      {
        Sid       = "CloudWatchAlarmsToEncryptedSns"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
      {
        # Budget alerts (modules/budget) publish to the primary region's encrypted topic.
        Sid       = "BudgetsToEncryptedSns"
        Effect    = "Allow"
        Principal = { Service = "budgets.${data.aws_partition.current.dns_suffix}" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_kms_alias" "telemetry" {
  name          = "alias/${var.name}-${local.region}-telemetry"
  target_key_id = aws_kms_key.telemetry.key_id
}

# ---------------------------------------------------------------------------------------
# VPC flow logs
# ---------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "flow" {
  name              = "/vpc/${var.name}-${local.region}/flow"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.telemetry.arn

  tags = var.tags
}

resource "aws_iam_role" "flow" {
  # IAM is global: the region in the name keeps the two regions' roles apart.
  name = "${var.name}-${local.region}-vpc-flow-logs"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.${data.aws_partition.current.dns_suffix}" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "flow" {
  name = "${var.name}-${local.region}-vpc-flow-logs"
  role = aws_iam_role.flow.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = ["${aws_cloudwatch_log_group.flow.arn}:*"]
    }]
  })
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow.arn
  iam_role_arn         = aws_iam_role.flow.arn

  tags = var.tags
}

# ---------------------------------------------------------------------------------------
# Security groups: Lambda -> RDS Proxy -> Aurora; rotation -> Aurora; both -> endpoints.
# ---------------------------------------------------------------------------------------
resource "aws_security_group" "lambda" {
  #checkov:skip=CKV2_AWS_5:Attached to the API Lambda (modules/api vpc_config) through this module's outputs; checkov does not follow module outputs.
  name        = "${var.name}-${local.region}-lambda"
  description = "API Lambda: may reach only the RDS Proxy and the VPC endpoints"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-lambda" })
}

resource "aws_security_group" "proxy" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS Proxy (modules/database) through this module's outputs; checkov does not follow module outputs.
  name        = "${var.name}-${local.region}-rds-proxy"
  description = "RDS Proxy: accepts the API Lambda, reaches only Aurora"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-rds-proxy" })
}

resource "aws_security_group" "aurora" {
  #checkov:skip=CKV2_AWS_5:Attached to the Aurora clusters (modules/database) through this module's outputs; checkov does not follow module outputs.
  name        = "${var.name}-${local.region}-aurora"
  description = "Aurora: accepts only the RDS Proxy and the secret-rotation function"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-aurora" })
}

resource "aws_security_group" "rotation" {
  #checkov:skip=CKV2_AWS_5:Attached to the secret-rotation function (modules/database, SAR stack parameter) through this module's outputs; checkov does not follow module outputs.
  name        = "${var.name}-${local.region}-secret-rotation"
  description = "Secrets Manager rotation function: reaches Aurora and the VPC endpoints"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-secret-rotation" })
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-${local.region}-vpc-endpoints"
  description = "Interface VPC endpoints: HTTPS from the Lambda and rotation functions"
  vpc_id      = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-vpc-endpoints" })
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_proxy" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "PostgreSQL to the RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.proxy.id
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_endpoints" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "HTTPS to the interface VPC endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_ingress_rule" "proxy_from_lambda" {
  security_group_id            = aws_security_group.proxy.id
  description                  = "PostgreSQL from the API Lambda"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.lambda.id
}

resource "aws_vpc_security_group_egress_rule" "proxy_to_aurora" {
  security_group_id            = aws_security_group.proxy.id
  description                  = "PostgreSQL to Aurora"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.aurora.id
}

resource "aws_vpc_security_group_ingress_rule" "aurora_from_proxy" {
  security_group_id            = aws_security_group.aurora.id
  description                  = "PostgreSQL from the RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.proxy.id
}

resource "aws_vpc_security_group_ingress_rule" "aurora_from_rotation" {
  security_group_id            = aws_security_group.aurora.id
  description                  = "PostgreSQL from the secret-rotation function"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.rotation.id
}

resource "aws_vpc_security_group_egress_rule" "rotation_to_aurora" {
  security_group_id            = aws_security_group.rotation.id
  description                  = "PostgreSQL to Aurora (rotation sets the new password)"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.aurora.id
}

resource "aws_vpc_security_group_egress_rule" "rotation_to_endpoints" {
  security_group_id            = aws_security_group.rotation.id
  description                  = "HTTPS to the Secrets Manager endpoint"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_lambda" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the API Lambda"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.lambda.id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_rotation" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the secret-rotation function"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.rotation.id
}

# ---------------------------------------------------------------------------------------
# Interface endpoints (private DNS, so SDK default endpoints resolve inside the VPC)
# ---------------------------------------------------------------------------------------
resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]

  tags = merge(var.tags, { Name = "${var.name}-${local.region}-${each.value}" })
}
