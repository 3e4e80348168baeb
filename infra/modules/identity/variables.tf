variable "name" {
  description = "Name prefix (e.g. \"pm-prod\")."
  type        = string
}

variable "mfa_configuration" {
  description = "Cognito MFA setting for landlords: OFF, OPTIONAL or ON (TOTP)."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OFF", "OPTIONAL", "ON"], var.mfa_configuration)
    error_message = "mfa_configuration must be OFF, OPTIONAL or ON."
  }
}

variable "admin_create_user_only" {
  description = "Only administrators create landlord accounts (no self sign-up)."
  type        = bool
  default     = true
}

variable "access_token_minutes" {
  description = "Access and ID token lifetime in minutes."
  type        = number
  default     = 60
}

variable "refresh_token_days" {
  description = "Refresh token lifetime in days."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to the user pool."
  type        = map(string)
  default     = {}
}
