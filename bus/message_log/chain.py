"""The hash chain of the message log (R10): how a record is hashed and appended.

Each record's hash covers its sequence number, the previous record's hash and every column, so
an altered record breaks its own hash and a removed one breaks the chain (a gap in `seq` and a
`prev_hash` that no longer matches). `chain_format` says how a record was hashed; each record is
verified by its own format, so records written before format 2 stay as they were (never re-hashed):

- 1 (records from before migration 0023): SHA-256 of `prev_hash`, a newline and the columns as
  JSON (`json.dumps`, keys sorted, `ensure_ascii=False`, compact; `logged_at` as ISO 8601 UTC);
- 2 (written since): SHA-256 of PostgreSQL's binary form of the row (`record_send`) of
  (2, prev_hash, seq, logged_at, message_id, direction, type, service, client, user_masked,
  correlation_id, case_id, body): a column count, then per column its type's OID, its length in
  bytes (-1 for NULL) and its bytes: int4 2 (the format itself), int8 seq, timestamptz logged_at
  (int8 microseconds since 2000-01-01 UTC), and every text as bytea of its UTF-8. Length-prefixed,
  so no byte can move from one column to the next and no value needs escaping; PostgreSQL recomputes
  it with `sha256(record_send(ROW(...)))`, without JSON or date formatting.

A one-row head table holds the end of the chain; writers update it first, which serialises them
on PostgreSQL (row lock) and SQLite (write lock) alike.

Readable columns hold masked values only (identifiers, users); `body` keeps the envelope as it
travelled, for replay and for recomputing the chain.
"""
from __future__ import annotations

import hashlib
import json
import struct
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, insert, update

from bus.envelope import encode
from config.logging import mask_identifiers
from store.copy import insert_rows
from store.models.bus import MessageLogHead, MessageLogRecord, MessageLogSpool

GENESIS = "0" * 64
DIRECTIONS = ("in", "out", "dead", "audit")  # audit: an operator's action (record_operator_action)
HASHED_COLUMNS = ("seq", "message_id", "direction", "type", "service", "client", "user_masked", "correlation_id",
                  "case_id", "logged_at", "body")


CHAIN_FORMAT = 2  # the format `append` writes
FORMATS = (1, 2)
TEXT_COLUMNS = HASHED_COLUMNS[1:9] + ("body",)  # format 2: after the format, prev_hash, seq and logged_at
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_INT4, INT8, _BYTEA, TIMESTAMPTZ = 23, 20, 17, 1184  # the types' OIDs, as record_send writes them
_FIELD, _NULL = struct.Struct(">Ii"), struct.pack(">Ii", _BYTEA, -1)
FORMAT2_HEAD = struct.pack(">i", 4 + len(TEXT_COLUMNS)) + _FIELD.pack(_INT4, 4) + struct.pack(">i", 2)
_MICROSECOND = timedelta(microseconds=1)


def record_hash(prev_hash: str, row: dict, chain_format: int = CHAIN_FORMAT) -> str:
    """SHA-256 over the previous hash and the record's columns in the canonical form of `chain_format`."""
    if chain_format == 2:
        return hashlib.sha256(format2_bytes(prev_hash, row)).hexdigest()
    if chain_format == 1:
        canonical = json.dumps({k: row[k] for k in sorted(row)}, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256((prev_hash + "\n" + canonical).encode()).hexdigest()
    raise ValueError(f"unknown chain format {chain_format!r}")


def bytea_field(value: str | None) -> bytes:
    """One text column in format 2: the bytea OID, the length of its UTF-8 (-1: NULL), the UTF-8."""
    if value is None:
        return _NULL
    data = value.encode()
    return _FIELD.pack(_BYTEA, len(data)) + data


def int8_field(oid: int, value: int) -> bytes:
    return _FIELD.pack(oid, 8) + value.to_bytes(8, "big", signed=True)


def micros(logged_at: datetime | str) -> int:
    """Microseconds since 2000-01-01 UTC (PostgreSQL's timestamptz as int8), of an aware time or its ISO text."""
    at = datetime.fromisoformat(logged_at) if isinstance(logged_at, str) else logged_at
    if at.tzinfo is None:
        raise ValueError("logged_at must be timezone-aware")
    return (at - PG_EPOCH) // _MICROSECOND


def format2_bytes(prev_hash: str, row: dict) -> bytes:
    """What format 2 hashes: `record_send(ROW(2, prev_hash, seq, logged_at, message_id, ..., body))`."""
    return b"".join([FORMAT2_HEAD, bytea_field(prev_hash), int8_field(INT8, row["seq"]),
                     int8_field(TIMESTAMPTZ, micros(row["logged_at"])),
                     *(bytea_field(row[c]) for c in TEXT_COLUMNS)])


def _row(seq: int, envelope: dict, direction: str, logged_at: datetime, body: str | None = None) -> dict:
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
        "body": encode(envelope).decode() if body is None else body,
    }


_HEADS, _RECORDS, _SPOOLS = MessageLogHead.__table__, MessageLogRecord.__table__, MessageLogSpool.__table__
# Built once: statements built per call (`.values(**row)`) spent more CPU coercing values than running them.
_TAKE_HEAD = (update(_HEADS).where(_HEADS.c.id == 1).values(last_seq=_HEADS.c.last_seq)
              .returning(_HEADS.c.last_seq, _HEADS.c.last_hash))
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.id == 1)
_FIRST_HEAD = insert(_HEADS)
_MOVE_SPOOL, _NEW_SPOOL = update(_SPOOLS).where(_SPOOLS.c.name == bindparam("spool")), insert(_SPOOLS)


def append(session, entries: list[tuple]) -> int:
    """Append (envelope, direction) pairs in one transaction (the caller commits); return the last seq.
    An entry may carry a third item, the envelope's wire form (`encode(envelope)` as text, as the spool
    holds it), which is then not encoded again.

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
    for envelope, direction, *body in entries:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        seq += 1
        row = _row(seq, envelope, direction, now, *body)
        digest = record_hash(prev, {**row, "logged_at": now})
        rows.append({**row, "logged_at": now, "prev_hash": prev, "record_hash": digest, "chain_format": CHAIN_FORMAT})
        prev = digest
    insert_rows(session, _RECORDS, rows)  # COPY on PostgreSQL
    session.execute(_MOVE_HEAD, {"last_seq": seq, "last_hash": prev})
    return seq


def save_offset(session, name: str, offset: int) -> None:
    """How far the spool `name` is in the chain, in the caller's transaction (an update, else an insert)."""
    now = datetime.now(timezone.utc)
    if not session.execute(_MOVE_SPOOL, {"spool": name, "offset": offset, "updated_at": now}).rowcount:
        session.execute(_NEW_SPOOL, {"name": name, "offset": offset, "updated_at": now})
