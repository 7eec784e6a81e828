"""The message log's spool: a record survives a database outage and a killed process, is written
once, and the chain stays valid (SQLite in a temp dir; outages injected in front of the real database)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bus.message_log import chain as ml
from bus.envelope import encode, new_envelope
from bus.message_log.spool import MessageLog, spool_folder
from bus.message_log.verify import verify
from store import migrate
from store.db import Database
from store.models.bus import MessageLogRecord, MessageLogSpool

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Outage:
    """The real database behind a switch: while `down`, every unit of work or transaction fails like a lost connection."""

    def __init__(self, db):
        self.db, self.url, self.down = db, db.url, False

    @contextmanager
    def _through(self, opener):
        if self.down:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("the database is down"))
        with opener() as handle:
            yield handle

    def unit_of_work(self):
        return self._through(self.db.unit_of_work)

    def transaction(self):
        return self._through(self.db.transaction)


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def envelope(i: int) -> dict:
    return new_envelope("service.call", {"i": i}, client="channel/web-portal", user="340104198506150213")


def logged(db) -> list[int]:
    with db.unit_of_work() as s:
        return [json.loads(body)["payload"]["i"] for body in s.execute(
            select(MessageLogRecord.body).order_by(MessageLogRecord.seq)).scalars()]


def replay_spool(db, tmp_path) -> None:
    """A process of today starts on the spool folder and writes what it finds into the chain."""
    log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.05)
    time.sleep(0.5)
    assert log.flush(10)
    log.close()


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_records_wait_out_a_database_outage(db, tmp_path):
    flaky = Outage(db)
    log = MessageLog(flaky, spool_dir=tmp_path / "spool", flush_interval=0.05, retry_max_seconds=0.5)
    failures = counter("govlink_message_log_write_failures_total")
    flaky.down = True
    for i in range(20):
        log.record(envelope(i), "in")
    time.sleep(8)  # longer than the five tries the in-memory queue used to make before dropping a batch
    assert log.backlog == 20 and logged(db) == []
    assert counter("govlink_message_log_write_failures_total") > failures
    flaky.down = False
    assert log.flush(10)
    log.close()
    assert logged(db) == list(range(20))
    with db.unit_of_work() as s:
        assert verify(s).ok
        assert s.execute(select(func.count()).select_from(MessageLogSpool)).scalar_one() == 0
    assert not list((tmp_path / "spool").rglob("*.spool")), "a written spool file is removed"


KILLED = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from contextlib import contextmanager
from sqlalchemy.exc import OperationalError
from bus.envelope import new_envelope
from bus.message_log.spool import MessageLog
from store.db import Database

class Down:
    url = {url!r}
    @contextmanager
    def unit_of_work(self):
        raise OperationalError("SELECT 1", {{}}, ConnectionRefusedError("down"))
        yield

    transaction = unit_of_work

log = MessageLog(Down(), spool_dir={spool!r})
for i in range({n}):
    log.record(new_envelope("service.call", {{"i": i}}, client="channel/web-portal"), "out")
print("recorded", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_process_spool_is_replayed_by_the_next_one(db, tmp_path):
    spool = tmp_path / "spool"
    code = KILLED.format(repo=REPO, url=db.url, spool=str(spool), n=30)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "recorded" in proc.stdout, proc.stderr
    assert logged(db) == []
    replayed = counter("govlink_message_log_replayed_total")
    log = MessageLog(db, spool_dir=spool, flush_interval=0.05)  # adopts the dead process's spool at start
    deadline = time.monotonic() + 10
    while len(logged(db)) < 30 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.flush(10)
    log.close()
    assert logged(db) == list(range(30))
    assert counter("govlink_message_log_replayed_total") - replayed == 30
    with db.unit_of_work() as s:
        assert verify(s).ok
    assert not list(spool.rglob("*.spool"))


def test_a_segment_being_created_is_never_open_to_adoption(db, tmp_path, monkeypatch):
    """An adoption sweep (another process's, or this one's own thread) that lands between a segment's
    creation and its lock must not find it unlocked under a spool name: it would take a live
    segment for a dead process's, and the writer's lock would then fail (EAGAIN in CI)."""
    import fcntl as real_fcntl

    from bus.message_log import spool as spool_module

    folder = spool_folder(tmp_path / "spool", db.url)
    open_to_adoption = []

    class Fcntl:
        LOCK_EX, LOCK_NB, LOCK_UN = real_fcntl.LOCK_EX, real_fcntl.LOCK_NB, real_fcntl.LOCK_UN

        @staticmethod
        def flock(fd, operation):
            for path in folder.glob("*.spool"):  # what a sweep sees at this moment
                probe = os.open(path, os.O_RDWR)
                try:
                    real_fcntl.flock(probe, real_fcntl.LOCK_EX | real_fcntl.LOCK_NB)
                    open_to_adoption.append(path.name)
                except BlockingIOError:
                    pass
                finally:
                    os.close(probe)
            return real_fcntl.flock(fd, operation)

    monkeypatch.setattr(spool_module, "fcntl", Fcntl)
    log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.05, segment_bytes=200)
    for i in range(5):
        log.record(envelope(i), "in")  # each record fills a segment: five segments are created
    assert log.flush(10)
    log.close()
    assert open_to_adoption == []
    assert logged(db) == list(range(5))


def test_a_replay_resumes_where_the_database_stopped(db, tmp_path):
    """The offset moves with the records: records already in the chain are not written twice."""
    folder = spool_folder(tmp_path / "spool", db.url)
    folder.mkdir(parents=True)
    lines = [json.dumps({"d": "in", "e": encode(envelope(i)).decode()}).encode() + b"\n" for i in range(5)]
    (folder / "dead-1-000001.spool").write_bytes(b"".join(lines))
    with db.unit_of_work() as s:
        ml.append(s, [(envelope(0), "in"), (envelope(1), "in")])
        s.add(MessageLogSpool(name="dead-1-000001.spool", offset=len(lines[0]) + len(lines[1])))
    replay_spool(db, tmp_path)
    assert logged(db) == [0, 1, 2, 3, 4]
    with db.unit_of_work() as s:
        assert verify(s).ok


def test_a_line_cut_short_by_a_crash_is_set_aside_and_counted(db, tmp_path):
    folder = spool_folder(tmp_path / "spool", db.url)
    folder.mkdir(parents=True)
    whole = json.dumps({"d": "in", "e": encode(envelope(7)).decode()}).encode() + b"\n"
    (folder / "dead-2-000001.spool").write_bytes(whole + b'{"d":"in","e":"{\\"mess')
    rejected = counter("govlink_message_log_rejected_total")
    log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.05)
    time.sleep(0.5)
    assert log.flush(10)
    log.close()
    assert logged(db) == [7]
    assert counter("govlink_message_log_rejected_total") - rejected == 1
    assert (folder / "dead-2-000001.rejected").read_bytes().startswith(b'{"d":"in"')


def test_a_full_backlog_slows_callers_down_and_loses_nothing(db, tmp_path):
    flaky = Outage(db)
    flaky.down = True
    log = MessageLog(flaky, spool_dir=tmp_path / "spool", max_backlog=5, max_wait_seconds=0.5, flush_interval=0.05,
                     retry_max_seconds=0.2)
    slowed, overflow = counter("govlink_message_log_backpressure_total"), counter("govlink_message_log_overflow_total")
    for i in range(5):
        log.record(envelope(i), "in")
    started = time.monotonic()
    log.record(envelope(5), "in")  # the backlog is full: waits, then spools anyway (never dropped, never stuck)
    assert time.monotonic() - started >= 0.5
    assert counter("govlink_message_log_backpressure_total") - slowed == 1
    assert counter("govlink_message_log_overflow_total") - overflow == 1

    waited = threading.Event()
    threading.Thread(target=lambda: (log.record(envelope(6), "in"), waited.set()), daemon=True).start()
    time.sleep(0.2)
    assert not waited.is_set(), "a caller is slowed down while the backlog is full"
    flaky.down = False  # room again: the waiting caller goes on before its wait runs out
    assert waited.wait(5)
    assert log.flush(10)
    log.close()
    assert logged(db) == list(range(7))


def test_concurrent_writers_and_a_late_replay_keep_one_valid_chain(db, tmp_path):
    folder = spool_folder(tmp_path / "spool", db.url)
    folder.mkdir(parents=True)
    late = [json.dumps({"d": "out", "e": encode(envelope(1000 + i)).decode()}).encode() + b"\n" for i in range(50)]
    logs = [MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.02, sweep_seconds=3600) for _ in range(3)]

    def write(log, base):
        for i in range(100):
            log.record(envelope(base + i), "in")

    threads = [threading.Thread(target=write, args=(log, 100 * n)) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    (folder / "dead-3-000001.spool").write_bytes(b"".join(late))  # a dead process's spool, found mid-way
    late_log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.02)
    for t in threads:
        t.join()
    for log in logs + [late_log]:
        assert log.flush(20)
        log.close()
    assert sorted(logged(db)) == list(range(300)) + list(range(1000, 1050))
    with db.unit_of_work() as s:
        report = verify(s)
    assert report.ok and report.checked == 350, report.problems


def test_an_abandoned_claim_is_removed_and_a_fresh_one_kept(db, tmp_path):
    """A process killed between creating a segment and naming it leaves an empty claim; one that a
    live process is creating right now is left alone."""
    folder = spool_folder(tmp_path / "spool", db.url)
    folder.mkdir(parents=True)
    old, fresh = folder / "dead-1-000001.spool.claiming", folder / "live-2-000001.spool.claiming"
    old.touch()
    fresh.touch()
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.05)
    deadline = time.monotonic() + 5
    while old.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    log.close()
    assert not old.exists() and fresh.exists()


class CountingWrites:
    """The real database, counting the units of work (one per write of the chain)."""

    def __init__(self, db):
        self.db, self.url, self.units = db, db.url, 0

    def _counted(self, opener):
        self.units += 1
        return opener()

    def unit_of_work(self):
        return self._counted(self.db.unit_of_work)

    def transaction(self):
        return self._counted(self.db.transaction)


def test_records_of_a_busy_process_gather_into_few_writes_and_a_flush_does_not_wait(db, tmp_path):
    """Issue 18 (service_call bench): a transaction per record held the chain's one head lock per record; the
    writer now lets records gather (gather_seconds) so one transaction carries many, and flush() skips the wait."""
    counting = CountingWrites(db)
    log = MessageLog(counting, spool_dir=tmp_path / "spool", flush_interval=0.05, sweep_seconds=3600,
                     gather_seconds=0.3)
    time.sleep(0.2)  # the start's sweep is done
    counting.units = 0
    for i in range(40):  # a busy gateway: a record every 5 ms
        log.record(envelope(i), "out")
        time.sleep(0.005)
    started = time.monotonic()
    assert log.flush(10)
    assert time.monotonic() - started < 0.25  # flush() asked: written at once, not after the gathering
    log.close()
    assert logged(db) == list(range(40))
    assert counting.units <= 6, counting.units  # a transaction per record before: 40
    with db.unit_of_work() as s:
        assert verify(s).ok


def test_a_record_is_spooled_as_its_direction_and_its_wire_form_once(db, tmp_path):
    """One JSON encoding per spooled record (issue 18's service_call: the envelope's JSON inside another JSON
    string cost an encoding and a decoding more per record, four records a department call); the chain's
    body is the spooled wire form as it is."""
    log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.05, gather_seconds=30)
    try:
        sent = envelope(3)
        log.record(sent, "out")
        spooled = b"".join(path.read_bytes() for path in spool_folder(tmp_path / "spool", db.url).glob("*.spool"))
        assert spooled == b"out\t" + encode(sent) + b"\n"
        assert log.flush(10)
    finally:
        log.close()
    with db.unit_of_work() as s:
        row = s.execute(select(MessageLogRecord)).scalar_one()
        assert (row.direction, row.body) == ("out", encode(sent).decode())
        assert verify(s).ok


def test_a_spool_of_the_earlier_line_form_is_still_replayed(db, tmp_path):
    """A spool left by a process of the version before (`{"d": ..., "e": "<envelope JSON>"}` lines), also
    mixed with lines of today's form, is written in order into a valid chain."""
    folder = spool_folder(tmp_path / "spool", db.url)
    folder.mkdir(parents=True)
    earlier = [json.dumps({"d": "in", "e": encode(envelope(i)).decode()}).encode() + b"\n" for i in range(3)]
    today = [b"out\t" + encode(envelope(i)) + b"\n" for i in range(3, 5)]
    (folder / "dead-9-000001.spool").write_bytes(b"".join(earlier + today))
    replay_spool(db, tmp_path)
    assert logged(db) == [0, 1, 2, 3, 4]
    with db.unit_of_work() as s:
        assert [r.direction for r in s.execute(select(MessageLogRecord).order_by(MessageLogRecord.seq)).scalars()] \
            == ["in"] * 3 + ["out"] * 2
        assert verify(s).ok


def test_a_batch_is_written_on_a_core_connection_without_an_orm_session(db, tmp_path):
    """The writer's transaction runs Core statements only (issue 18's service_call: an ORM session's setup,
    statement routing and commit were a third of the writer's CPU, some 3% of each process's per call)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    log = MessageLog(db, spool_dir=tmp_path / "spool", flush_interval=0.05, sweep_seconds=3600, gather_seconds=30)
    time.sleep(0.2)  # the start's sweep is done
    sessions = []
    listener = lambda session, *_args: sessions.append(session)  # noqa: E731
    event.listen(Session, "after_begin", listener)
    try:
        for i in range(5):
            log.record(envelope(i), "in")
        assert log.flush(10)
    finally:
        event.remove(Session, "after_begin", listener)
        log.close()
    assert sessions == []
    assert logged(db) == list(range(5))
    with db.unit_of_work() as s:
        assert verify(s).ok
