"""The message log for operators: search by case id, correlation id or message id (each an indexed
lookup: ix_message_log_case_id, _correlation_id, _message_id), and where the hash chain's verification
stands: the latest sealed checkpoint against the chain's head. Nothing here re-hashes the chain;
`govlink audit verify` does, and records the checkpoint this reads."""
from __future__ import annotations

from sqlalchemy import select

from bus.message_log.checkpoint import CheckpointRefused, checkpoint_key, latest
from store.models.bus import MessageLogHead, MessageLogRecord

SEARCH_KEYS = ("case_id", "correlation_id", "message_id")
MAX_RECORDS = 200


def search(session, *, limit: int = MAX_RECORDS, **terms) -> list[dict]:
    """Records matching every term given (at least one of SEARCH_KEYS), newest first; masked columns only."""
    given = {k: v for k, v in terms.items() if k in SEARCH_KEYS and v}
    if not given:
        raise ValueError("give a case_id, a correlation_id or a message_id")
    query = select(MessageLogRecord).order_by(MessageLogRecord.seq.desc()).limit(min(limit, MAX_RECORDS))
    for key, value in given.items():
        query = query.where(getattr(MessageLogRecord, key) == value)
    return [{"seq": r.seq, "message_id": r.message_id, "direction": r.direction, "type": r.type,
             "service": r.service, "client": r.client, "user": r.user_masked, "correlation_id": r.correlation_id,
             "case_id": r.case_id, "logged_at": r.logged_at} for r in session.execute(query).scalars()]


def verification_status(session, settings) -> dict:
    """(reads two rows) `verified` up to the latest checkpoint, `never_verified`, or `checkpoint_refused`
    (its seal does not match: run `govlink audit verify --full`); and how many records came after it."""
    head = session.get(MessageLogHead, 1)
    head_seq = head.last_seq if head is not None else 0
    try:
        point = latest(session, checkpoint_key(settings))
    except CheckpointRefused as exc:
        return {"status": "checkpoint_refused", "head_seq": head_seq, "checkpoint_seq": None, "verified_at": None,
                "unverified": None, "message": str(exc)}
    if point is None:
        return {"status": "never_verified", "head_seq": head_seq, "checkpoint_seq": None, "verified_at": None,
                "unverified": head_seq, "message": "no verification has passed yet: run `govlink audit verify`"}
    return {"status": "verified", "head_seq": head_seq, "checkpoint_seq": point.seq, "verified_at": point.created_at,
            "unverified": max(head_seq - point.seq, 0),
            "message": f"the chain verified up to record {point.seq}; {max(head_seq - point.seq, 0)} record(s) since"}
