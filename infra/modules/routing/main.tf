# Route 53 failover for the shared API name: PRIMARY -> region 1, SECONDARY -> region 2,
# each gated by a health check on that region's own /ready that passes only while the
# region can take writes: /ready's body must say "db_role":"writer" (a replica or a
# fenced writer answers "replica"). So a slow writer never sends traffic to the replica
# (both unhealthy -> Route 53 answers PRIMARY); after a failover the promoted region
# passes and takes the traffic. pmctl flips the roles with
# UPSERTs on these same record sets (same name, type and set identifiers, swapped
# failover types).

locals {
  set_identifiers = { for role, r in var.regions : role => "${var.name}-${r.aws_region}-${role}" }
}

resource "aws_route53_health_check" "region" {
  provider = aws.global
  for_each = var.regions

  fqdn              = each.value.regional_domain
  port              = 443
  type              = "HTTPS_STR_MATCH"
  resource_path     = var.health_check_path
  search_string     = var.health_check_search_string
  enable_sni        = true
  failure_threshold = var.failure_threshold
  request_interval  = var.request_interval
  measure_latency   = true
  regions           = var.checker_regions

  tags = merge(var.tags, { Name = "${var.name}-${each.value.aws_region}-ready" })
}

resource "aws_route53_record" "failover" {
  #checkov:skip=CKV2_AWS_23:Aliases the API Gateway regional custom domain created in modules/api, passed in as a variable; checkov cannot see across modules.
  provider = aws.global
  for_each = var.regions

  zone_id         = var.hosted_zone_id
  name            = var.record_name
  type            = "A"
  set_identifier  = local.set_identifiers[each.key]
  health_check_id = aws_route53_health_check.region[each.key].id

  failover_routing_policy {
    type = upper(each.key)
  }

  alias {
    name                   = each.value.target_name
    zone_id                = each.value.target_zone_id
    evaluate_target_health = true
  }

  lifecycle {
    # pmctl flips the writer's region by UPSERTing these two record sets with swapped
    # failover types (same name, type, set identifiers); apply must not flip them back.
    ignore_changes = [failover_routing_policy]
  }
}
