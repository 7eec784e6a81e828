"""`CodedError`: the shape of every error family in govlink.

An error carries a stable machine ``code`` (API replies, metrics), a human ``message`` a person can act on,
the HTTP ``status`` that fits it, and machine-readable ``details``. The gateway answers every CodedError
the same way, from these attributes; no route translates errors by hand.
"""


class CodedError(Exception):
    """An error with a stable machine ``code``, a human ``message``, an HTTP ``status`` and ``details``.

    Each subclass names its default code and status; an instance may override both.
    """

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = dict(details or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def for_caller(self) -> "CodedError":
        """What an API caller is answered with: the error itself, unless its family words errors that came
        from outside (a platform, a courier) for the caller; the gateway's one handler asks every error."""
        return self


class Refused(CodedError):
    """A request refused for a reason the caller can act on; `status` is the HTTP status that fits."""

    status = 400

    def __init__(self, status: int, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message, code=code, status=status, details=details)
