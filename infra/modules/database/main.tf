# Aurora PostgreSQL global database across two regions, an RDS Proxy in each region, and
# the master secret (replicated to the secondary region, rotated in the primary).
#
# Roles are as created: pmctl's switchover/failover moves the writer to the other region
# at run time. Terraform then ignores the replication attributes it would otherwise fight
# over (see lifecycle blocks); re-running apply after a failover does not move the writer.

data "aws_region" "primary" {
  provider = aws.primary
}

data "aws_region" "secondary" {
  provider = aws.secondary
}

data "aws_caller_identity" "current" {
  provider = aws.primary
}

data "aws_partition" "current" {
  provider = aws.primary
}

locals {
  primary_region   = data.aws_region.primary.name
  secondary_region = data.aws_region.secondary.name
  partition        = data.aws_partition.current.partition
  dns_suffix       = data.aws_partition.current.dns_suffix
  account_id       = data.aws_caller_identity.current.account_id
  engine           = "aurora-postgresql"
  family           = "aurora-postgresql${split(".", var.engine_version)[0]}"
  serverless       = var.instance_class == "db.serverless"

  primary_cluster_id   = "${var.name}-${local.primary_region}"
  secondary_cluster_id = "${var.name}-${local.secondary_region}"

  # The SAR application AWS publishes for single-user PostgreSQL rotation. The account in
  # this ARN is AWS's public application publisher, not ours (allow-listed by the infra test).
  rotation_application_id = "arn:${local.partition}:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser"
}

# ---------------------------------------------------------------------------------------
# KMS: one key per region for Aurora storage, Performance Insights and the secret.
# ---------------------------------------------------------------------------------------
resource "aws_kms_key" "primary" {
  provider = aws.primary

  description             = "${var.name} ${local.primary_region} data: Aurora storage, Performance Insights, database secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministration"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  tags = var.tags
}

resource "aws_kms_alias" "primary" {
  provider = aws.primary

  name          = "alias/${var.name}-${local.primary_region}-data"
  target_key_id = aws_kms_key.primary.key_id
}

resource "aws_kms_key" "secondary" {
  provider = aws.secondary

  description             = "${var.name} ${local.secondary_region} data: Aurora storage, Performance Insights, replica secret"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministration"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  tags = var.tags
}

resource "aws_kms_alias" "secondary" {
  provider = aws.secondary

  name          = "alias/${var.name}-${local.secondary_region}-data"
  target_key_id = aws_kms_key.secondary.key_id
}

# ---------------------------------------------------------------------------------------
# Parameter and subnet groups
# ---------------------------------------------------------------------------------------
resource "aws_rds_cluster_parameter_group" "primary" {
  provider = aws.primary

  name        = "${local.primary_cluster_id}-cluster"
  family      = local.family
  description = "${var.name} Aurora PostgreSQL cluster parameters (${local.primary_region})"

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.slow_query_ms)
  }

  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }

  # Managed RPO only acts on the writer; set in both regions so it survives a switchover.
  dynamic "parameter" {
    for_each = var.global_db_rpo_seconds == null ? [] : [var.global_db_rpo_seconds]
    content {
      name  = "rds.global_db_rpo"
      value = tostring(parameter.value)
    }
  }

  tags = var.tags
}

resource "aws_db_subnet_group" "primary" {
  provider = aws.primary

  name        = local.primary_cluster_id
  description = "${var.name} Aurora subnets (${local.primary_region})"
  subnet_ids  = var.primary.subnet_ids

  tags = var.tags
}

# Enhanced Monitoring publishes OS metrics through this role. IAM is global: the region in
# the name keeps the two regions' roles apart.
resource "aws_iam_role" "monitoring_primary" {
  provider = aws.primary

  name = "${var.name}-${local.primary_region}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring_primary" {
  provider = aws.primary

  role       = aws_iam_role.monitoring_primary.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_rds_cluster_parameter_group" "secondary" {
  provider = aws.secondary

  name        = "${local.secondary_cluster_id}-cluster"
  family      = local.family
  description = "${var.name} Aurora PostgreSQL cluster parameters (${local.secondary_region})"

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.slow_query_ms)
  }

  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }

  # Managed RPO only acts on the writer; set in both regions so it survives a switchover.
  dynamic "parameter" {
    for_each = var.global_db_rpo_seconds == null ? [] : [var.global_db_rpo_seconds]
    content {
      name  = "rds.global_db_rpo"
      value = tostring(parameter.value)
    }
  }

  tags = var.tags
}

