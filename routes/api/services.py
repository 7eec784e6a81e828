"""Department services through the bus (flow 3): `POST /api/v1/services/{service}/{operation}`.

Synchronous by default: the gateway publishes a `service.call` envelope and waits for the reply
up to `GOVLINK_SERVICE_CALL_TIMEOUT_SECONDS` (the envelope carries that deadline, and the worker gives
the department no more than the time left). With `Prefer: respond-async` (RFC 7240) it answers
`202 Accepted` at once with a status URL. Either way the call is recorded first, so a caller who
timed out can still read its outcome at the status URL.

Grant conditions (config/access.yaml, issue 15) are checked before publishing, against the
verified token's principal, which the envelope carries for the connector worker to check again;
the answer is filtered too (a result about someone else: 404). A `case_id` must be the caller's own
case, or a new one they then own (supervision/cases.py); staff and department service accounts may
quote any. The use cases are in routes/service_calls.py; a failed call answers with the status of
the one table of department-call codes (bus/call_codes.py), which also lists this route's error
responses in the OpenAPI document.
"""
from __future__ import annotations

from flask import current_app, g, request, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from bus.call_codes import codes_by_status
from routes import service_calls
from routes.auth import current_principal, require_token
from routes.openapi import ErrorSchema

blp = Blueprint("services", __name__, url_prefix="/api/v1/services",
                description="Legacy department systems, reached through the message bus")

# What the codes of a status mean to a caller of this route, beyond the table's codes.
ERROR_HELP = {
    403: "forbidden: no grant; condition_not_met: a payload field the grant binds to the caller (e.g. holder_id, "
         "id_number) is someone else's",
    404: "unknown_service / unknown_operation; not_found: the answer is about someone else (withheld); "
         "case_not_found: the case_id is not yours",
    422: "validation_failed: the body does not fit the schema (details.fields); invalid_request: the payload does "
         "not fit the operation (or the department said so)",
    429: "rate_limited: see the Retry-After header",
    500: "misconfigured: the declaration does not fit the department (govlink's to fix; the message names the file)",
    502: "fault / bad_response: the department answered with a fault or nonsense; rejected: it refused govlink's "
         "own credentials",
    503: "unavailable / circuit_open: the department is down or failing, retry later; bus_unavailable: the message "
         "bus did not take the call",
    504: "timeout: no answer in time; the call goes on, see details.status_url",
}


def error_responses(blueprint_view):
    """One documented response per status the table of department-call codes can produce."""
    for status, codes in reversed(codes_by_status().items()):
        text = ERROR_HELP.get(status, " / ".join(codes))
        missing = [code for code in codes if code not in text]
        description = text + (f" (also: {', '.join(missing)})" if missing else "")
        blueprint_view = blp.alt_response(status, schema=ErrorSchema, description=description)(blueprint_view)
    return blueprint_view


class CallRequestSchema(Schema):
    payload = fields.Dict(required=True, metadata={"description": "The operation's input in govlink's canonical fields"})
    case_id = fields.String(validate=validate.Length(1, 64), metadata={"description": "The case this call belongs to"})


class CallResultSchema(Schema):
    call_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "accepted | succeeded | failed"})
    service = fields.String()
    operation = fields.String()
    result = fields.Dict(allow_none=True)
    error = fields.Dict(allow_none=True)
    status_url = fields.String()
    duration_ms = fields.Integer(allow_none=True)


class CatalogueEntrySchema(Schema):
    service = fields.String()
    department = fields.String()
    operations = fields.List(fields.String())


def _runtime():
    return current_app.extensions["govlink"]


def _status_url(call_id: str) -> str:
    return url_for("services.call_status", call_id=call_id)


@blp.get("")
@blp.response(200, CatalogueEntrySchema(many=True))
@blp.doc(security=[{"bearer": []}])
@require_token()
def catalogue():
    """The department services and operations the caller may call."""
    return service_calls.catalogue(_runtime(), current_principal())


@blp.post("/<string:service>/<string:operation>")
@blp.arguments(CallRequestSchema())
@blp.response(200, CallResultSchema)
@blp.alt_response(202, schema=CallResultSchema, description="Accepted (Prefer: respond-async); poll status_url")
@error_responses
@blp.doc(security=[{"bearer": []}])
@require_token()
def call(body, service, operation):
    """Call a department operation; synchronous, or asynchronous with `Prefer: respond-async`."""
    wait = "respond-async" not in request.headers.get("Prefer", "")
    outcome = service_calls.call(_runtime(), current_principal(), service, operation, body, wait=wait,
                                 correlation_id=g.correlation_id, status_url=_status_url)
    view = {**outcome, "service": service, "operation": operation}
    return view, (200 if wait else 202), {"Location": view["status_url"]}


@blp.get("/calls/<string:call_id>")
@blp.response(200, CallResultSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def call_status(call_id):
    """The status and outcome of a call (only for whoever made it)."""
    outcome = service_calls.status(_runtime(), current_principal(), call_id)
    return {**outcome, "status_url": _status_url(outcome["call_id"])}
