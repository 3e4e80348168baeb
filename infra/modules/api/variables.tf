variable "name" {
  description = "Name prefix (e.g. \"pm-prod\"); regional resources get \"<name>-<aws region>-...\"."
  type        = string
}

variable "region_role" {
  description = "Role of this region when created: \"primary\" or \"secondary\" (reported to the API as PM_REGION_ROLE; pmctl moves the writer at run time)."
  type        = string

  validation {
    condition     = contains(["primary", "secondary"], var.region_role)
    error_message = "region_role must be \"primary\" or \"secondary\"."
  }
}

variable "lambda_zip_path" {
  description = "Path of the bootstrap zip built by `cargo lambda build --release --arm64 -p pm-api --bin lambda --output-format zip` (target/lambda/lambda/bootstrap.zip)."
  type        = string
}

variable "architecture" {
  description = "Lambda instruction set; must match the build (arm64 for --arm64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size_mb" {
  description = "Lambda memory (MB); CPU scales with it."
  type        = number
  default     = 512
}

variable "timeout_seconds" {
  description = "Lambda timeout in seconds (API Gateway HTTP APIs give up after 30 s)."
  type        = number
  default     = 15
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the API Lambda: caps database connections through the proxy and protects the rest of the account. -1 = unreserved."
  type        = number
  default     = 100
}

variable "log_retention_days" {
  description = "Retention of the Lambda and API access log groups, in days."
  type        = number
  default     = 365
}

variable "subnet_ids" {
  description = "Private subnets the Lambda runs in (network module)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the Lambda (network module: Lambda -> RDS Proxy and endpoints only)."
  type        = list(string)
}

variable "telemetry_kms_key_arn" {
  description = "This region's KMS key for log groups and the Lambda environment (network module)."
  type        = string
}

variable "database" {
  description = "How the API reaches this region's database: the RDS Proxy endpoint and port, the database name, and this region's own copy of the database secret (the master secret in region 1, its replica in region 2) with the KMS key that encrypts it. The Lambda reads its credentials from that secret (secretsmanager:GetSecretValue on exactly this ARN)."
  type = object({
    host               = string
    port               = number
    name               = string
    secret_arn         = string
    secret_kms_key_arn = string
  })
}

variable "auth" {
  description = "Cognito token verification settings: issuer, app client id, JWKS URL and a JWKS snapshot (JSON) taken at deploy time so verification works without reaching Cognito."
  type = object({
    issuer    = string
    client_id = string
    jwks_url  = string
    jwks_json = string
  })
}

variable "api_domain" {
  description = "The public API host name (CloudFront, e.g. api.pm.example.co.ke); M-Pesa callback URLs and PM_PUBLIC_BASE_URL use it."
  type        = string
}

variable "origin_domain" {
  description = "The Route 53 failover name both regions serve (e.g. origin.api.pm.example.co.ke): CloudFront's origin. This API's shared custom domain has this name."
  type        = string
}

variable "origin_verify_header" {
  description = "Name of the secret header CloudFront adds to origin requests (lower case); the authorizer admits only requests carrying it."
  type        = string
  default     = "x-origin-verify"

  validation {
    condition     = can(regex("^x-[a-z0-9-]+$", var.origin_verify_header))
    error_message = "origin_verify_header must be a lower-case x-... header name."
  }
}

variable "origin_verify_secrets" {
  description = "Accepted values of the origin header: the value CloudFront sends, plus the previous one during a rotation. No commas (they separate the values)."
  type        = list(string)
  sensitive   = true

  validation {
    condition     = length(var.origin_verify_secrets) > 0 && alltrue([for s in var.origin_verify_secrets : length(s) >= 32 && !strcontains(s, ",")])
    error_message = "origin_verify_secrets needs at least one value, each >= 32 characters and without commas."
  }
}

variable "origin_verify_cache_seconds" {
  description = "How long API Gateway caches the authorizer's decision per header value (0-3600 s)."
  type        = number
  default     = 300
}

variable "origin_verify_reserved_concurrency" {
  description = "Reserved concurrency of the authorizer Lambda (bounds the cost of direct calls with wrong header values)."
  type        = number
  default     = 10
}

variable "regional_domain" {
  description = "This region's own host name (e.g. us-east-1.api.pm.example.co.ke): Route 53 health checks and operators reach one region directly through it."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone holding api_domain and regional_domain."
  type        = string
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second the API stage accepts before answering 429."
  type        = number
  default     = 200
}

variable "throttling_burst_limit" {
  description = "Burst of requests the API stage accepts above the rate limit."
  type        = number
  default     = 400
}

variable "extra_environment" {
  description = "Additional Lambda environment variables (non-secret), merged over the defaults."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