resource "aws_db_subnet_group" "secondary" {
  provider = aws.secondary

  name        = local.secondary_cluster_id
  description = "${var.name} Aurora subnets (${local.secondary_region})"
  subnet_ids  = var.secondary.subnet_ids

  tags = var.tags
}

# Enhanced Monitoring publishes OS metrics through this role. IAM is global: the region in
# the name keeps the two regions' roles apart.
resource "aws_iam_role" "monitoring_secondary" {
  provider = aws.secondary

  name = "${var.name}-${local.secondary_region}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring_secondary" {
  provider = aws.secondary

  role       = aws_iam_role.monitoring_secondary.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# ---------------------------------------------------------------------------------------
# The global cluster and its two regional clusters
# ---------------------------------------------------------------------------------------
resource "aws_rds_global_cluster" "this" {
  # A global resource: its API home is the primary region, named explicitly.
  provider = aws.primary

  global_cluster_identifier = var.name
  engine                    = local.engine
  engine_version            = var.engine_version
  database_name             = var.database_name
  storage_encrypted         = true
  deletion_protection       = true
}

# Generated once; rotation replaces it within minutes of creation (rotate_immediately), so
# the value left in the (encrypted) state is stale. Never typed by a human.
resource "random_password" "master" {
  length  = 40
  special = false
}

resource "aws_rds_cluster" "primary" {
  #checkov:skip=CKV2_AWS_8:Backups are Aurora continuous backups (point-in-time restore, backup_retention_days) plus the cross-region global replica and a final snapshot; an AWS Backup plan (vault lock, longer retention) is a separate cost decision, see infra/README.md.
  provider = aws.primary

  cluster_identifier        = local.primary_cluster_id
  global_cluster_identifier = aws_rds_global_cluster.this.id
  engine                    = aws_rds_global_cluster.this.engine
  engine_version            = aws_rds_global_cluster.this.engine_version
  engine_mode               = "provisioned"
  database_name             = var.database_name
  master_username           = var.master_username
  master_password           = random_password.master.result

  db_subnet_group_name            = aws_db_subnet_group.primary.name
  vpc_security_group_ids          = [var.primary.aurora_security_group_id]
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.primary.name

  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.primary.arn
  iam_database_authentication_enabled = true
  deletion_protection                 = true
  backup_retention_period             = var.backup_retention_days
  preferred_backup_window             = var.preferred_backup_window
  preferred_maintenance_window        = var.preferred_maintenance_window
  copy_tags_to_snapshot               = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.primary_cluster_id}-final"
  enabled_cloudwatch_logs_exports     = ["postgresql"]

  dynamic "serverlessv2_scaling_configuration" {
    for_each = local.serverless ? [1] : []
    content {
      min_capacity = var.serverless_min_acu
      max_capacity = var.serverless_max_acu
    }
  }

  lifecycle {
    # The password belongs to Secrets Manager rotation from the first minute on; pmctl's
    # switchover/failover changes which cluster replicates from which.
    ignore_changes = [master_password, replication_source_identifier, global_cluster_identifier]
  }

  tags = var.tags
}

resource "aws_rds_cluster_instance" "primary" {
  provider = aws.primary
  count    = var.primary_instance_count

  identifier         = "${local.primary_cluster_id}-${count.index + 1}"
  cluster_identifier = aws_rds_cluster.primary.id
  engine             = aws_rds_cluster.primary.engine
  engine_version     = aws_rds_cluster.primary.engine_version
  instance_class     = var.instance_class

  db_subnet_group_name                  = aws_db_subnet_group.primary.name
  publicly_accessible                   = false
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.primary.arn
  performance_insights_retention_period = var.performance_insights_retention_days
  monitoring_interval                   = var.monitoring_interval_seconds
  monitoring_role_arn                   = var.monitoring_interval_seconds > 0 ? aws_iam_role.monitoring_primary.arn : null
  copy_tags_to_snapshot                 = true

  tags = var.tags
}

resource "aws_rds_cluster" "secondary" {
  #checkov:skip=CKV2_AWS_8:Backups are Aurora continuous backups (point-in-time restore, backup_retention_days) plus the cross-region global replica and a final snapshot; an AWS Backup plan (vault lock, longer retention) is a separate cost decision, see infra/README.md.
  provider = aws.secondary

  cluster_identifier        = local.secondary_cluster_id
  global_cluster_identifier = aws_rds_global_cluster.this.id
  engine                    = aws_rds_global_cluster.this.engine
  engine_version            = aws_rds_global_cluster.this.engine_version
  engine_mode               = "provisioned"

  db_subnet_group_name            = aws_db_subnet_group.secondary.name
  vpc_security_group_ids          = [var.secondary.aurora_security_group_id]
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.secondary.name

  # A replica's storage is encrypted with its own region's key.
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.secondary.arn
  iam_database_authentication_enabled = true
  deletion_protection                 = true
  backup_retention_period             = var.backup_retention_days
  preferred_backup_window             = var.preferred_backup_window
  preferred_maintenance_window        = var.preferred_maintenance_window
  copy_tags_to_snapshot               = true
  # A secondary's data is the primary's; a final snapshot is taken on the primary.
  skip_final_snapshot             = true
  enabled_cloudwatch_logs_exports = ["postgresql"]

  dynamic "serverlessv2_scaling_configuration" {
    for_each = local.serverless ? [1] : []
    content {
      min_capacity = var.serverless_min_acu
      max_capacity = var.serverless_max_acu
    }
  }

  lifecycle {
    ignore_changes = [replication_source_identifier, global_cluster_identifier]
  }

  # The secondary can only join once the primary has a writer instance.
  depends_on = [aws_rds_cluster_instance.primary]

  tags = var.tags
}

# The secondary cluster is never headless: its RDS Proxy targets it, and promotion needs a
# running instance to meet the RTO.
resource "aws_rds_cluster_instance" "secondary" {
  provider = aws.secondary
  count    = var.secondary_instance_count

  identifier         = "${local.secondary_cluster_id}-${count.index + 1}"
  cluster_identifier = aws_rds_cluster.secondary.id
  engine             = aws_rds_cluster.secondary.engine
  engine_version     = aws_rds_cluster.secondary.engine_version
  instance_class     = var.instance_class

  db_subnet_group_name                  = aws_db_subnet_group.secondary.name
  publicly_accessible                   = false
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.secondary.arn
  performance_insights_retention_period = var.performance_insights_retention_days
  monitoring_interval                   = var.monitoring_interval_seconds
  monitoring_role_arn                   = var.monitoring_interval_seconds > 0 ? aws_iam_role.monitoring_secondary.arn : null
  copy_tags_to_snapshot                 = true

  tags = var.tags
}

# ---------------------------------------------------------------------------------------
# The master secret: created in the primary region, replicated (with the secondary's key)
# to the secondary region, rotated by the AWS-published rotation function.
# ---------------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "master" {
  provider = aws.primary

  name                    = "${var.name}/aurora/master"
  description             = "${var.name} Aurora master credentials (rotated; replicated to ${local.secondary_region})"
  kms_key_id              = aws_kms_key.primary.arn
  recovery_window_in_days = 30

  replica {
    region     = local.secondary_region
    kms_key_id = aws_kms_key.secondary.arn
  }

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "master" {
  provider = aws.primary

  secret_id = aws_secretsmanager_secret.master.id
  # The shape the AWS PostgreSQL rotation function expects.
  secret_string = jsonencode({
    engine              = "postgres"
    host                = aws_rds_cluster.primary.endpoint
    port                = aws_rds_cluster.primary.port
    dbname              = var.database_name
    dbClusterIdentifier = aws_rds_cluster.primary.cluster_identifier
    username            = var.master_username
    password            = random_password.master.result
  })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# The replica secret, read in the secondary region: the secondary RDS Proxy must use this
# one (a proxy can only read a secret in its own region).
data "aws_secretsmanager_secret" "replica" {
  provider = aws.secondary

  name       = aws_secretsmanager_secret.master.name
  depends_on = [aws_secretsmanager_secret.master]
}

resource "aws_serverlessapplicationrepository_cloudformation_stack" "rotation" {
  provider = aws.primary

  name             = "${var.name}-${local.primary_region}-db-rotation"
  application_id   = local.rotation_application_id
  semantic_version = var.rotation_app_version
  capabilities     = ["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"]

  parameters = {
    functionName        = "${var.name}-${local.primary_region}-db-rotation"
    endpoint            = "https://secretsmanager.${local.primary_region}.${local.dns_suffix}"
    kmsKeyArn           = aws_kms_key.primary.arn
    vpcSubnetIds        = join(",", var.primary.subnet_ids)
    vpcSecurityGroupIds = var.primary.rotation_security_group_id
  }

  tags = var.tags
}

resource "aws_secretsmanager_secret_rotation" "master" {
  provider = aws.primary

  secret_id           = aws_secretsmanager_secret.master.id
  rotation_lambda_arn = aws_serverlessapplicationrepository_cloudformation_stack.rotation.outputs["RotationLambdaARN"]
  rotate_immediately  = true

  rotation_rules {
    automatically_after_days = var.rotation_days
  }

  depends_on = [aws_secretsmanager_secret_version.master, aws_rds_cluster_instance.primary]
}

# ---------------------------------------------------------------------------------------
# RDS Proxy (primary region). Clients authenticate with IAM (no password in the Lambda); the
# proxy logs in to Aurora with the credentials from this region's copy of the secret.
# ---------------------------------------------------------------------------------------
resource "aws_iam_role" "proxy_primary" {
  provider = aws.primary

  name = "${var.name}-${local.primary_region}-rds-proxy"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "rds.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "proxy_primary" {
  provider = aws.primary

  name = "${var.name}-${local.primary_region}-rds-proxy-secret"
  role = aws_iam_role.proxy_primary.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadThisRegionsSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = [aws_secretsmanager_secret.master.arn]
      },
      {
        Sid      = "DecryptThisRegionsSecret"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.primary.arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${local.primary_region}.${local.dns_suffix}" }
        }
      },
    ]
  })
}

