"""The one error type of the connector boundary. Its codes, and the HTTP status of each, are the one
table in bus/call_codes.py (shared with the worker, the gateway and the OpenAPI document)."""
from __future__ import annotations

from typing import Any, Mapping

from bus.call_codes import ERROR_CODES, status_of
from config.logging import mask_identifiers
from kernel.errors import CodedError

__all__ = ["ERROR_CODES", "ConnectorError"]


class ConnectorError(CodedError):
    """A department call failed (a CodedError whose `status` is its code's in the one table).

    `code` is one of `ERROR_CODES`; `message` is a sentence a person can act on and never holds
    secrets or unmasked identifiers; `transient` says whether retrying later can succeed;
    `details` carries machine-readable extras (e.g. `fault_code`, `status`, `retry_after_seconds`).
    """

    def __init__(self, code: str, message: str, *, transient: bool | None = None, details: Mapping[str, Any] | None = None):
        if code not in ERROR_CODES:
            raise ValueError(f"unknown connector error code {code!r}")
        # Last line of defence: a department's fault text may echo an ID number back at us.
        message = mask_identifiers(message)
        super().__init__(message, code=code, status=status_of(code),
                         details={k: mask_identifiers(v) if isinstance(v, str) else v for k, v in (details or {}).items()})
        self.transient = ERROR_CODES[code][0] if transient is None else transient

    @property
    def http_status(self) -> int:
        """The HTTP status the gateway answers with for this error."""
        return status_of(self.code)

    def to_dict(self) -> dict:
        """The error as JSON for a reply envelope or an API problem body."""
        return {"code": self.code, "message": self.message, "transient": self.transient, "details": self.details}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, transient={self.transient})"
