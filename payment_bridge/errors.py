"""The payment bridge's one error family.

Every error carries a stable machine ``code`` (for API replies and metrics) and a
human message. Messages name the field that is wrong but never echo secrets
(tokens, keys, MACs) or whole personal identifiers.
"""

from kernel.errors import CodedError
from kernel.errors import Refused as KernelRefused
from kernel.money import AmountError  # noqa: F401  (amounts are the kernel's; raised by kernel.money)


class PaymentError(CodedError):
    """Base of every payment bridge error (as an API caller sees it: the payment platform failed us, 502)."""

    code = "payment_error"
    status = 502

    def for_caller(self) -> "Refused":
        """Refusals as they are; a platform that does not answer (status 503), 503 with Retry-After;
        anything else the platform did or sent, 502 (see `for_caller`)."""
        return for_caller(self)


class SignatureError(PaymentError):
    """A signature, MAC, timestamp or encrypted payload failed verification."""

    code = "signature_invalid"


class InvalidMessage(PaymentError):
    """A message from or to a platform is malformed or breaks the profile."""

    code = "invalid_message"


class StatementError(InvalidMessage):
    """A statement or bill file is malformed or its totals do not add up."""

    code = "statement_invalid"


class IllegalTransition(PaymentError):
    """An event is not allowed in the payment notice's current state."""

    code = "illegal_transition"

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"event {event!r} is not allowed in state {state!r}")
        self.state = state
        self.event = event


class ChannelError(PaymentError):
    """A payment platform answered a well-formed request with a business error."""

    code = "channel_rejected"

    def __init__(self, message: str, *, platform_code: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.platform_code = platform_code


class Refused(PaymentError, KernelRefused):
    """A request or callback the bridge refuses: the kernel's `Refused` (`status` is the HTTP status that fits,
    `code` says why), and a `PaymentError`, so whoever handles payment errors handles refusals too."""

    @property
    def headers(self) -> dict:
        """Response headers an API caller gets with it: when to retry a 503."""
        return {"Retry-After": "30"} if self.status == 503 else {}


class NoticePaid(Refused):
    """A paid notice cannot be closed: the caller refunds it instead (`notice_paid`, 409)."""


class NoticeClosed(Refused):
    """A payment of a notice closed before it was paid: recorded (`paid_after_close`), never applied (409)."""


def for_caller(exc: PaymentError) -> Refused:
    """The refusal an API caller gets for a payment error: refusals as they are; a platform that does not
    answer (status 503), 503 with Retry-After; anything else the platform did or sent, 502."""
    if isinstance(exc, Refused):
        return exc
    if exc.status == 503:
        return Refused(503, exc.code, "The payment platform is not answering; try again later.")
    return Refused(502, exc.code, f"The payment platform refused: {exc.message}")
