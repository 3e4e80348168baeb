terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
      # AWS Budgets is a global service (API in us-east-1): every resource names aws.global.
      configuration_aliases = [aws.global]
    }
  }
}
