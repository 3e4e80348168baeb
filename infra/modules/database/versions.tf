terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
      # Spans both regions: every resource names its provider explicitly.
      configuration_aliases = [aws.primary, aws.secondary]
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
