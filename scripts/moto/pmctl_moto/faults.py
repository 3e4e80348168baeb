"""Test-only failure injection: make the next call(s) of one operation fail.

`POST /moto-api/pmctl/fail {service, operation, code, status?, message?, times?, region?}`
queues a failure; a matching request is answered with that AWS error in the service's
own wire protocol (so the SDK parses it exactly as it would parse AWS's), and does not
reach moto. `times` counts matching requests (omit it: until cleared); `operation` and
`region` may be "*" / omitted to match any. `DELETE /moto-api/pmctl/fail` clears all,
`GET` lists them. moto has nothing like it.

Services are named as pmctl's clients call them: rds, route53, cloudwatch, lambda, s3,
dynamodb, iam. A request's service and region come from its SigV4 credential scope; its
operation from the protocol (query `Action`, `X-Amz-Target`, the RPC v2 path, or the
REST route in moto's own router for botocore's model).
"""

import json
from urllib.parse import parse_qs

from . import cloudwatch_cbor, state

# SigV4 signing name -> (service name used here, botocore service name, protocol)
SERVICES = {
    "rds": ("rds", "rds", "query"),
    "route53": ("route53", "route53", "rest-xml"),
    "monitoring": ("cloudwatch", "cloudwatch", "cbor-or-json"),
    "lambda": ("lambda", "lambda", "rest-json"),
    "s3": ("s3", "s3", "s3"),
    "dynamodb": ("dynamodb", "dynamodb", "json"),
    "iam": ("iam", "iam", "query"),
}
KNOWN = sorted({v[0] for v in SERVICES.values()})


def validate(body):
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    service = body.get("service")
    if service not in KNOWN:
        raise ValueError(f"`service` must be one of {', '.join(KNOWN)}")
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise ValueError("`code` (the AWS error code, e.g. Throttling) is required")
    status = body.get("status", 400)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("`status` must be an HTTP error status (400-599)")
    times = body.get("times")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError("`times` must be a positive integer (omit it: until cleared)")
    operation = body.get("operation") or "*"
    region = body.get("region") or "*"
    message = body.get("message") or f"injected by pmctl's moto launcher: {code}"
    return {
        "id": state.next_fault_id(),
        "service": service,
        "operation": operation,
        "region": region,
        "code": code,
        "status": status,
        "message": message,
        "remaining": times,
    }


def add(body):
    fault = validate(body)
    with state.LOCK:
        state.faults.append(fault)
    return fault


def _scope(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split("Credential=", 1)[1].split(",")[0]
        _, _, region, signing, _ = scope.split("/")
        return signing, region
    except (IndexError, ValueError):
        return None, None


def _operation(environ, botocore_name, protocol, body):
    if protocol == "cbor-or-json":
        if cloudwatch_cbor.is_cbor_request(environ):
            return cloudwatch_cbor.operation_of(environ)
        protocol = "json" if environ.get("HTTP_X_AMZ_TARGET") else "query"
    if protocol == "json":
        return (environ.get("HTTP_X_AMZ_TARGET") or "").split(".")[-1]
    if protocol == "query":
        qs = parse_qs(environ.get("QUERY_STRING", ""))
        if "Action" not in qs and body:
            qs = parse_qs(body.decode("utf-8", "replace"))
        return (qs.get("Action") or [""])[0]
    # REST protocols: moto's router for botocore's model.
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    try:
        operation, _ = get_service_router(botocore_name).match(Request(environ))
        return operation.name
    except Exception:
        return ""


def _take(service, region, operation):
    with state.LOCK:
        for fault in state.faults:
            if fault["service"] != service:
                continue
            if fault["operation"] not in ("*", operation):
                continue
            if fault["region"] not in ("*", region):
                continue
            if fault["remaining"] is not None:
                fault["remaining"] -= 1
                if fault["remaining"] == 0:
                    state.faults.remove(fault)
            return fault
    return None


def _xml(text):
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    )


def _error_response(protocol, environ, fault):
    code, status, message = fault["code"], fault["status"], fault["message"]
    kind = "Receiver" if status >= 500 else "Sender"
    if protocol == "cbor-or-json" and cloudwatch_cbor.is_cbor_request(environ):
        return cloudwatch_cbor.cbor_error(status, code, message)
    if protocol in ("json", "cbor-or-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0")]
    elif protocol == "rest-json":
        body = json.dumps({"Type": "User", "message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif protocol == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{_xml(code)}</Code>'
            f"<Message>{_xml(message)}</Message><RequestId>pmctl-fault</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    else:  # query and rest-xml share the wrapped ErrorResponse document
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Type>{kind}</Type>'
            f"<Code>{_xml(code)}</Code><Message>{_xml(message)}</Message></Error>"
            "<RequestId>pmctl-fault</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers.append(("x-amzn-RequestId", "pmctl-fault"))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def intercept(environ):
    """The injected error for this request, as (status, headers, body), or None."""
    if not state.faults:
        return None
    signing, region = _scope(environ)
    if signing not in SERVICES:
        return None
    service, botocore_name, protocol = SERVICES[signing]
    # Peek at the body (query protocols name the action there) and put it back.
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    operation = _operation(environ, botocore_name, protocol, body)
    environ["wsgi.input"] = io.BytesIO(body)
    fault = _take(service, region, operation)
    if fault is None:
        return None
    return _error_response(protocol, environ, fault)


def listing():
    with state.LOCK:
        return [dict(f) for f in state.faults]


def clear():
    with state.LOCK:
        state.faults.clear()
