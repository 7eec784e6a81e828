"""The operators' audit trail: who did what, when, to what, why, and to how many messages."""
from __future__ import annotations

from sqlalchemy import select

from config.logging import mask_identifiers
from kernel.clock import utcnow
from store.models.operations import OperatorAudit


def record(session, *, actor: str, action: str, target: str, reason: str | None = None, count: int = 0,
           message_id: str | None = None, log_seq: int | None = None) -> OperatorAudit:
    """Add one entry (the caller commits, with the action it records). Identifiers in the reason are masked."""
    entry = OperatorAudit(at=utcnow(), actor=mask_identifiers(actor)[:200], action=action, target=target[:200],
                          message_id=message_id, reason=mask_identifiers(reason) if reason else None, count=count,
                          log_seq=log_seq)
    session.add(entry)
    return entry


def recent(session, *, limit: int = 100, before: int | None = None, target: str | None = None) -> list[dict]:
    """The newest entries first (keyset: `before` an id), optionally of one target."""
    query = select(OperatorAudit).order_by(OperatorAudit.id.desc()).limit(limit)
    if before is not None:
        query = query.where(OperatorAudit.id < before)
    if target:
        query = query.where(OperatorAudit.target == target)
    return [view(e) for e in session.execute(query).scalars()]


def view(entry: OperatorAudit) -> dict:
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action, "target": entry.target,
            "message_id": entry.message_id, "reason": entry.reason, "count": entry.count, "log_seq": entry.log_seq}
