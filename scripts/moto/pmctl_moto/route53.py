"""Route 53 GetHealthCheckStatus: observations a test sets, from several checker regions.

moto 5.2.5 answers every GetHealthCheckStatus with one hard-coded observation
(us-east-1, 127.0.13.37, "Success: HTTP Status Code: 200 ..."), so a test cannot make an
endpoint look down, nor a client compute Route 53's verdict over several checkers.

Patch: the answer holds one observation per checker region -- the health check's own
`Regions` when it has them, else Route 53's eight default checker regions -- and each
reports what a test set with `POST /moto-api/pmctl/health-check-status` (default:
healthy). Observations describe the *endpoint*, as the API reference says ("each health
checker that is reporting a status about the health check endpoint"): `Inverted` and
`Disabled` are not folded into them. They act on the health check's status, which is
what Route 53 uses to answer DNS: disabled counts as healthy, inverted flips the
checkers' verdict (Developer Guide, "How Route 53 determines whether a health check is
healthy"). pmctl's client applies those rules (cli/src/aws/route53.rs); moto already
stores `Inverted` / `Disabled` from CreateHealthCheck / UpdateHealthCheck faithfully.
"""

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.route53.responses import Route53

from . import state

# Route 53's default health-checker regions (used when a check names none).
DEFAULT_CHECKER_REGIONS = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
]


def checker_regions(health_check):
    return list(health_check.regions or DEFAULT_CHECKER_REGIONS)


def _report(health_check, healthy):
    kind = (health_check.type_ or "HTTP").upper()
    if kind == "TCP":
        return "Success: TCP connection established" if healthy else (
            "Failure: Connection timed out. The endpoint or the internet connection is "
            "down, or requests are being blocked by your firewall."
        )
    if healthy:
        return "Success: HTTP Status Code 200, OK"
    return "Failure: HTTP Status Code 503, Service Unavailable"


def get_health_check_status(self):
    health_check = self.backend.get_health_check(self._get_param("HealthCheckId"))
    with state.LOCK:
        set_states = dict(state.health.get(health_check.id, {}))
    observations = []
    for i, region in enumerate(checker_regions(health_check)):
        healthy = set_states.get(region, True)
        observations.append(
            {
                "Region": region,
                # Loopback, so nobody mistakes it for a real checker address.
                "IPAddress": f"127.0.13.{i + 1}",
                "StatusReport": {
                    "Status": _report(health_check, healthy),
                    "CheckedTime": utcnow(),
                },
            }
        )
    return ActionResult({"HealthCheckObservations": observations})


def set_health(account, body):
    """Admin: {id, healthy} for every checker, or {id, regions: {region: bool}}."""
    from moto.route53.models import route53_backends

    hc_id = body.get("id")
    if not isinstance(hc_id, str) or not hc_id:
        raise ValueError("`id` (the health check id) is required")
    backend = route53_backends[account]["aws"]
    health_check = backend.health_checks.get(hc_id)
    if health_check is None:
        raise LookupError(f"no health check {hc_id}")
    regions = checker_regions(health_check)
    if "regions" in body:
        per_region = body["regions"]
        if not isinstance(per_region, dict) or not all(
            isinstance(v, bool) for v in per_region.values()
        ):
            raise ValueError("`regions` must map checker regions to true/false")
        unknown = sorted(set(per_region) - set(regions))
        if unknown:
            raise ValueError(
                f"not checker regions of {hc_id}: {', '.join(unknown)} "
                f"(its checkers: {', '.join(regions)})"
            )
        states = dict(per_region)
    elif isinstance(body.get("healthy"), bool):
        states = {r: body["healthy"] for r in regions}
    else:
        raise ValueError("give `healthy` (true/false) or `regions` {region: bool}")
    with state.LOCK:
        current = state.health.setdefault(hc_id, {})
        current.update(states)
        return {"id": hc_id, "checkers": {r: current.get(r, True) for r in regions}}


def apply():
    Route53.get_health_check_status = get_health_check_status
    return ["route53: GetHealthCheckStatus reports test-set observations per checker region"]
