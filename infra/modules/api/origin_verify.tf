# The origin-verify authorizer: a small Lambda that admits a request only when it carries
# the secret header CloudFront adds (modules/edge), so a caller who finds the regional API
# Gateway domain cannot bypass CloudFront and its WAF (rate limit, callback source ranges).
# Why an authorizer and not a resource policy: HTTP APIs (apigatewayv2) have no resource
# policies, and API Gateway cannot attach WAF to an HTTP API (infra/README.md, "Edge").

locals {
  origin_verify_name = "${var.name}-${local.region}-origin-verify"
}

data "archive_file" "origin_verify" {
  type        = "zip"
  source_file = "${path.module}/origin_verify/handler.py"
  output_path = "${path.root}/.terraform/tmp/${local.origin_verify_name}.zip"
}

resource "aws_iam_role" "origin_verify" {
  # IAM is global: the region in the name keeps the two regions' roles apart.
  name = "${var.name}-${local.region}-origin-verify"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.${data.aws_partition.current.dns_suffix}" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "origin_verify_logs" {
  role       = aws_iam_role.origin_verify.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy_attachment" "origin_verify_xray" {
  role       = aws_iam_role.origin_verify.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role_policy" "origin_verify" {
  name = "${var.name}-${local.region}-origin-verify"
  role = aws_iam_role.origin_verify.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "DecryptEnvironment"
      Effect   = "Allow"
      Action   = ["kms:Decrypt"]
      Resource = [var.telemetry_kms_key_arn]
    }]
  })
}

resource "aws_cloudwatch_log_group" "origin_verify" {
  name              = "/aws/lambda/${local.origin_verify_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.telemetry_kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "origin_verify" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway as an authorizer only; a DLQ applies to asynchronous invocations and would never receive anything.
  #checkov:skip=CKV_AWS_117:Compares a header with its environment and makes no network call at all; a VPC attachment would add ENIs and slow deletes for nothing.
  #checkov:skip=CKV_AWS_272:Packaged from infra/modules/api/origin_verify by Terraform (archive_file); AWS Signer code signing is not set up. Follow-up.
  function_name = local.origin_verify_name
  description   = "Admits only requests carrying CloudFront's origin header (API Gateway authorizer)"
  role          = aws_iam_role.origin_verify.arn

  # Not the Rust bootstrap: twenty lines of standard library, unit-tested by scripts/check-infra.
  runtime          = "python3.13"
  handler          = "handler.handler"
  architectures    = ["arm64"]
  filename         = data.archive_file.origin_verify.output_path
  source_code_hash = data.archive_file.origin_verify.output_base64sha256

  memory_size = 128
  timeout     = 3
  # Caps what a flood of wrong header values (each a cache miss) can cost; CloudFront's
  # requests are answered from the authorizer cache and are not affected.
  reserved_concurrent_executions = var.origin_verify_reserved_concurrency
  kms_key_arn                    = var.telemetry_kms_key_arn

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.origin_verify.name
  }

  environment {
    variables = {
      ORIGIN_VERIFY_HEADER  = var.origin_verify_header
      ORIGIN_VERIFY_SECRETS = join(",", var.origin_verify_secrets)
    }
  }

  depends_on = [
    aws_iam_role_policy_attachment.origin_verify_logs,
    aws_iam_role_policy_attachment.origin_verify_xray,
    aws_iam_role_policy.origin_verify,
  ]

  tags = var.tags
}

resource "aws_lambda_permission" "origin_verify" {
  statement_id  = "AllowApiGatewayInvokeAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.origin_verify.function_name
  principal     = "apigateway.${data.aws_partition.current.dns_suffix}"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.origin_verify.id}"
}
