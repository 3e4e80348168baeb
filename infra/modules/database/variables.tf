variable "name" {
  description = "Name prefix (e.g. \"pm-prod\"); each regional resource gets \"<name>-<aws region>\"."
  type        = string
}

variable "primary" {
  description = "Network of the primary (writer) region, from the network module: private subnet ids and the Aurora, RDS Proxy and rotation security groups."
  type = object({
    subnet_ids                 = list(string)
    aurora_security_group_id   = string
    proxy_security_group_id    = string
    rotation_security_group_id = string
  })
}

variable "secondary" {
  description = "Network of the secondary (replica) region, from the network module: private subnet ids and the Aurora and RDS Proxy security groups."
  type = object({
    subnet_ids               = list(string)
    aurora_security_group_id = string
    proxy_security_group_id  = string
  })
}

variable "engine_version" {
  description = "Aurora PostgreSQL engine version (one that supports global databases); its major version picks the parameter group family."
  type        = string
  default     = "16.6"
}

variable "database_name" {
  description = "Name of the application database created in the global cluster."
  type        = string
  default     = "pm"
}

variable "master_username" {
  description = "Master user name. Its password is generated, stored only in Secrets Manager (and the encrypted state) and rotated."
  type        = string
  default     = "pm_admin"
}

variable "instance_class" {
  description = "Instance class of every Aurora instance. \"db.serverless\" selects Aurora Serverless v2 (see serverless_min_acu / serverless_max_acu): the main cost knob for dev/staging."
  type        = string
  default     = "db.r6g.large"
}

variable "serverless_min_acu" {
  description = "Minimum Aurora capacity units when instance_class is db.serverless."
  type        = number
  default     = 0.5
}

variable "serverless_max_acu" {
  description = "Maximum Aurora capacity units when instance_class is db.serverless."
  type        = number
  default     = 16
}

variable "primary_instance_count" {
  description = "Aurora instances in the primary cluster (2 = writer + a reader in another AZ for fast in-region failover)."
  type        = number
  default     = 2

  validation {
    condition     = var.primary_instance_count >= 1
    error_message = "The primary cluster needs at least one instance."
  }
}

variable "secondary_instance_count" {
  description = "Aurora instances in the secondary cluster. At least 1: the region's RDS Proxy targets this cluster, and a headless secondary cannot be promoted within the RTO."
  type        = number
  default     = 1

  validation {
    condition     = var.secondary_instance_count >= 1
    error_message = "The secondary cluster needs at least one instance (its RDS Proxy targets it and failover promotes it)."
  }
}

variable "global_db_rpo_seconds" {
  description = <<-EOT
    Aurora PostgreSQL managed RPO (parameter rds.global_db_rpo), in seconds, set in both regions' cluster parameter groups.
    Default 20, the smallest value Aurora accepts: when no secondary cluster is within 20 s of the primary, the primary
    pauses commits until one catches up, so an unplanned failover can lose at most ~20 s of acknowledged writes. The
    price: if the secondary region lags or is unreachable for longer, writes in the primary stall. null leaves the
    parameter unset (no managed RPO: commits never wait, loss is bounded only by the replication lag).
  EOT
  type        = number
  default     = 20
  nullable    = true

  validation {
    condition     = var.global_db_rpo_seconds == null ? true : var.global_db_rpo_seconds >= 20
    error_message = "rds.global_db_rpo must be at least 20 seconds (or null to leave it unset)."
  }
}

variable "backup_retention_days" {
  description = "Automated backup (point-in-time restore) retention of each cluster, in days."
  type        = number
  default     = 14
}

variable "preferred_backup_window" {
  description = "Daily backup window (UTC), outside the maintenance window."
  type        = string
  default     = "01:00-02:00"
}

variable "preferred_maintenance_window" {
  description = "Weekly maintenance window (UTC)."
  type        = string
  default     = "sun:03:00-sun:04:00"
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention in days (7 is the free tier)."
  type        = number
  default     = 7
}

variable "monitoring_interval_seconds" {
  description = "Enhanced Monitoring interval in seconds (0 disables it; it bills CloudWatch Logs ingestion)."
  type        = number
  default     = 60
}

variable "slow_query_ms" {
  description = "log_min_duration_statement: statements slower than this (ms) are logged."
  type        = number
  default     = 1000
}

variable "rotation_days" {
  description = "Rotate the master password every this many days."
  type        = number
  default     = 30
}

variable "rotation_app_version" {
  description = "Semantic version of the AWS-published SecretsManagerRDSPostgreSQLRotationSingleUser application; null = latest at create time."
  type        = string
  default     = null
}

variable "proxy_idle_client_timeout_seconds" {
  description = "RDS Proxy idle client connection timeout, in seconds."
  type        = number
  default     = 1800
}

variable "proxy_max_connections_percent" {
  description = "Share of the cluster's max_connections the RDS Proxy may open."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
