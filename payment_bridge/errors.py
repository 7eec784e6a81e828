"""The payment bridge's one error family.

Every error carries a stable machine ``code`` (for API replies and metrics) and a
human message. Messages name the field that is wrong but never echo secrets
(tokens, keys, MACs) or whole personal identifiers.
"""

from kernel.errors import CodedError
from kernel.money import AmountError  # noqa: F401  (amounts are the kernel's; raised by kernel.money)


class PaymentError(CodedError):
    """Base of every payment bridge error."""

    code = "payment_error"


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


class Refused(PaymentError):
    """A request or callback the service refuses; `status` is the HTTP status that fits, `code` says why."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message, code=code)
        self.status = status
        self.details = details or {}


class NoticePaid(Refused):
    """A paid notice cannot be closed: the caller refunds it instead (`notice_paid`, 409)."""


class NoticeClosed(Refused):
    """A payment of a notice closed before it was paid: recorded (`paid_after_close`), never applied (409)."""