resource "aws_db_proxy" "primary" {
  provider = aws.primary

  name                   = local.primary_cluster_id
  engine_family          = "POSTGRESQL"
  require_tls            = true
  debug_logging          = false
  idle_client_timeout    = var.proxy_idle_client_timeout_seconds
  role_arn               = aws_iam_role.proxy_primary.arn
  vpc_subnet_ids         = var.primary.subnet_ids
  vpc_security_group_ids = [var.primary.proxy_security_group_id]

  auth {
    auth_scheme = "SECRETS"
    iam_auth    = "DISABLED"
    secret_arn  = aws_secretsmanager_secret.master.arn
  }

  tags = var.tags
}

resource "aws_db_proxy_default_target_group" "primary" {
  provider = aws.primary

  db_proxy_name = aws_db_proxy.primary.name

  connection_pool_config {
    max_connections_percent      = var.proxy_max_connections_percent
    max_idle_connections_percent = 50
    connection_borrow_timeout    = 120
  }
}

resource "aws_db_proxy_target" "primary" {
  provider = aws.primary

  db_proxy_name         = aws_db_proxy.primary.name
  target_group_name     = aws_db_proxy_default_target_group.primary.name
  db_cluster_identifier = aws_rds_cluster.primary.cluster_identifier

  depends_on = [aws_rds_cluster_instance.primary]
}

