terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.80+: CloudFront standard logging v2 (aws_cloudwatch_log_delivery*) and WAF
      # rate-rule evaluation windows.
      version = "~> 5.80"
      # CloudFront, its ACM certificate, WAF (scope CLOUDFRONT), their logs and metrics
      # live in us-east-1 whatever the application regions are: every resource here names
      # aws.global, which the environment pins to us-east-1.
      configuration_aliases = [aws.global]
    }
  }
}
