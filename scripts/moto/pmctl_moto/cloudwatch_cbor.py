"""CloudWatch over Smithy RPC v2 CBOR, translated to the JSON protocol moto speaks.

aws-sdk-cloudwatch >= 1.100 (Rust) sends every call as
`POST /service/GraniteServiceVersion20100801/operation/<Op>` with header
`smithy-protocol: rpc-v2-cbor` and a CBOR body; moto 5.2.5 has no route for that path
(its CloudWatch handlers answer the query and awsJson1_0 protocols at `/`).

The translation is driven by botocore's CloudWatch model (shipped in the same venv):
the CBOR request is decoded with cbor2 and re-encoded as awsJson1_0
(`X-Amz-Target: GraniteServiceVersion20100801.<Op>`) for moto's own handler; moto's JSON
answer is re-encoded as CBOR, walking the output shape so timestamps become CBOR tag 1
(epoch seconds), doubles CBOR floats, blobs byte strings. Errors become rpc-v2-cbor
errors: a CBOR map `{"__type": code, "message": ...}` with moto's HTTP status, plus the
`x-amzn-query-error: <code>;<Sender|Receiver>` header CloudWatch's awsQueryCompatible
trait defines. Operations without output answer an empty body.
"""

import base64
import datetime
import io
import json

import cbor2

PREFIX = "/service/GraniteServiceVersion20100801/operation/"
TARGET_PREFIX = "GraniteServiceVersion20100801."

_model = None


def model():
    global _model
    if _model is None:
        import botocore.session

        _model = botocore.session.get_session().get_service_model("cloudwatch")
    return _model


def is_cbor_request(environ):
    return environ.get("PATH_INFO", "").startswith(PREFIX)


def operation_of(environ):
    return environ.get("PATH_INFO", "")[len(PREFIX):].strip("/")


def _epoch(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag):
        return float(value.value)
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


def to_json(value, shape):
    """A decoded CBOR value -> the JSON protocol's value for `shape`."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            k: to_json(v, shape.members.get(k)) for k, v in value.items() if v is not None
        }
    if kind == "list":
        return [to_json(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_json(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return _epoch(value)
    if kind == "blob":
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def to_cbor(value, shape):
    """A JSON-protocol value from moto -> the CBOR value for `shape`."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {
            k: to_cbor(v, shape.members.get(k)) for k, v in value.items() if v is not None
        }
    if kind == "list":
        return [to_cbor(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_cbor(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, _epoch(value))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "blob":
        return base64.b64decode(value) if isinstance(value, str) else bytes(value)
    return value


def cbor_error(status, code, message):
    """(status, headers, body) of an rpc-v2-cbor error."""
    body = cbor2.dumps({"__type": code, "message": message})
    fault = "Receiver" if status >= 500 else "Sender"
    headers = [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("x-amzn-query-error", f"{code};{fault}"),
        ("Content-Length", str(len(body))),
    ]
    return status, headers, body


def _status_line(status):
    from werkzeug.http import HTTP_STATUS_CODES

    return f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}"


def respond(start_response, status, headers, body):
    start_response(_status_line(status), headers)
    return [body]


def handle(app, environ, start_response):
    """Serves one CBOR request through moto's JSON handler."""
    op_name = operation_of(environ)
    try:
        op = model().operation_model(op_name)
    except Exception:
        return respond(
            start_response,
            *cbor_error(404, "UnknownOperationException", f"unknown operation {op_name}"),
        )
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        decoded = cbor2.loads(raw) if raw else {}
    except Exception as err:
        return respond(
            start_response,
            *cbor_error(400, "SerializationException", f"request body is not CBOR: {err}"),
        )
    body = json.dumps(to_json(decoded, op.input_shape) or {}).encode()

    inner = dict(environ)
    inner["PATH_INFO"] = "/"
    inner["REQUEST_URI"] = "/"
    inner["RAW_URI"] = "/"
    inner["QUERY_STRING"] = ""
    inner["CONTENT_TYPE"] = "application/x-amz-json-1.0"
    inner["HTTP_X_AMZ_TARGET"] = TARGET_PREFIX + op_name
    inner["CONTENT_LENGTH"] = str(len(body))
    inner["wsgi.input"] = io.BytesIO(body)
    inner.pop("HTTP_SMITHY_PROTOCOL", None)
    inner.pop("HTTP_CONTENT_ENCODING", None)

    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"] = int(status.split()[0])
        captured["headers"] = headers
        return lambda _data: None

    chunks = app(inner, capture)
    try:
        out = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    status = captured.get("status", 500)
    passthrough = [
        (k, v)
        for k, v in captured.get("headers", [])
        if k.lower() in ("x-amzn-requestid", "x-amz-request-id", "date")
    ]
    try:
        parsed = json.loads(out) if out.strip() else {}
    except ValueError:
        parsed = None

    if status >= 400 or parsed is None:
        code, message = "InternalFailure", out.decode("utf-8", "replace")[:500]
        if isinstance(parsed, dict):
            code = str(parsed.get("__type") or parsed.get("code") or code)
            code = code.split("#")[-1].split(":")[0]
            message = parsed.get("message") or parsed.get("Message") or ""
        query_error = next(
            (v for k, v in captured.get("headers", []) if k.lower() == "x-amzn-query-error"),
            None,
        )
        if query_error:
            code = query_error.split(";")[0]
        st, headers, payload = cbor_error(max(status, 400), code, message)
        return respond(start_response, st, headers + passthrough, payload)

    if op.output_shape is None:
        payload = b""
    else:
        payload = cbor2.dumps(to_cbor(parsed, op.output_shape))
    headers = [
        ("Content-Type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("Content-Length", str(len(payload))),
    ] + passthrough
    return respond(start_response, status, headers, payload)
