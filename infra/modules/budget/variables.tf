variable "name" {
  description = "Name prefix (e.g. \"pm-prod\"); the budget is \"<name>-monthly\"."
  type        = string
}

variable "monthly_limit_usd" {
  description = "Monthly cost budget in USD. Keep it above the idle cost of the profile in use (infra/README.md, \"Cost\") or the actual alerts fire every month."
  type        = number

  validation {
    condition     = var.monthly_limit_usd > 0
    error_message = "monthly_limit_usd must be positive."
  }
}

variable "actual_alert_percents" {
  description = "Alert when the month's actual cost passes each of these percentages of the budget."
  type        = list(number)
  default     = [80, 100]
}

variable "forecast_alert_percent" {
  description = "Alert when Cost Explorer forecasts the month's cost above this percentage of the budget (needs about 5 weeks of usage history first)."
  type        = number
  default     = 100
}

variable "sns_topic_arn" {
  description = "SNS topic the alerts go to (the primary region's alarm topic; its policy lets budgets.amazonaws.com publish)."
  type        = string
}

variable "alert_emails" {
  description = "Optional e-mail addresses that receive the alerts directly as well."
  type        = list(string)
  default     = []
}

variable "environment_tag" {
  description = "null = the whole account's cost (one account per environment). Otherwise only cost tagged Environment = this value; the tag must first be activated as a cost allocation tag (Billing console), and untaggable cost (e.g. some data transfer) is not counted."
  type        = string
  default     = null
}
