output "distribution_id" {
  description = "CloudFront distribution id (AWS/CloudFront metrics: DistributionId, Region = Global, in us-east-1)."
  value       = aws_cloudfront_distribution.api.id
}

output "distribution_arn" {
  description = "CloudFront distribution ARN."
  value       = aws_cloudfront_distribution.api.arn
}

output "distribution_domain_name" {
  description = "The distribution's cloudfront.net name (api_domain aliases it)."
  value       = aws_cloudfront_distribution.api.domain_name
}

output "web_acl_name" {
  description = "WAF web ACL name: the WebACL dimension of its AWS/WAFV2 metrics (in us-east-1; see infra/README.md)."
  value       = aws_wafv2_web_acl.edge.name
}

output "web_acl_arn" {
  description = "WAF web ACL ARN."
  value       = aws_wafv2_web_acl.edge.arn
}

output "waf_rule_metrics" {
  description = "Metric names (AWS/WAFV2 Rule dimension) of the rules pmctl reports on."
  value       = local.rule_metrics
}

output "access_log_bucket" {
  description = "S3 bucket holding the CloudFront access logs (standard logging v2, no URI path or query)."
  value       = aws_s3_bucket.logs.bucket
}

output "waf_log_group_name" {
  description = "CloudWatch log group of the requests WAF blocked (URI path, query and Authorization redacted)."
  value       = aws_cloudwatch_log_group.waf.name
}
