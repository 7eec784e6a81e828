"""Operators' actions (DLQ replay, purge) recorded in the chain as `audit` records."""
from __future__ import annotations

from bus.envelope import new_envelope
from bus.message_log.chain import append
from config.logging import mask_identifiers


class OperatorActionRefused(ValueError):
    """An operator's action cannot be recorded as asked (so it must not be done); ``code`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


OPERATOR_CLIENT = "govlink/operator"
REASON_REQUIRED = frozenset({"dlq.purge"})
MAX_REASON = 500


def record_operator_action(session, *, action: str, operator: str, service: str | None, queue: str,
                           messages: list[dict], reason: str | None = None, os_user: str | None = None,
                           extra: dict | None = None) -> int:
    """Append an operator's action to the chain as an ``audit`` record (the caller commits); return its seq.

    Who (``operator``: the name given or the authenticated principal; ``os_user``: the account it ran
    under), when (``issued_at``, UTC), which messages (``message_id`` and ``sha256`` of each body),
    and why (``reason``: required for a purge). Identifiers in the operator and the reason are masked.
    Raises :class:`OperatorActionRefused` without writing anything.
    """
    operator = (operator or "").strip()
    if not operator:
        raise OperatorActionRefused("operator_required", "name the operator (--operator) who does this")
    reason = (reason or "").strip() or None
    if action in REASON_REQUIRED and reason is None:
        raise OperatorActionRefused("reason_required", f"{action} needs a reason (--reason): it cannot be undone")
    if reason is not None and len(reason) > MAX_REASON:
        raise OperatorActionRefused("reason_too_long", f"the reason must be at most {MAX_REASON} characters")
    payload = {"action": action, "operator": mask_identifiers(operator), "os_user": os_user, "queue": queue,
               "messages": list(messages), "reason": mask_identifiers(reason) if reason else None, **(extra or {})}
    envelope = new_envelope(f"govlink.operator.{action}", payload, client=OPERATOR_CLIENT, service=service,
                            user=mask_identifiers(operator)[:200])
    return append(session, [(envelope, "audit")])
