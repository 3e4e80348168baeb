variable "name" {
  description = "Name prefix (e.g. \"pm-prod\") for health check names and record set identifiers."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone that holds record_name."
  type        = string
}

variable "record_name" {
  description = "The public API name answered with Route 53 failover (e.g. api.pm.example.co.ke)."
  type        = string
}

variable "regions" {
  description = "Exactly two entries keyed \"primary\" and \"secondary\": each region's AWS region, its own regional host name (health-checked) and the alias target of the shared name in that region."
  type = map(object({
    aws_region      = string
    regional_domain = string
    target_name     = string
    target_zone_id  = string
  }))

  validation {
    condition     = length(var.regions) == 2 && contains(keys(var.regions), "primary") && contains(keys(var.regions), "secondary")
    error_message = "regions must have exactly the keys \"primary\" and \"secondary\"."
  }
}

variable "health_check_path" {
  description = "Path probed by the health checks; /ready answers 200 only when the region can serve (database reachable)."
  type        = string
  default     = "/ready"
}

variable "health_check_search_string" {
  description = "Text the health-check answer must contain (Route 53 HTTPS_STR_MATCH, first 5 120 bytes): only a region whose database takes writes passes, so load never moves traffic to a replica."
  type        = string
  default     = "\"db_role\":\"writer\""
}

variable "failure_threshold" {
  description = "Consecutive failed probes before Route 53 marks a region unhealthy."
  type        = number
  default     = 3
}

variable "request_interval" {
  description = "Seconds between probes from each checker: 10 (fast, billed extra) or 30."
  type        = number
  default     = 10

  validation {
    condition     = contains([10, 30], var.request_interval)
    error_message = "request_interval must be 10 or 30."
  }
}

variable "checker_regions" {
  description = "Route 53 checker regions (at least 3); null = Route 53's default set."
  type        = list(string)
  default     = null
}

variable "tags" {
  description = "Tags added to the health checks."
  type        = map(string)
  default     = {}
}
