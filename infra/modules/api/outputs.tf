output "aws_region" {
  description = "The AWS region of this API."
  value       = local.region
}

output "function_name" {
  description = "Lambda function name."
  value       = aws_lambda_function.api.function_name
}

output "function_arn" {
  description = "Lambda function ARN (unqualified)."
  value       = aws_lambda_function.api.arn
}

output "alias_name" {
  description = "The Lambda alias API Gateway invokes and pmctl's canary deploys move."
  value       = aws_lambda_alias.live.name
}

output "alias_arn" {
  description = "ARN of the live alias."
  value       = aws_lambda_alias.live.arn
}

output "api_id" {
  description = "API Gateway HTTP API id."
  value       = aws_apigatewayv2_api.this.id
}

output "stage_name" {
  description = "API Gateway stage name."
  value       = aws_apigatewayv2_stage.default.name
}

output "origin_domain" {
  description = "The shared origin (Route 53 failover) host name this API serves."
  value       = aws_apigatewayv2_domain_name.shared.domain_name
}

output "regional_domain" {
  description = "This region's own custom domain."
  value       = aws_apigatewayv2_domain_name.regional.domain_name
}

output "shared_target" {
  description = "Alias target (API Gateway regional domain name and its hosted zone) of the shared name in this region, for the failover record."
  value = {
    name    = aws_apigatewayv2_domain_name.shared.domain_name_configuration[0].target_domain_name
    zone_id = aws_apigatewayv2_domain_name.shared.domain_name_configuration[0].hosted_zone_id
  }
}

output "origin_verify_function_name" {
  description = "Name of the origin-verify authorizer Lambda."
  value       = aws_lambda_function.origin_verify.function_name
}
