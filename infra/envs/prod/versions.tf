terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    http = {
      source  = "hashicorp/http"
      version = "~> 3.4"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.hcl` (see
  # backend.hcl.example). The state holds the first, immediately rotated master password,
  # so the bucket must be private and encrypted.
  backend "s3" {}
}
