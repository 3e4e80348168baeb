output "global_cluster_id" {
  description = "Aurora global cluster identifier (what pmctl switches over / fails over)."
  value       = aws_rds_global_cluster.this.id
}

output "database_name" {
  description = "Application database name."
  value       = var.database_name
}

output "master_username" {
  description = "Database user the API connects as through the RDS Proxy (password from the region's Secrets Manager secret)."
  value       = var.master_username
}

output "primary" {
  description = "Primary region: Aurora cluster, RDS Proxy and the region's secret."
  value = {
    aws_region        = local.primary_region
    cluster_id        = aws_rds_cluster.primary.cluster_identifier
    cluster_arn       = aws_rds_cluster.primary.arn
    cluster_endpoint  = aws_rds_cluster.primary.endpoint
    proxy_name        = aws_db_proxy.primary.name
    proxy_arn         = aws_db_proxy.primary.arn
    proxy_endpoint    = aws_db_proxy.primary.endpoint
    proxy_resource_id = element(split(":", aws_db_proxy.primary.arn), 6)
    secret_arn        = aws_secretsmanager_secret.master.arn
    kms_key_arn       = aws_kms_key.primary.arn
  }
}

output "secondary" {
  description = "Secondary region: Aurora cluster, RDS Proxy and the region's replica secret."
  value = {
    aws_region        = local.secondary_region
    cluster_id        = aws_rds_cluster.secondary.cluster_identifier
    cluster_arn       = aws_rds_cluster.secondary.arn
    cluster_endpoint  = aws_rds_cluster.secondary.endpoint
    proxy_name        = aws_db_proxy.secondary.name
    proxy_arn         = aws_db_proxy.secondary.arn
    proxy_endpoint    = aws_db_proxy.secondary.endpoint
    proxy_resource_id = element(split(":", aws_db_proxy.secondary.arn), 6)
    secret_arn        = data.aws_secretsmanager_secret.replica.arn
    kms_key_arn       = aws_kms_key.secondary.arn
  }
}
