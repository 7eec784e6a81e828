"""The services API's use cases (routes/api/services.py stays schema in, this, schema out).

The gateway's own access rules for a department call, checked before anything is published, and
checked again by the connector worker from the principal the envelope carries: the service must be
declared, a grant must cover the caller, the operation must exist, and a conditioned grant's payload
conditions must hold for the caller. The answer is filtered here too (a result about someone else:
404). Every refusal is a CodedError the gateway's error handler answers as it is.
"""
from __future__ import annotations

import json

from bus.request import DepartmentCall
from connectors.access import AccessDenied, ResultWithheld
from routes.cases import claim_case_or_refuse
from routes.errors import ApiError
from store.models.bus import ServiceCall


def catalogue(runtime, principal) -> list[dict]:
    """The services and operations `principal` may call."""
    out = []
    for service in runtime.connectors.services():
        connector = runtime.connectors.get(service)
        allowed = [op for op in connector.operations() if runtime.access.allowed(principal.caller, service, op)]
        if allowed:
            out.append({"service": service, "department": connector.declaration.department, "operations": allowed})
    return out


def authorize(runtime, principal, service: str, operation: str, payload: dict):
    """The grant that allows the call (ApiError 403/404 otherwise)."""
    if service not in runtime.connectors.services():
        raise ApiError(404, "unknown_service", f"No department service {service!r} is declared.")
    try:
        runtime.access.check(principal.caller, service, operation)
    except AccessDenied:
        raise ApiError(403, "forbidden", f"{principal.caller} may not call {service}/{operation}.") from None
    if operation not in runtime.connectors.get(service).operations():
        raise ApiError(404, "unknown_operation", f"{service} has no operation {operation!r}.")
    # ConditionNotMet (403 `condition_not_met`, which field and whose) is answered as it is.
    return runtime.access.authorize(principal.caller, service, operation, payload, principal.envelope_claims())


def call(runtime, principal, service: str, operation: str, body: dict, *, wait: bool, correlation_id: str,
         status_url, grant=None) -> dict:
    """Make the call; `{"call_id", "status": "accepted" | "succeeded", "status_url", "result"?}`.

    `status_url(call_id)` names where its outcome can be read (also in a timeout's details); it is
    asked once per call (`url_for` was some 2 % of the gateway's CPU per call, asked twice). `grant`:
    what `authorize` gave for this very call and payload, if the caller asked it already."""
    if grant is None:
        grant = authorize(runtime, principal, service, operation, body["payload"])
    department = DepartmentCall(runtime, service, operation, body["payload"], principal=principal,
                                wait_seconds=runtime.settings.service_call_timeout_seconds if wait else None,
                                case_id=body.get("case_id"), correlation_id=correlation_id)
    case_id = body.get("case_id")
    department.record(principal.subject,
                      also=(lambda session: claim_case_or_refuse(session, case_id, principal)) if case_id else None)
    url = status_url(department.call_id)
    if not wait:
        department.send()
        return {"call_id": department.call_id, "status": "accepted", "status_url": url}
    result = department.wait(url)
    try:
        result = runtime.access.filter_result(grant, result, principal.envelope_claims())
    except ResultWithheld as exc:  # the gateway's own check of the answer: nothing about someone else
        raise ApiError(404, "not_found", exc.message, {"call_id": department.call_id}) from None
    return {"call_id": department.call_id, "status": "succeeded", "status_url": url, "result": result}


def status(runtime, principal, call_id: str) -> dict:
    """The status and outcome of a call, only for whoever made it (or an operator)."""
    with runtime.db.unit_of_work() as session:
        row = session.get(ServiceCall, call_id[:36])
        if row is None or (row.owner != principal.subject and "operator" not in principal.roles):
            raise ApiError(404, "not_found", "No such call.")
        return {"call_id": row.message_id, "status": row.status, "service": row.service, "operation": row.operation,
                "result": json.loads(row.result) if row.result else None,
                "error": json.loads(row.error) if row.error else None, "duration_ms": row.duration_ms}
