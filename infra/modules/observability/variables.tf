variable "name" {
  description = "Name prefix (e.g. \"pm-prod\"); alarms are named \"<name>-<aws region>-<what>\"."
  type        = string
}

variable "api_id" {
  description = "API Gateway HTTP API id of this region (api module)."
  type        = string
}

variable "function_name" {
  description = "API Lambda function name of this region (api module)."
  type        = string
}

variable "aurora_cluster_id" {
  description = "This region's Aurora cluster identifier (database module)."
  type        = string
}

variable "proxy_name" {
  description = "This region's RDS Proxy name (database module)."
  type        = string
}

variable "telemetry_kms_key_arn" {
  description = "This region's KMS key; encrypts the SNS alarm topic (network module)."
  type        = string
}

variable "period_seconds" {
  description = "Metric period of every alarm, in seconds."
  type        = number
  default     = 60
}

variable "evaluation_periods" {
  description = "Periods an alarm looks at."
  type        = number
  default     = 3
}

variable "datapoints_to_alarm" {
  description = "Breaching periods (out of evaluation_periods) that raise an alarm."
  type        = number
  default     = 2
}

variable "api_5xx_rate_percent" {
  description = "API 5xx responses as a percentage of requests above which the 5xx alarm fires."
  type        = number
  default     = 1
}

variable "api_p99_latency_ms" {
  description = "API p99 latency (ms) above which the latency alarm fires."
  type        = number
  default     = 2000
}

variable "lambda_errors" {
  description = "Lambda errors per period above which the errors alarm fires."
  type        = number
  default     = 5
}

variable "lambda_throttles" {
  description = "Lambda throttles per period above which the throttles alarm fires (0 = any throttle)."
  type        = number
  default     = 0
}

variable "replication_lag_ms" {
  description = "AuroraGlobalDBReplicationLag (ms) above which the lag alarm fires; keep it well under rds.global_db_rpo."
  type        = number
  default     = 5000
}

variable "proxy_connection_errors" {
  description = "RDS Proxy failed client (auth) plus database connection setups per period above which the alarm fires."
  type        = number
  default     = 5
}

variable "alarm_email" {
  description = "Optional e-mail address subscribed to the alarm topic (must confirm); null = none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
