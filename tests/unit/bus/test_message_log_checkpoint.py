"""Incremental verification from sealed checkpoints, and verification in bounded memory (SQLite)."""
import tracemalloc

import pytest
from sqlalchemy import update

from bus.envelope import new_envelope
from bus.message_log import checkpoint
from bus.message_log.chain import append, record_hash
from bus.message_log.verify import verify
from store import migrate
from store.db import Database
from store.models.bus import MessageLogCheckpoint, MessageLogHead, MessageLogRecord

KEY = b"k" * 32


def add(database, n, start=0):
    with database.unit_of_work() as s:
        append(s, [(new_envelope("service.call", {"i": start + i, "text": "合肥 \"引号\"\n"}, client="channel/web-portal"),
                    "in") for i in range(n)])


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    migrate.upgrade(database)
    add(database, 20)
    return database


def verify_and_record(database, **kw):
    with database.unit_of_work() as s:
        report = checkpoint.verify_from_checkpoint(s, KEY, **kw)
        checkpoint.record(s, KEY, report)
    return report


def test_incremental_equals_full_and_checks_only_the_new_records(db):
    first = verify_and_record(db)
    assert first.ok and first.since is None and first.checked == 20
    add(db, 7, start=20)
    incremental = verify_and_record(db)
    with db.unit_of_work() as s:
        full = verify(s)
    assert incremental.ok and full.ok
    assert incremental.since == 20 and incremental.checked == 7
    assert (incremental.last_seq, incremental.last_hash) == (full.last_seq, full.last_hash) == (27, full.last_hash)
    again = verify_and_record(db)  # nothing new: nothing to check, still intact
    assert again.ok and again.checked == 0 and again.since == 27


def test_incremental_finds_what_full_finds_after_the_checkpoint(db):
    verify_and_record(db)
    add(db, 5, start=20)
    with db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 23).values(type="service.forged"))
    with db.unit_of_work() as s:
        incremental = checkpoint.verify_from_checkpoint(s, KEY)
        full = verify(s)
    assert incremental.problems == full.problems == ["record 23 was altered (its hash does not match its content)"]


def rewrite_chain_from(database, seq):
    """An attacker with write access re-hashes every record from `seq` on, and the head, after altering `seq`."""
    with database.unit_of_work() as s:
        prev = s.get(MessageLogRecord, seq - 1).record_hash
        for rec in s.query(MessageLogRecord).filter(MessageLogRecord.seq >= seq).order_by(MessageLogRecord.seq):
            if rec.seq == seq:
                rec.type = "service.forged"
            row = {c: getattr(rec, c) for c in ("seq", "message_id", "direction", "type", "service", "client",
                                                 "user_masked", "correlation_id", "case_id", "body")}
            row["logged_at"] = rec.logged_at.isoformat()
            rec.prev_hash, rec.record_hash = prev, record_hash(prev, row)
            prev = rec.record_hash
        s.execute(update(MessageLogHead).values(last_hash=prev))


def test_a_chain_rewritten_before_the_checkpoint_is_caught_at_the_checkpoint(db):
    verify_and_record(db)
    rewrite_chain_from(db, 5)
    with db.unit_of_work() as s:
        assert verify(s).ok  # re-hashed consistently: only a checkpoint (or an outside copy) can tell
        report = checkpoint.verify_from_checkpoint(s, KEY)
    assert report.problems[0] == "record 20 no longer has the hash its checkpoint recorded (the chain was rewritten)"


@pytest.mark.parametrize("change", [{"seq": 25}, {"record_hash": "f" * 64}, {"mac": "0" * 64}])
def test_an_altered_checkpoint_is_refused(db, change):
    verify_and_record(db)
    add(db, 5, start=20)
    with db.unit_of_work() as s:
        s.execute(update(MessageLogCheckpoint).values(**change))
    with db.unit_of_work() as s, pytest.raises(checkpoint.CheckpointRefused, match="valid seal"):
        checkpoint.verify_from_checkpoint(s, KEY)
    with db.unit_of_work() as s:  # --full does not rely on it
        assert checkpoint.verify_from_checkpoint(s, KEY, full=True).ok


def test_a_checkpoint_sealed_under_another_key_is_refused(db):
    verify_and_record(db)
    with db.unit_of_work() as s, pytest.raises(checkpoint.CheckpointRefused):
        checkpoint.verify_from_checkpoint(s, b"another key")


def test_a_failed_verification_records_no_checkpoint(db):
    with db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 3).values(body="{}"))
    report = verify_and_record(db)
    assert not report.ok
    with db.unit_of_work() as s:
        assert s.query(MessageLogCheckpoint).count() == 0


def peak_bytes(database) -> int:
    tracemalloc.start()
    try:
        with database.unit_of_work() as s:
            report = verify(s, batch=500, method="python")
        assert report.ok
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_as_the_log_grows(db):
    add(db, 1_980, start=20)
    small = peak_bytes(db)
    for start in range(2_000, 20_000, 2_000):
        add(db, 2_000, start=start)
    large = peak_bytes(db)
    # Ten times the records, about the same peak (one batch); the old walk kept every ORM object
    # of the session's identity map alive only by chance of garbage collection.
    assert large < small * 1.5, (small, large)
