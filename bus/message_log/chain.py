"""The hash chain of the message log (R10): how a record is hashed and appended.

Each record's hash covers its sequence number, the previous record's hash and every column, so
an altered record breaks its own hash and a removed one breaks the chain (a gap in `seq` and a
`prev_hash` that no longer matches). A one-row head table holds the end of the chain; writers
update it first, which serialises them on PostgreSQL (row lock) and SQLite (write lock) alike.

Readable columns hold masked values only (identifiers, users); `body` keeps the envelope as it
travelled, for replay and for recomputing the chain.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import select, update

from bus.envelope import encode
from config.logging import mask_identifiers
from store.models.bus import MessageLogHead, MessageLogRecord

GENESIS = "0" * 64
DIRECTIONS = ("in", "out", "dead", "audit")  # audit: an operator's action (record_operator_action)
HASHED_COLUMNS = ("seq", "message_id", "direction", "type", "service", "client", "user_masked", "correlation_id",
                  "case_id", "logged_at", "body")


def record_hash(prev_hash: str, row: dict) -> str:
    """SHA-256 over the previous hash and the record's columns in a canonical form."""
    canonical = json.dumps({k: row[k] for k in sorted(row)}, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + "\n" + canonical).encode()).hexdigest()


def _row(seq: int, envelope: dict, direction: str, logged_at: datetime) -> dict:
    user = envelope.get("user")
    return {
        "seq": seq,
        "message_id": str(envelope["message_id"]),
        "direction": direction,
        "type": envelope["type"],
        "service": envelope.get("service"),
        "client": mask_identifiers(envelope.get("client") or "") or None,
        "user_masked": mask_identifiers(user) if user else None,
        "correlation_id": envelope.get("correlation_id"),
        "case_id": envelope.get("case_id"),
        "logged_at": logged_at.isoformat(),
        "body": encode(envelope).decode(),
    }


def append(session, entries: list[tuple[dict, str]]) -> int:
    """Append (envelope, direction) pairs in one transaction (the caller commits); return the last seq."""
    # Write the head first: from here on this transaction holds the write lock (a row lock on
    # PostgreSQL, the database lock on SQLite, where SELECT ... FOR UPDATE does not exist and a
    # plain read would let two writers take the same seq).
    touched = session.execute(update(MessageLogHead).where(MessageLogHead.id == 1)
                              .values(last_seq=MessageLogHead.last_seq)).rowcount
    if not touched:
        session.add(MessageLogHead(id=1, last_seq=0, last_hash=GENESIS))  # two first writers: one gets IntegrityError
        session.flush()
    head = session.execute(select(MessageLogHead).where(MessageLogHead.id == 1).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()
    seq, prev = head.last_seq, head.last_hash
    now = datetime.now(timezone.utc)
    for envelope, direction in entries:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        seq += 1
        row = _row(seq, envelope, direction, now)
        digest = record_hash(prev, row)
        session.add(MessageLogRecord(**{**row, "logged_at": now}, prev_hash=prev, record_hash=digest))
        prev = digest
    head.last_seq, head.last_hash = seq, prev
    return seq
