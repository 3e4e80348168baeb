"""API Gateway (HTTP API) Lambda REQUEST authorizer, simple responses (payload 2.0).

Admits a request only when it carries the secret origin header that CloudFront adds to
every origin request (infra/modules/edge), so the regional API Gateway domains refuse
direct calls that bypass CloudFront and its WAF. API Gateway itself answers 401 when the
header is missing (it is the authorizer's identity source) and caches an allow/deny per
header value for the configured TTL, so this runs about once per TTL per value.

ORIGIN_VERIFY_SECRETS holds every accepted value, comma-separated (two during a rotation);
nothing configured means nothing is admitted. The header value is never logged.
"""

import hmac
import os

HEADER = os.environ.get("ORIGIN_VERIFY_HEADER", "x-origin-verify").lower()


def _accepted(raw):
    return [v.strip().encode() for v in raw.split(",") if v.strip()]


ACCEPTED = _accepted(os.environ.get("ORIGIN_VERIFY_SECRETS", ""))


def is_authorized(headers, accepted):
    """True when headers[HEADER] equals one of the accepted values (constant time)."""
    given = (headers or {}).get(HEADER)
    if not given or not accepted:
        return False
    given = given.encode()
    # Compare with every value (no early exit), so timing says nothing about which matched.
    ok = False
    for value in accepted:
        ok |= hmac.compare_digest(given, value)
    return ok


def handler(event, _context):
    # HTTP API payload 2.0 lower-cases header names.
    return {"isAuthorized": is_authorized(event.get("headers"), ACCEPTED)}
