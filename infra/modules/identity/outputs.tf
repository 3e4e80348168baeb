output "aws_region" {
  description = "Region of the user pool (sign-in happens here)."
  value       = element(split("_", aws_cognito_user_pool.landlords.id), 0)
}

output "user_pool_id" {
  description = "Cognito user pool id."
  value       = aws_cognito_user_pool.landlords.id
}

output "user_pool_arn" {
  description = "Cognito user pool ARN."
  value       = aws_cognito_user_pool.landlords.arn
}

output "client_id" {
  description = "App client id tokens are issued for (checked by the API: aud / client_id)."
  value       = aws_cognito_user_pool_client.landlords.id
}

output "issuer" {
  description = "Token issuer (iss) the API accepts."
  value       = local.issuer
}

output "jwks_url" {
  description = "JWKS URL of the user pool."
  value       = local.jwks_url
}

output "jwks_json" {
  description = "The JWKS as fetched at apply time (public keys; passed to the Lambdas)."
  value       = data.http.jwks.response_body
}
