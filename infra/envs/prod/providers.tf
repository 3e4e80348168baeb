# One provider per region, plus the home of the global services. Every module call passes
# its providers explicitly; nothing relies on an unconfigured default provider.

provider "aws" {
  alias  = "primary"
  region = var.primary_region

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "secondary"
  region = var.secondary_region

  default_tags {
    tags = local.tags
  }
}

# Global services homed in us-east-1 whatever the application regions are: Route 53
# (records, health-check metrics), CloudFront with its ACM certificate and WAF (scope
# CLOUDFRONT) and their metrics, AWS Budgets.
provider "aws" {
  alias  = "global"
  region = "us-east-1"

  default_tags {
    tags = local.tags
  }
}
