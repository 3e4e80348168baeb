variable "environment" {
  description = "Environment name; pmctl.toml names the environment after it."
  type        = string
  default     = "prod"
}

variable "name_prefix" {
  description = "Prefix of every resource name; resources are named \"<prefix>-<environment>-<aws region>-...\"."
  type        = string
  default     = "pm"
}

variable "primary_region" {
  description = "Region 1: the writer (Aurora primary cluster, Cognito user pool, Route 53 PRIMARY record)."
  type        = string
  default     = "us-east-1"
}

variable "secondary_region" {
  description = "Region 2: the standby (Aurora secondary cluster, Route 53 SECONDARY record)."
  type        = string
  default     = "us-east-2"
}

variable "hosted_zone_id" {
  description = "Existing Route 53 public hosted zone that holds api_domain."
  type        = string
}

variable "api_domain" {
  description = "Public API host name, served by CloudFront; M-Pesa callback URLs are built on it. Each region also gets \"<aws region>.<api_domain>\"."
  type        = string
}

variable "origin_domain" {
  description = "Route 53 failover record name that CloudFront forwards to (both regions' API Gateway serve it); null = \"origin.<api_domain>\"."
  type        = string
  default     = null
}

variable "mpesa_callback_source_cidrs" {
  description = "Safaricom source ranges (IPv4 CIDRs) allowed to call /v1/callbacks/*; WAF blocks callbacks from anywhere else. Confirm the current list with Safaricom (terraform.tfvars.example)."
  type        = list(string)
}

variable "rate_limit_per_ip" {
  description = "WAF: requests per client IP per 5 minutes before 429 (M-Pesa ranges and rate_limit_exempt_cidrs exempt). Sizing: infra/README.md, \"Edge\"."
  type        = number
  default     = 3000
}

variable "rate_limit_exempt_cidrs" {
  description = "WAF: further IPv4 CIDRs exempt from the per-IP rate limit, e.g. where pmctl drills and load tests run."
  type        = list(string)
  default     = []
}

variable "origin_verify_active" {
  description = "Which of the two origin-header secrets (\"a\" or \"b\") CloudFront sends; the API accepts both, so switching is a zero-downtime rotation (infra/README.md, \"Edge\")."
  type        = string
  default     = "a"

  validation {
    condition     = contains(["a", "b"], var.origin_verify_active)
    error_message = "origin_verify_active must be \"a\" or \"b\"."
  }
}

variable "monthly_budget_usd" {
  description = "AWS Budgets monthly cost limit (actual 80 %/100 % and forecast 100 % alerts to the primary alarm topic). Default: above the default profile's idle cost in infra/README.md (the infra test checks it)."
  type        = number
  default     = 1000
}

variable "budget_environment_tag" {
  description = "true = the budget counts only cost tagged Environment = var.environment (activate it as a cost allocation tag first); false = the whole account (one account per environment)."
  type        = bool
  default     = false
}

variable "lambda_zip_path" {
  description = "Path of the bootstrap zip (cargo lambda build --release --arm64 -p pm-api --bin lambda --output-format zip); null = <repo>/target/lambda/lambda/bootstrap.zip."
  type        = string
  default     = null
}

variable "primary_vpc_cidr" {
  description = "VPC CIDR of the primary region."
  type        = string
  default     = "10.40.0.0/16"
}

variable "secondary_vpc_cidr" {
  description = "VPC CIDR of the secondary region (must not overlap the primary's)."
  type        = string
  default     = "10.41.0.0/16"
}

variable "db_instance_class" {
  description = "Aurora instance class in both regions; \"db.serverless\" for Serverless v2 (cheapest idle for dev/staging)."
  type        = string
  default     = "db.r6g.large"
}

variable "db_primary_instance_count" {
  description = "Aurora instances in the primary region (writer + readers)."
  type        = number
  default     = 2
}

variable "db_secondary_instance_count" {
  description = "Aurora instances in the secondary region (at least 1)."
  type        = number
  default     = 1
}

variable "global_db_rpo_seconds" {
  description = "Aurora managed RPO (rds.global_db_rpo) in seconds; default 20 (the minimum), null = unset. See modules/database."
  type        = number
  default     = 20
  nullable    = true
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of the API Lambda in each region."
  type        = number
  default     = 100
}

variable "db_monitoring_interval_seconds" {
  description = "Aurora Enhanced Monitoring interval in seconds; 0 disables it (lean profile)."
  type        = number
  default     = 60
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints per region; the lean profile keeps only secretsmanager (the rotation function needs it; Lambda logs and traces leave through the Lambda service)."
  type        = list(string)
  default     = ["secretsmanager", "logs", "xray"]
}

variable "health_check_interval" {
  description = "Route 53 health check request interval (10 or 30 seconds)."
  type        = number
  default     = 10
}

variable "alarm_email" {
  description = "Optional e-mail subscribed to both regions' alarm topics; null = none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags on every resource (default tags of the providers)."
  type        = map(string)
  default     = {}
}
