"""The tamper-evident message log (R10): every envelope in and out, chained by SHA-256.

Each record's hash covers its sequence number, the previous record's hash and every column, so
an altered record breaks its own hash and a removed one breaks the chain (a gap in `seq` and a
`prev_hash` that no longer matches). A one-row head table holds the end of the chain; writers
update it first, which serialises them on PostgreSQL (row lock) and SQLite (write lock) alike.

Readable columns hold masked values only (identifiers, users); `body` keeps the envelope as it
travelled, for replay and for recomputing the chain.

`MessageLog.record()` never loses a record: it appends the envelope to a local spool file
(append-only, fsync'd before `record()` returns) and a background thread writes the spool into the
chain. The spool's offset moves in the same transaction as the records it covers
(`message_log_spools`), so a replay resumes exactly where the database stopped. A spool whose
process died (SIGKILL, power loss) is adopted by any other process using the same spool folder and
database, at its start and by a sweep every few seconds. While the database is down the spool
grows on disk, not in memory; beyond `max_backlog` records, `record()` slows its callers down.
Callers that already hold a transaction can call `append(session, ...)` and commit the record
with their change instead.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client import Counter, Gauge
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bus.envelope import encode, new_envelope
from bus.errors import BusError
from config.logging import mask_identifiers
from store.models.bus import MessageLogHead, MessageLogRecord, MessageLogSpool

log = logging.getLogger(__name__)

GENESIS = "0" * 64
SPOOL_SUFFIX = ".spool"

WRITE_FAILURES = Counter("govlink_message_log_write_failures_total",
                         "Attempts to write spooled records into the chain that failed (retried, never dropped)")
REPLAYED = Counter("govlink_message_log_replayed_total", "Records written from the spool of a process that died")
SLOWED = Counter("govlink_message_log_backpressure_total", "record() calls slowed down because the backlog was full")
OVERFLOW = Counter("govlink_message_log_overflow_total",
                   "record() calls that waited the longest allowed and were spooled beyond the backlog limit")
REJECTED = Counter("govlink_message_log_rejected_total",
                   "Spooled records the chain refused for good; kept in a .rejected file beside the spool")
UNRECORDED = Counter("govlink_message_log_unrecorded_total",
                     "record() calls that could neither spool nor write the record (the caller got an error)")
BACKLOG = Gauge("govlink_message_log_backlog", "Records spooled by this process and not yet in the chain",
                multiprocess_mode="livesum")
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


class MessageLogUnavailable(BusError):
    """The record could be neither spooled nor written: the caller must not go on as if it were logged."""

    code = "message_log_unavailable"


def spool_folder(base: str | os.PathLike, database_url: str) -> Path:
    """The spool folder of one database under `base`: a spool is only ever replayed into its own chain."""
    where = database_url.split("@")[-1]  # no credentials in the key
    return Path(base) / hashlib.sha256(where.encode()).hexdigest()[:16]


def _transient(exc: BaseException) -> bool:
    """A failure of the connection or a conflict with another writer (retry the same batch), not of the records."""
    if isinstance(exc, (OperationalError, IntegrityError)):  # the log's only constraints are seq, hash and head
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class _Segment:
    """One spool file: `committed` bytes of it are in the chain; `fd` holds its flock while open."""

    def __init__(self, path: Path, fd: int, size: int, committed: int, own: bool):
        self.path, self.fd, self.size, self.committed, self.own = path, fd, size, committed, own
        self.sealed = not own  # no more appends (rotated, or another process's)
        self.failures = 0  # consecutive non-connection failures of the batch at `committed`

    @property
    def name(self) -> str:
        return self.path.name


class MessageLog:
    """Records envelopes from any thread: durable on local disk when `record()` returns, in the chain soon after."""

    def __init__(self, db, *, spool_dir: str | os.PathLike | None = None, batch_size: int = 500,
                 flush_interval: float = 0.2, max_backlog: int = 100_000, max_wait_seconds: float = 30.0,
                 segment_bytes: int = 16 << 20, sweep_seconds: float = 10.0, retry_max_seconds: float = 5.0):
        from config.settings import Settings

        self.db = db
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backlog = max_backlog
        self.max_wait_seconds = max_wait_seconds
        self.segment_bytes = segment_bytes
        self.sweep_seconds = sweep_seconds
        self.retry_max_seconds = retry_max_seconds
        self.folder = spool_folder(spool_dir or Settings().message_log_spool_dir, str(db.url))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()  # appends and the segment list
        self._sync_lock = threading.Lock()  # one fsync at a time covers every append before it
        self._changed = threading.Condition(self._lock)  # backlog shrank / grew
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._counter = 0
        self._appended = 0  # appends to own segments (tickets)
        self._synced = 0
        self._backlog = 0  # own records not yet in the chain
        self._wake = threading.Event()
        self._stopping = False
        self._outage_since: float | None = None
        self._last_error_log = 0.0
        self._next_sweep = 0.0  # sweep (adopt dead spools) at once
        self._thread = threading.Thread(target=self._loop, name="message-log", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ callers (any thread)
    def record(self, envelope: dict, direction: str) -> None:
        """Make the record durable (spool file, fsync'd) before returning; the chain gets it soon after."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        line = (json.dumps({"d": direction, "e": encode(envelope).decode()}, ensure_ascii=False,
                           separators=(",", ":")) + "\n").encode()
        self._wait_for_room()
        try:
            with self._lock:
                segment = self._writable(len(line))
                _write_all(segment.fd, line)
                segment.size += len(line)
                self._appended += 1
                self._backlog += 1
                ticket = self._appended
            self._sync(ticket)
        except OSError as exc:
            self._record_directly(envelope, direction, exc)
            return
        BACKLOG.inc()
        self._wake.set()

    def write_now(self, envelope: dict, direction: str) -> None:
        """Synchronous append (for callers that must not return before the record is in the chain)."""
        with self.db.unit_of_work() as session:
            append(session, [(envelope, direction)])

    @property
    def backlog(self) -> int:
        """Records spooled by this process and not yet in the chain."""
        return self._backlog

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every spooled record (own and adopted) is in the chain; True if that happened in time."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._changed:
            while any(s.committed < s.size for s in self._segments):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
                self._wake.set()
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is spooled (up to `timeout`) and stop; what is left stays spooled for the next start."""
        done = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)
        with self._lock:
            segments, self._segments, self._current = self._segments, [], None
        for segment in segments:
            if segment.committed >= segment.size:
                self._retire(segment)
            else:
                os.close(segment.fd)  # releases the flock: another process may adopt what is left
        if not done:
            log.error("message log: %d records are still spooled in %s; they are written at the next start",
                      self._backlog, self.folder)

    # ------------------------------------------------------------------ appending
    def _wait_for_room(self) -> None:
        if self._backlog < self.max_backlog:
            return
        SLOWED.inc()
        deadline = time.monotonic() + self.max_wait_seconds
        with self._changed:
            while self._backlog >= self.max_backlog:
                left = deadline - time.monotonic()
                if left <= 0:
                    OVERFLOW.inc()
                    log.error("message log: %d records wait for the database (limit %d); spooling beyond the limit "
                              "after waiting %.0f s", self._backlog, self.max_backlog, self.max_wait_seconds)
                    return
                self._changed.wait(min(left, 1.0))

    def _writable(self, size: int) -> _Segment:
        """The segment to append to (lock held): a new one when there is none or the current one is full."""
        current = self._current
        if current is not None and current.size + size <= self.segment_bytes:
            return current
        if current is not None:
            os.fsync(current.fd)  # everything appended to it is durable before appends move on
            current.sealed = True
        self._counter += 1
        path = self.folder / f"{self._prefix}-{self._counter:06d}{SPOOL_SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_dir(self.folder)
        self._current = _Segment(path, fd, 0, 0, own=True)
        self._segments.append(self._current)
        return self._current

    def _sync(self, ticket: int) -> None:
        with self._sync_lock:
            if self._synced >= ticket:
                return  # another caller's fsync covered this append (group commit)
            with self._lock:
                target, fd = self._appended, self._current.fd
            os.fdatasync(fd)
            self._synced = target

    def _record_directly(self, envelope: dict, direction: str, spool_error: OSError) -> None:
        log.error("message log: the spool in %s failed (%s); writing the record directly", self.folder,
                  errno.errorcode.get(spool_error.errno, spool_error))
        try:
            self.write_now(envelope, direction)
        except Exception as exc:
            UNRECORDED.inc()
            log.error("message log: %s %s could be neither spooled nor written (%s)", direction,
                      envelope.get("type"), type(exc).__name__)
            raise MessageLogUnavailable("the message log can neither spool nor write; try again later") from exc

    # ------------------------------------------------------------------ the writer thread
    def _loop(self) -> None:
        delay = 0.0
        while not self._stopping:
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.sweep_seconds
                try:
                    self._adopt_dead_spools()
                except Exception as exc:  # the database is down: the next sweep tries again
                    log.warning("message log: could not look for the spools of stopped processes (%s)",
                                type(exc).__name__)
            try:
                wrote = self._write_some()
            except Exception as exc:
                self._failed(exc)
                delay = min(max(delay * 2, 0.2), self.retry_max_seconds)
                self._wake.wait(delay)
                self._wake.clear()
                continue
            delay = 0.0
            if self._outage_since is not None:
                log.warning("message log: writing again after %.0f s", time.monotonic() - self._outage_since)
                self._outage_since = None
            if not wrote:
                self._wake.wait(self.flush_interval)
                self._wake.clear()

    def _failed(self, exc: Exception) -> None:
        WRITE_FAILURES.inc()
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            log.warning("message log: writing to the database failed (%s); %d records wait in the spool, retrying",
                        type(exc).__name__, self._backlog)
        elif now - self._outage_since > 30 and now - self._last_error_log > 60:
            self._last_error_log = now
            log.error("message log: the database has refused records for %.0f s; %d records wait in the spool %s",
                      now - self._outage_since, self._backlog, self.folder)

    def _write_some(self) -> int:
        """Write one batch from each segment that has unwritten records; return how many were written."""
        wrote = 0
        with self._lock:
            segments = list(self._segments)
        for segment in segments:
            if segment.committed < segment.size:
                wrote += self._write_batch(segment)
            with self._lock:
                done = segment.sealed and segment.committed >= segment.size
                if done:
                    self._segments.remove(segment)
            if done:
                self._retire(segment)
        return wrote

    def _write_batch(self, segment: _Segment) -> int:
        limit = 1 if segment.failures else self.batch_size
        lines, end = _read_lines(segment.fd, segment.committed, segment.size, limit)
        if not lines:
            if segment.own or segment.committed >= segment.size:
                return 0
            # A dead process's last line, cut short by the crash: never acknowledged to its caller.
            lines, end = [os.pread(segment.fd, segment.size - segment.committed, segment.committed)], segment.size
        entries, bad = [], []
        for raw in lines:
            try:
                item = json.loads(raw)
                entries.append((json.loads(item["e"]), item["d"]))
            except (ValueError, KeyError, TypeError):
                bad.append(raw)
        try:
            with self.db.unit_of_work() as session:
                if entries:
                    append(session, entries)
                session.merge(MessageLogSpool(name=segment.name, offset=end, updated_at=datetime.now(timezone.utc)))
        except Exception as exc:
            if _transient(exc):
                raise
            segment.failures += 1  # from now on one record at a time, to find the one refused
            if len(lines) > 1 or segment.failures < 3:
                raise
            # The same single record was refused three times for a reason of its own: set it aside.
            self._reject(segment, lines, exc)
            entries = []
            with self.db.unit_of_work() as session:
                session.merge(MessageLogSpool(name=segment.name, offset=end, updated_at=datetime.now(timezone.utc)))
        else:
            if bad:
                self._reject(segment, bad, None)
        segment.failures = 0
        with self._changed:
            segment.committed = end
            if segment.own:
                self._backlog -= len(lines)
                BACKLOG.dec(len(lines))
            else:
                REPLAYED.inc(len(entries))
            self._changed.notify_all()
        return len(lines)

    def _reject(self, segment: _Segment, lines: list[bytes], exc: Exception | None) -> None:
        REJECTED.inc(len(lines))
        path = segment.path.with_suffix(".rejected")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # unmasked envelopes, like the spool
        try:
            _write_all(fd, b"".join(line + b"\n" for line in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        log.error("message log: %d spooled record(s) refused for good (%s); kept in %s", len(lines),
                  type(exc).__name__ if exc else "unreadable", path)

    def _retire(self, segment: _Segment) -> None:
        """Remove a segment whose every record is in the chain: file first, then its offset row, then the lock."""
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        try:
            with self.db.unit_of_work() as session:
                session.execute(delete(MessageLogSpool).where(MessageLogSpool.name == segment.name))
        except Exception:  # a stale row only costs a row; the file is gone
            log.warning("message log: could not forget spool %s", segment.name)
        os.close(segment.fd)

    def _adopt_dead_spools(self) -> None:
        """Take over the spool files of processes that died (their flock is gone) and write them."""
        with self._lock:
            known = {s.name for s in self._segments}
        for path in sorted(self.folder.glob("*" + SPOOL_SUFFIX)):
            if path.name in known:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # its process is alive (or another process adopted it)
                continue
            if os.fstat(fd).st_nlink == 0:  # retired while we waited for the lock
                os.close(fd)
                continue
            try:
                with self.db.unit_of_work() as session:
                    row = session.get(MessageLogSpool, path.name)
                    committed = row.offset if row is not None else 0
            except Exception:
                os.close(fd)  # the database is down: adopt it at a later sweep
                raise
            size = os.fstat(fd).st_size
            log.warning("message log: adopting %s of a process that stopped (%d bytes not yet in the chain)",
                        path.name, size - committed)
            with self._changed:
                self._segments.append(_Segment(path, fd, size, committed, own=False))
                self._changed.notify_all()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(fd: int, start: int, end: int, limit: int, chunk: int = 1 << 20) -> tuple[list[bytes], int]:
    """Up to `limit` complete lines of the file between `start` and `end`; and the offset after the last one."""
    lines: list[bytes] = []
    pos = start
    buffer = b""
    while pos < end and len(lines) < limit:
        data = os.pread(fd, min(chunk, end - pos), pos)
        if not data:
            break
        pos += len(data)
        buffer += data
        parts = buffer.split(b"\n")
        buffer = parts.pop()
        lines.extend(parts)
    lines = lines[:limit]
    consumed = start + sum(len(line) + 1 for line in lines)
    return lines, consumed
