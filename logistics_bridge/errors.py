"""The logistics bridge's one error family.

Every error carries a stable machine ``code`` (for API replies, metrics and retry
decisions) and a human message. Messages never echo check words, keys, signatures or
unmasked phone numbers.
"""

from __future__ import annotations

from kernel.errors import CodedError
from kernel.errors import Refused as KernelRefused


class LogisticsError(CodedError):
    """Base of every logistics bridge error."""

    code = "logistics_error"

    @property
    def headers(self) -> dict:
        """Response headers an API caller gets with it: when to retry while a courier is not answering (503)."""
        return {"Retry-After": "30"} if self.status == 503 else {}


class CarrierError(LogisticsError):
    """A carrier refused a request or answered something we cannot use.

    ``code`` is ours and stable (``bad_digest``, ``duplicate_order``, ``rejected``,
    ``http_503`` ...); ``carrier_code`` is the carrier's own code when it sent one.
    ``retryable`` tells the retry policy whether sending the same request again may help; ``status``
    is what a caller of govlink sees: 503 while the carrier is not answering, else 502.
    """

    code = "carrier_error"
    status = 502

    def __init__(
        self,
        code: str,
        message: str,
        carrier: str,
        *,
        carrier_code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code=code, status=503 if retryable else 502)
        self.carrier = carrier
        self.carrier_code = carrier_code
        self.retryable = retryable

    def __str__(self) -> str:
        return f"[{self.code}] {self.carrier}: {self.message}"


class SignatureError(LogisticsError):
    """A digest, signature or encrypted payload failed verification.

    ``code`` is ``bad_signature`` for a wrong digest/signature/key, ``expired`` for a
    stale timestamp and ``malformed`` when the signed fields are missing or unreadable.
    """

    code = "bad_signature"

    def __init__(self, message: str, *, carrier: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.carrier = carrier


class InvalidAddress(LogisticsError):
    """An address or contact is unusable; ``field`` names the part to fix."""

    code = "invalid_address"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class IllegalStatus(LogisticsError):
    """A tracking status is not in the normalised set, or a move would go backwards."""

    code = "illegal_status"


class BillFormatError(LogisticsError):
    """A courier bill file is malformed or its totals do not add up."""

    code = "bad_bill"

    def __init__(self, message: str, *, line_no: int | None = None) -> None:
        super().__init__(message if line_no is None else f"line {line_no}: {message}")
        self.line_no = line_no


class Refused(LogisticsError, KernelRefused):
    """A request the logistics bridge refuses: the kernel's `Refused` (`status`, `code`, `message`, `details`),
    and a `LogisticsError`."""
