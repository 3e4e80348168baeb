variable "name" {
  description = "Name prefix (e.g. \"pm-prod\") of the distribution, web ACL, log bucket and log group."
  type        = string
}

variable "api_domain" {
  description = "Public API host name served by CloudFront (e.g. api.pm.example.co.ke); M-Pesa callback URLs use it."
  type        = string
}

variable "origin_domain" {
  description = "The Route 53 failover record name (modules/routing) CloudFront sends requests to, so DNS failover still picks the region."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone holding api_domain."
  type        = string
}

variable "origin_verify_header" {
  description = "Name of the secret header CloudFront adds to every origin request; the API Gateway authorizer admits only requests carrying it."
  type        = string
}

variable "origin_verify_secret" {
  description = "Value CloudFront sends in origin_verify_header (the active slot of the rotation pair)."
  type        = string
  sensitive   = true
}

variable "mpesa_callback_source_cidrs" {
  description = "Safaricom source ranges (IPv4 CIDRs) allowed to call /v1/callbacks/*; every other source is blocked at the edge."
  type        = list(string)

  validation {
    condition     = length(var.mpesa_callback_source_cidrs) > 0 && alltrue([for c in var.mpesa_callback_source_cidrs : can(cidrnetmask(c))])
    error_message = "mpesa_callback_source_cidrs needs at least one IPv4 CIDR (e.g. 196.201.214.0/24)."
  }
}

variable "rate_limit_per_ip" {
  description = "Requests one client IP may send per rate_limit_window_seconds before WAF answers 429 (M-Pesa ranges and rate_limit_exempt_cidrs are exempt)."
  type        = number
  default     = 3000

  validation {
    condition     = var.rate_limit_per_ip >= 10
    error_message = "rate_limit_per_ip must be at least 10 (the WAF minimum)."
  }
}

variable "rate_limit_window_seconds" {
  description = "Evaluation window of the per-IP rate rule: 60, 120, 300 or 600 seconds."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.rate_limit_window_seconds)
    error_message = "rate_limit_window_seconds must be 60, 120, 300 or 600."
  }
}

variable "rate_limit_exempt_cidrs" {
  description = "IPv4 CIDRs exempt from the per-IP rate rule besides the M-Pesa ranges (e.g. the host pmctl drills and load tests run from); empty = none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.rate_limit_exempt_cidrs : can(cidrnetmask(c))])
    error_message = "rate_limit_exempt_cidrs must be IPv4 CIDRs."
  }
}

variable "price_class" {
  description = "CloudFront price class; PriceClass_200 is the smallest that includes the Kenyan edge locations (Nairobi, Mombasa)."
  type        = string
  default     = "PriceClass_200"

  validation {
    condition     = contains(["PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_200 or PriceClass_All (PriceClass_100 has no edge in Kenya)."
  }
}

variable "origin_read_timeout_seconds" {
  description = "How long CloudFront waits for the origin's response (API Gateway HTTP APIs give up after 30 s)."
  type        = number
  default     = 30
}

variable "access_log_retention_days" {
  description = "Days CloudFront access logs are kept in S3 (moved to Standard-IA after 30 days), and retention of the WAF log group."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days > 30
    error_message = "access_log_retention_days must be more than 30 (objects move to Standard-IA at 30 days)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}
