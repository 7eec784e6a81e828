"""The spool of the message log: `MessageLog.record()` never loses a record.

It appends the envelope to a local spool file (append-only, fsync'd before `record()` returns) and
a background thread writes the spool into the chain (`bus.message_log.chain.append`). The spool's
offset moves in the same transaction as the records it covers (`message_log_spools`), so a replay
resumes exactly where the database stopped. A spool whose process died (SIGKILL, power loss) is
adopted by any other process using the same spool folder and database, at its start and by a
sweep every few seconds. While the database is down the spool grows on disk, not in memory;
beyond `max_backlog` records, `record()` slows its callers down.
The writer gathers records for `gather_seconds` between writes (a flush() does not wait): one transaction,
holding the chain's shared head lock, then carries many calls' records, not one (issue 18's service_call).
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bus.errors import BusError
from bus.message_log.chain import DIRECTIONS, append, save_offset
from bus.message_log.metrics import BACKLOG, OVERFLOW, REJECTED, REPLAYED, SLOWED, UNRECORDED, WRITE_FAILURES
from bus.message_log.segments import (CLAIMING_SUFFIX, SPOOL_SUFFIX, _fsync_dir, _read_lines, _Segment, _write_all, read_line,
                                      spool_folder, spool_line)
from store.models.bus import MessageLogSpool

log = logging.getLogger(__name__)




class MessageLogUnavailable(BusError):
    """The record could be neither spooled nor written: the caller must not go on as if it were logged."""

    code = "message_log_unavailable"


def _transient(exc: BaseException) -> bool:
    """A failure of the connection or a conflict with another writer (retry the same batch), not of the records."""
    if isinstance(exc, (OperationalError, IntegrityError)):  # the log's only constraints are seq, hash and head
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class MessageLog:
    """Records envelopes from any thread: durable on local disk when `record()` returns, in the chain soon after."""

    def __init__(self, db, *, spool_dir: str | os.PathLike | None = None, batch_size: int = 500,
                 flush_interval: float = 0.2, max_backlog: int = 100_000, max_wait_seconds: float = 30.0,
                 segment_bytes: int = 16 << 20, sweep_seconds: float = 10.0, retry_max_seconds: float = 5.0,
                 gather_seconds: float = 0.2):
        from config.settings import Settings

        self.db = db
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_backlog = max_backlog
        self.max_wait_seconds = max_wait_seconds
        self.segment_bytes = segment_bytes
        self.sweep_seconds = sweep_seconds
        self.retry_max_seconds, self.gather_seconds = retry_max_seconds, gather_seconds
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
        self._hurry = threading.Event()  # a flush() or close() waits: write without gathering
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
        line = spool_line(envelope, direction)
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
        self._hurry.set()
        self._wake.set()
        with self._changed:
            while any(s.committed < s.size for s in self._segments):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.2))
                self._hurry.set()
                self._wake.set()
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is spooled (up to `timeout`) and stop; what is left stays spooled for the next start."""
        done = self.flush(timeout)
        self._stopping = True
        self._hurry.set()
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
        # Locked before it carries a name the adoption sweep looks for: a sweep (this process's or
        # another's) that found the file between its creation and its lock would take a live
        # segment for a dead process's. The lock belongs to the file, so it survives the rename.
        claiming = path.with_name(path.name + CLAIMING_SUFFIX)
        fd = os.open(claiming, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(claiming, path)
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
            if self.gather_seconds and not self._stopping and wrote < self.batch_size:
                self._hurry.wait(self.gather_seconds)  # records gather: one transaction (and head lock) for many
                self._hurry.clear()

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
            entry = read_line(raw)
            if entry is None:
                bad.append(raw)
            else:
                entries.append(entry)
        try:
            with self.db.transaction() as conn:  # Core statements only: no ORM session to set up per batch
                if entries:
                    append(conn, entries)
                save_offset(conn, segment.name, end)
        except Exception as exc:
            if _transient(exc):
                raise
            segment.failures += 1  # from now on one record at a time, to find the one refused
            if len(lines) > 1 or segment.failures < 3:
                raise
            # The same single record was refused three times for a reason of its own: set it aside.
            self._reject(segment, lines, exc)
            entries = []
            with self.db.transaction() as conn:
                save_offset(conn, segment.name, end)
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

    def _remove_abandoned_claims(self) -> None:
        """A process that died between creating a segment and naming it left an empty, unlocked file;
        one a minute old is that (a live process locks and renames its claim at once)."""
        for path in self.folder.glob("*" + SPOOL_SUFFIX + CLAIMING_SUFFIX):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being created right now
            else:
                stat = os.fstat(fd)
                if stat.st_size == 0 and time.time() - stat.st_mtime > 60:  # never one a process is creating
                    path.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def _adopt_dead_spools(self) -> None:
        """Take over the spool files of processes that died (their flock is gone) and write them."""
        with self._lock:
            known = {s.name for s in self._segments}
        self._remove_abandoned_claims()
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
