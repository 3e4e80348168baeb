"""The WSGI layer in front of moto's app: admin endpoints, injected failures, CBOR.

Order per request: `/moto-api/pmctl/*` admin calls are answered here; `/moto-api/reset`
also clears the launcher's own state and then goes on to moto; an injected failure that
matches answers instead of moto; CloudWatch RPC v2 CBOR requests are translated; every
other request goes to moto unchanged — S3 requests one at a time (below).
"""

import json
import threading

from . import cloudwatch_cbor, faults, rds, route53, state

ADMIN = "/moto-api/pmctl"
DEFAULT_ACCOUNT = "123456789012"  # moto's default account (what unsigned admin calls use)


# moto's S3 model is not thread-safe: a PutObject over an existing key closes the old
# FakeKey's buffer (`_VersionedKeyStore.setlist` → `dispose`) while a concurrent GetObject
# that already holds that key reads from it → ValueError → HTTP 500 with an empty body.
# Seen in `aws_moto::the_journal_is_shared_and_appends_do_not_lose_lines` (8 concurrent
# compare-and-swap appends) on a loaded machine. Real S3 has no such race, so S3 calls
# are served one at a time, the response body included.
S3_LOCK = threading.Lock()


def _is_s3(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
    return "/s3/aws4_request" in auth or "%2Fs3%2Faws4_request" in auth


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


def _json_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as err:
        raise BadRequest(f"body is not JSON: {err}")


class PmctlApp:
    def __init__(self, moto_app, patches):
        self.moto_app = moto_app
        self.patches = patches

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == ADMIN or path.startswith(ADMIN + "/"):
            return self._admin(environ, start_response, path[len(ADMIN):].strip("/"))
        if path.rstrip("/") == "/moto-api/reset":
            state.reset()
        injected = faults.intercept(environ)
        if injected is not None:
            return cloudwatch_cbor.respond(start_response, *injected)
        if cloudwatch_cbor.is_cbor_request(environ):
            return cloudwatch_cbor.handle(self.moto_app, environ, start_response)
        if _is_s3(environ):
            with S3_LOCK:
                return [b"".join(self.moto_app(environ, start_response))]
        return self.moto_app(environ, start_response)

    def _admin(self, environ, start_response, route):
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            status, body = 200, self._route(method, route, environ)
        except BadRequest as err:
            status, body = 400, {"error": str(err)}
        except (ValueError, TypeError) as err:
            status, body = 400, {"error": str(err)}
        except (NotFound, LookupError) as err:
            status, body = 404, {"error": str(err).strip("'\"")}
        payload = json.dumps(body).encode()
        return cloudwatch_cbor.respond(
            start_response,
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            payload,
        )

    def _route(self, method, route, environ):
        import moto

        if route == "" and method == "GET":
            return {"launcher": "pmctl", "moto": moto.__version__, "patches": self.patches}
        if route == "health-check-status" and method == "POST":
            return route53.set_health(DEFAULT_ACCOUNT, _json_body(environ))
        if route == "fail":
            if method == "POST":
                return faults.add(_json_body(environ))
            if method == "GET":
                return {"faults": faults.listing()}
            if method == "DELETE":
                faults.clear()
                return {"faults": []}
        if route == "config":
            if method == "POST":
                body = _json_body(environ)
                unknown = sorted(set(body) - set(state.DEFAULT_CONFIG))
                if unknown:
                    raise BadRequest(
                        f"unknown settings: {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(state.DEFAULT_CONFIG))})"
                    )
                for key, value in body.items():
                    if not isinstance(value, (int, float)) or value < 0:
                        raise BadRequest(f"`{key}` must be a number of seconds >= 0")
                with state.LOCK:
                    state.config.update({k: float(v) for k, v in body.items()})
            if method in ("POST", "GET"):
                with state.LOCK:
                    return dict(state.config)
        if route == "db-cluster-status" and method == "POST":
            body = _json_body(environ)
            for key in ("region", "id", "status"):
                if not isinstance(body.get(key), str) or not body[key]:
                    raise BadRequest(f"`{key}` is required")
            rds.set_cluster_status(DEFAULT_ACCOUNT, body["region"], body["id"], body["status"])
            return {"region": body["region"], "id": body["id"], "status": body["status"]}
        raise NotFound(f"no admin endpoint {method} {ADMIN}/{route}")
