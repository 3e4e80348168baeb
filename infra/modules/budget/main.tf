# The environment's cost guardrail: one monthly cost budget with actual and forecast alerts
# to the alarm topic. Budgets evaluates a few times a day: this catches a month going wrong
# (a proxy or instance class nobody meant to keep), not a spike within the hour; the
# per-request alarms in modules/observability do that.

resource "aws_budgets_budget" "monthly" {
  provider = aws.global

  name         = "${var.name}-monthly"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_limit_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  dynamic "cost_filter" {
    for_each = var.environment_tag == null ? [] : [var.environment_tag]
    content {
      name   = "TagKeyValue"
      values = [format("user:Environment$%s", cost_filter.value)]
    }
  }

  dynamic "notification" {
    for_each = toset(var.actual_alert_percents)
    content {
      notification_type          = "ACTUAL"
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value
      threshold_type             = "PERCENTAGE"
      subscriber_sns_topic_arns  = [var.sns_topic_arn]
      subscriber_email_addresses = var.alert_emails
    }
  }

  notification {
    notification_type          = "FORECASTED"
    comparison_operator        = "GREATER_THAN"
    threshold                  = var.forecast_alert_percent
    threshold_type             = "PERCENTAGE"
    subscriber_sns_topic_arns  = [var.sns_topic_arn]
    subscriber_email_addresses = var.alert_emails
  }
}
