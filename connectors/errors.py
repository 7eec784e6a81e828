"""The one error type of the connector boundary, and the table of its codes."""
from __future__ import annotations

from typing import Any, Mapping

from config.logging import mask_identifiers

# Every error code a connector raises, with whether a retry can help and the HTTP status the
# gateway should answer with. One table so that the bus, the gateway and the docs agree.
ERROR_CODES: dict[str, tuple[bool, int]] = {
    "invalid_request": (False, 422),  # the payload does not fit the operation (or the department said so)
    "not_found": (False, 404),  # the department has no such record
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
}


class ConnectorError(Exception):
    """A department call failed.

    `code` is one of `ERROR_CODES`; `message` is a sentence a person can act on and never holds
    secrets or unmasked identifiers; `transient` says whether retrying later can succeed;
    `details` carries machine-readable extras (e.g. `fault_code`, `status`, `retry_after_seconds`).
    """

    def __init__(self, code: str, message: str, *, transient: bool | None = None, details: Mapping[str, Any] | None = None):
        if code not in ERROR_CODES:
            raise ValueError(f"unknown connector error code {code!r}")
        # Last line of defence: a department's fault text may echo an ID number back at us.
        message = mask_identifiers(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = ERROR_CODES[code][0] if transient is None else transient
        self.details = {k: mask_identifiers(v) if isinstance(v, str) else v for k, v in (details or {}).items()}

    @property
    def http_status(self) -> int:
        """The HTTP status the gateway answers with for this error."""
        return ERROR_CODES[self.code][1]

    def to_dict(self) -> dict:
        """The error as JSON for a reply envelope or an API problem body."""
        return {"code": self.code, "message": self.message, "transient": self.transient, "details": self.details}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, transient={self.transient})"
