"""Department services through the bus (flow 3): `POST /api/v1/services/{service}/{operation}`.

Synchronous by default: the gateway publishes a `service.call` envelope and waits for the reply
up to `GOVLINK_SERVICE_CALL_TIMEOUT_SECONDS`. With `Prefer: respond-async` (RFC 7240) it answers
`202 Accepted` at once with a status URL. Either way the call is recorded first, so a caller who
timed out can still read its outcome at the status URL.

Grant conditions (config/access.yaml, issue 15) are checked here before publishing, against the
verified token's principal, which the envelope carries for the connector worker to check again;
the answer is filtered here too (a result about someone else: 404). A `case_id` must be the
caller's own case, or a new one they then own (supervision/cases.py); staff and department service
accounts may quote any.
"""
from __future__ import annotations

import json

from flask import current_app, g, request, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from bus.envelope import decode, encode, new_envelope
from bus.errors import BusError, RequestTimeout
from bus.service_calls import REQUEST_TYPE, record_accepted
from bus.topology import COMMANDS
from routes.auth import current_principal, require_token
from routes.cases import claim_case_or_refuse
from routes.errors import ApiError
from store.models.bus import ServiceCall

blp = Blueprint("services", __name__, url_prefix="/api/v1/services",
                description="Legacy department systems, reached through the message bus")

NAME = validate.Regexp(r"^[a-z][a-z0-9-]{0,62}$")

# How a department failure reaches the API caller.
ERROR_STATUS = {
    "forbidden": 403, "unknown_service": 404, "not_found": 404, "invalid_request": 422, "fault": 502,
    "bad_response": 502, "timeout": 504, "unavailable": 503, "circuit_open": 503, "condition_not_met": 403,
    "rate_limited": 429,
    "misconfigured": 500,  # the declaration does not fit the department's WSDL: the integrator's to fix
}


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


def _check_access(principal, service: str, operation: str, payload: dict):
    """The grant that allows the call (ApiError 403/404 otherwise)."""
    from connectors.access import AccessDenied, ConditionNotMet

    runtime = _runtime()
    if service not in runtime.connectors.services():
        raise ApiError(404, "unknown_service", f"No department service {service!r} is declared.")
    try:
        runtime.access.check(principal.caller, service, operation)
    except AccessDenied:
        raise ApiError(403, "forbidden", f"{principal.caller} may not call {service}/{operation}.") from None
    if operation not in runtime.connectors.get(service).operations():
        raise ApiError(404, "unknown_operation", f"{service} has no operation {operation!r}.")
    try:
        return runtime.access.authorize(principal.caller, service, operation, payload, principal.envelope_claims())
    except ConditionNotMet as exc:
        raise ApiError(403, "condition_not_met", exc.message, dict(exc.details)) from None


def _filtered(grant, result, principal, call_id: str):
    """The gateway's own check of the answer: nothing about someone other than the caller."""
    from connectors.access import ResultWithheld

    try:
        return _runtime().access.filter_result(grant, result, principal.envelope_claims())
    except ResultWithheld as exc:
        raise ApiError(404, "not_found", exc.message, {"call_id": call_id}) from None


@blp.get("")
@blp.response(200, CatalogueEntrySchema(many=True))
@blp.doc(security=[{"bearer": []}])
@require_token()
def catalogue():
    """The department services and operations the caller may call."""
    principal = current_principal()
    runtime = _runtime()
    out = []
    for service in runtime.connectors.services():
        connector = runtime.connectors.get(service)
        allowed = [op for op in connector.operations() if runtime.access.allowed(principal.caller, service, op)]
        if allowed:
            out.append({"service": service, "department": connector.declaration.department, "operations": allowed})
    return out


@blp.post("/<string:service>/<string:operation>")
@blp.arguments(CallRequestSchema)
@blp.response(200, CallResultSchema)
@blp.alt_response(202, schema=CallResultSchema, description="Accepted (Prefer: respond-async); poll status_url")
@blp.alt_response(502, response="BAD_GATEWAY", description="fault / bad_response: the department answered with a fault or nonsense")
@blp.alt_response(504, response="GATEWAY_TIMEOUT", description="timeout: no answer in time; the call goes on, see details.status_url")
@blp.alt_response(403, response="FORBIDDEN", description="forbidden: no grant; condition_not_met: a payload field the "
                  "grant binds to the caller (e.g. holder_id, id_number) is someone else's")