# ---------------------------------------------------------------------------------------
# RDS Proxy (secondary region). Clients authenticate with IAM (no password in the Lambda); the
# proxy logs in to Aurora with the credentials from this region's copy of the secret.
# ---------------------------------------------------------------------------------------
resource "aws_iam_role" "proxy_secondary" {
  provider = aws.secondary

  name = "${var.name}-${local.secondary_region}-rds-proxy"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "rds.${local.dns_suffix}" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "proxy_secondary" {
  provider = aws.secondary

  name = "${var.name}-${local.secondary_region}-rds-proxy-secret"
  role = aws_iam_role.proxy_secondary.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadThisRegionsSecret"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = [data.aws_secretsmanager_secret.replica.arn]
      },
      {
        Sid      = "DecryptThisRegionsSecret"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.secondary.arn]
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${local.secondary_region}.${local.dns_suffix}" }
        }
      },
    ]
  })
}

resource "aws_db_proxy" "secondary" {
  provider = aws.secondary

  name                   = local.secondary_cluster_id
  engine_family          = "POSTGRESQL"
  require_tls            = true
  debug_logging          = false
  idle_client_timeout    = var.proxy_idle_client_timeout_seconds
  role_arn               = aws_iam_role.proxy_secondary.arn
  vpc_subnet_ids         = var.secondary.subnet_ids
  vpc_security_group_ids = [var.secondary.proxy_security_group_id]

  auth {
    auth_scheme = "SECRETS"
    iam_auth    = "DISABLED"
    secret_arn  = data.aws_secretsmanager_secret.replica.arn
  }

  tags = var.tags
}

resource "aws_db_proxy_default_target_group" "secondary" {
  provider = aws.secondary

  db_proxy_name = aws_db_proxy.secondary.name

  connection_pool_config {
    max_connections_percent      = var.proxy_max_connections_percent
    max_idle_connections_percent = 50
    connection_borrow_timeout    = 120
  }
}

resource "aws_db_proxy_target" "secondary" {
  provider = aws.secondary

  db_proxy_name         = aws_db_proxy.secondary.name
  target_group_name     = aws_db_proxy_default_target_group.secondary.name
  db_cluster_identifier = aws_rds_cluster.secondary.cluster_identifier

  depends_on = [aws_rds_cluster_instance.secondary]
}

