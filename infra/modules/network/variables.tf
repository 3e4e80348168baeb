variable "name" {
  description = "Name prefix for every resource (e.g. \"pm-prod\"). The region is appended where names must be unique per account."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of this region's VPC. Give each region a different range so the two VPCs can be peered later."
  type        = string
}

variable "availability_zone_suffixes" {
  description = "Availability zones (letter after the region name) of the private subnets: at least 2, because Aurora and RDS Proxy need subnets in two AZs. Pinned, so a zone AWS adds later never changes the layout."
  type        = list(string)
  default     = ["a", "b"]

  validation {
    condition     = length(var.availability_zone_suffixes) >= 2
    error_message = "Give at least two availability zones."
  }
}

variable "log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints, so the Lambda and the secret-rotation function need no internet path (no NAT gateway)."
  type        = list(string)
  default     = ["secretsmanager", "logs", "xray"]
}

variable "tags" {
  description = "Tags added to every resource of this module (the providers also set default tags)."
  type        = map(string)
  default     = {}
}
