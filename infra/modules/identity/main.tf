# Landlord identities: a Cognito user pool and a public app client (SRP sign-in). A user
# pool lives in one region (here: the primary). See infra/README.md "Cognito is regional".

resource "aws_cognito_user_pool" "landlords" {
  name                     = "${var.name}-landlords"
  deletion_protection      = "ACTIVE"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = var.mfa_configuration

  software_token_mfa_configuration {
    enabled = var.mfa_configuration != "OFF"
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = false
    temporary_password_validity_days = 3
  }

  admin_create_user_config {
    allow_admin_create_user_only = var.admin_create_user_only
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  tags = var.tags
}

resource "aws_cognito_user_pool_client" "landlords" {
  name         = "${var.name}-landlords"
  user_pool_id = aws_cognito_user_pool.landlords.id

  generate_secret               = false
  explicit_auth_flows           = ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true

  access_token_validity  = var.access_token_minutes
  id_token_validity      = var.access_token_minutes
  refresh_token_validity = var.refresh_token_days

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

locals {
  issuer   = "https://${aws_cognito_user_pool.landlords.endpoint}"
  jwks_url = "${local.issuer}/.well-known/jwks.json"
}

# A snapshot of the pool's signing keys, taken at apply time and handed to both regions'
# Lambdas: token verification then needs neither Cognito nor an internet path at run time.
# Cognito does not rotate user-pool signing keys on its own; re-apply if it ever does.
data "http" "jwks" {
  url = local.jwks_url

  request_headers = {
    Accept = "application/json"
  }

  lifecycle {
    postcondition {
      condition     = self.status_code == 200 && can(jsondecode(self.response_body).keys)
      error_message = "Cognito JWKS at ${local.jwks_url} did not answer 200 with a JSON Web Key Set."
    }
  }
}
