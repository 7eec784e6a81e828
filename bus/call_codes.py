"""The one table of the error codes a department call can end with, and the HTTP status of each.

Shared by the connectors (which raise most of them: connectors/errors.py), the connector worker
and the department-call client (bus/request.py, which adds the bus's own), the gateway (the status it
answers with) and the OpenAPI document of `POST /api/v1/services/...` (one response per status).

`misconfigured` is 500, not 502: the declaration (config/connectors/*.yaml) does not fit the
department (an operation or field not in the WSDL, a WSDL URL answering 4xx). That is govlink's
fault, for its integrator to fix, not an invalid answer from the department, which is what 502 Bad
Gateway means (RFC 9110 15.6.3); a 502 would send the caller and the monitoring to the department.
"""
from __future__ import annotations

# code: (transient, HTTP status). A transient failure may succeed when retried later.
ERROR_CODES: dict[str, tuple[bool, int]] = {
    "invalid_request": (False, 422),  # the payload does not fit the operation (or the department said so)
    "not_found": (False, 404),  # the department has no such record (or the answer is about someone else)
    "forbidden": (False, 403),  # the caller may not call this service/operation (access rights)
    "condition_not_met": (False, 403),  # a grant's condition: a payload field is not the caller's own
    "fault": (False, 502),  # the department answered with a SOAP fault
    "rejected": (False, 502),  # the department refused govlink's own credentials (HTTP 401/403)
    "bad_response": (False, 502),  # the answer could not be understood (bad XML/JSON, unexpected status)
    "misconfigured": (False, 500),  # the declaration does not match the department (e.g. operation not in the WSDL)
    "unknown_service": (False, 404),  # no declaration for this service
    "unknown_operation": (False, 404),  # the service declares no such operation
    "timeout": (True, 504),  # no answer within the timeout
    "unavailable": (True, 503),  # connection refused/dropped, HTTP 5xx, WSDL unreachable
    "circuit_open": (True, 503),  # recent calls failed; failing fast until the reset timeout passes
    # Not raised by a connector: the connector worker's and the department-call client's own.
    "rate_limited": (False, 429),  # the grant's rate limit (config/access.yaml); details.retry_after
    "bus_unavailable": (True, 503),  # the message bus did not take the call
}

# A code a reply carries that is not in the table (a worker bug, an older worker): the department
# side failed in a way we cannot name, so the gateway answers 502.
UNKNOWN_STATUS = 502


def status_of(code: str | None) -> int:
    """The HTTP status the gateway answers a failed department call with."""
    entry = ERROR_CODES.get(code or "")
    return entry[1] if entry else UNKNOWN_STATUS


def codes_by_status() -> dict[int, list[str]]:
    """{status: [codes]} over the table, for the OpenAPI document (statuses ascending)."""
    out: dict[int, list[str]] = {}
    for code, (_transient, status) in ERROR_CODES.items():
        out.setdefault(status, []).append(code)
    return dict(sorted(out.items()))
