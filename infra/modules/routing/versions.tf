terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
      # Route 53 is global: every resource here names aws.global explicitly.
      configuration_aliases = [aws.global]
    }
  }
}
