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

from sqlalchemy import bindparam, insert, update

from bus.envelope import encode
from config.logging import mask_identifiers
from store.copy import insert_rows
from store.models.bus import MessageLogHead, MessageLogRecord, MessageLogSpool

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


_HEADS, _RECORDS, _SPOOLS = MessageLogHead.__table__, MessageLogRecord.__table__, MessageLogSpool.__table__
# Built once: statements built per call (`.values(**row)`) spent more CPU coercing values than running them.
_TAKE_HEAD = (update(_HEADS).where(_HEADS.c.id == 1).values(last_seq=_HEADS.c.last_seq)
              .returning(_HEADS.c.last_seq, _HEADS.c.last_hash))
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.id == 1)
_FIRST_HEAD = insert(_HEADS)
_MOVE_SPOOL, _NEW_SPOOL = update(_SPOOLS).where(_SPOOLS.c.name == bindparam("spool")), insert(_SPOOLS)


def append(session, entries: list[tuple[dict, str]]) -> int:
    """Append (envelope, direction) pairs in one transaction (the caller commits); return the last seq.

    `session` is an ORM session or a Core connection. Core statements, not the ORM's unit of work: every
    department call writes here from two processes, and the ORM's per-object bookkeeping was most of the
    writer's CPU."""
    # Write the head first: from here on this transaction holds the write lock (a row lock on
    # PostgreSQL, the database lock on SQLite). RETURNING gives the head as it is after any writer
    # this one waited for (PostgreSQL re-reads the row it updates once the lock is free).
    head = session.execute(_TAKE_HEAD).first()
    if head is None:  # the very first record: two first writers, one gets IntegrityError
        session.execute(_FIRST_HEAD, {"id": 1, "last_seq": 0, "last_hash": GENESIS})
        head = (0, GENESIS)
    seq, prev = head
    now = datetime.now(timezone.utc)
    rows = []
    for envelope, direction in entries:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        seq += 1
        row = _row(seq, envelope, direction, now)
        digest = record_hash(prev, row)
        rows.append({**row, "logged_at": now, "prev_hash": prev, "record_hash": digest})
        prev = digest
    insert_rows(session, _RECORDS, rows)  # COPY on PostgreSQL
    session.execute(_MOVE_HEAD, {"last_seq": seq, "last_hash": prev})
    return seq


def save_offset(session, name: str, offset: int) -> None:
    """How far the spool `name` is in the chain, in the caller's transaction (an update, else an insert)."""
    now = datetime.now(timezone.utc)
    if not session.execute(_MOVE_SPOOL, {"spool": name, "offset": offset, "updated_at": now}).rowcount:
        session.execute(_NEW_SPOOL, {"name": name, "offset": offset, "updated_at": now})
