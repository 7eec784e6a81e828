"""The tamper-evident message log (R10): every envelope in and out, chained by SHA-256.

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
import logging
import queue as queue_module
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select

from bus.envelope import encode, new_envelope
from config.logging import mask_identifiers
from store.models.bus import MessageLogHead, MessageLogRecord

log = logging.getLogger(__name__)

GENESIS = "0" * 64
DIRECTIONS = ("in", "out", "dead", "audit")  # audit: an operator's action (record_operator_action)


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
    head = session.execute(select(MessageLogHead).where(MessageLogHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = MessageLogHead(id=1, last_seq=0, last_hash=GENESIS)
        session.add(head)
        session.flush()
    # Touch the head first: from here on this transaction holds the write lock.
    head.last_seq = head.last_seq
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


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session, batch: int = 5000) -> VerifyReport:
    """Walk the whole chain; report every altered, removed or reordered record."""
    report = VerifyReport()
    expected_seq, prev = 1, GENESIS
    last_seen = 0
    while True:
        rows = session.execute(select(MessageLogRecord).where(MessageLogRecord.seq > last_seen)
                               .order_by(MessageLogRecord.seq).limit(batch)).scalars().all()
        if not rows:
            break
        for rec in rows:
            report.checked += 1
            if rec.seq != expected_seq:
                report.problems.append(f"records {expected_seq}..{rec.seq - 1} are missing")
            if rec.prev_hash != prev:
                report.problems.append(f"record {rec.seq} does not follow the record before it (chain broken)")
            row = {c: getattr(rec, c) for c in ("seq", "message_id", "direction", "type", "service", "client",
                                                 "user_masked", "correlation_id", "case_id", "body")}
            row["logged_at"] = rec.logged_at.astimezone(timezone.utc).isoformat()
            if record_hash(rec.prev_hash, row) != rec.record_hash:
                report.problems.append(f"record {rec.seq} was altered (its hash does not match its content)")
            expected_seq, prev, last_seen = rec.seq + 1, rec.record_hash, rec.seq
    head = session.get(MessageLogHead, 1)
    if head is not None and (head.last_seq != last_seen or head.last_hash != prev):
        report.problems.append(f"the chain ends at record {last_seen} but its head says {head.last_seq} (records removed at the end?)")
    return report


class MessageLog:
    """Records envelopes from any thread; a background thread writes them in batches."""

    def __init__(self, db, *, batch_size: int = 500, flush_interval: float = 0.2):
        self.db = db
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: queue_module.SimpleQueue = queue_module.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="message-log", daemon=True)
        self._thread.start()

    def record(self, envelope: dict, direction: str) -> None:
        self._idle.clear()
        self._queue.put((envelope, direction))

    def write_now(self, envelope: dict, direction: str) -> None:
        """Synchronous append (for callers that must not return before the record exists)."""
        with self.db.unit_of_work() as session:
            append(session, [(envelope, direction)])

    def flush(self, timeout: float = 10.0) -> bool:
        self._queue.put(None)
        return self._idle.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stopping:
            batch = []
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue_module.Empty:
                self._idle.set()
                continue
            if item is not None:
                batch.append(item)
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue_module.Empty:
                    break
                if item is not None:
                    batch.append(item)
            if batch:
                self._write(batch)
            if self._queue.empty():
                self._idle.set()

    def _write(self, batch) -> None:
        for attempt in range(5):
            try:
                with self.db.unit_of_work() as session:
                    append(session, batch)
                return
            except Exception:
                log.exception("message log write failed (attempt %d); retrying", attempt + 1)
                threading.Event().wait(min(2 ** attempt * 0.2, 5))
        log.error("message log: %d records could not be written", len(batch))
