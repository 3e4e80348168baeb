output "region" {
  description = "The AWS region this network is in."
  value       = local.region
}

output "vpc_id" {
  description = "VPC id."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnet ids, one per availability zone."
  value       = aws_subnet.private[*].id
}

output "lambda_security_group_id" {
  description = "Security group of the API Lambda."
  value       = aws_security_group.lambda.id
}

output "proxy_security_group_id" {
  description = "Security group of the RDS Proxy."
  value       = aws_security_group.proxy.id
}

output "aurora_security_group_id" {
  description = "Security group of the Aurora cluster."
  value       = aws_security_group.aurora.id
}

output "rotation_security_group_id" {
  description = "Security group of the Secrets Manager rotation function."
  value       = aws_security_group.rotation.id
}

output "telemetry_kms_key_arn" {
  description = "ARN of this region's KMS key for logs, Lambda environment and SNS."
  value       = aws_kms_key.telemetry.arn
}

output "vpc_endpoint_ids" {
  description = "Interface endpoint ids by service name."
  value       = { for k, v in aws_vpc_endpoint.interface : k => v.id }
}
