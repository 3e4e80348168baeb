# One region's alarms (the ones pmctl reads before and during a failover), the SNS topic
# they notify, and a dashboard.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  region = data.aws_region.current.name
  prefix = "${var.name}-${local.region}"

  alarm_names = {
    api_5xx_rate            = "${local.prefix}-api-5xx-rate"
    api_p99_latency         = "${local.prefix}-api-p99-latency"
    lambda_errors           = "${local.prefix}-lambda-errors"
    lambda_throttles        = "${local.prefix}-lambda-throttles"
    replication_lag         = "${local.prefix}-aurora-global-replication-lag"
    proxy_connection_errors = "${local.prefix}-rds-proxy-connection-errors"
  }
  actions = [aws_sns_topic.alarms.arn]
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.prefix}-alarms"
  kms_master_key_id = var.telemetry_kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_policy" "alarms" {
  arn = aws_sns_topic.alarms.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudWatchAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.${data.aws_partition.current.dns_suffix}" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms.arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
        }
      },
      {
        # The environment's cost budget (modules/budget) alerts through this topic.
        Sid       = "BudgetsPublish"
        Effect    = "Allow"
        Principal = { Service = "budgets.${data.aws_partition.current.dns_suffix}" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms.arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${data.aws_partition.current.partition}:budgets::${data.aws_caller_identity.current.account_id}:*" }
        }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = local.alarm_names.api_5xx_rate
  alarm_description   = "API Gateway 5xx responses above ${var.api_5xx_rate_percent}% of requests in ${local.region}"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_rate_percent
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      period      = var.period_seconds
      stat        = "Sum"
      dimensions  = { ApiId = var.api_id }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      period      = var.period_seconds
      stat        = "Sum"
      dimensions  = { ApiId = var.api_id }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "api_p99_latency" {
  alarm_name          = local.alarm_names.api_p99_latency
  alarm_description   = "API Gateway p99 latency above ${var.api_p99_latency_ms} ms in ${local.region}"
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = { ApiId = var.api_id }
  extended_statistic  = "p99"
  period              = var.period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_p99_latency_ms
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  alarm_name          = local.alarm_names.lambda_errors
  alarm_description   = "API Lambda errors above ${var.lambda_errors} per ${var.period_seconds} s in ${local.region}"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = var.function_name }
  statistic           = "Sum"
  period              = var.period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.lambda_errors
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  alarm_name          = local.alarm_names.lambda_throttles
  alarm_description   = "API Lambda throttled (reserved concurrency exhausted) in ${local.region}"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = var.function_name }
  statistic           = "Sum"
  period              = var.period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.lambda_throttles
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

# Emitted by a secondary cluster only; missing data (this region is the writer) is fine.
resource "aws_cloudwatch_metric_alarm" "replication_lag" {
  alarm_name          = local.alarm_names.replication_lag
  alarm_description   = "Aurora global database replication lag above ${var.replication_lag_ms} ms into ${var.aurora_cluster_id}"
  namespace           = "AWS/RDS"
  metric_name         = "AuroraGlobalDBReplicationLag"
  dimensions          = { DBClusterIdentifier = var.aurora_cluster_id }
  statistic           = "Maximum"
  period              = var.period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.replication_lag_ms
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "proxy_connection_errors" {
  alarm_name          = local.alarm_names.proxy_connection_errors
  alarm_description   = "RDS Proxy ${var.proxy_name}: failed client and database connection setups above ${var.proxy_connection_errors} per ${var.period_seconds} s"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.proxy_connection_errors
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "failures"
    expression  = "FILL(client, 0) + FILL(db, 0)"
    label       = "failed connection setups"
    return_data = true
  }

  metric_query {
    id = "client"
    metric {
      namespace   = "AWS/RDS"
      metric_name = "ClientConnectionsSetupFailedAuth"
      period      = var.period_seconds
      stat        = "Sum"
      dimensions  = { ProxyName = var.proxy_name }
    }
  }

  metric_query {
    id = "db"
    metric {
      namespace   = "AWS/RDS"
      metric_name = "DatabaseConnectionsSetupFailed"
      period      = var.period_seconds
      stat        = "Sum"
      dimensions  = { ProxyName = var.proxy_name }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.prefix
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "API requests and 5xx"
          region  = local.region
          stat    = "Sum"
          period  = var.period_seconds
          metrics = [["AWS/ApiGateway", "Count", "ApiId", var.api_id], [".", "5xx", ".", "."], [".", "4xx", ".", "."]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "API latency p50 / p99"
          region  = local.region
          period  = var.period_seconds
          metrics = [["AWS/ApiGateway", "Latency", "ApiId", var.api_id, { stat = "p50" }], ["...", { stat = "p99" }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Lambda invocations, errors, throttles"
          region  = local.region
          stat    = "Sum"
          period  = var.period_seconds
          metrics = [["AWS/Lambda", "Invocations", "FunctionName", var.function_name], [".", "Errors", ".", "."], [".", "Throttles", ".", "."]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Aurora global replication lag (ms)"
          region  = local.region
          stat    = "Maximum"
          period  = var.period_seconds
          metrics = [["AWS/RDS", "AuroraGlobalDBReplicationLag", "DBClusterIdentifier", var.aurora_cluster_id]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "RDS Proxy connections"
          region  = local.region
          stat    = "Sum"
          period  = var.period_seconds
          metrics = [["AWS/RDS", "ClientConnections", "ProxyName", var.proxy_name], [".", "ClientConnectionsSetupFailedAuth", ".", "."], [".", "DatabaseConnectionsSetupFailed", ".", "."]]
        }
      },
      {
        type = "alarm", x = 12, y = 12, width = 12, height = 6
        properties = {
          title  = "Alarms pmctl reads"
          alarms = [for a in local.alarm_arns : a]
        }
      },
    ]
  })
}

locals {
  alarm_arns = [
    aws_cloudwatch_metric_alarm.api_5xx_rate.arn,
    aws_cloudwatch_metric_alarm.api_p99_latency.arn,
    aws_cloudwatch_metric_alarm.lambda_errors.arn,
    aws_cloudwatch_metric_alarm.lambda_throttles.arn,
    aws_cloudwatch_metric_alarm.replication_lag.arn,
    aws_cloudwatch_metric_alarm.proxy_connection_errors.arn,
  ]
}