@blp.alt_response(404, response="NOT_FOUND", description="unknown_service / unknown_operation; not_found: the answer "
                  "is about someone else (withheld); case_not_found: the case_id is not yours")
@blp.alt_response(429, response="TOO_MANY_REQUESTS", description="rate_limited: see the Retry-After header")
@blp.doc(security=[{"bearer": []}])
@require_token()
def call(body, service, operation):
    """Call a department operation; synchronous, or asynchronous with `Prefer: respond-async`."""
    principal = current_principal()
    grant = _check_access(principal, service, operation, body["payload"])
    runtime = _runtime()
    envelope = new_envelope(REQUEST_TYPE, body["payload"], client=principal.caller, service=service, operation=operation,
                            user=principal.subject, case_id=body.get("case_id"),
                            correlation_id=g.correlation_id, principal=principal.envelope_claims())
    with runtime.db.unit_of_work() as session:
        if body.get("case_id"):
            claim_case_or_refuse(session, body["case_id"], principal)
        record_accepted(session, envelope, owner=principal.subject)
    runtime.message_log.record(envelope, "out")
    wire = encode(envelope)
    routing_key = f"{service}.{operation}"
    status_url = _status_url(envelope["message_id"])
    headers = {"Location": status_url}
    try:
        if "respond-async" in request.headers.get("Prefer", ""):
            runtime.publisher.publish(COMMANDS, routing_key, wire, message_id=envelope["message_id"],
                                      correlation_id=envelope["correlation_id"], type=REQUEST_TYPE).result(10)
            return _view(envelope["message_id"], "accepted", service, operation), 202, headers
        timeout = runtime.settings.service_call_timeout_seconds
        _props, reply_body = runtime.publisher.request(COMMANDS, routing_key, wire, message_id=envelope["message_id"],
                                                       correlation_id=envelope["correlation_id"], timeout=timeout,
                                                       type=REQUEST_TYPE)
    except RequestTimeout:
        raise ApiError(504, "timeout", "The department did not answer in time; the call goes on, see details.status_url.",
                       {"status_url": status_url, "call_id": envelope["message_id"]}, headers) from None
    except BusError as exc:
        raise ApiError(503, "bus_unavailable", f"The message bus did not accept the call ({exc.code}); try again.") from None
    except TimeoutError:  # the broker did not confirm the async publish in time (it is down or blocked)
        raise ApiError(503, "bus_unavailable", "The message bus did not confirm the call in time; try again.",
                       {"call_id": envelope["message_id"]}) from None
    reply = decode(reply_body)
    runtime.message_log.record(reply, "in")
    payload = reply["payload"]
    if "error" in payload:
        err = payload["error"]
        retry_after = (err.get("details") or {}).get("retry_after") if err.get("code") == "rate_limited" else None
        raise ApiError(ERROR_STATUS.get(err.get("code"), 502), err.get("code", "department_error"), err.get("message", ""),
                       {"call_id": envelope["message_id"], **({"department": err["details"]} if err.get("details") else {})},
                       {"Retry-After": str(int(retry_after))} if retry_after else None)
    result = _filtered(grant, payload.get("result"), principal, envelope["message_id"])
    return _view(envelope["message_id"], "succeeded", service, operation, result=result), 200, headers


@blp.get("/calls/<string:call_id>")
@blp.response(200, CallResultSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def call_status(call_id):
    """The status and outcome of a call (only for whoever made it)."""
    principal = current_principal()
    with _runtime().db.unit_of_work() as session:
        call = session.get(ServiceCall, call_id[:36])
        if call is None or (call.owner != principal.subject and "operator" not in principal.roles):
            raise ApiError(404, "not_found", "No such call.")
        return _view(call.message_id, call.status, call.service, call.operation,
                     result=json.loads(call.result) if call.result else None,
                     error=json.loads(call.error) if call.error else None, duration_ms=call.duration_ms)


def _view(call_id, status, service, operation, **extra):
    return {"call_id": call_id, "status": status, "service": service, "operation": operation,
            "status_url": _status_url(call_id), **extra}
