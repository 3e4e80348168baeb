variable "name" {
  description = "Name prefix (e.g. \"pm-prod\"); the bucket is \"<name>-ops-<account id>\"."
  type        = string
}

variable "noncurrent_days" {
  description = "Days an overwritten version of the lock note or journal is kept (every journal append writes a new version; the history of the journal itself is kept forever)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_days >= 1
    error_message = "noncurrent_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
