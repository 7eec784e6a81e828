"""Errors at the bus boundary."""


class BusError(Exception):
    """Base of every bus error; `code` is machine-readable.

    Not a CodedError: its str() is the bare message and callers pass `code` positionally.
    """

    code = "bus_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code or self.code
        self.message = message


class PublishFailed(BusError):
    """The broker did not accept a message (nacked repeatedly, or the publisher stopped)."""

    code = "publish_failed"


class Unroutable(PublishFailed):
    """A mandatory message matched no queue: nobody would have received it."""

    code = "unroutable"


class RequestTimeout(BusError):
    """No reply came within the timeout; the request may still complete (see its status)."""

    code = "timeout"


class HandlerError(Exception):
    """Raised by a handler: `transient` failures are retried, others go straight to the parking lot."""

    def __init__(self, code: str, message: str, *, transient: bool = False, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.details = details or {}
