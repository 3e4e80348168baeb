terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
      # aws: this region. aws.dns: Route 53 (global) for certificate validation and the
      # regional record; passed explicitly so no global resource rides on a default.
      configuration_aliases = [aws.dns]
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}
