output "sns_topic_arn" {
  description = "This region's alarm topic."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of the alarms pmctl reads: api_5xx_rate, api_p99_latency, lambda_errors, lambda_throttles, replication_lag, proxy_connection_errors."
  value = {
    api_5xx_rate            = aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name
    api_p99_latency         = aws_cloudwatch_metric_alarm.api_p99_latency.alarm_name
    lambda_errors           = aws_cloudwatch_metric_alarm.lambda_errors.alarm_name
    lambda_throttles        = aws_cloudwatch_metric_alarm.lambda_throttles.alarm_name
    replication_lag         = aws_cloudwatch_metric_alarm.replication_lag.alarm_name
    proxy_connection_errors = aws_cloudwatch_metric_alarm.proxy_connection_errors.alarm_name
  }
}

output "dashboard_name" {
  description = "CloudWatch dashboard of this region."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
