output "hosted_zone_id" {
  description = "Hosted zone of the failover records."
  value       = var.hosted_zone_id
}

output "record_name" {
  description = "The failover record name."
  value       = var.record_name
}

output "health_check_ids" {
  description = "Route 53 health check id per role (primary, secondary)."
  value       = { for role, hc in aws_route53_health_check.region : role => hc.id }
}

output "set_identifiers" {
  description = "Failover record set identifier per role (primary, secondary)."
  value       = { for role, rec in aws_route53_record.failover : role => rec.set_identifier }
}
